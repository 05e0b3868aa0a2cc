'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { FakeServer, makeClient, memoryStorage, enableFakeTimers, advance, settle } = require('./support/fakes');

async function connected(t, opts = {}) {
  const timers = enableFakeTimers();
  const server = opts.server || new FakeServer();
  const h = makeClient(server, opts);
  t.after(async () => { await h.client.destroy(); timers.reset(); });
  await h.client.start();
  await h.socket().serverConnect();
  await settle();
  return { server, h, client: h.client, socket: h.socket() };
}

const doc = (version, fields = {}, updatedAt = `2024-01-15T10:00:${String(version % 60).padStart(2, '0')}.000Z`) => ({
  userId: 'alice', xp: 0, hearts: 5, diamonds: 0, level: 1, streak: 0, version, updatedAt, ...fields,
});

test('version: a stale push (lower version) is ignored, a newer one taken', async (t) => {
  const { client, socket } = await connected(t);
  const stale = [];
  client.on('stale', (e) => stale.push(e));
  socket.fire('user:data:updated', doc(5, { xp: 50 }));
  assert.equal(client.getUserData().xp, 50);
  socket.fire('user:data:updated', doc(3, { xp: 30 }, '2030-01-01T00:00:00.000Z'));
  assert.equal(client.getUserData().xp, 50, 'version 3 after 5: ignored even with a later updatedAt');
  assert.equal(stale.length, 1);
  assert.equal(stale[0].doc.version, 3);
  socket.fire('user:update', { userId: 'alice', stats: doc(4, { xp: 40 }), delta: { xp: -10 }, version: 4, source: 'rest' });
  assert.equal(client.getUserData().xp, 50, 'user:update with an older version: ignored');
  socket.fire('user:update', { userId: 'alice', stats: { ...doc(6, { xp: 60 }), version: undefined }, delta: { xp: 10 }, version: 6, source: 'rest' });
  assert.equal(client.getUserData().xp, 60, 'user:update carries its version at the top');
  assert.equal(client.getUserData().version, 6);
});

test('version: same version, later updatedAt wins; same document is a no-op', async (t) => {
  const { client, socket } = await connected(t);
  socket.fire('user:data:updated', doc(7, { xp: 1 }, '2024-01-15T10:00:00.000Z'));
  socket.fire('user:data:updated', doc(7, { xp: 2 }, '2024-01-15T10:00:00.001Z'));
  assert.equal(client.getUserData().xp, 2);
  let changes = 0;
  client.subscribe(() => { changes += 1; });
  socket.fire('user:data:updated', doc(7, { xp: 2 }, '2024-01-15T10:00:00.001Z'));
  assert.equal(changes, 0);
});

test('version: a push for another user is ignored', async (t) => {
  const { client, socket } = await connected(t);
  socket.fire('user:data:updated', { ...doc(99, { xp: 999 }), userId: 'mallory' });
  assert.notEqual(client.getUserData().xp, 999);
});

test('optimistic view = last server document + pending deltas, in order', async (t) => {
  const { client, socket, server } = await connected(t);
  server.reachable = false;
  socket.serverDisconnect();
  socket.fire('user:data:updated', doc(1));
  await client.updateUserStats({ xp: 10, hearts: -1 });
  await advance(650);
  await client.updateUserStats({ __set: { hearts: 5 }, xp: 1 });
  assert.equal(client.getUserData().xp, 11);
  assert.equal(client.getUserData().hearts, 5);
  // Another device's change arrives meanwhile (push while offline is not
  // possible; a pull is): the pending deltas stay on top of it.
  client._ingest(doc(9, { xp: 100, hearts: 2 }), 'pull');
  client._refresh();
  assert.equal(client.getUserData().xp, 111);
  assert.equal(client.getUserData().hearts, 5);
  assert.equal(client.getUserData().version, 9);
});

test('a push that arrives while an update is in flight is held until its ack (no transient double count)', async (t) => {
  const { client, socket, server } = await connected(t);
  socket.holdAcks = true;
  const seen = [];
  client.subscribe((s) => seen.push(s.userData.xp));
  await client.updateUserStats({ xp: 10 });
  await advance(650);
  // The server applied it and pushed the document (xp 10) before the ack.
  assert.equal(server.doc('alice').xp, 10);
  await settle();
  assert.equal(client.getUserData().xp, 10, 'not 20');
  socket.releaseAcks();
  await settle();
  assert.equal(client.getUserData().xp, 10);
  assert.equal(client.getState().pendingCount, 0);
  assert.ok(seen.every((x) => x === 10), `never showed a double count: ${seen}`);
});

test('ack stats never move the document backwards', async (t) => {
  const { client, socket, server } = await connected(t);
  socket.holdAcks = true;
  await client.updateUserStats({ xp: 1 });
  await advance(650);
  // Another device writes twice before our ack is delivered.
  server.apply('alice', { xp: 100 }, 'o1', 'rest');
  server.apply('alice', { xp: 100 }, 'o2', 'rest');
  await settle();
  socket.releaseAcks();
  await settle();
  assert.equal(client.getUserData().xp, 201);
  assert.equal(client.getUserData().version, 3);
});

test('the last server document is cached and shown at the next start (loading false at once)', async (t) => {
  const storage = memoryStorage();
  const { client, socket } = await connected(t, { storage });
  socket.fire('user:data:updated', doc(4, { xp: 44 }));
  await settle();
  await client.destroy();
  const server = new FakeServer();
  server.reachable = false;
  const h2 = makeClient(server, { storage, autoConnect: false });
  t.after(() => h2.client.destroy());
  await h2.client.start();
  assert.equal(h2.client.getState().loading, false);
  assert.equal(h2.client.getUserData().xp, 44);
  // A server that lost its data (older version) does not move us backwards.
  h2.client._ingest(doc(1, { xp: 1 }), 'pull');
  assert.equal(h2.client._serverDoc.xp, 44);
});

test('two devices of one user converge (fake server)', async (t) => {
  const timers = enableFakeTimers();
  t.after(() => timers.reset());
  const server = new FakeServer();
  const a = makeClient(server, {});
  const b = makeClient(server, {});
  t.after(async () => { await a.client.destroy(); await b.client.destroy(); });
  await a.client.start();
  await b.client.start();
  await a.socket().serverConnect();
  await b.socket().serverConnect();
  await settle();
  for (let i = 0; i < 5; i++) {
    a.client.updateUserStats({ xp: 1, correctAnswers: 1, totalQuestions: 1 });
    b.client.updateUserStats({ xp: 2, wrongAnswers: 1, totalQuestions: 1 });
    await advance(200);
  }
  await advance(1000);
  assert.equal(server.doc('alice').xp, 15);
  assert.deepEqual(a.client.getUserData(), b.client.getUserData());
  assert.equal(a.client.getUserData().xp, 15);
  assert.equal(a.client.getUserData().accuracy, 50);
});

test('forcePull takes the server document by version and resolves with the view', async (t) => {
  const { client, server } = await connected(t);
  server.apply('alice', { xp: 12 }, 'x1', 'rest');
  const v = await client.forcePull();
  assert.equal(v.xp, 12);
  server.reachable = false;
  await assert.rejects(client.forcePull(), /pull failed/);
  assert.equal(client.getState().error, null, 'a document is shown: not a screen error');
  assert.match(client.getState().syncError.message, /pull failed/);
});
