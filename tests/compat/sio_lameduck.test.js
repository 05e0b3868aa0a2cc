// sio_lameduck.test.js — the gateway's lame-duck shutdown (issue 15 item 6)
// with the real socket.io-client: on SIGTERM /readyz is 503 before anything
// else happens, the sockets stay connected for the drain delay, and then
// they are closed spread over STATSYNC_SHUTDOWN_SPREAD_MS — a few at a time,
// each with the reconnectable transport close — instead of all in the same
// instant (which would send every client of the gateway to the others at
// once). Waits are for states (every socket told, the process gone), bounded.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { System, waitFor } = require('../lib/system');
const { connect } = require('./sio_helpers');

const DRAIN_MS = 600;
const SPREAD_MS = 1000;
const SOCKETS = 20;
const BOUND_MS = 3000; // slack for a loaded machine on top of drain + spread

test('SIGTERM: readyz 503 first, sockets kept for the drain, then closed spread over the window', async (t) => {
  const sys = await System.start({
    gatewayEnv: { STATSYNC_SHUTDOWN_DRAIN_MS: String(DRAIN_MS), STATSYNC_SHUTDOWN_SPREAD_MS: String(SPREAD_MS) },
  });
  t.after(() => sys.stop());
  const sockets = [];
  t.after(() => { for (const s of sockets) s.close(); });
  for (let i = 0; i < SOCKETS; i++) {
    const transports = i % 5 === 4 ? ['polling'] : ['websocket'];
    sockets.push(await connect(sys, `lameduck${process.pid}u${i}`, { transports, forceNew: true }));
  }
  const told = sockets.map((s) => new Promise((resolve) => s.once('disconnect', (reason) => resolve({ reason, at: Date.now() }))));

  // /readyz, polled from the signal on; its first 503 must come before any close.
  const api = `http://127.0.0.1:${sys.gw.apiPort}`;
  let first503 = null;
  let polling = true;
  const poller = (async () => {
    while (polling && first503 === null) {
      const r = await fetch(`${api}/readyz`).catch(() => null);
      if (r && r.status === 503) first503 = { at: Date.now(), body: await r.json() };
    }
  })();

  const gw = sys.gw;
  const t0 = Date.now();
  const exited = gw.kill('SIGTERM');
  const got = await Promise.race([
    Promise.all(told),
    new Promise((_, reject) => setTimeout(() => reject(new Error('not every socket was told')), DRAIN_MS + SPREAD_MS + BOUND_MS + 5000)),
  ]);
  polling = false;
  await poller;
  const { code } = await exited;
  assert.equal(code, 0, gw.log().slice(-3000));

  assert.ok(first503, '/readyz never answered 503');
  assert.equal(first503.body.status, 'draining');
  const times = got.map((g) => g.at).sort((a, b) => a - b);
  const first = times[0];
  const last = times[times.length - 1];
  assert.ok(first503.at <= first, `readyz 503 at +${first503.at - t0} ms, after the first close at +${first - t0} ms`);
  for (const { reason } of got) {
    assert.match(reason, /^transport (close|error)$/, `reason ${reason}: the client must reconnect, not give up`);
  }
  assert.ok(first - t0 >= DRAIN_MS - 50, `a socket was closed at +${first - t0} ms, inside the ${DRAIN_MS} ms drain delay`);
  assert.ok(last - t0 <= DRAIN_MS + SPREAD_MS + BOUND_MS, `the last close came at +${last - t0} ms`);
  // Spread, not a stampede: over a good part of the window, and no burst
  // holding half of them within 50 ms.
  assert.ok(last - first >= SPREAD_MS * 0.4, `closes spread over ${last - first} ms only (window ${SPREAD_MS} ms)`);
  let burst = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] > 50) j++;
    burst = Math.max(burst, i - j + 1);
  }
  assert.ok(burst <= SOCKETS / 2, `${burst} of ${SOCKETS} closes within 50 ms: ${times.map((x) => x - t0).join(',')}`);
  await waitFor('the spread logged', () => /closed over the spread window/.test(gw.log()), 2000);
  sys.gateways.splice(sys.gateways.indexOf(gw), 1);
});
