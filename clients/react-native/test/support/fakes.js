'use strict';
// In-memory stand-ins for unit tests: a stats server with the real
// semantics the client relies on (version per change, opId idempotency with
// a TTL that forgetOpIds() ends, exactly-once per client — clientId + seq:
// repeats answered by their recorded outcome, gaps refused with
// expectedSeq —, merge rules), a socket.io-client-like socket bound to it, a
// fetch bound to it, an AsyncStorage, AppState and NetInfo.

const { mock } = require('node:test');
const { applyDelta, defaultDocument } = require('../../src/services/merge');
const { decodeJwtPayload, tokenExp } = require('../../src/services/token');

// The user a test token stands for: 'tok-<userId>', or a JWT's sub.
function subOf(token) {
  const p = decodeJwtPayload(token);
  if (p && typeof p.sub === 'string') return p.sub;
  return String(token || '').replace(/^tok-/, '');
}

// An unsigned test JWT (the fakes read it as the real server would, without
// checking a signature).
function fakeJwt(sub, expS, extra = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: Math.floor(Date.now() / 1000), exp: expS, ...extra })}.sig`;
}

class FakeServer {
  constructor() {
    this.docs = new Map();
    this.applied = new Map(); // userId -> Set(opId)
    this.clients = new Map(); // userId -> Map(clientId -> {last, refused: Map(seq -> {status, code})})
    this.requests = []; // {transport, opId, delta, clientId, seq}
    this.sockets = new Set();
    this.reachable = true; // REST
    this.refuse = null; // (delta, opId) => null | {status, code}
    this.enforceExp = false; // sockets: events after their token's exp + graceMs get token_expired
    this.graceMs = 0;
    this.onRefresh = null; // (token, socket) => ack of auth:refresh (default: ok with the token's exp)
    this.timeCounter = Date.parse('2024-01-15T10:00:00.000Z');
  }

  doc(userId) {
    if (!this.docs.has(userId)) {
      const d = defaultDocument(userId);
      d.version = 0;
      return d;
    }
    return this.docs.get(userId);
  }

  // The STATSYNC_IDEMPOTENCY_TTL_S passing: every opId forgotten.
  forgetOpIds() { this.applied.clear(); }

  // The client table of userId (clientId -> record), as the stats-service keeps it.
  clientsOf(userId) {
    if (!this.clients.has(userId)) this.clients.set(userId, new Map());
    return this.clients.get(userId);
  }

  apply(userId, delta, opId, transport, { clientId, seq } = {}) {
    this.requests.push({ transport, opId, delta: JSON.parse(JSON.stringify(delta)), clientId, seq });
    const seen = this.applied.get(userId) || new Set();
    this.applied.set(userId, seen);
    let rec = null;
    if (clientId !== undefined) {
      rec = this.clientsOf(userId).get(clientId) || null;
      const last = rec ? rec.last : seq - 1; // a new client starts at whatever seq it sends
      if (seq > last + 1) {
        return { status: 409, code: 'seq_gap', message: `seq ${seq} skips ahead: this client's next seq is ${last + 1}`, expectedSeq: last + 1 };
      }
      if (seq <= last) {
        const was = rec.refused.get(seq);
        if (was) return { status: was.status, code: was.code, message: `seq ${seq} was refused before`, doc: this.doc(userId) };
        return { status: 200, doc: this.doc(userId), duplicate: true };
      }
      if (!rec) { rec = { last: seq - 1, refused: new Map() }; this.clientsOf(userId).set(clientId, rec); }
    }
    const decide = (r) => { // a deterministic outcome: recorded for the seq
      if (rec) { rec.last = seq; if (r.status !== 200) rec.refused.set(seq, { status: r.status, code: r.code }); }
      return r;
    };
    if (opId && seen.has(opId)) return decide({ status: 200, doc: this.doc(userId), duplicate: true });
    if (this.refuse) {
      const r = this.refuse(delta, opId);
      if (r) {
        const out = { status: r.status, code: r.code, message: r.message || r.code, doc: this.doc(userId) };
        return r.status >= 400 && r.status < 500 && r.status !== 429 ? decide(out) : out;
      }
    }
    const cur = this.doc(userId);
    if (typeof delta.diamonds === 'number' && (cur.diamonds || 0) + delta.diamonds < 0) {
      return decide({ status: 409, code: 'insufficient_funds', message: 'not enough diamonds', doc: cur });
    }
    const next = applyDelta(cur, delta);
    next.version = cur.version + 1;
    this.timeCounter += 1000;
    next.updatedAt = new Date(this.timeCounter).toISOString();
    next.userId = userId;
    this.docs.set(userId, next);
    if (opId) seen.add(opId);
    this.broadcast(userId, next, delta);
    return decide({ status: 200, doc: next });
  }

  broadcast(userId, doc, delta, except) {
    for (const s of this.sockets) {
      if (s.userId === userId && s.connected) {
        s.push('user:data:updated', doc);
        if (s !== except) s.push('user:update', { userId, stats: doc, delta, version: doc.version, source: 'socket' });
      }
    }
  }

  // A fetch bound to this server (only the two routes the client uses).
  fetch() {
    const server = this;
    const f = async (url, init = {}) => {
      const u = new URL(url);
      f.calls.push({ url, method: init.method || 'GET', headers: init.headers || {}, body: init.body });
      if (!server.reachable) throw new TypeError('fetch failed (server unreachable)');
      if (server.restHook) {
        const r = await server.restHook(u, init);
        if (r) return r;
      }
      const userId = server.userOf(init.headers);
      let m;
      if ((init.method || 'GET') === 'GET' && (m = u.pathname.match(/^\/api\/users\/([^/]+)\/stats$/))) {
        if (m[1] !== userId) return jsonResponse(403, { error: { code: 'forbidden', message: 'forbidden' } });
        return jsonResponse(200, server.doc(userId));
      }
      if (init.method === 'POST' && u.pathname === '/api/users/data/patch') {
        const { userId: _own, clientId, seq, ...body } = JSON.parse(init.body);
        if ((clientId === undefined) !== (seq === undefined)) {
          return jsonResponse(400, { error: { code: 'bad_request', message: 'clientId and seq go together' } });
        }
        const r = server.apply(userId, body, init.headers['Idempotency-Key'], 'rest', clientId === undefined ? {} : { clientId, seq });
        if (r.status === 200) return jsonResponse(200, { success: true, stats: r.doc, duplicate: r.duplicate || undefined });
        const error = { code: r.code, message: r.message, ...(r.expectedSeq ? { expectedSeq: r.expectedSeq } : {}) };
        return jsonResponse(r.status, { error, stats: r.doc });
      }
      return jsonResponse(404, { error: { code: 'not_found', message: 'no route' } });
    };
    f.calls = [];
    return f;
  }

  userOf(headers = {}) {
    const a = headers.Authorization || headers.authorization || '';
    return subOf(a.replace(/^Bearer /, ''));
  }

  // An io() factory: each call makes a FakeSocket attached to this server.
  io() {
    const server = this;
    const factory = (url, opts) => {
      const s = new FakeSocket(server, url, opts);
      factory.sockets.push(s);
      return s;
    };
    factory.sockets = [];
    return factory;
  }
}

