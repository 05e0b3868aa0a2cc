// sio_reconnect.test.js — a client with the mobile app's reconnection options
// (reconnectionDelay 500, reconnectionDelayMax 5000) survives a gateway
// restart: it reconnects by itself and receives later updates.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep } = require('../lib/system');
const { connect, emitAck, once, record } = require('./sio_helpers');

let sys;
test.before(async () => { sys = await System.start(); });
test.after(async () => { if (sys) await sys.stop(); });

async function waitRec(rec, event, pred, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (rec[event].some(pred)) return rec[event].find(pred);
    await sleep(20);
  }
  throw new Error(`no matching ${event}`);
}

for (const transports of [undefined, ['websocket'], ['polling']]) {
  test(`reconnects after a gateway restart (transports ${transports ? transports.join() : 'default'})`, async () => {
    const user = `rc_${transports ? transports[0] : 'default'}`;
    const opts = {
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      reconnectionAttempts: Infinity,
    };
    if (transports) opts.transports = transports;
    const s = await connect(sys, user, opts);
    const rec = record(s, ['user:data:updated']);
    try {
      const disconnected = once(s, 'disconnect', 5000);
      await sys.gw.kill();
      await disconnected;
      await sleep(300);
      const reconnected = once(s, 'connect', 20000);
      await sys.restartGateway(sys.gw);
      await reconnected;
      // a change made by another device after the restart reaches the client
      const other = await connect(sys, user, { transports: ['websocket'] });
      try {
        const ack = await emitAck(other, 'user:clientUpdate', { delta: { xp: 2 } });
        assert.equal(ack.ok, true, JSON.stringify(ack));
        const d = await waitRec(rec, 'user:data:updated', (x) => x.version === ack.stats.version);
        assert.equal(d.userId, user);
        // and the reconnected client can write again
        const mine = await emitAck(s, 'user:clientUpdate', { delta: { xp: 1 } });
        assert.equal(mine.ok, true);
      } finally { other.close(); }
    } finally { s.close(); }
  });
}
