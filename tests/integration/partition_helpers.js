// partition_helpers.js — helpers of the partition_*.test.js files (not a
// test): stats-service instances owning some partitions, statsync-admin
// runs, users of a given partition, REST writes with Idempotency-Keys.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Proc, bin, freePort, waitFor } = require('../lib/system');
const { partitionOf, usersWhere } = require('../lib/partition');

const COUNT = 64;

// n userIds "<prefix><k>" of partition p.
function usersOf(p, n, prefix = 'u') {
  return usersWhere(prefix, n, (q) => q === p, COUNT);
}

// A stats-service instance: name (STATSYNC_INSTANCE_ID), the partitions it
// owns, its data directory. Waits until /health answers 200 (it serves them).
async function startStats(sys, name, partitions, dataDir, env = {}) {
  const adminPort = await freePort();
  const proc = new Proc(name, bin('statsync-stats'), [], sys.baseEnv({
    STATSYNC_INSTANCE_ID: name,
    STATSYNC_PARTITIONS: partitions,
    STATSYNC_DATA_DIR: dataDir,
    STATSYNC_ADMIN_PORT: String(adminPort),
    ...env,
  }, 'stats'), path.join(sys.dir, `${name}.log`));
  proc.adminPort = adminPort;
  proc.dataDir = dataDir;
  proc.start();
  await sys.waitHttp(adminPort, '/health', proc);
  return proc;
}

// Stops an instance with SIGTERM; it must exit cleanly (a sanitizer report
// or a failed drain would not).
async function stopStats(proc) {
  const r = await proc.kill('SIGTERM');
  if (r.code !== 0) throw new Error(`${proc.name} exited ${r.code} ${r.signal || ''}\n${proc.log().slice(-4000)}`);
}

async function health(proc) {
  const r = await fetch(`http://127.0.0.1:${proc.adminPort}/health`);
  return r.json();
}

// Runs statsync-admin (asynchronously: writers keep writing meanwhile) with
// the NATS URL and, under NATS auth, the `admin` user's credentials.
// Resolves { code, stdout, stderr, json (the last stdout line parsed, when
// it is JSON) }.
function admin(sys, args, env = {}) {
  const e = {
    PATH: process.env.PATH,
    ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0:abort_on_error=1',
    UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || 'print_stacktrace=1:halt_on_error=1',
    STATSYNC_NATS_URL: sys.natsUrl,
    ...(sys.natsAuth ? { STATSYNC_NATS_USER: 'admin', STATSYNC_NATS_PASSWORD_FILE: sys.natsPasswordFile('admin') } : {}),
    ...(sys.natsTls ? { STATSYNC_NATS_TLS_CA: sys.natsCa } : {}),
    ...env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(bin('statsync-admin'), args, { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json = null;
      const last = stdout.trim().split('\n').pop();
      try { json = JSON.parse(last); } catch (_) { /* not JSON */ }
      resolve({ code, signal, stdout, stderr, json, text: `exit ${code}${signal ? ` (${signal})` : ''}\n--- stdout\n${stdout}\n--- stderr\n${stderr}` });
    });
  });
}

// POST /api/users/data/patch {xp:1} with an Idempotency-Key, retried until
// acknowledged (partition_unavailable is what a client retries): resolves
// the 200 body.
async function patchUntilAcked(sys, user, key, { tries = 200 } = {}) {
  for (let i = 0; i < tries; i++) {
    const r = await sys.http('POST', '/api/users/data/patch', {
      token: sys.token(user), headers: { 'idempotency-key': key }, body: { xp: 1 },
    }).catch(() => null);
    if (r && r.status === 200) return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`${user} ${key}: never acknowledged`);
}

async function getDoc(sys, user) {
  const r = await sys.http('GET', `/api/users/${encodeURIComponent(user)}/stats`, { token: sys.token(user) });
  if (r.status !== 200) throw new Error(`GET ${user}: ${r.status} ${r.text}`);
  return r.body;
}

// Runs fn over items, at most `width` at a time.
async function inParallel(items, width, fn) {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    while (queue.length) await fn(queue.shift());
  }));
}

// The first bytes of a file, or null.
function head(file, n = 64) {
  try {
    const fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(n);
    const got = fs.readSync(fd, b, 0, n, 0);
    fs.closeSync(fd);
    return b.subarray(0, got).toString('utf8');
  } catch (_) { return null; }
}

module.exports = {
  COUNT, partitionOf, usersOf, startStats, stopStats, health, admin, patchUntilAcked, getDoc,
  inParallel, head, waitFor,
};
