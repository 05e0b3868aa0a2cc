// sio_fanout.test.js — pushes: user:data:updated to every socket of the user
// (sender included) after socket and REST changes, user:update to the other
// sockets only, nothing to another user, across two gateways on one NATS.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep } = require('../lib/system');
const { connect, emitAck, record } = require('./sio_helpers');

const PUSHES = ['user:data:updated', 'user:update'];
let sys;
test.before(async () => { sys = await System.start({ gateways: 2 }); });
test.after(async () => { if (sys) await sys.stop(); });

test('a socket update reaches every socket of the user, sender included; user:update skips the sender', async () => {
  const a = await connect(sys, 'fan_u1', {});
  const b = await connect(sys, 'fan_u1', { transports: ['websocket'] });
  const c = await connect(sys, 'fan_u1', { transports: ['polling'] });
  const other = await connect(sys, 'fan_u2', {});
  const recA = record(a, PUSHES), recB = record(b, PUSHES), recC = record(c, PUSHES);
  const recO = record(other, PUSHES);
  try {
    const ack = await emitAck(a, 'user:clientUpdate', { opId: 'f1', delta: { xp: 7 } });
    assert.equal(ack.ok, true);
    const v = ack.stats.version;
    for (const rec of [recA, recB, recC]) {
      await waitForRec(rec, 'user:data:updated', (x) => x.version === v);
      const d = rec['user:data:updated'].find((x) => x.version === v);
      assert.equal(d.userId, 'fan_u1');
      assert.equal(d.xp, 7);
    }
    // user:update goes to b and c, not to a (the sender)
    for (const rec of [recB, recC]) {
      await waitForRec(rec, 'user:update', (u) => u.version === v);
      const u = rec['user:update'].find((x) => x.version === v);
      assert.equal(u.userId, 'fan_u1');
      assert.equal(u.source, 'socket');
      assert.deepEqual(u.delta, { xp: 7 });
      assert.equal(u.stats.xp, 7);
    }
    await sleep(200);
    assert.equal(recA['user:update'].length, 0, 'the sender gets no user:update');
    assert.equal(recO['user:data:updated'].length + recO['user:update'].length, 0, 'nothing reaches another user');
  } finally { a.close(); b.close(); c.close(); other.close(); }
});

async function waitForRec(rec, event, pred, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (rec[event].some(pred)) return;
    await sleep(20);
  }
  throw new Error(`no matching ${event}`);
}

test('a REST patch reaches every socket of the user with user:data:updated and user:update', async () => {
  const a = await connect(sys, 'fan_rest', {});
  const b = await connect(sys, 'fan_rest', { transports: ['websocket'] });
  const other = await connect(sys, 'fan_rest_other', {});
  const recA = record(a, PUSHES), recB = record(b, PUSHES), recO = record(other, PUSHES);
  try {
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token('fan_rest'), body: { xp: 3, __set: { hearts: 4 } } });
    assert.equal(r.status, 200, r.text);
    const v = r.body.stats.version;
    for (const rec of [recA, recB]) {
      await waitForRec(rec, 'user:data:updated', (d) => d.version === v);
      await waitForRec(rec, 'user:update', (u) => u.version === v);
      const u = rec['user:update'].find((x) => x.version === v);
      assert.equal(u.source, 'rest');
      assert.equal(u.stats.hearts, 4);
    }
    await sleep(200);
    assert.equal(recO['user:data:updated'].length + recO['user:update'].length, 0);
  } finally { a.close(); b.close(); other.close(); }
});

test('two gateways on one NATS: a socket on A sees a change made through B', async () => {
  const [gwA, gwB] = sys.gateways;
  const onA = await connect(sys, 'fan_multi', {}, gwA);
  const onB = await connect(sys, 'fan_multi', { transports: ['websocket'] }, gwB);
  const recA = record(onA, PUSHES), recB = record(onB, PUSHES);
  try {
    // through a socket on B
    const ack = await emitAck(onB, 'user:clientUpdate', { delta: { diamonds: 2 } });
    assert.equal(ack.ok, true);
    await waitForRec(recA, 'user:data:updated', (d) => d.version === ack.stats.version);
    await waitForRec(recA, 'user:update', (u) => u.version === ack.stats.version && u.source === 'socket');
    await waitForRec(recB, 'user:data:updated', (d) => d.version === ack.stats.version);
    assert.equal(recB['user:update'].length, 0, 'the sender on B gets no user:update');
    // through REST on B
    const r = await sys.http('POST', '/api/users/data/patch', { gw: gwB, token: sys.token('fan_multi'), body: { xp: 1 } });
    assert.equal(r.status, 200, r.text);
    await waitForRec(recA, 'user:data:updated', (d) => d.version === r.body.stats.version);
  } finally { onA.close(); onB.close(); }
});

test('the subscription follows the sockets: after the last socket leaves, pushes stop; a new socket gets them again', async () => {
  const a = await connect(sys, 'fan_sub', {});
  a.close();
  await sleep(200);
  const b = await connect(sys, 'fan_sub', { transports: ['websocket'] });
  const rec = record(b, PUSHES);
  try {
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token('fan_sub'), body: { xp: 1 } });
    assert.equal(r.status, 200, r.text);
    await waitForRec(rec, 'user:data:updated', (d) => d.version === r.body.stats.version);
    assert.equal(rec['user:data:updated'].filter((d) => d.version === r.body.stats.version).length, 1, 'exactly once');
  } finally { b.close(); }
});

test('a socket that stops reading is closed once its output queue is full; others are unaffected', async () => {
  const port = sys.gw.socketPort;
  const url = (q) => `http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling${q}`;
  // a polling session that connects and then never polls again
  const open = await (await fetch(url(''))).text();
  const sid = JSON.parse(open.slice(1)).sid;
  const post = await fetch(url(`&sid=${sid}`), { method: 'POST', body: `40${JSON.stringify({ token: sys.token('fan_slow') })}` });
  assert.equal(await post.text(), 'ok');
  const good = await connect(sys, 'fan_slow', { transports: ['websocket'] });
  const rec = record(good, PUSHES);
  try {
    // every change queues a user:update (no supersede) for the silent session
    let last;
    for (let i = 0; i < 300; i += 20) {
      const rs = await Promise.all(Array.from({ length: 20 }, () =>
        sys.http('POST', '/api/users/data/patch', { token: sys.token('fan_slow'), body: { xp: 1 } })));
      for (const r of rs) assert.equal(r.status, 200, r.text);
      last = Math.max(...rs.map((r) => r.body.stats.version));
    }
    await waitForRec(rec, 'user:data:updated', (d) => d.version === last);
    // the silent session is gone: its sid is unknown now
    const r = await fetch(url(`&sid=${sid}`));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(await r.text()).code, 1);
    const m = await sys.http('GET', '/metrics');
    assert.match(m.text, /statsync_socket_queue_overflow_total(\{[^}]*\})? [1-9]/);
    assert.equal(good.connected, true);
  } finally { good.close(); }
});
