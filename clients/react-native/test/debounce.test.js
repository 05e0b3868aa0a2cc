'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { FakeServer, makeClient, enableFakeTimers, advance, settle } = require('./support/fakes');

async function connectedClient(t, opts = {}) {
  const timers = enableFakeTimers();
  const server = new FakeServer();
  const h = makeClient(server, opts);
  t.after(async () => { await h.client.destroy(); timers.reset(); });
  await h.client.start();
  await h.socket().serverConnect();
  await settle();
  return { server, h };
}

const updates = (server) => server.requests.map((r) => r.delta);

test('debounce: the seed example — three rapid updates become one operation after 600 ms', async (t) => {
  const { server, h } = await connectedClient(t);
  const { client } = h;
  client.updateUserStats({ xp: 10 });
  client.updateUserStats({ diamonds: 1 });
  client.updateUserStats({ streak: 1 });
  await settle();
  assert.equal(server.requests.length, 0, 'nothing sent inside the window');
  assert.equal(client.getUserData().xp, 10, 'optimistic view is immediate');
  assert.equal(client.getState().pendingCount, 1, 'one merged queue entry');
  await advance(590, 10);
  assert.equal(server.requests.length, 0, 'still inside the window at 590 ms');
  await advance(20, 10);
  assert.deepEqual(updates(server), [{ xp: 10, diamonds: 1, streak: 1 }]);
  assert.equal(server.requests[0].transport, 'socket');
  assert.equal(client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 10);
});

test('debounce: numbers add, arrays append, __set last-wins within one window', async (t) => {
  const { server, h } = await connectedClient(t);
  const { client } = h;
  client.updateUserStats({ xp: 10, diamonds: 5, timePerQuestion: [2.5] });
  client.updateUserStats({ xp: 50, __set: { hearts: 5, streak: 0 }, timePerQuestion: [3.1] });
  client.updateUserStats({ xp: 100, diamonds: 10, __set: { hearts: 4, level: 2 } });
  await advance(700);
  assert.deepEqual(updates(server), [{
    xp: 160, diamonds: 15, timePerQuestion: [2.5, 3.1], __set: { hearts: 4, streak: 0, level: 2 },
  }]);
  const doc = server.doc('alice');
  assert.equal(doc.hearts, 4);
  assert.equal(doc.level, 2);
  assert.deepEqual(client.getUserData().timePerQuestion, [2.5, 3.1]);
});

test('debounce: merging never changes the result (clamps and derived fields stay exact)', async (t) => {
  const { server, h } = await connectedClient(t);
  const { client } = h;
  // Full hearts: +1 (clamped at 5) then -1 must give 4, not 5.
  client.updateUserStats({ hearts: 1 });
  client.updateUserStats({ hearts: -1 });
  // streak +2, then reset: maxStreak must remember 2.
  client.updateUserStats({ streak: 1 });
  client.updateUserStats({ streak: 1 });
  client.updateUserStats({ __set: { streak: 0 } });
  client.updateUserStats({ streak: 1 });
  await advance(1300);
  const doc = server.doc('alice');
  assert.equal(doc.hearts, 4);
  assert.equal(doc.maxStreak, 2);
  assert.equal(doc.streak, 1);
  assert.deepEqual(updates(server), [{ hearts: 1 }, { hearts: -1, streak: 2 }, { __set: { streak: 1 } }]);
  assert.deepEqual({ hearts: client.getUserData().hearts, streak: client.getUserData().streak, maxStreak: client.getUserData().maxStreak },
    { hearts: 4, streak: 1, maxStreak: 2 });
});

test('debounce: separate windows are separate operations, sent in order', async (t) => {
  const { server, h } = await connectedClient(t);
  const { client } = h;
  client.updateUserStats({ xp: 1 });
  await advance(650);
  client.updateUserStats({ xp: 2 });
  client.updateUserStats({ xp: 3 });
  await advance(650);
  assert.deepEqual(updates(server), [{ xp: 1 }, { xp: 5 }]);
  const ids = server.requests.map((r) => r.opId);
  assert.equal(new Set(ids).size, 2, 'each operation has its own opId');
  for (const id of ids) assert.match(id, /^[0-9a-f-]{36}$/);
});

test('debounce: the window is configurable', async (t) => {
  const { server, h } = await connectedClient(t, { debounceMs: 100 });
  h.client.updateUserStats({ xp: 1 });
  h.client.updateUserStats({ xp: 1 });
  await advance(120, 10);
  assert.deepEqual(updates(server), [{ xp: 2 }]);
});

test('debounce: flushQueue() closes the window at once', async (t) => {
  const { server, h } = await connectedClient(t);
  h.client.updateUserStats({ xp: 7 });
  const flushed = h.client.flushQueue();
  await settle();
  await flushed;
  assert.deepEqual(updates(server), [{ xp: 7 }]);
});

test('debounce: a diamonds spend is its own operation and never takes other updates down with it', async (t) => {
  const { server, h } = await connectedClient(t);
  const { client } = h;
  await client.updateUserStats({ diamonds: 3 });
  await advance(650);
  client.updateUserStats({ xp: 10 });
  client.updateUserStats({ diamonds: -2 });
  client.updateUserStats({ xp: 5 });
  await advance(650);
  assert.deepEqual(updates(server), [{ diamonds: 3 }, { xp: 10 }, { diamonds: -2 }, { xp: 5 }]);
  assert.equal(server.doc('alice').diamonds, 1);
  assert.equal(server.doc('alice').xp, 15);
  await assert.rejects(client.updateUserStats({ diamonds: -5 }), (e) => e.code === 'insufficient_funds');
  assert.equal(client.getState().pendingCount, 0, 'a spend we know is impossible is not queued');
});

test('invalid deltas are refused at the call and never poison a window', async (t) => {
  const { server, h } = await connectedClient(t);
  const { client } = h;
  client.updateUserStats({ xp: 1 });
  await assert.rejects(client.updateUserStats({ xp: 'ten' }), TypeError);
  await assert.rejects(client.updateUserStats({ bogus: 1 }), /unknown field/);
  await advance(650);
  assert.deepEqual(updates(server), [{ xp: 1 }]);
});
