'use strict';
// UserDataSync — the sync service behind the hook and the context.
//
//  - Every updateUserStats(delta) goes into a persisted queue entry with an
//    opId. Deltas arriving within one debounce window (600 ms) merge into the
//    same entry; when the window closes the entry is sealed and flushed.
//  - The queue is flushed strictly in order, one entry at a time: over the
//    socket (`user:clientUpdate {opId, delta}` with an ack) when connected,
//    else over REST (`POST /api/users/data/patch`, `Idempotency-Key: opId`).
//    An entry leaves the queue only when the server acknowledged it (or
//    refused it for good); the server applies an opId at most once, so a flush
//    that died half-way is simply repeated.
//  - The local view is the last server document (ordered by version, then
//    updatedAt — never backwards) with the pending entries applied on top.

const { Backoff } = require('./backoff');
const M = require('./merge');

const DEFAULTS = {
  debounceMs: 600,
  ackTimeoutMs: 10000,
  requestTimeoutMs: 10000,
  connectTimeoutMs: 10000,
  reconnectionDelay: 500,
  reconnectionDelayMax: 5000,
  retryJitter: 0,
  presencePingIntervalMs: 25000,
  storageKeyPrefix: '@statsync',
  tokenStorageKey: 'auth.token',
  autoConnect: true,
};

const TRANSIENT_CODES = new Set([
  'unavailable', 'internal', 'storage_full', 'rate_limited', 'too_many_requests',
  'timeout', 'busy', 'network', 'offline',
]);
const AUTH_CODES = new Set(['unauthorized', 'token_expired', 'invalid_token', 'unauthenticated']);
// A userId as identity providers issue them (DESIGN §2): 1-128 bytes of UTF-8,
// no control characters, no leading or trailing whitespace.
function isValidUserId(userId) {
  if (typeof userId !== 'string' || userId.length === 0) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(userId)) return false;
  if (userId.trim() !== userId) return false;
  let bytes;
  try { bytes = unescape(encodeURIComponent(userId)).length; } catch (_) { return false; } // lone surrogate
  return bytes <= 128;
}

// Expo inlines `process.env.EXPO_PUBLIC_*` at build time only when written out
// literally like this.
function envApiUrl() {
  try { return process.env.EXPO_PUBLIC_API_URL; } catch (_) { return undefined; }
}
function envSocketUrl() {
  try { return process.env.EXPO_PUBLIC_SOCKET_URL; } catch (_) { return undefined; }
}

function trimSlash(u) {
  return typeof u === 'string' ? u.replace(/\/+$/, '') : u;
}

function noop() {}

