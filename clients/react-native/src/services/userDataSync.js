'use strict';
// UserDataSync — the sync service behind the hook and the context.
//
//  - Every updateUserStats(delta) goes into a persisted queue entry with an
//    opId and a seq: this install's number for the op (1, 2, 3 … under its
//    durable clientId, never reused). Deltas arriving within one debounce
//    window (600 ms) merge into the same entry; when the window closes the
//    entry is sealed and flushed.
//  - The queue is flushed strictly in order, one entry at a time: over the
//    socket (`user:clientUpdate {ops:[{opId, delta, clientId, seq}]}` with an
//    ack) when connected, else over REST (`POST /api/users/data/patch` with
//    clientId and seq in the body, `Idempotency-Key: opId`). An entry leaves
//    the queue only when the server acknowledged it (or refused it for good);
//    the server keeps each client's last seq in the same transaction as the
//    change, so a flush that died half-way is simply repeated, however late
//    (exactly-once with no time window; the opId covers the rest).
//  - The local view is the last server document (ordered by version, then
//    updatedAt — never backwards) with the pending entries applied on top.
//  - The socket's token is renewed before its exp (`auth:refresh`, same
//    socket); a refused renewal or a `token_expired` refusal reconnects with a
//    fresh token.

const { Backoff } = require('./backoff');
const M = require('./merge');
const { tokenExp } = require('./token');
const loadAsyncStorage = require('../optional/async-storage');
const loadNetInfo = require('../optional/netinfo');
const loadAppState = require('../optional/react-native');

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
  tokenRefreshLeadMs: 60000,
  autoConnect: true,
  autoDetect: true,
};

const TRANSIENT_CODES = new Set([
  'unavailable', 'internal', 'storage_full', 'rate_limited', 'too_many_requests',
  'timeout', 'busy', 'network', 'offline',
]);
const AUTH_CODES = new Set(['unauthorized', 'token_expired', 'invalid_token', 'unauthenticated']);
const MAX_TIMER_MS = 0x7fffffff; // setTimeout's limit (~24.8 days)

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

// A seq: a positive safe integer. A clientId: 1-64 of [A-Za-z0-9_-] (the
// server's rule; a UUID is one).
function isSeq(v) { return Number.isSafeInteger(v) && v >= 1; }
function isClientId(v) { return typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v); }

// Development fallback only: Expo inlines `process.env.EXPO_PUBLIC_*` into the
// app's own code at build time, not into node_modules, so in a release build
// these read undefined here. The app passes apiUrl explicitly (README).
function envApiUrl() {
  try { return process.env.EXPO_PUBLIC_API_URL || undefined; } catch (_) { return undefined; }
}
function envSocketUrl() {
  try { return process.env.EXPO_PUBLIC_SOCKET_URL || undefined; } catch (_) { return undefined; }
}

function trimSlash(u) {
  return typeof u === 'string' ? u.replace(/\/+$/, '') : u;
}

function noop() {}

class SyncError extends Error {
  // kind: 'refused' (permanent: the entry was dropped), 'transient' (kept,
  // retried), 'auth' (kept, retried with a fresh token), 'offline', 'storage',
  // 'connection' (the socket: connectionError), 'config' (a set-up mistake).
  constructor(message, { kind = 'transient', code, status, opId, delta, retryAfterMs, reason } = {}) {
    super(message);
    this.name = 'SyncError';
    this.kind = kind;
    if (code !== undefined) this.code = code;
    if (status !== undefined) this.status = status;
    if (opId !== undefined) this.opId = opId;
    if (delta !== undefined) this.delta = delta;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
    if (reason !== undefined) this.reason = reason;
  }
}

const API_URL_HELP = 'pass it in your App.js: configureUserDataSync({ apiUrl: process.env.EXPO_PUBLIC_API_URL, … }) '
  + 'and set EXPO_PUBLIC_API_URL (in .env, or in the env of your EAS build profile) before building. '
  + 'Expo inlines EXPO_PUBLIC_* only into the app\'s own code, so the SDK cannot read it itself in a release build';

// Throws a clear error for a missing or malformed URL (set-up time, not later).
function checkUrl(name, value, where) {
  if (value === undefined || value === null || value === '') {
    throw new SyncError(`statsync: ${where}: ${name} is missing (${value === '' ? 'empty' : String(value)}); ${API_URL_HELP}`,
      { kind: 'config', code: `missing_${name === 'apiUrl' ? 'api' : 'socket'}_url` });
  }
  if (typeof value !== 'string' || !/^https?:\/\/[^/\s]+/i.test(value)) {
    throw new SyncError(`statsync: ${where}: ${name} must be an http:// or https:// URL (the App URL), got ${JSON.stringify(value)}`,
      { kind: 'config', code: 'invalid_url' });
  }
}

// ------------------------------------------------------------------ warnings

const warnedConsole = new Set();
const warnedLoggers = new WeakMap();

// Each distinct set-up warning once per logger (console: once per process).
function warnOnce(logger, message) {
  let seen = warnedConsole;
  if (logger && typeof logger === 'object') {
    seen = warnedLoggers.get(logger);
    if (!seen) { seen = new Set(); warnedLoggers.set(logger, seen); }
  }
  if (seen.has(message)) return;
  seen.add(message);
  if (logger) { if (typeof logger.warn === 'function') logger.warn(message); } else if (typeof console !== 'undefined') console.warn(message);
}

