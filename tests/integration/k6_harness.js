// k6_harness.js — runs the k6 scripts of tests/load/k6/ inside node (k6 cannot
// be installed here): module-resolution hooks load each script as the ES
// module k6 reads, with the k6 modules (k6, k6/http, k6/ws, k6/websockets,
// k6/timers, k6/crypto, k6/encoding, k6/metrics, k6/execution) replaced by
// stubs that follow k6's documented API and record checks and metrics;
// thresholds are validated and evaluated on what a run recorded. A run talks
// either to FakeStatsync (an in-process fake of the gateway, virtual time) or,
// through LiveNet, to real servers on loopback (blocking calls, as k6 makes
// them, served by a worker thread). Used by the k6_*.test.js files; not a
// test itself.
//
// Two ways to drive a script:
//  - load() + iterate(): the init context, then N iterations of the default
//    function on one VU, in order (what the first tests of the scripts do);
//  - run(): what `k6 run` does — options.scenarios (or vus/duration) with
//    their executors, setup(), each scenario's `exec` function on its own VUs
//    (a fresh module instance per VU, as k6 gives every VU its own runtime),
//    teardown(), then the thresholds; the result says what k6's exit code
//    would be (99 when a threshold failed).
//
// Executors (k6 docs, "Scenarios" / "Executors"): constant-vus,
// per-vu-iterations, constant-arrival-rate and ramping-arrival-rate
// (preAllocatedVUs, maxVUs, rate, timeUnit, startRate, stages, startTime,
// gracefulStop). An arrival-rate iteration starts on its schedule whatever
// the latency: with no idle VU it is dropped (the dropped_iterations counter)
// and, below maxVUs, one more VU is initialized for later starts; idle VUs
// are taken in the order they became idle (k6 keeps them in a FIFO channel).
// Every sample recorded in a scenario's iteration carries the system tag
// `scenario` (and the scenario's `tags`), so thresholds like
// 'sio_push_latency{scenario:devices}' select one scenario. k6/execution
// reports the scenario, VU and iteration numbers.
//
// Where this is a simplification of k6:
//  - with FakeStatsync, time is virtual: an iteration runs to its end at once
//    in real time while its virtual clock (Date.now() inside the script, the
//    fake's latencies, sleep(), timers) advances; the scheduler then places it
//    on the timeline (the VU is busy until its virtual end). VUs' iterations
//    therefore execute one after the other in real time, never interleaved —
//    fine for these scripts, where no two VUs share a user.
//  - with live servers each VU is a worker thread (its own module instance and
//    its own network thread), scheduled in real time by the main thread.
//  - an iteration still running at the end of gracefulStop is counted as
//    interrupted but (virtual time) ran to its end, and its samples are kept;
//    a live VU still busy then is terminated and its iteration's samples lost,
//    as in k6.
//  - ramping-arrival-rate starts iteration k when the integral of the rate
//    reaches k (k = 0, 1, ...); ramping-vus, shared-iterations and
//    externally-controlled are not simulated (a script using them fails here).
//  - k6's global timers cannot replace node's own in this process: the
//    scripts import setTimeout & co. from 'k6/timers' (k6_syntax checks).
//  - VU initialization takes no time; setup data is passed as JSON, as k6
//    does.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { register } = require('node:module');
const {
  MessageChannel, Worker, receiveMessageOnPort, isMainThread, workerData, parentPort,
} = require('node:worker_threads');

const ROOT = path.resolve(__dirname, '../..');
const K6_DIR = path.join(ROOT, 'tests/load/k6');
const SCRIPTS = ['rest.js', 'socketio.js', 'scenarios.js'];

// --- the k6 module stubs --------------------------------------------------

// Names each k6 module exports (k6 v0.5x-1.x documentation). A script that
// imports anything else fails to link, as it would in k6.
const K6_EXPORTS = {
  k6: ['check', 'fail', 'group', 'sleep', 'randomSeed'],
  'k6/http': ['get', 'post', 'put', 'patch', 'del', 'head', 'options', 'request', 'batch', 'asyncRequest',
    'file', 'cookieJar', 'CookieJar', 'expectedStatuses', 'setResponseCallback', 'url'],
  'k6/ws': ['connect'],
  'k6/websockets': ['WebSocket', 'Blob'],
  'k6/timers': ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
  'k6/crypto': ['hmac', 'createHMAC', 'createHash', 'md4', 'md5', 'sha1', 'sha256', 'sha384', 'sha512',
    'sha512_224', 'sha512_256', 'ripemd160', 'randomBytes'],
  'k6/encoding': ['b64encode', 'b64decode'],
  'k6/metrics': ['Counter', 'Gauge', 'Rate', 'Trend'],
  'k6/execution': ['vu', 'scenario', 'instance', 'test'],
};

