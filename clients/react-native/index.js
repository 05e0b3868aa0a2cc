'use strict';
// @statsync/react-native — service + React hook, context and demo component.
const core = require('./core');
const useUserDataSync = require('./src/hooks/useUserDataSync');
const { UserDataContext, UserDataProvider, useUserData } = require('./src/contexts/UserDataContext');

module.exports = {
  ...core,
  useUserDataSync,
  UserDataContext,
  UserDataProvider,
  useUserData,
};
// The demo needs 'react-native'; load it only when asked for, so the rest of
// the package also works where react-native is absent (node, tests).
Object.defineProperty(module.exports, 'EnhancedRealTimeStatsDemo', {
  enumerable: false,
  get() { return require('./src/components/EnhancedRealTimeStatsDemo'); },
});
Object.defineProperty(module.exports, '__esModule', { value: true });
