// partitions.test.js — issue 14 items 1-3 on a real nats-server (JetStream)
// with the real binaries: users partitioned across stats-service instances.
//
//  - two instances starting at the same moment for the same partitions:
//    exactly one runs, the other refuses to start naming a partition and
//    its owner;
//  - two owners of disjoint halves (0-31, 32-63): every user's document on
//    its owner's LMDB only, /health summed over both, no partition without
//    owner;
//  - a second owner of an owned partition refuses to start, naming the
//    partition and the owner, and takes nothing;
//  - a gateway that counts partitions differently is refused
//    (partition_mismatch), nothing applied, the refusal counted;
//  - an owner killed: its users get 503 partition_unavailable at once (REST
//    and socket ack), the other half keeps serving, /health lists the
//    partitions without owner; restarted under the same instance id it takes
//    its leases back (after the old ones expire) and every document is exact.
// Waits are for states, each bounded; no timed assertion but "at once"
// (well under the request timeout), which is what the feature is.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { System, Proc, bin, freePort, waitFor, exitOf, NATS_USERS } = require('../lib/system');
const { usersWhere, partitionOf } = require('../lib/partition');
const { connect, emitAck } = require('../compat/sio_helpers');
const { parsePrometheus } = require('./rest_helpers');

const TTL = 2000; // lease TTL: a killed owner's partitions come back within it
let sys;
const procs = [];

test.before(async () => {
  sys = await System.start({ stats: false, gatewayEnv: { STATSYNC_REQUEST_TIMEOUT_MS: '10000' } });
});
test.after(async () => {
  const bad = [];
  for (const p of procs) {
    const r = await p.kill('SIGTERM');
    if (p.expectClean && r && r.code !== 0 && r.code !== null) bad.push(`${p.name} exit ${r.code}\n${p.log().slice(-3000)}`);
  }
  if (sys) await sys.stop();
  assert.deepEqual(bad, [], 'stats instances stopped uncleanly');
});

// A stats-service instance named `name` owning `parts`; resolves once it
// is healthy, or (expectExit) once it exited.
async function stats(name, parts, { expectExit = false, env = {}, on = sys } = {}) {
  const port = await freePort();
  const p = new Proc(name, bin('statsync-stats'), [], on.baseEnv({
    STATSYNC_DATA_DIR: path.join(sys.dir, `data-${name}`),
    STATSYNC_ADMIN_PORT: String(port),
    STATSYNC_INSTANCE_ID: name,
    STATSYNC_PARTITIONS: parts,
    STATSYNC_LEASE_TTL_MS: String(TTL),
    ...env,
  }, NATS_USERS.stats), path.join(sys.dir, `${name}.log`));
  p.adminPort = port;
  p.dataDir = path.join(sys.dir, `data-${name}`);
  p.expectClean = !expectExit;
  procs.push(p);
  p.start();
  if (!expectExit) await sys.waitHttp(port, '/health', p);
  return p;
}

const patch = (u, body, headers = {}, gw = sys.gw) =>
  sys.http('POST', '/api/users/data/patch', { token: sys.token(u), body, headers, gw });
const health = async (gw = sys.gw) => (await sys.http('GET', '/health', { gw })).body;
const adminHealth = async (p) => (await (await fetch(`http://127.0.0.1:${p.adminPort}/health`)).json());
const low = usersWhere('pl', 12, (p) => p < 32);
const high = usersWhere('ph', 12, (p) => p >= 32);

