// partition_split_legacy.test.js — `statsync-admin partition split-legacy`
// against the real binaries: a data directory in the layout from before
// partitions (one data.mdb for every user, written by stats_core's own
// store.c: tests/integration/legacy_store_writer.c) is refused by the
// stats-service, which names the way out; split into 64 partitions it starts
// and serves every old document, and every old exactly-once record is still
// a duplicate. Refusals: a partitions/ folder in the way (--force renames it
// aside), no data.mdb.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { System, Proc, bin, freePort } = require('../lib/system');
const { partitionOf, startStats, stopStats, health, admin, patchUntilAcked, getDoc, inParallel } = require('./partition_helpers');

const BIN_DIR = process.env.STATSYNC_BIN_DIR || path.resolve(__dirname, '../../build');

function writeLegacy(dir, users, ops) {
  fs.mkdirSync(dir, { recursive: true });
  const out = execFileSync(path.join(BIN_DIR, 'tests', 'statsync-test-legacy-store'), [dir, String(users), String(ops)],
    { encoding: 'utf8', env: { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0' } });
  return out.trim().split('\n').filter((l) => l.startsWith('{"user"')).map((l) => JSON.parse(l));
}

let sys;
const procs = [];

test.after(async () => {
  try {
    for (const p of procs) if (p.child && p.child.exitCode === null && p.child.signalCode === null) await stopStats(p);
  } finally {
    if (sys) await sys.stop();
  }
});

test('a pre-partition data directory is refused; split, the service serves every old document and record', async () => {
  sys = await System.start({ stats: false });
  const dir = path.join(sys.dir, 'legacy');
  const old = writeLegacy(dir, 300, 3);
  assert.equal(old.length, 300);
  assert.ok(new Set(old.map((u) => partitionOf(u.user))).size > 50, 'users all over the partitions');

  // The service refuses the old layout, naming the tool.
  const port = await freePort();
  const refused = new Proc('stats-legacy', bin('statsync-stats'), [], sys.baseEnv({
    STATSYNC_DATA_DIR: dir, STATSYNC_ADMIN_PORT: String(port), STATSYNC_INSTANCE_ID: 'stats-legacy',
  }, 'stats'), path.join(sys.dir, 'stats-legacy.log')).start();
  const r = await refused.exited;
  assert.notEqual(r.code, 0);
  assert.match(refused.log(), /statsync-admin partition split-legacy/);

  const split = await admin(sys, ['partition', 'split-legacy', '--data-dir', dir, '--partition-count', '64', '--json']);
  assert.equal(split.code, 0, split.text);
  assert.equal(split.json.documents, 300);
  assert.equal(split.json.idempotency_records, 900);
  assert.equal(split.json.partitions.length, 64);
  assert.equal(split.json.partitions.reduce((n, p) => n + p.documents, 0), 300);
  for (const p of split.json.partitions) {
    assert.equal(p.documents, old.filter((u) => partitionOf(u.user) === p.partition).length, `partition ${p.partition}`);
  }
  console.log(`# split-legacy: 300 documents, 900 idempotency records in ${split.json.ms} ms`);
  assert.ok(fs.existsSync(path.join(dir, 'data.mdb.pre-partitions')));
  assert.ok(!fs.existsSync(path.join(dir, 'data.mdb')));
  assert.ok(!fs.existsSync(path.join(dir, 'partitions.splitting')));
  const again = await admin(sys, ['partition', 'split-legacy', '--data-dir', dir, '--partition-count', '64']);
  assert.equal(again.code, 1, again.text);
  assert.match(again.stderr, /data\.mdb is not there/);

  const s = await startStats(sys, 'stats-split', '', dir);
  procs.push(s);
  assert.equal((await health(s)).totalUsers, 300);
  await inParallel(old, 8, async (u) => {
    const d = await getDoc(sys, u.user);
    assert.equal(d.xp, u.xp, u.user);
    assert.equal(d.diamonds, u.diamonds, u.user);
    assert.equal(d.version, u.version, u.user);
    const dup = await patchUntilAcked(sys, u.user, u.ops[u.ops.length - 1]);
    assert.equal(dup.duplicate, true, `${u.user}: its old record is kept`);
    assert.equal(dup.stats.xp, u.xp);
  });
  const fresh = await patchUntilAcked(sys, old[1].user, 'after-the-split');
  assert.equal(fresh.duplicate, undefined);
  assert.equal(fresh.stats.xp, old[1].xp + 1);
  assert.equal(fresh.stats.version, old[1].version + 1);
});

test('split-legacy refuses what is in its way; --force renames it aside', async () => {
  const dir = path.join(sys.dir, 'legacy2');
  writeLegacy(dir, 20, 1);
  fs.mkdirSync(path.join(dir, 'partitions'));
  fs.writeFileSync(path.join(dir, 'partitions', 'notes.txt'), 'something of the operator\'s');
  const r = await admin(sys, ['partition', 'split-legacy', '--data-dir', dir, '--partition-count', '64']);
  assert.equal(r.code, 1, r.text);
  assert.match(r.stderr, /already exists and is not empty/);
  assert.ok(fs.existsSync(path.join(dir, 'data.mdb')));
  const usage = await admin(sys, ['partition', 'split-legacy', '--data-dir', dir]);
  assert.equal(usage.code, 2, usage.text);
  const forced = await admin(sys, ['partition', 'split-legacy', '--data-dir', dir, '--partition-count', '64', '--force', '--json']);
  assert.equal(forced.code, 0, forced.text);
  assert.equal(forced.json.documents, 20);
  const aside = fs.readdirSync(dir).filter((n) => n.startsWith('partitions.before-split-'));
  assert.equal(aside.length, 1);
  assert.ok(fs.existsSync(path.join(dir, aside[0], 'notes.txt')));
});
