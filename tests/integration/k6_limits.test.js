// k6_limits.test.js — the compose load run and the gateway's rate limiter
// (compose/README.md, "Load tests with k6"). k6 on the Docker host is one
// client address to the gateways — the compose network's gateway address,
// which is not loopback, so the loopback exemption does not cover it — and
// `k6 run -e VUS=200 socketio.js` opens ~80 Socket.IO sessions a second
// against a per-IP handshake limit of 50/s (burst 200): it trips. The README
// says to exempt k6's address (STATSYNC_RATE_LIMIT_EXEMPT=<that address>).
//
// Here, at a tenth of the scale — VUS=20 against 5 handshakes/s with a burst
// of 20 (and REST 50/s, burst 100), the same ratio — through the real edge,
// k6 (the harness, a worker thread per VU) connecting from 127.0.0.2, its
// own loopback address, standing for the host's address:
//  - without the setting (STATSYNC_RATE_LIMIT_EXEMPT=none: k6's address is
//    not exempt, as in compose) the limiter trips: upgrades answered 429, the
//    run's thresholds fail (k6 would exit 99), the gateway counts refusals;
//  - with the documented setting (STATSYNC_RATE_LIMIT_EXEMPT=127.0.0.2, k6's
//    address) the same run, and the open-model and several-devices scenarios,
//    pass with no 429 and no rate_limited anywhere, with the per-user limits
//    at their defaults (20 writes/s, burst 100, 20 sockets): the scenarios
//    stay under those by design (an exemption never lifts them).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, bin } = require('../lib/system');
const { Edge } = require('../lib/edge');
const h = require('./k6_harness');

const { LiveTarget, run, sum } = h;

// The gateway's settings as compose runs them, per-IP limits at a tenth.
const GATEWAY = {
  STATSYNC_TRUSTED_PROXIES: '127.0.0.1', // the edge (compose: its fixed address)
  STATSYNC_RATE_HANDSHAKE_IP_PER_S: '5',
  STATSYNC_RATE_HANDSHAKE_IP_BURST: '20',
  STATSYNC_RATE_REST_IP_PER_S: '50',
  STATSYNC_RATE_REST_IP_BURST: '100',
  // per user: the defaults, not scaled (the demand per user does not grow with VUS)
  STATSYNC_RATE_MUTATIONS_PER_S: '20',
  STATSYNC_RATE_MUTATIONS_BURST: '100',
  STATSYNC_MAX_SOCKETS_PER_USER: '20',
};
const K6_ADDRESS = '127.0.0.2';

async function refusedTotal(sys, gw) {
  const r = await sys.http('GET', '/metrics', { gw });
  assert.equal(r.status, 200);
  let n = 0;
  for (const line of String(r.body).split('\n')) {
    const m = /^statsync_rate_limited_total(\{[^}]*\})? (\d+(\.\d+)?)$/.exec(line);
    if (m) n += Number(m[2]);
  }
  return n;
}

test('the documented compose k6 run does not trip the limiter; without the setting it does', { timeout: 230000 }, async (t) => {
  for (const b of ['statsync-stats', 'statsync-presence', 'statsync-gateway']) bin(b);
  const sys = await System.start({ gateways: 0 });
  const edges = [];
  try {
    const limited = await sys.addGateway({ ...GATEWAY, STATSYNC_RATE_LIMIT_EXEMPT: 'none' });
    const documented = await sys.addGateway({ ...GATEWAY, STATSYNC_RATE_LIMIT_EXEMPT: K6_ADDRESS });
    const edgeLimited = await Edge.start({ gateways: [{ tag: 'g0', gw: limited }] });
    edges.push(edgeLimited);
    const edgeDocumented = await Edge.start({ gateways: [{ tag: 'g0', gw: documented }] });
    edges.push(edgeDocumented);
    const through = (edge, prefix) => ({
      API_URL: edge.url,
      SOCKET_URL: edge.url.replace(/^http/, 'ws'),
      STATSYNC_JWT_SECRET: sys.secret,
      USER_PREFIX: prefix,
      // correctness here, not speed
      P99_MS: '5000', CONNECT_P99_MS: '5000', REST_P99_MS: '5000', DEVICES_P99_MS: '5000', DROPPED_MAX: '100000',
    });
    const k6 = () => new LiveTarget({ timeoutMs: 20000, localAddress: K6_ADDRESS });
    // socketio.js as documented (VUS=200, default pacing), at a tenth: 20 VUs.
    const socketRun = { VUS: '20', DURATION: '10s' };

    await t.test('compose defaults (k6\'s address not exempt): socketio.js VUS=20 trips the per-IP handshake limit', async (st) => {
      const r = await run('socketio.js', k6(), { ...through(edgeLimited, `lim${process.pid}a`), ...socketRun });
      st.diagnostic(`${r.scenarios.socketio.iterations} sessions, ${sum('statsync_rate_limited')} refused`);
      assert.equal(r.exitCode, 99, 'k6 would exit 99');
      assert.ok(sum('statsync_rate_limited') > 0, 'upgrades were refused with 429');
      assert.ok(r.failed.some((f) => f.startsWith('statsync_rate_limited')), r.failed.join('; '));
      assert.ok(r.failed.some((f) => f.startsWith('sio_session_ok')), r.failed.join('; '));
      assert.ok(await refusedTotal(sys, limited) > 0, 'the gateway counted the refusals');
    });

    await t.test('the documented setting (exempt k6\'s address): the same run passes, no 429, no rate_limited', async () => {
      const r = await run('socketio.js', k6(), { ...through(edgeDocumented, `lim${process.pid}b`), ...socketRun });
      h.assertClean(r, sys.logs());
      assert.equal(sum('statsync_rate_limited'), 0);
      assert.ok(r.scenarios.socketio.iterations > 20, 'more sessions than the burst allows');
      assert.equal(await refusedTotal(sys, documented), 0, 'the gateway refused nothing');
    });

    await t.test('the documented setting: the open model and several devices per user pass too, no refusal', async () => {
      const prefix = `lim${process.pid}c`;
      const r = await run('scenarios.js', k6(), {
        ...through(edgeDocumented, prefix), SCENARIO: 'open,devices', DURATION: '5s',
        RATE: '30', PRE_VUS: '6', MAX_VUS: '12', SIO_RATE: '5', SIO_PRE_VUS: '3', SIO_MAX_VUS: '6',
        DEVICES_VUS: '10',
      });
      h.assertClean(r, sys.logs());
      for (const sc of ['open_rest', 'open_sio', 'devices']) {
        assert.equal(sum('statsync_rate_limited', { scenario: sc }), 0, sc);
        assert.equal(sum('statsync_xp_mismatch', { scenario: sc }), 0, sc);
        assert.ok(sum('statsync_acked_writes', { scenario: sc }) > 0, sc);
      }
      // more REST requests than a non-exempt address may make in 5 s (burst 100 + 50/s)
      assert.ok(sum('http_reqs') > 100 + 50 * 5, `${sum('http_reqs')} REST requests`);
      assert.equal(await refusedTotal(sys, documented), 0, 'the gateway refused nothing');
    });
  } finally {
    for (const e of edges) await e.stop();
    await sys.stop();
  }
});