// Module-resolution hooks: 'k6' and 'k6/*' become generated modules that
// re-export globalThis.__k6stubs[name]; the scripts (plain .js under a
// CommonJS package) load as ES modules, as k6 reads them; a ?run=N query on a
// script is passed to what it imports, so every run (and every VU) gets fresh
// module state.
const HOOKS = `
let exportsByModule = {};
let k6Dir = '';
export async function initialize(data) { exportsByModule = data.exports; k6Dir = data.k6Dir; }
export async function resolve(specifier, context, next) {
  if (specifier === 'k6' || specifier.startsWith('k6/')) {
    if (!exportsByModule[specifier]) throw new Error('k6 has no module ' + specifier);
    return { url: 'k6stub:' + specifier, shortCircuit: true };
  }
  const r = await next(specifier, context);
  const parent = context.parentURL || '';
  const q = parent.indexOf('?run=');
  if (q >= 0 && r.url.startsWith(k6Dir) && !r.url.includes('?')) r.url += parent.slice(q);
  return r;
}
export async function load(url, context, next) {
  if (url.startsWith('k6stub:')) {
    const name = url.slice(7);
    const names = exportsByModule[name];
    let src = 'const m = globalThis.__k6stubs[' + JSON.stringify(name) + '];\\nexport default m;\\n';
    for (const n of names) src += 'export const ' + n + ' = m.' + n + ';\\n';
    return { format: 'module', source: src, shortCircuit: true };
  }
  if (url.startsWith(k6Dir) && /\\.js(\\?|$)/.test(url)) {
    const r = await next(url, { ...context, format: 'module' });
    return { ...r, format: 'module', shortCircuit: true };
  }
  return next(url, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, {
  data: { exports: K6_EXPORTS, k6Dir: pathToFileURL(K6_DIR).href },
});

// The k6 runtime the stubs record into; one per run (see newRuntime), one per
// thread.
let rt = null;

function b64(buf, enc) {
  const s = Buffer.from(buf).toString('base64');
  switch (enc || 'std') {
    case 'std': return s;
    case 'rawstd': return s.replace(/=+$/, '');
    case 'url': return s.replace(/\+/g, '-').replace(/\//g, '_');
    case 'rawurl': return s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    default: throw new Error(`k6/encoding: unknown encoding ${enc}`);
  }
}

function toBuf(x) {
  if (typeof x === 'string') return Buffer.from(x, 'utf8');
  if (x instanceof ArrayBuffer) return Buffer.from(new Uint8Array(x));
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`k6: expected a string or ArrayBuffer, got ${typeof x}`);
}

function digestOut(h, enc) {
  switch (enc) {
    case 'hex': return h.digest('hex');
    case 'base64': return h.digest('base64');
    case 'base64url': return b64(h.digest(), 'url');
    case 'base64rawurl': return b64(h.digest(), 'rawurl');
    case 'binary': return Array.from(h.digest());
    default: throw new Error(`k6/crypto: unknown output encoding ${enc}`);
  }
}

const ALG = { md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512',
  sha512_224: 'sha512-224', sha512_256: 'sha512-256', ripemd160: 'ripemd160' };

function defineMetric(name, type, isTime, isBuiltin) {
  if (!rt.metrics.has(name)) rt.metrics.set(name, { type, isTime: !!isTime, builtin: !!isBuiltin, samples: [] });
  return rt.metrics.get(name);
}

function record(name, value, tags) {
  rt.metrics.get(name).samples.push({ value: Number(value), tags: { ...rt.tags, ...(tags || {}) } });
}

class Metric {
  constructor(type, name, isTime) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) throw new Error(`k6/metrics: invalid metric name ${name}`);
    if (rt.metrics.has(name) && rt.metrics.get(name).type !== type) {
      throw new Error(`k6/metrics: ${name} redefined with another type`);
    }
    this.name = name;
    defineMetric(name, type, isTime, false);
  }

  add(value, tags) {
    if (rt.inInit) throw new Error(`k6: ${this.name}.add() in the init context`);
    record(this.name, value, tags);
  }
}

function builtin(name, type, value, tags) {
  defineMetric(name, type, type === 'trend', true);
  record(name, value, tags);
}

function response(url, r, params) {
  const body = r.body === undefined ? '' : (typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
  return {
    url,
    status: r.status,
    body,
    headers: r.headers || { 'Content-Type': 'application/json' },
    timings: { duration: r.durationMs === undefined ? 1 : r.durationMs },
    error: r.status === 0 ? (r.error || 'connection refused') : '',
    error_code: r.status === 0 ? 1212 : 0,
    request: { params },
    json(selector) {
      if (selector !== undefined) throw new Error('stub: json(selector) not supported');
      return JSON.parse(body); // throws on a non-JSON body, as k6 does
    },
  };
}

function httpRequest(method, url, body, params) {
  if (rt.inInit) throw new Error('k6: HTTP requests are not allowed in the init context');
  params = params || {};
  if (body !== null && body !== undefined && typeof body !== 'string') {
    throw new Error('stub: this suite sends JSON strings as bodies');
  }
  const r = rt.server.http(method, url, body, params.headers || {});
  const tags = { ...(params.tags || {}), method, status: String(r.status) };
  builtin('http_reqs', 'counter', 1, tags);
  builtin('http_req_duration', 'trend', r.durationMs === undefined ? 1 : r.durationMs, tags);
  builtin('http_req_failed', 'rate', r.status === 0 || r.status >= 400 ? 1 : 0, tags);
  return response(url, r, params);
}

// k6/websockets: the browser WebSocket API on the VU's event loop. The server
// object (FakeStatsync or LiveNet) opens it and emits its events.
class StubWebSocket {
  constructor(url, protocols, params) {
    if (rt.inInit) throw new Error('k6/websockets: new WebSocket() in the init context');
    this.url = String(url);
    this.readyState = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    this._listeners = { open: [], message: [], close: [], error: [], ping: [], pong: [] };
    this._params = params || {};
    rt.server.wsOpen(this.url, this, this._params);
  }

  addEventListener(ev, fn) {
    if (!this._listeners[ev]) throw new Error(`k6/websockets: unknown event ${ev}`);
    this._listeners[ev].push(fn);
  }

  send(data) {
    if (this.readyState === 0) throw new Error('k6/websockets: send() before the socket is open (InvalidStateError)');
    if (this.readyState !== 1) return; // closing or closed: dropped, as browsers do
    if (typeof data !== 'string') throw new Error('stub: this suite sends text frames');
    rt.server.wsSend(this, data);
  }

  close(code) {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    rt.server.wsClose(this, code || 1000);
  }

  ping() {}

  _emit(ev, e) {
    if (this.readyState === 3) return; // closed: nothing more is delivered
    if (ev === 'open') this.readyState = 1;
    if (ev === 'close') this.readyState = 3;
    const h = this[`on${ev}`];
    if (typeof h === 'function') h(e);
    for (const f of this._listeners[ev]) f(e);
  }
}
StubWebSocket.CONNECTING = 0;
StubWebSocket.OPEN = 1;
StubWebSocket.CLOSING = 2;
StubWebSocket.CLOSED = 3;

const stubs = {
  k6: {
    check(val, sets, tags) {
      let all = true;
      for (const [name, fn] of Object.entries(sets)) {
        let ok;
        try {
          ok = typeof fn === 'function' ? !!fn(val) : !!fn;
        } catch (e) {
          rt.exceptions.push(e); // k6 aborts the iteration on an exception in a check
          throw e;
        }
        rt.checks.push({ name, ok, scenario: rt.tags.scenario });
        builtin('checks', 'rate', ok ? 1 : 0, { check: name, ...(tags || {}) });
        all = all && ok;
      }
      return all;
    },
    fail(msg) { throw new Error(`k6 fail(): ${msg}`); },
    group(name, fn) { return fn(); },
    sleep(s) {
      if (typeof s !== 'number' || !(s >= 0)) throw new Error(`k6: sleep(${s})`);
      if (rt.inInit) throw new Error('k6: sleep() in the init context');
      rt.slept += s;
      rt.server.sleep(s * 1000);
    },
    randomSeed() {},
  },
  'k6/http': {},
  'k6/ws': {
    connect(url, params, fn) {
      if (typeof params === 'function') { fn = params; params = null; }
      if (typeof fn !== 'function') throw new Error('k6/ws: connect(url, params, callback)');
      if (rt.inInit) throw new Error('k6/ws: connect() in the init context');
      return rt.server.ws(url, params || {}, fn);
    },
  },
  'k6/websockets': { WebSocket: StubWebSocket },
  'k6/timers': {
    setTimeout(f, ms, ...args) { return rt.server.setTimer(() => f(...args), Number(ms) || 0, false); },
    setInterval(f, ms, ...args) { return rt.server.setTimer(() => f(...args), Math.max(1, Number(ms) || 0), true); },
    clearTimeout(id) { rt.server.clearTimer(id); },
    clearInterval(id) { rt.server.clearTimer(id); },
  },
  'k6/crypto': {
    hmac(alg, secret, data, enc) {
      if (!ALG[alg]) throw new Error(`k6/crypto: unknown algorithm ${alg}`);
      return digestOut(crypto.createHmac(ALG[alg], toBuf(secret)).update(toBuf(data)), enc);
    },
    randomBytes(n) { return crypto.randomBytes(n).buffer; },
  },
  'k6/encoding': {
    b64encode(input, enc) { return b64(toBuf(input), enc); },
    b64decode(input, enc, format) {
      const std = String(input).replace(/-/g, '+').replace(/_/g, '/');
      const buf = Buffer.from(std, 'base64');
      if (enc && !['std', 'rawstd', 'url', 'rawurl'].includes(enc)) throw new Error(`k6/encoding: ${enc}`);
      return format === 's' ? buf.toString('utf8') : buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
    },
  },
  'k6/metrics': {
    Counter: class Counter extends Metric { constructor(n) { super('counter', n); } },
    Gauge: class Gauge extends Metric { constructor(n, t) { super('gauge', n, t); } },
    Rate: class Rate extends Metric { constructor(n) { super('rate', n); } },
    Trend: class Trend extends Metric { constructor(n, t) { super('trend', n, t); } },
  },
  'k6/execution': {
    get vu() {
      const e = rt.exec;
      return {
        idInTest: rt.vu, idInInstance: rt.vu,
        iterationInInstance: e ? e.vuIteration : rt.iter,
        iterationInScenario: e ? e.vuIteration : rt.iter,
        tags: { ...rt.tags },
      };
    },
    get scenario() {
      const e = rt.exec;
      if (!e) {
        return { name: 'default', executor: 'per-vu-iterations', startTime: 0, progress: 0,
          iterationInInstance: rt.iter, iterationInTest: rt.iter };
      }
      const total = e.durationMs || 1;
      return { name: e.name, executor: e.executor, startTime: e.startTime,
        progress: Math.max(0, Math.min(1, (rt.server.now() - e.startTime) / total)),
        iterationInInstance: e.iterationInTest, iterationInTest: e.iterationInTest };
    },
    get instance() {
      return { vusActive: 1, vusInitialized: 1, iterationsCompleted: 0, iterationsInterrupted: 0,
        currentTestRunDuration: 0 };
    },
    get test() { return { abort(msg) { throw new Error(`test.abort(): ${msg}`); }, options: rt.options || {} }; },
  },
};
for (const m of ['get', 'head', 'options', 'del']) {
  stubs['k6/http'][m] = (url, a, b) => {
    // get/head(url, params); options/del(url, body, params)
    if (m === 'get' || m === 'head') return httpRequest(m.toUpperCase(), url, null, a);
    return httpRequest(m === 'del' ? 'DELETE' : 'OPTIONS', url, a, b);
  };
}
for (const m of ['post', 'put', 'patch']) {
  stubs['k6/http'][m] = (url, body, params) => httpRequest(m.toUpperCase(), url, body, params);
}
stubs['k6/http'].request = (method, url, body, params) => httpRequest(method.toUpperCase(), url, body, params);
stubs['k6/http'].expectedStatuses = (...a) => ({ expected: a });
stubs['k6/http'].setResponseCallback = () => {};
for (const [mod, names] of Object.entries(K6_EXPORTS)) {
  for (const n of names) {
    if (!(n in stubs[mod])) {
      Object.defineProperty(stubs[mod], n, {
        enumerable: true,
        get() { return () => { throw new Error(`stub: ${mod}.${n} is not simulated by this test`); }; },
      });
    }
  }
}
globalThis.__k6stubs = stubs;

// --- timers and the event loop, shared by both servers --------------------

// A VU's event loop (k6/timers, k6/websockets): tasks ordered by time.
class Timers {
  constructor() { this.list = []; this.seq = 0; }
  add(t, f, interval) { const id = ++this.seq; this.list.push({ t, seq: id, id, f, interval }); return id; }
  clear(id) { this.list = this.list.filter((x) => x.id !== id); }
  next() { return this.list.length ? this.list.reduce((a, b) => (b.t < a.t || (b.t === a.t && b.seq < a.seq) ? b : a)) : null; }
  take(tm) {
    this.list.splice(this.list.indexOf(tm), 1);
    if (tm.interval) this.list.push({ ...tm, t: tm.t + tm.interval, seq: ++this.seq });
  }
  reset() { this.list = []; }
}

// --- a fake statsync gateway --------------------------------------------

const composeText = fs.readFileSync(path.join(ROOT, 'compose/docker-compose.yml'), 'utf8');
const COMPOSE_SECRET = (/STATSYNC_JWT_SECRET:\s*"?\$\{STATSYNC_JWT_SECRET:-([^}]+)\}/.exec(composeText) || [])[1];

// bugs: { noPush, wrongXp, lostIncrement, status500, secret, badAck, noPing,
//   slowMs: every request, ack and push takes this long (virtual ms),
//   dropPushTo: n — pushes never reach the user's (n+1)-th open socket,
//   rateLimited: writes are refused as over the user's rate (429 / ack rate_limited),
//   handshake429: websocket upgrades are refused with 429,
//   rssGrowthBytes: /metrics reports RSS growing this much per call,
//   dropFirstAck: the first socket update is applied and pushed, its ack lost,
//   maxSockets: n — a user's socket past n gets connect_error (the gateway's per-user cap) }
class FakeStatsync {
  constructor(opts = {}) {
    this.secret = opts.secret || COMPOSE_SECRET;
    this.bugs = opts.bugs || {};
    this.virtual = true;
    this.apiPort = 3000;
    this.socketPort = 3001;
    this.docs = new Map();
    this.keys = new Map(); // user/Idempotency-Key or opId -> the first answer
    this.duplicates = 0;
    this.log = [];
    this.tokens = [];
    this.sessions = [];
    this.open = new Map(); // user -> sessions open now, in connection order
    this.clock = Date.now();
    this.latency = this.bugs.slowMs || 1;
    this.timers = new Timers(); // the VU event loop (k6/timers, k6/websockets)
    this.asyncSockets = new Set();
    this.metricsCalls = 0;
  }

  now() { return this.clock; }
  sleep(ms) { this.clock += ms; }
  setTimer(f, ms, repeat) { return this.timers.add(this.clock + ms, f, repeat ? ms : 0); }
  clearTimer(id) { this.timers.clear(id); }

  verify(token) {
    const parts = String(token || '').split('.');
    if (parts.length !== 3) return null;
    const [h, p, sig] = parts;
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    if (header.alg !== 'HS256') return null;
    const want = crypto.createHmac('sha256', this.secret).update(`${h}.${p}`).digest('base64url');
    if (sig !== want) return null;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    if (!(claims.exp > this.clock / 1000)) return null;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(claims.sub)) return null;
    this.tokens.push({ header, claims });
    return claims.sub;
  }

  doc(userId) {
    if (!this.docs.has(userId)) {
      return { userId, xp: 0, hearts: 5, diamonds: 0, level: 1, streak: 0, maxStreak: 0, accuracy: 0,
        completedQuestions: 0, correctAnswers: 0, wrongAnswers: 0, totalQuestions: 0, totalTimeSpent: 0,
        timePerQuestion: [], lastGameResults: null, updatedAt: new Date(0).toISOString(), version: 0 };
    }
    return { ...this.docs.get(userId) };
  }

  applyDelta(userId, delta) {
    const d = this.doc(userId);
    for (const [k, v] of Object.entries(delta)) {
      if (typeof v !== 'number' || typeof d[k] !== 'number' || k === 'version') throw new Error(`bad delta field ${k}`);
      if (!(this.bugs.lostIncrement && k === 'xp')) d[k] += v;
    }
    d.version += 1;
    d.updatedAt = new Date().toISOString();
    this.docs.set(userId, d);
    return { ...d };
  }

  // An idempotent write: a key seen before answers its first outcome.
  idempotent(user, key, delta) {
    const k = `${user}/${key}`;
    if (this.keys.has(k)) {
      const first = this.keys.get(k);
      assert.deepEqual(first.delta, delta, `Idempotency-Key / opId ${key} reused for another change`);
      this.duplicates++;
      return { doc: first.doc, fresh: false };
    }
    const doc = this.applyDelta(user, delta);
    this.keys.set(k, { delta, doc });
    return { doc, fresh: true };
  }

  http(method, url, body, headers) {
    const u = new URL(url);
    assert.equal(u.hostname, '127.0.0.1', `request to ${url}: the scripts must default to the local compose ports`);
    assert.equal(u.port, String(this.apiPort), `request to ${url}`);
    this.clock += this.latency;
    const r = this.route(method, u, body, headers);
    return { ...r, durationMs: this.latency };
  }

  route(method, u, body, headers) {
    this.log.push(`${method} ${u.pathname}`);
    if (this.bugs.status500 && u.pathname !== '/health') return { status: 500, body: { error: { code: 'internal' } } };
    if (method === 'GET' && u.pathname === '/health') return { status: 200, body: { status: 'OK' } };
    if (method === 'GET' && u.pathname === '/metrics') {
      const rss = 50e6 + (this.bugs.rssGrowthBytes || 0) * this.metricsCalls++;
      return { status: 200, headers: { 'Content-Type': 'text/plain; version=0.0.4' },
        body: `# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ${rss}\nprocess_open_fds 40\n` };
    }
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const auth = /^Bearer (.+)$/.exec(h.authorization || '');
    const user = auth && this.verify(auth[1]);
    if (!user) return { status: 401, body: { error: { code: 'unauthorized', message: 'bad token' } } };
    let m;
    if (method === 'GET' && (m = /^\/api\/users\/([^/]+)\/stats$/.exec(u.pathname))) {
      if (m[1] !== user) return { status: 403, body: { error: { code: 'forbidden' } } };
      return { status: 200, body: this.doc(user) };
    }
    if (method === 'POST' && u.pathname === '/api/users/data/patch') {
      if (!/^application\/json/.test(h['content-type'] || '')) return { status: 415, body: { error: { code: 'media' } } };
      if (this.bugs.rateLimited) {
        return { status: 429, headers: { 'Retry-After': '1' }, body: { error: { code: 'rate_limited', message: 'slow down' } } };
      }
      const delta = JSON.parse(body);
      const key = h['idempotency-key'];
      assert.ok(key, 'patches carry an Idempotency-Key');
      const { doc, fresh } = this.idempotent(user, key, delta);
      if (fresh) this.push(user, doc);
      return { status: 200, body: { success: true, stats: doc } };
    }
    return { status: 404, body: { error: { code: 'not_found' } } };
  }

  checkSocketUrl(url) {
    const u = new URL(url);
    assert.equal(u.protocol, 'ws:');
    assert.equal(u.hostname, '127.0.0.1');
    assert.equal(u.port, String(this.socketPort));
    assert.equal(u.pathname, '/socket.io/');
    assert.equal(u.searchParams.get('EIO'), '4', 'Engine.IO v4');
    assert.equal(u.searchParams.get('transport'), 'websocket');
  }

  // A user:data:updated push to every open socket of the user (as the
  // gateway does), each after the latency.
  push(user, doc) {
    const shown = this.bugs.wrongXp ? { ...doc, xp: doc.xp - 1 } : doc; // a push that does not show the change
    const frame = `42${JSON.stringify(['user:data:updated', shown])}`;
    (this.open.get(user) || []).forEach((sess, i) => {
      if (this.bugs.noPush || this.bugs.dropPushTo === i) return;
      sess.toClient(frame, this.latency);
    });
  }

  // A Socket.IO session; toClient(frame, delay) delivers a frame to the script.
  newSession(kind) {
    const sess = { kind, fromClient: [], toClient: null, user: null, pongs: 0, disconnected: false, closed: false };
    this.sessions.push(sess);
    return sess;
  }

  sessionClosed(sess) {
    sess.closed = true;
    if (sess.user && this.open.has(sess.user)) this.open.set(sess.user, this.open.get(sess.user).filter((s) => s !== sess));
  }

  // The server side of one frame from the client.
  fromClient(sess, frame) {
    assert.equal(typeof frame, 'string', 'Engine.IO text frames');
    assert.ok(!sess.closed, `send after close: ${frame}`);
    sess.fromClient.push(frame);
    const eio = frame[0];
    if (eio === '3') { sess.pongs++; return; }
    assert.equal(eio, '4', `unexpected Engine.IO packet from the client: ${frame}`);
    const sio = frame[1];
    if (sio === '0') {
      const auth = JSON.parse(frame.slice(2));
      sess.user = this.verify(auth.token);
      if (!sess.user) { sess.toClient('44{"message":"invalid token"}', 1); return; }
      if (!this.open.has(sess.user)) this.open.set(sess.user, []);
      if (this.bugs.maxSockets !== undefined && this.open.get(sess.user).length >= this.bugs.maxSockets) {
        sess.toClient(`44{"message":"too many sockets for this user (at most ${this.bugs.maxSockets})"}`, 1);
        return;
      }
      this.open.get(sess.user).push(sess);
      sess.toClient(`40{"sid":"sock-${this.sessions.length}"}`, 1);
      if (!this.bugs.noPing) sess.toClient('2', 2); // a server ping: the client must answer 3
      return;
    }
    if (sio === '1') { sess.disconnected = true; return; }
    assert.equal(sio, '2', `unexpected Socket.IO packet from the client: ${frame}`);
    assert.ok(sess.user, 'event before CONNECT');
    const m = /^42(\d*)(\[.*\])$/.exec(frame);
    assert.ok(m, `bad EVENT frame ${frame}`);
    const ackId = m[1];
    const [name, data] = JSON.parse(m[2]);
    if (name === 'presence:join') {
      assert.equal(data.userId, sess.user, 'join of the own room only');
      sess.toClient(`42${JSON.stringify(['user:data:updated', this.doc(sess.user)])}`, this.latency);
      return;
    }
    assert.equal(name, 'user:clientUpdate', `unexpected event ${name}`);
    assert.ok(data.opId && data.delta, 'user:clientUpdate {opId, delta}');
    if (this.bugs.rateLimited) {
      if (ackId) {
        sess.toClient(`43${ackId}${JSON.stringify([{ ok: false, error: { code: 'rate_limited', status: 429, retryAfterMs: 50 } }])}`, this.latency);
      }
      return;
    }
    // The ack before the pushes, or after them: both orders happen on a real
    // server, alternate them. A repeated opId is answered, not pushed again.
    const { doc, fresh } = this.idempotent(sess.user, data.opId, data.delta);
    const ack = ackId ? `43${ackId}${JSON.stringify([this.bugs.badAck ? { ok: false, error: { code: 'x' } } : { ok: true, stats: doc }])}` : null;
    const lost = this.bugs.dropFirstAck && !this.ackDropped;
    if (lost) this.ackDropped = true;
    if (ack && !lost && Number(ackId) % 2 === 1) sess.toClient(ack, this.latency);
    if (fresh) this.push(sess.user, doc);
    if (ack && !lost && Number(ackId) % 2 === 0) sess.toClient(ack, this.latency);
  }

  // One blocking k6/ws connect(): the session runs to its end on its own
  // loop (k6/ws has a local event loop), advancing the virtual clock.
  ws(url, params, fn) {
    this.checkSocketUrl(url);
    this.clock += this.latency;
    if (this.bugs.handshake429) return { status: 429, url, headers: {}, body: '{"error":{"code":"rate_limited"}}', error: 'websocket: bad handshake' };
    const sess = this.newSession('ws');
    const handlers = {};
    const timers = new Timers();
    sess.toClient = (frame, delay = 1) => timers.add(this.clock + delay, () => {
      if (sess.closed) return;
      (sess.frames = sess.frames || []).push(frame);
      if (handlers.message) handlers.message(frame);
    }, 0);
    const socket = {
      on(ev, h) { handlers[ev] = h; },
      send: (frame) => this.fromClient(sess, frame),
      sendBinary() { throw new Error('no binary frames in this protocol'); },
      ping() {},
      close: () => { if (!sess.closed) this.sessionClosed(sess); },
      setTimeout: (f, ms) => timers.add(this.clock + ms, f, 0),
      setInterval: (f, ms) => timers.add(this.clock + ms, f, ms),
    };
    fn(socket);
    if (handlers.open) handlers.open();
    sess.toClient(`0${JSON.stringify({ sid: 'eio-1', upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 })}`, 1);
    let steps = 0;
    const start = this.clock;
    let tm;
    while (!sess.closed && (tm = timers.next())) {
      assert.ok(++steps < 100000, 'the session never ends');
      timers.take(tm);
      this.clock = Math.max(this.clock, tm.t);
      assert.ok(this.clock - start < 3 * 3600 * 1000, 'the session runs for more than 3 virtual hours');
      tm.f();
    }
    assert.ok(sess.closed, 'the script left the socket open with nothing left to do (k6 would hang)');
    if (handlers.close) handlers.close();
    return { status: 101, url, headers: {}, body: '', error: '' };
  }

  // k6/websockets: a socket on the VU's event loop.
  wsOpen(url, wsObj) {
    this.checkSocketUrl(url);
    this.asyncSockets.add(wsObj);
    if (this.bugs.handshake429) {
      this.timers.add(this.clock + this.latency, () => {
        this.asyncSockets.delete(wsObj);
        wsObj._emit('error', { type: 'error', error: 'websocket: bad handshake (429)' });
        wsObj._emit('close', { type: 'close', code: 1006 });
      }, 0);
      return;
    }
    const sess = this.newSession('websockets');
    wsObj._sess = sess;
    sess.toClient = (frame, delay = 1) => this.timers.add(this.clock + delay, () => {
      if (sess.closed || wsObj.readyState !== 1) return;
      (sess.frames = sess.frames || []).push(frame);
      wsObj._emit('message', { type: 'message', data: frame });
    }, 0);
    this.timers.add(this.clock + this.latency, () => {
      wsObj._emit('open', { type: 'open' });
      sess.toClient(`0${JSON.stringify({ sid: `eio-${this.sessions.length}`, upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 })}`, 1);
    }, 0);
  }

  wsSend(wsObj, data) { this.fromClient(wsObj._sess, data); }

  wsClose(wsObj, code) {
    if (wsObj._sess) this.sessionClosed(wsObj._sess);
    this.timers.add(this.clock + 1, () => {
      this.asyncSockets.delete(wsObj);
      wsObj._emit('close', { type: 'close', code });
    }, 0);
  }

  // Runs the VU's event loop until it is empty (k6 ends the iteration then).
  runLoop() {
    let steps = 0;
    const start = this.clock;
    let tm;
    while ((tm = this.timers.next())) {
      assert.ok(++steps < 1000000, 'the event loop never empties');
      this.timers.take(tm);
      this.clock = Math.max(this.clock, tm.t);
      assert.ok(this.clock - start < 3 * 3600 * 1000, 'the event loop runs for more than 3 virtual hours');
      tm.f();
    }
    assert.equal(this.asyncSockets.size, 0,
      'a websocket is left open with nothing else to do (k6 would keep the iteration running until gracefulStop)');
  }

  resetLoop() {
    this.timers.reset();
    for (const w of this.asyncSockets) if (w._sess) this.sessionClosed(w._sess);
    this.asyncSockets.clear();
  }
}

