// rest_api.test.js — every REST route with good and bad input, against the
// real gateway, stats-service, presence-service and nats-server.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System } = require('../lib/system');
const { rawRequest, parsePrometheus } = require('./rest_helpers');

let sys;
let n = 0;
const fresh = (p = 'u') => `${p}${process.pid}x${++n}`; // a never-written userId

test.before(async () => { sys = await System.start(); });
test.after(async () => { if (sys) await sys.stop(); });

function expectError(r, status, code) {
  assert.equal(r.status, status, `want ${status} ${code}, got ${r.status} ${r.text}`);
  assert.equal(typeof r.body, 'object', `error body is JSON: ${r.text}`);
  assert.equal(r.body.error.code, code, r.text);
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(r.body.error.message.length > 0);
}

const patch = (user, body, opts = {}) => sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body, ...opts });
const update = (user, body, opts = {}) => sys.http('POST', '/api/users/updateStats', { token: sys.token(user), body, ...opts });
const get = (user, opts = {}) => sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user), ...opts });

test('GET stats of a never-written user gives the defaults', async () => {
  const u = fresh();
  const r = await get(u);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(r.body, {
    userId: u, xp: 0, hearts: 5, diamonds: 0, level: 1, streak: 0, maxStreak: 0, accuracy: 0,
    completedQuestions: 0, correctAnswers: 0, wrongAnswers: 0, totalQuestions: 0,
    totalTimeSpent: 0, timePerQuestion: [], lastGameResults: null,
    updatedAt: '1970-01-01T00:00:00.000Z', version: 0,
  });
});

