// presence_instances.test.js — issue 14 item 5: several presence-service
// instances, each with the whole picture (two instances, two gateways, a
// real nats-server, heartbeat 200 ms so that expiries are short):
//   - /health connectedClients / connectedUsers exact in every sample while
//     sockets are idle, and presence:pong devices exact, whichever instance
//     answers;
//   - no presence:update at all on idle sockets over many heartbeats (the
//     heartbeat digests match: nobody asks for snapshots);
//   - exactly one presence:update per socket per change of its user's count,
//     for users owned by either instance (rendezvous, computed here as the
//     service does);
//   - kill -9 of one instance: counts and pongs stay exact; its users' updates
//     move to the survivor; restarting it (it asks every gateway for a
//     snapshot) keeps counts exact and sends no presence:update to anyone.
// Every wait is for a state and bounded; the quiet windows are counted in
// heartbeats received by the instances (their /metrics), not in time.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep, waitFor } = require('../lib/system');
const { connect, emitAck } = require('../compat/sio_helpers');

const HB = 200;
const SAMPLES = 40;
let sys;
test.before(async () => {
  sys = await System.start({
    gateways: 2,
    presences: 2,
    presenceEnv: { STATSYNC_PRESENCE_HEARTBEAT_MS: String(HB), STATSYNC_PRESENCE_SOCKET_TTL_MS: '2000' },
    gatewayEnv: { STATSYNC_PRESENCE_HEARTBEAT_MS: String(HB), STATSYNC_PRESENCE_PING_TIMEOUT_MS: '250' },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

// ---- rendezvous, as presence-service/owner.c computes it ----------------------

const M64 = (1n << 64n) - 1n;
function fnv1a(bytes, h = 14695981039346656037n) {
  for (const b of bytes) h = ((h ^ BigInt(b)) * 1099511628211n) & M64;
  return h;
}
function mix(h) {
  h ^= h >> 30n; h = (h * 0xbf58476d1ce4e5b9n) & M64;
  h ^= h >> 27n; h = (h * 0x94d049bb133111ebn) & M64;
  return h ^ (h >> 31n);
}
const score = (inst, user) => mix(fnv1a(Buffer.from(user), fnv1a(Buffer.concat([Buffer.from(inst), Buffer.from([0])]))));
function owner(instances, user) {
  return instances.reduce((best, i) => {
    if (best === null) return i;
    const a = score(i, user); const b = score(best, user);
    return a > b || (a === b && i < best) ? i : best;
  }, null);
}
// A userId with this prefix that `inst` owns among `instances`.
function userOwnedBy(inst, instances, prefix) {
  for (let i = 0; i < 1000; i++) if (owner(instances, `${prefix}${i}`) === inst) return `${prefix}${i}`;
  throw new Error('no such user');
}

// ---- probes ----------------------------------------------------------------------

const health = async (gw) => (await sys.http('GET', '/health', { gw })).body;
const adminHealth = async (p) => (await fetch(`http://127.0.0.1:${p.adminPort}/health`)).json();
const live = () => sys.presences.filter((p) => p.child && p.child.exitCode === null && p.child.signalCode === null);

// Waits until every live instance is ready and sees exactly n ready instances.
async function expectInstances(n) {
  await waitFor(`${n} ready presence instances`, async () => {
    const hs = await Promise.all(live().map(adminHealth));
    return hs.length === n && hs.every((h) => h.ready && h.instances === n);
  }, 15000, 20);
  return Promise.all(live().map(async (p) => (await adminHealth(p)).instance));
}

// Waits until every gateway's /health shows exactly these cluster counts.
async function expectCounts(clients, users, what) {
  let last;
  try {
    await waitFor(what, async () => {
      last = await Promise.all(sys.gateways.map(health));
      return last.every((h) => h.counts === 'cluster' && h.connectedClients === clients && h.connectedUsers === users);
    }, 10000, 20);
  } catch (e) {
    e.message += ` (want ${clients}/${users}, got ${JSON.stringify((last || []).map((h) => [h.counts, h.connectedClients, h.connectedUsers]))})`;
    throw e;
  }
}

// SAMPLES rounds of /health on every gateway: each one exact. Returns the
// number of wrong answers (0 expected) and what they were.
async function sampleCounts(clients, users) {
  const wrong = [];
  for (let i = 0; i < SAMPLES; i++) {
    for (const h of await Promise.all(sys.gateways.map(health))) {
      if (h.counts !== 'cluster' || h.connectedClients !== clients || h.connectedUsers !== users) {
        wrong.push([i, h.counts, h.connectedClients, h.connectedUsers]);
      }
    }
    await sleep(HB / 4);
  }
  return wrong;
}

// Pongs: every socket's devices, several times (queue group: either instance).
async function expectPongs(expect) {
  for (let round = 0; round < 6; round++) {
    for (const [s, n] of expect) {
      const p = await emitAck(s, 'presence:ping', { ts: round });
      assert.equal(p.devices, n, `pong devices of ${p.userId}`);
    }
  }
}

// A counter of /metrics on port (0 when absent).
async function metric(port, name) {
  const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const x = new RegExp(`^${name} (\\d+)`, 'm').exec(m);
  return x ? Number(x[1]) : 0;
}
const heartbeatsSeen = (p) => metric(p.adminPort, 'statsync_presence_heartbeats_total');
// Snapshots asked for by the instances and sent by the gateways, so far.
const snapshotTraffic = async () => Promise.all([
  ...live().map((p) => metric(p.adminPort, 'statsync_presence_sync_requests_total')),
  ...sys.gateways.map((g) => metric(g.apiPort, 'statsync_presence_snapshots_sent_total'))]);

// A quiet window: until every live instance received n more heartbeats of
// each gateway (n heartbeat intervals), bounded.
async function heartbeats(n) {
  const ps = live();
  const from = await Promise.all(ps.map(heartbeatsSeen));
  const want = n * sys.gateways.length;
  await waitFor(`${n} heartbeat intervals`, async () => {
    const now = await Promise.all(ps.map(heartbeatsSeen));
    return now.every((v, i) => v - from[i] >= want);
  }, 20 * n * HB + 10000, 20);
}

// Sockets that record every presence:update they get.
async function sock(user, gw, opts = {}) {
  const s = await connect(sys, user, opts, gw);
  s.updates = [];
  s.on('presence:update', (x) => {
    assert.equal(x.userId, user, 'an update of another user');
    s.updates.push(x.devices);
  });
  return s;
}
const got = (socks) => socks.map((s) => s.updates.join(','));
async function expectUpdates(socks, want, what) {
  try {
    await waitFor(what, () => got(socks).every((g, i) => g === want[i].join(',')), 10000, 10);
  } catch (e) {
    e.message += ` (want ${JSON.stringify(want.map((w) => w.join(',')))}, got ${JSON.stringify(got(socks))})`;
    throw e;
  }
}
const closeAll = (socks) => socks.forEach((s) => s.close());

// ---- tests -----------------------------------------------------------------------

test('idle sockets: /health exact in every sample, pongs exact, not one presence:update', async (t) => {
  const [g0, g1] = sys.gateways;
  await expectInstances(2);
  const a0 = await sock('pi_idle_a', g0);
  const a1 = await sock('pi_idle_a', g1, { transports: ['websocket'] });
  const b = await sock('pi_idle_b', g1, { transports: ['polling'] });
  const all = [a0, a1, b];
  try {
    await expectCounts(3, 2, '3 sockets of 2 users');
    await expectUpdates(all, [[2], [], []], 'alice\'s first socket told of her second');
    const wrong = await sampleCounts(3, 2);
    t.diagnostic(`${SAMPLES} samples x ${sys.gateways.length} gateways: ${wrong.length} wrong`);
    assert.deepEqual(wrong, [], 'a /health sample was not the exact cluster count');
    await expectPongs([[a0, 2], [a1, 2], [b, 1]]);
    const before = await snapshotTraffic();
    t.diagnostic(`sync requests per instance, snapshots sent per gateway, so far: ${before.join(' ')}`);
    await heartbeats(10);
    assert.deepEqual(got(all), ['2', '', ''], 'presence:update on idle sockets');
    // the digests matched: no instance asked, no gateway resent its snapshot
    assert.deepEqual(await snapshotTraffic(), before, 'snapshots asked / sent while idle');
  } finally { closeAll(all); }
  await expectCounts(0, 0, 'idle sockets gone');
});

test('exactly one presence:update per socket per change, for users of either instance', async () => {
  const [g0, g1] = sys.gateways;
  const ids = await expectInstances(2);
  for (const inst of ids) {
    const u = userOwnedBy(inst, ids, `pi_own_${inst.length}_`);
    const c0 = await sock(u, g0);
    const c1 = await sock(u, g1);
    await expectUpdates([c0, c1], [[2], []], `${u}: second device`);
    const c2 = await sock(u, g0, { transports: ['websocket'] });
    await expectUpdates([c0, c1, c2], [[2, 3], [3], []], `${u}: third device`);
    c1.close();
    await expectUpdates([c0, c2], [[2, 3, 2], [2]], `${u}: one left`);
    c2.close();
    await expectUpdates([c0], [[2, 3, 2, 1]], `${u}: back to one`);
    await heartbeats(5);
    assert.deepEqual(got([c0, c1, c2]), ['2,3,2,1', '3', '2'], `${u} (owner ${inst}): duplicates`);
    c0.close();
    await expectCounts(0, 0, `${u} gone`);
  }
});

test('kill -9 of one instance: counts and pongs stay exact; its restart sends no update', async (t) => {
  const [g0, g1] = sys.gateways;
  const ids = await expectInstances(2);
  const victim = sys.presences[1];
  const victimId = (await adminHealth(victim)).instance;
  const survivorId = ids.find((i) => i !== victimId);
  const du = userOwnedBy(victimId, ids, 'pi_kill_d');
  const eu = userOwnedBy(survivorId, ids, 'pi_kill_e');
  const d0 = await sock(du, g0);
  const d1 = await sock(du, g1, { transports: ['websocket'] });
  const e0 = await sock(eu, g0);
  const all = [d0, d1, e0];
  const socks = [d0, d1, e0];
  try {
    await expectCounts(3, 2, 'before the kill');
    await expectUpdates(socks, [[2], [], []], 'second device of the victim\'s user');

    await victim.kill('SIGKILL');
    await expectCounts(3, 2, 'answered by the survivor');
    let wrong = await sampleCounts(3, 2);
    t.diagnostic(`after kill -9: ${wrong.length} wrong of ${SAMPLES * 2} samples`);
    assert.deepEqual(wrong, [], 'a /health sample after the kill');
    await expectPongs([[d0, 2], [d1, 2], [e0, 1]]);
    assert.deepEqual(got(socks), ['2', '', ''], 'no update from the kill itself');

    // the survivor expires the victim and owns its users: one update per change
    await expectInstances(1);
    const d2 = await sock(du, g1);
    all.push(d2);
    await expectUpdates([d0, d1, d2], [[2, 3], [3], []], 'the survivor publishes the victim\'s user');

    // restart: a new instance syncs (every gateway sends a snapshot), then joins
    await sys.restartPresence(victim);
    await expectInstances(2);
    wrong = await sampleCounts(4, 2);
    t.diagnostic(`after the restart: ${wrong.length} wrong of ${SAMPLES * 2} samples`);
    assert.deepEqual(wrong, [], 'a /health sample after the restart');
    await expectPongs([[d0, 3], [d1, 3], [d2, 3], [e0, 1]]);
    await heartbeats(5);
    assert.deepEqual(got([d0, d1, d2, e0]), ['2,3', '3', '', ''], 'the restart sent presence:update events');
    const m = await (await fetch(`http://127.0.0.1:${victim.adminPort}/metrics`)).text();
    t.diagnostic(`restarted instance: ${/^statsync_presence_updates_total \d+/m.exec(m)}; sync requests per instance, snapshots sent per gateway: ${(await snapshotTraffic()).join(' ')}`);

    d2.close();
    await expectUpdates([d0, d1], [[2, 3, 2], [3, 2]], 'a change after the restart');
    await heartbeats(3);
    assert.deepEqual(got([d0, d1, e0]), ['2,3,2', '3,2', ''], 'duplicates after the restart');
  } finally { closeAll(all); }
  await expectCounts(0, 0, 'kill test sockets gone');
});

test('every instance down and back: one update for a change made meanwhile, none otherwise', async () => {
  const [g0, g1] = sys.gateways;
  await expectInstances(2);
  const f0 = await sock('pi_all_f', g0);
  const f1 = await sock('pi_all_f', g1);
  const k0 = await sock('pi_all_k', g0);
  const all = [f0, f1, k0];
  try {
    await expectCounts(3, 2, 'before');
    await expectUpdates([f0, f1, k0], [[2], [], []], 'second device');
    await Promise.all(sys.presences.map((p) => p.kill('SIGKILL')));
    // meanwhile: a third device of f (nobody publishes it), a new user h
    const f2 = await sock('pi_all_f', g0, { transports: ['websocket'] });
    const h0 = await sock('pi_all_h', g1);
    all.push(f2, h0);
    for (const p of sys.presences) await sys.restartPresence(p);
    await expectInstances(2);
    await expectCounts(5, 3, 'exact after both restarted');
    // f0 and f1 learn of the third device once; f2 (in f0's room, never told
    // a count of its own) hears the count it joined at; k and h hear nothing
    await expectUpdates([f0, f1], [[2, 3], [3]], 'the change made while no instance ran');
    await heartbeats(5);
    assert.deepEqual(got([f0, f1, f2, k0, h0]), ['2,3', '3', '3', '', ''], 'updates after the cluster restart');
  } finally { closeAll(all); }
  await expectCounts(0, 0, 'sockets gone');
});