// --- thresholds -----------------------------------------------------------

const BUILTIN = {
  checks: 'rate', data_received: 'counter', data_sent: 'counter', dropped_iterations: 'counter',
  iteration_duration: 'trend', iterations: 'counter', vus: 'gauge', vus_max: 'gauge',
  http_req_blocked: 'trend', http_req_connecting: 'trend', http_req_duration: 'trend', http_req_failed: 'rate',
  http_req_receiving: 'trend', http_req_sending: 'trend', http_req_tls_handshaking: 'trend',
  http_req_waiting: 'trend', http_reqs: 'counter',
  ws_connecting: 'trend', ws_msgs_received: 'counter', ws_msgs_sent: 'counter', ws_ping: 'trend',
  ws_session_duration: 'trend', ws_sessions: 'counter',
};
const AGGS = {
  trend: /^(avg|min|max|med|p\(\d+(\.\d+)?\))$/,
  rate: /^rate$/,
  counter: /^(count|rate)$/,
  gauge: /^value$/,
};

function parseThreshold(expr) {
  const m = /^\s*([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|==|===|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expr);
  assert.ok(m, `threshold "${expr}" is not "<aggregation> <op> <number>"`);
  return { agg: m[1], op: m[2], value: Number(m[3]) };
}

function parseMetricKey(key) {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\{([^}]*)\})?$/.exec(key);
  assert.ok(m, `threshold metric "${key}" is not name or name{tag:value}`);
  const tags = {};
  if (m[2]) {
    for (const kv of m[2].split(',')) {
      const i = kv.indexOf(':');
      assert.ok(i > 0, `bad tag filter in ${key}`);
      tags[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
    }
  }
  return { name: m[1], tags };
}

