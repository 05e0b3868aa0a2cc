'use strict';
// Sign-out (issue 16 item 6): signOut({flush}) stops the service and deletes
// the user's persisted queue and cached document, optionally flushing first.
const test = require('node:test');
const assert = require('node:assert/strict');
const { FakeServer, makeClient, memoryStorage, enableFakeTimers, advance, settle } = require('./support/fakes');
const { signOutUserDataSync, resetUserDataSyncRegistry, acquireUserDataSync, configureUserDataSync } = require('..');

const QUEUE = '@statsync/queue/alice';
const DOC = '@statsync/doc/alice';

function setup(t, opts = {}) {
  const timers = enableFakeTimers();
  const server = opts.server || new FakeServer();
  const h = makeClient(server, opts);
  t.after(async () => { await h.client.destroy(); timers.reset(); await resetUserDataSyncRegistry(); });
  return { server, h, client: h.client };
}

async function offlineQueue(server, client, n = 2) {
  server.reachable = false;
  for (let i = 0; i < n; i++) { await client.updateUserStats({ xp: 1 }); await advance(650); }
}

test('signOut(): discards the queue, deletes the stored queue and document, stops the service', async (t) => {
  const { server, h, client } = setup(t, { autoConnect: false });
  server.apply('alice', { xp: 5 }, 'seed', 'rest');
  await client.start();
  await settle();
  await offlineQueue(server, client);
  assert.ok(h.storage.map.has(QUEUE) && h.storage.map.has(DOC));
  const events = [];
  client.on('signedOut', (e) => events.push(e));
  const states = [];
  client.subscribe((s) => states.push(s));
  const r = await client.signOut();
  assert.deepEqual(r, { discarded: 2 });
  assert.deepEqual(events, [{ discarded: 2 }]);
  assert.equal(h.storage.map.has(QUEUE), false, 'queue deleted');
  assert.equal(h.storage.map.has(DOC), false, 'cached document deleted');
  const last = states.at(-1);
  assert.equal(last.signedOut, true);
  assert.equal(last.userData, null);
  assert.equal(last.pendingCount, 0);
  assert.equal(client.destroyed, true);
  await assert.rejects(client.updateUserStats({ xp: 1 }), /signed out/);
  server.reachable = true;
  await advance(10000, 500);
  assert.equal(server.doc('alice').xp, 5, 'nothing of the discarded queue reached the server');
  assert.equal(h.storage.map.has(QUEUE), false, 'and nothing was written back afterwards');
  // The next start of this user finds nothing.
  const next = makeClient(server, { storage: h.storage, autoConnect: false });
  t.after(() => next.client.destroy());
  await next.client.start();
  assert.equal(next.client.getState().pendingCount, 0);
});

test('signOut({flush: true}): the queue is sent first, then cleared', async (t) => {
  const { server, h, client } = setup(t);
  await client.start();
  await h.socket().serverConnect();
  await settle();
  await client.updateUserStats({ xp: 4 }); // still in its debounce window
  const r = await client.signOut({ flush: true });
  assert.deepEqual(r, { discarded: 0 });
  assert.equal(server.doc('alice').xp, 4);
  assert.equal(h.storage.map.has(QUEUE), false);
  assert.equal(h.storage.map.has(DOC), false);
  assert.equal(h.socket().active, false, 'socket closed');
});

test('signOut({flush: true}) while the server is unreachable rejects and changes nothing', async (t) => {
  const { server, h, client } = setup(t, { autoConnect: false });
  await client.start();
  await settle();
  await offlineQueue(server, client, 1);
  await assert.rejects(client.signOut({ flush: true }), (e) => e.kind === 'transient');
  assert.equal(client.destroyed, false, 'still running');
  assert.equal(client.getState().pendingCount, 1);
  assert.ok(h.storage.map.has(QUEUE), 'queue kept');
  await client.signOut({ flush: false });
  assert.equal(h.storage.map.has(QUEUE), false);
});

test('signOutUserDataSync(userId): signs out the shared service, and clears storage even without one', async (t) => {
  const timers = enableFakeTimers();
  t.after(async () => { timers.reset(); await resetUserDataSyncRegistry(); });
  const server = new FakeServer();
  const storage = memoryStorage();
  configureUserDataSync({
    apiUrl: 'http://api.test', storage, fetch: server.fetch(), autoConnect: false, getToken: async () => 'tok-alice',
    logger: {}, appState: null, netInfo: null,
  });
  const s = acquireUserDataSync('alice');
  await s.start();
  await settle();
  await offlineQueue(server, s, 1);
  assert.ok(storage.map.has(QUEUE));
  assert.deepEqual(await signOutUserDataSync('alice'), { discarded: 1 });
  assert.equal(s.getState().signedOut, true);
  assert.equal(storage.map.has(QUEUE), false);
  // A queue left by an earlier run, no service running: cleared too...
  storage.map.set(QUEUE, JSON.stringify({ v: 1, entries: [{ opId: 'o1', delta: { xp: 9 }, createdAt: 1 }] }));
  storage.map.set(DOC, JSON.stringify({ userId: 'alice', xp: 1, version: 1 }));
  assert.deepEqual(await signOutUserDataSync('alice'), { discarded: 1 });
  assert.equal(storage.map.has(QUEUE), false);
  assert.equal(storage.map.has(DOC), false);
  // ...or sent first with {flush: true}.
  server.reachable = true;
  storage.map.set(QUEUE, JSON.stringify({ v: 1, entries: [{ opId: 'o2', delta: { xp: 9 }, createdAt: 1 }] }));
  assert.deepEqual(await signOutUserDataSync('alice', { flush: true }), { discarded: 0 });
  assert.equal(server.doc('alice').xp, 9);
  assert.equal(storage.map.has(QUEUE), false);
});