// A v4 UUID: crypto.randomUUID where available (node, recent Hermes with a
// polyfill), else getRandomValues, else Math.random (128 random bits either
// way; uniqueness per user is what the server's idempotency needs).
function randomOpId() {
  const c = typeof globalThis !== 'undefined' ? globalThis.crypto : undefined;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function createMemoryStorage() {
  const m = new Map();
  return {
    getItem: async (k) => (m.has(k) ? m.get(k) : null),
    setItem: async (k, v) => { m.set(k, String(v)); },
    removeItem: async (k) => { m.delete(k); },
    _map: m,
  };
}

class SyncError extends Error {
  // kind: 'refused' (permanent: the entry was dropped), 'transient' (kept,
  // retried), 'auth' (kept, retried with a fresh token), 'offline', 'storage'.
  constructor(message, { kind = 'transient', code, status, opId, delta, retryAfterMs } = {}) {
    super(message);
    this.name = 'SyncError';
    this.kind = kind;
    if (code !== undefined) this.code = code;
    if (status !== undefined) this.status = status;
    if (opId !== undefined) this.opId = opId;
    if (delta !== undefined) this.delta = delta;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

function classifyStatus(status) {
  if (status >= 200 && status < 300) return 'ack';
  if (status === 401) return 'auth';
  if (status === 408 || status === 425 || status === 429) return 'transient';
  if (status >= 400 && status < 500) return 'refused';
  return 'transient';
}

function classifyCode(code, status) {
  if (typeof status === 'number' && status > 0) return classifyStatus(status);
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if (AUTH_CODES.has(code)) return 'auth';
  return 'refused';
}

function parseRetryAfter(headers) {
  const v = headers && typeof headers.get === 'function' ? headers.get('retry-after') : null;
  if (!v) return 0;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : 0;
}

class UserDataSync {
  constructor(userId, options = {}) {
    if (!isValidUserId(userId)) {
      throw new TypeError('statsync: userId must be 1-128 bytes of UTF-8 without control characters or leading/trailing whitespace');
    }
    this.userId = userId;
    const o = { ...DEFAULTS };
    for (const k of Object.keys(options)) if (options[k] !== undefined) o[k] = options[k];
    this.options = o;
    this.apiUrl = trimSlash(o.apiUrl || envApiUrl() || '');
    this.socketUrl = trimSlash(o.socketUrl || envSocketUrl() || this.apiUrl);
    if (!this.apiUrl) {
      throw new Error('statsync: no API URL: set EXPO_PUBLIC_API_URL (and EXPO_PUBLIC_SOCKET_URL) or pass { apiUrl, socketUrl }');
    }
    this.logger = o.logger || null;
    this.storage = o.storage || null;
    if (!this.storage) {
      this._log('warn', 'statsync: no storage given; the offline queue will not survive an app restart');
      this.storage = createMemoryStorage();
    }
    this._fetch = o.fetch || (typeof fetch === 'function' ? fetch.bind(globalThis) : null);
    this._newOpId = o.generateOpId || randomOpId;
    const backoff = { min: o.reconnectionDelay, max: o.reconnectionDelayMax, jitter: o.retryJitter };
    this._restBackoff = new Backoff(backoff);
    this._socketBackoff = new Backoff(backoff);
    const prefix = o.storageKeyPrefix;
    this._keys = { queue: `${prefix}/queue/${userId}`, doc: `${prefix}/doc/${userId}` };

    this._queue = []; // [{opId, delta, createdAt, open?, isolated?}]
    this._serverDoc = null;
    this._inflight = null;
    this._held = null;
    this._online = null; // null = unknown (treated as online)
    this._appStateValue = null;
    this._listeners = new Map();
    this._timers = { window: null, retry: null, socketRetry: null, ping: null };
    this._ready = null;
    this._destroyed = false;
    this._flushPromise = null;
    this._writeChain = Promise.resolve();
    this._queueDirty = false;
    this._docDirty = false;
    this._socket = null;
    this._detach = [];
    this._state = {
      userId,
      userData: null,
      loading: true,
      error: null,
      errorDetail: null,
      syncError: null,
      connected: false,
      online: null,
      pendingCount: 0,
      syncing: false,
      lastSyncedAt: null,
      presence: null,
    };
    this._onAppState = this._onAppState.bind(this);
    this._onNetInfo = this._onNetInfo.bind(this);
  }

  // ---------------------------------------------------------------- public

  // Loads the persisted queue and cached document, attaches AppState/NetInfo
  // listeners, connects the socket, then pulls and flushes in the background.
  start() {
    if (!this._ready) this._ready = this._start();
    return this._ready;
  }

  getState() { return this._state; }

  getUserData() { return this._state.userData; }

  getPendingOperations() {
    return this._queue.map((e) => ({ opId: e.opId, delta: JSON.parse(JSON.stringify(e.delta)), createdAt: e.createdAt, sealed: !e.open }));
  }

  get connected() { return this._state.connected; }

  // listener(state) on every change; returns an unsubscribe function.
  subscribe(listener) { return this.on('change', listener); }

  // Events: change(state), error(SyncError), refused(SyncError), ack({opId, delta, duplicate, doc}),
  // stale({doc, current, source}), connect(), disconnect(reason).
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => { const s = this._listeners.get(event); if (s) s.delete(fn); };
  }

  // Queues a delta ({xp: 10, hearts: -1, __set: {streak: 0}}); resolves with
  // the optimistic document once the delta is persisted in the queue (not
  // when the server acknowledged it: offline, that may take days).
  async updateUserStats(delta) {
    const d = M.normalizeDelta(delta);
    if (this._destroyed) throw new Error('statsync: this service was destroyed');
    await this.start();
    if (this._state.errorDetail && this._state.errorDetail.kind === 'refused') this.clearError();
    if (M.isEmptyDelta(d)) return this.getUserData();

    // A diamonds spend is checked against the local view and never merged
    // with other deltas: if the server refuses it (409 insufficient_funds),
    // only the spend is dropped, not the xp earned in the same window.
    const spend = typeof d.diamonds === 'number' && d.diamonds < 0;
    if (spend) {
      const view = this._computeView();
      const have = typeof view.diamonds === 'number' ? view.diamonds : 0;
      if (have + d.diamonds < 0 && !(d.__set && typeof d.__set.diamonds === 'number')) {
        throw new SyncError(`statsync: insufficient diamonds (have ${have}, need ${-d.diamonds})`,
          { kind: 'refused', code: 'insufficient_funds', delta: d });
      }
    }
    let entry = this._openEntry();
    if (entry && (spend || entry.isolated || !M.canMerge(entry.delta, d))) {
      this._sealOpen();
      entry = null;
    }
    if (!entry) {
      entry = { opId: this._newOpId(), delta: {}, createdAt: Date.now(), open: true };
      this._queue.push(entry);
    }
    entry.delta = M.mergeDeltas(entry.delta, d);
    if (spend) {
      entry.open = false;
      entry.isolated = true;
    } else if (!this._timers.window) {
      this._timers.window = setTimeout(() => this._closeWindow(), this.options.debounceMs);
    }
    this._refresh();
    const persisted = this._persistQueue();
    if (spend) this._triggerFlush('spend');
    await persisted;
    return this.getUserData();
  }

  // Pulls the document over REST; resolves with the (optimistic) view.
  async forcePull() {
    if (this._destroyed) throw new Error('statsync: this service was destroyed');
    await this.start();
    let res;
    try {
      res = await this._request('GET', `/api/users/${encodeURIComponent(this.userId)}/stats`);
    } catch (err) {
      const e = new SyncError(`statsync: pull failed: ${err.message}`, { kind: 'transient', code: 'network' });
      this._pullFailed(e);
      throw e;
    }
    if (res.status >= 200 && res.status < 300) {
      let doc = res.body;
      if (doc && doc.stats && doc.version === undefined && doc.xp === undefined) doc = doc.stats;
      this._ingest(doc, 'pull');
      this._syncOk();
      this._refresh({ loading: false });
      return this.getUserData();
    }
    const eb = (res.body && res.body.error) || {};
    const e = new SyncError(`statsync: pull failed: ${eb.message || `HTTP ${res.status}`}`,
      { kind: classifyStatus(res.status), status: res.status, code: eb.code });
    this._pullFailed(e);
    throw e;
  }

  // Closes the debounce window and sends every queued entry, in order.
  // Resolves when the queue is empty; rejects when a transient failure stopped
  // the flush (the entries stay queued and a retry is scheduled).
  async flushQueue() {
    if (this._destroyed) throw new Error('statsync: this service was destroyed');
    await this.start();
    this._sealOpen();
    for (;;) {
      await this._runFlush();
      if (this._destroyed || !this._hasSealed()) break;
    }
    await this._writeChain;
    return { pending: this._queue.length };
  }

  clearError() {
    this._setState({ error: null, errorDetail: null });
  }

  // Stops everything (timers, listeners, socket). The queue stays persisted.
  async destroy() {
    if (this._destroyed) return;
    this._destroyed = true;
    for (const k of Object.keys(this._timers)) {
      if (this._timers[k]) { clearTimeout(this._timers[k]); clearInterval(this._timers[k]); this._timers[k] = null; }
    }
    for (const d of this._detach.splice(0)) { try { d(); } catch (_) { /* ignore */ } }
    if (this._socket) {
      const s = this._socket;
      this._socket = null;
      try { s.off(); s.disconnect(); } catch (_) { /* ignore */ }
    }
    this._setState({ connected: false });
    this._listeners.clear();
    await this._writeChain.catch(noop);
  }

  // ---------------------------------------------------------------- startup

  async _start() {
    await this._load();
    if (this._destroyed) return;
    this._attachEnvironment();
    if (this.options.autoConnect) this._connectSocket();
    this._syncNow('start');
  }

  async _load() {
    let rawQueue = null;
    let rawDoc = null;
    try {
      [rawQueue, rawDoc] = await Promise.all([
        this.storage.getItem(this._keys.queue),
        this.storage.getItem(this._keys.doc),
      ]);
    } catch (err) {
      this._setError(new SyncError(`statsync: storage read failed: ${err.message}`, { kind: 'storage' }));
    }
    if (rawQueue) {
      try {
        const parsed = JSON.parse(rawQueue);
        const entries = Array.isArray(parsed) ? parsed : parsed && parsed.entries;
        const loaded = [];
        for (const e of entries || []) {
          if (e && typeof e.opId === 'string' && M.isPlainObject(e.delta)) {
            loaded.push({ opId: e.opId, delta: e.delta, createdAt: e.createdAt || 0 });
          }
        }
        // Entries queued by updateUserStats before the load finished go last.
        this._queue = loaded.concat(this._queue);
      } catch (err) {
        this._setError(new SyncError(`statsync: stored queue unreadable: ${err.message}`, { kind: 'storage' }));
      }
    }
    if (rawDoc) {
      try {
        const doc = JSON.parse(rawDoc);
        if (M.isPlainObject(doc) && (!doc.userId || doc.userId === this.userId)) {
          this._serverDoc = doc;
          this._state = { ...this._state, loading: false };
        }
      } catch (_) { /* a stale cache is only a cache */ }
    }
    this._refresh();
  }

  _attachEnvironment() {
    const { appState, netInfo } = this.options;
    if (appState && typeof appState.addEventListener === 'function') {
      this._appStateValue = appState.currentState || null;
      const sub = appState.addEventListener('change', this._onAppState);
      this._detach.push(() => {
        if (sub && typeof sub.remove === 'function') sub.remove();
        else if (typeof appState.removeEventListener === 'function') appState.removeEventListener('change', this._onAppState);
      });
    }
    if (netInfo && typeof netInfo.addEventListener === 'function') {
      const unsub = netInfo.addEventListener(this._onNetInfo);
      this._detach.push(() => {
        if (typeof unsub === 'function') unsub();
        else if (unsub && typeof unsub.remove === 'function') unsub.remove();
      });
      if (typeof netInfo.fetch === 'function') {
        Promise.resolve().then(() => netInfo.fetch()).then((st) => this._onNetInfo(st, true), noop);
      }
    }
  }

  _onAppState(next) {
    if (this._destroyed) return;
    const prev = this._appStateValue;
    this._appStateValue = next;
    if (next === 'active' && prev && prev !== 'active') {
      this._syncNow('foreground');
    } else if (prev === 'active' && next !== 'active') {
      // Going to the background: send what we have before the OS suspends us.
      this._sealOpen();
      this._triggerFlush('background');
    }
  }

  _onNetInfo(st, initial) {
    if (this._destroyed || !st) return;
    const online = st.isConnected !== false && st.isInternetReachable !== false;
    const was = this._online;
    this._online = online;
    this._setState({ online });
    if (online && was === false && !initial) {
      const s = this._socket;
      if (s && !s.connected && !s.active) s.connect();
      this._syncNow('online');
    }
  }

  // Pull, then flush (foreground, network back, start).
  _syncNow(_reason) {
    return this.forcePull().catch(noop).then(() => {
      if (this._destroyed) return undefined;
      return this._runFlush();
    }).catch(noop);
  }

  // ---------------------------------------------------------------- socket

  _connectSocket() {
    const o = this.options;
    const ioFactory = o.io || require('socket.io-client').io;
    const s = ioFactory(this.socketUrl, {
      reconnection: true,
      reconnectionDelay: o.reconnectionDelay,
      reconnectionDelayMax: o.reconnectionDelayMax,
      reconnectionAttempts: Infinity,
      timeout: o.connectTimeoutMs,
      auth: (cb) => {
        this._getToken().then((t) => cb(t ? { token: t } : {}), () => cb({}));
      },
      ...(o.socketOptions || {}),
    });
    this._socket = s;
    s.on('connect', () => this._onConnect());
    s.on('disconnect', (reason) => this._onDisconnect(reason));
    s.on('connect_error', (err) => this._onConnectError(err));
    s.on('user:data:updated', (doc) => this._onPush(doc));
    s.on('user:update', (p) => {
      if (!p || typeof p !== 'object') return;
      const doc = { ...(p.stats || {}) };
      if (p.version !== undefined) doc.version = p.version;
      if (p.userId !== undefined) doc.userId = p.userId;
      this._onPush(doc);
    });
    s.on('presence:pong', (p) => {
      if (p && typeof p === 'object') this._setState({ presence: { devices: p.devices, serverTime: p.serverTime, rttMs: typeof p.ts === 'number' ? Date.now() - p.ts : undefined } });
    });
  }

  _socketConnected() { return !!(this._socket && this._socket.connected); }

  _onConnect() {
    if (this._destroyed) return;
    this._socketBackoff.reset();
    this._clearTimer('socketRetry');
    this._setState({ connected: true });
    this._syncOk();
    this._socket.emit('presence:join', { userId: this.userId });
    if (this.options.presencePingIntervalMs > 0 && !this._timers.ping) {
      this._timers.ping = setInterval(() => {
        if (this._socketConnected()) this._socket.emit('presence:ping', { ts: Date.now() });
      }, this.options.presencePingIntervalMs);
    }
    this._clearTimer('retry');
    this._restBackoff.reset();
    this._emit('connect');
    this._triggerFlush('reconnect');
  }

  _onDisconnect(reason) {
    if (this._destroyed) return;
    if (this._timers.ping) { clearInterval(this._timers.ping); this._timers.ping = null; }
    this._setState({ connected: false });
    this._emit('disconnect', reason);
    this._maybeReconnectManually();
    // Pending entries go over REST meanwhile (the server may be reachable
    // there even when the socket is not).
    if (this._hasSealed()) this._scheduleRetry();
  }

  _onConnectError(err) {
    if (this._destroyed) return;
    this._setState({ connected: false });
    // socket.io-client stops retrying by itself when the server refused the
    // CONNECT (e.g. an expired token): keep retrying with our own backoff,
    // the auth callback fetches a fresh token each time.
    if (this._socket && !this._socket.active) {
      this._setError(new SyncError(`statsync: socket refused: ${err && err.message}`, { kind: 'auth', code: 'connect_refused' }));
      this._maybeReconnectManually();
    }
  }

  _maybeReconnectManually() {
    const s = this._socket;
    if (!s || s.active || this._timers.socketRetry || this._destroyed) return;
    const delay = this._socketBackoff.next();
    this._timers.socketRetry = setTimeout(() => {
      this._timers.socketRetry = null;
      if (!this._destroyed && this._socket && !this._socket.connected) this._socket.connect();
    }, delay);
  }

  _onPush(doc) {
    if (this._destroyed) return;
    if (this._ingest(doc, 'push')) this._refresh({ loading: false });
  }

  // ---------------------------------------------------------------- queue

  _openEntry() {
    const last = this._queue[this._queue.length - 1];
    return last && last.open ? last : null;
  }

  _hasSealed() {
    return this._queue.length > 0 && !this._queue[0].open;
  }

  _sealOpen() {
    const e = this._openEntry();
    if (e) e.open = false;
    this._clearTimer('window');
  }

  _closeWindow() {
    this._timers.window = null;
    this._sealOpen();
    this._triggerFlush('debounce');
  }

  _triggerFlush(reason) {
    if (this._destroyed || !this._hasSealed()) return;
    if (this._online === false && !this._socketConnected()) return; // the online event will flush
    // While a retry is scheduled, new operations wait for it (the backoff
    // holds); reconnect, online, foreground and flushQueue() go at once.
    if (this._timers.retry && (reason === 'debounce' || reason === 'spend')) return;
    this._runFlush().catch(noop);
  }

  _runFlush() {
    if (!this._flushPromise) {
      this._flushPromise = this._flushLoop().finally(() => { this._flushPromise = null; });
    }
    return this._flushPromise;
  }

  async _flushLoop() {
    this._setState({ syncing: true });
    try {
      for (;;) {
        if (this._destroyed) return;
        const entry = this._queue[0];
        if (!entry || entry.open) return;
        if (this._online === false && !this._socketConnected()) {
          throw new SyncError('statsync: offline; the queue will be sent when the network is back', { kind: 'offline', code: 'offline' });
        }
        this._inflight = entry;
        let result;
        try {
          result = await this._send(entry);
        } finally {
          this._inflight = null;
        }
        if (this._destroyed) return;
        if (result.kind === 'ack') {
          this._removeEntry(entry);
          this._restBackoff.reset();
          this._clearTimer('retry');
          this._ingest(result.doc, 'ack');
          this._releaseHeld();
          this._syncOk();
          this._refresh({ loading: false });
          this._persistQueue();
          this._emit('ack', { opId: entry.opId, delta: entry.delta, duplicate: !!result.duplicate, doc: result.doc });
          continue;
        }
        if (result.kind === 'refused') {
          this._removeEntry(entry);
          if (result.doc) this._ingest(result.doc, 'ack');
          this._releaseHeld();
          this._refresh();
          this._persistQueue();
          this._setError(result.error);
          this._emit('refused', result.error);
          continue;
        }
        // transient / auth: the entry stays first in the queue.
        this._releaseHeld();
        this._refresh();
        if (result.kind === 'auth') this._setError(result.error);
        else this._setSyncError(result.error);
        this._scheduleRetry(result.error.retryAfterMs);
        throw result.error;
      }
    } finally {
      this._setState({ syncing: false });
    }
  }

  _removeEntry(entry) {
    const i = this._queue.indexOf(entry);
    if (i >= 0) this._queue.splice(i, 1);
  }

  _scheduleRetry(minDelay) {
    if (this._destroyed || this._timers.retry) return;
    const delay = Math.max(this._restBackoff.next(), minDelay || 0);
    this._timers.retry = setTimeout(() => {
      this._timers.retry = null;
      this._triggerFlush('retry');
    }, delay);
  }

  async _send(entry) {
    if (this._socketConnected()) return this._sendSocket(entry);
    return this._sendRest(entry);
  }

  _sendSocket(entry) {
    return new Promise((resolve) => {
      const payload = { opId: entry.opId, delta: entry.delta };
      this._socket.timeout(this.options.ackTimeoutMs).emit('user:clientUpdate', payload, (err, res) => {
        if (err) {
          resolve({ kind: 'transient', error: new SyncError(`statsync: no ack (${err.message})`, { kind: 'transient', code: 'timeout', opId: entry.opId }) });
          return;
        }
        if (res && res.ok === true) {
          resolve({ kind: 'ack', doc: res.stats, duplicate: !!res.duplicate });
          return;
        }
        const e = (res && res.error) || {};
        const code = e.code || 'unknown';
        const kind = classifyCode(code, e.status);
        resolve({
          kind,
          doc: res && res.stats,
          error: new SyncError(`statsync: update ${kind === 'refused' ? 'refused' : 'failed'}: ${e.message || code}`,
            { kind, code, status: e.status, opId: entry.opId, delta: entry.delta }),
        });
      });
    });
  }

  async _sendRest(entry) {
    let res;
    try {
      res = await this._request('POST', '/api/users/data/patch', { ...entry.delta, userId: this.userId },
        { 'Idempotency-Key': entry.opId });
    } catch (err) {
      return { kind: 'transient', error: new SyncError(`statsync: network error: ${err.message}`, { kind: 'transient', code: 'network', opId: entry.opId }) };
    }
    const kind = classifyStatus(res.status);
    const body = res.body && typeof res.body === 'object' ? res.body : {};
    if (kind === 'ack') return { kind, doc: body.stats, duplicate: !!body.duplicate };
    const e = body.error || {};
    return {
      kind,
      doc: body.stats,
      error: new SyncError(`statsync: update ${kind === 'refused' ? 'refused' : 'failed'}: ${e.message || `HTTP ${res.status}`}`, {
        kind, status: res.status, code: e.code, opId: entry.opId, delta: entry.delta, retryAfterMs: parseRetryAfter(res.headers),
      }),
    };
  }

  async _getToken() {
    if (typeof this.options.getToken === 'function') return (await this.options.getToken()) || null;
    if (this.options.token) return this.options.token;
    if (this.options.storage && this.options.tokenStorageKey) return this.options.storage.getItem(this.options.tokenStorageKey);
    return null;
  }

  async _request(method, path, body, extraHeaders = {}) {
    if (!this._fetch) throw new Error('no fetch available');
    const headers = { Accept: 'application/json', ...extraHeaders };
    const token = await this._getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => { if (ctrl) ctrl.abort(); }, this.options.requestTimeoutMs);
    try {
      const r = await this._fetch(`${this.apiUrl}${path}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: ctrl ? ctrl.signal : undefined,
      });
      const text = await r.text();
      let parsed = null;
      try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = text; }
      return { status: r.status, headers: r.headers, body: parsed };
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- state

  // Takes a server document if it is newer (version, then updatedAt). Pushes
  // and pulls arriving while an entry is in flight are held until its answer:
  // they may already contain that entry, which the view still adds on top.
  _ingest(doc, source) {
    if (!M.isPlainObject(doc)) return false;
    if (doc.userId !== undefined && doc.userId !== this.userId) return false;
    if (this._inflight && source !== 'ack') {
      if (!this._held || M.isNewer(doc, this._held)) this._held = doc;
      return false;
    }
    if (!M.isNewer(doc, this._serverDoc)) {
      if (source !== 'ack' || M.versionOf(doc) < M.versionOf(this._serverDoc)) {
        this._emit('stale', { doc, current: this._serverDoc, source });
      }
      return false;
    }
    this._serverDoc = { ...doc };
    this._state = { ...this._state, lastSyncedAt: Date.now() };
    this._persistDoc();
    return true;
  }

  _releaseHeld() {
    const held = this._held;
    this._held = null;
    if (held) this._ingest(held, 'push');
  }

  _computeView() {
    let doc = this._serverDoc ? { ...this._serverDoc } : M.defaultDocument(this.userId);
    for (const e of this._queue) doc = M.applyDelta(doc, e.delta);
    return doc;
  }

  _refresh(extra) {
    const hasData = !!this._serverDoc || this._queue.length > 0 || !this._state.loading || (extra && extra.loading === false);
    this._setState({
      userData: hasData ? this._computeView() : null,
      pendingCount: this._queue.length,
      ...(extra || {}),
    });
  }

  _setState(patch) {
    let changed = false;
    for (const k of Object.keys(patch)) {
      if (this._state[k] !== patch[k]) { changed = true; break; }
    }
    if (!changed) return;
    this._state = { ...this._state, ...patch };
    this._emit('change', this._state);
  }

  _setError(err, extra) {
    const patch = { error: err.message, errorDetail: err, ...(extra || {}) };
    if (patch.loading === false && !this._state.userData) {
      patch.userData = this._computeView();
      patch.pendingCount = this._queue.length;
    }
    this._setState(patch);
    this._emit('error', err);
  }

  // A transient failure of background sync (the queue is kept and retried):
  // not an `error` for the screen — offline is a normal state — but visible
  // as `syncError` until the next success.
  _setSyncError(err) {
    this._setState({ syncError: err });
    this._emit('error', err);
  }

  // A pull failed: an `error` for the screen only when there is nothing to
  // show (first start, no cached document) or the server refused us.
  _pullFailed(e) {
    if (!this._serverDoc && this._state.loading) this._setError(e, { loading: false });
    else if (e.kind === 'auth' || e.kind === 'refused') this._setError(e);
    else this._setSyncError(e);
  }

  // The server answered: clears syncError and every error but a refusal
  // (which stays until the next updateUserStats() or clearError()).
  _syncOk() {
    const d = this._state.errorDetail;
    const patch = { syncError: null };
    if (d && d.kind !== 'refused') { patch.error = null; patch.errorDetail = null; }
    this._setState(patch);
  }

  _clearTimer(name) {
    if (this._timers[name]) { clearTimeout(this._timers[name]); this._timers[name] = null; }
  }

  _emit(event, arg) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of Array.from(set)) {
      try { fn(arg); } catch (err) { this._log('error', 'statsync: listener threw', err); }
    }
  }

  _log(level, ...args) {
    if (this.logger && typeof this.logger[level] === 'function') this.logger[level](...args);
    else if (!this.logger && level !== 'debug' && typeof console !== 'undefined' && console[level]) console[level](...args);
  }

  // ---------------------------------------------------------------- storage

  // Writes are serialized and always write the latest state, so the stored
  // queue never goes back to an older snapshot.
  _persistQueue() {
    this._queueDirty = true;
    return this._chain(() => {
      if (!this._queueDirty) return undefined;
      this._queueDirty = false;
      if (!this._queue.length) return this.storage.removeItem(this._keys.queue);
      const entries = this._queue.map((e) => ({ opId: e.opId, delta: e.delta, createdAt: e.createdAt }));
      return this.storage.setItem(this._keys.queue, JSON.stringify({ v: 1, entries }));
    });
  }

  _persistDoc() {
    this._docDirty = true;
    return this._chain(() => {
      if (!this._docDirty || !this._serverDoc) return undefined;
      this._docDirty = false;
      return this.storage.setItem(this._keys.doc, JSON.stringify(this._serverDoc));
    });
  }

  _chain(fn) {
    const p = this._writeChain.then(fn).catch((err) => {
      this._setError(new SyncError(`statsync: storage write failed: ${err && err.message}`, { kind: 'storage' }));
    });
    this._writeChain = p;
    return p;
  }
}

function createUserDataSync(userId, options) {
  const s = new UserDataSync(userId, options);
  s.start();
  return s;
}

// ------------------------------------------------------------------ shared instances
// The hook and the provider share one service per user (one socket, one queue
// in storage), reference-counted.

let globalConfig = {};
const registry = new Map();

function configureUserDataSync(options = {}) {
  globalConfig = { ...globalConfig, ...options };
  return globalConfig;
}

function getUserDataSyncConfig() { return globalConfig; }

function registryKey(userId, o) {
  return `${userId}|${o.apiUrl || envApiUrl() || ''}|${o.socketUrl || envSocketUrl() || ''}|${o.storageKeyPrefix || DEFAULTS.storageKeyPrefix}`;
}

function acquireUserDataSync(userId, options = {}) {
  const o = { ...globalConfig };
  for (const k of Object.keys(options)) if (options[k] !== undefined) o[k] = options[k];
  const key = registryKey(userId, o);
  let rec = registry.get(key);
  if (!rec) {
    rec = { service: createUserDataSync(userId, o), refs: 0, timer: null, key };
    registry.set(key, rec);
  }
  if (rec.timer) { clearTimeout(rec.timer); rec.timer = null; }
  rec.refs += 1;
  return rec.service;
}

// Destroys the service when its last user let go (after a tick, so that a
// remount — React StrictMode mounts effects twice — reuses it).
function releaseUserDataSync(service) {
  for (const rec of registry.values()) {
    if (rec.service !== service) continue;
    rec.refs -= 1;
    if (rec.refs <= 0 && !rec.timer) {
      rec.timer = setTimeout(() => {
        rec.timer = null;
        if (rec.refs > 0) return;
        registry.delete(rec.key);
        rec.service.destroy();
      }, 0);
    }
    return;
  }
}

async function resetUserDataSyncRegistry() {
  const all = Array.from(registry.values());
  registry.clear();
  for (const rec of all) {
    if (rec.timer) clearTimeout(rec.timer);
    await rec.service.destroy();
  }
  globalConfig = {};
}

module.exports = {
  UserDataSync,
  SyncError,
  createUserDataSync,
  configureUserDataSync,
  getUserDataSyncConfig,
  acquireUserDataSync,
  releaseUserDataSync,
  resetUserDataSyncRegistry,
  createMemoryStorage,
  randomOpId,
  classifyStatus,
  DEFAULTS,
};
