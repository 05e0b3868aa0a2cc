// sio_transports.test.js — the unmodified socket.io-client 4.8.1 against the
// real gateway: the three transport setups, CONNECT auth (connect_error for
// missing / wrong-secret / expired / alg:none tokens), acks, presence events.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System } = require('../lib/system');
const { connect, connectError, once, emitAck, waitFor } = require('./sio_helpers');

let sys;
test.before(async () => { sys = await System.start(); });
test.after(async () => { if (sys) await sys.stop(); });

async function roundTrip(s, user) {
  const pong = emitAck(s, 'presence:ping', { ts: 1234 });
  const p = await pong;
  assert.equal(p.userId, user);
  assert.equal(p.ts, 1234);
  assert.equal(typeof p.serverTime, 'number');
  assert.ok(p.devices >= 1);
  const ack = await emitAck(s, 'user:clientUpdate', { delta: { xp: 5 } });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.equal(ack.stats.userId, user);
  assert.ok(ack.stats.xp >= 5);
  return ack;
}

test('default transports: starts on polling, upgrades to websocket', async () => {
  const s = await connect(sys, 'tr_default', {});
  try {
    assert.ok(s.id, 'socket id from 40{"sid"}');
    const upgraded = s.io.engine.transport.name === 'websocket'
      ? Promise.resolve()
      : once(s.io.engine, 'upgrade', 5000);
    await upgraded;
    assert.equal(s.io.engine.transport.name, 'websocket');
    await roundTrip(s, 'tr_default');
  } finally { s.close(); }
});

test("transports: ['websocket']", async () => {
  const s = await connect(sys, 'tr_ws', { transports: ['websocket'] });
  try {
    assert.equal(s.io.engine.transport.name, 'websocket');
    await roundTrip(s, 'tr_ws');
  } finally { s.close(); }
});

test("transports: ['polling']", async () => {
  const s = await connect(sys, 'tr_poll', { transports: ['polling'] });
  try {
    assert.equal(s.io.engine.transport.name, 'polling');
    const ack = await roundTrip(s, 'tr_poll');
    // the push of our own update reaches us on polling too
    const doc = await waitFor(s, 'user:data:updated', (d) => d.version >= ack.stats.version, 5000)
      .catch(() => null);
    assert.ok(doc === null || doc.userId === 'tr_poll');
  } finally { s.close(); }
});

test('query token is accepted too', async () => {
  const s = await connect(sys, 'tr_query', { auth: {}, query: { token: sys.token('tr_query') } });
  s.close();
});

test('connect_error: missing token', async () => {
  const e = await connectError(sys, { auth: {} });
  assert.match(e.message, /token/);
});

test('connect_error: wrong secret', async () => {
  const e = await connectError(sys, { auth: { token: sys.token('alice', { secret: 'not-the-secret-0123456789abcdef' }) } });
  assert.match(e.message, /unauthorized/);
});

test('connect_error: expired token', async () => {
  const e = await connectError(sys, { auth: { token: sys.token('alice', { exp: Math.floor(Date.now() / 1000) - 60 }) } });
  assert.match(e.message, /unauthorized/);
});

test('connect_error: alg none', async () => {
  const e = await connectError(sys, { auth: { token: sys.token('alice', { alg: 'none' }) } });
  assert.match(e.message, /unauthorized/);
});

test('connect_error on websocket-only and polling-only clients as well', async () => {
  for (const transports of [['websocket'], ['polling']]) {
    const e = await connectError(sys, { transports, auth: { token: 'garbage' } });
    assert.match(e.message, /unauthorized/);
  }
});

test('acks: the three update shapes, opIds, refusals', async () => {
  const s = await connect(sys, 'ack_user', { transports: ['websocket'] });
  try {
    const a1 = await emitAck(s, 'user:clientUpdate', { opId: 'op-1', delta: { xp: 10, __set: { hearts: 3 } } });
    assert.equal(a1.ok, true, JSON.stringify(a1));
    assert.equal(a1.stats.xp, 10);
    assert.equal(a1.stats.hearts, 3);
    // the same opId again: applied once
    const a2 = await emitAck(s, 'user:clientUpdate', { opId: 'op-1', delta: { xp: 10, __set: { hearts: 3 } } });
    assert.equal(a2.ok, true);
    assert.equal(a2.stats.xp, 10);
    assert.equal(a2.duplicate, true);
    // a batch, applied in order
    const a3 = await emitAck(s, 'user:clientUpdate', { ops: [{ opId: 'op-2', delta: { xp: 1 } }, { opId: 'op-3', delta: { diamonds: 4 } }] });
    assert.equal(a3.ok, true, JSON.stringify(a3));
    assert.equal(a3.stats.xp, 11);
    assert.equal(a3.stats.diamonds, 4);
    // a full write (LWW)
    const updatedAt = new Date(Date.now() + 1000).toISOString();
    const a4 = await emitAck(s, 'user:clientUpdate', { opId: 'op-4', stats: { xp: 100, level: 2, updatedAt } });
    assert.equal(a4.ok, true, JSON.stringify(a4));
    assert.equal(a4.stats.xp, 100);
    assert.equal(a4.stats.level, 2);
    // an older full write: conflict, with the stored document
    const a5 = await emitAck(s, 'user:clientUpdate', { stats: { xp: 1, updatedAt: '2020-01-01T00:00:00.000Z' } });
    assert.equal(a5.ok, false);
    assert.equal(a5.error.code, 'conflict');
    assert.equal(a5.stats.xp, 100);
    // invalid payloads change nothing and the socket stays usable
    for (const bad of [{ delta: { xp: 'ten' } }, { delta: { nope: 1 } }, { delta: {}, stats: {} }, 'x', [1],
      { ops: [] }, { opId: 5, delta: { xp: 1 } }, { userId: 'someone_else', delta: { xp: 1 } }]) {
      const r = await emitAck(s, 'user:clientUpdate', bad);
      assert.equal(r.ok, false, JSON.stringify(bad));
      assert.ok(r.error.code && r.error.message, JSON.stringify(r));
    }
    const funds = await emitAck(s, 'user:clientUpdate', { delta: { diamonds: -1000 } });
    assert.equal(funds.ok, false);
    assert.equal(funds.error.code, 'insufficient_funds');
    const after = await emitAck(s, 'user:clientUpdate', { delta: { xp: 1 } });
    assert.equal(after.ok, true);
    assert.equal(after.stats.xp, 101);
    assert.equal(after.stats.diamonds, 4);
  } finally { s.close(); }
});

