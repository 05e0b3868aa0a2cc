// k6_harness.js — runs the k6 scripts of tests/load/k6/ inside node (k6 cannot
// be installed here): module-resolution hooks load each script as the ES
// module k6 reads, with the k6 modules (k6, k6/http, k6/ws, k6/crypto,
// k6/encoding, k6/metrics, k6/execution) replaced by stubs that follow k6's
// documented API and record checks and metrics; thresholds are validated
// and evaluated on what a run recorded. A run talks either to FakeStatsync
// (an in-process fake of the gateway, virtual time) or, through LiveNet, to
// real servers on loopback (blocking calls, as k6 makes them, served by a
// worker thread). Used by k6_syntax.test.js and k6_live.test.js; not a test
// itself.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { register } = require('node:module');
const { MessageChannel, Worker, receiveMessageOnPort } = require('node:worker_threads');

const ROOT = path.resolve(__dirname, '../..');
const K6_DIR = path.join(ROOT, 'tests/load/k6');
const SCRIPTS = ['rest.js', 'socketio.js'];

// --- the k6 module stubs --------------------------------------------------

// Names each k6 module exports (k6 v0.4x-1.x documentation). A script that
// imports anything else fails to link, as it would in k6.
const K6_EXPORTS = {
  k6: ['check', 'fail', 'group', 'sleep', 'randomSeed'],
  'k6/http': ['get', 'post', 'put', 'patch', 'del', 'head', 'options', 'request', 'batch', 'asyncRequest',
    'file', 'cookieJar', 'CookieJar', 'expectedStatuses', 'setResponseCallback', 'url'],
  'k6/ws': ['connect'],
  'k6/crypto': ['hmac', 'createHMAC', 'createHash', 'md4', 'md5', 'sha1', 'sha256', 'sha384', 'sha512',
    'sha512_224', 'sha512_256', 'ripemd160', 'randomBytes'],
  'k6/encoding': ['b64encode', 'b64decode'],
  'k6/metrics': ['Counter', 'Gauge', 'Rate', 'Trend'],
  'k6/execution': ['vu', 'scenario', 'instance', 'test'],
};

// Module-resolution hooks: 'k6' and 'k6/*' become generated modules that
// re-export globalThis.__k6stubs[name]; the scripts (plain .js under a
// CommonJS package) load as ES modules, as k6 reads them; a ?run=N query on a
// script is passed to what it imports, so every run gets fresh module state.
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

// The k6 runtime the stubs record into; one per run (see newRuntime).
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

class Metric {
  constructor(type, name, isTime) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) throw new Error(`k6/metrics: invalid metric name ${name}`);
    if (rt.metrics.has(name) && rt.metrics.get(name).type !== type) {
      throw new Error(`k6/metrics: ${name} redefined with another type`);
    }
    this.name = name;
    if (!rt.metrics.has(name)) rt.metrics.set(name, { type, isTime: !!isTime, samples: [] });
  }

  add(value, tags) {
    if (rt.inInit) throw new Error(`k6: ${this.name}.add() in the init context`);
    rt.metrics.get(this.name).samples.push({ value: Number(value), tags: tags || {} });
  }
}

function builtin(name, type, value, tags) {
  if (!rt.metrics.has(name)) rt.metrics.set(name, { type, builtin: true, samples: [] });
  rt.metrics.get(name).samples.push({ value, tags: tags || {} });
}

