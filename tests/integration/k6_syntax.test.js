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
//    lost increments, a wrong secret, errors);
//  - runs scenarios.js as `k6 run` would (the harness's executors, virtual
//    time): the open model, several devices per user and the soak each pass
//    against a correct fake with exact accounting, and each of their
//    thresholds fails — k6 would exit 99 — against a fake that misbehaves:
//    a slow one (the open model drops iterations), one that drops a push to
//    one device, loses increments, refuses connections, grows its RSS, rate
//    limits. And the harness's executors themselves keep k6's schedule.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./k6_harness');

const fs = require('node:fs');
const path = require('node:path');

const { COMPOSE_SECRET, FakeStatsync, K6_DIR, SCRIPTS, evaluateThresholds, failedChecks, iterate, load, quietConsole, run,
  samples, sum } = h;
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
  test(`${script}: parses, links against k6's modules, exports options with valid thresholds, setup and exec functions`, async () => {
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
    assert.ok(keys.some((k) => /^statsync_rate_limited/.test(k)), 'no threshold on rate-limit refusals');
    // executors, exec functions, durations: what k6 validates before a run
    const scenarios = h.scenariosOf(mod.options, mod);
    assert.ok(scenarios.length > 0);
    // Threshold syntax and metric types (without samples nothing is evaluated).
    evaluateThresholds(mod.options, h.runtime().metrics);
  });
}

for (const script of ['rest.js', 'socketio.js']) {
  test(`${script}: the options follow the environment (k6 run -e VUS=...)`, async () => {
    const big = await load(script, new FakeStatsync(), { VUS: '7', DURATION: '2m', P99_MS: '42' });
    const sc = Object.values(big.options.scenarios)[0];
    assert.equal(sc.vus, 7);
    assert.equal(sc.duration, '2m');
    assert.ok(JSON.stringify(big.options.thresholds).includes('p(99)<42'));
  });
}

