// baseline.test.js — ctest load/baseline: the benchmark's Node.js baseline
// (tests/load/baseline/server.js, express + socket.io in memory) started on a
// free loopback port and driven briefly by statsync-load as bench.sh drives
// it — Socket.IO with 3 devices per user and op ids, REST with
// Idempotency-Keys — so a baseline that no longer speaks the wire the
// generator reads fails the suite instead of a benchmark row. Checks counts
// and documents, never speed.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { mintToken, waitFor, SECRET } = require('../lib/system');
const { runLoad, assertSane, assertEveryDevice } = require('./run_load');

const DIR = path.join(__dirname, 'baseline');

// Starts the baseline on a free port; resolves { port, stop, log }.
function startBaseline() {
  assert.ok(fs.existsSync(path.join(DIR, 'node_modules', 'socket.io')),
    `the baseline's packages are not installed: npm ci --prefix ${DIR} (scripts/test.sh does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(DIR, 'server.js'), '--port', '0', '--host', '127.0.0.1'],
      { env: { ...process.env, STATSYNC_JWT_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let log = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`baseline did not listen in 20 s:\n${log}`)); }, 20000);
    child.stderr.on('data', (d) => { log += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /\{"listening":(\d+)\}/.exec(out);
      if (!m) return;
      clearTimeout(t);
      resolve({
        port: Number(m[1]),
        log: () => log,
        stop: () => new Promise((res) => {
          if (child.exitCode !== null) { res(); return; }
          const k = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.on('exit', () => { clearTimeout(k); res(); });
          child.kill('SIGTERM');
        }),
      });
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`baseline exited ${code}:\n${log}`)); });
  });
}

async function http(bl, method, p, { token, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(`http://127.0.0.1:${bl.port}${p}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch (_) { /* not JSON */ }
  return { status: r.status, body: parsed };
}

async function xpSum(bl, prefix, users) {
  let sum = 0;
  for (let i = 0; i < users; i++) {
    const r = await http(bl, 'GET', `/api/users/${prefix}${i}/stats`, { token: mintToken(`${prefix}${i}`) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    sum += r.body.xp;
  }
  return sum;
}

test('the Node.js baseline under statsync-load', { timeout: 120000 }, async (t) => {
  const bl = await startBaseline();
  try {
    await t.test('socket.io: 90 connections as 30 users x 3 devices, op ids, every device pushed', async () => {
      const r = await runLoad([
        '--host', '127.0.0.1', '--port', String(bl.port), '--secret', SECRET,
        '--conns', '90', '--devices', '3', '--user-prefix', 'bs', '--rate', '300',
        '--warmup', '0.5', '--duration', '2', '--drain', '10', '--op-ids',
      ]);
      assertSane(r, 90, bl.log());
      assertEveryDevice(r, 3);
      const expected = r.report.sent + r.report.warmup_sent;
      await waitFor('every update applied once', async () => (await xpSum(bl, 'bs', 30)) === expected, 10000, 100);
    });

    await t.test('rest: patches with Idempotency-Keys; a repeated key applies once', async () => {
      const r = await runLoad([
        '--mode', 'rest', '--host', '127.0.0.1', '--port', String(bl.port), '--secret', SECRET,
        '--conns', '4', '--user-prefix', 'br', '--warmup', '0.3', '--duration', '1', '--drain', '5',
        '--idempotency-keys',
      ]);
      assertSane(r, 4, bl.log());
      // every patch sent was applied once (the keys are all different)
      const expected = r.report.sent + r.report.warmup_sent;
      await waitFor('every patch applied once', async () => (await xpSum(bl, 'br', 4)) === expected, 10000, 100);
      const token = mintToken('br0');
      const before = (await http(bl, 'GET', '/api/users/br0/stats', { token })).body.xp;
      for (let k = 0; k < 2; k++) {
        const p = await http(bl, 'POST', '/api/users/data/patch', { token, body: { xp: 5 }, headers: { 'idempotency-key': 'same-key' } });
        assert.equal(p.status, 200, JSON.stringify(p.body));
        assert.equal(p.body.success, true);
        assert.equal(p.body.stats.xp, before + 5);
      }
    });

    await t.test('tokens are checked: a wrong secret gets no socket and a 401', async () => {
      const r = await runLoad(['--host', '127.0.0.1', '--port', String(bl.port), '--secret', 'not-the-secret-0123456789',
        '--conns', '3', '--duration', '0.2', '--connect-timeout', '5']);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.report.errors.sio_connect_refused, 3, JSON.stringify(r.report));
      const g = await http(bl, 'GET', '/api/users/bx/stats', { token: mintToken('bx', { secret: 'not-the-secret-0123456789' }) });
      assert.equal(g.status, 401);
      const other = await http(bl, 'GET', '/api/users/bx/stats', { token: mintToken('by') });
      assert.equal(other.status, 403);
    });
  } finally {
    await bl.stop();
  }
});
