// ESM entry of @statsync/react-native: the CommonJS package itself,
// re-exported (one copy of the module state — the shared services and the
// configuration — whichever way the app imports it).
import pkg from './index.js';

export const {
  UserDataSync, SyncError, createUserDataSync, configureUserDataSync, getUserDataSyncConfig, acquireUserDataSync,
  releaseUserDataSync, signOutUserDataSync, userDataSyncKey, resetUserDataSyncRegistry, createMemoryStorage, randomOpId,
  isValidUserId, decodeJwtPayload, tokenExp, DEFAULTS, Backoff, mergeDeltas, canMerge, normalizeDelta, applyDelta,
  isNewer, resolveConflict, defaultDocument, FIELDS, HEARTS_MAX,
  useUserDataSync, UserDataContext, UserDataProvider, useUserData,
} = pkg;

// The demo needs react-native: loaded only when rendered (as in index.js), so
// that importing the package works where react-native is absent.
export function EnhancedRealTimeStatsDemo(props) {
  return pkg.EnhancedRealTimeStatsDemo(props);
}

export default pkg;
