// fault_storage.test.js — issue 7, fault 4: storage that cannot take a write.
//
//  1. LMDB map full: the stats-service runs with STATSYNC_MAP_SIZE_MB=1 and is
//     filled through REST until 507 storage_full. The client error is 507
//     {"error":{"code":"storage_full"}} (REST) / an ack {ok:false, error:{code:
//     storage_full, status:507}} (Socket.IO); the service stays up and reads
//     work; mdb_stat reads the file after a clean stop; restarted with a larger
//     map, writes work again, every acknowledged write is there, and a refused
//     write retried with its Idempotency-Key applies exactly once.
//  2. Disk full while running: the data directory is a 512 KB tmpfs (mounted in
//     a private mount namespace of the stats-service only: unshare -m); filled
//     until 507; then the tmpfs is grown (nsenter ... mount -o remount,size=)
//     and the same process takes writes again — no restart — with nothing
//     acknowledged lost.
//  3. Data directory not writable at start: chmod 0500 on a fresh directory.
//     Tests run as root here, where chmod does not stop writes (root bypasses
//     permission bits), so as root the directory is made read-only with a
//     read-only bind mount in the service's private mount namespace instead.
//     The service refuses to start with a clear log line and exits non-zero
//     (no crash); meanwhile the gateway answers 503 unavailable fast; started
//     again on a writable directory, it works.
//
// Every system here has one partition (STATSYNC_PARTITION_COUNT=1, gateway
// and stats-service alike): the map size is per partition and every
// partition has its own files, so one partition is what lets a 1 MiB map or
// a 512 KB disk fill with a few documents of any users.
//
// Mount namespaces need CAP_SYS_ADMIN; without it cases 2 and 3-as-root are
// skipped with a message saying so. All fast (a few seconds); normal suite.
'use strict';

const ONE_PARTITION = { STATSYNC_PARTITION_COUNT: '1' };

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { System, Proc, bin } = require('../lib/system');
const { connect, emitAck } = require('../compat/sio_helpers');

const BLOB = 'x'.repeat(15000); // lastGameResults just under the 16 KB limit
const diskFullRefusals = []; // refusals seen by the disk-full test, checked by the next test
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function canUnshare() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-ns-'));
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$0"', d], { stdio: 'ignore' });
  fs.rmSync(d, { recursive: true, force: true });
  return r.status === 0;
}
const UNSHARE_OK = canUnshare();
const NO_UNSHARE = 'needs a private mount namespace (unshare -m, CAP_SYS_ADMIN), not available here';

// The stats-service started through `unshare -m` with a shell prelude that
// mounts something on its data dir first; exec keeps the pid the service's.
function statsInNamespace(sys, prelude, extraEnv = {}) {
  const env = { ...sys.stats.env, ...extraEnv };
  return new Proc('stats', 'unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
    `${prelude} && exec "$0"`, bin('statsync-stats')], env, path.join(sys.dir, 'stats.log'));
}

const patch = (sys, user, body, key) => sys.http('POST', '/api/users/data/patch', {
  token: sys.token(user), body, headers: key ? { 'idempotency-key': key } : {},
});

// Writes one 15 KB document per new user until the service answers 507.
// Returns { acked: [{user, key}], refused: [{user, key, r}] }.
// statuses: the refusal statuses accepted.
async function fillUntilFull(sys, tag, { max = 400, statuses = [507] } = {}) {
  const acked = [];
  const refused = [];
  for (let i = 0; i < max && refused.length < 3; i++) {
    const user = `${tag}u${i}`;
    const key = `${tag}-k${i}`;
    const r = await patch(sys, user, { xp: 1, lastGameResults: { blob: BLOB, i } }, key);
    if (r.status === 200) acked.push({ user, key });
    else {
      assert.ok(statuses.includes(r.status), `a full store answers ${statuses}, got ${r.status} ${r.text}`);
      refused.push({ user, key, r });
    }
  }
  assert.ok(refused.length > 0, `no 507 after ${acked.length} documents`);
  return { acked, refused };
}

function assertStorageFull(r) {
  assert.equal(r.status, 507, r.text);
  assert.equal(r.body.error.code, 'storage_full', r.text);
  assert.ok(r.body.error.message.length > 0);
}

