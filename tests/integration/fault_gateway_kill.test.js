// fault_gateway_kill.test.js — issue 7, fault 3: two gateways on one NATS;
// one is killed with kill -9 while clients on both send xp:+1 updates. Each
// client knows both gateway URLs and moves to the other one when its
// connection fails (Socket.IO offline queues with opIds, REST writers with
// Idempotency-Keys; see fault_helpers.js). The surviving gateway's counts
// converge to all the clients, and every acknowledged update is there: each
// user's xp equals exactly the number of distinct opIds/keys sent.
//
// Normal suite: one kill, about 10 s. STATSYNC_LONG_TESTS=1: the gateways are
// killed and restarted in turns (6 kills).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep, waitFor } = require('../lib/system');
const { QueueClient, RestWriter, assertExactSums, feeder, faultLine, prng } = require('./fault_helpers');

const LONG = process.env.STATSYNC_LONG_TESTS === '1';
const KILLS = LONG ? 6 : 1;
const USERS = LONG ? 4 : 3;
const CLIENTS_PER_USER = LONG ? 4 : 2;

let sys;
test.before(async () => {
  sys = await System.start({ gateways: 2, gatewayEnv: { STATSYNC_REQUEST_TIMEOUT_MS: '1500' } });
});
test.after(async () => { if (sys) await sys.stop(); });

const url = (gw) => `http://127.0.0.1:${gw.socketPort}`;
const health = (gw) => sys.http('GET', '/health', { gw });

test(`gateway kill -9 x${KILLS}: clients move to the other gateway, counts converge, exact xp per user`, { timeout: LONG ? 300000 : 90000 }, async (t) => {
  const rand = prng(23);
  const [g0, g1] = sys.gateways;
  const tag = `gk${process.pid}`;
  const users = Array.from({ length: USERS }, (_, i) => `${tag}u${i}`);
  const clients = [];
  users.forEach((u, i) => {
    for (let k = 0; k < CLIENTS_PER_USER; k++) {
      const first = (i + k) % 2 ? [g1, g0] : [g0, g1]; // half start on each gateway
      clients.push(new QueueClient(sys, u, {
        urls: first.map(url), id: `${u}-c${k}`, transports: k % 2 ? ['polling'] : ['websocket'], seed: 10 * i + k,
      }).start());
    }
  });
  const rest = users.map((u, i) => new RestWriter(sys, u, {
    apiPorts: (i % 2 ? [g1, g0] : [g0, g1]).map((g) => g.apiPort), id: `${u}-r`,
  }).start(60));
  const feed = feeder(clients, 40);
  await waitFor('every client connected', () => clients.every((c) => c.connected), 10000);
  // each gateway's own counts ("local"; connectedClients is cluster-wide since presence)
  const both = [(await health(g0)).body.local.connectedClients, (await health(g1)).body.local.connectedClients];
  t.diagnostic(`sockets before the kill: gw0 ${both[0]}, gw1 ${both[1]}`);
  assert.equal(both[0] + both[1], clients.length);
  assert.ok(both[0] > 0 && both[1] > 0, 'clients on both gateways');

  const converged = [];
  try {
    let victim = g0, survivor = g1;
    for (let i = 0; i < KILLS; i++) {
      await sleep(1000 + Math.floor(rand() * 1000));
      for (const c of clients) c.add(10);
      await sleep(Math.floor(rand() * 20));
      const { signal } = await victim.kill('SIGKILL');
      assert.equal(signal, 'SIGKILL');
      const t0 = Date.now();
      // the survivor ends up holding every client (its own count of sockets and users)
      await waitFor('all clients on the surviving gateway', async () => {
        const h = await health(survivor);
        return h.body.local.connectedClients === clients.length && h.body.local.connectedUsers === users.length &&
          clients.every((c) => c.connected);
      }, 20000, 100);
      converged.push(Date.now() - t0);
      if (i + 1 < KILLS) { // bring the dead one back, kill the other next time
        await sys.restartGateway(victim);
        [victim, survivor] = [survivor, victim];
      }
    }
    await sleep(1000);
  } finally {
    feed.stop();
    await Promise.all(rest.map((w) => w.stop()));
  }
  const drained = await Promise.all([...clients.map((c) => c.drain(30000)), ...rest.map((w) => w.drain(30000))]);
  for (const c of clients) c.stop();
  const writers = [...clients, ...rest];
  for (const w of writers) t.diagnostic(w.summary());
  t.diagnostic(faultLine(clients, rest));
  assert.ok(drained.every(Boolean), 'every queue drains on the surviving gateway');
  const alive = sys.gateways.find((g) => g.child.exitCode === null && g.child.signalCode === null);
  const rows = await assertExactSums(assert, sys, writers, { gw: alive });
  t.diagnostic(`gateway kills survived: ${KILLS}; clients on the survivor after ${converged.join(', ')} ms; per user xp == distinct ops: ${rows.map((r) => `${r.user}=${r.xp}/${r.want}`).join(', ')}`);
  const moved = clients.filter((c) => c.stats.urlsUsed.size > 1).length;
  assert.ok(moved > 0, 'some clients had to move');
  // the sockets are closed now: the survivor's counts go back to zero
  await waitFor('sockets released', async () => (await health(alive)).body.local.connectedClients === 0, 10000, 100);
});
