// token_lifetime.test.js — a socket's token is enforced for the socket's whole
// life (issue 15 item 1, DESIGN §2): before exp the client renews it without
// reconnecting (auth:refresh {token}, same sub); after exp + the grace its
// writes are refused with token_expired and never applied, and the socket is
// closed (at its next ping), so socket.io-client reconnects with a fresh token
// from its auth callback.
//
// These cases depend on the clock by nature (a token expires at a time): the
// test waits until that time has passed by a wide margin, then checks states.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { System, mintToken, sleep, waitFor } = require('../lib/system');
const { connect, emitAck, once } = require('../compat/sio_helpers');

const GRACE_MS = 300;
let sys;
test.before(async () => {
  sys = await System.start({
    gatewayEnv: { STATSYNC_TOKEN_GRACE_MS: String(GRACE_MS), STATSYNC_PING_INTERVAL_MS: '400', STATSYNC_PING_TIMEOUT_MS: '5000' },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

const nowS = () => Math.floor(Date.now() / 1000);
const shortToken = (user, s = 2) => mintToken(user, { secret: sys.secret, exp: nowS() + s });
const untilPast = async (expS) => { while (Date.now() < expS * 1000 + GRACE_MS + 700) await sleep(50); };
const doc = async (user) => (await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user) })).body;

test('a write after exp + grace is refused with token_expired and never applied', async () => {
  // a gateway whose next ping is far away: the refusal, not the close, answers
  const gw = await sys.addGateway({ STATSYNC_TOKEN_GRACE_MS: String(GRACE_MS), STATSYNC_PING_INTERVAL_MS: '60000' });
  const user = `tok${process.pid}a`;
  const tok = shortToken(user);
  const expS = JSON.parse(Buffer.from(tok.split('.')[1], 'base64url')).exp;
  const s = await connect(sys, user, { token: tok, transports: ['websocket'] }, gw);
  try {
    const ok = await emitAck(s, 'user:clientUpdate', { opId: 'before', delta: { xp: 1 } });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    await untilPast(expS);
    for (const [event, payload] of [['user:clientUpdate', { opId: 'after', delta: { xp: 100 } }], ['presence:join', { userId: user }]]) {
      const late = await emitAck(s, event, payload);
      assert.equal(late.ok, false, `${event}: ${JSON.stringify(late)}`);
      assert.equal(late.error.code, 'token_expired');
    }
    const d = await doc(user);
    assert.equal(d.xp, 1, 'the late write was not applied');
    assert.equal(d.version, 1);
  } finally {
    s.close();
    sys.gateways.splice(sys.gateways.indexOf(gw), 1);
    assert.equal((await gw.kill('SIGTERM')).code, 0);
  }
});

test('after exp + grace the socket is closed as a transport close (the client may reconnect)', async () => {
  const user = `tok${process.pid}e`;
  const s = await connect(sys, user, { token: shortToken(user), transports: ['websocket'] });
  try {
    assert.equal(await once(s, 'disconnect', 20000), 'transport close');
  } finally { s.close(); }
});

test('auth:refresh renews a live socket without reconnecting; writes go on after the old exp', async () => {
  const user = `tok${process.pid}b`;
  const tok = shortToken(user);
  const expS = JSON.parse(Buffer.from(tok.split('.')[1], 'base64url')).exp;
  const s = await connect(sys, user, { token: tok, transports: ['websocket'] });
  let disconnected = false;
  s.on('disconnect', () => { disconnected = true; });
  try {
    const sid = s.id;
    const fresh = mintToken(user, { secret: sys.secret, exp: nowS() + 3600 });
    const r = await emitAck(s, 'auth:refresh', { token: fresh });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.ok(r.exp >= nowS() + 3500);
    await untilPast(expS);
    const ok = await emitAck(s, 'user:clientUpdate', { opId: 'renewed', delta: { xp: 5 } });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(disconnected, false);
    assert.equal(s.id, sid, 'the same socket');
    assert.equal((await doc(user)).xp, 5);
  } finally { s.close(); }
});

test('auth:refresh refuses another user\'s token, an expired one and garbage, and keeps the old one', async () => {
  const user = `tok${process.pid}c`;
  const s = await connect(sys, user, { transports: ['websocket'] });
  try {
    const other = await emitAck(s, 'auth:refresh', { token: sys.token(`${user}x`) });
    assert.equal(other.ok, false);
    assert.equal(other.error.code, 'forbidden');
    const expired = await emitAck(s, 'auth:refresh', { token: mintToken(user, { secret: sys.secret, exp: nowS() - 10 }) });
    assert.equal(expired.error.code, 'unauthorized');
    const forged = await emitAck(s, 'auth:refresh', { token: mintToken(user, { secret: 'some-other-secret-0123456789' }) });
    assert.equal(forged.error.code, 'unauthorized');
    const none = await emitAck(s, 'auth:refresh', {});
    assert.equal(none.error.code, 'unauthorized');
    const ok = await emitAck(s, 'user:clientUpdate', { opId: 'still', delta: { xp: 1 } });
    assert.equal(ok.ok, true, 'the socket keeps its own valid token');
  } finally { s.close(); }
});

test('after the close, socket.io-client reconnects with a fresh token from its auth callback', async () => {
  const user = `tok${process.pid}d`;
  let calls = 0;
  const s = io(sys.socketUrl, {
    transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200,
    auth: (cb) => { calls += 1; cb({ token: calls === 1 ? shortToken(user) : sys.token(user) }); },
  });
  try {
    await once(s, 'connect', 8000);
    await waitFor('closed for the expired token and connected again', () => calls >= 2 && s.connected, 20000, 50);
    const ok = await emitAck(s, 'user:clientUpdate', { opId: 'again', delta: { xp: 2 } });
    assert.equal(ok.ok, true, JSON.stringify(ok));
  } finally { s.close(); }
});
