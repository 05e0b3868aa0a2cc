'use strict';
// The app's AsyncStorage, if @react-native-async-storage/async-storage is
// installed (an optional peer dependency), else null.
//
// A require() inside try/catch is an optional dependency for Metro
// (`allowOptionalDependencies`, on in the React Native CLI's and Expo's Metro
// configs): a missing package is not a build error, the require throws at run
// time instead. One optional require per file, so that a missing one can never
// shift another require of the same file (a Metro bug of older versions).
module.exports = function loadAsyncStorage() {
  try {
    const m = require('@react-native-async-storage/async-storage');
    const s = (m && m.default) || m;
    return s && typeof s.getItem === 'function' ? s : null;
  } catch (_) {
    return null;
  }
};
