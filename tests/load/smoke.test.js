// smoke.test.js — ctest load/smoke: statsync-load against the real system
// (nats-server + stats + presence + gateway from STATSYNC_BIN_DIR) for a few
// seconds with a few hundred connections, so the load generator and the
// benchmark it drives cannot rot. Checks that the JSON report is sane and that
// no update was lost — never how fast anything was (no timed assertions:
// tests/load/bench.sh measures).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, waitFor } = require('../lib/system');
const { runLoad, assertSane, assertEveryDevice } = require('./run_load');

// The stats-service's count of remembered opIds / Idempotency-Keys.
async function idempotencyRecords(sys) {
  const r = await fetch(`http://127.0.0.1:${sys.statsAdminPort}/metrics`);
  const m = /^statsync_stats_idempotency_records(?:\{[^}]*\})? (\d+)/m.exec(await r.text());
  assert.ok(m, 'statsync_stats_idempotency_records missing from /metrics');
  return Number(m[1]);
}

// Waits until the users' documents hold exactly `expected` xp in all.
async function expectXpSum(sys, prefix, users, expected) {
  await waitFor('every update applied', async () => (await xpSum(sys, prefix, users)) === expected,
    20000, 200).catch(async (e) => {
    assert.fail(`${e.message}: xp sum ${await xpSum(sys, prefix, users)}, sent ${expected}`);
  });
}

async function xpSum(sys, prefix, users) {
  let sum = 0;
  for (let i = 0; i < users; i++) {
    const id = `${prefix}${i}`;
    const r = await sys.http('GET', `/api/users/${id}/stats`, { token: sys.token(id) });
    assert.equal(r.status, 200, r.text);
    sum += r.body.xp;
  }
  return sum;
}

test('statsync-load against the real system', { timeout: 200000 }, async (t) => {
  const sys = await System.start();
  try {
    await t.test('socket.io: 300 connections, 2 per user, every update pushed back', async () => {
      const conns = 300;
      const users = 150;
      const prefix = `smoke${process.pid}s`;
      const r = await runLoad([
        '--host', '127.0.0.1', '--port', String(sys.gw.socketPort), '--secret', sys.secret,
        '--conns', String(conns), '--users', String(users), '--user-prefix', prefix,
        '--rate', '300', '--warmup', '1', '--duration', '3', '--drain', '10', '--op-ids',
        '--connect-rate', '2000',
      ]);
      assertSane(r, conns, sys.logs());
      assert.equal(r.report.mode, 'sio');
      assert.ok(r.report.pushes >= r.report.matched);
      // Every update the generator sent was applied exactly once.
      await expectXpSum(sys, prefix, users, r.report.sent + r.report.warmup_sent);
    });

    await t.test('socket.io: 300 connections as 100 users x 3 devices, every device gets every update', async () => {
      const conns = 300;
      const users = 100;
      const prefix = `smoke${process.pid}d`;
      const r = await runLoad([
        '--host', '127.0.0.1', '--port', String(sys.gw.socketPort), '--secret', sys.secret,
        '--conns', String(conns), '--devices', '3', '--user-prefix', prefix,
        '--rate', '300', '--warmup', '1', '--duration', '3', '--drain', '15', '--op-ids',
        '--connect-rate', '2000',
      ]);
      assertSane(r, conns, sys.logs());
      assert.equal(r.report.users, users);
      // Each update reached its sender and the user's two other devices.
      assertEveryDevice(r, 3);
      await expectXpSum(sys, prefix, users, r.report.sent + r.report.warmup_sent);
    });

    await t.test('rest: keep-alive patches, each with its own Idempotency-Key', async () => {
      const conns = 8;
      const prefix = `smoke${process.pid}r`;
      const records0 = await idempotencyRecords(sys);
      const r = await runLoad([
        '--mode', 'rest', '--host', '127.0.0.1', '--port', String(sys.gw.apiPort),
        '--secret', sys.secret, '--conns', String(conns), '--user-prefix', prefix,
        '--warmup', '0.5', '--duration', '2', '--drain', '10', '--idempotency-keys',
      ]);
      assertSane(r, conns, sys.logs());
      assert.equal(r.report.mode, 'rest');
      // Every answered patch left its key's record behind (none was taken
      // for a repeat of another: each document grew by every answer).
      const records = (await idempotencyRecords(sys)) - records0;
      assert.ok(records >= r.report.matched, `idempotency records +${records}, answered ${r.report.matched}`);
      // Each 2xx was a durable patch: the documents add up to what was answered.
      const answered = r.report.matched;
      const sum = await xpSum(sys, prefix, conns);
      assert.ok(sum >= answered && sum <= r.report.sent + r.report.warmup_sent,
        `xp sum ${sum}, answered ${answered}, sent ${r.report.sent + r.report.warmup_sent}`);
    });

    await t.test('refuses a target off this machine', async () => {
      const r = await runLoad(['--host', '192.0.2.1', '--port', '3001', '--secret', sys.secret], 10000);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /only 127\.0\.0\.0\/8/);
    });
  } finally {
    await sys.stop();
  }
});
