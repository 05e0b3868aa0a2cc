// readme_tour.test.js — README command one as a new user meets it: the real
// scripts/run-local.sh on free loopback ports (STATSYNC_BUILD_DIR = this
// build, so it compiles nothing new), then the README's "A 60-second tour"
// run as written there — its curl block through bash and its socket.io-client
// lines through node — with only the URL changed to this run's App URL.
//
//  - what it installs: the run set has no Node.js (nor any test tool), the
//    test set has them (scripts/deps.sh, STATSYNC_DEPS_DRY_RUN, with a
//    dpkg-query that reports nothing installed);
//  - a port already in use: refused before the build, naming the port, its
//    holder (this process) and what to set instead; nothing started;
//  - the banner: App URL, Demo link (the page is served), a token;
//  - the tour: the patch applied, read back, /health ok, a push seen by the
//    README's socket.io-client lines;
//  - Ctrl-C: the script stops every process in order, says so truthfully
//    (no "exited by itself"), exits 0, and every port is free again;
//  - a process that dies by itself: named, with how it ended, the others
//    stopped, exit 1.
// Every wait is for a state, bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { freePort, waitFor, exitOf, ROOT } = require('../lib/system');

const BIN_DIR = process.env.STATSYNC_BIN_DIR || path.join(ROOT, 'build');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-tour-'));
const runs = [];
// The pids of the processes whose environment has NAME=VALUE (and whose
// command is comm, when given): the services take their ports from the
// environment, and every process a run started carries its STATSYNC_RUN_DIR.
function pidsWithEnv(name, value, comm = null) {
  const out = [];
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (comm !== null && fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== comm) continue;
      if (fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(`${name}=${value}`)) out.push(Number(d));
    } catch (_) { /* gone, or not ours */ }
  }
  return out;
}
// Each process of a run leads a session of its own, so a script killed -9
// leaves them behind: they are found by the run's directory and killed here.
function killRun(r) {
  for (const pid of pidsWithEnv('STATSYNC_RUN_DIR', r.dir)) {
    try { process.kill(pid, 'SIGKILL'); } catch (_) { /* gone meanwhile */ }
  }
  r.child.stdout.destroy();
  r.child.stderr.destroy();
}
test.after(async () => {
  for (const r of runs) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGINT'); // its own clean stop first
      await exitOf(r, 30000);
    }
    killRun(r);
  }
  if (!process.env.STATSYNC_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

// A run of scripts/run-local.sh on ports of its own.
async function ports() {
  const p = {};
  for (const k of ['app', 'api', 'socket', 'stats', 'presence', 'nats']) p[k] = await freePort();
  return p;
}
function runLocal(p, name) {
  const env = {
    ...process.env,
    STATSYNC_APP_PORT: String(p.app),
    STATSYNC_API_PORT: String(p.api),
    STATSYNC_SOCKET_PORT: String(p.socket),
    STATSYNC_STATS_ADMIN_PORT: String(p.stats),
    STATSYNC_PRESENCE_ADMIN_PORT: String(p.presence),
    STATSYNC_NATS_PORT: String(p.nats),
    STATSYNC_RUN_DIR: path.join(tmp, name),
    STATSYNC_BUILD_DIR: BIN_DIR,
  };
  for (const k of ['STATSYNC_JWT_SECRET', 'STATSYNC_NATS_URL', 'STATSYNC_DATA_DIR', 'STATSYNC_NATS_URL_EXTERNAL']) delete env[k];
  const child = spawn(path.join(ROOT, 'scripts/run-local.sh'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const r = { child, out: '', dir: env.STATSYNC_RUN_DIR };
  child.stdout.on('data', (d) => { r.out += d; });
  child.stderr.on('data', (d) => { r.out += d; });
  r.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  runs.push(r);
  return r;
}
async function bannerOf(r) {
  await waitFor('the banner', () => /Ctrl-C stops everything/.test(r.out) || r.child.exitCode !== null, 120000, 100);
  assert.match(r.out, /Ctrl-C stops everything/, r.out.slice(-4000));
  return {
    app: /^App URL: (\S+)$/m.exec(r.out)[1],
    demo: /^Demo: (\S+)$/m.exec(r.out)[1],
    token: /^ {3}TOKEN=(\S+)$/m.exec(r.out)[1],
  };
}
function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
// The README's code block of `lang` in the section under `heading`, the nth.
function readmeBlock(heading, lang, nth = 0) {
  const at = README.indexOf(`\n## ${heading}\n`);
  assert.ok(at >= 0, `README has a section "${heading}"`);
  const section = README.slice(at + 1).split(/\n## /)[0];
  const blocks = [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  assert.ok(blocks.length > nth, `README "${heading}" has a ${lang} block`);
  return blocks[nth];
}
// The README's URL is the default one; this run has its own.
const atUrl = (text, app) => text.replaceAll('http://127.0.0.1:8080', app);

test('deps.sh: running installs no Node.js; testing does', () => {
  // a PATH of its own: a dpkg-query that reports nothing installed, grep, and
  // (in `withNode`) node and npm
  const bins = (name, withNode) => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'dpkg-query'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    fs.symlinkSync(execFileSync('bash', ['-c', 'command -v grep'], { encoding: 'utf8' }).trim(), path.join(dir, 'grep'));
    if (withNode) {
      fs.symlinkSync(process.execPath, path.join(dir, 'node'));
      fs.symlinkSync(execFileSync('bash', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim(), path.join(dir, 'npm'));
    }
    return dir;
  };
  const list = (set, dir) => execFileSync('/bin/bash', [path.join(ROOT, 'scripts/deps.sh'), set], {
    env: { PATH: dir, STATSYNC_DEPS_DRY_RUN: '1' }, encoding: 'utf8',
  }).trim().split('\n');
  const bare = bins('bare', false);
  const run = list('run', bare);
  for (const p of ['nats-server', 'nginx', 'cmake', 'libnats-dev', 'curl']) assert.ok(run.includes(p), `run needs ${p}`);
  for (const p of ['nodejs', 'npm', 'chromium', 'clang', 'docker-compose', 'libcmocka-dev']) {
    assert.ok(!run.includes(p), `running installs no ${p}`);
  }
  const tests = list('test', bare);
  for (const p of ['nodejs', 'npm', 'chromium', 'libcmocka-dev', 'nats-server']) assert.ok(tests.includes(p), `tests need ${p}`);
  assert.ok(!list('test', bins('node', true)).includes('nodejs'), 'a Node.js already there is not installed again');
});

test('a port in use: refused before the build, naming the port, its holder and what to do', async () => {
  const p = await ports();
  const squatter = net.createServer().listen(p.nats, '127.0.0.1');
  await new Promise((r) => squatter.once('listening', r));
  try {
    const r = runLocal(p, 'squatted');
    const end = await exitOf(r, 30000);
    assert.ok(end, `run-local.sh exited (${r.out.slice(-2000)})`);
    assert.equal(end.code, 2, r.out);
    assert.match(r.out, new RegExp(`port ${p.nats} \\(NATS, STATSYNC_NATS_PORT\\) is already in use by \\S+ \\(pid ${process.pid}\\)`));
    assert.match(r.out, /will not use a server it did not start/);
    assert.match(r.out, /STATSYNC_NATS_PORT=\d+ \.\/scripts\/run-local\.sh/);
    assert.doesNotMatch(r.out, /== building|statsync is running/);
    for (const k of ['app', 'api', 'socket', 'stats', 'presence']) assert.equal(await listening(p[k]), false, `${k} port unused`);
  } finally {
    squatter.close();
  }
});

test('command one, then the README tour verbatim; Ctrl-C stops everything and says so', async () => {
  const p = await ports();
  const r = runLocal(p, 'tour');
  const b = await bannerOf(r);
  assert.equal(b.app, `http://127.0.0.1:${p.app}`);
  assert.match(r.out, /== building statsync in /);
  assert.doesNotMatch(r.out, /installing.*nodejs/);

  // the demo link: the page is served at the App URL
  const demo = await fetch(b.demo.split('#')[0]);
  assert.equal(demo.status, 200);
  assert.match(await demo.text(), /socket\.io/i);

  // the README's socket.io-client lines, from tests/, as the tour says
  // (plus one line of the test's: it says when the client is connected)
  const js = `${atUrl(readmeBlock('A 60-second tour', 'js'), b.app)}\ns.on('connect', () => console.log('connected'));`;
  const node = spawn(process.execPath, ['-e', js], {
    cwd: path.join(ROOT, 'tests'), env: { ...process.env, TOKEN: b.token }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let pushes = '';
  node.stdout.on('data', (d) => { pushes += d; });
  node.stderr.on('data', (d) => { pushes += d; });
  try {
    await waitFor('the README client connected', () => /connected/.test(pushes), 20000, 50);
    const before = pushes.length;
    // the README's curl block, through bash, with the banner's TOKEN
    const sh = atUrl(readmeBlock('A 60-second tour', 'sh'), b.app);
    const out = execFileSync('bash', ['-c', sh], { env: { ...process.env, TOKEN: b.token }, encoding: 'utf8', timeout: 30000 });
    const docs = out.match(/\{.*?"xp":\d+/g) || [];
    assert.ok(docs.length >= 2, `the patch and the read answer documents: ${out}`);
    assert.match(out, /"xp":10\b/, out);
    assert.match(out, /"streak":3\b/, out);
    assert.match(out, /"status":"ok"|"ok":true|"healthy"/i, `/health answered: ${out}`);
    await waitFor('the patch pushed to the README client', () => /xp:\s*10\b/.test(pushes.slice(before)), 20000, 50);
  } finally {
    node.kill('SIGKILL');
  }

  // Ctrl-C (the script's own SIGINT: the processes lead sessions of their
  // own, so a terminal's Ctrl-C reaches only the script too)
  r.child.kill('SIGINT');
  const end = await exitOf(r, 60000);
  assert.ok(end, `stopped within the bound: ${r.out.slice(-3000)}`);
  assert.equal(end.code, 0, r.out.slice(-3000));
  // (the services' own log lines come between the script's lines)
  assert.match(r.out, /^== Ctrl-C: stopping everything$/m, r.out.slice(-3000));
  assert.match(r.out, /^== stopped: edge, gateway, presence-service, stats-service, nats-server$/m, r.out.slice(-3000));
  assert.doesNotMatch(r.out, /exited by itself|a process exited/, r.out.slice(-3000));
  for (const k of Object.keys(p)) assert.equal(await listening(p[k]), false, `${k} port ${p[k]} free after Ctrl-C`);
});

test('a process that dies by itself is named, the others are stopped, exit 1', async () => {
  const p = await ports();
  const r = runLocal(p, 'death');
  await bannerOf(r);
  const [pid = 0] = pidsWithEnv('STATSYNC_API_PORT', String(p.api), 'statsync-gatewa');
  assert.ok(pid > 0, 'found the gateway');
  process.kill(pid, 'SIGKILL');
  const end = await exitOf(r, 60000);
  assert.ok(end, r.out.slice(-3000));
  assert.equal(end.code, 1, r.out.slice(-3000));
  assert.match(r.out, /^== gateway exited by itself \(killed by SIGKILL\); stopping the others$/m, r.out.slice(-3000));
  assert.match(r.out, /^== stopped: edge, presence-service, stats-service, nats-server$/m, r.out.slice(-3000));
  for (const k of Object.keys(p)) assert.equal(await listening(p[k]), false, `${k} port ${p[k]} free`);
});