function jsonResponse(status, body, headers = {}) {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: { get: (k) => (h.has(k.toLowerCase()) ? h.get(k.toLowerCase()) : null) },
    text: async () => JSON.stringify(body),
  };
}

class FakeSocket {
  constructor(server, url, opts) {
    this.server = server;
    this.url = url;
    this.opts = opts;
    this.connected = false;
    this.active = true;
    this.handlers = new Map();
    this.emitted = [];
    this.userId = null;
    this.dropAcks = false; // apply on the server but never answer (ack lost)
    this.holdAcks = false; // queue answers until releaseAcks()
    this.heldAcks = [];
    server.sockets.add(this);
  }

  on(ev, fn) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, []);
    this.handlers.get(ev).push(fn);
    return this;
  }

  off() { this.handlers.clear(); return this; }

  fire(ev, ...args) {
    for (const fn of this.handlers.get(ev) || []) fn(...args);
  }

  push(ev, payload) {
    const copy = JSON.parse(JSON.stringify(payload));
    queueMicrotask(() => { if (this.connected) this.fire(ev, copy); });
  }

  // Simulates a successful CONNECT: the auth callback gives the token.
  async serverConnect() {
    const auth = await new Promise((resolve) => this.opts.auth(resolve));
    this.userId = subOf(auth.token);
    this.token = auth.token;
    this.tokenExp = tokenExp(auth.token);
    this.connected = true;
    this.connects = (this.connects || 0) + 1;
    this.fire('connect');
  }

  // The server refuses the CONNECT (`44{"message"}`): socket.io-client
  // destroys the socket (no longer active) and fires connect_error.
  refuseConnect(message) {
    this.active = false;
    this.connected = false;
    this.fire('connect_error', new Error(message));
  }

  // The transport fails (wrong port, DNS, timeout): the manager keeps
  // reconnecting (still active) and fires connect_error each time.
  failConnect(message = 'xhr poll error', description) {
    this.connected = false;
    const e = new Error(message);
    if (description) e.description = description;
    this.fire('connect_error', e);
  }

  tokenExpired() {
    return this.server.enforceExp && this.tokenExp !== null && this.tokenExp !== undefined
      && Date.now() >= this.tokenExp * 1000 + this.server.graceMs;
  }

  serverDisconnect(reason = 'transport close') {
    if (!this.connected) return;
    this.connected = false;
    const pending = this.pendingAcks || [];
    this.pendingAcks = [];
    for (const p of pending) p(new Error('socket has been disconnected'));
    this.fire('disconnect', reason);
  }

  connect() {
    this.connectCalls = (this.connectCalls || 0) + 1;
    this.active = true;
    this.server.sockets.add(this);
    return this;
  }

  // Like socket.io-client: a connected socket fires 'disconnect' ('io client disconnect').
  disconnect() {
    const was = this.connected;
    this.active = false;
    this.connected = false;
    this.server.sockets.delete(this);
    if (was) this.fire('disconnect', 'io client disconnect');
    return this;
  }

  timeout(ms) {
    return { emit: (ev, payload, ack) => this._emit(ev, payload, ack, ms) };
  }

  emit(ev, payload, ack) { return this._emit(ev, payload, ack, null); }

  _emit(ev, payload, ack, timeoutMs) {
    this.emitted.push({ ev, payload: JSON.parse(JSON.stringify(payload)) });
    if (!this.connected) throw new Error('FakeSocket: emit while disconnected (would be buffered)');
    if (ev === 'auth:refresh') {
      this.refreshes = (this.refreshes || []).concat(payload.token);
      const r = this.server.onRefresh ? this.server.onRefresh(payload.token, this) : null;
      const answer = r || (subOf(payload.token) === this.userId
        ? { ok: true, exp: tokenExp(payload.token) }
        : { ok: false, error: { code: 'forbidden', message: 'the new token is for another user: reconnect instead', status: 403 } });
      if (answer.ok) this.tokenExp = tokenExp(payload.token);
      if (ack && !this.holdRefresh) queueMicrotask(() => ack(null, JSON.parse(JSON.stringify(answer))));
      return this;
    }
    if (this.tokenExpired()) {
      const error = { code: 'token_expired', message: 'the token expired: send auth:refresh {token} or reconnect', status: 401 };
      queueMicrotask(() => {
        if (ack) ack(null, { ok: false, error });
        else this.fire('user:error', { event: ev, error });
      });
      return this;
    }
    if (ev === 'presence:join') {
      this.push('user:data:updated', this.server.doc(this.userId));
      return this;
    }
    if (ev !== 'user:clientUpdate') return this;
    let done = false;
    let timer = null;
    const finish = (err, res) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      this.pendingAcks = (this.pendingAcks || []).filter((x) => x !== onDisconnect);
      if (ack) ack(err, res);
    };
    const onDisconnect = (err) => finish(err);
    this.pendingAcks = (this.pendingAcks || []).concat(onDisconnect);
    if (timeoutMs !== null) timer = setTimeout(() => finish(new Error('operation has timed out')), timeoutMs);
    // {opId?, delta} or a batch of one {ops: [{opId?, delta, clientId?, seq?}]} (what the SDK sends)
    const op = payload.ops ? payload.ops[0] : payload;
    if (payload.ops && payload.ops.length !== 1) throw new Error('FakeSocket: only batches of one op');
    const numbering = op.clientId !== undefined ? { clientId: op.clientId, seq: op.seq } : {};
    const r = this.server.apply(this.userId, op.delta, op.opId, 'socket', numbering);
    const answer = r.status === 200
      ? { ok: true, stats: r.doc, duplicate: r.duplicate }
      : { ok: false, error: { code: r.code, message: r.message, ...(r.expectedSeq ? { expectedSeq: r.expectedSeq, status: 409 } : {}) }, stats: r.doc };
    const copy = JSON.parse(JSON.stringify(answer));
    if (this.dropAcks) return this;
    if (this.holdAcks) { this.heldAcks.push(() => finish(null, copy)); return this; }
    queueMicrotask(() => finish(null, copy));
    return this;
  }

  releaseAcks() {
    const h = this.heldAcks;
    this.heldAcks = [];
    for (const f of h) f();
  }
}

