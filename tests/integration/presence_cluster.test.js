// presence_cluster.test.js — issue 4: cluster-wide presence with two gateways,
// one presence-service and a real nats-server (heartbeat 200 ms so expiry
// bounds are short):
//   - exact connectedClients / connectedUsers on both gateways' /health and
//     exact presence:pong devices as sockets of several users come and go;
//   - ping/pong round trip: ts echoed, devices across gateways, added latency;
//   - presence:update reaches the user's other device on connect and leave;
//   - kill -9 of a gateway: its sockets leave the counts within 2 intervals;
//   - kill -9 of the presence-service and restart: exact within 1 interval.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep, waitFor } = require('../lib/system');
const { connect, emitAck, waitFor: waitEvent } = require('../compat/sio_helpers');

const HB = 200;
const SLACK = process.env.STATSYNC_SANITIZED === '1' ? 600 : 300; // scheduling + polling noise
let sys;
test.before(async () => {
  sys = await System.start({
    gateways: 2,
    presenceEnv: { STATSYNC_PRESENCE_HEARTBEAT_MS: String(HB), STATSYNC_PRESENCE_SOCKET_TTL_MS: '2000' },
    gatewayEnv: { STATSYNC_PRESENCE_HEARTBEAT_MS: String(HB), STATSYNC_PRESENCE_PING_TIMEOUT_MS: '250' },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

const health = async (gw) => (await sys.http('GET', '/health', { gw })).body;

// Waits until every gateway's /health shows exactly these cluster counts.
async function expectCounts(clients, users, what, ms = 5000, gws = sys.gateways) {
  let last;
  try {
    await waitFor(what, async () => {
      last = await Promise.all(gws.map(health));
      return last.every((h) => h.counts === 'cluster' && h.connectedClients === clients && h.connectedUsers === users);
    }, ms, 20);
  } catch (e) {
    e.message += ` (want ${clients}/${users}, got ${JSON.stringify((last || []).map((h) => [h.counts, h.connectedClients, h.connectedUsers]))})`;
    throw e;
  }
}

const devices = async (s) => (await emitAck(s, 'presence:ping', { ts: 1 })).devices;
const closeAll = (socks) => socks.forEach((s) => s.close());

test('exact counts as sockets of several users connect and disconnect on both gateways', async () => {
  const [g0, g1] = sys.gateways;
  await expectCounts(0, 0, 'an empty cluster');
  const a1 = await connect(sys, 'pc_alice', {}, g0);
  const a2 = await connect(sys, 'pc_alice', { transports: ['websocket'] }, g0);
  const a3 = await connect(sys, 'pc_alice', { transports: ['polling'] }, g1);
  const b1 = await connect(sys, 'pc_bob', {}, g1);
  const c1 = await connect(sys, 'pc_carol', { transports: ['websocket'] }, g0);
  const all = [a1, a2, a3, b1, c1];
  try {
    await expectCounts(5, 3, '5 sockets of 3 users');
    const h = await health(g1);
    assert.equal(h.status, 'OK');
    assert.deepEqual(h.local, { connectedClients: 2, connectedUsers: 2 }, 'local counts kept apart');
    assert.equal(await devices(a1), 3);
    assert.equal(await devices(a3), 3, 'the same count from the other gateway');
    assert.equal(await devices(b1), 1);
    assert.equal(await devices(c1), 1);

    a3.close();
    await expectCounts(4, 3, 'alice left gw1');
    assert.equal(await devices(a1), 2);
    b1.close();
    await expectCounts(3, 2, 'bob gone');
    const b2 = await connect(sys, 'pc_bob', {}, g0);
    all.push(b2);
    await expectCounts(4, 3, 'bob back on gw0');
    assert.equal(await devices(b2), 1);
    closeAll(all);
    await expectCounts(0, 0, 'everyone gone');
  } finally { closeAll(all); }
});

test('ping/pong: ts echoed, devices across gateways, pong only to the pinging socket; added latency', async (t) => {
  const [g0, g1] = sys.gateways;
  const p1 = await connect(sys, 'pc_pinger', {}, g0);
  const p2 = await connect(sys, 'pc_pinger', {}, g1);
  const other = await connect(sys, 'pc_pinger_other', {}, g0);
  const pongs2 = [];
  p2.on('presence:pong', (x) => pongs2.push(x));
  try {
    await expectCounts(3, 2, 'three sockets');
    const before = Date.now();
    const ev = waitEvent(p1, 'presence:pong', (x) => x.ts && x.ts.n === 42);
    const ack = await emitAck(p1, 'presence:ping', { ts: { n: 42, s: 'x' } });
    const pong = await ev;
    for (const x of [ack, pong]) {
      assert.deepEqual({ userId: x.userId, ts: x.ts, devices: x.devices }, { userId: 'pc_pinger', ts: { n: 42, s: 'x' }, devices: 2 });
      assert.ok(x.serverTime >= before - 1000 && x.serverTime <= Date.now() + 1000, `serverTime ${x.serverTime}`);
    }
    assert.equal((await emitAck(p1, 'presence:ping', { ts: 1700000000123 })).ts, 1700000000123);
    assert.equal((await emitAck(other, 'presence:ping', {})).ts, null);
    await sleep(100);
    assert.equal(pongs2.length, 0, 'the other device gets no pong');

    // latency: presence:ping (gateway -> presence-service -> gateway) against an
    // event the gateway answers by itself (unknown event -> error ack)
    const N = 200;
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const time = async (fn) => { const r = []; for (let i = 0; i < N; i++) { const s = process.hrtime.bigint(); await fn(); r.push(Number(process.hrtime.bigint() - s) / 1e6); } return r; };
    const local = await time(() => emitAck(p1, 'pc:nope', {}));
    const viaPresence = await time(() => emitAck(p1, 'presence:ping', { ts: 1 }));
    const added = median(viaPresence) - median(local);
    t.diagnostic(`presence:ping median ${median(viaPresence).toFixed(3)} ms, local answer median ${median(local).toFixed(3)} ms, added ${added.toFixed(3)} ms`);
    assert.ok(added < 50, `presence adds ${added} ms`);
  } finally { closeAll([p1, p2, other]); }
  await expectCounts(0, 0, 'pingers gone');
});

test('presence:update reaches the user\'s other device when one connects or leaves', async () => {
  const [g0, g1] = sys.gateways;
  const a = await connect(sys, 'pc_upd', {}, g0);
  const stranger = await connect(sys, 'pc_upd_stranger', {}, g1);
  const strangerGot = [];
  stranger.on('presence:update', (x) => strangerGot.push(x));
  try {
    const on2 = waitEvent(a, 'presence:update', (x) => x.devices === 2);
    const b = await connect(sys, 'pc_upd', { transports: ['websocket'] }, g1);
    assert.deepEqual(await on2, { userId: 'pc_upd', online: true, devices: 2 });
    const bGot1 = waitEvent(b, 'presence:update', (x) => x.devices === 3);
    const onA3 = waitEvent(a, 'presence:update', (x) => x.devices === 3);
    const c = await connect(sys, 'pc_upd', {}, g0);
    await Promise.all([bGot1, onA3]);
    const off = waitEvent(a, 'presence:update', (x) => x.devices === 1);
    b.close();
    c.close();
    assert.deepEqual(await off, { userId: 'pc_upd', online: true, devices: 1 });
    await sleep(100);
    assert.ok(strangerGot.every((x) => x.userId === 'pc_upd_stranger'), `another user's update leaked: ${JSON.stringify(strangerGot)}`);
  } finally { closeAll([a, stranger]); }
  await expectCounts(0, 0, 'update sockets gone');
});

test('kill -9 of a gateway: its sockets leave the counts within two heartbeat intervals', async (t) => {
  const gwK = await sys.addGateway(); // a third gateway, to be killed
  const g0 = sys.gateways[0];
  const survivors = [g0, sys.gateways[1]];
  const s0 = await connect(sys, 'pc_kill', {}, g0);
  const k1 = await connect(sys, 'pc_kill', {}, gwK);
  const k2 = await connect(sys, 'pc_kill2', { transports: ['websocket'] }, gwK);
  try {
    await expectCounts(3, 2, 'sockets on the doomed gateway', 5000, [...survivors, gwK]);
    const onUpdate = waitEvent(s0, 'presence:update', (x) => x.devices === 1, 5000);
    const { signal } = await gwK.kill('SIGKILL');
    assert.equal(signal, 'SIGKILL');
    const t0 = Date.now();
    await expectCounts(1, 1, 'the killed gateway\'s sockets expired', 5000, survivors);
    const took = Date.now() - t0;
    t.diagnostic(`expired ${took} ms after kill -9 (bound: 2 x ${HB} ms)`);
    assert.ok(took <= 2 * HB + SLACK, `took ${took} ms`);
    assert.deepEqual(await onUpdate, { userId: 'pc_kill', online: true, devices: 1 });
    assert.equal(await devices(s0), 1);
  } finally { closeAll([s0, k1, k2]); }
  sys.gateways.pop(); // dead: keep stop() from judging its exit code
  await expectCounts(0, 0, 'kill test sockets gone');
});

test('kill -9 of the presence-service and restart: counts exact again within one interval', async (t) => {
  const [g0, g1] = sys.gateways;
  const keep = [
    await connect(sys, 'pc_rs1', {}, g0),
    await connect(sys, 'pc_rs1', {}, g1),
    await connect(sys, 'pc_rs2', { transports: ['polling'] }, g1),
  ];
  const gone = await connect(sys, 'pc_rs3', {}, g0);
  try {
    await expectCounts(4, 3, 'before the presence kill');
    await sys.presence.kill('SIGKILL');
    // degraded: local counts, 503, pings still answered (from local knowledge)
    const h = await sys.http('GET', '/health', { gw: g1 });
    assert.equal(h.status, 503);
    assert.equal(h.body.status, 'DEGRADED');
    assert.equal(h.body.counts, 'local');
    assert.equal(h.body.connectedClients, 2);
    const t1 = Date.now();
    const p = await emitAck(keep[0], 'presence:ping', { ts: 5 });
    assert.deepEqual({ ts: p.ts, devices: p.devices }, { ts: 5, devices: 1 }, 'local answer');
    assert.ok(Date.now() - t1 < 2000, 'never left waiting');
    // membership changes while it is away
    gone.close();
    keep.push(await connect(sys, 'pc_rs4', { transports: ['websocket'] }, g1));
    await sleep(300);

    const t0 = Date.now();
    await sys.restartPresence();
    await expectCounts(4, 3, 'exact after restart', 5000);
    const took = Date.now() - t0;
    t.diagnostic(`exact ${took} ms after the restarted presence-service answered its first /health`);
    assert.ok(took <= HB + SLACK, `took ${took} ms`);
    assert.equal(await devices(keep[0]), 2);
  } finally { closeAll([...keep, gone]); }
  await expectCounts(0, 0, 'restart test sockets gone');
});

test('a hung presence-service: presence:ping is answered from local counts after the short timeout', async (t) => {
  const [g0, g1] = sys.gateways;
  const a = await connect(sys, 'pc_hung', {}, g0);
  const b = await connect(sys, 'pc_hung', {}, g1);
  try {
    await expectCounts(2, 1, 'two devices');
    assert.equal(await devices(a), 2);
    await sys.presence.freeze();
    try {
      const t0 = Date.now();
      const p = await emitAck(a, 'presence:ping', { ts: 77 }, 5000);
      const took = Date.now() - t0;
      t.diagnostic(`degraded pong after ${took} ms (timeout 250 ms)`);
      assert.deepEqual({ ts: p.ts, devices: p.devices, userId: p.userId }, { ts: 77, devices: 1, userId: 'pc_hung' });
      assert.ok(took >= 200 && took < 2000, `took ${took} ms`);
    } finally { sys.presence.thaw(); }
    await expectCounts(2, 1, 'exact again after the freeze', 10000);
    assert.equal(await devices(a), 2);
  } finally { closeAll([a, b]); }
  await expectCounts(0, 0, 'hung test sockets gone');
});

test('NATS blip: the presence-service keeps running and counts are exact again after', async (t) => {
  const [g0, g1] = sys.gateways;
  const socks = [await connect(sys, 'pc_blip', {}, g0), await connect(sys, 'pc_blip2', {}, g1)];
  try {
    await expectCounts(2, 2, 'before the blip');
    await sys.nats.kill('SIGKILL');
    await sleep(4 * HB); // longer than a gateway's expiry: the outage is the service's own
    const ph = await fetch(`http://127.0.0.1:${sys.presenceAdminPort}/health`);
    assert.equal(ph.status, 503, 'presence says DEGRADED while NATS is away');
    assert.equal((await ph.json()).connectedClients, 2, 'and keeps its last counts');
    const p = await emitAck(socks[0], 'presence:ping', { ts: 9 }, 5000);
    assert.equal(p.ts, 9, 'pings answered locally meanwhile');
    const t0 = Date.now();
    await sys.startNats(); // same port
    await expectCounts(2, 2, 'exact after the blip', 15000);
    t.diagnostic(`counts exact ${Date.now() - t0} ms after nats-server came back`);
    assert.equal(sys.presence.child.exitCode, null, 'presence-service still running');
  } finally { closeAll(socks); }
  await expectCounts(0, 0, 'blip sockets gone', 10000);
});

test('presence-service /health and /metrics', async () => {
  const r = await fetch(`http://127.0.0.1:${sys.presenceAdminPort}/health`);
  assert.equal(r.status, 200);
  const h = await r.json();
  assert.equal(h.status, 'OK');
  assert.equal(h.connectedClients, 0);
  assert.equal(h.gateways, 2);
  const m = await (await fetch(`http://127.0.0.1:${sys.presenceAdminPort}/metrics`)).text();
  for (const name of ['statsync_presence_sockets', 'statsync_presence_users', 'statsync_presence_gateways',
    'statsync_presence_expired_gateways_total', 'statsync_presence_expired_sockets_total',
    'statsync_presence_pings_total', 'statsync_presence_heartbeats_total']) {
    assert.match(m, new RegExp(`^${name}`, 'm'), `${name} in /metrics`);
  }
  const gm = await (await fetch(`http://127.0.0.1:${sys.gw.apiPort}/metrics`)).text();
  assert.match(gm, /^statsync_presence_ping_rtt_seconds/m);
});