test('user:error when no ack was asked; unknown events refused', async () => {
  const s = await connect(sys, 'err_user', { transports: ['websocket'] });
  try {
    const e1 = once(s, 'user:error');
    s.emit('user:clientUpdate', { delta: { xp: 'x' } });
    const err = await e1;
    assert.equal(err.event, 'user:clientUpdate');
    assert.equal(err.error.code, 'invalid_type');
    const r = await emitAck(s, 'no:such:event', {});
    assert.equal(r.ok, false);
    assert.equal(r.error.code, 'bad_request');
  } finally { s.close(); }
});

test('presence:join: own room answers with the document; another user is refused', async () => {
  const s = await connect(sys, 'join_user', {});
  try {
    const doc = once(s, 'user:data:updated');
    const ack = await emitAck(s, 'presence:join', { userId: 'join_user' });
    assert.equal(ack.ok, true);
    const d = await doc;
    assert.equal(d.userId, 'join_user');
    assert.equal(d.hearts, 5); // defaults of a never-written user
    assert.equal(d.version, 0);
    const no = await emitAck(s, 'presence:join', { userId: 'somebody' });
    assert.equal(no.ok, false);
    assert.equal(no.error.code, 'forbidden');
    // without an ack: the document only
    const d2 = once(s, 'user:data:updated');
    s.emit('presence:join', { userId: 'join_user' });
    assert.equal((await d2).userId, 'join_user');
  } finally { s.close(); }
});

test('presence:ping answers presence:pong with the local device count', async () => {
  const a = await connect(sys, 'pinger', {});
  const b = await connect(sys, 'pinger', { transports: ['websocket'] });
  try {
    const pong = once(a, 'presence:pong');
    a.emit('presence:ping', { ts: 99 });
    const p = await pong;
    assert.deepEqual({ userId: p.userId, ts: p.ts, devices: p.devices }, { userId: 'pinger', ts: 99, devices: 2 });
    assert.ok(Math.abs(p.serverTime - Date.now()) < 60000);
  } finally { a.close(); b.close(); }
});

test('/health counts local sockets and users', async () => {
  const a = await connect(sys, 'h1', {});
  const b = await connect(sys, 'h1', {});
  const c = await connect(sys, 'h2', {});
  try {
    const r = await sys.http('GET', '/health');
    assert.ok(r.body.connectedClients >= 3, JSON.stringify(r.body));
    assert.ok(r.body.connectedUsers >= 2, JSON.stringify(r.body));
  } finally { a.close(); b.close(); c.close(); }
});

// Messages far larger than the gateway's websocket receive chunk (256 bytes)
// and than one lws send of the old default (1 KB): an update of ~2 KB (100
// timePerQuestion values, the most a document keeps) arrives in several
// chunks and is put together; its ack and the push carry the whole document
// intact, on every transport.
test('large messages both ways: a ~2 KB update, its ack and push intact (websocket, polling, upgrade)', async () => {
  for (const [name, transports] of [['big_ws', ['websocket']], ['big_poll', ['polling']], ['big_default', undefined]]) {
    const s = await connect(sys, name, transports ? { transports } : {});
    try {
      const times = Array.from({ length: 100 }, (_, i) => i + 0.123456789012345);
      const msg = JSON.stringify({ delta: { xp: 1, timePerQuestion: times } });
      assert.ok(msg.length > 1500, 'the update spans several receive chunks');
      const pushed = waitFor(s, 'user:data:updated', (d) => (d.timePerQuestion || []).length === times.length, 10000);
      const ack = await emitAck(s, 'user:clientUpdate', JSON.parse(msg), 10000);
      assert.equal(ack.ok, true, JSON.stringify(ack).slice(0, 300));
      assert.deepEqual(ack.stats.timePerQuestion, times, `${name}: the ack carries every value`);
      const doc = await pushed;
      assert.deepEqual(doc.timePerQuestion, times, `${name}: the push carries every value`);
    } finally { s.close(); }
  }
});
