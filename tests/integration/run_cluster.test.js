// run_cluster.test.js — scripts/run-cluster.sh itself (issue 14 item 7), run
// as a user runs it, with STATSYNC_BUILD_DIR pointing at this test build (so
// nothing is rebuilt; nothing is installed when everything is present) on a
// free block of loopback ports:
//   - it prints `App URL: http://127.0.0.1:<STATSYNC_PORT_BASE>`, and /health
//     answers 200 there, through the edge;
//   - <run dir>/processes lists every process (nats0-2, stats0-1,
//     presence0-1, gateway0-1, edge), each one running;
//   - kill -9 of one process of each kind: it is started again within about
//     a second, the processes file (always whole when read) names the new
//     pid, and the App URL answers 200 again;
//   - SIGTERM stops everything: exit 0, no 'exited'/'killed' line after
//     "stopping", no process (nor an nginx worker) left.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { waitFor, ROOT } = require('../lib/system');
const { canListen } = require('../lib/ports');

const BIN_DIR = path.resolve(process.env.STATSYNC_BIN_DIR || path.join(ROOT, 'build'));
const SCRIPT = path.join(ROOT, 'scripts', 'run-cluster.sh');
const NAMES = ['nats0', 'nats1', 'nats2', 'stats0', 'stats1', 'presence0', 'presence1', 'gateway0', 'gateway1', 'edge'];
const OFFSETS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 20, 21, 22, 30, 31, 32]; // the script's port map
const SLOW = process.env.STATSYNC_SANITIZED === '1' ? 2 : 1;

// A base whose whole map is free, in 12000–27999: below the kernel's
// ephemeral range and apart from the ports freePort hands out (ports.js).
// Bounded tries.
async function freeBase() {
  for (let i = 0; i < 50; i++) {
    const base = 12000 + 40 * Math.floor(Math.random() * 400);
    const free = await Promise.all(OFFSETS.map((o) => canListen(base + o)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free block of 33 ports found');
}

// A pid that runs (exists and is not a zombie).
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (_) { return false; }
}

// Every process whose process group is one of pgids (each child of the
// script leads its own group: nginx's workers are in the edge's).
function inGroups(pgids) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' '); // state ppid pgrp ...
      if (f[0] !== 'Z' && pgids.has(Number(f[2]))) out.push(`${d} ${st.slice(st.indexOf('('), st.lastIndexOf(')') + 1)}`);
    } catch (_) { /* gone meanwhile */ }
  }
  return out;
}

let child;
let out = '';
let runDir;
let base;

// The processes file as { name: pid }, asserting it is whole whenever read.
function processes() {
  const text = fs.readFileSync(path.join(runDir, 'processes'), 'utf8');
  assert.match(text, /^(\S+ \d+\n)*$/, `a partial or malformed processes file:\n${text}`);
  return Object.fromEntries(text.split('\n').filter(Boolean).map((l) => { const [n, p] = l.split(' '); return [n, Number(p)]; }));
}

const appHealth = async () => {
  const r = await fetch(`http://127.0.0.1:${base}/health`, { signal: AbortSignal.timeout(3000) }).catch(() => null);
  return r && r.status === 200;
};

test.before(async () => {
  base = await freeBase();
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-run-cluster-'));
  child = spawn('bash', [SCRIPT], {
    cwd: ROOT,
    detached: true, // its own group: whatever happens, the test can end it all
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
      HOME: process.env.HOME || os.tmpdir(),
      ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0:abort_on_error=1',
      UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || 'print_stacktrace=1:halt_on_error=1',
      STATSYNC_BUILD_DIR: BIN_DIR,
      STATSYNC_PORT_BASE: String(base),
      STATSYNC_RUN_DIR: runDir,
      STATSYNC_EDGE_WORKERS: '1',
      // A killed stats owner takes its partitions back once its old leases
      // expired: 2 s instead of 5, for a shorter test.
      STATSYNC_LEASE_TTL_MS: '2000',
    },
  });
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  process.on('exit', killEverything);
  await waitFor('run-cluster.sh prints the App URL', () => {
    if (child.exitCode !== null) throw new Error(`run-cluster.sh exited ${child.exitCode}:\n${out}`);
    return /^App URL: http:\/\/127\.0\.0\.1:\d+$/m.test(out);
  }, 120000 * SLOW, 100);
});

// After a failure: the script, and every process (and its group) that the
// processes file names — each leads a session of its own, so the script's
// group alone would leave them behind.
function killEverything() {
  try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
  let listed = {};
  try { listed = processes(); } catch (_) { /* no file: stopped */ }
  for (const pid of Object.values(listed)) {
    try { process.kill(-pid, 'SIGKILL'); } catch (_) { /* gone */ }
    try { process.kill(pid, 'SIGKILL'); } catch (_) { /* gone */ }
  }
}

