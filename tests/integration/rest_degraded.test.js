// rest_degraded.test.js — the REST edge when its dependencies fail: a
// stopped stats-service, a hung one, a stopped presence-service, NATS down,
// and SIGTERM with requests in flight. Nothing may hang; failures are fast
// 503s with {"error":{code,message}} and /health says DEGRADED.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, waitFor, sleep } = require('../lib/system');

const REQUEST_TIMEOUT_MS = 1500;
const HEALTH_TIMEOUT_MS = 300;

let sys;
let n = 0;
const fresh = (p = 'h') => `${p}${process.pid}x${++n}`;

test.before(async () => {
  sys = await System.start({
    gatewayEnv: {
      STATSYNC_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      STATSYNC_HEALTH_TIMEOUT_MS: String(HEALTH_TIMEOUT_MS),
    },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

const timed = async (fn) => {
  const t0 = Date.now();
  const r = await fn();
  return { ...r, ms: Date.now() - t0 };
};
const health = () => timed(() => sys.http('GET', '/health'));
const patch = (u, body = { xp: 1 }) => timed(() => sys.http('POST', '/api/users/data/patch', { token: sys.token(u), body }));
const get = (u) => timed(() => sys.http('GET', `/api/users/${u}/stats`, { token: sys.token(u) }));

test('stats-service stopped: /health 503 DEGRADED, requests 503 fast', async () => {
  const u = fresh();
  assert.equal((await health()).status, 200);
  assert.equal((await patch(u)).status, 200);

  await sys.stats.kill('SIGTERM');
  const h = await health();
  assert.equal(h.status, 503, h.text);
  assert.equal(h.body.status, 'DEGRADED');
  assert.equal(h.body.services.stats.status, 'DEGRADED');
  assert.equal(h.body.services.presence.status, 'OK');
  assert.equal(h.body.services.nats, 'OK');
  assert.ok(h.ms < HEALTH_TIMEOUT_MS + 500, `health took ${h.ms} ms`);

  for (const call of [() => patch(u), () => get(u), () => timed(() => sys.http('POST', '/api/users/updateStats', { token: sys.token(u), body: { stats: { xp: 1, updatedAt: new Date().toISOString() } } }))]) {
    const r = await call();
    assert.equal(r.status, 503, r.text);
    assert.equal(r.body.error.code, 'partition_unavailable'); // nobody serves the user's partition
    assert.equal(r.headers.get('retry-after'), '1');
    assert.ok(r.ms < REQUEST_TIMEOUT_MS / 2, `503 took ${r.ms} ms, should not wait for the timeout`);
  }
  // a burst is refused fast too and leaves nothing pending
  const burst = await Promise.all(Array.from({ length: 50 }, () => patch(u)));
  for (const r of burst) assert.equal(r.status, 503);

  await sys.restartStats();
  await waitFor('health OK again', async () => (await health()).status === 200, 10000);
  const r = await patch(u);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 2);
});

test('stats-service hung: requests end 503 timeout after the request timeout', async () => {
  const u = fresh();
  assert.equal((await patch(u)).status, 200);
  await sys.stats.freeze();
  try {
    const h = await health();
    assert.equal(h.status, 503);
    assert.equal(h.body.services.stats.error, 'timeout');
    assert.ok(h.ms < HEALTH_TIMEOUT_MS + 500, `health took ${h.ms} ms`);
    const rs = await Promise.all([patch(u), get(u)]);
    for (const r of rs) {
      assert.equal(r.status, 503, r.text);
      assert.equal(r.body.error.code, 'timeout');
      assert.ok(r.ms >= REQUEST_TIMEOUT_MS - 100 && r.ms < REQUEST_TIMEOUT_MS + 1500, `took ${r.ms} ms`);
    }
  } finally {
    sys.stats.thaw();
  }
  await waitFor('health OK again', async () => (await health()).status === 200, 10000);
});

test('presence-service stopped: /health 503 with presence DEGRADED', async () => {
  await sys.presence.kill('SIGTERM');
  const h = await health();
  assert.equal(h.status, 503, h.text);
  assert.equal(h.body.status, 'DEGRADED');
  assert.equal(h.body.services.presence.status, 'DEGRADED');
  assert.equal(h.body.services.stats.status, 'OK');
  assert.equal(typeof h.body.totalUsers, 'number');
  // stats routes do not depend on presence
  assert.equal((await patch(fresh())).status, 200);
  sys.presence.start();
  await waitFor('health OK again', async () => (await health()).status === 200, 10000);
});

test('NATS down: /health and requests 503 fast; all recovers when it is back', async () => {
  const u = fresh();
  await sys.nats.kill('SIGKILL');
  await sleep(100);
  const h = await health();
  assert.equal(h.status, 503, h.text);
  assert.equal(h.body.status, 'DEGRADED');
  assert.equal(h.body.services.nats, 'DEGRADED');
  assert.ok(h.ms < 1000, `health took ${h.ms} ms`);
  const r = await patch(u);
  assert.equal(r.status, 503, r.text);
  assert.equal(r.body.error.code, 'unavailable');
  assert.ok(r.ms < 500, `took ${r.ms} ms`);

  await sys.startNats();
  await waitFor('health OK after NATS restart', async () => (await health()).status === 200, 20000, 200);
  const ok = await patch(u);
  assert.equal(ok.status, 200, ok.text);
});

test('SIGTERM answers requests waiting for a hung service and exits 0', async () => {
  const gw = await sys.addGateway({
    STATSYNC_REQUEST_TIMEOUT_MS: '20000',
    STATSYNC_SHUTDOWN_GRACE_MS: '400',
  });
  const u = fresh();
  const call = (p, init) => fetch(`http://127.0.0.1:${gw.apiPort}${p}`, init)
    .then(async (res) => ({ status: res.status, body: await res.json() }));
  const auth = { authorization: `Bearer ${sys.token(u)}`, 'content-type': 'application/json' };
  assert.equal((await call('/api/users/data/patch', { method: 'POST', headers: auth, body: '{"xp":1}' })).status, 200);

  await sys.stats.freeze();
  try {
    const t0 = Date.now();
    const inflight = Array.from({ length: 5 }, () => call('/api/users/data/patch', { method: 'POST', headers: auth, body: '{"xp":1}' }));
    await sleep(200);
    const exited = gw.kill('SIGTERM');
    const rs = await Promise.all(inflight);
    for (const r of rs) {
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'unavailable');
    }
    const { code } = await exited;
    assert.equal(code, 0, gw.log().slice(-2000));
    assert.ok(Date.now() - t0 < 5000, 'shutdown bounded by the grace period, not the request timeout');
  } finally {
    sys.stats.thaw();
  }
  sys.gateways.splice(sys.gateways.indexOf(gw), 1);
});
