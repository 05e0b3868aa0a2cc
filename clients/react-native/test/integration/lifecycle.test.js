'use strict';
// The client's life against the REAL statsync system (issue 16): token
// renewal on a live socket, recovery from token_expired, the connection
// state with the server's reasons, sign-out.
const test = require('node:test');
const assert = require('node:assert/strict');
const H = require('./helpers');

const SKIP = H.skipReason();
if (SKIP) console.log(`# SKIP client integration tests: ${SKIP}`); // eslint-disable-line no-console

let System;
if (!SKIP) ({ System } = require(H.SYSTEM_JS));

const GRACE_MS = 200;
let sys;
test.before(async () => {
  if (SKIP) return;
  // Short grace, and a ping every 500 ms: a socket whose token lapsed is
  // closed within a second, so a missed renewal would show as a disconnect.
  sys = await System.start({
    gatewayEnv: { STATSYNC_TOKEN_GRACE_MS: String(GRACE_MS), STATSYNC_PING_INTERVAL_MS: '500', STATSYNC_PING_TIMEOUT_MS: '5000' },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

const clients = [];
test.afterEach(async () => { for (const c of clients.splice(0)) await c.destroy(); });
const track = (c) => { clients.push(c); return c; };

const itest = (name, fn) => test(name, { skip: SKIP || false, timeout: 60000 }, async (t) => {
  try { await fn(t); } catch (err) { err.message += `\n---- server logs ----\n${sys.logs()}`; throw err; }
});
const nowS = () => Math.floor(Date.now() / 1000);
const noRestWrites = async (url, init) => {
  if (init.method === 'POST') throw new TypeError('fetch failed: REST writes blocked by the test (the socket must carry them)');
  return fetch(url, init);
};

itest('token renewal: with 3 s tokens, writes keep working across the old exps on the same socket, no reconnect', async (t) => {
  const userId = H.uniqueUser('rn-renew');
  let minted = 0;
  const c = track(H.makeClient(sys, userId, {
    getToken: async () => { minted += 1; return sys.token(userId, { exp: nowS() + 3 }); },
    fetch: noRestWrites,
  }));
  const events = [];
  c.on('connect', () => events.push('connect'));
  c.on('disconnect', (r) => events.push(`disconnect ${r}`));
  const renewals = [];
  c.on('tokenRefresh', (e) => renewals.push(e.exp));
  await c.start();
  await H.until('connected', () => c.getState().connected);
  const socketId = c._socket.id;
  const firstExp = JSON.parse(Buffer.from(c._socketToken.split('.')[1], 'base64url')).exp;

  let sent = 0;
  const end = Date.now() + 8000; // more than two lifetimes of a token
  while (Date.now() < end) {
    await c.updateUserStats({ xp: 1 });
    sent += 1;
    await H.sleep(250);
  }
  await c.flushQueue();
  assert.ok(Date.now() > (firstExp * 1000) + GRACE_MS + 2000, 'well past the first token\'s exp + grace');
  const doc = await H.serverDoc(sys, userId);
  assert.equal(doc.xp, sent, 'every write applied (over the socket: REST writes were blocked)');
  assert.equal(doc.version, sent);
  assert.deepEqual(events, ['connect'], 'one connect, no disconnect');
  assert.equal(c._socket.id, socketId, 'the same socket all along');
  assert.ok(renewals.length >= 2, `renewed ${renewals.length} times`);
  assert.ok(renewals.every((e, i) => i === 0 || e > renewals[i - 1]), 'each renewal with a later exp');
  assert.ok(minted >= renewals.length + 1);
  assert.equal(c.getState().connectionError, null);
  t.diagnostic(`${sent} writes over ${renewals.length} renewals on socket ${socketId}`);
});

itest('token_expired: a token source that could not renew in time -> the refused write is kept, the client reconnects with a fresh token, applied once', async () => {
  // A gateway that never pings in this test: the refusal, not the close, answers.
  const gw = await sys.addGateway({ STATSYNC_PING_INTERVAL_MS: '60000' });
  try {
    const userId = H.uniqueUser('rn-expired');
    const stale = sys.token(userId, { exp: nowS() + 2 });
    const staleExpMs = JSON.parse(Buffer.from(stale.split('.')[1], 'base64url')).exp * 1000;
    const calls = [];
    // The app's source keeps the old token until it has run out (e.g. the
    // device was offline for the renewal), then has a new one.
    const getToken = async (ctx) => { calls.push(ctx); return Date.now() < staleExpMs + GRACE_MS + 300 ? stale : sys.token(userId); };
    const c = track(H.makeClient(sys, userId, { gw, getToken, fetch: noRestWrites }));
    const seen = [];
    c.on('connectError', (e) => seen.push(e.code));
    const reconnects = [];
    c.on('connect', () => reconnects.push(Date.now()));
    await c.start();
    await H.until('connected', () => c.getState().connected);
    await c.updateUserStats({ xp: 1 });
    await c.flushQueue();
    while (Date.now() < staleExpMs + GRACE_MS + 500) await H.sleep(50);
    await c.updateUserStats({ xp: 10 }); // refused with token_expired, then sent again after the reconnect
    await H.until('queue drained', () => c.getState().pendingCount === 0, 20000);
    const doc = await H.serverDoc(sys, userId);
    assert.equal(doc.xp, 11, 'the refused write was kept and applied once');
    assert.equal(doc.version, 2);
    assert.ok(seen.includes('token_expired'), `connectError codes: ${seen}`);
    assert.equal(reconnects.length, 2, 'reconnected once');
    assert.ok(calls.some((x) => x.reason === 'connect' && x.forceRefresh === true), 'the reconnect asked for a fresh token');
    assert.equal(c.getState().connectionError, null);
    assert.equal(c.getState().error, null, 'never an error for the screen');
  } finally {
    sys.gateways.splice(sys.gateways.indexOf(gw), 1);
    await gw.kill('SIGTERM');
  }
});

itest('connection state: a refused CONNECT shows the server\'s reason (bad token; too many sockets); REST keeps working', async () => {
  const gw = await sys.addGateway({ STATSYNC_MAX_SOCKETS_PER_USER: '1' });
  try {
    const userId = H.uniqueUser('rn-refused');
    const bad = track(H.makeClient(sys, userId, {
      gw,
      getToken: async ({ reason }) => (reason === 'connect' ? sys.token(userId, { secret: 'not-the-secret-0123456789abcdef' }) : sys.token(userId)),
    }));
    await bad.start();
    await H.until('refused', () => bad.getState().connectionError);
    let ce = bad.getState().connectionError;
    assert.equal(ce.code, 'unauthorized');
    assert.match(ce.reason, /^unauthorized: /, 'the server\'s own CONNECT message');
    assert.equal(bad.getState().connected, false);
    await bad.updateUserStats({ xp: 2 });
    await bad.flushQueue();
    assert.equal((await H.serverDoc(sys, userId)).xp, 2, 'REST carried the write');
    await bad.destroy();

    const first = track(H.makeClient(sys, userId, { gw }));
    await first.start();
    await H.until('first connected', () => first.getState().connected);
    const second = track(H.makeClient(sys, userId, { gw }));
    await second.start();
    await H.until('second refused', () => second.getState().connectionError);
    ce = second.getState().connectionError;
    assert.equal(ce.code, 'too_many_sockets');
    assert.match(ce.message, /too many sockets for this user \(at most 1\)/);
    await first.destroy(); // a slot frees up: the second one's retries get in
    await H.until('second connected', () => second.getState().connected, 20000);
    assert.equal(second.getState().connectionError, null);
  } finally {
    sys.gateways.splice(sys.gateways.indexOf(gw), 1);
    await gw.kill('SIGTERM');
  }
});

itest('connection state: a wrong socket port is connectionError connect_failed, not a silent REST-only app', async () => {
  const userId = H.uniqueUser('rn-wrongport');
  const c = track(H.makeClient(sys, userId, { socketUrl: `http://127.0.0.1:${sys.gw.apiPort}` })); // REST port: no Socket.IO there
  await c.start();
  await H.until('connectionError', () => c.getState().connectionError, 15000);
  assert.equal(c.getState().connectionError.code, 'connect_failed');
  await c.updateUserStats({ xp: 1 });
  await c.flushQueue();
  assert.equal((await H.serverDoc(sys, userId)).xp, 1);
});

itest('sign-out: the persisted queue and document are cleared (nothing of them reaches the server); with flush they are sent first', async () => {
  const userId = `auth0|${H.uniqueUser('rn-signout')}`; // an identity provider's id, '|' and all
  const storage = require('../..').createMemoryStorage();
  const keys = [`@statsync/queue/${userId}`, `@statsync/doc/${userId}`];
  const a = track(H.makeClient(sys, userId, { storage }));
  await a.start();
  await H.until('connected', () => a.getState().connected);
  await a.updateUserStats({ xp: 5 });
  await a.flushQueue();
  assert.equal((await H.serverDoc(sys, userId)).xp, 5);

  // Offline (the gateway is gone): three more updates queue up and are stored.
  await sys.gw.kill('SIGKILL');
  await H.until('disconnected', () => !a.getState().connected);
  for (let i = 0; i < 3; i++) { await a.updateUserStats({ xp: 100 }); await H.sleep(60); }
  assert.equal(a.getState().pendingCount, 3);
  assert.ok(keys.every((k) => storage._map.has(k)), 'queue and document stored');
  await assert.rejects(a.signOut({ flush: true }), 'flush: true cannot empty the queue while the server is gone');
  assert.equal(a.getState().pendingCount, 3, 'nothing lost by the failed attempt');
  assert.deepEqual(await a.signOut(), { discarded: 3 });
  assert.ok(keys.every((k) => !storage._map.has(k)), 'cleared');

  await sys.restartGateway(sys.gw);
  const b = track(H.makeClient(sys, userId, { storage }));
  await b.start();
  assert.equal(b.getState().pendingCount, 0, 'the next start finds no queue');
  await H.until('b connected', () => b.getState().connected);
  await H.sleep(300);
  const doc = await H.serverDoc(sys, userId);
  assert.equal(doc.xp, 5, 'the discarded updates never reached the server');
  assert.equal(doc.version, 1);

  // Signing out with flush while online: sent, then cleared.
  await b.updateUserStats({ xp: 7 });
  assert.deepEqual(await b.signOut({ flush: true }), { discarded: 0 });
  assert.equal((await H.serverDoc(sys, userId)).xp, 12);
  assert.ok(keys.every((k) => !storage._map.has(k)));
});