async function assertAckedIntact(sys, acked) {
  for (const { user } of acked) {
    const g = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user) });
    assert.equal(g.status, 200, `${user}: ${g.text.slice(0, 200)}`);
    assert.equal(g.body.xp, 1, `${user} lost or doubled: xp ${g.body.xp}`);
    assert.equal(g.body.lastGameResults.blob.length, BLOB.length, `${user}: results damaged`);
  }
}

// A write refused with 507 recorded nothing: the same key applies once now,
// and once more is a duplicate.
async function assertRetryAppliesOnce(sys, refused) {
  for (const { user, key } of refused) {
    const r1 = await patch(sys, user, { xp: 1, lastGameResults: { blob: BLOB } }, key);
    assert.equal(r1.status, 200, r1.text.slice(0, 200));
    assert.equal(r1.body.duplicate, undefined, 'a refused write must not have been recorded');
    const r2 = await patch(sys, user, { xp: 1, lastGameResults: { blob: BLOB } }, key);
    assert.equal(r2.status, 200);
    assert.equal(r2.body.duplicate, true);
    assert.equal(r2.body.stats.xp, 1);
  }
}

test('LMDB map full: 507 storage_full, still up and readable, a larger map after restart loses nothing', async (t) => {
  const sys = await System.start({ env: ONE_PARTITION, statsEnv: { STATSYNC_MAP_SIZE_MB: '1' } });
  try {
    const tag = `mf${process.pid}`;
    const { acked, refused } = await fillUntilFull(sys, tag);
    t.diagnostic(`1 MB map: ${acked.length} documents of 15 KB acknowledged, then 507`);
    for (const { r } of refused) assertStorageFull(r);

    // the socket edge says the same
    const s = await connect(sys, `${tag}sock`, {});
    try {
      const ack = await emitAck(s, 'user:clientUpdate', { opId: `${tag}-op1`, delta: { xp: 1, lastGameResults: { blob: BLOB } } });
      assert.equal(ack.ok, false, JSON.stringify(ack).slice(0, 200));
      assert.equal(ack.error.code, 'storage_full');
      assert.equal(ack.error.status, 507);
    } finally { s.close(); }

    // still up, reads work, health is fine
    assert.equal(sys.stats.child.exitCode, null, 'the stats-service must not exit');
    assert.equal((await fetch(`http://127.0.0.1:${sys.statsAdminPort}/health`)).status, 200);
    assert.equal((await sys.http('GET', '/health')).status, 200);
    await assertAckedIntact(sys, acked);

    // a clean stop, and the file reads back
    const { code } = await sys.stats.kill('SIGTERM');
    assert.equal(code, 0, sys.stats.log().slice(-2000));
    const st = spawnSync('mdb_stat', ['-a', sys.dataDir], { encoding: 'utf8' });
    if (st.error) t.diagnostic('mdb_stat not installed: file check skipped');
    else assert.equal(st.status, 0, `mdb_stat: ${st.stderr}`);

    // more room: writes work again, nothing acknowledged was lost
    sys.stats.env.STATSYNC_MAP_SIZE_MB = '64';
    await sys.restartStats();
    await assertAckedIntact(sys, acked);
    await assertRetryAppliesOnce(sys, refused);
    const more = await patch(sys, `${tag}after`, { xp: 5, lastGameResults: { blob: BLOB } });
    assert.equal(more.status, 200, more.text.slice(0, 200));
  } finally { await sys.stop(); }
});

test('disk full while running (512 KB tmpfs): refused, nothing lost, then the disk grows and the same process writes again', { skip: UNSHARE_OK ? false : NO_UNSHARE }, async (t) => {
  const sys = await System.start({ env: ONE_PARTITION });
  try {
    const dir = fs.mkdtempSync(path.join(sys.dir, 'tmpfs-'));
    await sys.stats.kill('SIGTERM');
    sys.stats = statsInNamespace(sys, 'mount -t tmpfs -o size=512k tmpfs "$STATSYNC_DATA_DIR"', { STATSYNC_DATA_DIR: dir });
    await sys.restartStats();
    const pid = sys.stats.pid;

    const tag = `df${process.pid}`;
    const { acked, refused } = await fillUntilFull(sys, tag, { statuses: [507] });
    diskFullRefusals.push(...refused.map(({ r }) => ({ status: r.status, body: r.body })));
    t.diagnostic(`512 KB disk: ${acked.length} documents acknowledged, then ${refused.map(({ r }) => `${r.status} ${r.body.error.code}`).join(', ')}`);
    for (const { r } of refused) {
      assert.ok(['storage_full', 'internal'].includes(r.body.error.code), r.text);
      assert.match(r.body.error.message, /nothing changed/);
    }
    assert.equal(sys.stats.child.exitCode, null, 'the stats-service must not exit on a full disk');
    assert.equal((await fetch(`http://127.0.0.1:${sys.statsAdminPort}/health`)).status, 200);
    await assertAckedIntact(sys, acked);

    // space returns: grow the tmpfs inside the service's own mount namespace
    execFileSync('nsenter', ['-t', String(pid), '-m', 'mount', '-o', 'remount,size=64m', dir]);
    await assertRetryAppliesOnce(sys, refused);
    const more = await patch(sys, `${tag}after`, { xp: 5, lastGameResults: { blob: BLOB } });
    assert.equal(more.status, 200, more.text.slice(0, 200));
    await assertAckedIntact(sys, acked);
    assert.equal(sys.stats.pid, pid, 'the same process, no restart');
  } finally { await sys.stop(); }
});