function response(url, r, params) {
  const body = r.body === undefined ? '' : (typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
  return {
    url,
    status: r.status,
    body,
    headers: r.headers || { 'Content-Type': 'application/json' },
    timings: { duration: r.durationMs === undefined ? 1 : r.durationMs },
    error: r.status === 0 ? 'connection refused' : '',
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
        rt.checks.push({ name, ok });
        builtin('checks', 'rate', ok ? 1 : 0, { check: name, ...(tags || {}) });
        all = all && ok;
      }
      return all;
    },
    fail(msg) { throw new Error(`k6 fail(): ${msg}`); },
    group(name, fn) { return fn(); },
    sleep(s) {
      if (typeof s !== 'number' || !(s >= 0)) throw new Error(`k6: sleep(${s})`);
      rt.slept += s;
    },
    randomSeed() {},
  },
  'k6/http': {},
  'k6/ws': {
    connect(url, params, fn) {
      if (typeof params === 'function') { fn = params; params = null; }
      if (typeof fn !== 'function') throw new Error('k6/ws: connect(url, params, callback)');
      return rt.server.ws(url, params || {}, fn);
    },
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
    get vu() { return { idInTest: rt.vu, idInInstance: rt.vu, iterationInScenario: rt.iter, iterationInInstance: rt.iter }; },
    get scenario() { return { name: 'default', iterationInTest: rt.iter }; },
    get instance() { return { vusActive: 1 }; },
    get test() { return { abort(msg) { throw new Error(`test.abort(): ${msg}`); } }; },
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

// --- a fake statsync gateway --------------------------------------------

const composeText = fs.readFileSync(path.join(ROOT, 'compose/docker-compose.yml'), 'utf8');
const COMPOSE_SECRET = (/STATSYNC_JWT_SECRET:\s*"?\$\{STATSYNC_JWT_SECRET:-([^}]+)\}/.exec(composeText) || [])[1];

// bugs: { noPush, wrongXp, lostIncrement, status500, secret, badAck, noPing }
class FakeStatsync {
  constructor(opts = {}) {
    this.secret = opts.secret || COMPOSE_SECRET;
    this.bugs = opts.bugs || {};
    this.apiPort = 3000;
    this.socketPort = 3001;
    this.docs = new Map();
    this.keys = new Set();
    this.log = [];
    this.tokens = [];
    this.sessions = [];
  }

  verify(token) {
    const parts = String(token || '').split('.');
    if (parts.length !== 3) return null;
    const [h, p, sig] = parts;
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    if (header.alg !== 'HS256') return null;
    const want = crypto.createHmac('sha256', this.secret).update(`${h}.${p}`).digest('base64url');
    if (sig !== want) return null;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    if (!(claims.exp > Date.now() / 1000)) return null;
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

  http(method, url, body, headers) {
    const u = new URL(url);
    assert.equal(u.hostname, '127.0.0.1', `request to ${url}: the scripts must default to the local compose ports`);
    assert.equal(u.port, String(this.apiPort), `request to ${url}`);
    this.log.push(`${method} ${u.pathname}`);
    if (this.bugs.status500 && u.pathname !== '/health') return { status: 500, body: { error: { code: 'internal' } } };
    if (method === 'GET' && u.pathname === '/health') return { status: 200, body: { status: 'OK' } };
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
      const delta = JSON.parse(body);
      const key = h['idempotency-key'];
      assert.ok(key, 'patches carry an Idempotency-Key');
      assert.ok(!this.keys.has(`${user}/${key}`), `Idempotency-Key ${key} reused for a new change`);
      this.keys.add(`${user}/${key}`);
      return { status: 200, body: { success: true, stats: this.applyDelta(user, delta) } };
    }
    return { status: 404, body: { error: { code: 'not_found' } } };
  }

  // One blocking k6 ws.connect(): the session runs to its end in virtual time.
  ws(url, params, fn) {
    const u = new URL(url);
    assert.equal(u.protocol, 'ws:');
    assert.equal(u.hostname, '127.0.0.1');
    assert.equal(u.port, String(this.socketPort));
    assert.equal(u.pathname, '/socket.io/');
    assert.equal(u.searchParams.get('EIO'), '4', 'Engine.IO v4');
    assert.equal(u.searchParams.get('transport'), 'websocket');

    const sess = { fromClient: [], toClient: [], user: null, pongs: 0, disconnected: false, closed: false };
    this.sessions.push(sess);
    const handlers = {};
    const timers = [];
    let now = 0;
    let seq = 0;
    const at = (delay, f) => timers.push({ t: now + delay, seq: seq++, f, interval: 0 });
    const toClient = (frame, delay = 1) => at(delay, () => {
      sess.toClient.push(frame);
      if (handlers.message) handlers.message(frame);
    });
    const socket = {
      on(ev, h) { handlers[ev] = h; },
      send(frame) {
        assert.equal(typeof frame, 'string', 'Engine.IO text frames');
        assert.ok(!sess.closed, `send after close: ${frame}`);
        sess.fromClient.push(frame);
        this._server(frame);
      },
      sendBinary() { throw new Error('no binary frames in this protocol'); },
      ping() {},
      close() { sess.closed = true; },
      setTimeout(f, ms) { at(ms, f); },
      setInterval(f, ms) { timers.push({ t: now + ms, seq: seq++, f, interval: ms }); },
      _server: (frame) => {
        const eio = frame[0];
        if (eio === '3') { sess.pongs++; return; }
        assert.equal(eio, '4', `unexpected Engine.IO packet from the client: ${frame}`);
        const sio = frame[1];
        if (sio === '0') {
          const auth = JSON.parse(frame.slice(2));
          sess.user = this.verify(auth.token);
          if (!sess.user) { toClient('44{"message":"invalid token"}'); return; }
          toClient('40{"sid":"sock-1"}');
          if (!this.bugs.noPing) toClient('2', 2); // a server ping: the client must answer 3
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
          toClient(`42${JSON.stringify(['user:data:updated', this.doc(sess.user)])}`);
          return;
        }
        assert.equal(name, 'user:clientUpdate', `unexpected event ${name}`);
        assert.ok(data.opId && data.delta, 'user:clientUpdate {opId, delta}');
        const doc = this.applyDelta(sess.user, data.delta);
        if (this.bugs.wrongXp) doc.xp -= 1; // a push that does not show the change
        const push = `42${JSON.stringify(['user:data:updated', doc])}`;
        const ack = ackId ? `43${ackId}${JSON.stringify([this.bugs.badAck ? { ok: false, error: { code: 'x' } } : { ok: true, stats: doc }])}` : null;
        // Both orders happen on a real server: alternate them.
        const order = Number(ackId) % 2 ? [ack, push] : [push, ack];
        for (const f of order) if (f && !(f === push && this.bugs.noPush)) toClient(f);
      },
    };
    fn(socket);
    if (handlers.open) handlers.open();
    toClient(`0${JSON.stringify({ sid: 'eio-1', upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 })}`);
    let steps = 0;
    while (!sess.closed && timers.length) {
      assert.ok(++steps < 100000, 'the session never ends');
      timers.sort((a, b) => a.t - b.t || a.seq - b.seq);
      const tm = timers.shift();
      now = tm.t;
      assert.ok(now < 10 * 60 * 1000, 'the session runs for more than 10 virtual minutes');
      if (tm.interval) timers.push({ ...tm, t: now + tm.interval, seq: seq++ });
      tm.f();
    }
    assert.ok(sess.closed, 'the script left the socket open with nothing left to do (k6 would hang)');
    if (handlers.close) handlers.close();
    return { status: 101, url, headers: {}, body: '', error: '' };
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
  for (const [key, list] of Object.entries(options.thresholds)) {
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
      const samples = (m ? m.samples : []).filter((s) => Object.entries(tags).every(([k, v]) => String(s.tags[k]) === v));
      let v = aggregate(t.agg, type, samples.map((s) => s.value));
      if (v === null && t.agg === 'count') v = 0;
      if (v === null) continue; // k6 does not fail a threshold without samples
      if (!OPS[t.op](v, t.value)) failed.push(`${key}: ${expr} (got ${v})`);
    }
  }
  return failed;
}

// --- running a script -----------------------------------------------------

let runNo = 0;

function newRuntime(server, env) {
  return {
    id: ++runNo, server, env, vu: 0, iter: 0, inInit: true, checks: [], exceptions: [], slept: 0, metrics: new Map(),
    logs: [],
  };
}

// Loads a script fresh (its init context runs with __ENV = env) and returns its module.
async function load(script, server, env = {}) {
  rt = newRuntime(server, env);
  globalThis.__ENV = { ...env };
  globalThis.__VU = 0;
  globalThis.__ITER = 0;
  globalThis.open = () => { throw new Error('open() is not used by these scripts'); };
  const mod = await import(`${pathToFileURL(path.join(K6_DIR, script)).href}?run=${++runNo}`);
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
    vuModules.set(key, await import(`${pathToFileURL(path.join(K6_DIR, script)).href}?run=${++runNo}`));
    rt.inInit = false;
  }
  return vuModules.get(key);
}

async function iterate(script, vu, iterations, setupData) {
  const mod = await vuModule(script, vu);
  for (let i = 0; i < iterations; i++) {
    globalThis.__VU = vu;
    globalThis.__ITER = i;
    rt.vu = vu;
    rt.iter = i;
    mod.default(setupData);
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

function samples(name) {
  const m = rt.metrics.get(name);
  return m ? m.samples : [];
}

// --- real servers on loopback, with k6's blocking calls -------------------

// The worker does the network I/O (fetch, the `ws` package) on its own event
// loop; the main thread, like a k6 VU, blocks until a reply or a websocket
// event arrives: the worker posts to a MessagePort and raises a flag in
// shared memory, the main thread waits on the flag and reads the port
// synchronously.
const NET_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const WebSocket = require(workerData.wsPath);
const flag = new Int32Array(workerData.sab);
const port = workerData.port;
function send(m) { port.postMessage(m); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); }
const sockets = new Map();
parentPort.on('message', async (req) => {
  if (req.op === 'http') {
    const t0 = Date.now();
    try {
      const r = await fetch(req.url, { method: req.method, headers: req.headers,
        body: req.body === null ? undefined : req.body, signal: AbortSignal.timeout(req.timeoutMs) });
      const body = await r.text();
      send({ id: req.id, status: r.status, body, headers: Object.fromEntries(r.headers), durationMs: Date.now() - t0 });
    } catch (e) {
      send({ id: req.id, status: 0, body: '', error: String(e), durationMs: Date.now() - t0 });
    }
  } else if (req.op === 'wsOpen') {
    const ws = new WebSocket(req.url, { handshakeTimeout: req.timeoutMs });
    sockets.set(req.id, ws);
    ws.on('upgrade', (res) => send({ id: req.id, type: 'upgrade', status: res.statusCode }));
    ws.on('open', () => send({ id: req.id, type: 'open' }));
    ws.on('message', (data, isBinary) => send({ id: req.id, type: isBinary ? 'binaryMessage' : 'message', data: data.toString() }));
    ws.on('close', (code) => { sockets.delete(req.id); send({ id: req.id, type: 'close', code }); });
    ws.on('error', (e) => send({ id: req.id, type: 'error', error: String(e) }));
  } else if (req.op === 'wsSend') {
    const ws = sockets.get(req.id);
    if (ws) ws.send(req.data);
  } else if (req.op === 'wsClose') {
    const ws = sockets.get(req.id);
    if (ws) ws.close(1000);
  }
});
`;

class LiveNet {
  // timeoutMs bounds every HTTP request and every websocket session.
  constructor({ timeoutMs = 20000 } = {}) {
    this.timeoutMs = timeoutMs;
    this.sab = new SharedArrayBuffer(4);
    this.flag = new Int32Array(this.sab);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const wsPath = require.resolve('ws', { paths: [path.join(ROOT, 'tests')] });
    this.worker = new Worker(NET_WORKER, { eval: true, workerData: { sab: this.sab, port: port2, wsPath }, transferList: [port2] });
    this.worker.unref();
    this.inbox = [];
    this.nextId = 1;
    this.sessions = [];
  }

  // Messages for `id` that arrived within ms (at least one unless timed out).
  waitFor(id, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      Atomics.store(this.flag, 0, 0);
      let m;
      while ((m = receiveMessageOnPort(this.port)) !== undefined) this.inbox.push(m.message);
      const mine = this.inbox.filter((x) => x.id === id);
      if (mine.length) {
        this.inbox = this.inbox.filter((x) => x.id !== id);
        return mine;
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
    }
  }

  http(method, url, body, headers) {
    const id = this.nextId++;
    this.worker.postMessage({ op: 'http', id, method, url, body: body === undefined ? null : body, headers, timeoutMs: this.timeoutMs });
    const [r] = this.waitFor(id, this.timeoutMs + 1000);
    assert.ok(r, `${method} ${url}: no answer within ${this.timeoutMs} ms`);
    return r;
  }

  // One blocking k6 ws.connect(), in real time.
  ws(url, params, fn) {
    const id = this.nextId++;
    const sess = { url, fromClient: [], toClient: [], closed: false, status: 0, errors: [] };
    this.sessions.push(sess);
    const handlers = {};
    const timers = [];
    let seq = 0;
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
      setTimeout(f, ms) { timers.push({ t: Date.now() + ms, seq: seq++, f, interval: 0 }); },
      setInterval(f, ms) { timers.push({ t: Date.now() + ms, seq: seq++, f, interval: ms }); },
    };
    fn(socket);
    this.worker.postMessage({ op: 'wsOpen', id, url, timeoutMs: this.timeoutMs });
    const end = Date.now() + this.timeoutMs;
    let remoteClosed = false;
    while (!sess.closed && !remoteClosed) {
      assert.ok(Date.now() < end, `websocket session to ${url} still open after ${this.timeoutMs} ms`);
      timers.sort((a, b) => a.t - b.t || a.seq - b.seq);
      const wait = timers.length ? Math.max(0, timers[0].t - Date.now()) : end - Date.now();
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
      while (!sess.closed && timers.length && timers.sort((a, b) => a.t - b.t || a.seq - b.seq)[0].t <= Date.now()) {
        const tm = timers.shift();
        if (tm.interval) timers.push({ ...tm, t: tm.t + tm.interval, seq: seq++ });
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

  stop() { return this.worker.terminate(); }
}

module.exports = {
  ROOT, K6_DIR, SCRIPTS, COMPOSE_SECRET, FakeStatsync, LiveNet,
  load, iterate, quietConsole, failedChecks, samples, evaluateThresholds, parseThreshold,
  runtime: () => rt,
};