// ------------------------------------------------------------------ environment

let detected = null;
function detectEnvironment() {
  if (!detected) detected = { storage: loadAsyncStorage(), netInfo: loadNetInfo(), appState: loadAppState() };
  return detected;
}

// DEFAULTS + options (undefined = not given), the URLs resolved, and the
// packages that are installed used where the app gave nothing: AsyncStorage,
// NetInfo, React Native's AppState (null = "none, I know").
function resolveOptions(options = {}) {
  const o = { ...DEFAULTS };
  for (const k of Object.keys(options)) if (options[k] !== undefined) o[k] = options[k];
  o.apiUrl = trimSlash(o.apiUrl || envApiUrl() || '');
  o.socketUrl = trimSlash(o.socketUrl || envSocketUrl() || o.apiUrl);
  if (o.autoDetect) {
    const env = detectEnvironment();
    for (const k of ['storage', 'netInfo', 'appState']) if (o[k] === undefined && env[k]) o[k] = env[k];
  }
  return o;
}

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

// What a failed socket connect means, from socket.io-client's connect_error:
// refused by the server (a CONNECT error packet: its message is the server's
// reason; the socket is no longer active) or not reachable at all.
function connectErrorOf(err, active, url) {
  const reason = (err && err.message) || String(err);
  if (!active) {
    let code = 'connect_refused';
    if (/too many sockets/i.test(reason)) code = 'too_many_sockets';
    else if (/token.*expired|expired/i.test(reason)) code = 'token_expired';
    else if (/unauthori[sz]ed|invalid token|missing token/i.test(reason)) code = 'unauthorized';
    return new SyncError(`statsync: the server refused the socket: ${reason}`, { kind: 'connection', code, reason });
  }
  const d = err && err.description;
  const detail = d && (d.message || (d.error && d.error.message) || (typeof d === 'string' ? d : ''));
  return new SyncError(`statsync: cannot connect the socket to ${url} (${reason}${detail ? `: ${detail}` : ''}); `
    + 'retrying — updates go over REST meanwhile', { kind: 'connection', code: 'connect_failed', reason });
}

// The server's seq_gap (409): it expects error.expectedSeq from this client.
function gapResult(e, entry) {
  const expectedSeq = isSeq(e.expectedSeq) ? e.expectedSeq : null;
  return {
    kind: expectedSeq !== null && expectedSeq < entry.seq ? 'gap' : 'transient',
    expectedSeq,
    error: new SyncError(`statsync: the server expects seq ${expectedSeq} of this install, not ${entry.seq}: ${e.message || 'seq_gap'}`,
      { kind: 'transient', code: 'seq_gap', status: 409, opId: entry.opId }),
  };
}

class UserDataSync {
  constructor(userId, options = {}) {
    if (!isValidUserId(userId)) {
      throw new TypeError('statsync: userId must be 1-128 bytes of UTF-8 without control characters or leading/trailing whitespace');
    }
    this.userId = userId;
    const given = options || {};
    const o = resolveOptions(given);
    this.options = o;
    this.apiUrl = o.apiUrl;
    this.socketUrl = o.socketUrl;
    if (!this.apiUrl) {
      throw new SyncError(`statsync: no API URL: pass { apiUrl } (in App.js: apiUrl: process.env.EXPO_PUBLIC_API_URL); in development the SDK also reads EXPO_PUBLIC_API_URL (and EXPO_PUBLIC_SOCKET_URL) itself`,
        { kind: 'config', code: 'missing_api_url' });
    }
    checkUrl('apiUrl', this.apiUrl, 'UserDataSync');
    checkUrl('socketUrl', this.socketUrl, 'UserDataSync');
    this.logger = o.logger || null;
    this.storage = o.storage || null;
    this._warnMissing(given);
    if (!this.storage) this.storage = createMemoryStorage();
    this._fetch = o.fetch || (typeof fetch === 'function' ? fetch.bind(globalThis) : null);
    this._newOpId = o.generateOpId || randomOpId;
    const backoff = { min: o.reconnectionDelay, max: o.reconnectionDelayMax, jitter: o.retryJitter };
    this._restBackoff = new Backoff(backoff);
    this._socketBackoff = new Backoff(backoff);
    this._tokenBackoff = new Backoff(backoff);
    const prefix = o.storageKeyPrefix;
    this._keys = { queue: `${prefix}/queue/${userId}`, doc: `${prefix}/doc/${userId}`, client: `${prefix}/client/${userId}` };

    this._queue = []; // [{opId, seq, delta, createdAt, open?, isolated?}], in seq order
    // Exactly-once per client: this install's clientId for the user and the
    // seq of its next operation (loaded or created by _load), and what
    // storage holds for sure — an entry is sent only once its number is
    // there (_numberDurable), so a restart never numbers another op the same.
    this._clientId = null;
    this._nextSeq = 1;
    this._durable = { clientId: null, nextSeq: 0 };
    this._serverDoc = null;
    this._inflight = null;
    this._held = null;
    this._online = null; // null = unknown (treated as online)
    this._appStateValue = null;
    this._listeners = new Map();
    this._timers = { window: null, retry: null, socketRetry: null, ping: null, tokenRefresh: null };
    this._ready = null;
    this._startGate = null; // a predecessor on the same storage to wait for (registry hand-over)
    this._destroyed = false;
    this._signedOut = false;
    this._flushPromise = null;
    this._writeChain = Promise.resolve();
    this._queueDirty = false;
    this._docDirty = false;
    this._socket = null;
    this._socketToken = null; // the token the socket authenticated with (or renewed to)
    this._forceFreshToken = false; // the next getToken() is asked for a fresh token
    this._reconnectingForToken = false;
    this._round = 0; // one per pull and per flush run: a refusal is cleared by a later round's success
    this._errorRound = 0;
    this._detach = [];
    this._state = {
      userId,
      userData: null,
      loading: true,
      error: null,
      errorDetail: null,
      syncError: null,
      connected: false,
      connectionError: null,
      online: null,
      pendingCount: 0,
      syncing: false,
      lastSyncedAt: null,
      presence: null,
      signedOut: false,
    };
    this._onAppState = this._onAppState.bind(this);
    this._onNetInfo = this._onNetInfo.bind(this);
  }

