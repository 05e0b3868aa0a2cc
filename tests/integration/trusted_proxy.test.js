// trusted_proxy.test.js — client addresses behind the edge (issue 13): the
// gateway takes the client IP from X-Forwarded-For only when the peer is a
// configured trusted proxy (STATSYNC_TRUSTED_PROXIES), so per-IP limits apply
// to the real clients; a forged header from an untrusted peer is ignored; an
// address exempt from per-IP limits still has its users' write limits.
//
// Each check is a count, not a race with the bucket's refill: ten requests
// at once, each from a different forwarded address, are all served when the
// header counts (ten fresh buckets of two) and are not when it is ignored
// (one bucket of two, refilled at 1/s).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const WebSocket = require('ws');
const { System } = require('../lib/system');

let sys;
test.before(async () => {
  sys = await System.start({
    gatewayEnv: {
      STATSYNC_RATE_LIMIT_EXEMPT: 'none',
      STATSYNC_TRUSTED_PROXIES: '127.0.0.1',
      STATSYNC_RATE_REST_IP_PER_S: '1',
      STATSYNC_RATE_REST_IP_BURST: '2',
      STATSYNC_RATE_HANDSHAKE_IP_PER_S: '1',
      STATSYNC_RATE_HANDSHAKE_IP_BURST: '2',
    },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

// GET path from localAddress with optional X-Forwarded-For; resolves the status.
function get(gw, path, localAddress, xff, headers = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (xff !== undefined) h['x-forwarded-for'] = xff;
    const req = http.request({ host: '127.0.0.1', port: gw.apiPort, path, localAddress, headers: h, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

function post(gw, path, localAddress, xff, token, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port: gw.apiPort, path, method: 'POST', localAddress, agent: false,
      headers: { 'x-forwarded-for': xff, authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const tenAtOnce = (fn) => Promise.all(Array.from({ length: 10 }, (_, i) => fn(i)));
const count = (statuses, code) => statuses.filter((s) => s === code).length;

test('REST: from the trusted proxy, each forwarded client has its own per-IP bucket', async () => {
  const distinct = await tenAtOnce((i) => get(sys.gw, '/metrics', '127.0.0.1', `198.51.100.${i + 1}`));
  assert.equal(count(distinct, 200), 10, `statuses ${distinct}`);
  const same = await tenAtOnce(() => get(sys.gw, '/metrics', '127.0.0.1', '198.51.100.200'));
  assert.ok(count(same, 429) >= 1, `one forwarded client is limited: ${same}`);
  // the proxy's own hop added after a client's forged entry is the one believed
  const forgedFirst = await tenAtOnce((i) => get(sys.gw, '/metrics', '127.0.0.1', `10.9.9.${i}, 198.51.100.201`));
  assert.ok(count(forgedFirst, 429) >= 1, `entries left of the proxy's hop do not count: ${forgedFirst}`);
});

test('REST: a forged X-Forwarded-For from an untrusted peer is ignored', async () => {
  const forged = await tenAtOnce((i) => get(sys.gw, '/metrics', '127.0.0.2', `203.0.113.${i + 1}`));
  assert.ok(count(forged, 429) >= 1, `an untrusted peer is one client whatever it claims: ${forged}`);
});

// Opens a raw Engine.IO websocket; resolves 'open' or the refusing HTTP status.
function wsOpen(gw, localAddress, xff) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.socketPort}/socket.io/?EIO=4&transport=websocket`,
      { localAddress, headers: { 'x-forwarded-for': xff } });
    ws.on('message', () => { ws.terminate(); resolve('open'); });
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.on('error', () => resolve('error'));
  });
}

test('Socket.IO: the per-IP handshake limit follows X-Forwarded-For only from the trusted proxy', async () => {
  const distinct = await tenAtOnce((i) => wsOpen(sys.gw, '127.0.0.1', `198.51.100.${i + 50}`));
  assert.equal(distinct.filter((s) => s === 'open').length, 10, `statuses ${distinct}`);
  const same = await tenAtOnce(() => wsOpen(sys.gw, '127.0.0.1', '198.51.100.250'));
  assert.ok(count(same, 429) >= 1, `one forwarded client is limited: ${same}`);
  const forged = await tenAtOnce((i) => wsOpen(sys.gw, '127.0.0.3', `203.0.113.${i + 50}`));
  assert.ok(count(forged, 429) >= 1, `a forged header from an untrusted peer is ignored: ${forged}`);
});

test('an address exempt from per-IP limits keeps its users\' write limit', async () => {
  const gw = await sys.addGateway({
    STATSYNC_RATE_LIMIT_EXEMPT: '198.51.100.77',
    STATSYNC_RATE_MUTATIONS_PER_S: '1',
    STATSYNC_RATE_MUTATIONS_BURST: '2',
  });
  // exempt through the trusted proxy: no per-IP limit
  const exempt = await tenAtOnce(() => get(gw, '/metrics', '127.0.0.1', '198.51.100.77'));
  assert.equal(count(exempt, 200), 10, `statuses ${exempt}`);
  // the same claim from an untrusted peer is not believed
  const forged = await tenAtOnce(() => get(gw, '/metrics', '127.0.0.4', '198.51.100.77'));
  assert.ok(count(forged, 429) >= 1, `statuses ${forged}`);
  // the user's write limit holds for the exempt address: 10 writes at once, at most 2 + refills
  const user = `tp${process.pid}`;
  const tok = sys.token(user);
  const writes = await tenAtOnce(() => post(gw, '/api/users/data/patch', '127.0.0.1', '198.51.100.77', tok, { xp: 1 }));
  const ok = writes.filter((w) => w.status === 200).length;
  assert.ok(writes.some((w) => w.status === 429), `writes ${writes.map((w) => w.status)}`);
  const doc = await sys.http('GET', `/api/users/${user}/stats`, { token: tok, gw });
  assert.equal(doc.body.xp, ok, 'only the accepted writes were applied');
});
