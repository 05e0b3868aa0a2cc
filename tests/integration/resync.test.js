// resync.test.js — after a gateway's NATS connection returns, every local
// socket gets its user's current document (issue 15 item 4): change events
// published while the gateway was away are otherwise lost, and its sockets
// would stay stale until the user's next write.
//
// nats-server is restarted while another gateway writes: gateway 0 reaches
// NATS through a TCP relay the test holds shut until gateway 1 has written,
// so gateway 0 is certainly away when the change event goes out.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { System, freePort, waitFor } = require('../lib/system');
const { connect, record } = require('../compat/sio_helpers');

// A TCP relay to the NATS port that can be shut (connections cut, new ones
// refused) and opened again.
class Relay {
  static async start(target) {
    const r = new Relay(target);
    r.port = await freePort();
    await new Promise((resolve) => r.server.listen(r.port, '127.0.0.1', resolve));
    return r;
  }

  constructor(target) {
    this.target = target;
    this.open = true;
    this.socks = new Set();
    this.server = net.createServer((c) => {
      if (!this.open) { c.destroy(); return; }
      const up = net.connect(this.target, '127.0.0.1');
      for (const s of [c, up]) { this.socks.add(s); s.on('close', () => this.socks.delete(s)); s.on('error', () => {}); }
      c.pipe(up);
      up.pipe(c);
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
    });
  }

  shut() { this.open = false; for (const s of this.socks) s.destroy(); }
  reopen() { this.open = true; }
  stop() { this.shut(); this.server.close(); }
}

let sys;
let relay;
test.before(async () => {
  sys = await System.start({ gateways: 1 });
  relay = await Relay.start(sys.natsPort);
  await sys.addGateway({ STATSYNC_NATS_URL: `nats://127.0.0.1:${relay.port}` }); // gateway 1 behind the relay
});
test.after(async () => { if (relay) relay.stop(); if (sys) await sys.stop(); });

const metric = async (gw, name) => {
  const r = await sys.http('GET', '/metrics', { gw });
  const line = r.text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

test('a nats-server restart while another gateway writes: the socket gets the document it missed', async () => {
  const user = `resync${process.pid}`;
  const [direct, relayed] = sys.gateways;
  const tok = sys.token(user);
  assert.equal((await sys.http('POST', '/api/users/data/patch', { token: tok, body: { xp: 1 }, gw: direct })).status, 200);
  const s = await connect(sys, user, { transports: ['websocket'] }, relayed);
  const rec = record(s, ['user:data:updated']);
  try {
    const resyncsBefore = await metric(relayed, 'statsync_socket_resyncs_total');
    // nats-server restarts; the relayed gateway stays away meanwhile
    relay.shut();
    await sys.nats.kill('SIGKILL');
    await sys.startNats();
    await waitFor('the direct gateway back on NATS', async () => (await sys.http('GET', '/health', { gw: direct })).status === 200, 20000, 100);
    const w = await sys.http('POST', '/api/users/data/patch', { token: tok, body: { xp: 10 }, gw: direct });
    assert.equal(w.status, 200, w.text);
    const version = w.body.stats.version;
    assert.ok(!rec['user:data:updated'].some((d) => d.version >= version), 'the change event could not reach the away gateway');
    // back: the socket is pushed its user's current document
    relay.reopen();
    await waitFor('the missed document pushed', () => rec['user:data:updated'].some((d) => d.version === version && d.xp === 11), 20000, 50);
    assert.ok(await metric(relayed, 'statsync_socket_resyncs_total') > resyncsBefore);
    // and it is live again for later changes
    const w2 = await sys.http('POST', '/api/users/data/patch', { token: tok, body: { xp: 1 }, gw: direct });
    await waitFor('a later change pushed', () => rec['user:data:updated'].some((d) => d.version === w2.body.stats.version), 10000, 50);
  } finally { s.close(); }
});
