// fault_stats_kill.test.js — issue 7, fault 1: the stats-service is killed
// with kill -9 several times while clients keep sending xp:+1 updates with
// unique opIds (Socket.IO, real socket.io-client, as an offline queue: every
// unacknowledged op is sent again, same opId, after an error ack, an ack
// timeout or a reconnect) and REST patches with Idempotency-Keys. After the
// last restart every client drains its queue; then each user's xp must equal
// exactly the number of distinct opIds/keys sent for that user: nothing lost
// (every ack followed a durable commit), nothing doubled (a retry of a
// committed-but-unacknowledged op is recognised by its opId).
//
// Normal suite: 3 kills in about 10 s. STATSYNC_LONG_TESTS=1: 12 kills, more
// clients, kills also while a batch is being committed under load.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep } = require('../lib/system');
const { QueueClient, RestWriter, assertExactSums, feeder, faultLine, prng } = require('./fault_helpers');

const LONG = process.env.STATSYNC_LONG_TESTS === '1';
const KILLS = LONG ? 12 : 3;
const USERS = LONG ? 5 : 3;
const CLIENTS_PER_USER = LONG ? 3 : 2;
const UP_MS = LONG ? [600, 2500] : [800, 1600]; // time between a restart and the next kill
const DOWN_MS = [150, 600]; // time the service stays dead

let sys;
test.before(async () => {
  sys = await System.start({ gatewayEnv: { STATSYNC_REQUEST_TIMEOUT_MS: '1500' } });
});
test.after(async () => { if (sys) await sys.stop(); });

test(`stats-service kill -9 x${KILLS} under load: exact xp per user`, { timeout: LONG ? 300000 : 90000 }, async (t) => {
  const rand = prng(7);
  const tag = `sk${process.pid}`;
  const users = Array.from({ length: USERS }, (_, i) => `${tag}u${i}`);
  const clients = [];
  users.forEach((u, i) => {
    for (let k = 0; k < CLIENTS_PER_USER; k++) {
      clients.push(new QueueClient(sys, u, {
        urls: [sys.socketUrl],
        id: `${u}-c${k}`,
        transports: k % 2 ? ['polling'] : ['websocket'],
        seed: 100 * i + k,
      }).start());
    }
  });
  const rest = users.map((u) => new RestWriter(sys, u, { apiPorts: [sys.gw.apiPort], id: `${u}-r` }).start(60));
  const feed = feeder(clients, 40);
  const between = (r) => r[0] + Math.floor(rand() * (r[1] - r[0]));

  let kills = 0;
  try {
    await sleep(500);
    for (let i = 0; i < KILLS; i++) {
      await sleep(between(UP_MS));
      // a burst right before the kill, so that mutations are queued, being
      // committed, or committed with their replies not yet sent when it lands
      for (const c of clients) c.add(20);
      await sleep(Math.floor(rand() * 25));
      const { signal } = await sys.stats.kill('SIGKILL');
      assert.equal(signal, 'SIGKILL');
      kills++;
      await sleep(between(DOWN_MS));
      await sys.restartStats();
    }
    await sleep(500);
  } finally {
    feed.stop();
    await Promise.all(rest.map((w) => w.stop()));
  }
  const drained = await Promise.all([...clients.map((c) => c.drain(30000)), ...rest.map((w) => w.drain(30000))]);
  for (const c of clients) c.stop();
  const writers = [...clients, ...rest];
  for (const w of writers) t.diagnostic(w.summary());
  t.diagnostic(faultLine(clients, rest));
  assert.ok(drained.every(Boolean), `queues not drained: ${writers.filter((w, i) => !drained[i]).map((w) => w.summary()).join('; ')}`);

  const rows = await assertExactSums(assert, sys, writers);
  const total = rows.reduce((a, r) => a + r.want, 0);
  t.diagnostic(`kills survived: ${kills}; per user xp == distinct ops: ${rows.map((r) => `${r.user}=${r.xp}/${r.want}`).join(', ')}; total ${total} ops`);
  // the faults must have been felt, or the test proves nothing
  const retried = clients.reduce((a, c) => a + c.stats.timeouts + Object.values(c.stats.errors).reduce((x, y) => x + y, 0), 0) +
    rest.reduce((a, w) => a + w.stats.requests - w.acked.size, 0);
  t.diagnostic(`sends that failed and were retried: ${retried}`);
  assert.ok(retried > 0, 'no request failed: the kills did not hit the traffic');
  assert.equal(kills, KILLS);
});