function aggregate(agg, type, values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  if (agg === 'count') return values.length ? values.reduce((a, b) => a + b, 0) : 0;
  if (agg === 'rate') return values.filter((v) => v !== 0).length / values.length;
  if (agg === 'avg') return values.reduce((a, b) => a + b, 0) / values.length;
  if (agg === 'min') return sorted[0];
  if (agg === 'max') return sorted[sorted.length - 1];
  if (agg === 'value') return values[values.length - 1];
  const p = agg === 'med' ? 50 : Number(/p\(([\d.]+)\)/.exec(agg)[1]);
  const idx = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(idx);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (idx - lo);
}

const OPS = { '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b,
  '==': (a, b) => a === b, '===': (a, b) => a === b, '!=': (a, b) => a !== b };

// Checks every threshold against the known metrics and evaluates it on the
// samples of the run: returns the list of failed thresholds.
function evaluateThresholds(options, metrics) {
  const failed = [];
  for (const [key, list] of Object.entries(options.thresholds || {})) {
    const { name, tags } = parseMetricKey(key);
    const m = metrics.get(name);
    const type = m ? m.type : BUILTIN[name];
    assert.ok(type, `threshold on ${name}: no such metric (neither built into k6 nor created by the script)`);
    assert.ok(Array.isArray(list) && list.length > 0, `thresholds of ${key} must be a non-empty array`);
    for (const item of list) {
      const expr = typeof item === 'string' ? item : item && item.threshold;
      assert.equal(typeof expr, 'string', `threshold of ${key}: ${JSON.stringify(item)}`);
      const t = parseThreshold(expr);
      assert.match(t.agg, AGGS[type], `threshold "${expr}" on ${type} metric ${name}: k6 refuses ${t.agg} there`);
      const picked = (m ? m.samples : []).filter((s) => Object.entries(tags).every(([k, v]) => String(s.tags[k]) === v));
      let v = aggregate(t.agg, type, picked.map((s) => s.value));
      if (v === null && t.agg === 'count') v = 0;
      if (v === null) continue; // k6 does not fail a threshold without samples
      if (!OPS[t.op](v, t.value)) failed.push(`${key}: ${expr} (got ${v})`);
    }
  }
  return failed;
}

