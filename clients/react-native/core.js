'use strict';
// React-free entry point: the sync service and its helpers only
// (usable from plain node, tests, or a non-React app).
const svc = require('./src/services/userDataSync');
const merge = require('./src/services/merge');
const { Backoff } = require('./src/services/backoff');
const token = require('./src/services/token');

module.exports = {
  UserDataSync: svc.UserDataSync,
  SyncError: svc.SyncError,
  createUserDataSync: svc.createUserDataSync,
  configureUserDataSync: svc.configureUserDataSync,
  getUserDataSyncConfig: svc.getUserDataSyncConfig,
  acquireUserDataSync: svc.acquireUserDataSync,
  releaseUserDataSync: svc.releaseUserDataSync,
  signOutUserDataSync: svc.signOutUserDataSync,
  userDataSyncKey: svc.userDataSyncKey,
  resetUserDataSyncRegistry: svc.resetUserDataSyncRegistry,
  createMemoryStorage: svc.createMemoryStorage,
  randomOpId: svc.randomOpId,
  isValidUserId: svc.isValidUserId,
  decodeJwtPayload: token.decodeJwtPayload,
  tokenExp: token.tokenExp,
  DEFAULTS: svc.DEFAULTS,
  Backoff,
  mergeDeltas: merge.mergeDeltas,
  canMerge: merge.canMerge,
  normalizeDelta: merge.normalizeDelta,
  applyDelta: merge.applyDelta,
  isNewer: merge.isNewer,
  resolveConflict: merge.resolveConflict,
  defaultDocument: merge.defaultDocument,
  FIELDS: merge.FIELDS,
  HEARTS_MAX: merge.HEARTS_MAX,
};
