// shutdown_under_load.test.js — SIGTERM under load (issue 15 item 6): while
// sockets and REST clients write, the gateway and then the stats-service get
// SIGTERM. Each must exit 0 — in the ASan/UBSan and TSan passes a sanitizer
// report makes the process exit non-zero, so this is where a use after free,
// a leak or a race at shutdown shows — and every acknowledged write is in the
// final document (nothing acknowledged is lost).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, waitFor } = require('../lib/system');
const { connect } = require('../compat/sio_helpers');

test('SIGTERM to the gateway and the stats-service under load: exit 0, nothing acknowledged lost', async (t) => {
  const sys = await System.start({ gateways: 2 });
  t.after(() => sys.kill());
  const user = `sdload${process.pid}`;
  const [g0, g1] = sys.gateways;
  const sockets = await Promise.all([0, 1, 2, 3].map(() => connect(sys, user, { transports: ['websocket'] }, g0)));
  let acked = 0;
  let running = true;
  let n = 0;
  const writers = sockets.map(async (s) => {
    while (running && s.connected) {
      const ack = await s.timeout(3000).emitWithAck('user:clientUpdate', { opId: `sd-${++n}`, delta: { xp: 1 } }).catch(() => null);
      if (ack && ack.ok) acked += 1;
    }
  });
  const rest = (async () => {
    while (running) {
      const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 1 }, gw: g1 }).catch(() => null);
      if (r && r.status === 200) acked += 1;
    }
  })();
  await waitFor('load flowing', () => acked >= 50, 20000, 20);
  // the gateway holding the sockets, mid-load
  const gwExit = await g0.kill('SIGTERM');
  assert.equal(gwExit.code, 0, `gateway exit ${JSON.stringify(gwExit)}\n${g0.log().slice(-3000)}`);
  await waitFor('REST still writing', () => acked >= 80, 20000, 20);
  // the stats-service, with REST writes in flight
  const stExit = await sys.stats.kill('SIGTERM');
  assert.equal(stExit.code, 0, `stats exit ${JSON.stringify(stExit)}\n${sys.stats.log().slice(-3000)}`);
  running = false;
  await Promise.all([...writers, rest]);
  for (const s of sockets) s.close();
  await sys.restartStats();
  const doc = await waitFor('the document', async () => {
    const r = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user), gw: g1 });
    return r.status === 200 && r.body;
  }, 20000, 100);
  assert.ok(doc.xp >= acked, `every acknowledged write is stored: xp ${doc.xp} < ${acked} acks`);
  sys.gateways.splice(0, 1); // g0 has exited
  await sys.stop();
});