test.after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    // A test failed before the stop: the script's own clean stop first.
    child.kill('SIGTERM');
    let timer;
    await Promise.race([child.exited, new Promise((resolve) => { timer = setTimeout(resolve, 30000); })]);
    clearTimeout(timer);
  }
  if (child) killEverything();
  if (runDir && !process.env.STATSYNC_KEEP_TMP) fs.rmSync(runDir, { recursive: true, force: true });
});

test('the App URL is the edge on STATSYNC_PORT_BASE and /health answers 200 through it', async () => {
  const url = /^App URL: (\S+)$/m.exec(out)[1];
  assert.equal(url, `http://127.0.0.1:${base}`);
  await waitFor('App URL /health 200', appHealth, 20000 * SLOW, 100);
  const r = await fetch(`${url}/health`);
  const body = await r.json();
  assert.equal(body.status, 'OK', JSON.stringify(body));
  assert.match(String(body.gateway), /^gateway[01]$/, 'the edge reaches a gateway of the cluster');
  // the Demo link: the browser demo served through the edge
  const demo = /^Demo: (\S+)$/m.exec(out);
  assert.ok(demo && demo[1].startsWith(`${url}/demo/#token=`), 'run-cluster.sh prints the Demo link');
  const page = await fetch(demo[1].split('#')[0]);
  assert.equal(page.status, 200);
});

test('the processes file lists every process, each one running', () => {
  const p = processes();
  assert.deepEqual(Object.keys(p), NAMES);
  for (const [name, pid] of Object.entries(p)) assert.ok(alive(pid), `${name} (pid ${pid}) is not running`);
  assert.equal(new Set(Object.values(p)).size, NAMES.length, 'a pid twice');
});

test('kill -9 of a nats node, a stats, a presence, a gateway and the edge: each restarted, the file rewritten, the App URL answers', async (t) => {
  for (const name of ['nats1', 'stats0', 'presence1', 'gateway0', 'edge']) {
    const before = processes();
    const old = before[name];
    const t0 = Date.now();
    process.kill(old, 'SIGKILL');
    const now = await waitFor(`${name} restarted with a new pid in the processes file`, () => {
      const p = processes();
      return p[name] && p[name] !== old && alive(p[name]) ? p : null;
    }, 10000 * SLOW, 20).catch((e) => {
      const log = (() => { try { return fs.readFileSync(path.join(runDir, `${name}.log`), 'utf8').slice(-3000); } catch (_) { return ''; } })();
      e.message += `\n---- run-cluster.sh ----\n${out.slice(-3000)}\n---- ${name}.log ----\n${log}`;
      throw e;
    });
    const ms = Date.now() - t0;
    t.diagnostic(`${name}: pid ${old} killed, pid ${now[name]} in the processes file after ${ms} ms`);
    assert.ok(ms < 3000 * SLOW, `${name} took ${ms} ms to come back (the script restarts after 0.2 s)`);
    assert.ok(!alive(old), `the killed ${name} is still there`);
    for (const n of NAMES) if (n !== name) assert.equal(now[n], before[n], `${n} changed although only ${name} was killed`);
    await waitFor(`App URL /health 200 after ${name} came back`, appHealth, 20000 * SLOW, 100);
  }
  assert.match(out, /== stats0 \(pid \d+\) killed by SIGKILL; starting it again in 0\.2 s/);
});

test('SIGTERM stops everything: exit 0, no exit reported after "stopping", nothing left', async () => {
  const last = processes();
  const pids = new Set(Object.values(last));
  child.kill('SIGTERM');
  let timer;
  const r = await Promise.race([child.exited, new Promise((resolve) => { timer = setTimeout(resolve, 60000 * SLOW, null); })]);
  clearTimeout(timer);
  assert.ok(r, `run-cluster.sh did not stop within 60 s of SIGTERM:\n${out.slice(-3000)}`);
  assert.deepEqual(r, { code: 0, signal: null }, out.slice(-3000));
  const tail = out.slice(out.lastIndexOf('== stopping'));
  assert.match(tail, /== stopped\s*$/, tail);
  assert.doesNotMatch(tail, /exited|killed|did not stop|starting it again/, tail);
  const left = [...pids].filter(alive);
  assert.deepEqual(left, [], `still running: ${left.join(' ')}`);
  assert.deepEqual(inGroups(pids), [], 'a process of a stopped group (an nginx worker?) is left');
  assert.ok(!fs.existsSync(path.join(runDir, 'processes')), 'the processes file of a stopped cluster is removed');
  for (const n of NAMES) assert.ok(fs.existsSync(path.join(runDir, `${n}.log`)), `no ${n}.log`);
});
