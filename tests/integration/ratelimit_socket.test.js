// ratelimit_socket.test.js — Socket.IO rate limits against the real gateway
// with the real socket.io-client and small limits from the environment:
//  - a burst of user:clientUpdate past the per-user limit gets rate_limited
//    acks (with retryAfterMs) or user:error, the socket stays connected and
//    works again after waiting; REST and socket writes share one bucket;
//  - the per-user socket cap refuses the extra socket with connect_error and
//    leaves the others working; a freed slot can be used again;
//  - the per-IP handshake limit answers HTTP 429 + Retry-After on the
//    Engine.IO handshake (polling and websocket).
// Loopback is exempt by default, so these gateways run with the exempt list
// set to "none".
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { System, sleep, waitFor } = require('../lib/system');
const { connect, connectError, emitAck, once } = require('../compat/sio_helpers');

let sys;
test.before(async () => {
  sys = await System.start({
    gatewayEnv: {
      STATSYNC_RATE_LIMIT_EXEMPT: 'none',
      STATSYNC_RATE_MUTATIONS_PER_S: '2',
      STATSYNC_RATE_MUTATIONS_BURST: '3',
      STATSYNC_MAX_SOCKETS_PER_USER: '2',
    },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

const uid = (s) => `rlsio${process.pid}${s}`;

test('a burst of updates: rate_limited acks, the socket stays connected and works after waiting', async () => {
  const user = uid('a');
  const s = await connect(sys, user);
  try {
    const acks = [];
    for (let i = 0; i < 6; i++) {
      acks.push(emitAck(s, 'user:clientUpdate', { opId: `${user}-${i}`, delta: { xp: 1 } }));
    }
    const res = await Promise.all(acks);
    const ok = res.filter((a) => a.ok);
    const limited = res.filter((a) => !a.ok);
    assert.equal(ok.length, 3, JSON.stringify(res));
    assert.equal(limited.length, 3, JSON.stringify(res));
    for (const a of limited) {
      assert.equal(a.error.code, 'rate_limited');
      assert.equal(typeof a.error.message, 'string');
      assert.ok(Number.isInteger(a.error.retryAfterMs) && a.error.retryAfterMs >= 1 && a.error.retryAfterMs <= 500,
        JSON.stringify(a.error));
    }
    assert.ok(s.connected);
    // without an ack: user:error
    const errP = once(s, 'user:error');
    s.emit('user:clientUpdate', { delta: { xp: 1 } });
    const err = await errP;
    assert.equal(err.event, 'user:clientUpdate');
    assert.equal(err.error.code, 'rate_limited');
    // reads and pings are not writes
    const pong = await emitAck(s, 'presence:ping', { ts: 1 });
    assert.equal(pong.ts, 1);

    await sleep(Math.max(...limited.map((a) => a.error.retryAfterMs)) + 50);
    const again = await emitAck(s, 'user:clientUpdate', { opId: `${user}-again`, delta: { xp: 1 } });
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal(again.stats.xp, 4, 'only the acknowledged updates were applied');
    assert.ok(s.connected);
  } finally {
    s.close();
  }
});

test('REST and socket writes of one user share the bucket', async () => {
  const user = uid('b');
  const s = await connect(sys, user);
  try {
    for (let i = 0; i < 3; i++) {
      const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 1 } });
      assert.equal(r.status, 200, r.text);
    }
    const a = await emitAck(s, 'user:clientUpdate', { delta: { xp: 1 } });
    assert.equal(a.ok, false);
    assert.equal(a.error.code, 'rate_limited');
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 1 } });
    assert.equal(r.status, 429);
  } finally {
    s.close();
  }
});

test('per-user socket cap: the extra socket gets connect_error, the others keep working', async () => {
  const user = uid('c');
  const a = await connect(sys, user);
  const b = await connect(sys, user, { transports: ['websocket'] });
  try {
    const e = await connectError(sys, { auth: { token: sys.token(user) } });
    assert.match(e.message, /too many sockets/);
    assert.ok(a.connected && b.connected);
    const pushed = once(b, 'user:data:updated');
    const ack = await emitAck(a, 'user:clientUpdate', { delta: { xp: 2 } });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal((await pushed).xp, 2);
    // another user is not affected
    const other = await connect(sys, uid('c2'));
    other.close();
    // a freed slot can be taken again
    a.close();
    const c = await waitFor('a slot after a socket left', async () => {
      try { return await connect(sys, user); } catch (_) { return null; }
    }, 10000, 100);
    assert.ok(c.connected);
    c.close();
  } finally {
    a.close();
    b.close();
  }
});

test('per-IP handshake limit: HTTP 429 + Retry-After on the Engine.IO handshake', async () => {
  const gw = await sys.addGateway({
    STATSYNC_RATE_HANDSHAKE_IP_PER_S: '1',
    STATSYNC_RATE_HANDSHAKE_IP_BURST: '2',
  });
  const url = `http://127.0.0.1:${gw.socketPort}/socket.io/?EIO=4&transport=polling`;
  const statuses = [];
  let refused = null;
  for (let i = 0; i < 4; i++) {
    const r = await fetch(url);
    const text = await r.text();
    statuses.push(r.status);
    if (r.status === 429 && !refused) refused = { r, text };
  }
  assert.deepEqual(statuses, [200, 200, 429, 429]);
  const ra = refused.r.headers.get('retry-after');
  assert.match(ra || '', /^[1-9][0-9]*$/);
  assert.equal(JSON.parse(refused.text).error.code, 'rate_limited');

  // a websocket-only handshake is refused the same way, before the upgrade
  const status = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.socketPort}/socket.io/?EIO=4&transport=websocket`);
    const t = setTimeout(() => { ws.terminate(); reject(new Error('no answer')); }, 5000);
    ws.on('unexpected-response', (req, res) => { clearTimeout(t); resolve(res.statusCode); req.destroy(); });
    ws.on('open', () => { clearTimeout(t); ws.close(); resolve(101); });
    ws.on('error', () => {});
  });
  assert.equal(status, 429);

  await sleep(Number(ra) * 1000 + 100);
  const ok = await fetch(url);
  await ok.text();
  assert.equal(ok.status, 200);
});
