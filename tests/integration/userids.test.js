// userids.test.js — userIds as identity providers issue them (issue 13, DESIGN
// §2): `auth0|…`, `google-oauth2|…`, an email, a UUID, `apple:001234.x.0815`
// and a 128-byte CJK id work for REST, sockets, fan-out and presence; ids a
// careless encoding would fold together (a.b / a_b, A / a, a|b / a%7Cb) stay
// apart; ids that break the rules (129 bytes, a control character, empty,
// whitespace at an end) get 400 / connect_error and nothing is written.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, mintToken } = require('../lib/system');
const { connect, connectError, emitAck, once, waitFor, record } = require('../compat/sio_helpers');

const CJK128 = `${'\u6f22\u5b57'.repeat(21)}xy`;
const IDS = [
  'auth0|5f7c8ec7c33c6c004bbafe82', 'google-oauth2|112233445566778899000', 'ana.maria+duo@example.com',
  '9b2c3e1a-6f0d-4c1e-9f5a-2d7b8e4c1a00', 'apple:001234.x.0815', CJK128,
];
const PAIRS = [['a.b', 'a_b'], ['A', 'a'], ['a|b', 'a%7Cb']];

let sys;
test.before(async () => { sys = await System.start(); });
test.after(async () => { if (sys) await sys.stop(); });

const enc = (id) => encodeURIComponent(id);
const get = (id) => sys.http('GET', `/api/users/${enc(id)}/stats`, { token: sys.token(id) });

test('identity-provider ids: REST, socket writes, fan-out to the other device, presence', async () => {
  assert.equal(Buffer.byteLength(CJK128), 128);
  for (const id of IDS) {
    const what = JSON.stringify(id);
    const a = await connect(sys, id, { transports: ['websocket'] });
    const b = await connect(sys, id, { transports: ['polling'] });
    try {
      // REST write → both devices get the document
      const pa = waitFor(a, 'user:data:updated', (d) => d.xp === 3);
      const pb = waitFor(b, 'user:data:updated', (d) => d.xp === 3);
      const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(id), body: { xp: 3 } });
      assert.equal(r.status, 200, `${what}: ${r.text}`);
      const [da, db] = await Promise.all([pa, pb]);
      assert.equal(da.userId, id);
      assert.equal(db.userId, id);
      // a socket write: acked, and the other device gets user:update
      const upd = waitFor(b, 'user:update', (u) => u.stats && u.stats.xp === 5);
      const ack = await emitAck(a, 'user:clientUpdate', { opId: `op-${IDS.indexOf(id)}`, delta: { xp: 2 } });
      assert.equal(ack.ok, true, `${what}: ${JSON.stringify(ack)}`);
      assert.equal(ack.stats.userId, id);
      const u = await upd;
      assert.equal(u.userId, id);
      // join answers with the document, ping counts both devices
      const joined = once(a, 'user:data:updated');
      assert.equal((await emitAck(a, 'presence:join', { userId: id })).ok, true);
      assert.equal((await joined).xp, 5);
      const pong = await waitForPong(a, id, 2);
      assert.equal(pong.userId, id);
      // REST read by path
      const g = await get(id);
      assert.equal(g.status, 200, `${what}: ${g.text}`);
      assert.equal(g.body.xp, 5);
      assert.equal(g.body.userId, id);
    } finally {
      a.close();
      b.close();
    }
  }
});

// presence counts arrive through the presence-service: ask until it has both.
async function waitForPong(s, id, devices) {
  for (let i = 0; i < 100; i++) {
    const pong = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no presence:pong')), 5000);
      s.once('presence:pong', (p) => { clearTimeout(t); resolve(p); });
      s.emit('presence:ping', { ts: i });
    });
    if (pong.devices === devices) return pong;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`presence never counted ${devices} devices for ${id}`);
}

test('ids a careless encoding would fold together stay apart', async () => {
  for (const [x, y] of PAIRS) {
    const sx = await connect(sys, x, { transports: ['websocket'] });
    const sy = await connect(sys, y, { transports: ['websocket'] });
    const rx = record(sx, ['user:data:updated', 'user:update']);
    const ry = record(sy, ['user:data:updated', 'user:update']);
    try {
      const gotX = waitFor(sx, 'user:data:updated', (d) => d.xp === 11);
      assert.equal((await emitAck(sx, 'user:clientUpdate', { opId: 'same-op', delta: { xp: 11 } })).ok, true);
      await gotX;
      const gotY = waitFor(sy, 'user:data:updated', (d) => d.xp === 22);
      // the same opId for the other user is a different op
      assert.equal((await emitAck(sy, 'user:clientUpdate', { opId: 'same-op', delta: { xp: 22 } })).ok, true);
      await gotY;
      assert.equal((await get(x)).body.xp, 11, `${x}`);
      assert.equal((await get(y)).body.xp, 22, `${y}`);
      for (const d of rx['user:data:updated']) assert.equal(d.userId, x);
      for (const d of ry['user:data:updated']) assert.equal(d.userId, y);
      assert.equal(rx['user:update'].length + ry['user:update'].length, 0, 'no device of the other user');
      // and neither reads the other
      const cross = await sys.http('GET', `/api/users/${enc(y)}/stats`, { token: sys.token(x) });
      assert.equal(cross.status, 403);
    } finally {
      sx.close();
      sy.close();
    }
  }
});

test('ids that break the rules: 400 or connect_error naming the rule, nothing written', async () => {
  const bad = ['x'.repeat(129), 'a\u0001b', '', ' lead', 'trail\u3000'];
  for (const id of bad) {
    const what = JSON.stringify(id);
    const t = mintToken(undefined, { secret: sys.secret, claims: { sub: id, exp: Math.floor(Date.now() / 1000) + 600 } });
    const e = await connectError(sys, { auth: { token: t }, transports: ['websocket'] });
    assert.match(e.message, /userId must/, `${what}: ${e.message}`);
    const r = await sys.http('POST', '/api/users/data/patch', { token: t, body: { xp: 1 } });
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.match(r.body.error.message, /userId must/);
    if (id !== '') {
      const g = await sys.http('GET', `/api/users/${enc(id)}/stats`, { token: sys.token('alice') });
      assert.equal(g.status, 400, `${what}: ${g.text}`);
      assert.equal(g.body.error.code, 'invalid_user_id');
    }
  }
  const h = await sys.http('GET', '/health');
  assert.equal(h.body.totalUsers, (await usersWritten()), 'nothing was stored for a refused id');
});

// Users stored so far in this file: the ones the earlier tests wrote.
async function usersWritten() {
  let n = 0;
  for (const id of [...IDS, ...PAIRS.flat()]) if ((await get(id)).body.version > 0) n++;
  return n;
}
