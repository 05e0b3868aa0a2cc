// rest_consistency.test.js — the delivery guarantees as REST clients see
// them (DESIGN §4): exactly-once with Idempotency-Key, no lost increments
// under concurrency, LWW, and acknowledged writes surviving kill -9 of the
// stats-service.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System } = require('../lib/system');

let sys;
let n = 0;
const fresh = (p = 'c') => `${p}${process.pid}x${++n}`;

test.before(async () => { sys = await System.start(); });
test.after(async () => { if (sys) await sys.stop(); });

const patch = (user, body, headers = {}) => sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body, headers });
const get = async (user) => {
  const r = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user) });
  assert.equal(r.status, 200, r.text);
  return r.body;
};

test('the same Idempotency-Key twice is applied once', async () => {
  const u = fresh();
  const key = `op-${u}-1`;
  const a = await patch(u, { xp: 10, diamonds: 2 }, { 'idempotency-key': key });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.body.stats.xp, 10);
  assert.ok(!a.body.duplicate);
  const b = await patch(u, { xp: 10, diamonds: 2 }, { 'idempotency-key': key });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.body.duplicate, true);
  assert.equal(b.body.stats.xp, 10);
  assert.equal(b.body.stats.version, a.body.stats.version);
  // another key applies again
  const c = await patch(u, { xp: 10 }, { 'idempotency-key': `op-${u}-2` });
  assert.equal(c.body.stats.xp, 20);
  // keys are per user: another user may use the same key
  const v = fresh();
  const d = await patch(v, { xp: 1 }, { 'idempotency-key': key });
  assert.equal(d.status, 200);
  assert.ok(!d.body.duplicate);
  assert.equal((await get(u)).xp, 20);
  // an updateStats retry with its key is not applied twice either
  const iso = new Date(Date.now() + 1000).toISOString();
  const w1 = await sys.http('POST', '/api/users/updateStats', { token: sys.token(u), body: { userId: u, stats: { xp: 500, updatedAt: iso } }, headers: { 'idempotency-key': `full-${u}` } });
  assert.equal(w1.status, 200, w1.text);
  const w2 = await sys.http('POST', '/api/users/updateStats', { token: sys.token(u), body: { userId: u, stats: { xp: 500, updatedAt: iso } }, headers: { 'idempotency-key': `full-${u}` } });
  assert.equal(w2.status, 200, w2.text); // the original outcome, not a 409
  assert.equal(w2.body.duplicate, true);
});

test('20 concurrent retries of one Idempotency-Key apply once', async () => {
  const u = fresh();
  const rs = await Promise.all(Array.from({ length: 20 }, () => patch(u, { xp: 5 }, { 'idempotency-key': 'same' })));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  const doc = await get(u);
  assert.equal(doc.xp, 5);
  assert.equal(doc.version, 1);
});

test('200 parallel xp:+1 patches sum to exactly 200', async () => {
  const u = fresh();
  const rs = await Promise.all(Array.from({ length: 200 }, () => patch(u, { xp: 1 })));
  const bad = rs.filter((r) => r.status !== 200);
  assert.equal(bad.length, 0, bad.slice(0, 3).map((r) => `${r.status} ${r.text}`).join('\n'));
  const versions = new Set(rs.map((r) => r.body.stats.version));
  assert.equal(versions.size, 200, 'every acknowledged write saw its own version');
  const doc = await get(u);
  assert.equal(doc.xp, 200);
  assert.equal(doc.version, 200);
});

test('parallel full writes: the newest updatedAt wins whatever the order', async () => {
  const u = fresh();
  const base = Date.now() - 60000;
  const writes = Array.from({ length: 30 }, (_, i) => ({ xp: i, updatedAt: new Date(base + i).toISOString() }));
  writes.sort(() => Math.random() - 0.5);
  const rs = await Promise.all(writes.map((s) => sys.http('POST', '/api/users/updateStats', { token: sys.token(u), body: { userId: u, stats: s } })));
  for (const r of rs) assert.ok(r.status === 200 || (r.status === 409 && r.body.error.code === 'conflict'), r.text);
  const doc = await get(u);
  assert.equal(doc.xp, 29);
  assert.equal(doc.updatedAt, new Date(base + 29).toISOString());
});

test('acknowledged writes survive kill -9 of the stats-service', async () => {
  const users = [fresh('d'), fresh('d'), fresh('d')];
  const expected = new Map(users.map((u) => [u, 0]));
  const acked = [];
  // a mix of sequential and concurrent writes; remember what was acknowledged
  for (let round = 0; round < 10; round++) {
    const rs = await Promise.all(users.map((u, i) => patch(u, { xp: i + 1 }, { 'idempotency-key': `dur-${round}-${u}` })));
    rs.forEach((r, i) => {
      assert.equal(r.status, 200, r.text);
      expected.set(users[i], expected.get(users[i]) + i + 1);
      acked.push(r.body.stats);
    });
  }
  const full = await sys.http('POST', '/api/users/updateStats', {
    token: sys.token(users[0]),
    body: { userId: users[0], stats: { diamonds: 77, updatedAt: new Date().toISOString() } },
  });
  assert.equal(full.status, 200, full.text);

  await sys.stats.kill('SIGKILL');
  // while it is down, writes fail fast and are not acknowledged
  const down = await patch(users[1], { xp: 1000 });
  assert.equal(down.status, 503, down.text);
  await sys.restartStats();

  for (const u of users) {
    const doc = await get(u);
    assert.equal(doc.xp, expected.get(u), `${u} lost acknowledged increments`);
    const last = acked.filter((s) => s.userId === u).pop();
    assert.ok(doc.version >= last.version);
  }
  assert.equal((await get(users[0])).diamonds, 77);
  // retries of acknowledged ops after the restart are still recognised
  const retry = await patch(users[2], { xp: 3 }, { 'idempotency-key': `dur-9-${users[2]}` });
  assert.equal(retry.status, 200);
  assert.equal(retry.body.duplicate, true);
  assert.equal((await get(users[2])).xp, expected.get(users[2]));
});
