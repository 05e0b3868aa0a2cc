'use strict';
// React Native's AppState when running inside React Native (react-native is an
// optional peer dependency: the service also runs in plain node), else null.
// See async-storage.js for why this is a file of its own.
module.exports = function loadAppState() {
  try {
    const rn = require('react-native');
    const a = rn && rn.AppState;
    return a && typeof a.addEventListener === 'function' ? a : null;
  } catch (_) {
    return null;
  }
};
