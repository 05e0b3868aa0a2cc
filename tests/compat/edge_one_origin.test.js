// edge_one_origin.test.js — the app's one origin: a real nginx edge
// (edge/render-nginx.sh via tests/lib/edge.js) in front of real gateways, and
// the unmodified socket.io-client 4.8.1 plus fetch using ONE URL for REST and
// Socket.IO: polling with upgrade, websocket-only, polling-only, acks, a REST
// patch arriving as a push, the gateway's own 413 through the edge, HTTPS/WSS
// with a self-signed certificate, and two gateways behind one edge with
// polling sessions kept on the gateway whose route tag starts their sid.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { System, waitFor } = require('../lib/system');
const { Edge } = require('../lib/edge');
const { once, waitFor: waitEvent, emitAck } = require('./sio_helpers');

const ACK_MS = 10000;
const GW_ENV = { STATSYNC_TRUSTED_PROXIES: 'loopback' };

let sys;
let g0;
let g1;
let edge; // g0 only, plain HTTP (as run-local.sh)
let tlsEdge; // g0 only, HTTPS/WSS
let twoEdge; // g0 + g1

test.before(async () => {
  sys = await System.start({ gateways: 0 });
  g0 = await sys.addGateway({ ...GW_ENV, STATSYNC_ROUTE_TAG: 'g0' });
  g1 = await sys.addGateway({ ...GW_ENV, STATSYNC_ROUTE_TAG: 'g1' });
  edge = await Edge.start({ gateways: [{ tag: 'g0', gw: g0 }] });
  tlsEdge = await Edge.start({ gateways: [{ tag: 'g0', gw: g0 }], tls: true });
  twoEdge = await Edge.start({ gateways: [{ tag: 'g0', gw: g0 }, { tag: 'g1', gw: g1 }] });
});

test.after(async () => {
  for (const e of [edge, tlsEdge, twoEdge]) if (e) await e.stop();
  if (sys) await sys.stop();
});

// Connects through an edge URL and resolves once connected (bounded).
function connect(url, userId, opts = {}) {
  const s = io(url, { auth: { token: sys.token(userId) }, reconnection: false, timeout: 8000, ...opts });
  return new Promise((resolve, reject) => {
    const onError = (e) => { clearTimeout(t); s.off('connect', onConnect); s.close(); reject(e); };
    const onConnect = () => { clearTimeout(t); s.off('connect_error', onError); resolve(s); };
    const t = setTimeout(() => { s.close(); reject(new Error(`connect to ${url} timed out`)); }, 10000);
    s.once('connect', onConnect);
    s.once('connect_error', onError);
  });
}

async function upgraded(s) {
  if (s.io.engine.transport.name !== 'websocket') await once(s.io.engine, 'upgrade', 10000);
  assert.equal(s.io.engine.transport.name, 'websocket');
}

async function clientUpdate(s, userId, opId, wantXp) {
  const ack = await emitAck(s, 'user:clientUpdate', { opId, delta: { xp: 1 } }, ACK_MS);
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.equal(ack.stats.userId, userId);
  if (wantXp !== undefined) assert.equal(ack.stats.xp, wantXp);
  return ack;
}

// The gateway's own count of open Engine.IO sessions (its /metrics, on its own API port).
async function sessionsOn(gw) {
  const r = await sys.http('GET', '/metrics', { gw });
  assert.equal(r.status, 200);
  const m = /^statsync_socket_sessions(?:\{[^}]*\})? (\d+)/m.exec(r.text);
  assert.ok(m, `no statsync_socket_sessions in ${gw.name}'s /metrics`);
  return Number(m[1]);
}