// --- loading a script and iterating its default function ------------------

let runNo = 0;

function newRuntime(server, env) {
  return {
    id: ++runNo, server, env, vu: 0, iter: 0, inInit: true, checks: [], exceptions: [], slept: 0, metrics: new Map(),
    logs: [], tags: {}, exec: null, options: null,
  };
}

function importScript(script) {
  return import(`${pathToFileURL(path.join(K6_DIR, script)).href}?run=${++runNo}`);
}

// Loads a script fresh (its init context runs with __ENV = env) and returns its module.
async function load(script, server, env = {}) {
  rt = newRuntime(server, env);
  globalThis.__ENV = { ...env };
  globalThis.__VU = 0;
  globalThis.__ITER = 0;
  globalThis.open = () => { throw new Error('open() is not used by these scripts'); };
  const mod = await importScript(script);
  rt.options = mod.options || {};
  rt.inInit = false;
  return mod;
}

// k6 gives every VU its own JavaScript runtime: the script's init context
// runs again for it, and module-level state is the VU's own.
const vuModules = new Map();
async function vuModule(script, vu) {
  const key = `${rt.id}/${script}/${vu}`;
  if (!vuModules.has(key)) {
    rt.inInit = true;
    globalThis.__VU = vu;
    try {
      vuModules.set(key, await importScript(script));
    } finally {
      rt.inInit = false;
    }
  }
  return vuModules.get(key);
}

// Runs fn with Date.now() on the fake's virtual clock.
function onClock(server, fn) {
  if (!server.virtual) return fn();
  const realNow = Date.now;
  Date.now = () => Math.floor(server.clock);
  try { return fn(); } finally { Date.now = realNow; }
}

// One iteration of fn on the current VU, its event loop to the end; returns
// its duration (ms, virtual with the fake).
function iterateOnce(fn, data) {
  const server = rt.server;
  return onClock(server, () => {
    const t0 = server.now();
    try {
      fn(data);
      server.runLoop();
    } catch (e) {
      // k6 logs the exception, ends the iteration and goes on
      rt.exceptions.push(e);
      rt.logs.push(`exception in iteration: ${e && e.stack ? e.stack : e}`);
      server.resetLoop();
    }
    const dur = Math.max(0, server.now() - t0);
    builtin('iterations', 'counter', 1);
    builtin('iteration_duration', 'trend', dur);
    return dur;
  });
}

async function iterate(script, vu, iterations, setupData) {
  const mod = await vuModule(script, vu);
  for (let i = 0; i < iterations; i++) {
    globalThis.__VU = vu;
    globalThis.__ITER = i;
    rt.vu = vu;
    rt.iter = i;
    onClock(rt.server, () => {
      mod.default(setupData);
      rt.server.runLoop();
    });
  }
}

async function quietConsole(fnc) {
  const warn = console.warn;
  const log = console.log;
  console.warn = (...a) => rt.logs.push(a.join(' '));
  console.log = (...a) => rt.logs.push(a.join(' '));
  try { return await fnc(); } finally { console.warn = warn; console.log = log; }
}

function failedChecks() {
  return rt.checks.filter((c) => !c.ok).map((c) => c.name);
}

function samples(name, tags = {}) {
  const m = rt.metrics.get(name);
  return (m ? m.samples : []).filter((s) => Object.entries(tags).every(([k, v]) => String(s.tags[k]) === v));
}

function sum(name, tags) {
  return samples(name, tags).reduce((a, s) => a + s.value, 0);
}

// --- `k6 run`: scenarios and executors ------------------------------------

const EXECUTORS = ['constant-vus', 'per-vu-iterations', 'constant-arrival-rate', 'ramping-arrival-rate'];

// '1h2m3s', '500ms', '90s' -> milliseconds (k6's duration strings; these
// scripts write every duration as a string).
function durationMs(d, what) {
  assert.equal(typeof d, 'string', `${what}: a duration string like "30s", not ${JSON.stringify(d)}`);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  assert.match(d, /^(\d+(\.\d+)?(ms|s|m|h))+$/, `${what}: bad duration ${d}`);
  let total = 0;
  let m;
  while ((m = re.exec(d))) total += Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
  return total;
}

function positiveInt(v, what) {
  assert.ok(Number.isInteger(v) && v > 0, `${what} must be a positive integer, not ${JSON.stringify(v)}`);
  return v;
}

