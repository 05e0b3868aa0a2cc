// k6_syntax.test.js — the k6 scripts in tests/load/k6/ without k6 (it cannot
// be installed here): node loads each script as the ES module k6 would, with
// the k6 modules (k6, k6/http, k6/ws, k6/crypto, k6/encoding, k6/metrics,
// k6/execution) replaced by stubs that follow k6's documented API, then
//
//  - checks that it parses and links (an import of a name k6 does not export
//    fails here as it would in k6), exports options with valid thresholds on
//    metrics that exist, a default function and setup();
//  - runs setup() and iterations of the default function against an
//    in-process fake of the statsync gateway: REST routes, and a websocket
//    speaking Engine.IO v4 / Socket.IO v5 (open, ping, CONNECT with the token,
//    join, updates with acks and the sender's own push) in virtual time;
//  - verifies the tokens the scripts mint (HS256 with the compose default
//    secret) and evaluates the thresholds on what the run recorded: they pass
//    against a correct server and fail against broken ones (lost pushes,
//    lost increments, a wrong secret, errors).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { register } = require('node:module');

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
    timings: { duration: 1 },
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
  builtin('http_req_duration', 'trend', 1, tags);
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

function b64urlJson(o) { return Buffer.from(JSON.stringify(o)).toString('base64url'); }

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

// ==========================================================================

test('the compose file and the k6 scripts share the default development secret', async () => {
  assert.ok(COMPOSE_SECRET, 'compose/docker-compose.yml sets no ${STATSYNC_JWT_SECRET:-default}');
  const lib = await load('lib.js', new FakeStatsync());
  assert.equal(lib.DEV_SECRET, COMPOSE_SECRET);
  assert.equal(lib.SECRET, COMPOSE_SECRET);
  const lib2 = await load('lib.js', new FakeStatsync(), { STATSYNC_JWT_SECRET: 'another-secret-0123456789' });
  assert.equal(lib2.SECRET, 'another-secret-0123456789', 'STATSYNC_JWT_SECRET from the environment wins');
});

test('lib.js: tokens verify as HS256 JWTs and the Socket.IO codec round-trips', async () => {
  const server = new FakeStatsync();
  const lib = await load('lib.js', server);
  const tok = lib.mintToken('alice_1', 600);
  assert.equal(server.verify(tok), 'alice_1');
  const { header, claims } = server.tokens[0];
  assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
  assert.ok(claims.exp - claims.iat === 600 && Math.abs(claims.iat - Date.now() / 1000) < 5);
  assert.equal(new FakeStatsync({ secret: 'some-other-secret-xyz' }).verify(tok), null);

  assert.equal(lib.socketIoUrl('ws://h:3001/'), 'ws://h:3001/socket.io/?EIO=4&transport=websocket');
  assert.equal(lib.encodeConnect({ token: 't' }), '40{"token":"t"}');
  assert.equal(lib.encodeEvent('presence:join', { userId: 'u' }), '42["presence:join",{"userId":"u"}]');
  assert.equal(lib.encodeEvent('user:clientUpdate', { delta: { xp: 1 } }, 7), '427["user:clientUpdate",{"delta":{"xp":1}}]');
  assert.equal(lib.encodeDisconnect(), '41');
  let p = lib.decodePacket('0{"sid":"a","pingInterval":25000}');
  assert.equal(p.eio, '0');
  assert.equal(JSON.parse(p.data).pingInterval, 25000);
  p = lib.decodePacket('40{"sid":"x"}');
  assert.deepEqual([p.eio, p.sio, p.nsp, p.id, p.payload], ['4', '0', '/', null, { sid: 'x' }]);
  p = lib.decodePacket('4312[{"ok":true}]');
  assert.deepEqual([p.sio, p.id, p.payload], ['3', 12, [{ ok: true }]]);
  p = lib.decodePacket('42/admin,5["e",1]');
  assert.deepEqual([p.sio, p.nsp, p.id, p.payload], ['2', '/admin', 5, ['e', 1]]);
  p = lib.decodePacket('44{"message":"no"}');
  assert.deepEqual([p.sio, p.payload], ['4', { message: 'no' }]);
  assert.equal(lib.decodePacket('42[oops').bad, true);
  assert.deepEqual([lib.decodePacket('2').eio, lib.decodePacket('2').data], ['2', '']);
  for (let i = 0; i < 200; i++) {
    const uid = lib.userIdFor('sio', i);
    assert.match(uid, /^[A-Za-z0-9_-]{1,64}$/);
  }
  const long = await load('lib.js', server, { USER_PREFIX: 'x.y*'.repeat(30) });
  assert.match(long.userIdFor('rest', 12345), /^[A-Za-z0-9_-]{1,64}$/);
});

