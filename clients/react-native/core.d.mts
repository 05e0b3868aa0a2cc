// Types of the ESM entry of @statsync/react-native/core (core.mjs): the same as the CommonJS entry's.
export * from './core.js';
import core from './core.js';
export default core;