// The scenarios of options, checked like k6 checks them, normalized.
function scenariosOf(options, mod) {
  let list;
  if (options.scenarios) {
    list = Object.entries(options.scenarios).map(([name, sc]) => ({ name, ...sc }));
  } else if (options.duration) {
    list = [{ name: 'default', executor: 'constant-vus', vus: options.vus || 1, duration: options.duration }];
  } else {
    list = [{ name: 'default', executor: 'per-vu-iterations', vus: options.vus || 1, iterations: options.iterations || 1 }];
  }
  assert.ok(list.length > 0, 'no scenario');
  return list.map((sc) => {
    const what = `scenario ${sc.name}`;
    assert.ok(EXECUTORS.includes(sc.executor), `${what}: executor ${sc.executor} is not simulated by this harness`);
    const exec = sc.exec || 'default';
    assert.equal(typeof mod[exec], 'function', `${what}: exec ${exec} is not an exported function`);
    const n = {
      name: sc.name, executor: sc.executor, exec, tags: sc.tags || {},
      startMs: sc.startTime ? durationMs(sc.startTime, `${what}.startTime`) : 0,
      gracefulStopMs: sc.gracefulStop === undefined ? 30000 : durationMs(sc.gracefulStop, `${what}.gracefulStop`),
    };
    if (sc.executor === 'constant-vus') {
      n.vus = sc.vus === undefined ? 1 : positiveInt(sc.vus, `${what}.vus`);
      n.durationMs = durationMs(sc.duration, `${what}.duration`);
    } else if (sc.executor === 'per-vu-iterations') {
      n.vus = sc.vus === undefined ? 1 : positiveInt(sc.vus, `${what}.vus`);
      n.iterations = sc.iterations === undefined ? 1 : positiveInt(sc.iterations, `${what}.iterations`);
      n.durationMs = durationMs(sc.maxDuration || '10m', `${what}.maxDuration`);
    } else {
      n.preAllocatedVUs = positiveInt(sc.preAllocatedVUs, `${what}.preAllocatedVUs`);
      n.maxVUs = sc.maxVUs === undefined ? n.preAllocatedVUs : positiveInt(sc.maxVUs, `${what}.maxVUs`);
      assert.ok(n.maxVUs >= n.preAllocatedVUs, `${what}: maxVUs can't be less than preAllocatedVUs`);
      n.timeUnitMs = sc.timeUnit ? durationMs(sc.timeUnit, `${what}.timeUnit`) : 1000;
      assert.ok(n.timeUnitMs > 0, `${what}: timeUnit must be more than 0`);
      if (sc.executor === 'constant-arrival-rate') {
        n.rate = positiveInt(sc.rate, `${what}.rate`);
        n.durationMs = durationMs(sc.duration, `${what}.duration`);
      } else {
        n.startRate = sc.startRate === undefined ? 0 : sc.startRate;
        assert.ok(Number.isInteger(n.startRate) && n.startRate >= 0, `${what}: startRate can't be negative`);
        assert.ok(Array.isArray(sc.stages) && sc.stages.length > 0, `${what}: stages are required`);
        n.stages = sc.stages.map((s, i) => {
          assert.ok(Number.isInteger(s.target) && s.target >= 0, `${what}.stages[${i}].target`);
          return { durationMs: durationMs(s.duration, `${what}.stages[${i}].duration`), target: s.target };
        });
        n.durationMs = n.stages.reduce((a, s) => a + s.durationMs, 0);
      }
    }
    return n;
  });
}

// Start offsets (ms from the scenario's start) of an arrival-rate scenario.
function arrivalStarts(sc, cap = 1e6) {
  const out = [];
  if (sc.executor === 'constant-arrival-rate') {
    const every = sc.timeUnitMs / sc.rate;
    for (let i = 0; i * every < sc.durationMs; i++) {
      assert.ok(out.length < cap, 'too many iterations for this harness');
      out.push(i * every);
    }
    return out;
  }
  // ramping: the rate goes linearly from the previous target to each
  // stage's target; iteration k starts where the integral reaches k.
  let t0 = 0;
  let r0 = sc.startRate / sc.timeUnitMs; // per ms
  let cum = 0;
  let k = 0;
  for (const st of sc.stages) {
    const r1 = st.target / sc.timeUnitMs;
    const d = st.durationMs;
    const a = d > 0 ? (r1 - r0) / (2 * d) : 0; // cum(x) = cum + r0 x + a x^2
    const stageTotal = cum + r0 * d + a * d * d;
    while (k <= stageTotal - 1e-9 && (k < stageTotal || d === 0)) {
      const need = k - cum;
      let x;
      if (Math.abs(a) < 1e-15) x = r0 > 0 ? need / r0 : 0;
      else x = (-r0 + Math.sqrt(Math.max(0, r0 * r0 + 4 * a * need))) / (2 * a);
      if (x > d) break;
      assert.ok(out.length < cap, 'too many iterations for this harness');
      out.push(t0 + x);
      k++;
    }
    cum = stageTotal;
    t0 += d;
    r0 = r1;
  }
  return out;
}

// What a run did, per scenario.
function newStats(sc) {
  return { name: sc.name, executor: sc.executor, iterations: 0, dropped: 0, interrupted: 0, vus: [], starts: [] };
}

function dropped(sc, st, t) {
  st.dropped++;
  builtin('dropped_iterations', 'counter', 1, { scenario: sc.name, ...sc.tags });
  if (t !== undefined) st.droppedAt = (st.droppedAt || []).concat(t);
}

// --- virtual time (FakeStatsync) --

async function runScenarioVirtual(ctx, sc) {
  const st = newStats(sc);
  const t0 = ctx.t0 + sc.startMs;
  const end = sc.durationMs;
  const hardEnd = sc.durationMs + sc.gracefulStopMs;
  let iterSeq = 0;
  const newVu = async () => {
    const id = ++ctx.vuSeq;
    const mod = await vuModule(ctx.script, id);
    const vu = { id, mod, iters: 0, freeAt: 0 };
    st.vus.push(id);
    return vu;
  };
  // runs one iteration of vu at offset t; returns its end offset
  const runAt = (vu, t) => {
    ctx.server.clock = t0 + t;
    rt.vu = vu.id;
    rt.iter = vu.iters;
    globalThis.__VU = vu.id;
    globalThis.__ITER = vu.iters;
    rt.tags = { scenario: sc.name, ...sc.tags };
    rt.exec = { name: sc.name, executor: sc.executor, startTime: t0, durationMs: sc.durationMs,
      iterationInTest: iterSeq++, vuIteration: vu.iters++ };
    st.starts.push(t);
    const dur = iterateOnce(vu.mod[sc.exec], ctx.data());
    rt.tags = {};
    rt.exec = null;
    st.iterations++;
    if (t + dur > hardEnd) st.interrupted++;
    assert.ok(st.iterations < ctx.maxIterations, `scenario ${sc.name}: more than ${ctx.maxIterations} iterations`);
    return t + Math.max(dur, 1); // an iteration takes at least a millisecond here
  };
  if (sc.executor === 'constant-vus' || sc.executor === 'per-vu-iterations') {
    for (let i = 0; i < sc.vus; i++) {
      const vu = await newVu();
      let t = 0;
      for (let n = 0; t < end && (sc.iterations === undefined || n < sc.iterations); n++) t = runAt(vu, t);
      if (sc.iterations !== undefined && vu.iters < sc.iterations) for (let n = vu.iters; n < sc.iterations; n++) dropped(sc, st);
    }
    return st;
  }
  const idle = [];
  const busy = [];
  for (let i = 0; i < sc.preAllocatedVUs; i++) idle.push(await newVu());
  for (const s of arrivalStarts(sc)) {
    busy.sort((a, b) => a.freeAt - b.freeAt);
    while (busy.length && busy[0].freeAt <= s) idle.push(busy.shift());
    if (idle.length) {
      const vu = idle.shift();
      vu.freeAt = runAt(vu, s);
      busy.push(vu);
    } else {
      dropped(sc, st, s);
      if (st.vus.length < sc.maxVUs) {
        const vu = await newVu();
        vu.freeAt = s;
        busy.push(vu);
      }
    }
  }
  return st;
}

// --- real time (LiveNet): one worker thread per VU --

class VuThread {
  constructor(ctx, sc, id) {
    this.id = id;
    this.worker = new Worker(__filename, {
      workerData: { k6vu: true, script: ctx.script, env: ctx.env, vu: id, net: ctx.netOpts, data: ctx.dataJson },
    });
    this.waiting = null;
    this.exited = false;
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => { this.exited = true; reject(new Error(`VU ${id} exited (${code}) during init`)); });
      this.worker.on('message', (m) => {
        if (m.op === 'ready') resolve();
        else if (m.op === 'done' && this.waiting) { const w = this.waiting; this.waiting = null; w(m); }
      });
    });
    this.worker.on('exit', () => {
      this.exited = true;
      if (this.waiting) { const w = this.waiting; this.waiting = null; w(null); }
    });
    this.worker.on('error', () => {});
  }

  iterate(exec) {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.worker.postMessage({ op: 'iter', exec });
    });
  }

  stop() { return this.worker.terminate(); }
}

// Merges what a VU thread recorded in one iteration into this runtime.
function mergeVuResult(r) {
  for (const s of r.samples) {
    defineMetric(s.name, s.type, s.isTime, s.builtin);
    rt.metrics.get(s.name).samples.push({ value: s.value, tags: s.tags });
  }
  rt.checks.push(...r.checks);
  rt.logs.push(...r.logs);
  for (const e of r.exceptions) rt.exceptions.push(new Error(e));
}

