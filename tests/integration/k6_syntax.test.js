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
const h = require('./k6_harness');

const { COMPOSE_SECRET, FakeStatsync, SCRIPTS, evaluateThresholds, failedChecks, iterate, load, quietConsole, samples } = h;
const rt = () => h.runtime();

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
    evaluateThresholds(mod.options, rt().metrics);
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
  assert.deepEqual(rt().exceptions, []);
  assert.equal(server.log.filter((l) => l === 'POST /api/users/data/patch').length, 5);
  assert.equal(server.log.filter((l) => /^GET \/api\/users\/.+\/stats$/.test(l)).length, 5);
  assert.equal(server.docs.size, 2, 'one document per VU');
  assert.deepEqual([...server.docs.values()].map((d) => d.xp).sort(), [2, 3]);
  assert.ok(rt().slept > 0, 'a think time between rounds');
  assert.deepEqual(evaluateThresholds(mod.options, rt().metrics), []);
  assert.ok(samples('http_req_duration').some((s) => s.tags.op === 'patch'));
  assert.ok(samples('http_req_duration').some((s) => s.tags.op === 'read'));
});

test('rest.js: thresholds fail when the server errors or loses increments', async () => {
  let server = new FakeStatsync({ bugs: { status500: true } });
  let mod = await load('rest.js', server);
  await quietConsole(() => iterate('rest.js', 1, 3, mod.setup()));
  assert.ok(failedChecks().length > 0);
  let failed = evaluateThresholds(mod.options, rt().metrics);
  assert.ok(failed.some((f) => f.startsWith('http_req_failed')), failed.join('\n'));

  server = new FakeStatsync({ bugs: { lostIncrement: true } });
  mod = await load('rest.js', server);
  await quietConsole(() => iterate('rest.js', 1, 3, mod.setup()));
  failed = evaluateThresholds(mod.options, rt().metrics);
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
  assert.deepEqual(rt().logs, []);
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
  assert.deepEqual(evaluateThresholds(mod.options, rt().metrics), []);
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
    assert.ok(rt().logs.some((l) => why.test(l)), `${JSON.stringify(opts)}: expected ${why}, logged ${rt().logs}`);
    const failed = evaluateThresholds(mod.options, rt().metrics);
    assert.ok(failed.some((f) => f.startsWith('sio_session_ok')), `${JSON.stringify(opts)}: ${failed}`);
    assert.ok(failed.some((f) => f.startsWith('checks')), `${JSON.stringify(opts)}: ${failed}`);
  }
});