  // One clear warning per missing piece of the app's set-up (null = "none,
  // on purpose": no warning).
  _warnMissing(given) {
    const o = this.options;
    const w = (m) => warnOnce(this.logger, m);
    if (!o.storage && given.storage !== null) {
      w('statsync: no storage: the offline queue lives in memory only and is lost when the app is closed — '
        + 'install @react-native-async-storage/async-storage or pass { storage: AsyncStorage }');
    }
    if (!o.netInfo && given.netInfo !== null) {
      w('statsync: no NetInfo: a return of the network is only noticed by the socket\'s reconnect and the retry backoff — '
        + 'install @react-native-community/netinfo or pass { netInfo: NetInfo }');
    }
    if (!o.appState && given.appState !== null) {
      w('statsync: no AppState: no pull when the app comes to the foreground, no flush when it goes to the background — '
        + 'pass { appState: AppState } (from react-native)');
    }
    if (typeof o.getToken !== 'function' && !o.token && given.getToken !== null) {
      w(o.storage && o.tokenStorageKey
        ? `statsync: no getToken: the token is read from storage key '${o.tokenStorageKey}' (the seed's); pass { getToken } to say where your app keeps it`
        : 'statsync: no token source: requests go out without a token and the server refuses them (401) — pass { getToken }');
    }
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
    return this._queue.map((e) => ({
      opId: e.opId, seq: e.seq, delta: JSON.parse(JSON.stringify(e.delta)), createdAt: e.createdAt, sealed: !e.open,
    }));
  }

  // This install's clientId for the user (null until started): its ops are
  // numbered under it.
  get clientId() { return this._clientId; }

  get connected() { return this._state.connected; }

  get destroyed() { return this._destroyed; }

  // listener(state) on every change; returns an unsubscribe function.
  subscribe(listener) { return this.on('change', listener); }