test('the scripts take their timers from k6/timers (node\'s own would run outside the VU\'s event loop here)', () => {
  for (const f of fs.readdirSync(K6_DIR).filter((x) => x.endsWith('.js'))) {
    const src = fs.readFileSync(path.join(K6_DIR, f), 'utf8');
    const bare = /(^|[^.\w])(setTimeout|setInterval|clearTimeout|clearInterval)\s*\(/m.test(src.replace(/^\s*\/\/.*$/gm, ''));
    if (bare) assert.match(src, /from 'k6\/timers'/, `${f} uses a global timer without importing it from k6/timers`);
  }
});

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

// ==========================================================================
// scenarios.js, run as `k6 run` runs it (virtual time)

const OPEN = { SCENARIO: 'open', DURATION: '10s', RATE: '10', PRE_VUS: '5', MAX_VUS: '20', SIO_RATE: '4', SIO_PRE_VUS: '4', SIO_MAX_VUS: '20' };
const DEVICES = { SCENARIO: 'devices', DURATION: '10s', DEVICES_VUS: '3', UPDATES: '4' };
const SOAK = { SCENARIO: 'soak', SOAK_DURATION: '2m', SOAK_RATE: '2', SOAK_VUS: '3', SOAK_UPDATES: '10', SOAK_THINK_MS: '500', SOAK_WATCH_EVERY: '10s' };

// The xp of every user the fake holds equals the writes acknowledged.
function exactAccounting(server, r, scenario) {
  const prefix = `k6-${scenario}-`;
  const xp = [...server.docs.values()].filter((d) => d.userId.startsWith(prefix)).reduce((a, d) => a + d.xp, 0);
  const acked = sum('statsync_acked_writes', { scenario });
  assert.ok(acked > 0, `${scenario}: nothing acknowledged`);
  assert.equal(xp, acked, `${scenario}: the fake holds ${xp} xp, ${acked} writes were acknowledged`);
  assert.equal(sum('statsync_xp_mismatch', { scenario }), 0);
}

test('scenarios.js: SCENARIO selects the scenarios, each with thresholds of its own; an unknown one is refused', async () => {
  const want = {
    open: ['open_rest', 'open_sio'], devices: ['devices'], soak: ['soak_rest', 'soak_sio', 'soak_watch'],
    'open,devices': ['open_rest', 'open_sio', 'devices'], open_sio: ['open_sio'],
  };
  for (const [sel, names] of Object.entries(want)) {
    const mod = await load('scenarios.js', new FakeStatsync(), { SCENARIO: sel });
    assert.deepEqual(Object.keys(mod.options.scenarios), names, sel);
    const keys = Object.keys(mod.options.thresholds);
    for (const n of names) {
      const mine = keys.filter((k) => k.endsWith(`{scenario:${n}}`));
      assert.ok(mine.some((k) => /^http_req_failed/.test(k)), `${n}: an error-rate threshold`);
      if (n !== 'soak_watch') {
        for (const m of ['checks', 'statsync_xp_mismatch', 'statsync_rate_limited']) {
          assert.ok(mine.includes(`${m}{scenario:${n}}`), `${n}: a threshold on ${m}`);
        }
        assert.ok(mine.some((k) => mod.options.thresholds[k].some((e) => /^p\(99\)</.test(e))), `${n}: a p(99) threshold`);
      }
      const sc = mod.options.scenarios[n];
      if (/arrival-rate/.test(sc.executor) && n !== 'soak_watch') assert.ok(mine.includes(`dropped_iterations{scenario:${n}}`), `${n}: dropped iterations`);
    }
    assert.ok(keys.every((k) => names.some((n) => k.endsWith(`{scenario:${n}}`))), `${sel}: a threshold of an unselected scenario`);
  }
  const dflt = await load('scenarios.js', new FakeStatsync());
  assert.deepEqual(Object.keys(dflt.options.scenarios), ['open_rest', 'open_sio', 'devices']);
  assert.equal(dflt.options.scenarios.soak_rest, undefined);
  assert.equal(dflt.options.scenarios.devices.vus, 20);
  const soak = await load('scenarios.js', new FakeStatsync(), { SCENARIO: 'soak' });
  assert.equal(soak.options.scenarios.soak_rest.duration, '2h', 'a soak lasts hours by default');
  const ramp = await load('scenarios.js', new FakeStatsync(), { SCENARIO: 'open', RATE: '100', RAMP_TO: '900', DURATION: '5m' });
  assert.equal(ramp.options.scenarios.open_rest.executor, 'ramping-arrival-rate');
  assert.equal(ramp.options.scenarios.open_rest.startRate, 100);
  assert.deepEqual(ramp.options.scenarios.open_rest.stages, [{ duration: '5m', target: 900 }]);
  assert.equal(ramp.options.scenarios.open_sio.executor, 'constant-arrival-rate');
  await assert.rejects(load('scenarios.js', new FakeStatsync(), { SCENARIO: 'open,bogus' }), /unknown scenario "bogus"/);
});

test('the harness keeps k6\'s schedule: arrival-rate starts on time whatever the latency, drops without a free VU', async () => {
  // constant-arrival-rate, 10/s for 10 s: 100 starts, 100 ms apart
  let server = new FakeStatsync();
  let r = await run('scenarios.js', server, { ...OPEN, SCENARIO: 'open_rest' });
  let st = r.scenarios.open_rest;
  assert.equal(st.iterations, 100);
  assert.equal(st.dropped, 0);
  assert.deepEqual(st.starts, Array.from({ length: 100 }, (_, i) => i * 100));
  // the same schedule against a slow server: 3 requests of 300 ms, 900 ms an
  // iteration, 9 VUs needed, 5 pre-allocated, at most 6: the starts that find no VU are dropped
  server = new FakeStatsync({ bugs: { slowMs: 300 } });
  r = await run('scenarios.js', server, { ...OPEN, SCENARIO: 'open_rest', MAX_VUS: '6' });
  st = r.scenarios.open_rest;
  assert.equal(st.iterations + st.dropped, 100, 'every scheduled start is run or dropped');
  assert.ok(st.dropped > 0);
  assert.equal(st.vus.length, 6, 'VUs allocated up to maxVUs');
  assert.ok(st.starts.every((t) => t % 100 === 0), 'iterations start on the schedule, not when the last one ended');
  assert.equal(sum('dropped_iterations', { scenario: 'open_rest' }), st.dropped);
  assert.ok(samples('iteration_duration', { scenario: 'open_rest' }).every((x) => x.value === 900));
  // ramping-arrival-rate from 0 to 20/s over 10 s: the integral, 100 starts
  const starts = h.arrivalStarts({ executor: 'ramping-arrival-rate', timeUnitMs: 1000, startRate: 0,
    stages: [{ durationMs: 10000, target: 20 }] });
  assert.equal(starts.length, 100);
  assert.ok(starts.every((t, i) => i === 0 || t > starts[i - 1]));
  assert.ok(Math.abs(starts[25] - 5000) < 1, 'a quarter of the iterations in the first half of a linear ramp');
  assert.equal(h.arrivalStarts({ executor: 'constant-arrival-rate', timeUnitMs: 60000, rate: 6, durationMs: 60000 }).length, 6);
});

test('scenarios.js SCENARIO=open: arrival-rate REST and Socket.IO sessions pass against a correct server, xp exact', async () => {
  const server = new FakeStatsync();
  const r = await run('scenarios.js', server, OPEN);
  h.assertClean(r);
  assert.equal(r.scenarios.open_rest.iterations, 100);
  assert.equal(r.scenarios.open_sio.iterations, 40);
  assert.equal(r.scenarios.open_sio.dropped, 0);
  assert.equal(sum('statsync_acked_writes', { scenario: 'open_rest' }), 100);
  assert.equal(sum('statsync_acked_writes', { scenario: 'open_sio' }), 40 * 5);
  assert.equal(samples('sio_push_latency', { scenario: 'open_sio' }).length, 200);
  exactAccounting(server, r, 'open_rest');
  exactAccounting(server, r, 'open_sio');
  assert.equal(server.duplicates, 0, 'no key reused');
});

test('scenarios.js SCENARIO=open: a slow server makes the open model drop iterations and miss its p(99); k6 would exit 99', async () => {
  const server = new FakeStatsync({ bugs: { slowMs: 400 } });
  const r = await run('scenarios.js', server, { ...OPEN, MAX_VUS: '6', SIO_PRE_VUS: '2', SIO_MAX_VUS: '4' });
  assert.equal(r.exitCode, 99);
  for (const want of ['dropped_iterations{scenario:open_rest}', 'dropped_iterations{scenario:open_sio}',
    'http_req_duration{scenario:open_rest}']) {
    assert.ok(r.failed.some((f) => f.startsWith(want)), `${want} did not fail: ${r.failed.join('; ')}`);
  }
  // what was done is still exact: slow is not lossy
  exactAccounting(server, r, 'open_rest');
});

test('scenarios.js SCENARIO=devices: 3 sockets per user, every push on every device, thresholds pass', async () => {
  const server = new FakeStatsync();
  const r = await run('scenarios.js', server, DEVICES);
  h.assertClean(r);
  const st = r.scenarios.devices;
  assert.ok(st.iterations >= 3);
  const sessions = server.sessions.filter((s) => s.kind === 'websockets');
  assert.equal(sessions.length, st.iterations * 3, 'three sockets a session');
  // every update reached every device: each socket saw its join document and 4 pushes
  for (const s of sessions) {
    const docs = (s.frames || []).filter((f) => f.startsWith('42["user:data:updated"'));
    assert.equal(docs.length, 5, 'join + 4 pushes on every device');
    assert.ok(s.disconnected, 'every device ends with DISCONNECT');
  }
  // the updates went out from each device in turn
  const senders = sessions.map((s) => s.fromClient.filter((f) => /^42\d+\["user:clientUpdate"/.test(f)).length);
  assert.deepEqual(senders.slice(0, 3), [2, 1, 1]);
  assert.equal(samples('sio_devices_latency', { scenario: 'devices' }).length, st.iterations * 4);
  assert.equal(sum('sio_missed_pushes', { scenario: 'devices' }), 0);
  exactAccounting(server, r, 'devices');
});

test('scenarios.js SCENARIO=devices: a push lost to one device, a wrong xp, a refused write or socket fail the devices thresholds', async () => {
  for (const [bugs, why] of [[{ dropPushTo: 1 }, /timed out .* 2 of 3 pushes/], [{ wrongXp: true }, /push shows xp/],
    [{ rateLimited: true }, /refused/], [{ maxSockets: 2 }, /device 2: CONNECT refused: .*too many sockets/]]) {
    const server = new FakeStatsync({ bugs });
    const r = await run('scenarios.js', server, { ...DEVICES, DURATION: '2s', SESSION_TIMEOUT_MS: '3000' });
    assert.equal(r.exitCode, 99, JSON.stringify(bugs));
    assert.ok(r.logs.some((l) => why.test(l)), `${JSON.stringify(bugs)}: ${r.logs}`);
    assert.ok(r.failed.some((f) => f.startsWith('sio_devices_ok{scenario:devices}')), r.failed.join('; '));
    assert.ok(r.failed.some((f) => f.startsWith('checks{scenario:devices}')), r.failed.join('; '));
    if (bugs.dropPushTo) assert.ok(r.failed.some((f) => f.startsWith('sio_missed_pushes{scenario:devices}')), r.failed.join('; '));
    if (bugs.rateLimited || bugs.maxSockets) {
      assert.ok(r.failed.some((f) => f.startsWith('statsync_rate_limited{scenario:devices}')), r.failed.join('; '));
    }
  }
});

test('scenarios.js SCENARIO=soak: long sessions, exact xp after each, RSS watched; thresholds pass', async () => {
  const server = new FakeStatsync();
  const r = await run('scenarios.js', server, SOAK);
  h.assertClean(r);
  assert.equal(r.scenarios.soak_rest.iterations, 240);
  assert.equal(r.scenarios.soak_watch.iterations, 12);
  assert.ok(r.scenarios.soak_sio.iterations >= 3 * 20);
  exactAccounting(server, r, 'soak_rest');
  exactAccounting(server, r, 'soak_sio');
  assert.equal(samples('statsync_gateway_rss_mb', { scenario: 'soak_watch' }).length, 12);
});

test('scenarios.js SCENARIO=soak: lost increments, refused connections, a growing RSS, rate limits each fail it', async () => {
  const cases = [
    [{ bugs: { lostIncrement: true } }, ['statsync_xp_mismatch{scenario:soak_rest}', 'statsync_xp_mismatch{scenario:soak_sio}']],
    [{ secret: 'not-the-compose-secret-0000' }, ['sio_session_ok{scenario:soak_sio}', 'http_req_failed{scenario:soak_rest}']],
    [{ bugs: { rssGrowthBytes: 64 * 1048576 } }, ['statsync_gateway_rss_growth_mb{scenario:soak_watch}']],
    [{ bugs: { rateLimited: true } }, ['statsync_rate_limited{scenario:soak_rest}', 'statsync_rate_limited{scenario:soak_sio}']],
    [{ bugs: { handshake429: true } }, ['statsync_rate_limited{scenario:soak_sio}', 'sio_session_ok{scenario:soak_sio}']],
  ];
  for (const [opts, want] of cases) {
    const server = new FakeStatsync(opts);
    const r = await run('scenarios.js', server, { ...SOAK, SOAK_DURATION: '1m' });
    assert.equal(r.exitCode, 99, JSON.stringify(opts));
    for (const w of want) assert.ok(r.failed.some((f) => f.startsWith(w)), `${JSON.stringify(opts)}: ${w} did not fail: ${r.failed.join('; ')}`);
  }
});

test('scenarios.js: an update whose ack was lost is resent with its key, so the accounting stays exact', async () => {
  const server = new FakeStatsync({ bugs: { dropFirstAck: true } });
  const r = await run('scenarios.js', server, { ...OPEN, SCENARIO: 'open_sio', SESSION_TIMEOUT_MS: '2000' });
  assert.equal(server.duplicates, 1, 'the unanswered update was resent once, by REST, with its opId as Idempotency-Key');
  assert.ok(r.logs.some((l) => /timed out/.test(l)), 'that session failed');
  exactAccounting(server, r, 'open_sio');
  assert.ok(r.failed.some((f) => f.startsWith('sio_session_ok')) || r.failed.length === 0);
});

// compose/README.md tells a load run to set STATSYNC_RATE_LIMIT_EXEMPT (k6's
// address, k6_limits shows why); `docker compose up` passes it to the
// gateways only if their environment names it.
test('the compose file passes STATSYNC_RATE_LIMIT_EXEMPT (default loopback) to every gateway', () => {
    const { readYaml } = require('../lib/yaml');
    const compose = readYaml(path.join(h.ROOT, 'compose/docker-compose.yml'));
    const gateways = Object.entries(compose.services).filter(([name]) => /^gateway\d+$/.test(name));
    assert.ok(gateways.length >= 2, 'the gateway services are where they were');
    for (const [name, svc] of gateways) {
      assert.equal((svc.environment || {}).STATSYNC_RATE_LIMIT_EXEMPT, '${STATSYNC_RATE_LIMIT_EXEMPT:-loopback}',
        `${name} is not given STATSYNC_RATE_LIMIT_EXEMPT`);
    }
  });
