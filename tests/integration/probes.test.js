// probes.test.js — /livez and /readyz of every service (issue 15 item 7):
// the gateway on its API port, the stats- and presence-service on their
// admin ports. /livez says the process answers, so it stays 200 whatever
// fails around it; /readyz says it can serve: 503 while NATS is down, while
// the gateway has no stats-service, and from the first moment of a SIGTERM
// (the lame duck's drain delay, while everything is still served). /health
// keeps its document. Every wait is for a state, bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, waitFor } = require('../lib/system');

let sys;
test.before(async () => {
  sys = await System.start({ gatewayEnv: { STATSYNC_HEALTH_TIMEOUT_MS: '300' } });
});
test.after(async () => { if (sys) await sys.stop(); });

async function get(port, p) {
  const r = await fetch(`http://127.0.0.1:${port}${p}`);
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text), headers: r.headers };
}

// name -> port, for the three services
const ports = () => ({ gateway: sys.gw.apiPort, stats: sys.statsAdminPort, presence: sys.presenceAdminPort });

// Waits until path on port answers status; returns that answer.
async function until(port, p, status, what) {
  let last;
  await waitFor(what, async () => {
    last = await get(port, p).catch(() => null);
    return last && last.status === status;
  }, 15000, 50);
  return last;
}

test('every service: /livez 200 ok, /readyz 200 ok, /health as before', async () => {
  for (const [name, port] of Object.entries(ports())) {
    const live = await get(port, '/livez');
    assert.equal(live.status, 200, `${name} /livez`);
    assert.equal(live.body.status, 'ok');
    assert.match(live.headers.get('content-type'), /^application\/json/);
    const ready = await until(port, '/readyz', 200, `${name} ready`);
    assert.equal(ready.body.status, 'ok', `${name} /readyz ${JSON.stringify(ready.body)}`);
    assert.equal(ready.body.nats, 'ok');
  }
  assert.equal((await get(sys.gw.apiPort, '/readyz')).body.stats, 'ok');
  // /health is the seed's document, untouched
  const h = await get(sys.gw.apiPort, '/health');
  assert.equal(h.status, 200);
  for (const k of ['status', 'timestamp', 'connectedClients', 'connectedUsers', 'totalUsers', 'uptime']) {
    assert.ok(k in h.body, `/health lacks ${k}`);
  }
  assert.equal(h.body.status, 'OK');
  assert.equal((await get(sys.statsAdminPort, '/health')).body.status, 'OK');
  assert.equal((await get(sys.presenceAdminPort, '/health')).body.status, 'OK');
});

test('stats-service stopped: the gateway is not ready (stats down) but alive', async () => {
  await sys.stats.kill('SIGTERM');
  const r = await until(sys.gw.apiPort, '/readyz', 503, 'gateway readyz 503 without a stats-service');
  assert.deepEqual(r.body, { status: 'unavailable', nats: 'ok', stats: 'down' });
  assert.equal((await get(sys.gw.apiPort, '/livez')).status, 200);
  assert.equal((await get(sys.presenceAdminPort, '/readyz')).status, 200, 'presence does not need stats');
  await sys.restartStats();
  await until(sys.gw.apiPort, '/readyz', 200, 'gateway ready again');
});

test('NATS down: every /readyz 503, every /livez 200; all ready again once it is back', async () => {
  await sys.nats.kill('SIGKILL');
  for (const [name, port] of Object.entries(ports())) {
    const r = await until(port, '/readyz', 503, `${name} readyz 503 without NATS`);
    assert.equal(r.body.status, 'unavailable', `${name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.nats, 'down');
    const live = await get(port, '/livez');
    assert.equal(live.status, 200, `${name} /livez while NATS is down`);
    assert.equal(live.body.status, 'ok');
  }
  await sys.startNats();
  for (const [name, port] of Object.entries(ports())) {
    await until(port, '/readyz', 200, `${name} ready after NATS is back`);
  }
});

test('gateway SIGTERM: /readyz 503 draining at once, while /livez, /health and REST still serve', async () => {
  const gw = await sys.addGateway({ STATSYNC_SHUTDOWN_DRAIN_MS: '4000', STATSYNC_SHUTDOWN_SPREAD_MS: '0' });
  sys.gateways.splice(sys.gateways.indexOf(gw), 1); // this test stops it itself
  await until(gw.apiPort, '/readyz', 200, 'new gateway ready');
  const t0 = Date.now();
  const exited = gw.kill('SIGTERM');
  const r = await until(gw.apiPort, '/readyz', 503, 'readyz 503 after SIGTERM');
  assert.equal(r.body.status, 'draining', JSON.stringify(r.body));
  assert.equal(r.headers.get('connection'), 'close', 'a draining gateway asks clients to reconnect');
  // Everything else is served as before during the drain delay.
  assert.equal((await get(gw.apiPort, '/livez')).status, 200);
  assert.equal((await get(gw.apiPort, '/health')).status, 200);
  const u = `probe${process.pid}`;
  const p = await fetch(`http://127.0.0.1:${gw.apiPort}/api/users/data/patch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sys.token(u)}`, 'content-type': 'application/json' },
    body: '{"xp":1}',
  });
  assert.equal(p.status, 200, await p.text());
  assert.ok(Date.now() - t0 < 4000, 'all of that within the drain delay (else it proves nothing)');
  const { code } = await exited;
  assert.equal(code, 0, gw.log().slice(-2000));
  assert.ok(Date.now() - t0 >= 3900, 'the gateway served on for the drain delay');
});
