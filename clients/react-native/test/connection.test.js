'use strict';
// Visible connection state (issue 16 item 4): connected, connectionError (with
// the server's reason), pendingCount, lastSyncedAt. A socket that can never
// connect sets connectionError instead of silently leaving the app on REST.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { FakeServer, makeClient, enableFakeTimers, advance, settle } = require('./support/fakes');

function setup(t, opts = {}) {
  const timers = enableFakeTimers();
  const server = opts.server || new FakeServer();
  const h = makeClient(server, opts);
  t.after(async () => { await h.client.destroy(); timers.reset(); });
  return { server, h, client: h.client };
}

test('connection: a transport failure (wrong URL / port) is connectionError connect_failed; the same failure again is no new state', async (t) => {
  const { h, client } = setup(t);
  await client.start();
  const s = h.socket();
  const changes = [];
  client.subscribe((st) => changes.push(st));
  s.failConnect('xhr poll error', { message: 'connect ECONNREFUSED 127.0.0.1:9' });
  const ce = client.getState().connectionError;
  assert.equal(ce.code, 'connect_failed');
  assert.equal(ce.kind, 'connection');
  assert.match(ce.message, /cannot connect the socket to http:\/\/socket\.test \(xhr poll error: connect ECONNREFUSED 127\.0\.0\.1:9\)/);
  assert.equal(client.getState().connected, false);
  assert.equal(client.getState().error, null, 'not an error for the screen: REST still works');
  const n = changes.length;
  s.failConnect('xhr poll error', { message: 'connect ECONNREFUSED 127.0.0.1:9' });
  assert.equal(changes.length, n, 'no change event per retry');
  assert.equal(client.getState().connectionError, ce);
  assert.equal(s.connectCalls || 0, 0, 'socket.io-client retries by itself (still active)');
  await s.serverConnect();
  assert.equal(client.getState().connectionError, null, 'cleared by the connect');
  assert.equal(client.getState().connected, true);
});

for (const [message, code] of [
  ['too many sockets for this user (at most 20)', 'too_many_sockets'],
  ['unauthorized: token signature mismatch', 'unauthorized'],
  ['unauthorized: token expired', 'token_expired'],
  ['Invalid namespace', 'connect_refused'],
]) {
  test(`connection: a refused CONNECT "${message}" is connectionError ${code} with the server's reason, and retried`, async (t) => {
    const { h, client } = setup(t);
    await client.start();
    const s = h.socket();
    s.refuseConnect(message);
    const ce = client.getState().connectionError;
    assert.equal(ce.code, code);
    assert.equal(ce.reason, message);
    assert.match(ce.message, new RegExp(`the server refused the socket: ${message.replace(/[()]/g, '\\$&')}`));
    await advance(600);
    assert.equal(s.connectCalls, 1, 'retried with backoff');
  });
}

test('connection: pendingCount and lastSyncedAt (pull and ack) are in the state', async (t) => {
  const { server, h, client } = setup(t, { autoConnect: false });
  await client.start();
  await settle();
  const t1 = client.getState().lastSyncedAt;
  assert.equal(typeof t1, 'number', 'set by the first pull');
  server.reachable = false;
  await client.updateUserStats({ xp: 1 });
  assert.equal(client.getState().pendingCount, 1);
  await advance(650);
  assert.equal(client.getState().lastSyncedAt, t1, 'a failure is no sync');
  server.reachable = true;
  await advance(2000, 100);
  assert.equal(client.getState().pendingCount, 0);
  assert.ok(client.getState().lastSyncedAt >= t1);
  h.client._state = { ...h.client._state, lastSyncedAt: 1 };
  await client.forcePull(); // same document: not newer, still a sync
  assert.ok(client.getState().lastSyncedAt > 1, 'a pull that changes nothing still counts as synced');
});

// The real socket.io-client against a port nothing listens on: the state
// must say so (before, the app silently stayed on REST).
test('connection: real socket.io-client, wrong socket port -> connectionError, REST still used', { timeout: 20000 }, async (t) => {
  const port = await new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
  const server = new FakeServer();
  const { UserDataSync } = require('..');
  const { silentLogger } = require('./support/fakes');
  const client = new UserDataSync('alice', {
    apiUrl: 'http://api.test',
    socketUrl: `http://127.0.0.1:${port}`,
    getToken: async () => 'tok-alice',
    fetch: server.fetch(),
    logger: silentLogger,
    presencePingIntervalMs: 0,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    debounceMs: 20,
    autoDetect: false,
  });
  t.after(() => client.destroy());
  const seen = [];
  client.on('connectError', (e) => seen.push(e));
  await client.start();
  const deadline = Date.now() + 10000;
  while (!client.getState().connectionError && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const ce = client.getState().connectionError;
  assert.ok(ce, 'connectionError set');
  assert.equal(ce.code, 'connect_failed');
  assert.match(ce.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.equal(client.getState().connected, false);
  await client.updateUserStats({ xp: 2 });
  await client.flushQueue();
  assert.equal(server.doc('alice').xp, 2, 'REST carried the write');
  assert.equal(server.requests.at(-1).transport, 'rest');
  while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(seen.length >= 2, 'socket.io-client keeps retrying');
  assert.equal(client.getState().connectionError.code, 'connect_failed');
});