  // Events: change(state), error(SyncError), refused(SyncError), ack({opId, seq, delta, duplicate, doc}),
  // stale({doc, current, source}), connect(), disconnect(reason), connectError(SyncError),
  // tokenRefresh({exp}), seqGap({expectedSeq, seq, previousClientId, clientId}), signedOut().
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
    this._assertLive();
    await this.start();
    this._assertLive();
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
      entry = { opId: this._newOpId(), seq: this._nextSeq++, delta: {}, createdAt: Date.now(), open: true };
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
    this._assertLive();
    await this.start();
    this._assertLive();
    const round = ++this._round;
    let res;
    try {
      res = await this._request('GET', `/api/users/${encodeURIComponent(this.userId)}/stats`);
    } catch (err) {
      const e = new SyncError(`statsync: pull failed: ${err.message}`, { kind: 'transient', code: 'network' });
      this._pullFailed(e);
      throw e;
    }
    if (this._destroyed) return this.getUserData();
    if (res.status >= 200 && res.status < 300) {
      let doc = res.body;
      if (doc && doc.stats && doc.version === undefined && doc.xp === undefined) doc = doc.stats;
      this._ingest(doc, 'pull');
      this._syncOk(round);
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
    this._assertLive();
    await this.start();
    this._assertLive();
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

  // Signs the user out on this device: optionally sends the queue first
  // ({flush: true}: rejects, and changes nothing, when the queue could not be
  // emptied — call again with {flush: false} to discard it), then stops the
  // service and deletes the user's persisted queue and cached document.
  async signOut({ flush = false } = {}) {
    if (this._signedOut) return { discarded: 0 };
    if (flush && !this._destroyed) await this.flushQueue();
    const discarded = this._queue.length;
    this._signedOut = true;
    unregister(this);
    this._state = {
      ...this._state, userData: null, pendingCount: 0, connected: false, syncing: false, signedOut: true, loading: false,
    };
    const listeners = this._listeners;
    await this.destroy({ keepListeners: true });
    await this._clearStored();
    this._emit('change', this._state);
    this._emit('signedOut', { discarded });
    listeners.clear();
    return { discarded };
  }

  // Stops everything (timers, listeners, socket). The queue stays persisted.
  async destroy({ keepListeners = false } = {}) {
    if (this._destroyed) { await this._writeChain.catch(noop); return; }
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
    if (!keepListeners) {
      this._setState({ connected: false });
      this._listeners.clear();
    }
    await this._writeChain.catch(noop);
  }

  _assertLive() {
    if (this._signedOut) throw new SyncError('statsync: this user was signed out', { kind: 'config', code: 'signed_out' });
    if (this._destroyed) throw new Error('statsync: this service was destroyed');
  }

  async _clearStored() {
    try {
      await this.storage.removeItem(this._keys.queue);
      await this.storage.removeItem(this._keys.doc);
      // the next sign-in is a new client to the server (its numbers start
      // over under a new clientId; the old record ages out of the server's table)
      await this.storage.removeItem(this._keys.client);
    } catch (err) {
      throw new SyncError(`statsync: sign-out could not clear the stored data: ${err && err.message}`, { kind: 'storage' });
    }
  }

  // ---------------------------------------------------------------- startup

  async _start() {
    if (this._startGate) await this._startGate.catch(noop);
    if (this._destroyed) return;
    await this._load();
    if (this._destroyed) return;
    this._attachEnvironment();
    if (this.options.autoConnect) this._connectSocket();
    this._syncNow('start');
  }

  async _load() {
    let rawQueue = null;
    let rawDoc = null;
    let rawClient = null;
    try {
      [rawQueue, rawDoc, rawClient] = await Promise.all([
        this.storage.getItem(this._keys.queue),
        this.storage.getItem(this._keys.doc),
        this.storage.getItem(this._keys.client),
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
            loaded.push({ opId: e.opId, seq: isSeq(e.seq) ? e.seq : null, delta: e.delta, createdAt: e.createdAt || 0 });
          }
        }
        // Entries queued by updateUserStats before the load finished go last.
        this._queue = loaded.concat(this._queue);
      } catch (err) {
        this._setError(new SyncError(`statsync: stored queue unreadable: ${err.message}`, { kind: 'storage' }));
      }
    }
    this._loadClient(rawClient);
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
      // Timers may not have run in the background: the token may be due.
      if (this._socketConnected()) this._scheduleTokenRefresh();
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
      // Called by socket.io-client for every (re)connect: a fresh token each time.
      auth: (cb) => {
        this._getToken('connect').then((t) => {
          this._socketToken = t || null;
          cb(t ? { token: t } : {});
        }, () => cb({}));
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
    s.on('user:error', (p) => this._onUserError(p));
    s.on('presence:pong', (p) => {
      if (p && typeof p === 'object') this._setState({ presence: { devices: p.devices, serverTime: p.serverTime, rttMs: typeof p.ts === 'number' ? Date.now() - p.ts : undefined } });
    });
  }

  _socketConnected() { return !!(this._socket && this._socket.connected); }

  _onConnect() {
    if (this._destroyed) return;
    this._socketBackoff.reset();
    this._tokenBackoff.reset();
    this._reconnectingForToken = false;
    this._clearTimer('socketRetry');
    this._setState({ connected: true, connectionError: null });
    this._syncOk();
    this._socket.emit('presence:join', { userId: this.userId });
    if (this.options.presencePingIntervalMs > 0 && !this._timers.ping) {
      this._timers.ping = setInterval(() => {
        if (this._socketConnected()) this._socket.emit('presence:ping', { ts: Date.now() });
      }, this.options.presencePingIntervalMs);
    }
    this._scheduleTokenRefresh();
    this._clearTimer('retry');
    this._restBackoff.reset();
    this._emit('connect');
    this._triggerFlush('reconnect');
  }

  _onDisconnect(reason) {
    if (this._destroyed) return;
    if (this._timers.ping) { clearInterval(this._timers.ping); this._timers.ping = null; }
    this._clearTimer('tokenRefresh');
    this._setState({ connected: false });
    this._emit('disconnect', reason);
    if (!this._reconnectingForToken) this._maybeReconnectManually();
    // Pending entries go over REST meanwhile (the server may be reachable
    // there even when the socket is not).
    if (this._hasSealed()) this._scheduleRetry();
  }

  _onConnectError(err) {
    if (this._destroyed) return;
    const active = !!(this._socket && this._socket.active);
    const e = connectErrorOf(err, active, this.socketUrl);
    this._reconnectingForToken = false;
    this._setConnectionError(e);
    this._emit('connectError', e);
    // socket.io-client stops retrying by itself when the server refused the
    // CONNECT (e.g. an expired token): keep retrying with our own backoff,
    // the auth callback fetches a fresh token each time.
    if (!active) {
      if (e.code === 'unauthorized' || e.code === 'token_expired') this._forceFreshToken = true;
      this._maybeReconnectManually();
    }
  }

  // The same failure again keeps the same object (no state change per retry).
  _setConnectionError(e) {
    const cur = this._state.connectionError;
    if (cur && e && cur.code === e.code && cur.message === e.message) return;
    this._setState({ connected: false, connectionError: e });
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

  // An event the server refused without an ack (user:error {event, error}).
  _onUserError(p) {
    if (this._destroyed || !p || typeof p !== 'object') return;
    const err = p.error || {};
    if (err.code === 'token_expired') this._onTokenExpired(err.message);
  }

  _onPush(doc) {
    if (this._destroyed) return;
    if (this._ingest(doc, 'push')) this._refresh({ loading: false });
  }

  // ---------------------------------------------------------------- token renewal

  // Renews the socket's token before its exp (the JWT's own claim, read
  // without verification): tokenRefreshLeadMs ahead, but at most a third of
  // the time it has left, so that short-lived tokens are renewed too.
  _scheduleTokenRefresh(delayOverride) {
    this._clearTimer('tokenRefresh');
    if (this._destroyed || !this._socketConnected() || this.options.tokenRefresh === false) return;
    let delay = delayOverride;
    if (delay === undefined) {
      const exp = tokenExp(this._socketToken);
      if (exp === null) return; // not a JWT, or no exp: nothing to renew
      const remaining = exp * 1000 - Date.now();
      const lead = Math.min(this.options.tokenRefreshLeadMs, Math.max(0, remaining / 3));
      delay = Math.max(0, remaining - lead);
    }
    this._timers.tokenRefresh = setTimeout(() => {
      this._timers.tokenRefresh = null;
      if (delay >= MAX_TIMER_MS) this._scheduleTokenRefresh(); // not due yet: look again
      else this._refreshToken();
    }, Math.min(delay, MAX_TIMER_MS));
  }

  // Not renewed this time (no newer token yet, no answer): ask again later,
  // with the same backoff as everything else.
  _retryTokenRefresh() {
    this._scheduleTokenRefresh(this._tokenBackoff.next());
  }

  async _refreshToken() {
    const s = this._socket;
    if (this._destroyed || !s || !s.connected) return;
    let token = null;
    try { token = await this._getToken('refresh'); } catch (_) { token = null; }
    if (this._destroyed || this._socket !== s || !s.connected) return;
    const oldExp = tokenExp(this._socketToken);
    const newExp = tokenExp(token);
    if (!token || token === this._socketToken || (oldExp !== null && newExp !== null && newExp <= oldExp)) {
      this._retryTokenRefresh();
      return;
    }
    s.timeout(this.options.ackTimeoutMs).emit('auth:refresh', { token }, (err, res) => {
      if (this._destroyed || this._socket !== s) return;
      if (err) { // no answer (the socket may be going away): try again
        if (s.connected) this._retryTokenRefresh();
        return;
      }
      if (res && res.ok === true) {
        this._socketToken = token;
        this._tokenBackoff.reset();
        this._emit('tokenRefresh', { exp: typeof res.exp === 'number' ? res.exp : newExp });
        this._scheduleTokenRefresh();
        return;
      }
      const e = (res && res.error) || {};
      this._reconnectWithFreshToken(new SyncError(`statsync: token renewal refused: ${e.message || e.code || 'unknown'}`,
        { kind: 'connection', code: e.code === 'token_expired' ? 'token_expired' : 'refresh_refused', reason: e.message }));
    });
  }

  // The server refused an event with token_expired: the socket's token ran out
  // (renewal failed or came too late). Reconnect with a fresh one.
  _onTokenExpired(message) {
    this._reconnectWithFreshToken(new SyncError(`statsync: the socket's token expired${message ? `: ${message}` : ''}; reconnecting with a fresh token`,
      { kind: 'connection', code: 'token_expired', reason: message }));
  }

  _reconnectWithFreshToken(err) {
    const s = this._socket;
    if (this._destroyed || !s) return;
    this._setConnectionError(err);
    this._emit('connectError', err);
    if (this._reconnectingForToken) return;
    this._reconnectingForToken = true;
    this._forceFreshToken = true;
    this._clearTimer('tokenRefresh');
    try { s.disconnect(); } catch (_) { /* ignore */ }
    if (this._destroyed || this._socket !== s) return;
    s.connect(); // the auth callback asks getToken() for a fresh token
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
    const round = ++this._round;
    let renumbered = null; // the entry that made this run go on as a new client
    this._setState({ syncing: true });
    try {
      for (;;) {
        if (this._destroyed) return;
        const entry = this._queue[0];
        if (!entry || entry.open) return;
        if (this._online === false && !this._socketConnected()) {
          throw new SyncError('statsync: offline; the queue will be sent when the network is back', { kind: 'offline', code: 'offline' });
        }
        if (!this._numberDurable(entry)) {
          this._queueDirty = true;
          await this._persistQueue();
          if (this._destroyed) return;
        }
        this._inflight = entry;
        let result;
        try {
          result = this._numberDurable(entry) ? await this._send(entry) : {
            kind: 'transient',
            error: new SyncError('statsync: the queue could not be written to storage; an operation is sent only once its number is stored',
              { kind: 'transient', code: 'storage', opId: entry.opId }),
          };
        } finally {
          this._inflight = null;
        }
        if (this._destroyed) return;
        if (result.kind === 'gap' && renumbered !== entry) {
          // never twice for one entry in a run: a new client has no gap
          renumbered = entry;
          this._releaseHeld();
          this._continueAsNewClient(result.expectedSeq, entry);
          continue;
        }
        if (result.kind === 'gap') result = { kind: 'transient', error: result.error };
        if (result.kind === 'ack') {
          this._removeEntry(entry);
          this._restBackoff.reset();
          this._clearTimer('retry');
          this._ingest(result.doc, 'ack');
          this._releaseHeld();
          this._syncOk(round);
          this._refresh({ loading: false });
          this._persistQueue();
          this._emit('ack', { opId: entry.opId, seq: entry.seq, delta: entry.delta, duplicate: !!result.duplicate, doc: result.doc });
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
        if (result.error.code === 'token_expired' && result.viaSocket) {
          // The socket's token ran out: not the player's problem — reconnect
          // with a fresh token, and the reconnect flushes again.
          this._setSyncError(result.error);
          this._onTokenExpired(result.error.message);
        } else if (result.kind === 'auth') {
          this._forceFreshToken = true;
          this._setError(result.error);
        } else {
          this._setSyncError(result.error);
        }
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
      // a batch of one: the server numbers ops inside ops[i]
      const payload = { ops: [{ opId: entry.opId, delta: entry.delta, clientId: this._clientId, seq: entry.seq }] };
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
        if (code === 'seq_gap') {
          resolve(gapResult(e, entry));
          return;
        }
        const kind = classifyCode(code, e.status);
        resolve({
          kind,
          viaSocket: true,
          doc: res && res.stats,
          error: new SyncError(`statsync: update ${kind === 'refused' ? 'refused' : 'failed'}: ${e.message || code}`,
            { kind, code, status: e.status, opId: entry.opId, delta: entry.delta, retryAfterMs: e.retryAfterMs }),
        });
      });
    });
  }

  async _sendRest(entry) {
    let res;
    try {
      res = await this._request('POST', '/api/users/data/patch',
        { ...entry.delta, userId: this.userId, clientId: this._clientId, seq: entry.seq },
        { 'Idempotency-Key': entry.opId });
    } catch (err) {
      return { kind: 'transient', error: new SyncError(`statsync: network error: ${err.message}`, { kind: 'transient', code: 'network', opId: entry.opId }) };
    }
    const kind = classifyStatus(res.status);
    const body = res.body && typeof res.body === 'object' ? res.body : {};
    if (kind === 'ack') return { kind, doc: body.stats, duplicate: !!body.duplicate };
    const e = body.error || {};
    if (e.code === 'seq_gap') return gapResult(e, entry);
    return {
      kind,
      doc: body.stats,
      error: new SyncError(`statsync: update ${kind === 'refused' ? 'refused' : 'failed'}: ${e.message || `HTTP ${res.status}`}`, {
        kind, status: res.status, code: e.code, opId: entry.opId, delta: entry.delta, retryAfterMs: parseRetryAfter(res.headers),
      }),
    };
  }

  // The app's token source. getToken({reason, forceRefresh}) — reason is
  // 'request' | 'connect' | 'refresh'; forceRefresh is true for a renewal and
  // after the server refused a token (a source that caches may ignore it).
  async _getToken(reason = 'request') {
    const forceRefresh = this._forceFreshToken || reason === 'refresh';
    if (reason !== 'refresh') this._forceFreshToken = false;
    const o = this.options;
    if (typeof o.getToken === 'function') return (await o.getToken({ reason, forceRefresh })) || null;
    if (o.token) return o.token;
    if (o.storage && o.tokenStorageKey) return o.storage.getItem(o.tokenStorageKey);
    return null;
  }

  async _request(method, path, body, extraHeaders = {}) {
    if (!this._fetch) throw new Error('no fetch available');
    const headers = { Accept: 'application/json', ...extraHeaders };
    const token = await this._getToken('request');
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
    if (this._destroyed) return false;
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
    if (this._signedOut) return;
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
    this._errorRound = this._round;
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
    if (this._destroyed) return;
    if (!this._serverDoc && this._state.loading) this._setError(e, { loading: false });
    else if (e.kind === 'auth' || e.kind === 'refused') this._setError(e);
    else this._setSyncError(e);
  }

  // The server answered a pull or an operation (in sync round `round`):
  // clears syncError and the error — a refusal too, when this success belongs
  // to a later round than the refusal (the next pull or flush), so that the
  // flush that reported it does not hide it at once. A (re)connect (no round)
  // clears everything but a refusal.
  _syncOk(round) {
    const d = this._state.errorDetail;
    const patch = { syncError: null };
    if (round !== undefined) patch.lastSyncedAt = Date.now();
    if (d && (d.kind !== 'refused' || (round !== undefined && round > this._errorRound))) {
      patch.error = null;
      patch.errorDetail = null;
    }
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
  // queue never goes back to an older snapshot. Nothing is written once the
  // service is destroyed (a sign-out's clearing stays cleared).
  //
  // The queue first, then the client record {clientId, nextSeq}: a crash in
  // between leaves the record behind the queue, and _loadClient takes the
  // next seq past the queue's highest anyway. `_durable` says what both
  // writes have stored.
  _persistQueue() {
    if (this._destroyed) return this._writeChain;
    this._queueDirty = true;
    return this._chain(async () => {
      if (!this._queueDirty) return;
      this._queueDirty = false;
      const client = { clientId: this._clientId, nextSeq: this._nextSeq };
      if (!this._queue.length) await this.storage.removeItem(this._keys.queue);
      else {
        const entries = this._queue.map((e) => ({ opId: e.opId, seq: e.seq, delta: e.delta, createdAt: e.createdAt }));
        await this.storage.setItem(this._keys.queue, JSON.stringify({ v: 2, entries }));
      }
      if (client.clientId && (client.clientId !== this._durable.clientId || client.nextSeq !== this._durable.nextSeq)) {
        await this.storage.setItem(this._keys.client, JSON.stringify({ v: 1, ...client }));
      }
      this._durable = client;
    });
  }

  // The client record from storage (or a new clientId when there is none or
  // it is unreadable: a new client to the server, which is always safe), the
  // next seq past every queued entry's, and numbers for entries that have
  // none (a queue written by an SDK before clientId/seq).
  _loadClient(raw) {
    let rec = null;
    try { rec = raw ? JSON.parse(raw) : null; } catch (_) { rec = null; }
    if (rec && isClientId(rec.clientId) && isSeq(rec.nextSeq)) {
      this._clientId = rec.clientId;
      this._nextSeq = rec.nextSeq;
      this._durable = { clientId: rec.clientId, nextSeq: rec.nextSeq };
    } else {
      this._clientId = randomOpId();
      this._nextSeq = 1;
    }
    for (const e of this._queue) if (e.seq !== null && e.seq >= this._nextSeq) this._nextSeq = e.seq + 1;
    for (const e of this._queue) if (e.seq === null) e.seq = this._nextSeq++;
  }

  // Whether storage holds the number of entry: its clientId and a next seq
  // past it (so no later start can number another op the same).
  _numberDurable(entry) {
    return this._durable.clientId === this._clientId && this._durable.nextSeq > entry.seq;
  }

  // A seq_gap: the server expects `expectedSeq` from this client, below the
  // number of the entry sent (the queue's first). The numbers between were
  // never recorded there — an op the gateway refused before it reached the
  // stats-service, or a server restored from an older copy — and this
  // sender, which sends in order and keeps every entry until it is
  // answered, holds none of them to re-send. So it goes on as a new client:
  // a fresh clientId (the server takes a new client's first seq as it
  // comes), the same numbers, none reused.
  _continueAsNewClient(expectedSeq, entry) {
    const previousClientId = this._clientId;
    this._clientId = randomOpId();
    this._queueDirty = true;
    this._log('warn', `statsync: the server expects seq ${expectedSeq} of this install but the queue starts at ${entry.seq}; `
      + 'continuing under a new clientId');
    this._emit('seqGap', { expectedSeq, seq: entry.seq, previousClientId, clientId: this._clientId });
  }

  _persistDoc() {
    if (this._destroyed) return this._writeChain;
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
// The hook and the provider share one service per user and set of options
// (one socket, one queue in storage), reference-counted. The key is
// everything that changes what a service does — userId, URLs, storage, token
// source, transports, timings — with values compared by value and objects and
// functions by identity; only the logger is left out.

let globalConfig = {};
const registry = new Map(); // key -> {service, refs, timer, key, slot}
const slots = new Map(); // userId + storage + prefix -> rec (one live queue owner per stored queue)
const configListeners = new Set();

// configureUserDataSync(options): the defaults of every service the hook,
// the provider and the demo create. Checked at once: a missing or malformed
// apiUrl (e.g. EXPO_PUBLIC_API_URL not set when the app was built) throws
// here, with what to do, rather than failing later.
function configureUserDataSync(options = {}) {
  const next = { ...globalConfig, ...options };
  const apiUrl = next.apiUrl !== undefined && next.apiUrl !== null ? next.apiUrl : envApiUrl();
  checkUrl('apiUrl', apiUrl, 'configureUserDataSync');
  if (next.socketUrl !== undefined && next.socketUrl !== null) checkUrl('socketUrl', next.socketUrl, 'configureUserDataSync');
  if (/your-api\.com/.test(apiUrl)) {
    warnOnce(next.logger || null, `statsync: apiUrl is the seed's placeholder (${apiUrl}): set EXPO_PUBLIC_API_URL to your App URL`);
  }
  globalConfig = next;
  for (const fn of Array.from(configListeners)) { try { fn(globalConfig); } catch (_) { /* ignore */ } }
  return globalConfig;
}

function getUserDataSyncConfig() { return globalConfig; }

// fn(config) after every configureUserDataSync(); returns an unsubscribe.
function subscribeUserDataSyncConfig(fn) {
  configListeners.add(fn);
  return () => configListeners.delete(fn);
}

const identities = new WeakMap();
let nextIdentity = 1;
// Objects and functions by identity. A function may name the identity it
// stands for (`__statsyncKey`): the hook passes stable wrappers of the
// functions a component gives, keyed by the first function it was given.
function identityOf(v) {
  const target = (v && v.__statsyncKey) || v;
  if (!identities.has(target)) identities.set(target, nextIdentity++);
  return `#${identities.get(target)}`;
}

function keyPart(name, v) {
  if (v === undefined || v === null) return String(v);
  if (name === 'socketOptions') { try { return JSON.stringify(v); } catch (_) { return identityOf(v); } }
  if (typeof v === 'object' || typeof v === 'function') return identityOf(v);
  return JSON.stringify(v);
}

const KEY_EXCLUDED = new Set(['logger']);

function keyOf(userId, o) {
  const parts = [`userId=${JSON.stringify(userId)}`];
  for (const k of Object.keys(o).sort()) if (!KEY_EXCLUDED.has(k)) parts.push(`${k}=${keyPart(k, o[k])}`);
  return parts.join('&');
}

function mergedOptions(options = {}) {
  const o = { ...globalConfig };
  for (const k of Object.keys(options)) if (options[k] !== undefined) o[k] = options[k];
  return resolveOptions(o);
}

// The key the shared service of (userId, options) has — computed in render
// by the hook, so that a change of any option re-creates the service.
function userDataSyncKey(userId, options = {}) {
  return keyOf(userId, mergedOptions(options));
}

function slotOf(userId, o) {
  return o.storage ? `${JSON.stringify(userId)}|${identityOf(o.storage)}|${o.storageKeyPrefix}` : null;
}

function differences(a, b) {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return Array.from(names).filter((k) => !KEY_EXCLUDED.has(k) && keyPart(k, a[k]) !== keyPart(k, b[k])).sort();
}

function acquireUserDataSync(userId, options = {}) {
  const o = mergedOptions(options);
  const key = keyOf(userId, o);
  let rec = registry.get(key);
  if (!rec) {
    const slot = slotOf(userId, o);
    const holder = slot ? slots.get(slot) : null;
    let gate = null;
    if (holder) {
      if (holder.refs > 0) {
        // Two live services must never own one stored queue (each would
        // overwrite the other's): say so, with the options that differ.
        throw new SyncError(`statsync: another UserDataProvider / useUserDataSync of "${userId}" is live with other options `
          + `(${differences(holder.service.options, o).join(', ')} differ) on the same storage; use the same options, `
          + 'or give this one its own storageKeyPrefix', { kind: 'config', code: 'conflicting_options' });
      }
      // The previous owner is only waiting to be destroyed (its options
      // changed, or a remount): destroy it now; the new one loads after it.
      if (holder.timer) { clearTimeout(holder.timer); holder.timer = null; }
      registry.delete(holder.key);
      slots.delete(slot);
      gate = holder.service.destroy();
    }
    const service = new UserDataSync(userId, o);
    service._startGate = gate;
    rec = { service, refs: 0, timer: null, key, slot };
    registry.set(key, rec);
    if (slot) slots.set(slot, rec);
    service.start();
  }
  if (rec.timer) { clearTimeout(rec.timer); rec.timer = null; }
  rec.refs += 1;
  return rec.service;
}

function recOf(service) {
  for (const rec of registry.values()) if (rec.service === service) return rec;
  return null;
}

function unregister(service) {
  const rec = recOf(service);
  if (!rec) return;
  if (rec.timer) clearTimeout(rec.timer);
  registry.delete(rec.key);
  if (rec.slot && slots.get(rec.slot) === rec) slots.delete(rec.slot);
}

// Destroys the service when its last user let go (after a tick, so that a
// remount — React StrictMode mounts effects twice — reuses it).
function releaseUserDataSync(service) {
  const rec = recOf(service);
  if (!rec) return;
  rec.refs -= 1;
  if (rec.refs <= 0 && !rec.timer) {
    rec.timer = setTimeout(() => {
      rec.timer = null;
      if (rec.refs > 0) return;
      unregister(rec.service);
      rec.service.destroy();
    }, 0);
  }
}

// Signs userId out on this device, whether or not a service of theirs runs:
// every live service of the user is signed out ({flush: true}: their queues
// are sent first), and the user's stored queue and document are deleted.
// Without a live service, {flush: true} starts a REST-only one to send the
// stored queue. options: like configureUserDataSync's (storage,
// storageKeyPrefix, …), defaulting to the configured ones.
async function signOutUserDataSync(userId, { flush = false, ...options } = {}) {
  const live = Array.from(registry.values()).filter((r) => r.service.userId === userId).map((r) => r.service);
  let discarded = 0;
  for (const s of live) discarded += (await s.signOut({ flush })).discarded;
  const o = mergedOptions(options);
  const slot = slotOf(userId, o);
  if (live.some((s) => slotOf(userId, s.options) === slot && slot)) return { discarded };
  const s = new UserDataSync(userId, { ...o, autoConnect: false, appState: null, netInfo: null, logger: o.logger || {} });
  if (flush) {
    await s.start();
    try { await s.flushQueue(); } catch (err) { await s.destroy(); throw err; }
  } else {
    await s._load();
  }
  discarded += (await s.signOut({ flush: false })).discarded;
  return { discarded };
}

async function resetUserDataSyncRegistry() {
  const all = Array.from(registry.values());
  registry.clear();
  slots.clear();
  for (const rec of all) {
    if (rec.timer) clearTimeout(rec.timer);
    await rec.service.destroy();
  }
  globalConfig = {};
  detected = null;
}

module.exports = {
  UserDataSync,
  SyncError,
  createUserDataSync,
  configureUserDataSync,
  getUserDataSyncConfig,
  subscribeUserDataSyncConfig,
  userDataSyncKey,
  acquireUserDataSync,
  releaseUserDataSync,
  signOutUserDataSync,
  resetUserDataSyncRegistry,
  createMemoryStorage,
  randomOpId,
  classifyStatus,
  isValidUserId,
  resolveOptions,
  DEFAULTS,
};