function memoryStorage() {
  const m = new Map();
  const s = {
    map: m,
    writes: 0,
    getItem: async (k) => (m.has(k) ? m.get(k) : null),
    setItem: async (k, v) => { s.writes += 1; m.set(k, String(v)); },
    removeItem: async (k) => { s.writes += 1; m.delete(k); },
  };
  return s;
}

function fakeAppState(initial = 'active') {
  const listeners = new Set();
  return {
    currentState: initial,
    addEventListener(ev, fn) { listeners.add(fn); return { remove: () => listeners.delete(fn) }; },
    set(next) { this.currentState = next; for (const fn of Array.from(listeners)) fn(next); },
    listenerCount: () => listeners.size,
  };
}

function fakeNetInfo(initial = { isConnected: true, isInternetReachable: true }) {
  const listeners = new Set();
  let state = initial;
  return {
    addEventListener(fn) { listeners.add(fn); return () => listeners.delete(fn); },
    fetch: async () => state,
    set(next) { state = next; for (const fn of Array.from(listeners)) fn(next); },
    listenerCount: () => listeners.size,
  };
}

// Lets every pending promise continuation and I/O callback run (setImmediate
// is left real by enableFakeTimers).
async function settle(rounds = 30) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

function enableFakeTimers() {
  try {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  } catch (_) {
    mock.timers.enable(['setTimeout', 'setInterval']);
  }
  return mock.timers;
}

