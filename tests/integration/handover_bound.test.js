// handover_bound.test.js — the hand-off into the Socket.IO thread is bounded
// (issue 15 item 3): when that thread falls behind, a user's change events
// supersede each other by version instead of piling up (the newest document
// always arrives), nothing else is dropped, and the queue never holds more
// than STATSYNC_HANDOVER_MAX tasks. The Socket.IO thread is made to fall
// behind for real: one user with many sockets (every change is a send to each
// of them) and bursts of concurrent writes, with a bound of 2.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { System, waitFor } = require('../lib/system');
const { parsePrometheus } = require('./rest_helpers');

const SOCKETS = 150;
let sys;
test.before(async () => {
  sys = await System.start({ gatewayEnv: { STATSYNC_HANDOVER_MAX: '2', STATSYNC_RATE_HANDSHAKE_IP_PER_S: '0' } });
});
test.after(async () => { if (sys) await sys.stop(); });

// A raw Engine.IO websocket that CONNECTs and remembers the newest document.
function socket(user) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${sys.gw.socketPort}/socket.io/?EIO=4&transport=websocket`);
    const s = { ws, version: -1 };
    ws.on('message', (d) => {
      const m = d.toString();
      if (m[0] === '0') ws.send(`40${JSON.stringify({ token: sys.token(user) })}`);
      else if (m === '2') ws.send('3');
      else if (m.startsWith('40')) resolve(s);
      else if (m.startsWith('42["user:data:updated"')) s.version = Math.max(s.version, JSON.parse(m.slice(2))[1].version);
    });
    ws.on('error', reject);
  });
}

const metrics = async () => parsePrometheus((await sys.http('GET', '/metrics')).text).samples;
const value = (ss, name) => (ss.find((s) => s.name === name) || { value: 0 }).value;

test('a Socket.IO thread that falls behind gets the newest document per user, within the bound', async () => {
  const user = `handover${process.pid}`;
  const socks = [];
  try {
    for (let i = 0; i < SOCKETS; i += 25) socks.push(...await Promise.all(Array.from({ length: 25 }, () => socket(user))));
    let last = 0;
    for (let round = 0; round < 20; round++) {
      const rs = await Promise.all(Array.from({ length: 25 }, () =>
        sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 1 } })));
      for (const r of rs) assert.equal(r.status, 200, r.text);
      last = Math.max(last, ...rs.map((r) => r.body.stats.version));
    }
    await waitFor('every socket has the newest document', () => socks.every((s) => s.version === last), 30000, 50);
    const m = await metrics();
    assert.ok(value(m, 'statsync_socket_change_events_superseded_total') > 0, 'change events superseded each other');
    assert.ok(value(m, 'statsync_socket_handover_depth') <= 2, 'the queue stayed within its bound');
    for (const s of socks) assert.equal(s.ws.readyState, WebSocket.OPEN, 'no socket was dropped');
  } finally { for (const s of socks) s.ws.terminate(); }
});
