// request_ids.test.js — issue 18, item 5: one id per client request, from
// the client (or the gateway) through NATS into the stats-service's log.
//
// - REST: a sane X-Request-Id (1-64 of [A-Za-z0-9._-]) is honoured, anything
//   else replaced by a fresh id; every response carries it; the gateway
//   writes one access line per request at info (method, route name — never
//   the path —, status, duration, request id, client address); the
//   stats-service's lines about the request (a refusal, "mutation applied"
//   at debug) name the same id.
// - Socket events: each gets "<socket id>-<n>", carried the same way.
// Real binaries, real nats-server; every wait bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { System, waitFor } = require('../lib/system');

const SANE = /^[A-Za-z0-9._-]{1,64}$/;

// The JSON lines of a process's log so far.
function lines(proc) {
  return proc.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

// Waits (bounded) for a line of proc's log matching every field of want.
async function lineWith(proc, want, what) {
  return waitFor(`${proc.name}: ${what}`, () => lines(proc).find((l) => Object.entries(want).every(([k, v]) => (v instanceof RegExp ? v.test(String(l[k])) : l[k] === v))), 10000);
}

let sys;
test.before(async () => {
  sys = await System.start(); // every service at debug (tests/lib/system.js)
});
test.after(async () => { if (sys) await sys.stop(); });

test('REST: the client\'s X-Request-Id comes back and names the gateway\'s access line and the stats-service\'s refusal', async () => {
  const user = `rid${process.pid}a`;
  const id = 'client-req.42_A';
  const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { diamonds: -5 }, headers: { 'x-request-id': id } });
  assert.equal(r.status, 409);
  assert.equal(r.body.error.code, 'insufficient_funds');
  assert.equal(r.headers.get('x-request-id'), id);
  const access = await lineWith(sys.gw, { msg: 'http request', request_id: id }, 'the access line');
  assert.equal(access.level, 'info');
  assert.equal(access.method, 'POST');
  assert.equal(access.route, 'patch');
  assert.equal(access.status, 409);
  assert.equal(typeof access.duration_ms, 'number');
  assert.ok(access.duration_ms >= 0 && access.duration_ms < 10000);
  assert.equal(access.client, '127.0.0.1');
  const refused = await lineWith(sys.stats, { msg: 'mutation refused', request_id: id }, 'the refusal with the id');
  assert.equal(refused.code, 'insufficient_funds');
  assert.equal(refused.user, user);
});

test('REST: an applied mutation is logged at debug with its id; a read\'s access line names the route, not the path', async () => {
  const user = `rid${process.pid}b`;
  const id = 'applied-1';
  const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 3 }, headers: { 'x-request-id': id } });
  assert.equal(r.status, 200);
  const applied = await lineWith(sys.stats, { msg: 'mutation applied', request_id: id }, '"mutation applied"');
  assert.equal(applied.level, 'debug');
  assert.equal(applied.user, user);
  assert.equal(applied.version, r.body.stats.version);

  const g = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user), headers: { 'x-request-id': 'read-1' } });
  assert.equal(g.status, 200);
  const access = await lineWith(sys.gw, { msg: 'http request', request_id: 'read-1' }, 'the read\'s access line');
  assert.equal(access.method, 'GET');
  assert.equal(access.status, 200);
  assert.ok(!JSON.stringify(access).includes(user), `no userId in the access line: ${JSON.stringify(access)}`);
});

test('REST: an insane or missing X-Request-Id is replaced by a fresh one, which travels the same way', async () => {
  const user = `rid${process.pid}c`;
  const bad = ['has space', 'x'.repeat(65), 'quote"d', 'slash/ed', 'ü', ''];
  const ids = new Set();
  for (const b of [...bad, undefined]) {
    const headers = b === undefined ? {} : { 'x-request-id': b };
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { diamonds: -1 }, headers });
    assert.equal(r.status, 409);
    const got = r.headers.get('x-request-id');
    assert.match(got, SANE, `a sane id for ${JSON.stringify(b)}`);
    assert.notEqual(got, b);
    ids.add(got);
    await lineWith(sys.gw, { msg: 'http request', request_id: got }, `the access line of ${got}`);
    await lineWith(sys.stats, { msg: 'mutation refused', request_id: got }, `the refusal of ${got}`);
  }
  assert.equal(ids.size, bad.length + 1, 'a new id each time');
});

test('REST: every response carries the id, whatever answered it', async () => {
  const cases = [
    ['GET', '/no/such/route', {}],
    ['GET', '/api/users/someone/stats', {}], // 401: no token
    ['GET', '/metrics', {}],
    ['GET', '/health', {}],
    ['GET', '/livez', {}],
    ['DELETE', '/api/users/data/patch', {}], // 405
  ];
  for (const [method, path] of cases) {
    const id = `every-${method}-${path.replace(/[^A-Za-z0-9]/g, '')}`;
    const r = await sys.http(method, path, { headers: { 'x-request-id': id } });
    assert.equal(r.headers.get('x-request-id'), id, `${method} ${path} (${r.status})`);
    const access = await lineWith(sys.gw, { msg: 'http request', request_id: id }, `the access line of ${method} ${path}`);
    assert.equal(access.status, r.status);
    assert.ok(!String(access.route).includes('/'), `a route name, not a path: ${access.route}`);
  }
});

test('REST: the access line is written at info (a gateway at info level writes it)', async () => {
  const gw = await sys.addGateway({ STATSYNC_LOG_LEVEL: 'info' });
  const r = await sys.http('GET', '/livez', { gw, headers: { 'x-request-id': 'at-info' } });
  assert.equal(r.status, 200);
  const access = await lineWith(gw, { msg: 'http request', request_id: 'at-info' }, 'the access line at info');
  assert.equal(access.level, 'info');
  assert.equal(access.route, 'livez');
});

test('socket events: "<socket id>-<n>" reaches the stats-service (refused and applied) and the gateway\'s own lines', async () => {
  const user = `rid${process.pid}s`;
  const sock = io(sys.socketUrl, { auth: { token: sys.token(user) }, transports: ['websocket'], reconnection: false });
  try {
    await new Promise((resolve, reject) => { sock.on('connect', resolve); sock.on('connect_error', reject); });
    assert.match(sock.id, SANE);
    const refused = await sock.timeout(5000).emitWithAck('user:clientUpdate', { opId: 'o1', delta: { diamonds: -2 } });
    assert.equal(refused.ok, false);
    assert.equal(refused.error.code, 'insufficient_funds');
    const r1 = await lineWith(sys.stats, { msg: 'mutation refused', request_id: `${sock.id}-1` }, 'the first event\'s refusal');
    assert.equal(r1.user, user);

    const ok = await sock.timeout(5000).emitWithAck('user:clientUpdate', { opId: 'o2', delta: { xp: 1 } });
    assert.equal(ok.ok, true);
    const a2 = await lineWith(sys.stats, { msg: 'mutation applied', request_id: `${sock.id}-2` }, 'the second event applied');
    assert.equal(a2.version, ok.stats.version);

    const unknown = await sock.timeout(5000).emitWithAck('no:such:event', {});
    assert.equal(unknown.ok, false);
    await lineWith(sys.gw, { msg: 'socket request refused', request_id: `${sock.id}-3` }, 'the gateway\'s refusal of the third event');
  } finally {
    sock.close();
  }
});