// Advances fake time in steps, settling promises between steps.
async function advance(ms, step = 50) {
  let left = ms;
  while (left > 0) {
    const d = Math.min(step, left);
    mock.timers.tick(d);
    left -= d;
    await settle(5);
  }
  await settle();
}

module.exports = {
  fakeJwt, subOf,
  FakeServer, FakeSocket, jsonResponse, memoryStorage, fakeAppState, fakeNetInfo, settle, enableFakeTimers, advance,
};

const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

// A UserDataSync wired to a FakeServer. The socket does not connect until the
// test calls h.socket().serverConnect().
function makeClient(server, opts = {}) {
  const { UserDataSync } = require('../../src/services/userDataSync');
  const userId = opts.userId || 'alice';
  const fetchFn = server.fetch();
  const io = server.io();
  const storage = opts.storage || memoryStorage();
  const client = new UserDataSync(userId, {
    apiUrl: 'http://api.test',
    socketUrl: 'http://socket.test',
    getToken: async () => `tok-${userId}`,
    storage,
    fetch: fetchFn,
    io,
    logger: silentLogger,
    presencePingIntervalMs: 0,
    ...opts,
  });
  return { client, fetch: fetchFn, io, storage, socket: () => io.sockets[io.sockets.length - 1] };
}

module.exports.makeClient = makeClient;
module.exports.silentLogger = silentLogger;