const sleepReal = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function runScenarioLive(ctx, sc) {
  const st = newStats(sc);
  const vus = [];
  let iterSeq = 0;
  const spawn = async () => {
    const vu = new VuThread(ctx, sc, ++ctx.vuSeq);
    vus.push(vu);
    st.vus.push(vu.id);
    await vu.ready;
    vu.iters = 0;
    return vu;
  };
  let t0 = 0;
  const runOn = async (vu) => {
    const t = Date.now() - t0;
    st.starts.push(t);
    const exec = { name: sc.name, executor: sc.executor, startTime: t0, durationMs: sc.durationMs, fn: sc.exec,
      tags: { scenario: sc.name, ...sc.tags }, iterationInTest: iterSeq++, vuIteration: vu.iters++ };
    const r = await vu.iterate(exec);
    if (r === null) return; // terminated at the end of gracefulStop (counted below)
    mergeVuResult(r);
    st.iterations++;
  };
  try {
    if (sc.executor === 'constant-vus' || sc.executor === 'per-vu-iterations') {
      const pool = await Promise.all(Array.from({ length: sc.vus }, spawn));
      await sleepReal(ctx.t0 + sc.startMs - Date.now());
      t0 = Date.now();
      const hard = t0 + sc.durationMs + sc.gracefulStopMs;
      const loops = pool.map(async (vu) => {
        for (let n = 0; Date.now() < t0 + sc.durationMs && (sc.iterations === undefined || n < sc.iterations); n++) {
          await runOn(vu);
          if (vu.exited) return;
        }
      });
      await Promise.race([Promise.all(loops), sleepReal(hard - Date.now())]);
    } else {
      const idle = await Promise.all(Array.from({ length: sc.preAllocatedVUs }, spawn));
      const running = new Set();
      const starts = arrivalStarts(sc);
      await sleepReal(ctx.t0 + sc.startMs - Date.now());
      t0 = Date.now();
      for (const s of starts) {
        await sleepReal(t0 + s - Date.now());
        if (idle.length) {
          const vu = idle.shift();
          const p = runOn(vu).then(() => { running.delete(p); if (!vu.exited) idle.push(vu); });
          running.add(p);
        } else {
          dropped(sc, st, s);
          if (vus.length < sc.maxVUs) spawn().then((vu) => idle.push(vu), () => {});
        }
      }
      const hard = t0 + sc.durationMs + sc.gracefulStopMs;
      await Promise.race([Promise.all([...running]), sleepReal(hard - Date.now())]);
    }
  } finally {
    for (const vu of vus) {
      if (vu.waiting) st.interrupted++;
    }
    await Promise.all(vus.map((vu) => vu.stop()));
  }
  return st;
}

// A live target: the scripts' requests go to real servers on loopback, from
// localAddress when given (a loopback address of its own, e.g. 127.0.0.2).
class LiveTarget {
  constructor({ timeoutMs = 20000, localAddress } = {}) {
    this.netOpts = { timeoutMs, localAddress };
  }
}

// k6 run: setup(), every scenario at once, teardown(), thresholds. opts:
// { maxIterations } (per scenario, virtual time). Resolves {exitCode (0, or
// 99 when a threshold failed, as k6), failed, scenarios: {name: stats},
// logs, exceptions, checks, metrics}.
async function run(script, target, env = {}, opts = {}) {
  const live = target instanceof LiveTarget;
  const server = live ? new LiveNet(target.netOpts) : target;
  const mod = await load(script, server, env);
  const options = mod.options || {};
  const scenarios = scenariosOf(options, mod);
  const ctx = { script, env, server, vuSeq: 0, maxIterations: opts.maxIterations || 200000, netOpts: target.netOpts };
  const warn = console.warn;
  const log = console.log;
  if (!live) {
    console.warn = (...a) => rt.logs.push(a.join(' '));
    console.log = (...a) => rt.logs.push(a.join(' '));
  }
  try {
    let data;
    if (typeof mod.setup === 'function') {
      rt.tags = { scenario: 'setup' };
      data = onClock(server, () => mod.setup());
      if (!live) server.runLoop();
      rt.tags = {};
    }
    ctx.dataJson = data === undefined ? undefined : JSON.stringify(data);
    ctx.data = () => (ctx.dataJson === undefined ? undefined : JSON.parse(ctx.dataJson));
    ctx.t0 = live ? Date.now() + 50 : server.now();
    const stats = {};
    if (live) {
      for (const st of await Promise.all(scenarios.map((sc) => runScenarioLive(ctx, sc)))) stats[st.name] = st;
    } else {
      for (const sc of scenarios) stats[sc.name] = await runScenarioVirtual(ctx, sc);
    }
    if (typeof mod.teardown === 'function') {
      rt.tags = { scenario: 'teardown' };
      onClock(server, () => mod.teardown(ctx.data()));
      rt.tags = {};
    }
    const failed = evaluateThresholds(options, rt.metrics);
    return {
      exitCode: failed.length ? 99 : 0, failed, scenarios: stats, logs: rt.logs, exceptions: rt.exceptions,
      checks: rt.checks, metrics: rt.metrics, options,
    };
  } finally {
    console.warn = warn;
    console.log = log;
    if (live) await server.stop();
  }
}

// A run k6 would end with exit 0: no exception, nothing logged, no threshold
// failed, every check passed. context: more to show when it did not.
function assertClean(r, context = '') {
  assert.deepEqual(r.exceptions.map(String), [], context);
  assert.deepEqual(r.logs, [], context);
  assert.deepEqual(r.failed, [], context);
  assert.equal(r.exitCode, 0);
  assert.ok(r.checks.length > 0 && r.checks.every((c) => c.ok), `failed checks: ${r.checks.filter((c) => !c.ok).map((c) => c.name)}`);
}

// --- real servers on loopback, with k6's blocking calls -------------------