test('patch adds, __set overrides, arrays append, results replace', async () => {
  const u = fresh();
  let r = await patch(u, { xp: 10, hearts: -1, diamonds: 5, timePerQuestion: [2.5, 3], lastGameResults: { score: 3 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.success, true);
  assert.equal(r.body.stats.userId, u);
  assert.equal(r.body.stats.xp, 10);
  assert.equal(r.body.stats.hearts, 4);
  assert.equal(r.body.stats.diamonds, 5);
  assert.deepEqual(r.body.stats.timePerQuestion, [2.5, 3]);
  assert.deepEqual(r.body.stats.lastGameResults, { score: 3 });
  assert.equal(r.body.stats.version, 1);
  assert.match(r.body.stats.updatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  r = await patch(u, { xp: 50, timePerQuestion: [4], __set: { hearts: 5, streak: 3, level: 2 }, userId: u });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 60);
  assert.equal(r.body.stats.hearts, 5);
  assert.equal(r.body.stats.streak, 3);
  assert.equal(r.body.stats.maxStreak, 3);
  assert.equal(r.body.stats.level, 2);
  assert.deepEqual(r.body.stats.timePerQuestion, [2.5, 3, 4]);
  assert.equal(r.body.stats.version, 2);

  const g = await get(u);
  assert.equal(g.status, 200);
  assert.deepEqual(g.body, r.body.stats);
});

test('patch accepts a charset and integral reals', async () => {
  const u = fresh();
  const r = await patch(u, undefined, { raw: '{"xp":10.0,"totalTimeSpent":1.5}', headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 10);
  assert.equal(r.body.stats.totalTimeSpent, 1.5);
});

test('patch refuses bad bodies and changes nothing', async () => {
  const u = fresh();
  await patch(u, { xp: 1 });
  const bad = [
    [undefined, '{"xp":1', 'invalid_json'],
    [undefined, '{"xp":1}{"xp":2}', 'invalid_json'],
    [undefined, '{"xp":1,"xp":2}', 'invalid_json'],
    [undefined, '[1,2]', 'invalid_json'],
    [undefined, '"xp"', 'invalid_json'],
    [undefined, '', 'invalid_json'],
    [undefined, '{"xp":18446744073709551616}', 'invalid_json'],
    [{}, undefined, 'bad_request'],
    [{ gems: 1 }, undefined, 'unknown_field'],
    [{ xp: 1, __set: { gems: 1 } }, undefined, 'unknown_field'],
    [{ xp: 1, updatedAt: '2024-01-01T00:00:00Z' }, undefined, 'unknown_field'],
    [{ xp: '1' }, undefined, 'invalid_type'],
    [{ xp: null }, undefined, 'invalid_type'],
    [{ xp: true }, undefined, 'invalid_type'],
    [{ xp: 1.5 }, undefined, 'invalid_type'],
    [{ xp: 9007199254740992 }, undefined, 'invalid_value'],
    [{ hearts: -9007199254740992 }, undefined, 'invalid_value'],
    [{ totalTimeSpent: 'x' }, undefined, 'invalid_type'],
    [{ timePerQuestion: [1, 'x'] }, undefined, 'invalid_type'],
    [{ timePerQuestion: new Array(101).fill(1) }, undefined, 'invalid_value'],
    [{ lastGameResults: [1] }, undefined, 'invalid_type'],
    [{ lastGameResults: { big: 'x'.repeat(17000) } }, undefined, 'invalid_value'],
    [{ __set: null }, undefined, 'invalid_type'],
    [{ xp: 1, hearts: 'oops' }, undefined, 'invalid_type'],
    [{ xp: 1, userId: ' a' }, undefined, 'invalid_user_id'],
    [{ xp: 1, userId: 5 }, undefined, 'invalid_type'],
  ];
  for (const [body, raw, code] of bad) {
    const r = await patch(u, body, raw !== undefined ? { raw, headers: { 'content-type': 'application/json' } } : {});
    expectError(r, 400, code);
  }
  const g = await get(u);
  assert.equal(g.body.xp, 1);
  assert.equal(g.body.version, 1);
});

test('patch: someone else\'s userId is 403', async () => {
  const u = fresh();
  const r = await patch(u, { xp: 1, userId: fresh() });
  expectError(r, 403, 'forbidden');
  assert.equal((await get(u)).body.version, 0);
});

test('GET: someone else\'s stats 403, bad userIds 400 (before NATS)', async () => {
  const u = fresh();
  expectError(await sys.http('GET', `/api/users/${fresh()}/stats`, { token: sys.token(u) }), 403, 'forbidden');
  for (const bad of ['%20a', 'a%20', 'a%E3%80%80', 'x'.repeat(129), '%00', 'a%00b', 'a%01b', 'a%7F', 'a%C2%85', '%FF', 'a%ED%A0%80']) {
    const r = await sys.http('GET', `/api/users/${bad}/stats`, { token: sys.token(u) });
    assert.equal(r.status, 400, `${bad}: ${r.text}`);
    expectError(r, 400, 'invalid_user_id');
  }
  expectError(await sys.http('GET', '/api/users//stats', { token: sys.token(u) }), 400, 'invalid_user_id');
  const r = await sys.http('GET', `/api/users/${'x'.repeat(128)}/stats`, { token: sys.token('x'.repeat(128)) });
  assert.equal(r.status, 200, r.text);
});

test('auth: missing, malformed, expired, wrong-secret, alg none, HS512 tokens are 401', async () => {
  const u = fresh();
  const now = Math.floor(Date.now() / 1000);
  const tokens = {
    missing: null,
    garbage: 'not-a-token',
    twoParts: 'abc.def',
    expired: sys.token(u, { exp: now - 10 }),
    noExp: sys.token(u, { exp: null }),
    wrongSecret: sys.token(u, { secret: 'some-other-secret-0123456789' }),
    algNone: sys.token(u, { alg: 'none' }),
    hs512: sys.token(u, { alg: 'HS512' }),
    hs384: sys.token(u, { alg: 'HS384' }),
    badSub: sys.token(' a'),
    numericSub: sys.token(u, { claims: { sub: 42, exp: now + 60 } }),
    stringExp: sys.token(u, { claims: { sub: u, exp: String(now + 60) } }),
  };
  const calls = [
    (t) => sys.http('GET', `/api/users/${u}/stats`, { token: t }),
    (t) => sys.http('POST', '/api/users/data/patch', { token: t, body: { xp: 1 } }),
    (t) => sys.http('POST', '/api/users/updateStats', { token: t, body: { stats: { xp: 1, updatedAt: new Date().toISOString() } } }),
  ];
  for (const [name, t] of Object.entries(tokens)) {
    for (const call of calls) {
      const r = await call(t);
      assert.equal(r.status, 401, `${name}: ${r.status} ${r.text}`);
      assert.equal(r.body.error.code, 'unauthorized', name);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
  }
  // other schemes and an empty bearer
  for (const h of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', sys.token(u)]) {
    const r = await sys.http('GET', `/api/users/${u}/stats`, { headers: { authorization: h } });
    expectError(r, 401, 'unauthorized');
  }
  assert.equal((await get(u)).body.version, 0);
});

test('415 for bodies that are not application/json', async () => {
  const u = fresh();
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp', 'multipart/form-data; boundary=x']) {
    const r = await patch(u, undefined, { raw: '{"xp":1}', headers: { 'content-type': ct } });
    expectError(r, 415, 'unsupported_media_type');
  }
  const r = await rawRequest(sys.gw.apiPort, {
    path: '/api/users/data/patch', headers: { authorization: `Bearer ${sys.token(u)}`, 'content-length': 8 }, chunks: ['{"xp":1}'],
  });
  assert.equal(r.status, 415);
  assert.equal((await get(u)).body.version, 0);
});

test('413 for bodies over 1 MB, with and without Content-Length', async () => {
  const u = fresh();
  const auth = { authorization: `Bearer ${sys.token(u)}`, 'content-type': 'application/json' };
  const big = `{"xp":1,"lastGameResults":{"a":"${'x'.repeat(1100 * 1024)}"}}`;
  // declared length: refused before the body is read
  let r = await rawRequest(sys.gw.apiPort, { path: '/api/users/data/patch', headers: { ...auth, 'content-length': Buffer.byteLength(big) }, chunks: [big] });
  assert.equal(r.status, 413, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'payload_too_large');
  // chunked, no Content-Length: counted while it arrives
  const pieces = [];
  for (let i = 0; i < big.length; i += 64 * 1024) pieces.push(big.slice(i, i + 64 * 1024));
  r = await rawRequest(sys.gw.apiPort, { path: '/api/users/data/patch', headers: auth, chunks: pieces, chunked: true });
  assert.equal(r.status, 413, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'payload_too_large');
  // and through fetch with a streamed body
  const stream = new ReadableStream({
    start(c) { for (const p of pieces) c.enqueue(new TextEncoder().encode(p)); c.close(); },
  });
  const f = await fetch(`${sys.apiUrl}/api/users/updateStats`, { method: 'POST', headers: auth, body: stream, duplex: 'half' })
    .then(async (res) => ({ status: res.status, body: await res.json() }))
    .catch((e) => ({ status: 0, error: e }));
  assert.equal(f.status, 413);
  // just under the limit is read and judged on content (lastGameResults > 16 KB)
  const under = `{"xp":1,"lastGameResults":{"a":"${'x'.repeat(1000 * 1024)}"}}`;
  r = await rawRequest(sys.gw.apiPort, { path: '/api/users/data/patch', headers: { ...auth, 'content-length': Buffer.byteLength(under) }, chunks: [under] });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'invalid_value');
  assert.equal((await get(u)).body.version, 0);
});

test('JSON nested deeper than the limit is 400; at the limit it is fine', async () => {
  const u = fresh();
  const nest = (d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`;
  // top-level object = depth 1, lastGameResults object = depth 2
  let r = await patch(u, undefined, { raw: `{"lastGameResults":${nest(31)}}`, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  r = await patch(u, undefined, { raw: `{"lastGameResults":${nest(32)}}`, headers: { 'content-type': 'application/json' } });
  expectError(r, 400, 'invalid_json');
  r = await patch(u, undefined, { raw: `{"lastGameResults":${'['.repeat(100000)}`, headers: { 'content-type': 'application/json' } });
  expectError(r, 400, 'invalid_json');
  assert.equal((await get(u)).body.version, 1);
});

test('404 for unknown routes, 405 with Allow for wrong methods', async () => {
  const u = fresh();
  for (const p of ['/', '/api', '/api/users', '/api/users/x/stats/more', '/health/', '/api/users/data/patch/x', '/API/users/x/stats']) {
    expectError(await sys.http('GET', p, { token: sys.token(u) }), 404, 'not_found');
  }
  const cases = [
    ['GET', '/api/users/data/patch', 'POST'],
    ['PUT', '/api/users/data/patch', 'POST'],
    ['GET', '/api/users/updateStats', 'POST'],
    ['POST', `/api/users/${u}/stats`, 'GET'],
    ['DELETE', `/api/users/${u}/stats`, 'GET'],
    ['POST', '/health', 'GET'],
    ['POST', '/metrics', 'GET'],
  ];
  for (const [m, p, allow] of cases) {
    const r = await sys.http(m, p, { token: sys.token(u) });
    expectError(r, 405, 'method_not_allowed');
    assert.equal(r.headers.get('allow'), allow);
  }
});

test('Idempotency-Key must be 1..128 printable ASCII', async () => {
  const u = fresh();
  let r = await patch(u, { xp: 1 }, { headers: { 'idempotency-key': 'k'.repeat(129) } });
  expectError(r, 400, 'bad_request');
  r = await rawRequest(sys.gw.apiPort, {
    path: '/api/users/data/patch',
    headers: { authorization: `Bearer ${sys.token(u)}`, 'content-type': 'application/json', 'content-length': 8, 'idempotency-key': 'caf\u00e9' },
    chunks: ['{"xp":1}'],
  });
  assert.equal(r.status, 400);
  r = await patch(u, { xp: 1 }, { headers: { 'idempotency-key': 'k'.repeat(128) } });
  assert.equal(r.status, 200, r.text);
});

test('updateStats: LWW — newer stored, older and equal refused 409 with the stored document', async () => {
  const u = fresh();
  const t0 = Date.now() - 60000;
  const iso = (ms) => new Date(ms).toISOString();
  let r = await update(u, { userId: u, stats: { xp: 100, hearts: 3, level: 2, timePerQuestion: [1, 2], lastGameResults: { w: 1 }, updatedAt: iso(t0) } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.success, true);
  assert.equal(r.body.stats.xp, 100);
  assert.equal(r.body.stats.updatedAt, iso(t0));
  const stored = r.body.stats;

  for (const older of [t0 - 1000, t0]) {
    r = await update(u, { userId: u, stats: { xp: 1, updatedAt: iso(older) } });
    expectError(r, 409, 'conflict');
    assert.deepEqual(r.body.stats, stored);
  }
  assert.deepEqual((await get(u)).body, stored);

  r = await update(u, { userId: u, stats: { xp: 7, updatedAt: iso(t0 + 1) } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 7);
  assert.equal(r.body.stats.hearts, 3); // not given: kept
  assert.equal(r.body.stats.version, stored.version + 1);

  // the document a client got back is a valid full write (userId, version ignored)
  const doc = { ...r.body.stats, xp: 8, updatedAt: iso(t0 + 2) };
  r = await update(u, { userId: u, stats: doc });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 8);
});

test('updateStats refuses bad bodies', async () => {
  const u = fresh();
  const ok = new Date().toISOString();
  const bad = [
    [{ userId: u }, 400, 'bad_request'],
    [{ userId: u, stats: null }, 400, 'invalid_type'],
    [{ userId: u, stats: [] }, 400, 'invalid_type'],
    [{ userId: u, stats: { xp: 1 } }, 400, 'bad_request'],
    [{ userId: u, stats: { xp: 1, updatedAt: 'yesterday' } }, 400, 'invalid_value'],
    [{ userId: u, stats: { xp: 1, updatedAt: 1700000000000 } }, 400, 'invalid_type'],
    [{ userId: u, stats: { xp: 'x', updatedAt: ok } }, 400, 'invalid_type'],
    [{ userId: u, stats: { gems: 1, updatedAt: ok } }, 400, 'unknown_field'],
    [{ userId: 'a\u0001', stats: { xp: 1, updatedAt: ok } }, 400, 'invalid_user_id'],
    [{ userId: 7, stats: { xp: 1, updatedAt: ok } }, 400, 'invalid_type'],
    [{ userId: fresh(), stats: { xp: 1, updatedAt: ok } }, 403, 'forbidden'],
    [{ userId: u, stats: { userId: fresh(), xp: 1, updatedAt: ok } }, 403, 'forbidden'],
    [{ userId: u, stats: { xp: 1, updatedAt: new Date(Date.now() + 3600e3).toISOString() } }, 400, null],
  ];
  for (const [body, status, code] of bad) {
    const r = await update(u, body);
    assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 80)} -> ${r.status} ${r.text}`);
    if (code) assert.equal(r.body.error.code, code, r.text);
    else assert.ok(r.body.error.code);
  }
  assert.equal((await get(u)).body.version, 0);
});

test('/health answers OK with the contract fields', async () => {
  const r = await sys.http('GET', '/health');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'OK');
  assert.match(r.body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  for (const k of ['connectedClients', 'connectedUsers', 'totalUsers', 'uptime']) {
    assert.equal(typeof r.body[k], 'number', k);
  }
  assert.ok(r.body.totalUsers >= 1);
  assert.equal(r.body.services.nats, 'OK');
  assert.equal(r.body.services.stats.status, 'OK');
  assert.equal(r.body.services.presence.status, 'OK');
});

test('/metrics parses as Prometheus text and counts requests', async () => {
  const r = await sys.http('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const { samples, types } = parsePrometheus(r.text);
  const find = (name, labels = {}) => samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(find('statsync_http_requests_total', { route: 'patch', status: '200' }).value >= 1);
  assert.ok(find('statsync_http_requests_total', { route: 'patch', status: '400' }).value >= 1);
  assert.ok(find('statsync_http_requests_total', { route: 'unknown', status: '404' }));
  assert.equal(types.get('statsync_http_request_duration_seconds'), 'histogram');
  assert.equal(types.get('statsync_nats_request_duration_seconds'), 'histogram');
  const inf = find('statsync_http_request_duration_seconds_bucket', { route: 'patch', le: '+Inf' });
  const count = find('statsync_http_request_duration_seconds_count', { route: 'patch' });
  assert.ok(inf && count && inf.value === count.value && count.value >= 1);
  assert.ok(find('statsync_nats_request_duration_seconds_count', { op: 'stats_apply' }).value >= 1);
});
