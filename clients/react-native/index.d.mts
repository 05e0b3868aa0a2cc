// Types of the ESM entry of @statsync/react-native (index.mjs): the same as the CommonJS entry's.
export * from './index.js';
import pkg from './index.js';
export default pkg;
