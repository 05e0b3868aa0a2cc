// k6_live.test.js — the k6 scripts of tests/load/k6/ against the real
// system (nats-server + the three binaries on loopback, tests/lib/system.js),
// run inside node by k6_harness.js since k6 cannot be installed here. A few
// short iterations, not a load test: they prove that what the scripts send
// and expect — minted tokens, REST bodies, the Engine.IO/Socket.IO frames,
// acks, pushes, pings — is what the gateway really speaks, so that
// `k6 run` against `docker compose up` measures instead of failing.
// scenarios.js runs as `k6 run` does (its executors, a worker thread per VU,
// real time): the open model, several devices per user and a short soak,
// each briefly, with exact accounting — the xp the gateway holds for every
// user of the run equals the writes it acknowledged. The per-user limits are
// the gateway's defaults (20 writes/s, 20 sockets), so the scenarios are
// shown to stay under them.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, bin } = require('../lib/system');
const h = require('./k6_harness');

const { LiveNet, LiveTarget, evaluateThresholds, failedChecks, iterate, load, quietConsole, run, samples, sum } = h;
const rt = () => h.runtime();

test('the k6 scripts run clean against the real gateway', async (t) => {
  // Fail fast on an incomplete build (before any process is started).
  for (const b of ['statsync-stats', 'statsync-presence', 'statsync-gateway']) bin(b);
  // Fast server pings, so a session sees several and must answer each in time.
  const sys = await System.start({
    gatewayEnv: {
      STATSYNC_PING_INTERVAL_MS: '200', STATSYNC_PING_TIMEOUT_MS: '500',
      // the gateway's defaults (tests/lib/system.js turns them off)
      STATSYNC_RATE_MUTATIONS_PER_S: '20', STATSYNC_RATE_MUTATIONS_BURST: '100', STATSYNC_MAX_SOCKETS_PER_USER: '20',
    },
  });
  const net = new LiveNet({ timeoutMs: 15000 });
  const env = {
    API_URL: sys.apiUrl,
    SOCKET_URL: `ws://127.0.0.1:${sys.gw.socketPort}`,
    STATSYNC_JWT_SECRET: sys.secret,
    USER_PREFIX: `live${process.pid}`,
    // correctness here, not speed: a loaded CI machine or a sanitizer build is slow
    P99_MS: '5000',
    CONNECT_P99_MS: '5000',
    REST_P99_MS: '5000',
    DEVICES_P99_MS: '5000',
    SESSION_TIMEOUT_MS: '10000',
    // how many iterations an open model drops is a matter of speed: counted, not asserted here
    DROPPED_MAX: '100000',
  };
  const doc = async (userId) => {
    const r = await sys.http('GET', `/api/users/${userId}/stats`, { token: sys.token(userId) });
    assert.equal(r.status, 200, r.text);
    return r.body;
  };
  // Every user a scenario's VUs acted as holds exactly the writes acknowledged.
  const exact = async (r, prefix, scenario) => {
    const vus = r.scenarios[scenario].vus;
    let xp = 0;
    for (const vu of vus) {
      const d = await doc(`${prefix}-${scenario}-${vu}`);
      xp += d.xp;
    }
    const acked = sum('statsync_acked_writes', { scenario });
    assert.ok(acked > 0, `${scenario}: nothing acknowledged`);
    assert.equal(xp, acked, `${scenario}: the gateway holds ${xp} xp for its users, ${acked} writes were acknowledged`);
    assert.equal(sum('statsync_xp_mismatch', { scenario }), 0);
    assert.equal(sum('statsync_rate_limited', { scenario }), 0);
  };
  const clean = (r) => h.assertClean(r, sys.logs());
  try {
    await t.test('rest.js: patches and reads, every check and threshold passes', async () => {
      const mod = await load('rest.js', net, { ...env, THINK_MS: '0' });
      const data = mod.setup();
      await quietConsole(async () => {
        await iterate('rest.js', 1, 4, data);
        await iterate('rest.js', 2, 3, data);
      });
      assert.deepEqual(rt().logs, []);
      assert.deepEqual(failedChecks(), [], sys.logs());
      assert.deepEqual(rt().exceptions, []);
      assert.deepEqual(evaluateThresholds(mod.options, rt().metrics), []);
      assert.equal(samples('http_req_duration').filter((s) => s.tags.op === 'patch').length, 7);
      assert.equal((await doc(`${env.USER_PREFIX}-rest-1`)).xp, 4);
      assert.equal((await doc(`${env.USER_PREFIX}-rest-2`)).xp, 3);
    });

    await t.test('socketio.js: CONNECT, join, updates, acks, own pushes, pings; every check and threshold passes', async () => {
      const mod = await load('socketio.js', net, { ...env, UPDATES: '5', THINK_MS: '150', PAUSE_MS: '0' });
      const data = mod.setup();
      await quietConsole(async () => {
        await iterate('socketio.js', 1, 2, data);
        await iterate('socketio.js', 2, 1, data);
      });
      assert.deepEqual(rt().logs, [], sys.logs());
      assert.deepEqual(failedChecks(), []);
      assert.deepEqual(rt().exceptions, []);
      assert.deepEqual(evaluateThresholds(mod.options, rt().metrics), []);
      assert.deepEqual(samples('sio_session_ok').map((s) => s.value), [1, 1, 1]);
      assert.equal(samples('sio_push_latency').length, 15);
      assert.equal(samples('sio_ack_latency').length, 15);
      assert.equal(net.sessions.length, 3);
      for (const s of net.sessions) {
        assert.equal(s.status, 101);
        assert.match(s.toClient[0], /^0\{/, 'Engine.IO open packet first');
        assert.ok(s.toClient.some((f) => f === '2'), 'the server pinged');
        assert.ok(s.fromClient.some((f) => f === '3'), 'the script answered a ping');
        assert.equal(s.fromClient[s.fromClient.length - 1], '41', 'the session ends with DISCONNECT');
      }
      assert.equal((await doc(`${env.USER_PREFIX}-sio-1`)).xp, 10);
      assert.equal((await doc(`${env.USER_PREFIX}-sio-2`)).xp, 5);
    });

    await t.test('scenarios.js SCENARIO=open: arrival-rate REST and Socket.IO sessions on schedule, exact accounting', async () => {
      const prefix = `live${process.pid}o`;
      const r = await run('scenarios.js', new LiveTarget({ timeoutMs: 15000 }), {
        ...env, USER_PREFIX: prefix, SCENARIO: 'open', DURATION: '3s', RATE: '8', PRE_VUS: '4', MAX_VUS: '8',
        SIO_RATE: '3', SIO_PRE_VUS: '3', SIO_MAX_VUS: '6', OPEN_UPDATES: '3', OPEN_THINK_MS: '50',
      });
      clean(r);
      const rest = r.scenarios.open_rest;
      const started = (st) => st.iterations + st.dropped + st.interrupted;
      assert.equal(started(rest), 24, 'every start of the schedule (8/s for 3 s) ran or was dropped');
      assert.equal(started(r.scenarios.open_sio), 9);
      assert.ok(samples('sio_push_latency', { scenario: 'open_sio' }).length >= 3);
      await exact(r, prefix, 'open_rest');
      await exact(r, prefix, 'open_sio');
    });

    await t.test('scenarios.js SCENARIO=devices: 3 sockets per user, every update pushed to all 3, exact accounting', async () => {
      const prefix = `live${process.pid}d`;
      const r = await run('scenarios.js', new LiveTarget({ timeoutMs: 15000 }), {
        ...env, USER_PREFIX: prefix, SCENARIO: 'devices', DURATION: '3s', DEVICES_VUS: '2', UPDATES: '4',
        THINK_MS: '100', PAUSE_MS: '0',
      });
      clean(r);
      const st = r.scenarios.devices;
      assert.ok(st.iterations >= 2);
      assert.equal(samples('sio_devices_latency', { scenario: 'devices' }).length, st.iterations * 4);
      assert.equal(sum('sio_missed_pushes', { scenario: 'devices' }), 0);
      assert.deepEqual([...new Set(samples('sio_devices_ok').map((x) => x.value))], [1]);
      await exact(r, prefix, 'devices');
    });

    await t.test('scenarios.js SCENARIO=soak (20 s): long sessions, pings, exact xp after each, the RSS watched', async () => {
      const prefix = `live${process.pid}s`;
      const r = await run('scenarios.js', new LiveTarget({ timeoutMs: 20000 }), {
        ...env, USER_PREFIX: prefix, SCENARIO: 'soak', SOAK_DURATION: '20s', SOAK_RATE: '2', SOAK_PRE_VUS: '2',
        SOAK_VUS: '2', SOAK_UPDATES: '10', SOAK_THINK_MS: '200', SOAK_WATCH_EVERY: '2s',
      });
      clean(r);
      assert.ok(r.scenarios.soak_sio.iterations >= 2);
      assert.ok(samples('statsync_gateway_rss_mb', { scenario: 'soak_watch' }).length >= 5, 'the watch read /metrics');
      assert.ok(samples('statsync_gateway_open_fds', { scenario: 'soak_watch' }).every((x) => x.value > 0));
      await exact(r, prefix, 'soak_rest');
      await exact(r, prefix, 'soak_sio');
    });
  } finally {
    await net.stop();
    await sys.stop();
  }
});
