// ratelimit_rest.test.js — REST rate limits against the real gateway, with
// small limits set through the environment: a burst of writes past the
// per-user limit gets 429 + Retry-After + {"error":{"code":"rate_limited"}},
// changes nothing, and the same request goes through once Retry-After has
// passed; reads and other users are not affected; the per-IP request limit
// answers 429 too; refusals are counted in statsync_rate_limited_total.
// Loopback is exempt by default, so these gateways run with the exempt list
// set to "none".
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, sleep } = require('../lib/system');
const { parsePrometheus } = require('./rest_helpers');

let sys;
test.before(async () => {
  sys = await System.start({
    gatewayEnv: {
      STATSYNC_RATE_LIMIT_EXEMPT: 'none',
      STATSYNC_RATE_MUTATIONS_PER_S: '1',
      STATSYNC_RATE_MUTATIONS_BURST: '3',
    },
  });
});
test.after(async () => { if (sys) await sys.stop(); });

const patch = (user, delta, gw) => sys.http('POST', '/api/users/data/patch',
  { token: sys.token(user), body: delta, gw });

function assertRateLimited(r) {
  assert.equal(r.status, 429, r.text);
  const ra = r.headers.get('retry-after');
  assert.match(ra || '', /^[1-9][0-9]*$/, `Retry-After: ${ra}`);
  assert.equal(r.body.error.code, 'rate_limited');
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(r.body.error.message.length > 0);
  return Number(ra);
}

async function rateLimitedCount(kind, gw = sys.gw) {
  const r = await sys.http('GET', '/metrics', { gw });
  assert.equal(r.status, 200);
  const s = parsePrometheus(r.text).samples.find((x) => x.name === 'statsync_rate_limited_total' && x.labels.kind === kind);
  return s ? s.value : 0;
}

test('a burst of writes past the per-user limit: 429 + Retry-After, nothing applied, OK after waiting', async () => {
  const user = `rlrest${process.pid}a`;
  const before = await rateLimitedCount('mutation');
  for (let i = 0; i < 3; i++) {
    const r = await patch(user, { xp: 1 });
    assert.equal(r.status, 200, r.text);
  }
  const refused = await patch(user, { xp: 100 });
  const ra = assertRateLimited(refused);
  assert.ok(ra <= 2, `Retry-After ${ra} for a 1/s bucket`);
  // full writes count too
  const full = await sys.http('POST', '/api/users/updateStats', {
    token: sys.token(user), body: { userId: user, stats: { xp: 5, updatedAt: new Date().toISOString() } },
  });
  assertRateLimited(full);
  // reads are not writes
  const read = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user) });
  assert.equal(read.status, 200);
  assert.equal(read.body.xp, 3, 'the refused writes changed nothing');
  // another user has a bucket of their own
  assert.equal((await patch(`${user}other`, { xp: 1 })).status, 200);

  await sleep(ra * 1000 + 100);
  const again = await patch(user, { xp: 1 });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.stats.xp, 4);
  assert.ok(await rateLimitedCount('mutation') >= before + 2);
});

test('a refused write with a body: the answer comes after the body, the connection stays usable', async () => {
  const user = `rlrest${process.pid}b`;
  for (let i = 0; i < 3; i++) assert.equal((await patch(user, { xp: 1 })).status, 200);
  const big = { xp: 1, lastGameResults: { pad: 'x'.repeat(200000) } };
  assertRateLimited(await patch(user, big));
});

test('per-IP REST requests: 429 + Retry-After past the limit, then OK', async () => {
  const gw = await sys.addGateway({
    STATSYNC_RATE_REST_IP_PER_S: '1',
    STATSYNC_RATE_REST_IP_BURST: '4',
  });
  const statuses = [];
  let refused = null;
  for (let i = 0; i < 8; i++) {
    const r = await sys.http('GET', '/health', { gw });
    statuses.push(r.status);
    if (r.status === 429 && !refused) refused = r;
  }
  assert.ok(refused, `no 429 among ${statuses}`);
  const ra = assertRateLimited(refused);
  assert.ok(statuses.filter((s) => s === 429).length >= 3, `statuses ${statuses}`);
  await sleep(ra * 1000 + 100);
  const ok = await sys.http('GET', `/api/users/rlip${process.pid}/stats`, { token: sys.token(`rlip${process.pid}`), gw });
  assert.equal(ok.status, 200, ok.text);
  await sleep(1100);
  assert.ok(await rateLimitedCount('rest_ip', gw) >= 3);
});

test('loopback is exempt from per-IP limits by default, never from a user\'s limit', async () => {
  const gw = await sys.addGateway({
    STATSYNC_RATE_LIMIT_EXEMPT: '',  // empty = the default ("loopback")
    STATSYNC_RATE_REST_IP_PER_S: '1',
    STATSYNC_RATE_REST_IP_BURST: '1',
  });
  const user = `rlrest${process.pid}c`;
  for (let i = 0; i < 8; i++) {
    const r = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user), gw });
    assert.equal(r.status, 200, r.text);
  }
  // the per-user write limit (burst 3) still holds for an exempt address
  for (let i = 0; i < 3; i++) {
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 1 }, gw });
    assert.equal(r.status, 200, r.text);
  }
  assertRateLimited(await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 1 }, gw }));
  const doc = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user), gw });
  assert.equal(doc.body.xp, 3);
});
