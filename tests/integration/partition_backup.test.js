// partition_backup.test.js — `statsync-admin partition backup|restore`
// against the real binaries: stats0 (0-31) and stats1 (32-63) serve
// documents with exactly-once records; stats1's partitions are backed up
// ONLINE while a client keeps writing to one of its users; the restore is
// refused while stats1 serves them, and for a backup that does not match
// its manifest (nothing written); after stats1 stops, the backup is
// restored into a fresh data directory and a third instance serves it:
// every document and exactly-once record is there — the written-to user's
// document and records are one consistent snapshot (its xp is the number
// of its records; every op acknowledged before the backup began is a
// duplicate, every later one applies once).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { System } = require('../lib/system');
const { RestWriter } = require('./fault_helpers');
const {
  partitionOf, usersOf, startStats, stopStats, admin, patchUntilAcked, getDoc, inParallel,
  waitFor,
} = require('./partition_helpers');

let sys;
const procs = [];

test.after(async () => {
  try {
    for (const p of procs) if (p.child && p.child.exitCode === null && p.child.signalCode === null) await stopStats(p);
  } finally {
    if (sys) await sys.stop();
  }
});

test('online backup while writing; restore verified into a fresh data directory served by a third instance', async () => {
  sys = await System.start({ stats: false });
  const s0 = await startStats(sys, 'stats0', '0-31', path.join(sys.dir, 's0'));
  const s1 = await startStats(sys, 'stats1', '32-63', path.join(sys.dir, 's1'));
  procs.push(s0, s1);
  await waitFor('every partition served', async () => {
    const r = await sys.http('GET', '/health');
    return r.status === 200 && r.body.services.stats.partitionsWithoutOwner.length === 0;
  }, 20000);

  const expected = new Map();
  const users = Array.from({ length: 150 }, (_, i) => `b${i}@example.com`);
  await inParallel(users, 12, async (u) => {
    const n = 1 + (users.indexOf(u) % 4);
    for (let j = 0; j < n; j++) await patchUntilAcked(sys, u, `bk-${u}-${j}`);
    expected.set(u, n);
  });
  const high = users.filter((u) => partitionOf(u) >= 32);
  assert.ok(high.length > 20 && high.length < 130);

  const [wUser] = usersOf(45, 1, 'bw-');
  const w = new RestWriter(sys, wUser, { apiPorts: [sys.gw.apiPort] }).start(5);
  const out = path.join(sys.dir, 'backup');
  let before;
  let bk;
  try {
    await waitFor('writes before the backup', () => w.acked.size >= 5, 20000);
    before = new Set(w.acked);
    bk = await admin(sys, ['partition', 'backup', '--data-dir', s1.dataDir, '--out', out, '--partition-count', '64', '--json']);
    const afterBk = w.acked.size;
    await waitFor('writes after the backup', () => w.acked.size >= afterBk + 5, 20000);
  } finally {
    await w.stop();
  }
  assert.ok(await w.drain(20000), w.summary());
  assert.equal(bk.code, 0, bk.text);
  const m = bk.json;
  assert.equal(m.format, 'statsync-partition-backup');
  assert.equal(m.partition_count, 64);
  assert.deepEqual(m.partitions.map((p) => p.partition), Array.from({ length: 32 }, (_, i) => 32 + i));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')), m);
  const docs = m.partitions.reduce((n, p) => n + p.documents, 0);
  const idem = m.partitions.reduce((n, p) => n + p.idempotency_records, 0);
  assert.equal(docs, high.length + 1);
  assert.ok(idem >= high.reduce((n, u) => n + expected.get(u), 0) + before.size);
  const dbi = (p, name) => p.dbis.find((d) => d.name === name);
  for (const p of m.partitions) {
    assert.deepEqual(p.dbis.map((d) => d.name), ['clients', 'docs', 'idem', 'idem_time']);
    assert.equal(dbi(p, 'idem').entries, dbi(p, 'idem_time').entries, `partition ${p.partition}: idem and its time index`);
  }
  console.log(`# backup of 32 partitions while writing: ${docs} documents, ${idem} idempotency records, ` +
    `${m.partitions.reduce((n, p) => n + p.bytes, 0)} bytes, copy ms ${m.partitions.map((p) => p.copy_ms).join(',')}`);
  console.log(`# writer during the backup: ${w.summary()}`);

  // A second backup into the same directory is refused.
  const again = await admin(sys, ['partition', 'backup', '--data-dir', s1.dataDir, '--out', out]);
  assert.equal(again.code, 1, again.text);
  assert.match(again.stderr, /already holds a backup/);

  // Refused while stats1 serves the partitions (the tool asks every instance).
  const fresh = path.join(sys.dir, 's2');
  const served = await admin(sys, ['partition', 'restore', '--from', out, '--data-dir', fresh]);
  assert.equal(served.code, 1, served.text);
  assert.match(served.stderr, /partition 32 is served by stats1: release it first/);
  assert.ok(!fs.existsSync(path.join(fresh, 'partitions')));

  // Refused when a copy does not match its manifest: nothing is written.
  const tampered = path.join(sys.dir, 'tampered');
  fs.cpSync(out, tampered, { recursive: true });
  const tm = JSON.parse(fs.readFileSync(path.join(tampered, 'manifest.json'), 'utf8'));
  tm.partitions[3].documents += 1;
  dbi(tm.partitions[3], 'docs').entries += 1;
  fs.writeFileSync(path.join(tampered, 'manifest.json'), JSON.stringify(tm));
  const bad = await admin(sys, ['partition', 'restore', '--from', tampered, '--data-dir', fresh, '--nats', '']);
  assert.equal(bad.code, 1, bad.text);
  assert.match(bad.stderr, /partition 35: the backup's copy does not match its manifest: DBI 'docs'/);
  assert.ok(!fs.existsSync(path.join(fresh, 'partitions')) || fs.readdirSync(path.join(fresh, 'partitions')).length === 0);

  // stats1 stops (its leases given back); the backup goes to a fresh data
  // directory, checked against the manifest, and a third instance serves it.
  await stopStats(s1);
  const rs = await admin(sys, ['partition', 'restore', '--from', out, '--data-dir', fresh, '--json']);
  assert.equal(rs.code, 0, rs.text);
  assert.equal(rs.json.restored.length, 32);
  assert.equal(rs.json.restored.reduce((n, p) => n + p.documents, 0), docs);
  assert.equal(rs.json.restored.reduce((n, p) => n + p.idempotency_records, 0), idem);
  const twice = await admin(sys, ['partition', 'restore', '--from', out, '--data-dir', fresh, '--partition', '40']);
  assert.equal(twice.code, 1, twice.text);
  assert.match(twice.stderr, /already exists: refusing to overwrite it/);
  const forced = await admin(sys, ['partition', 'restore', '--from', out, '--data-dir', fresh, '--partition', '40', '--force', '--json']);
  assert.equal(forced.code, 0, forced.text);
  assert.match(forced.json.restored[0].replaced, /partitions\/40\.replaced-/);

  const s2 = await startStats(sys, 'stats2', '32-63', fresh);
  procs.push(s2);
  await waitFor('the third instance serves the restored partitions', async () => {
    const r = await sys.http('GET', '/health');
    return r.status === 200 && r.body.services.stats.partitionsWithoutOwner.length === 0;
  }, 20000);
  // While it serves them, a restore with --force is still refused: the
  // folder is open.
  const open = await admin(sys, ['partition', 'restore', '--from', out, '--data-dir', fresh, '--partition', '41', '--force', '--nats', '']);
  assert.equal(open.code, 1, open.text);
  assert.match(open.stderr, /is open by process \d+/);

  // Every document and exactly-once record of the seeded users.
  await inParallel(users, 8, async (u) => {
    assert.equal((await getDoc(sys, u)).xp, expected.get(u), u);
    const r = await patchUntilAcked(sys, u, `bk-${u}-0`);
    assert.equal(r.duplicate, true, `${u}: its record survived`);
    assert.equal(r.stats.xp, expected.get(u), u);
  });
  // The written-to user: document and records from one snapshot.
  const restoredXp = (await getDoc(sys, wUser)).xp;
  let dups = 0;
  for (const key of w.keys) {
    const r = await patchUntilAcked(sys, wUser, key);
    if (r.duplicate) dups++;
    else assert.ok(!before.has(key), `${key} was acknowledged before the backup began`);
  }
  assert.equal(dups, restoredXp, 'the restored xp counts exactly the restored records');
  assert.ok(restoredXp >= before.size);
  assert.equal((await getDoc(sys, wUser)).xp, w.sent, 'every op applied exactly once');
  console.log(`# restored writer: ${restoredXp} of ${w.sent} ops were in the backup (${before.size} acknowledged before it began)`);
});
