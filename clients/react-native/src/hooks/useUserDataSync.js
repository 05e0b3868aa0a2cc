'use strict';
// useUserDataSync(userId[, options]) — the seed's hook:
//   const { userData, updateUserStats, forcePull, flushQueue, loading, error } = useUserDataSync(userId);
// Options default to those given to configureUserDataSync() (apiUrl,
// socketUrl, getToken, storage, appState, netInfo, debounceMs, ...). All hooks
// and providers of one user with the same options share one service (one
// socket, one queue).
//
//  - Ready from the first render: the actions are stable functions that work
//    at once, also from a child's mount effect (React runs it before the
//    provider's own effect, which is where the service is acquired): a call
//    made before the service is there waits for it, in order.
//  - Options that change after mount apply: the service is keyed by
//    everything that matters (userDataSyncKey) and re-created when the key
//    changes — also after configureUserDataSync(). Functions given as options
//    (getToken, fetch, …) may be inline: the hook hands the service a stable
//    wrapper that calls the latest one, so a new arrow each render neither
//    re-creates the service nor is ignored.

const React = require('react');
const {
  acquireUserDataSync, releaseUserDataSync, userDataSyncKey, subscribeUserDataSyncConfig, signOutUserDataSync,
} = require('../services/userDataSync');

const { useState, useEffect, useRef, useCallback } = React;

const NO_USER = {
  userData: null, loading: false, error: null, errorDetail: null, syncError: null, connected: false, connectionError: null,
  online: null, pendingCount: 0, syncing: false, lastSyncedAt: null, presence: null, signedOut: false,
};

function noUserError() {
  return new Error('statsync: no userId: useUserDataSync(userId) needs a signed-in user');
}

// Function-valued options behind one stable wrapper per option name, which
// calls the function of the latest render; the wrapper stands for the first
// function it was given in the service key.
function useStableFunctions(options) {
  const slots = useRef(new Map());
  if (!options) return options;
  let out = null;
  for (const k of Object.keys(options)) {
    const v = options[k];
    if (typeof v !== 'function') continue;
    let slot = slots.current.get(k);
    if (!slot) {
      slot = { latest: v };
      slot.fn = function statsyncOption(...args) { return slot.latest.apply(this, args); };
      slot.fn.__statsyncKey = v;
      slots.current.set(k, slot);
    }
    slot.latest = v;
    if (!out) out = { ...options };
    out[k] = slot.fn;
  }
  return out || options;
}

function useUserDataSync(userId, options) {
  const opts = useStableFunctions(options);
  const optsRef = useRef(opts);
  optsRef.current = opts;

  // Re-render (and so re-key) when configureUserDataSync() changes the defaults.
  const [, setConfigVersion] = useState(0);
  useEffect(() => subscribeUserDataSyncConfig(() => setConfigVersion((v) => v + 1)), []);

  let key = null;
  if (userId) {
    try { key = userDataSyncKey(userId, opts || {}); } catch (err) { key = `error:${err && err.message}`; }
  }

  const serviceRef = useRef(null);
  const pendingRef = useRef([]); // calls made before the service was there
  const userIdRef = useRef(userId);
  userIdRef.current = userId;
  const signedOutKeyRef = useRef(null);
  const keyRef = useRef(key);
  keyRef.current = key;
  const mountedRef = useRef(false);
  const [state, setState] = useState(() => (userId ? { ...NO_USER, loading: true } : NO_USER));

  useEffect(() => {
    mountedRef.current = true;
    return () => { mountedRef.current = false; };
  }, []);

  const settlePending = useCallback((service, err) => {
    const calls = pendingRef.current.splice(0);
    for (const c of calls) {
      if (service && c.userId === service.userId) {
        let p;
        try { p = c.run(service); } catch (e) { p = Promise.reject(e); }
        Promise.resolve(p).then(c.resolve, c.reject);
      } else {
        c.reject(err || new Error('statsync: the user changed before this call could run'));
      }
    }
  }, []);

  useEffect(() => {
    if (!userId) {
      serviceRef.current = null;
      signedOutKeyRef.current = null; // signed out, then back to no user: the next sign-in starts afresh
      settlePending(null, noUserError());
      setState(NO_USER);
      return undefined;
    }
    if (signedOutKeyRef.current === key) return undefined;
    signedOutKeyRef.current = null;
    let service;
    try {
      service = acquireUserDataSync(userId, optsRef.current || {});
    } catch (err) {
      serviceRef.current = null;
      setState({ ...NO_USER, error: err.message, errorDetail: err });
      settlePending(null, err);
      return undefined;
    }
    serviceRef.current = service;
    setState(service.getState());
    const unsubscribe = service.subscribe((s) => setState(s));
    const offSignedOut = service.on('signedOut', () => {
      if (serviceRef.current === service) serviceRef.current = null;
      signedOutKeyRef.current = key;
      setState({ ...NO_USER, signedOut: true });
    });
    settlePending(service);
    return () => {
      unsubscribe();
      offSignedOut();
      if (serviceRef.current === service) serviceRef.current = null;
      releaseUserDataSync(service);
      // A real unmount (not StrictMode's remount, not a re-key): calls still
      // waiting for a service will not get one.
      setTimeout(() => {
        if (!mountedRef.current && !serviceRef.current) settlePending(null, new Error('statsync: the component unmounted before the sync service was ready'));
      }, 0);
    };
  }, [userId, key, settlePending]);

  // Runs fn(service) now, or as soon as the service is there.
  const call = useCallback((fn) => {
    const s = serviceRef.current;
    if (s && !s.destroyed) return fn(s);
    const uid = userIdRef.current;
    if (!uid) return Promise.reject(noUserError());
    if (signedOutKeyRef.current !== null && signedOutKeyRef.current === keyRef.current) {
      return Promise.reject(new Error('statsync: this user was signed out'));
    }
    return new Promise((resolve, reject) => {
      pendingRef.current.push({ run: fn, resolve, reject, userId: uid });
    });
  }, []);

  const updateUserStats = useCallback((delta) => call((s) => s.updateUserStats(delta)), [call]);
  const forcePull = useCallback(() => call((s) => s.forcePull()), [call]);
  const flushQueue = useCallback(() => call((s) => s.flushQueue()), [call]);
  const clearError = useCallback(() => { if (serviceRef.current) serviceRef.current.clearError(); }, []);
  // Signs the user out on this device (see UserDataSync#signOut); without a
  // running service (e.g. it failed to start) the stored data is cleared anyway.
  const signOut = useCallback((signOutOptions) => {
    const s = serviceRef.current;
    if (s && !s.destroyed) return s.signOut(signOutOptions);
    const uid = userIdRef.current;
    if (!uid) return Promise.reject(noUserError());
    return signOutUserDataSync(uid, { ...(optsRef.current || {}), ...(signOutOptions || {}) });
  }, []);

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
    signOut,
    connected: state.connected,
    connectionError: state.connectionError,
    online: state.online,
    pendingCount: state.pendingCount,
    syncing: state.syncing,
    lastSyncedAt: state.lastSyncedAt,
    presence: state.presence,
    signedOut: !!state.signedOut,
    service: serviceRef.current,
  };
}

module.exports = useUserDataSync;
module.exports.useUserDataSync = useUserDataSync;
module.exports.default = useUserDataSync;
Object.defineProperty(module.exports, '__esModule', { value: true });
