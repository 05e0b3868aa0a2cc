// chaos_cluster.test.js — issue 14, "chaos with exact accounting": the whole
// cluster (3 NATS nodes with JetStream, 2 stats-service partition owners, 2
// presence-services, 2 gateways, the nginx edge; tests/lib/cluster.js) while
// socket and REST writers retry their ops with the same op ids THROUGH THE
// EDGE (the App URL), and random cluster processes are killed with kill -9,
// one at a time, and restarted (what run-cluster.sh's supervisor and a
// container restart policy do). Afterwards every writer drains its queue and
// every user's xp must equal exactly the number of distinct ops sent for it:
// nothing acknowledged lost, nothing applied twice.
//
// The kill order comes from a seeded PRNG (CHAOS_SEED to replay a run), so a
// failure names the sequence. Normal suite: 8 kills; STATSYNC_LONG_TESTS=1: 30.
// Every wait is bounded; the processes' own readiness is what is waited for.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sleep } = require('../lib/system');
const { Cluster } = require('../lib/cluster');
const { usersWhere } = require('../lib/partition');
const { QueueClient, RestWriter, assertExactSums, feeder, faultLine, prng } = require('./fault_helpers');

const LONG = process.env.STATSYNC_LONG_TESTS === '1';
const KILLS = LONG ? 30 : 8;
const SEED = Number(process.env.CHAOS_SEED || 19); // 19: its first 8 kills hit every kind of process
const VICTIMS = ['nats0', 'nats1', 'nats2', 'stats0', 'stats1', 'presence0', 'presence1', 'gateway0', 'gateway1', 'edge'];

let cl;
test.before(async () => {
  cl = await Cluster.start({
    edge: true,
    statsEnv: { STATSYNC_LEASE_TTL_MS: '2000', STATSYNC_LEASE_REPLICAS: '3' },
    gatewayEnv: { STATSYNC_REQUEST_TIMEOUT_MS: '2000' },
  });
});
test.after(async () => { if (cl) await cl.stop(); });

test(`kill -9 of random cluster processes x${KILLS} under load through the edge: exact xp per user`, { timeout: LONG ? 600000 : 180000 }, async (t) => {
  const rand = prng(SEED);
  const tag = `chaos${process.pid}`;
  // users of both stats owners' halves
  const users = [...usersWhere(`${tag}l`, 2, (p) => p < 32), ...usersWhere(`${tag}h`, 2, (p) => p >= 32)];
  const app = `http://127.0.0.1:${cl.edge.port}`;
  const clients = users.flatMap((u, i) => [0, 1].map((k) => new QueueClient(cl, u, {
    urls: [app], id: `${u}-c${k}`, transports: k ? ['polling', 'websocket'] : ['websocket'], seed: 10 * i + k,
  }).start()));
  const rest = users.map((u) => new RestWriter(cl, u, { apiPorts: [cl.edge.port], id: `${u}-r`, timeoutMs: 4000 }).start(60));
  const feed = feeder(clients, 50);
  const killed = [];
  try {
    await sleep(500);
    for (let i = 0; i < KILLS; i++) {
      await sleep(600 + Math.floor(rand() * 900));
      const name = VICTIMS[Math.floor(rand() * VICTIMS.length)];
      killed.push(name);
      for (const c of clients) c.add(10); // ops in flight when it lands
      await cl.kill(name, 'SIGKILL');
      await sleep(100 + Math.floor(rand() * 500));
      await cl.restart(name);
    }
    await sleep(500);
  } finally {
    feed.stop();
    await Promise.all(rest.map((w) => w.stop()));
  }
  t.diagnostic(`seed ${SEED}, killed in order: ${killed.join(' ')}`);
  const drained = await Promise.all([...clients.map((c) => c.drain(60000)), ...rest.map((w) => w.drain(60000))]);
  for (const c of clients) c.stop();
  const writers = [...clients, ...rest];
  t.diagnostic(faultLine(clients, rest));
  assert.ok(drained.every(Boolean), `queues not drained: ${writers.filter((w, i) => !drained[i]).map((w) => w.summary()).join('; ')}`);
  const rows = await assertExactSums(assert, cl, writers);
  t.diagnostic(`exact: ${rows.map((r) => `${r.user}=${r.xp}`).join(' ')}`);
  const h = (await cl.edgeHttp('GET', '/health')).body;
  assert.deepEqual(h.services.stats.partitionsWithoutOwner, [], 'every partition has its owner back');
});
