'use strict';
// Token renewal on a live socket (issue 16 item 7): before the token's exp the
// service gets a fresh token from the app's token source and hands it over
// with auth:refresh — same socket, no reconnect. A refused renewal or a
// token_expired refusal reconnects with a fresh token (socket.io-client's
// auth callback). Fake timers and a fake clock throughout.
const test = require('node:test');
const assert = require('node:assert/strict');
const { mock } = require('node:test');
const { FakeServer, makeClient, fakeJwt, settle, advance } = require('./support/fakes');
const { tokenExp, decodeJwtPayload } = require('../src/services/token');

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const nowS = () => Math.floor(Date.now() / 1000);

function fakeClock(t) {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
  t.after(() => mock.timers.reset());
}

// A token source like an app's: a new JWT of `lifetimeS` at every call
// (unless frozen), recording how it was asked.
function tokenSource(userId = 'alice', lifetimeS = 120) {
  const src = {
    calls: [],
    frozen: null,
    getToken: async (ctx) => {
      src.calls.push(ctx);
      return src.frozen || fakeJwt(userId, nowS() + lifetimeS, { n: src.calls.length });
    },
  };
  return src;
}

async function connectedClient(t, opts = {}) {
  fakeClock(t);
  const server = opts.server || new FakeServer();
  const src = opts.src || tokenSource();
  const h = makeClient(server, { getToken: src.getToken, ...opts });
  t.after(() => h.client.destroy());
  await h.client.start();
  await h.socket().serverConnect();
  await settle();
  return { server, src, h, client: h.client, socket: h.socket() };
}

test('token: the JWT payload is read without verification; exp comes from it', () => {
  const tok = fakeJwt('auth0|5f7c', 1767225600, { name: 'Zoë' });
  assert.equal(tokenExp(tok), 1767225600);
  assert.equal(decodeJwtPayload(tok).name, 'Zoë');
  assert.equal(decodeJwtPayload(tok).sub, 'auth0|5f7c');
  for (const bad of ['tok-alice', 'a.b', 'x.!!!.y', '', null, 42]) assert.equal(tokenExp(bad), null, String(bad));
});

test('token: renewed with auth:refresh before exp, on the same socket; writes go on after the old exp', async (t) => {
  const { server, src, client, socket } = await connectedClient(t);
  const first = socket.token;
  assert.equal(tokenExp(first), nowS() + 120);
  assert.deepEqual(src.calls.find((c) => c.reason === 'connect'), { reason: 'connect', forceRefresh: false });
  const refreshed = [];
  client.on('tokenRefresh', (e) => refreshed.push(e));
  const disconnects = [];
  client.on('disconnect', (r) => disconnects.push(r));

  // lead = min(tokenRefreshLeadMs 60 s, a third of the 120 s left) = 40 s
  await advance(79000, 1000);
  assert.equal((socket.refreshes || []).length, 0, 'not before exp - lead');
  await advance(2000, 500);
  assert.equal(socket.refreshes.length, 1, 'renewed 40 s before exp');
  assert.notEqual(socket.refreshes[0], first);
  assert.deepEqual(src.calls.at(-1), { reason: 'refresh', forceRefresh: true });
  assert.equal(refreshed.length, 1);
  assert.equal(refreshed[0].exp, tokenExp(socket.refreshes[0]));

  // The server now enforces exp: past the first token's exp, writes still pass.
  server.enforceExp = true;
  await advance(45000, 1000); // t = 126 s > first exp (120 s)
  assert.ok(Date.now() > tokenExp(first) * 1000);
  await client.updateUserStats({ xp: 7 });
  await advance(700, 100);
  assert.equal(client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 7);
  assert.equal(server.requests.at(-1).transport, 'socket');
  assert.deepEqual(disconnects, [], 'never reconnected');
  assert.equal(socket.connects, 1);
  assert.equal(socket.connectCalls || 0, 0);
  assert.equal(client.getState().connectionError, null);

  // ...and again before the renewed token runs out.
  await advance(60000, 1000);
  assert.equal(socket.refreshes.length, 2);
});

test('token: a short-lived token (3 s) is renewed a third of its life ahead', async (t) => {
  const { socket } = await connectedClient(t, { src: tokenSource('alice', 3) });
  await advance(1900, 100);
  assert.equal((socket.refreshes || []).length, 0);
  await advance(200, 100);
  assert.equal(socket.refreshes.length, 1, 'at 2 s of 3 s');
});