test('REST through the edge: fetch on the App URL reaches the gateway', async () => {
  const h = await fetch(`${edge.url}/health`);
  assert.equal(h.status, 200);
  const health = await h.json();
  assert.equal(health.status, 'OK');
  assert.equal(typeof health.connectedClients, 'number');
  const token = sys.token('edge_rest');
  const p = await fetch(`${edge.url}/api/users/data/patch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'edge-rest-1' },
    body: JSON.stringify({ xp: 10, hearts: -1 }),
  });
  assert.equal(p.status, 200);
  const pb = await p.json();
  assert.equal(pb.success, true);
  assert.equal(pb.stats.xp, 10);
  const g = await fetch(`${edge.url}/api/users/edge_rest/stats`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(g.status, 200);
  assert.equal((await g.json()).xp, 10);
  // errors stay the gateway's JSON errors
  const f = await fetch(`${edge.url}/api/users/somebody_else/stats`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(f.status, 403);
  assert.ok((await f.json()).error.code);
  // the gateway's own ports stay reachable directly
  assert.equal((await sys.http('GET', '/health', { gw: g0 })).status, 200);
});

test('Socket.IO through the edge: starts on polling, upgrades to websocket; sid carries the route tag', async () => {
  const s = await connect(edge.url, 'edge_default');
  try {
    assert.match(s.io.engine.id, /^g0\./, 'the gateway tagged its sid');
    await upgraded(s);
    await clientUpdate(s, 'edge_default', 'edge-default-1', 1);
    await clientUpdate(s, 'edge_default', 'edge-default-2', 2);
  } finally { s.close(); }
});

test("Socket.IO through the edge: transports ['websocket']", async () => {
  const s = await connect(edge.url, 'edge_ws', { transports: ['websocket'] });
  try {
    assert.equal(s.io.engine.transport.name, 'websocket');
    await clientUpdate(s, 'edge_ws', 'edge-ws-1', 1);
    const pong = await emitAck(s, 'presence:ping', { ts: 7 }, ACK_MS);
    assert.equal(pong.ts, 7);
  } finally { s.close(); }
});

test("Socket.IO through the edge: transports ['polling'], many round trips", async () => {
  const s = await connect(edge.url, 'edge_poll', { transports: ['polling'] });
  try {
    const sid = s.io.engine.id;
    for (let i = 1; i <= 20; i++) await clientUpdate(s, 'edge_poll', `edge-poll-${i}`, i);
    assert.equal(s.io.engine.transport.name, 'polling');
    assert.equal(s.io.engine.id, sid);
    assert.ok(s.connected);
  } finally { s.close(); }
});

test('a REST patch through the edge arrives as user:data:updated on sockets opened through the edge', async () => {
  const user = 'edge_push';
  const token = sys.token(user);
  const ws = await connect(edge.url, user, { transports: ['websocket'] });
  const poll = await connect(edge.url, user, { transports: ['polling'] });
  try {
    const pushes = [ws, poll].map((s) => waitEvent(s, 'user:data:updated', (d) => d.xp === 42, 10000));
    const r = await fetch(`${edge.url}/api/users/data/patch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ xp: 42 }),
    });
    assert.equal(r.status, 200);
    const docs = await Promise.all(pushes);
    for (const d of docs) {
      assert.equal(d.userId, user);
      assert.ok(d.version >= 1);
    }
  } finally { ws.close(); poll.close(); }
});

test('a REST body over 1 MB is answered 413 by the gateway (its JSON error), not by nginx', async () => {
  const token = sys.token('edge_big');
  const big = JSON.stringify({ xp: 1, pad: 'x'.repeat(1536 * 1024) });
  const r = await edge.http('POST', '/api/users/data/patch', {
    token, raw: big, headers: { 'content-type': 'application/json' }, timeoutMs: 30000,
  });
  assert.equal(r.status, 413);
  assert.match(String(r.headers['content-type']), /application\/json/);
  assert.equal(r.body.error.code, 'payload_too_large', r.text);
  // the access log names the gateway's answer: it came from upstream
  const line = await waitFor('access log line of the 413', () => edge.accessLog()
    .find((l) => l.path === '/api/users/data/patch' && l.status === 413), 5000);
  assert.equal(line.upstream_status, '413', JSON.stringify(line));
  // past the edge's own limit (2 MB) nginx answers, in the same JSON shape
  const huge = 'x'.repeat(3 * 1024 * 1024);
  const r2 = await edge.http('POST', '/api/users/data/patch', {
    token, raw: huge, headers: { 'content-type': 'application/json' }, timeoutMs: 30000,
  });
  assert.equal(r2.status, 413);
  assert.equal(r2.body.error.code, 'payload_too_large', r2.text);
});

test('the access log has one JSON line per request and never a query string (tokens)', async () => {
  const token = sys.token('edge_log');
  const s = await connect(edge.url, 'edge_log', { auth: {}, query: { token }, transports: ['polling'] });
  try {
    await clientUpdate(s, 'edge_log', 'edge-log-1', 1);
  } finally { s.close(); }
  const lines = await waitFor('socket.io lines in the access log',
    () => { const l = edge.accessLog(); return l.some((x) => x.path === '/socket.io/') && l; }, 5000);
  for (const l of lines) {
    assert.equal(l.service, 'edge');
    assert.ok(!l.path.includes('?'), JSON.stringify(l));
  }
  const raw = JSON.stringify(lines);
  assert.ok(!raw.includes(token), 'a token reached the access log');
});

