'use strict';
// The app's NetInfo, if @react-native-community/netinfo is installed (an
// optional peer dependency), else null. See async-storage.js for why this is
// a file of its own.
module.exports = function loadNetInfo() {
  try {
    const m = require('@react-native-community/netinfo');
    const n = (m && m.default) || m;
    return n && typeof n.addEventListener === 'function' ? n : null;
  } catch (_) {
    return null;
  }
};