test('token: a refused renewal reconnects with a fresh token (auth callback)', async (t) => {
  const server = new FakeServer();
  server.onRefresh = () => ({ ok: false, error: { code: 'unauthorized', message: 'token signature mismatch', status: 401 } });
  const { src, client, socket } = await connectedClient(t, { server });
  const events = [];
  client.on('disconnect', (r) => events.push(`disconnect ${r}`));
  client.on('connect', () => events.push('connect'));
  await advance(81000, 1000);
  assert.equal(socket.refreshes.length, 1);
  assert.deepEqual(events, ['disconnect io client disconnect']);
  assert.equal(socket.connectCalls, 1, 'connect() called again at once');
  const ce = client.getState().connectionError;
  assert.equal(ce.code, 'refresh_refused');
  assert.match(ce.message, /token signature mismatch/);
  await socket.serverConnect(); // the new CONNECT asks the token source
  await settle();
  assert.deepEqual(src.calls.at(-1), { reason: 'connect', forceRefresh: true });
  assert.deepEqual(events, ['disconnect io client disconnect', 'connect']);
  assert.equal(client.getState().connected, true);
  assert.equal(client.getState().connectionError, null, 'cleared by the connect');
});

test('token: a token_expired refusal of a write reconnects with a fresh token; the write is kept and applied once', async (t) => {
  const server = new FakeServer();
  server.enforceExp = true;
  const src = tokenSource('alice', 30);
  const { client, socket } = await connectedClient(t, { server, src });
  src.frozen = socket.token; // the app's source cannot renew (yet): same token
  await advance(31000, 1000);
  assert.equal((socket.refreshes || []).length, 0, 'the same token is not sent as a renewal');
  assert.ok(src.calls.filter((c) => c.reason === 'refresh').length >= 2, 'asked again with backoff');
  src.frozen = null; // the app signs in again in the meantime
  const errors = [];
  client.on('error', (e) => errors.push(e));
  await client.updateUserStats({ xp: 3 });
  await advance(700, 100);
  assert.equal(server.requests.length, 0, 'refused before anything was applied');
  assert.equal(client.getState().pendingCount, 1, 'kept');
  assert.equal(client.getState().connectionError.code, 'token_expired');
  assert.equal(client.getState().error, null, 'not an error for the screen');
  assert.ok(errors.some((e) => e.code === 'token_expired'));
  assert.equal(socket.connectCalls, 1, 'reconnecting');
  await socket.serverConnect();
  await advance(100, 50);
  assert.deepEqual(src.calls.at(-1), { reason: 'connect', forceRefresh: true });
  assert.equal(client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 3);
  assert.equal(server.requests.length, 1, 'sent once after the reconnect');
  assert.equal(client.getState().connectionError, null);
});

test('token: a token_expired refusal of an event without ack (user:error) also reconnects', async (t) => {
  const { client, socket } = await connectedClient(t, { src: tokenSource('alice', 3600) });
  socket.fire('user:error', { event: 'presence:join', error: { code: 'token_expired', message: 'the token expired' } });
  await settle();
  assert.equal(client.getState().connectionError.code, 'token_expired');
  assert.equal(socket.connectCalls, 1);
});

test('token: opaque tokens and far-away exps schedule nothing that fires early', async (t) => {
  const { socket } = await connectedClient(t, { getToken: async () => 'tok-alice' });
  await advance(3600 * 1000, 60000);
  assert.equal(socket.refreshes, undefined, 'not a JWT: no renewal');
});

test('token: an exp a year away does not overflow setTimeout', async (t) => {
  const { socket } = await connectedClient(t, { src: tokenSource('alice', 365 * 24 * 3600) });
  await advance(5000, 1000);
  assert.equal(socket.refreshes, undefined);
});

test('token: no renewal while disconnected; the next connect schedules it again', async (t) => {
  const { client, socket } = await connectedClient(t);
  socket.serverDisconnect();
  await advance(200000, 5000);
  assert.equal(socket.refreshes, undefined);
  await socket.serverConnect();
  await advance(81000, 1000);
  assert.equal(socket.refreshes.length, 1);
  assert.equal(client.getState().connected, true);
});

test('token: a 401 over REST makes the next token request a forced refresh', async (t) => {
  fakeClock(t);
  const server = new FakeServer();
  const src = tokenSource();
  let refuse = true;
  server.restHook = (u, init) => (refuse && init.method === 'POST'
    ? { status: 401, headers: { get: () => null }, text: async () => JSON.stringify({ error: { code: 'unauthorized', message: 'token expired' } }) } : null);
  const h = makeClient(server, { getToken: src.getToken, autoConnect: false });
  t.after(() => h.client.destroy());
  await h.client.start();
  await settle();
  await h.client.updateUserStats({ xp: 1 });
  await advance(700, 100);
  refuse = false;
  await advance(1200, 100);
  const posts = src.calls.filter((c) => c.reason === 'request');
  assert.ok(posts.some((c) => c.forceRefresh === true), JSON.stringify(posts));
  assert.equal(server.doc('alice').xp, 1);
});
