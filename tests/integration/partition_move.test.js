// partition_move.test.js — `statsync-admin partition move|status|release|
// acquire` against the real binaries: two stats-service instances (stats0:
// 0-31, stats1: 32-63), a gateway, documents with exactly-once records
// (REST with Idempotency-Key) across both halves.
//  - status names each instance's partitions and none without owner;
//  - a partition moves from stats0 to stats1 while a client keeps writing
//    to a user of it (retrying partition_unavailable, as clients do): every
//    document is exact afterwards (xp = distinct acknowledged ops), the old
//    keys are duplicates on the new owner and do not apply twice, stats0
//    no longer serves it and cannot (its folder is renamed aside, a
//    tombstone in its place), /health shows no partition without owner;
//  - refusals change nothing; a failure after the release (after the copy,
//    after the renames) is rolled back: the old owner serves the partition
//    again from its own folder, nothing lost.
// Also run with NATS auth (the tool as the `admin` user): the commands need
// nothing more than its rights; reading the leases is refused, and named.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { System } = require('../lib/system');
const { RestWriter } = require('./fault_helpers');
const {
  partitionOf, usersOf, startStats, stopStats, health, admin, patchUntilAcked, getDoc, inParallel,
  head, waitFor,
} = require('./partition_helpers');

const MOVED = 7; // moved from stats0 to stats1
const ROLLED = 8; // its moves fail on purpose and roll back
const TOMBSTONE = 'statsync partition tombstone\n';

let sys;
let s0;
let s1;
const expected = new Map(); // user -> xp (= distinct acknowledged keys)
const firstKey = new Map(); // user -> a key applied before the move

async function seed() {
  const users = [];
  for (let i = 0; i < 120; i++) users.push(`m${i}|user`);
  users.push(...usersOf(MOVED, 6, 'moved-'), ...usersOf(ROLLED, 3, 'rolled-'));
  await inParallel(users, 12, async (u) => {
    const n = 1 + (users.indexOf(u) % 3);
    for (let j = 0; j < n; j++) await patchUntilAcked(sys, u, `seed-${u}-${j}`);
    expected.set(u, n);
    firstKey.set(u, `seed-${u}-0`);
  });
  const halves = new Set(users.map((u) => partitionOf(u) < 32));
  assert.equal(halves.size, 2, 'users of both halves');
}

async function assertDocsExact(writers = []) {
  for (const w of writers) expected.set(w.userId, w.sent);
  await inParallel([...expected.keys()], 8, async (u) => {
    const d = await getDoc(sys, u);
    assert.equal(d.xp, expected.get(u), `${u} (partition ${partitionOf(u)}): xp`);
  });
}

async function serving(proc) {
  return (await health(proc)).partitions;
}

test.before(async () => {
  sys = await System.start({ stats: false });
  s0 = await startStats(sys, 'stats0', '0-31', path.join(sys.dir, 's0'));
  s1 = await startStats(sys, 'stats1', '32-63', path.join(sys.dir, 's1'));
  await waitFor('the gateway sees every partition served', async () => {
    const r = await sys.http('GET', '/health');
    return r.status === 200 && r.body.services.stats.partitionsWithoutOwner.length === 0;
  }, 20000);
  await seed();
});

test.after(async () => {
  try {
    for (const p of [s0, s1]) if (p) await stopStats(p);
  } finally {
    if (sys) {
      if (sys.natsAuth) {
        // The one refusal expected: --leases as `admin` (no read right on
        // the lease bucket; the README says which it would need).
        const other = sys.natsViolations().filter((l) => !/User "admin".*\$JS\.API\./.test(l));
        sys.opts.natsViolationsExpected = true;
        await sys.stop();
        assert.deepEqual(other, [], 'no other permissions violation');
      } else {
        await sys.stop();
      }
    }
  }
});