// DESIGN/proto README: 507 storage_full when "the LMDB map is full or the data
// directory is not writable". On a full filesystem LMDB's commit often fails
// with EIO (a short pwrite in mdb_page_flush), so stats-service/store.c checks
// the free space when a commit fails with EIO and answers storage_full then.
test('disk full answers 507 storage_full, never 500', { skip: UNSHARE_OK ? false : NO_UNSHARE }, () => {
  assert.ok(diskFullRefusals.length > 0, 'the disk-full test ran first');
  for (const r of diskFullRefusals) {
    assert.equal(r.status, 507, JSON.stringify(r));
    assert.equal(r.body.error.code, 'storage_full');
  }
});

test('data directory not writable at start: clear error and exit, 503 meanwhile, works once writable', async (t) => {
  const how = isRoot ? 'read-only bind mount (running as root: chmod 0500 would not stop root)' : 'chmod 0500';
  if (isRoot && !UNSHARE_OK) {
    t.skip(`running as root, where chmod 0500 does not stop writes, and a read-only bind ${NO_UNSHARE}`);
    return;
  }
  t.diagnostic(`unwritable via ${how}`);
  const sys = await System.start({ env: ONE_PARTITION, gatewayEnv: { STATSYNC_REQUEST_TIMEOUT_MS: '1500' } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-ro-'));
  try {
    await sys.stats.kill('SIGTERM');
    const before = sys.stats.log().length;
    if (isRoot) {
      sys.stats = statsInNamespace(sys, 'mount --bind "$STATSYNC_DATA_DIR" "$STATSYNC_DATA_DIR" && mount -o remount,bind,ro "$STATSYNC_DATA_DIR"', { STATSYNC_DATA_DIR: dir });
    } else {
      fs.chmodSync(dir, 0o500);
      sys.stats.env.STATSYNC_DATA_DIR = dir;
    }
    sys.stats.start();
    let timer;
    const exit = await Promise.race([sys.stats.exited, new Promise((r) => { timer = setTimeout(() => r(null), 15000); })]);
    clearTimeout(timer);
    assert.ok(exit, 'the stats-service must give up, not hang');
    assert.equal(exit.signal, null, `no crash: ${JSON.stringify(exit)}`);
    assert.notEqual(exit.code, 0);
    const log = sys.stats.log().slice(before);
    assert.match(log, /"level":"error"/);
    assert.match(log, /lmdb open failed|cannot create data directory/);
    assert.match(log, /Read-only file system|Permission denied/);
    t.diagnostic(`exit code ${exit.code}; log: ${log.split('\n').find((l) => /lmdb open failed|cannot create/.test(l))}`);

    // the client meanwhile: a fast 503 with a code
    const t0 = Date.now();
    const r = await patch(sys, `ro${process.pid}`, { xp: 1 });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.body.error.code, 'partition_unavailable'); // nobody serves it
    assert.ok(Date.now() - t0 < 500, 'no waiting for the request timeout');

    // writable again
    if (!isRoot) fs.chmodSync(dir, 0o700);
    sys.stats = new Proc('stats', bin('statsync-stats'), [], { ...sys.stats.env, STATSYNC_DATA_DIR: dir }, path.join(sys.dir, 'stats.log'));
    await sys.restartStats();
    const ok = await patch(sys, `ro${process.pid}`, { xp: 1 });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.stats.xp, 1);
  } finally {
    await sys.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