test('two instances starting at the same moment for the same partitions: one runs, the other refuses', async (t) => {
  // on a NATS of their own: the winner becomes the partitions' home there
  const own = await System.start({ stats: false, presence: false, gateways: 0 });
  t.after(() => own.stop());
  const [a, b] = await Promise.all([stats('twinA', '0-63', { expectExit: true, on: own }),
    stats('twinB', '0-63', { expectExit: true, on: own })]);
  await waitFor('one of the twins serving or both gone', async () => {
    const up = await Promise.all([a, b].map((p) => fetch(`http://127.0.0.1:${p.adminPort}/health`).then((r) => r.status === 200).catch(() => false)));
    return up.some(Boolean) || [a, b].every((p) => p.child.exitCode !== null);
  }, 60000, 100);
  // The loser ends at its first CONFLICT; before that, JetStream answering
  // late (a loaded machine, TSan's slowdown) is retried for up to the start
  // window (PARTITIONS_START_WAIT_MS, 30 s) plus one lease take's own
  // attempts (4 x two 3 s KV calls): the wait covers that, not less.
  const gone = await exitOf(a.child.exitCode !== null ? a : b, 60000);
  const [loser, winner] = a.child.exitCode !== null ? [a, b] : [b, a];
  assert.ok(gone && gone.code !== 0, 'the loser refuses to start');
  assert.equal(winner.child.exitCode, null, 'the winner runs');
  assert.match(loser.log(), /refusing to start.*partition \d+ is owned by twin[AB]\//);
  const h = await adminHealth(winner);
  assert.equal(h.partitions.length, 64);
  const r = await winner.kill('SIGTERM'); // gives its leases back
  assert.equal(r.code, 0, winner.log().slice(-2000));
});

let s0;
let s1;
test('two owners of disjoint halves: every user on its owner only, /health summed', async () => {
  s0 = await stats('stats0', '0-31');
  s1 = await stats('stats1', '32-63');
  for (const u of [...low, ...high]) {
    const r = await patch(u, { xp: 3 }, { 'idempotency-key': `${u}-k1` });
    assert.equal(r.status, 200, r.text);
  }
  assert.equal((await adminHealth(s0)).totalUsers, low.length);
  assert.equal((await adminHealth(s1)).totalUsers, high.length);
  assert.deepEqual((await adminHealth(s0)).partitions, Array.from({ length: 32 }, (_, i) => i));
  const dirs = (p) => fs.readdirSync(path.join(p.dataDir, 'partitions')).map(Number).sort((x, y) => x - y);
  assert.ok(dirs(s0).every((p) => p < 32) && dirs(s1).every((p) => p >= 32), 'each LMDB folder on its owner only');
  for (const u of low) assert.ok(dirs(s0).includes(partitionOf(u)));
  const h = await health();
  assert.equal(h.status, 'OK', JSON.stringify(h));
  assert.equal(h.totalUsers, low.length + high.length);
  assert.deepEqual(h.services.stats.partitionsWithoutOwner, []);
  assert.deepEqual([...h.services.stats.instances].sort(), ['stats0', 'stats1']);
});

test('a second owner of an owned partition refuses to start, naming it and its owner, and takes nothing', async () => {
  const intruder = await stats('intruder', '30-33', { expectExit: true });
  const r = await exitOf(intruder);
  assert.ok(r && r.code !== 0 && r.signal === null, `refused, no crash: ${JSON.stringify(r)}`);
  assert.match(intruder.log(), /"level":"error".*refusing to start.*partition 30 is owned by stats0\//);
  // nothing moved: both owners still serve their halves
  assert.equal((await adminHealth(s0)).partitions.length, 32);
  assert.equal((await adminHealth(s1)).partitions.length, 32);
  for (const u of [low[0], high[0]]) assert.equal((await patch(u, { xp: 1 })).status, 200);
});

test('a gateway that counts partitions differently is refused (partition_mismatch), nothing applied', async () => {
  const gw = await sys.addGateway({ STATSYNC_PARTITION_COUNT: '32' });
  // a user of partition >= 32 of 64 lands on p - 32 (of 32) at stats0, which recomputes it
  const u = high.find((x) => partitionOf(x, 32) !== partitionOf(x, 64));
  const before = (await sys.http('GET', `/api/users/${encodeURIComponent(u)}/stats`, { token: sys.token(u) })).body.xp;
  const r = await patch(u, { xp: 100 }, {}, gw);
  assert.equal(r.status, 500, r.text);
  assert.equal(r.body.error.code, 'partition_mismatch');
  assert.match(r.body.error.message, /STATSYNC_PARTITION_COUNT differs/);
  const after = (await sys.http('GET', `/api/users/${encodeURIComponent(u)}/stats`, { token: sys.token(u) })).body.xp;
  assert.equal(after, before, 'nothing applied');
  const owner = partitionOf(u, 32) < 32 ? s0 : s1;
  assert.match(owner.log(), /request refused: partition mismatch/);
  const m = parsePrometheus(await (await fetch(`http://127.0.0.1:${owner.adminPort}/metrics`)).text()).samples;
  assert.ok(m.some((s) => s.name === 'statsync_stats_partition_refused_total' && s.labels.reason === 'mismatch' && s.value >= 1));
  const h = await health(gw);
  assert.equal(h.status, 'DEGRADED');
  assert.equal(h.services.stats.partitionCountMismatch, true);
  await gw.kill('SIGTERM');
  sys.gateways.pop();
});

test('an owner killed: its users 503 partition_unavailable at once, the others served; restarted: exact', async () => {
  const xp = {};
  for (const u of [...low, ...high]) xp[u] = (await sys.http('GET', `/api/users/${u}/stats`, { token: sys.token(u) })).body.xp;
  const statsConns = async () => (await sys.natsConnz()).filter((c) => c.name === 'stats-service').length;
  const before = await statsConns();
  await s1.kill('SIGKILL');
  // "at once" starts when nats-server has seen the owner's connection close
  // (it drops its subscriptions then): until that, a request may still be
  // routed to the dead owner and wait out the timeout.
  await waitFor('nats-server dropped the killed owner', async () => (await statsConns()) === before - 1, 10000, 20);
  const t0 = Date.now();
  const r = await patch(high[1], { xp: 1 });
  assert.equal(r.status, 503, r.text);
  assert.equal(r.body.error.code, 'partition_unavailable');
  assert.equal(r.headers.get('retry-after'), '1');
  assert.ok(Date.now() - t0 < 5000, 'answered at once, not after the 10 s request timeout');
  const s = await connect(sys, high[2], {});
  try {
    const ack = await emitAck(s, 'user:clientUpdate', { opId: `${high[2]}-sock`, delta: { xp: 1 } });
    assert.equal(ack.ok, false, JSON.stringify(ack));
    assert.equal(ack.error.code, 'partition_unavailable');
  } finally { s.close(); }
  for (const u of low) {
    const ok = await patch(u, { xp: 1 });
    assert.equal(ok.status, 200, ok.text);
    xp[u] += 1;
  }
  const h = await health();
  assert.equal(h.status, 'DEGRADED');
  assert.deepEqual(h.services.stats.partitionsWithoutOwner, Array.from({ length: 32 }, (_, i) => i + 32));

  // restarted under the same name: it waits out its old leases, then serves
  s1.start();
  await sys.waitHttp(s1.adminPort, '/health', s1);
  assert.equal((await adminHealth(s1)).partitions.length, 32);
  for (const u of [...low, ...high]) {
    const doc = (await sys.http('GET', `/api/users/${u}/stats`, { token: sys.token(u) })).body;
    assert.equal(doc.xp, xp[u], `${u} exact after the restart`);
  }
  // the exactly-once records came back with the partition
  const again = await patch(high[0], { xp: 3 }, { 'idempotency-key': `${high[0]}-k1` });
  assert.equal(again.status, 200);
  assert.equal(again.body.duplicate, true);
  assert.equal(again.body.stats.xp, xp[high[0]]);
  assert.equal((await health()).status, 'OK');
});

test('an owner paused past its lease: serves nothing stale, nobody may start its partitions empty, it takes them back', async () => {
  const u = low[3];
  const before = (await sys.http('GET', `/api/users/${u}/stats`, { token: sys.token(u) })).body.xp;
  let stealerLog = '';
  await s0.freeze();
  try {
    // its lease runs out while it cannot renew; an instance without the
    // partitions' folders is refused while the lease is held ("owned by"),
    // and still refused once it expired: the data lives on stats0
    await waitFor('stats0\'s lease expired', async () => {
      const stealer = await stats(`stealer${procs.length}`, '0-1', { expectExit: true });
      const r = await exitOf(stealer);
      assert.ok(r && r.code !== 0, 'refused');
      stealerLog = stealer.log();
      assert.match(stealerLog, /partition 0 (is owned by stats0\/|keeps its data on stats0, not here)/);
      return /keeps its data on stats0/.test(stealerLog);
    }, 30000, 200);
    // a write sent now waits in stats0's socket
    var pending = patch(u, { xp: 1 }, { 'idempotency-key': `${u}-paused` }); // eslint-disable-line no-var
  } finally { s0.thaw(); }
  const r = await pending;
  // on waking it must not answer from a lease it no longer holds: refused (then
  // retried by the client), or applied only once it holds the partition again
  assert.ok(r.status === 503 || r.status === 200, r.text);
  if (r.status === 503) assert.equal(r.body.error.code, 'partition_unavailable');
  await waitFor('stats0 serves its partitions again', async () => (await adminHealth(s0)).partitions.length === 32, 20000, 100);
  assert.ok(/partition taken again/.test(s0.log()), `stats0 took nothing back:\n${s0.log().split('\n').filter((l) => !/partition acquired|lmdb opened/.test(l)).slice(-30).join('\n')}\nstealer: ${stealerLog.slice(-1500)}`);
  const retry = await patch(u, { xp: 1 }, { 'idempotency-key': `${u}-paused` });
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.body.stats.xp, before + 1, 'applied exactly once');
  assert.equal((await health()).status, 'OK');
});
