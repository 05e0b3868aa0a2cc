// SIGTERM on a gateway (issue 5): sockets on both transports are told at once
// (their connection closes, so socket.io-client reconnects — to another
// gateway in a cluster — instead of hanging until a ping timeout), an update
// acknowledged before the signal is kept, and the gateway exits 0.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { System } = require('../lib/system');

function connect(url, token, transports) {
  const s = io(url, { auth: { token }, transports, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('connect timeout')), 5000);
    s.once('connect', () => { clearTimeout(t); resolve(s); });
    s.once('connect_error', (e) => { clearTimeout(t); reject(e); });
  });
}

test('SIGTERM closes every socket promptly and the gateway exits 0', async (t) => {
  const sys = await System.start();
  t.after(() => sys.stop());
  const tok = sys.token('shutdown_user');
  const sockets = [
    await connect(sys.socketUrl, tok, ['websocket']),
    await connect(sys.socketUrl, tok, ['polling']),
  ];
  const ack = await sockets[0].timeout(5000).emitWithAck('user:clientUpdate', { opId: 'sd-1', delta: { xp: 7 } });
  assert.equal(ack.ok, true);

  const reasons = sockets.map((s) => new Promise((resolve) => s.once('disconnect', (r) => resolve({ r, at: Date.now() }))));
  const t0 = Date.now();
  const exit = await sys.gw.kill('SIGTERM');
  assert.equal(exit.code, 0, `gateway exit ${JSON.stringify(exit)}:\n${sys.gw.log().slice(-2000)}`);
  const got = await Promise.race([
    Promise.all(reasons),
    new Promise((_, reject) => setTimeout(() => reject(new Error('sockets not told within 5 s')), 5000)),
  ]);
  for (const { r, at } of got) {
    assert.notEqual(r, 'io server disconnect', `reason ${r}: the client must reconnect, not give up`);
    assert.match(r, /^transport (close|error)$/, `reason ${r}`);
    assert.ok(at - t0 < 5000, `told after ${at - t0} ms`);
  }

  // The acknowledged update survived (read through a fresh gateway).
  const gw2 = await sys.addGateway();
  const r = await sys.http('GET', '/api/users/shutdown_user/stats', { token: tok, gw: gw2 });
  assert.equal(r.status, 200);
  assert.equal(r.body.xp, 7);
});
