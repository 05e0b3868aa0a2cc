'use strict';
// useUserDataSync(userId[, options]) — the seed's hook:
//   const { userData, updateUserStats, forcePull, flushQueue, loading, error } = useUserDataSync(userId);
// Options default to those given to configureUserDataSync() (apiUrl,
// socketUrl, getToken, storage, appState, netInfo, debounceMs, ...). All hooks
// and providers of one user share one service (one socket, one queue).

const React = require('react');
const { acquireUserDataSync, releaseUserDataSync } = require('../services/userDataSync');

const { useState, useEffect, useRef, useCallback } = React;

const NO_USER = {
  userData: null, loading: false, error: null, errorDetail: null, syncError: null, connected: false,
  online: null, pendingCount: 0, syncing: false, lastSyncedAt: null, presence: null,
};

function noService() {
  return Promise.reject(new Error('statsync: no userId: useUserDataSync(userId) needs a signed-in user'));
}

function useUserDataSync(userId, options) {
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const serviceRef = useRef(null);
  const [state, setState] = useState(() => (userId ? { ...NO_USER, loading: true } : NO_USER));

  useEffect(() => {
    if (!userId) {
      serviceRef.current = null;
      setState(NO_USER);
      return undefined;
    }
    let service;
    try {
      service = acquireUserDataSync(userId, optionsRef.current || {});
    } catch (err) {
      setState({ ...NO_USER, error: err.message, errorDetail: err });
      return undefined;
    }
    serviceRef.current = service;
    setState(service.getState());
    const unsubscribe = service.subscribe((s) => setState(s));
    return () => {
      unsubscribe();
      if (serviceRef.current === service) serviceRef.current = null;
      releaseUserDataSync(service);
    };
  }, [userId]);

  const updateUserStats = useCallback((delta) => (serviceRef.current ? serviceRef.current.updateUserStats(delta) : noService()), []);
  const forcePull = useCallback(() => (serviceRef.current ? serviceRef.current.forcePull() : noService()), []);
  const flushQueue = useCallback(() => (serviceRef.current ? serviceRef.current.flushQueue() : noService()), []);
  const clearError = useCallback(() => { if (serviceRef.current) serviceRef.current.clearError(); }, []);

  return {
    userData: state.userData,
    updateUserStats,
    forcePull,
    flushQueue,
    loading: state.loading,
    error: state.error,
    errorDetail: state.errorDetail,
    syncError: state.syncError,
    clearError,
    connected: state.connected,
    online: state.online,
    pendingCount: state.pendingCount,
    syncing: state.syncing,
    lastSyncedAt: state.lastSyncedAt,
    presence: state.presence,
    service: serviceRef.current,
  };
}

module.exports = useUserDataSync;
module.exports.useUserDataSync = useUserDataSync;
module.exports.default = useUserDataSync;
Object.defineProperty(module.exports, '__esModule', { value: true });