test('HTTPS and WSS at the edge with a self-signed certificate', async () => {
  assert.match(tlsEdge.url, /^https:/);
  const h = await tlsEdge.http('GET', '/health');
  assert.equal(h.status, 200);
  assert.equal(h.body.status, 'OK');
  assert.match(String(h.headers['strict-transport-security']), /max-age=\d+/);
  const user = 'edge_tls';
  const token = sys.token(user);
  const p = await tlsEdge.http('POST', '/api/users/data/patch', { token, body: { xp: 3 } });
  assert.equal(p.status, 200, p.text);
  const tls = tlsEdge.tlsOptions();
  const a = await connect(tlsEdge.url, user, { ...tls });
  const b = await connect(tlsEdge.url, user, { ...tls, transports: ['websocket'] });
  const c = await connect(tlsEdge.url, user, { ...tls, transports: ['polling'] });
  try {
    await upgraded(a);
    assert.equal(b.io.engine.transport.name, 'websocket');
    assert.equal(c.io.engine.transport.name, 'polling');
    const pushes = [a, b, c].map((s) => waitEvent(s, 'user:data:updated', (d) => d.xp >= 4, 10000));
    const ack = await clientUpdate(a, user, 'edge-tls-1', 4);
    assert.equal(ack.stats.xp, 4);
    for (const d of await Promise.all(pushes)) assert.equal(d.userId, user);
    await clientUpdate(b, user, 'edge-tls-2', 5);
    await clientUpdate(c, user, 'edge-tls-3', 6);
    // the certificate really is checked: without trusting it, the client is refused
    await assert.rejects(connect(tlsEdge.url, user, { transports: ['websocket'] }));
  } finally { a.close(); b.close(); c.close(); }
});

test('two gateways behind one edge: polling sessions stay on the gateway that issued their sid', async () => {
  const CLIENTS = 6;
  const EMITS = 50;
  const socks = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      socks.push(await connect(twoEdge.url, `edge_two_${i}`, { transports: ['polling'] }));
    }
    const tags = socks.map((s) => (/^(g[01])\./.exec(s.io.engine.id) || [])[1]);
    assert.ok(tags.every(Boolean), `untagged sids: ${socks.map((s) => s.io.engine.id)}`);
    const onG0 = tags.filter((t) => t === 'g0').length;
    const onG1 = tags.filter((t) => t === 'g1').length;
    assert.ok(onG0 >= 1 && onG1 >= 1, `the edge spread no handshakes over both gateways: ${tags}`);
    // each gateway holds (at least) the sessions whose sid it issued; sockets
    // of earlier tests may still be closing, so no exact count
    const counts = [await sessionsOn(g0), await sessionsOn(g1)];
    assert.ok(counts[0] >= onG0 && counts[1] >= onG1, `sessions g0/g1 ${counts}, sids ${tags}`);
    const drops = [];
    socks.forEach((s, i) => s.on('disconnect', (why) => drops.push(`${i}: ${why}`)));
    const sids = socks.map((s) => s.io.engine.id);
    // every client: many polling round trips, each emit acked, all in parallel
    await Promise.all(socks.map(async (s, i) => {
      for (let k = 1; k <= EMITS; k++) await clientUpdate(s, `edge_two_${i}`, `edge-two-${i}-${k}`, k);
      const pong = await emitAck(s, 'presence:ping', { ts: i }, ACK_MS);
      assert.equal(pong.userId, `edge_two_${i}`);
    }));
    assert.deepEqual(drops, [], 'a polling session was dropped (a request reached the other gateway?)');
    assert.deepEqual(socks.map((s) => s.io.engine.id), sids);
    assert.ok(socks.every((s) => s.connected && s.io.engine.transport.name === 'polling'));
    // a REST patch through the same edge (any gateway) reaches a socket on either
    for (const i of [tags.indexOf('g0'), tags.indexOf('g1')]) {
      const push = waitEvent(socks[i], 'user:data:updated', (d) => d.xp === EMITS + 100, 10000);
      const r = await fetch(`${twoEdge.url}/api/users/data/patch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sys.token(`edge_two_${i}`)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ xp: 100 }),
      });
      assert.equal(r.status, 200);
      assert.equal((await push).userId, `edge_two_${i}`);
    }
  } finally { for (const s of socks) s.close(); }
});

test('two gateways behind one edge: the websocket upgrade of a polling session reaches its gateway', async () => {
  const socks = [];
  try {
    for (let i = 0; i < 4; i++) socks.push(await connect(twoEdge.url, `edge_up_${i}`));
    for (const s of socks) await upgraded(s);
    const tags = new Set(socks.map((s) => s.io.engine.id.split('.')[0]));
    assert.deepEqual([...tags].sort(), ['g0', 'g1']);
    await Promise.all(socks.map((s, i) => clientUpdate(s, `edge_up_${i}`, `edge-up-${i}`, 1)));
    // websocket-only clients (no sid) are spread over the pool as well
    const ws = [];
    for (let i = 0; i < 4; i++) ws.push(await connect(twoEdge.url, `edge_wsonly_${i}`, { transports: ['websocket'] }));
    socks.push(...ws);
    await Promise.all(ws.map((s, i) => clientUpdate(s, `edge_wsonly_${i}`, `edge-wsonly-${i}`, 1)));
  } finally { for (const s of socks) s.close(); }
});
