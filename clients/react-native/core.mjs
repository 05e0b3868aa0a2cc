// ESM entry of @statsync/react-native/core: the CommonJS module itself,
// re-exported (one copy of the module state — the shared services and the
// configuration — whichever way the app imports it).
import core from './core.js';

export const {
  UserDataSync, SyncError, createUserDataSync, configureUserDataSync, getUserDataSyncConfig, acquireUserDataSync,
  releaseUserDataSync, signOutUserDataSync, userDataSyncKey, resetUserDataSyncRegistry, createMemoryStorage, randomOpId,
  isValidUserId, decodeJwtPayload, tokenExp, DEFAULTS, Backoff, mergeDeltas, canMerge, normalizeDelta, applyDelta,
  isNewer, resolveConflict, defaultDocument, FIELDS, HEARTS_MAX,
} = core;

export default core;