for (const script of SCRIPTS) {
  test(`${script}: parses, links against k6's modules, exports options with valid thresholds, setup and default`, async () => {
    const mod = await load(script, new FakeStatsync());
    assert.equal(typeof mod.default, 'function', 'no default function');
    assert.equal(typeof mod.setup, 'function', 'no setup(): the scripts check /health first');
    assert.ok(mod.options && typeof mod.options === 'object', 'no exported options');
    const th = mod.options.thresholds;
    assert.ok(th && Object.keys(th).length > 0, 'no thresholds');
    const keys = Object.keys(th);
    assert.ok(keys.some((k) => th[k].some((e) => /^\s*p\(99\)/.test(typeof e === 'string' ? e : e.threshold))),
      'no p(99) latency threshold');
    assert.ok(keys.some((k) => /failed|errors|session_ok|checks/.test(k)), 'no error-rate threshold');
    for (const [name, sc] of Object.entries(mod.options.scenarios || {})) {
      assert.ok(['constant-vus', 'ramping-vus', 'per-vu-iterations', 'shared-iterations', 'constant-arrival-rate',
        'ramping-arrival-rate', 'externally-controlled'].includes(sc.executor), `scenario ${name}: executor ${sc.executor}`);
      if (sc.exec) assert.equal(typeof mod[sc.exec], 'function', `scenario ${name}: exec ${sc.exec} is not exported`);
      if (sc.duration) assert.match(sc.duration, /^(\d+(ms|s|m|h))+$/, `scenario ${name}: duration ${sc.duration}`);
      if (sc.gracefulStop) assert.match(sc.gracefulStop, /^(\d+(ms|s|m|h))+$/);
      if (sc.vus !== undefined) assert.ok(Number.isInteger(sc.vus) && sc.vus > 0);
    }
    // Threshold syntax and metric types (without samples nothing is evaluated).
    evaluateThresholds(mod.options, rt.metrics);
    // The options follow the environment, so `k6 run -e VUS=...` works.
    const big = await load(script, new FakeStatsync(), { VUS: '7', DURATION: '2m', P99_MS: '42' });
    const sc = Object.values(big.options.scenarios)[0];
    assert.equal(sc.vus, 7);
    assert.equal(sc.duration, '2m');
    assert.ok(JSON.stringify(big.options.thresholds).includes('p(99)<42'));
  });
}

test('rest.js: an iteration patches and reads the own document; all checks and thresholds pass', async () => {
  const server = new FakeStatsync();
  const mod = await load('rest.js', server);
  const data = mod.setup();
  await quietConsole(async () => {
    await iterate('rest.js', 1, 3, data);
    await iterate('rest.js', 2, 2, data);
  });
  assert.deepEqual(failedChecks(), []);
  assert.deepEqual(rt.exceptions, []);
  assert.equal(server.log.filter((l) => l === 'POST /api/users/data/patch').length, 5);
  assert.equal(server.log.filter((l) => /^GET \/api\/users\/.+\/stats$/.test(l)).length, 5);
  assert.equal(server.docs.size, 2, 'one document per VU');
  assert.deepEqual([...server.docs.values()].map((d) => d.xp).sort(), [2, 3]);
  assert.ok(rt.slept > 0, 'a think time between rounds');
  assert.deepEqual(evaluateThresholds(mod.options, rt.metrics), []);
  assert.ok(samples('http_req_duration').some((s) => s.tags.op === 'patch'));
  assert.ok(samples('http_req_duration').some((s) => s.tags.op === 'read'));
});