// The worker does the network I/O (node:http, the `ws` package) on its own
// event loop; the VU's thread, like a k6 VU, blocks until a reply or a
// websocket event arrives: the worker posts to a MessagePort and raises a
// flag in shared memory, the VU waits on the flag and reads the port
// synchronously.
const NET_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const http = require('node:http');
const WebSocket = require(workerData.wsPath);
const flag = new Int32Array(workerData.sab);
const port = workerData.port;
const localAddress = workerData.localAddress || undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function send(m) { port.postMessage(m); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); }
const sockets = new Map();
parentPort.on('message', (req) => {
  if (req.op === 'http') {
    const t0 = Date.now();
    const u = new URL(req.url);
    const headers = { ...req.headers };
    if (req.body !== null) headers['content-length'] = Buffer.byteLength(req.body);
    const r = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: req.method, headers,
      agent, localAddress, timeout: req.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => send({ id: req.id, status: res.statusCode, body, headers: res.headers, durationMs: Date.now() - t0 }));
    });
    r.on('timeout', () => r.destroy(new Error('request timeout')));
    r.on('error', (e) => send({ id: req.id, status: 0, body: '', error: String(e), durationMs: Date.now() - t0 }));
    if (req.body !== null) r.write(req.body);
    r.end();
  } else if (req.op === 'wsOpen') {
    const ws = new WebSocket(req.url, { handshakeTimeout: req.timeoutMs, localAddress });
    sockets.set(req.id, ws);
    ws.on('upgrade', (res) => send({ id: req.id, type: 'upgrade', status: res.statusCode }));
    ws.on('unexpected-response', (rq, res) => {
      send({ id: req.id, type: 'upgrade', status: res.statusCode });
      send({ id: req.id, type: 'error', error: 'websocket: bad handshake (' + res.statusCode + ')' });
      sockets.delete(req.id);
      send({ id: req.id, type: 'close', code: 1006 });
      rq.destroy();
    });
    ws.on('open', () => send({ id: req.id, type: 'open' }));
    ws.on('message', (data, isBinary) => send({ id: req.id, type: isBinary ? 'binaryMessage' : 'message', data: data.toString() }));
    ws.on('close', (code) => { if (sockets.delete(req.id)) send({ id: req.id, type: 'close', code }); });
    ws.on('error', (e) => { if (sockets.has(req.id)) send({ id: req.id, type: 'error', error: String(e) }); });
  } else if (req.op === 'wsSend') {
    const ws = sockets.get(req.id);
    if (ws && ws.readyState === 1) ws.send(req.data);
  } else if (req.op === 'wsClose') {
    const ws = sockets.get(req.id);
    if (ws) ws.close(req.code || 1000);
  }
});
`;

class LiveNet {
  // timeoutMs bounds every HTTP request, every websocket session and every
  // event loop; localAddress is the source address of every connection.
  constructor({ timeoutMs = 20000, localAddress } = {}) {
    this.timeoutMs = timeoutMs;
    this.virtual = false;
    this.sab = new SharedArrayBuffer(4);
    this.flag = new Int32Array(this.sab);
    this.sleepFlag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const wsPath = require.resolve('ws', { paths: [path.join(ROOT, 'tests')] });
    this.worker = new Worker(NET_WORKER, { eval: true, workerData: { sab: this.sab, port: port2, wsPath, localAddress }, transferList: [port2] });
    this.worker.unref();
    this.inbox = [];
    this.nextId = 1;
    this.sessions = [];
    this.timers = new Timers();
    this.async = new Map(); // id -> { ws, sess }
  }

  now() { return Date.now(); }
  sleep(ms) { if (ms > 0) Atomics.wait(this.sleepFlag, 0, 0, ms); }
  setTimer(f, ms, repeat) { return this.timers.add(Date.now() + ms, f, repeat ? ms : 0); }
  clearTimer(id) { this.timers.clear(id); }

  drain() {
    let m;
    while ((m = receiveMessageOnPort(this.port)) !== undefined) this.inbox.push(m.message);
  }

  // Messages whose id is in ids that arrived within ms (at least one unless timed out).
  waitAny(ids, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      Atomics.store(this.flag, 0, 0);
      this.drain();
      const mine = this.inbox.filter((x) => ids.has(x.id));
      if (mine.length) {
        this.inbox = this.inbox.filter((x) => !ids.has(x.id));
        return mine;
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
    }
  }

  waitFor(id, ms) { return this.waitAny(new Set([id]), ms); }

  http(method, url, body, headers) {
    const id = this.nextId++;
    this.worker.postMessage({ op: 'http', id, method, url, body: body === undefined ? null : body, headers, timeoutMs: this.timeoutMs });
    const [r] = this.waitFor(id, this.timeoutMs + 1000);
    assert.ok(r, `${method} ${url}: no answer within ${this.timeoutMs} ms`);
    return r;
  }

  // One blocking k6/ws connect(), in real time.
  ws(url, params, fn) {
    const id = this.nextId++;
    const sess = { url, fromClient: [], toClient: [], closed: false, status: 0, errors: [] };
    this.sessions.push(sess);
    const handlers = {};
    const timers = new Timers();
    const socket = {
      on(ev, h) { handlers[ev] = h; },
      send: (frame) => {
        if (sess.closed) return;
        sess.fromClient.push(String(frame));
        this.worker.postMessage({ op: 'wsSend', id, data: String(frame) });
      },
      sendBinary() { throw new Error('no binary frames in this protocol'); },
      ping() {},
      close: () => {
        if (sess.closed) return;
        sess.closed = true;
        this.worker.postMessage({ op: 'wsClose', id });
      },
      setTimeout(f, ms) { timers.add(Date.now() + ms, f, 0); },
      setInterval(f, ms) { timers.add(Date.now() + ms, f, ms); },
    };
    fn(socket);
    this.worker.postMessage({ op: 'wsOpen', id, url, timeoutMs: this.timeoutMs });
    const end = Date.now() + this.timeoutMs;
    let remoteClosed = false;
    while (!sess.closed && !remoteClosed) {
      assert.ok(Date.now() < end, `websocket session to ${url} still open after ${this.timeoutMs} ms`);
      const nt = timers.next();
      const wait = nt ? Math.max(0, nt.t - Date.now()) : end - Date.now();
      for (const ev of this.waitFor(id, Math.max(wait, 0))) {
        if (ev.type === 'upgrade') sess.status = ev.status;
        else if (ev.type === 'open') { if (handlers.open) handlers.open(); }
        else if (ev.type === 'message') {
          sess.toClient.push(ev.data);
          if (!sess.closed && handlers.message) handlers.message(ev.data);
        } else if (ev.type === 'error') {
          sess.errors.push(ev.error);
          if (handlers.error) handlers.error({ error: () => ev.error });
        } else if (ev.type === 'close') {
          remoteClosed = true;
          sess.closed = true;
          if (handlers.close) handlers.close(ev.code);
        }
        if (sess.closed) break;
      }
      let tm;
      while (!sess.closed && (tm = timers.next()) && tm.t <= Date.now()) {
        timers.take(tm);
        tm.f();
      }
    }
    if (!remoteClosed) {
      // the script closed it: wait (bounded) for the close to complete, as k6 does
      const evs = this.waitFor(id, 2000);
      if (handlers.close && evs.some((e) => e.type === 'close')) handlers.close(1000);
    }
    return { status: sess.status, url, headers: {}, body: '', error: sess.errors.join('; ') };
  }

  // k6/websockets: a socket on the VU's event loop (runLoop delivers its events).
  wsOpen(url, wsObj) {
    const id = this.nextId++;
    const sess = { url, fromClient: [], toClient: [], closed: false, status: 0, errors: [], async: true };
    this.sessions.push(sess);
    wsObj._id = id;
    wsObj._sess = sess;
    this.async.set(id, { ws: wsObj, sess });
    this.worker.postMessage({ op: 'wsOpen', id, url, timeoutMs: this.timeoutMs });
  }

  wsSend(wsObj, data) {
    wsObj._sess.fromClient.push(data);
    this.worker.postMessage({ op: 'wsSend', id: wsObj._id, data });
  }

  wsClose(wsObj, code) {
    wsObj._sess.closed = true;
    this.worker.postMessage({ op: 'wsClose', id: wsObj._id, code });
  }

  runLoop() {
    const end = Date.now() + this.timeoutMs;
    for (;;) {
      const nt = this.timers.next();
      if (!nt && this.async.size === 0) return;
      assert.ok(Date.now() < end, `the event loop still runs after ${this.timeoutMs} ms`);
      if (nt && nt.t <= Date.now()) {
        this.timers.take(nt);
        nt.f();
        continue;
      }
      if (this.async.size === 0) { this.sleep(Math.min(nt.t, end) - Date.now()); continue; }
      const wait = Math.max(0, (nt ? Math.min(nt.t, end) : end) - Date.now());
      for (const ev of this.waitAny(new Set(this.async.keys()), wait)) {
        const a = this.async.get(ev.id);
        if (!a) continue;
        if (ev.type === 'upgrade') a.sess.status = ev.status;
        else if (ev.type === 'open') a.ws._emit('open', { type: 'open' });
        else if (ev.type === 'message') {
          a.sess.toClient.push(ev.data);
          if (a.ws.readyState === 1) a.ws._emit('message', { type: 'message', data: ev.data });
        } else if (ev.type === 'error') {
          a.sess.errors.push(ev.error);
          a.ws._emit('error', { type: 'error', error: ev.error });
        } else if (ev.type === 'close') {
          this.async.delete(ev.id);
          a.sess.closed = true;
          a.ws._emit('close', { type: 'close', code: ev.code });
        }
      }
    }
  }

  resetLoop() {
    this.timers.reset();
    for (const [id, a] of this.async) {
      a.sess.closed = true;
      this.worker.postMessage({ op: 'wsClose', id });
    }
    this.async.clear();
  }

  stop() { return this.worker.terminate(); }
}

// --- a VU thread (run() against a LiveTarget) -----------------------------

async function vuThreadMain() {
  const wd = workerData;
  const server = new LiveNet(wd.net);
  rt = newRuntime(server, wd.env);
  globalThis.__ENV = { ...wd.env };
  globalThis.open = () => { throw new Error('open() is not used by these scripts'); };
  console.warn = (...a) => rt.logs.push(a.join(' '));
  console.log = (...a) => rt.logs.push(a.join(' '));
  globalThis.__VU = wd.vu;
  const mod = await importScript(wd.script);
  rt.options = mod.options || {};
  rt.inInit = false;
  rt.vu = wd.vu;
  parentPort.on('message', (m) => {
    if (m.op !== 'iter') return;
    const e = m.exec;
    rt.tags = e.tags;
    rt.exec = e;
    rt.iter = e.vuIteration;
    globalThis.__ITER = e.vuIteration;
    iterateOnce(mod[e.fn], wd.data === undefined ? undefined : JSON.parse(wd.data));
    const out = [];
    for (const [name, met] of rt.metrics) {
      for (const s of met.samples) out.push({ name, type: met.type, isTime: met.isTime, builtin: met.builtin, value: s.value, tags: s.tags });
      met.samples = [];
    }
    parentPort.postMessage({ op: 'done', samples: out, checks: rt.checks, logs: rt.logs,
      exceptions: rt.exceptions.map((x) => String(x && x.stack ? x.stack : x)) });
    rt.checks = [];
    rt.logs = [];
    rt.exceptions = [];
  });
  parentPort.postMessage({ op: 'ready' });
}

if (!isMainThread && workerData && workerData.k6vu) {
  vuThreadMain().catch((e) => { console.error(e); process.exit(1); });
}

module.exports = {
  ROOT, K6_DIR, SCRIPTS, COMPOSE_SECRET, FakeStatsync, LiveNet, LiveTarget,
  load, iterate, run, assertClean, quietConsole, failedChecks, samples, sum, evaluateThresholds, parseThreshold,
  scenariosOf, arrivalStarts, durationMs,
  runtime: () => rt,
};
