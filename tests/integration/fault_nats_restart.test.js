// fault_nats_restart.test.js — issue 7, fault 2: nats-server is killed
// (kill -9) and started again on the same port while clients keep sending
// xp:+1 updates (Socket.IO offline queues with opIds, REST with
// Idempotency-Keys; see fault_helpers.js). Every component reconnects by
// itself. During the outage REST answers 503 fast; afterwards each user's xp
// equals exactly the number of distinct opIds/keys sent.
//
// A request caught by the outage may have been applied although its answer
// was lost (an ack timeout): the retry with the same opId must not count it
// twice. Normal suite: 2 outages, about 15 s. STATSYNC_LONG_TESTS=1: 6 outages
// and more clients.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep, waitFor } = require('../lib/system');
const { QueueClient, RestWriter, assertExactSums, feeder, faultLine, prng } = require('./fault_helpers');

const LONG = process.env.STATSYNC_LONG_TESTS === '1';
const OUTAGES = LONG ? 6 : 2;
const USERS = LONG ? 4 : 2;
const CLIENTS_PER_USER = 2;
const REST_503_MS = 500;

let sys;
test.before(async () => {
  sys = await System.start({ gatewayEnv: { STATSYNC_REQUEST_TIMEOUT_MS: '1500' } });
});
test.after(async () => { if (sys) await sys.stop(); });

test(`nats-server kill -9 and restart x${OUTAGES} under load: REST 503 fast, exact xp per user`, { timeout: LONG ? 300000 : 90000 }, async (t) => {
  const rand = prng(11);
  const tag = `nr${process.pid}`;
  const users = Array.from({ length: USERS }, (_, i) => `${tag}u${i}`);
  const clients = [];
  users.forEach((u, i) => {
    for (let k = 0; k < CLIENTS_PER_USER; k++) {
      clients.push(new QueueClient(sys, u, {
        urls: [sys.socketUrl], id: `${u}-c${k}`, transports: k % 2 ? ['polling'] : ['websocket'], seed: 10 * i + k,
      }).start());
    }
  });
  const rest = users.map((u) => new RestWriter(sys, u, { apiPorts: [sys.gw.apiPort], id: `${u}-r` }).start(60));
  const feed = feeder(clients, 40);
  const probeUser = `${tag}probe`; // its answers are checked, its sum is not (it never retries)
  const probes = [];
  try {
    await sleep(800);
    for (let i = 0; i < OUTAGES; i++) {
      for (const c of clients) c.add(10); // traffic in flight when NATS dies
      await sleep(Math.floor(rand() * 20));
      const { signal } = await sys.nats.kill('SIGKILL');
      assert.equal(signal, 'SIGKILL');
      await sleep(200);
      for (let k = 0; k < 3; k++) {
        const t0 = Date.now();
        const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(probeUser), body: { xp: 1 }, headers: { 'idempotency-key': `probe-${i}-${k}` } });
        probes.push({ status: r.status, code: r.body && r.body.error && r.body.error.code, ms: Date.now() - t0, retryAfter: r.headers.get('retry-after') });
        const g = await sys.http('GET', `/api/users/${probeUser}/stats`, { token: sys.token(probeUser) });
        probes.push({ status: g.status, code: g.body && g.body.error && g.body.error.code, ms: Date.now() - t0 });
        await sleep(100);
      }
      await sleep(300 + Math.floor(rand() * 700));
      await sys.startNats(); // same port
      // wait until the gateway reports everything reconnected before the next outage
      await waitFor('gateway healthy after NATS restart', async () => (await sys.http('GET', '/health')).status === 200, 20000, 100);
      await sleep(1000 + Math.floor(rand() * 1000));
    }
  } finally {
    feed.stop();
    await Promise.all(rest.map((w) => w.stop()));
  }
  const drained = await Promise.all([...clients.map((c) => c.drain(30000)), ...rest.map((w) => w.drain(30000))]);
  for (const c of clients) c.stop();
  const writers = [...clients, ...rest];
  for (const w of writers) t.diagnostic(w.summary());
  t.diagnostic(faultLine(clients, rest));
  assert.ok(drained.every(Boolean), 'every queue drains once NATS is back');

  for (const p of probes) {
    assert.equal(p.status, 503, `during the outage: ${JSON.stringify(p)}`);
    assert.equal(p.code, 'unavailable', JSON.stringify(p));
    assert.ok(p.ms < REST_503_MS, `503 took ${p.ms} ms`);
  }
  t.diagnostic(`REST during the outages: ${probes.length} requests, all 503 unavailable, slowest ${Math.max(...probes.map((p) => p.ms))} ms`);

  const rows = await assertExactSums(assert, sys, writers);
  t.diagnostic(`outages survived: ${OUTAGES}; per user xp == distinct ops: ${rows.map((r) => `${r.user}=${r.xp}/${r.want}`).join(', ')}`);
  const failed = clients.reduce((a, c) => a + c.stats.timeouts + Object.values(c.stats.errors).reduce((x, y) => x + y, 0), 0);
  assert.ok(failed > 0, 'the outages did not hit the socket traffic');
});
