'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  FakeServer, makeClient, memoryStorage, fakeAppState, fakeNetInfo, jsonResponse, enableFakeTimers, advance, settle,
} = require('./support/fakes');

function setup(t, opts = {}) {
  const timers = enableFakeTimers();
  const server = opts.server || new FakeServer();
  const h = makeClient(server, opts);
  t.after(async () => { await h.client.destroy(); timers.reset(); });
  return { server, h, client: h.client };
}

const storedQueue = (storage, userId = 'alice') => {
  const raw = storage.map.get(`@statsync/queue/${userId}`);
  return raw ? JSON.parse(raw).entries : [];
};

async function queueOffline(client, deltas) {
  for (const d of deltas) {
    await client.updateUserStats(d);
    await advance(650, 50);
  }
}

test('queue: every update is persisted with an opId before updateUserStats resolves', async (t) => {
  const { server, h, client } = setup(t, { autoConnect: false });
  server.reachable = false;
  await client.start();
  await client.updateUserStats({ xp: 10 });
  let q = storedQueue(h.storage);
  assert.equal(q.length, 1);
  assert.deepEqual(q[0].delta, { xp: 10 });
  assert.match(q[0].opId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await client.updateUserStats({ xp: 5 });
  q = storedQueue(h.storage);
  assert.equal(q.length, 1, 'merged into the open window entry');
  assert.deepEqual(q[0].delta, { xp: 15 });
});

test('queue: survives an app restart and is flushed in order with the same opIds', async (t) => {
  const timers = enableFakeTimers();
  t.after(() => timers.reset());
  const server = new FakeServer();
  server.reachable = false;
  const storage = memoryStorage();
  const a = makeClient(server, { storage, autoConnect: false });
  await a.client.start();
  await queueOffline(a.client, [{ xp: 1 }, { xp: 2 }, { __set: { level: 4 } }, { xp: 4 }]);
  const before = storedQueue(storage).map((e) => e.opId);
  assert.equal(before.length, 4);
  assert.equal(a.client.getUserData().xp, 7, 'optimistic view while offline');
  await a.client.destroy(); // the app is killed

  server.reachable = true;
  const b = makeClient(server, { storage, autoConnect: false });
  t.after(() => b.client.destroy());
  await b.client.start();
  assert.equal(b.client.getState().pendingCount, 4, 'queue restored from storage');
  await b.client.flushQueue();
  assert.deepEqual(server.requests.filter((r) => r.transport === 'rest').map((r) => r.opId), before, 'in order, same opIds');
  assert.deepEqual(server.requests.map((r) => r.delta), [{ xp: 1 }, { xp: 2 }, { __set: { level: 4 } }, { xp: 4 }]);
  assert.equal(server.doc('alice').xp, 7);
  assert.equal(server.doc('alice').level, 4);
  assert.equal(storedQueue(storage).length, 0, 'emptied in storage');
  const patch = b.fetch.calls.find((c) => c.method === 'POST');
  assert.equal(patch.headers['Idempotency-Key'], before[0]);
  assert.equal(patch.headers.Authorization, 'Bearer tok-alice');
  assert.equal(patch.url, 'http://api.test/api/users/data/patch');
});

test('queue: an entry leaves only on an ack; a lost ack is resent with the same opId and counted once', async (t) => {
  const { server, h, client } = setup(t, { ackTimeoutMs: 1000 });
  await client.start();
  await h.socket().serverConnect();
  await settle();
  h.socket().dropAcks = true; // applied on the server, answer lost
  await client.updateUserStats({ xp: 10 });
  await advance(650);
  assert.equal(server.requests.length, 1);
  assert.equal(client.getState().pendingCount, 1, 'no ack: still queued');
  assert.equal(storedQueue(h.storage).length, 1, 'still persisted');
  await advance(1000); // ack timeout
  h.socket().dropAcks = false;
  await advance(600); // backoff retry (500 ms)
  assert.equal(server.requests.length, 2);
  assert.equal(server.requests[0].opId, server.requests[1].opId, 'retried with the same opId');
  assert.equal(client.getState().pendingCount, 0, 'the duplicate answer is an ack');
  assert.equal(server.doc('alice').xp, 10, 'applied exactly once');
  assert.equal(client.getUserData().xp, 10);
});

test('queue: a disconnect mid-flush keeps the entry; after reconnect it is sent again and applied once', async (t) => {
  const { server, h, client } = setup(t);
  await client.start();
  await h.socket().serverConnect();
  await settle();
  server.reachable = false; // REST down too
  for (let i = 1; i <= 3; i++) { await client.updateUserStats({ xp: i }); await advance(650); }
  h.socket().dropAcks = true;
  await client.updateUserStats({ xp: 100 });
  await advance(650);
  h.socket().serverDisconnect();
  await settle();
  assert.equal(client.getState().pendingCount, 1);
  h.socket().dropAcks = false;
  server.reachable = true;
  await h.socket().serverConnect();
  await advance(100);
  assert.equal(client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 106);
  const last = server.requests.slice(-2);
  assert.equal(last[0].opId, last[1].opId);
});

test('queue: a permanent refusal drops the entry and surfaces the error; the rest of the queue goes on', async (t) => {
  const { server, h, client } = setup(t, { autoConnect: false });
  await client.start();
  await settle();
  server.refuse = (delta) => (delta.__set && delta.__set.level === 99 ? { status: 400, code: 'invalid_value', message: 'level too high' } : null);
  const refused = [];
  client.on('refused', (e) => refused.push(e));
  server.reachable = false;
  await client.updateUserStats({ __set: { level: 99 } });
  await advance(650);
  await client.updateUserStats({ xp: 3 });
  server.reachable = true;
  await client.flushQueue();
  assert.equal(refused.length, 1);
  assert.equal(refused[0].kind, 'refused');
  assert.equal(refused[0].status, 400);
  assert.equal(refused[0].code, 'invalid_value');
  assert.deepEqual(refused[0].delta, { __set: { level: 99 } });
  assert.match(client.getState().error, /level too high/);
  assert.equal(client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 3);
  assert.equal(server.doc('alice').level, 1);
  assert.equal(client.getUserData().level, 1, 'optimistic value rolled back');
  assert.match(client.getState().error, /level too high/, 'the flush that reported the refusal does not hide it');
  await client.forcePull();
  assert.equal(client.getState().error, null, 'cleared by the next successful sync (here a pull)');
  assert.equal(client.getState().errorDetail, null);
});

test('queue: a refusal is cleared by an acknowledged operation of a later flush (not by the flush that reported it)', async (t) => {
  const { server, client } = setup(t, { autoConnect: false });
  await client.start();
  await settle();
  let busy = 1;
  server.refuse = (delta) => {
    if (delta.__set && delta.__set.level === 99) return { status: 400, code: 'invalid_value', message: 'level too high' };
    if (delta.xp && busy > 0) { busy -= 1; return { status: 503, code: 'unavailable', message: 'busy' }; }
    return null;
  };
  server.reachable = false;
  await client.updateUserStats({ __set: { level: 99 } });
  await advance(650);
  await client.updateUserStats({ xp: 2 });
  await advance(650);
  server.reachable = true;
  await assert.rejects(client.flushQueue(), /busy/); // refusal, then a transient failure
  assert.match(client.getState().error, /level too high/);
  assert.equal(client.getState().pendingCount, 1);
  await advance(1000); // the retry (a later flush) is acknowledged
  assert.equal(client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 2);
  assert.equal(client.getState().error, null, 'cleared by the later ack');
  assert.equal(client.getState().syncError, null);
});

for (const status of [500, 503, 408, 429]) {
  test(`queue: HTTP ${status} is transient — the entry stays and is retried`, async (t) => {
    const { server, client } = setup(t, { autoConnect: false });
    await client.start();
    await settle();
    let fails = 2;
    server.restHook = (u, init) => {
      if (init.method === 'POST' && fails > 0) { fails -= 1; return jsonResponse(status, { error: { code: 'x', message: 'later' } }, status === 429 ? { 'Retry-After': '2' } : {}); }
      return null;
    };
    await client.updateUserStats({ xp: 1 });
    await advance(650);
    assert.equal(client.getState().pendingCount, 1);
    assert.match(client.getState().syncError.message, /later/);
    assert.equal(client.getState().error, null, 'a transient failure is not an error for the screen');
    await advance(status === 429 ? 1900 : 400);
    if (status === 429) assert.equal(client.getState().pendingCount, 1, 'Retry-After respected');
    await advance(status === 429 ? 4200 : 1200);
    assert.equal(client.getState().pendingCount, 0);
    assert.equal(server.doc('alice').xp, 1);
    assert.equal(client.getState().syncError, null, 'cleared after success');
  });
}

test('queue: 401 keeps the entry (the token may be refreshed) and retries with a fresh token', async (t) => {
  let token = 'tok-expired';
  const { server, client } = setup(t, { autoConnect: false, getToken: async () => token });
  await client.start();
  await settle();
  server.restHook = (u, init) => (init.headers.Authorization === 'Bearer tok-expired'
    ? jsonResponse(401, { error: { code: 'unauthorized', message: 'token expired' } }) : null);
  await client.updateUserStats({ xp: 2 });
  await advance(650);
  assert.equal(client.getState().pendingCount, 1);
  assert.equal(client.getState().errorDetail.kind, 'auth');
  token = 'tok-alice';
  await advance(1000);
  assert.equal(client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 2);
});

test('queue: socket ack errors are classified (storage_full transient, insufficient_funds permanent)', async (t) => {
  const { server, h, client } = setup(t);
  await client.start();
  await h.socket().serverConnect();
  await settle();
  let full = true;
  server.refuse = () => (full ? { code: 'storage_full', status: 507 } : null);
  await client.updateUserStats({ xp: 1 });
  await advance(650);
  assert.equal(client.getState().pendingCount, 1, 'storage_full: kept');
  full = false;
  await advance(600);
  assert.equal(client.getState().pendingCount, 0);
  // The view thinks 3 diamonds exist, the server has 0 (changed elsewhere).
  server.docs.get('alice').diamonds = 0;
  client._serverDoc.diamonds = 3;
  const refused = [];
  client.on('refused', (e) => refused.push(e));
  await client.updateUserStats({ diamonds: -2 });
  await advance(100);
  assert.equal(refused.length, 1);
  assert.equal(refused[0].code, 'insufficient_funds');
  assert.equal(client.getState().pendingCount, 0, 'insufficient_funds: dropped');
});

test('queue: flushQueue() resolves when empty and rejects when the server is unreachable (entries kept)', async (t) => {
  const { server, client } = setup(t, { autoConnect: false });
  await client.start();
  await settle();
  server.reachable = false;
  await client.updateUserStats({ xp: 1 });
  await assert.rejects(client.flushQueue(), (e) => e.kind === 'transient');
  assert.equal(client.getState().pendingCount, 1);
  server.reachable = true;
  assert.deepEqual(await client.flushQueue(), { pending: 0 });
  assert.equal(server.doc('alice').xp, 1);
});

test('network: offline -> nothing is attempted; online -> pull, then flush', async (t) => {
  const netInfo = fakeNetInfo({ isConnected: false, isInternetReachable: false });
  const { server, h, client } = setup(t, { autoConnect: false, netInfo });
  await client.start();
  await settle();
  const before = h.fetch.calls.length;
  await client.updateUserStats({ xp: 4 });
  await advance(3000);
  assert.equal(h.fetch.calls.filter((c) => c.method === 'POST').length, 0, 'no attempt while offline');
  assert.equal(client.getState().online, false);
  await assert.rejects(client.flushQueue(), (e) => e.kind === 'offline');
  netInfo.set({ isConnected: true, isInternetReachable: true });
  await advance(50);
  const after = h.fetch.calls.slice(before).map((c) => c.method);
  assert.deepEqual(after.slice(-2), ['GET', 'POST'], 'pull then flush');
  assert.equal(server.doc('alice').xp, 4);
  assert.equal(client.getState().pendingCount, 0);
});

test('network: isInternetReachable null (unknown) counts as online', async (t) => {
  const netInfo = fakeNetInfo({ isConnected: true, isInternetReachable: null });
  const { server, client } = setup(t, { autoConnect: false, netInfo });
  await client.start();
  await client.updateUserStats({ xp: 1 });
  await advance(650);
  assert.equal(server.doc('alice').xp, 1);
});

test('app state: background flushes at once; foreground pulls then flushes', async (t) => {
  const appState = fakeAppState('active');
  const { server, h, client } = setup(t, { autoConnect: false, appState });
  await client.start();
  await settle();
  await client.updateUserStats({ xp: 2 });
  appState.set('background');
  await settle();
  assert.equal(server.doc('alice').xp, 2, 'sent before the window closed');
  server.reachable = false;
  await client.updateUserStats({ xp: 3 });
  await advance(650);
  assert.equal(client.getState().pendingCount, 1);
  server.reachable = true;
  server.apply('alice', { diamonds: 9 }, 'other-device', 'rest');
  const n = h.fetch.calls.length;
  appState.set('active');
  await settle();
  const calls = h.fetch.calls.slice(n).map((c) => c.method);
  assert.deepEqual(calls.slice(0, 2), ['GET', 'POST'], 'pull then flush');
  assert.equal(client.getUserData().diamonds, 9);
  assert.equal(client.getUserData().xp, 5);
  assert.equal(client.getState().pendingCount, 0);
});

test('listeners are removed on destroy', async (t) => {
  const appState = fakeAppState('active');
  const netInfo = fakeNetInfo();
  const { client } = setup(t, { autoConnect: false, appState, netInfo });
  await client.start();
  assert.equal(appState.listenerCount(), 1);
  assert.equal(netInfo.listenerCount(), 1);
  await client.destroy();
  assert.equal(appState.listenerCount(), 0);
  assert.equal(netInfo.listenerCount(), 0);
});

test('reconnect: a socket (re)connect joins the room and flushes the queue over the socket', async (t) => {
  const { server, h, client } = setup(t);
  server.reachable = false;
  await client.start();
  await client.updateUserStats({ xp: 8 });
  await advance(650);
  assert.equal(client.getState().pendingCount, 1);
  await h.socket().serverConnect();
  await settle();
  assert.equal(client.getState().pendingCount, 0);
  assert.deepEqual(h.socket().emitted.map((e) => e.ev).slice(0, 2), ['presence:join', 'user:clientUpdate']);
  assert.deepEqual(h.socket().emitted[0].payload, { userId: 'alice' });
  assert.equal(server.requests.at(-1).transport, 'socket');
  assert.equal(server.doc('alice').xp, 8);
  assert.equal(client.getState().connected, true);
});

test('socket refused at CONNECT (not active): we retry ourselves with backoff', async (t) => {
  const { h, client } = setup(t);
  await client.start();
  const s = h.socket();
  s.refuseConnect('unauthorized: token expired');
  assert.equal(client.getState().connectionError.kind, 'connection');
  assert.equal(client.getState().connectionError.code, 'token_expired');
  assert.match(client.getState().connectionError.message, /refused the socket: unauthorized: token expired/);
  assert.equal(client.getState().error, null, 'the socket\'s trouble is connectionError, not an error for the screen');
  await advance(499, 499);
  assert.equal(s.connectCalls || 0, 0);
  await advance(2, 2);
  assert.equal(s.connectCalls, 1);
  s.refuseConnect('unauthorized: token expired');
  await advance(1001, 1001);
  assert.equal(s.connectCalls, 2, 'second retry after 1000 ms');
});