test('rest.js: thresholds fail when the server errors or loses increments', async () => {
  let server = new FakeStatsync({ bugs: { status500: true } });
  let mod = await load('rest.js', server);
  await quietConsole(() => iterate('rest.js', 1, 3, mod.setup()));
  assert.ok(failedChecks().length > 0);
  let failed = evaluateThresholds(mod.options, rt.metrics);
  assert.ok(failed.some((f) => f.startsWith('http_req_failed')), failed.join('\n'));

  server = new FakeStatsync({ bugs: { lostIncrement: true } });
  mod = await load('rest.js', server);
  await quietConsole(() => iterate('rest.js', 1, 3, mod.setup()));
  failed = evaluateThresholds(mod.options, rt.metrics);
  assert.ok(failed.some((f) => f.startsWith('statsync_lost_increments')), failed.join('\n'));

  server = new FakeStatsync({ secret: 'not-the-compose-secret-0000' });
  mod = await load('rest.js', server);
  await quietConsole(() => iterate('rest.js', 1, 1, mod.setup()));
  assert.ok(failedChecks().includes('patch: 200'));
});

test('rest.js: setup() stops the run when the gateway is not healthy', async () => {
  const server = new FakeStatsync();
  server.http = () => ({ status: 503, body: { status: 'DEGRADED' } });
  const mod = await load('rest.js', server);
  assert.throws(() => mod.setup(), /not healthy/);
});

test('socketio.js: a session speaks Engine.IO/Socket.IO and sees its own pushes; thresholds pass', async () => {
  const server = new FakeStatsync();
  const mod = await load('socketio.js', server, { UPDATES: '5' });
  const data = mod.setup();
  await quietConsole(async () => {
    await iterate('socketio.js', 1, 2, data);
    await iterate('socketio.js', 2, 1, data);
  });
  assert.deepEqual(rt.logs, []);
  assert.deepEqual(failedChecks(), []);
  assert.equal(server.sessions.length, 3);
  for (const s of server.sessions) {
    assert.ok(s.user, 'CONNECT carried a valid token');
    assert.match(s.fromClient[0], /^40\{"token":"[^"]+"\}$/, 'the first frame is CONNECT with {token}');
    assert.match(s.fromClient[1], /^42\["presence:join",\{"userId":"[^"]+"\}\]$/);
    const updates = s.fromClient.filter((f) => /^42\d+\["user:clientUpdate"/.test(f));
    assert.equal(updates.length, 5);
    const ids = updates.map((f) => Number(/^42(\d+)/.exec(f)[1]));
    assert.equal(new Set(ids).size, 5, 'a distinct ack id per update');
    const ops = updates.map((f) => JSON.parse(f.replace(/^42\d+/, ''))[1].opId);
    assert.equal(new Set(ops).size, 5, 'a distinct opId per update');
    assert.equal(s.pongs, 1, 'the server ping was answered with 3');
    assert.ok(s.disconnected, 'the session ends with a Socket.IO DISCONNECT (41)');
  }
  assert.deepEqual([...server.docs.values()].map((d) => d.xp).sort(), [10, 5]);
  assert.equal(samples('sio_push_latency').length, 15);
  assert.equal(samples('sio_ack_latency').length, 15);
  assert.equal(samples('sio_connect_duration').length, 3);
  assert.deepEqual(samples('sio_session_ok').map((s) => s.value), [1, 1, 1]);
  assert.deepEqual(evaluateThresholds(mod.options, rt.metrics), []);
});

test('socketio.js: thresholds fail when pushes are lost, wrong, refused, or the token is rejected', async () => {
  const cases = [
    [{ bugs: { noPush: true } }, /timed out/],
    [{ bugs: { wrongXp: true } }, /push shows xp/],
    [{ bugs: { badAck: true } }, /refused/],
    [{ secret: 'not-the-compose-secret-0000' }, /CONNECT refused/],
  ];
  for (const [opts, why] of cases) {
    const server = new FakeStatsync(opts);
    const mod = await load('socketio.js', server, { UPDATES: '3' });
    await quietConsole(() => iterate('socketio.js', 1, 1, mod.setup()));
    assert.ok(rt.logs.some((l) => why.test(l)), `${JSON.stringify(opts)}: expected ${why}, logged ${rt.logs}`);
    const failed = evaluateThresholds(mod.options, rt.metrics);
    assert.ok(failed.some((f) => f.startsWith('sio_session_ok')), `${JSON.stringify(opts)}: ${failed}`);
    assert.ok(failed.some((f) => f.startsWith('checks')), `${JSON.stringify(opts)}: ${failed}`);
  }
});
