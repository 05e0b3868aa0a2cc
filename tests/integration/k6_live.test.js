// k6_live.test.js — the k6 scripts of tests/load/k6/ against the real
// system (nats-server + the three binaries on loopback, tests/lib/system.js),
// run inside node by k6_harness.js since k6 cannot be installed here. A few
// short iterations, not a load test: they prove that what the scripts send
// and expect — minted tokens, REST bodies, the Engine.IO/Socket.IO frames,
// acks, pushes, pings — is what the gateway really speaks, so that
// `k6 run` against `docker compose up` measures instead of failing.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, bin } = require('../lib/system');
const h = require('./k6_harness');

const { LiveNet, evaluateThresholds, failedChecks, iterate, load, quietConsole, samples } = h;
const rt = () => h.runtime();

test('the k6 scripts run clean against the real gateway', async (t) => {
  // Fail fast on an incomplete build (before any process is started).
  for (const b of ['statsync-stats', 'statsync-presence', 'statsync-gateway']) bin(b);
  // Fast server pings, so a session sees several and must answer each in time.
  const sys = await System.start({
    gatewayEnv: { STATSYNC_PING_INTERVAL_MS: '200', STATSYNC_PING_TIMEOUT_MS: '500' },
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
    SESSION_TIMEOUT_MS: '10000',
  };
  const doc = async (userId) => {
    const r = await sys.http('GET', `/api/users/${userId}/stats`, { token: sys.token(userId) });
    assert.equal(r.status, 200, r.text);
    return r.body;
  };
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
  } finally {
    await net.stop();
    await sys.stop();
  }
});