test('status: each instance and its partitions, none without owner', async () => {
  const r = await admin(sys, ['partition', 'status', '--json']);
  assert.equal(r.code, 0, r.text);
  const byName = Object.fromEntries(r.json.instances.map((i) => [i.instance, i]));
  assert.equal(byName.stats0.partitions_text, '0-31');
  assert.equal(byName.stats1.partitions_text, '32-63');
  assert.equal(byName.stats0.data_dir, s0.dataDir);
  assert.equal(r.json.partition_count, 64);
  assert.deepEqual(r.json.without_owner, []);
  assert.deepEqual(r.json.served_twice, []);
  const text = await admin(sys, ['partition', 'status']);
  assert.equal(text.code, 0, text.text);
  assert.match(text.stdout, /stats0 +serves 32 of 64: 0-31/);
  assert.match(text.stdout, /without owner: none/);

  // Only the instances named: the others' partitions count as without owner.
  const one = await admin(sys, ['partition', 'status', '--instance', 'stats0', '--json']);
  assert.equal(one.code, 1, one.text);
  assert.equal(one.json.without_owner.length, 32);
  assert.equal(one.json.without_owner[0], 32);
  const none = await admin(sys, ['partition', 'status', '--instance', 'stats9', '--instance', 'stats1', '--json']);
  assert.equal(none.code, 1, none.text);
  assert.equal(none.json.unreachable[0].instance, 'stats9');
  assert.match(none.stderr, /no instance named 'stats9' runs/);

  // The leases themselves: readable on an open server; the `admin` user
  // has no right to the bucket (named in the error).
  const leases = await admin(sys, ['partition', 'status', '--leases', '--json', '--timeout-ms', '2000']);
  if (sys.natsAuth) {
    assert.equal(leases.code, 1, leases.text);
    assert.match(leases.json.lease_error, /statsync_partitions cannot be read/);
  } else {
    assert.equal(leases.code, 0, leases.text);
    assert.match(leases.json.leases[String(MOVED)], /^stats0\//);
    assert.match(leases.json.leases['40'], /^stats1\//);
    assert.deepEqual(leases.json.lease_mismatch, []);
  }

  const usage = await admin(sys, ['partition', 'status', '--bogus']);
  assert.equal(usage.code, 2, usage.text);
  const help = await admin(sys, ['partition', 'move', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: statsync-admin partition move P --from INSTANCE --to INSTANCE/);
});

test('move while a client writes: exact documents, old keys still duplicates, stats0 cannot serve it', async () => {
  const [wUser] = usersOf(MOVED, 1, 'writer-');
  const w = new RestWriter(sys, wUser, { apiPorts: [sys.gw.apiPort] }).start(10);
  try {
    await waitFor('writes before the move', () => w.acked.size >= 5, 20000);
    const r = await admin(sys, ['partition', 'move', String(MOVED), '--from', 'stats0', '--to', 'stats1', '--json']);
    assert.equal(r.code, 0, r.text);
    assert.equal(r.json.ok, true);
    assert.equal(r.json.rolled_back, false);
    const seededHere = [...expected.keys()].filter((u) => partitionOf(u) === MOVED);
    assert.equal(r.json.documents, seededHere.length + 1, 'the seeded users of the partition and the writer');
    const seededKeys = seededHere.reduce((n, u) => n + expected.get(u), 0);
    assert.ok(r.json.idempotency_records >= seededKeys + 5, r.text);
    console.log(`# move: ${JSON.stringify(r.json)}`);
    const after = w.acked.size;
    await waitFor('writes after the move', () => w.acked.size >= after + 10, 20000);
  } finally {
    await w.stop();
  }
  assert.ok(await w.drain(20000), w.summary());
  console.log(`# writer during the move: ${w.summary()}`);

  await assertDocsExact([w]);
  // Keys applied before the move are recognised by the new owner.
  for (const u of [...expected.keys()].filter((x) => partitionOf(x) === MOVED).concat([wUser])) {
    const key = u === wUser ? [...w.keys][0] : firstKey.get(u);
    const again = await patchUntilAcked(sys, u, key);
    assert.equal(again.duplicate, true, `${u} ${key}`);
    assert.equal(again.stats.xp, expected.get(u), `${u}: not applied twice`);
  }

  assert.ok(!(await serving(s0)).includes(MOVED));
  assert.ok((await serving(s1)).includes(MOVED));
  // stats0's folder is renamed aside; a tombstone stands where it was.
  const parts0 = fs.readdirSync(path.join(s0.dataDir, 'partitions'));
  assert.ok(parts0.some((n) => n.startsWith(`${MOVED}.moved-`)), parts0.join(' '));
  assert.equal(head(path.join(s0.dataDir, 'partitions', String(MOVED)), TOMBSTONE.length), TOMBSTONE);
  assert.ok(fs.statSync(path.join(s1.dataDir, 'partitions', String(MOVED), 'data.mdb')).isFile());

  const st = await admin(sys, ['partition', 'status', '--json']);
  assert.equal(st.code, 0, st.text);
  assert.deepEqual(st.json.without_owner, []);
  const h = await sys.http('GET', '/health');
  assert.equal(h.status, 200, h.text);
  assert.deepEqual(h.body.services.stats.partitionsWithoutOwner, []);
});

test('the tombstone keeps the old owner from serving the moved partition, even when it is free, and survives a failed move back', async () => {
  const rel = await admin(sys, ['partition', 'release', String(MOVED), '--instance', 'stats1', '--json']);
  assert.equal(rel.code, 0, rel.text);
  assert.equal(rel.json.serving, false);
  // Refused by the lease while stats1 held it; now free: stats0 must refuse
  // rather than serve an empty partition in place of the tombstone (the
  // cluster remembers stats1 as its home; the tombstone is a file LMDB
  // cannot open — each alone refuses).
  const acq = await admin(sys, ['partition', 'acquire', String(MOVED), '--instance', 'stats0']);
  assert.equal(acq.code, 1, acq.text);
  assert.match(acq.stderr, /keeps its data on stats1|cannot open/);
  assert.ok(!(await serving(s0)).includes(MOVED));
  const back = await admin(sys, ['partition', 'acquire', String(MOVED), '--instance', 'stats1', '--json']);
  assert.equal(back.code, 0, back.text);
  assert.equal(back.json.serving, true);
  // A second owner is refused by the lease, naming the owner.
  const twice = await admin(sys, ['partition', 'acquire', String(MOVED), '--instance', 'stats0']);
  assert.equal(twice.code, 1, twice.text);
  assert.match(twice.stderr, /owned by stats1\//);
  // A move back that fails after replacing the tombstone puts it back.
  const tomb = path.join(s0.dataDir, 'partitions', String(MOVED));
  const failed = await admin(sys, ['partition', 'move', String(MOVED), '--from', 'stats1', '--to', 'stats0', '--json'],
    { STATSYNC_TEST_ADMIN_FAIL_AT: 'before-acquire' });
  assert.equal(failed.code, 1, failed.text);
  assert.equal(failed.json.rolled_back, true, failed.text);
  assert.ok((await serving(s1)).includes(MOVED));
  assert.equal(head(tomb, TOMBSTONE.length), TOMBSTONE);
  assert.match(fs.readFileSync(tomb, 'utf8'), /moved to instance stats1/);
  assert.ok(fs.readdirSync(path.join(s0.dataDir, 'partitions')).some((n) => n.startsWith(`${MOVED}.failed-move-`)));
  await assertDocsExact();
});

test('refused moves change nothing', async () => {
  const cases = [
    [['partition', 'move', String(MOVED), '--from', 'stats0', '--to', 'stats1'], /stats0 does not serve partition 7/],
    [['partition', 'move', String(ROLLED), '--from', 'stats0', '--to', 'stats9'], /no instance named 'stats9' runs/],
    [['partition', 'move', '64', '--from', 'stats0', '--to', 'stats1'], /there is no partition 64/],
    [['partition', 'move', String(ROLLED), '--from', 'stats0', '--to', 'stats1', '--from-data-dir', sys.dir], /not open by any process|missing/],
  ];
  for (const [args, why] of cases) {
    const r = await admin(sys, args);
    assert.equal(r.code, 1, r.text);
    assert.match(r.stderr, why);
    assert.match(r.stderr, /nothing changed/);
  }
  for (const args of [['partition', 'move', '--from', 'a', '--to', 'b'], ['partition', 'move', '3', '--from', 'a', '--to', 'a'], ['partition', 'move', '3', '--from', 'a']]) {
    const r = await admin(sys, args);
    assert.equal(r.code, 2, r.text);
  }
  assert.ok((await serving(s0)).includes(ROLLED));
  assert.ok(fs.statSync(path.join(s0.dataDir, 'partitions', String(ROLLED))).isDirectory());
  await assertDocsExact();
});

test('a failure after the release is rolled back: the old owner serves it again, nothing lost', async () => {
  const [wUser] = usersOf(ROLLED, 1, 'rollwriter-');
  const w = new RestWriter(sys, wUser, { apiPorts: [sys.gw.apiPort] }).start(10);
  try {
    for (const at of ['after-release', 'after-copy', 'before-acquire']) {
      const before = w.acked.size;
      await waitFor(`writes before the ${at} failure`, () => w.acked.size >= before + 3, 20000);
      const r = await admin(sys, ['partition', 'move', String(ROLLED), '--from', 'stats0', '--to', 'stats1', '--json'],
        { STATSYNC_TEST_ADMIN_FAIL_AT: at });
      assert.equal(r.code, 1, r.text);
      assert.equal(r.json.rolled_back, true, r.text);
      assert.match(r.stderr, new RegExp(`failing at '${at}'`));
      assert.ok((await serving(s0)).includes(ROLLED), at);
      assert.ok(!(await serving(s1)).includes(ROLLED), at);
      // stats0's own folder is back in place; nothing half-made stays
      // beside stats1's partitions but the copy set aside after the renames.
      assert.ok(fs.statSync(path.join(s0.dataDir, 'partitions', String(ROLLED))).isDirectory(), at);
      assert.ok(!fs.readdirSync(path.join(s0.dataDir, 'partitions')).some((n) => n.startsWith(`${ROLLED}.`)), at);
      const left = fs.readdirSync(path.join(s1.dataDir, 'partitions')).filter((n) => n.startsWith(`${ROLLED}`));
      assert.deepEqual(left.filter((n) => !n.startsWith(`${ROLLED}.failed-move-`)), [], `${at}: ${left}`);
      assert.equal(left.length, at === 'before-acquire' ? 1 : 0, `${at}: ${left}`);
    }
    const after = w.acked.size;
    await waitFor('writes after the roll-backs', () => w.acked.size >= after + 3, 20000);
  } finally {
    await w.stop();
  }
  assert.ok(await w.drain(20000), w.summary());
  await assertDocsExact([w]);
  const again = await patchUntilAcked(sys, wUser, [...w.keys][0]);
  assert.equal(again.duplicate, true);
  const h = await sys.http('GET', '/health');
  assert.deepEqual(h.body.services.stats.partitionsWithoutOwner, []);
});
