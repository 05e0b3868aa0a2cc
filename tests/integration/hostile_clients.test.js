// hostile_clients.test.js — slow and hostile clients against the real gateway
// (loopback only, short timeouts from the environment, every wait bounded):
//  - slowloris on REST: a connection trickling header bytes slower than the
//    connection timeout is cut; one address cannot hold more than its
//    connections; other clients are served meanwhile;
//  - a websocket that never sends CONNECT is closed after the connect timeout;
//  - the JSON element bound: 400 on REST, an error ack on the socket;
//  - open polling requests (parked GETs, POSTs being read) are bounded per IP;
//  - a token given in the Socket.IO query string never reaches the log.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const WebSocket = require('ws');
const { System, sleep, waitFor } = require('../lib/system');
const { connect, emitAck } = require('../compat/sio_helpers');
const { io } = require('socket.io-client');

let sys;
test.before(async () => {
  sys = await System.start({
    gatewayEnv: {
      STATSYNC_LOG_LEVEL: 'debug',
      STATSYNC_REST_CONNECTION_TIMEOUT_S: '1',
      STATSYNC_REST_PER_IP_CONNECTIONS: '4',
      STATSYNC_SOCKET_CONNECT_TIMEOUT_MS: '1000',
      STATSYNC_PING_INTERVAL_MS: '300',
      STATSYNC_PING_TIMEOUT_MS: '2000',
      STATSYNC_JSON_MAX_ELEMENTS: '50',
    },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

// A raw TCP connection to the REST port from a chosen loopback address.
// Resolves { sock, closed (promise of ms until close), data () => text }.
function rawConn(port, localAddress = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    const t0 = Date.now();
    let data = '';
    const closed = new Promise((r) => sock.on('close', () => r(Date.now() - t0)));
    sock.on('data', (d) => { data += d; });
    sock.on('error', () => {});
    sock.once('connect', () => resolve({ sock, closed, data: () => data }));
    sock.once('error', reject);
  });
}

// GET path over a fresh connection from localAddress; resolves the status.
async function rawGet(port, path, localAddress, timeoutMs = 5000) {
  const c = await rawConn(port, localAddress);
  c.sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const timer = sleep(timeoutMs).then(() => -1);
  const r = await Promise.race([c.closed, timer]);
  c.sock.destroy();
  if (r < 0) throw new Error(`GET ${path}: no answer in ${timeoutMs} ms`);
  const m = /^HTTP\/1\.1 (\d{3})/.exec(c.data());
  return m ? Number(m[1]) : 0;
}

function within(promise, ms, what) {
  return Promise.race([promise, sleep(ms).then(() => { throw new Error(`${what}: not within ${ms} ms`); })]);
}

test('slowloris on REST: trickled headers are cut by the timeout; other clients are served', async () => {
  const port = sys.gw.apiPort;
  // one header byte every 1.5 s against a 1 s timeout
  const slow = await rawConn(port);
  slow.sock.write('GET /health HTTP/1.1\r\nHost: x\r\n');
  const trickle = setInterval(() => { if (!slow.sock.destroyed) slow.sock.write('X'); }, 1500);
  try {
    // meanwhile another client is served at once
    assert.equal(await rawGet(port, '/health', '127.0.0.2'), 200);
    const ms = await within(slow.closed, 6000, 'the slow connection closed');
    assert.ok(ms < 6000);
    assert.equal(slow.data(), '', 'no answer to a request that never completed');
  } finally {
    clearInterval(trickle);
    slow.sock.destroy();
  }
});

test('slowloris on REST: one address holds at most its connections, others still get in', async () => {
  // Its own gateway with a long connection timeout, and an address no other
  // test uses: the only thing that can close a held connection here is the
  // per-IP limit, so the count below is a state, not a race with a timer.
  const gw = await sys.addGateway({ STATSYNC_REST_CONNECTION_TIMEOUT_S: '60' });
  const port = gw.apiPort;
  const addr = '127.0.0.7';
  const held = [];
  const timers = [];
  let closed = 0;
  try {
    // six connections trickling header lines; the limit is four
    for (let i = 0; i < 6; i++) {
      const c = await rawConn(port, addr);
      c.closed.then(() => { closed += 1; });
      c.sock.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      timers.push(setInterval(() => { if (!c.sock.destroyed) c.sock.write('X-a: b\r\n'); }, 300));
      held.push(c);
    }
    await waitFor('two connections refused', () => closed >= 2, 5000, 20);
    // the server still holds four: a seventh from the same address is refused too
    const extra = await rawConn(port, addr);
    extra.sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(extra.closed, 5000, 'the seventh connection refused');
    assert.equal(extra.data(), '', 'the seventh connection got no answer');
    assert.equal(closed, 2, 'the four allowed connections stay open');
    for (const c of held) assert.equal(c.data(), '', 'nothing was answered');
    // another address is served
    assert.equal(await rawGet(port, '/health', '127.0.0.3'), 200);
  } finally {
    for (const t of timers) clearInterval(t);
    for (const c of held) c.sock.destroy();
  }
  // once they are gone this address is served again
  await waitFor('served again', async () => (await rawGet(port, '/health', addr)) === 200, 5000, 100);
  sys.gateways.splice(sys.gateways.indexOf(gw), 1);
  assert.equal((await gw.kill('SIGTERM')).code, 0, gw.log().slice(-2000));
});

test('a websocket that never sends CONNECT is closed after the connect timeout', async () => {
  const url = `ws://127.0.0.1:${sys.gw.socketPort}/socket.io/?EIO=4&transport=websocket`;
  const open = (sendConnect) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const t0 = Date.now();
    const closed = new Promise((r) => ws.on('close', () => r(Date.now() - t0)));
    ws.on('error', () => {});
    ws.on('message', (d) => {
      const m = d.toString();
      if (m === '2') ws.send('3'); // a live client: it answers pings
      if (m[0] === '0' && sendConnect) ws.send(`40${JSON.stringify({ token: sys.token(`hostile${process.pid}`) })}`);
    });
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('error', reject);
  });
  const idle = await open(false);
  const good = await open(true);
  try {
    const ms = await within(idle.closed, 6000, 'the CONNECT-less websocket closed');
    assert.ok(ms >= 900, `closed after ${ms} ms, before the timeout`);
    // a socket that did CONNECT outlives the timeout
    await sleep(500);
    assert.equal(good.ws.readyState, WebSocket.OPEN);
  } finally {
    idle.ws.terminate();
    good.ws.close();
  }
});

test('JSON element bound: 400 on REST, an error ack on the socket, the socket stays usable', async () => {
  const user = `hostile${process.pid}j`;
  const many = Array.from({ length: 60 }, (_, i) => i);
  const r = await sys.http('POST', '/api/users/data/patch', {
    token: sys.token(user), body: { xp: 1, lastGameResults: { many } },
  });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.error.code, 'invalid_json');
  assert.match(r.body.error.message, /elements/);
  const fine = await sys.http('POST', '/api/users/data/patch', {
    token: sys.token(user), body: { xp: 1, lastGameResults: { few: [1, 2, 3] } },
  });
  assert.equal(fine.status, 200, fine.text);

  const s = await connect(sys, user);
  try {
    const a = await emitAck(s, 'user:clientUpdate', { delta: { xp: 1, lastGameResults: { many } } });
    assert.equal(a.ok, false);
    assert.equal(a.error.code, 'invalid_json');
    assert.match(a.error.message, /elements/);
    const b = await emitAck(s, 'user:clientUpdate', { delta: { xp: 1 } });
    assert.equal(b.ok, true, JSON.stringify(b));
    assert.equal(b.stats.xp, 2);
  } finally {
    s.close();
  }
});

test('a token in the Socket.IO query string never appears in the log', async () => {
  const user = `hostile${process.pid}t`;
  const good = sys.token(user);
  const bad = `${sys.token(user).slice(0, -6)}XXXXXX`; // bad signature: refused, logged
  const port = sys.gw.socketPort;
  // valid token in the query, both transports
  for (const transports of [['polling', 'websocket'], ['websocket']]) {
    const s = io(`http://127.0.0.1:${port}`, { query: { token: good }, transports, reconnection: false, timeout: 5000 });
    await within(new Promise((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    }), 8000, 'connect with a query token');
    const a = await emitAck(s, 'user:clientUpdate', { delta: { xp: 1 } });
    assert.equal(a.ok, true);
    s.close();
  }
  // a refused one, and raw requests that carry the token in odd places
  const s = io(`http://127.0.0.1:${port}`, { query: { token: bad }, reconnection: false, timeout: 5000 });
  const e = await within(new Promise((resolve) => s.once('connect_error', resolve)), 8000, 'connect_error');
  assert.match(e.message, /unauthorized/);
  s.close();
  await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=3&transport=polling&token=${bad}`).then((r) => r.text());
  await fetch(`http://127.0.0.1:${port}/nope?token=${bad}`).then((r) => r.text());
  await fetch(`http://127.0.0.1:${sys.gw.apiPort}/api/users/${user}/stats?token=${bad}`).then((r) => r.text());
  await sleep(300);
  const log = sys.gw.log();
  assert.ok(log.includes('socket connected'), 'the debug log is on');
  for (const t of [good, bad]) {
    assert.ok(!log.includes(t), 'a token is in the gateway log');
    assert.ok(!log.includes(t.split('.')[2]), 'a token signature is in the gateway log');
  }
});

test('open polling requests are bounded per IP; other addresses are not affected', async () => {
  const gw = await sys.addGateway({
    STATSYNC_RATE_LIMIT_EXEMPT: 'none',
    STATSYNC_POLL_MAX_PENDING_PER_IP: '2',
    STATSYNC_PING_INTERVAL_MS: '3000', // a ping answers (or finds gone) each parked GET
    STATSYNC_PING_TIMEOUT_MS: '10000',
    STATSYNC_SOCKET_CONNECT_TIMEOUT_MS: '45000',
  });
  const port = gw.socketPort;
  const sids = [];
  for (let i = 0; i < 4; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`);
    sids.push(JSON.parse((await r.text()).slice(1)).sid);
  }
  const park = async (sid, local = '127.0.0.1') => {
    const c = await rawConn(port, local);
    c.sock.write(`GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n\r\n`);
    return c;
  };
  const conns = [];
  try {
    conns.push(await park(sids[0]), await park(sids[1]));
    await sleep(200);
    assert.equal(conns[0].data() + conns[1].data(), '', 'both GETs are parked');
    const third = await park(sids[2]);
    conns.push(third);
    await waitFor('429 for the third parked GET', () => /^HTTP\/1\.1 429/.test(third.data()), 3000, 20);
    assert.match(third.data(), /retry-after: 1/i);
    // another address parks fine
    const other = await park(sids[3], '127.0.0.4');
    conns.push(other);
    await sleep(200);
    assert.equal(other.data(), '');
    assert.match(third.data(), /open polling requests/);
    // a GET that went away (noticed at the latest when the next ping finds it
    // gone) or was answered frees its place
    conns[0].sock.destroy();
    await waitFor('a parked GET once a place is free', async () => {
      const c = await park(sids[2]);
      conns.push(c);
      await sleep(100);
      return c.data() === '' || /^HTTP\/1\.1 200/.test(c.data());
    }, 12000, 100);
  } finally {
    for (const c of conns) c.sock.destroy();
  }
});
