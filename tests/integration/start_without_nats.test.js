// start_without_nats.test.js — a service whose NATS is not there yet waits
// for it, trying again, and:
//  - SIGTERM meanwhile stops it at once, cleanly (exit 0, "stopped while
//    starting"): before, cnats retried inside its connect call with the
//    signal blocked and the process never saw it (every binary);
//  - once NATS comes, it connects and serves (the gateway: /readyz 200).
// Waits are for states (a log line, an exit, a 200), each bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { System, Proc, bin, freePort, waitFor, exitOf } = require('../lib/system');

let sys; // only for its temp dir, environment and a nats-server started late
test.before(async () => {
  sys = await System.start({ stats: false, presence: false, gateways: 0 });
  await sys.nats.kill('SIGTERM'); // no NATS until a test starts one
});
test.after(async () => { if (sys) await sys.stop(); });

async function service(name, env = {}) {
  const adminPort = await freePort();
  const p = new Proc(name, bin(name), [], sys.baseEnv({
    STATSYNC_ADMIN_PORT: String(adminPort),
    STATSYNC_API_PORT: String(await freePort()),
    STATSYNC_SOCKET_PORT: String(await freePort()),
    STATSYNC_DATA_DIR: path.join(sys.dir, `data-${name}`),
    ...env,
  }), path.join(sys.dir, `${name}.log`));
  p.start();
  p.adminPort = adminPort;
  return p;
}

for (const name of ['statsync-gateway', 'statsync-stats', 'statsync-presence']) {
  test(`${name}: SIGTERM while it waits for its first NATS connection stops it cleanly`, async () => {
    const p = await service(name);
    await waitFor(`${name} retrying NATS`, () => /nats connect failed; retrying/.test(p.log()), 20000, 50);
    p.child.kill('SIGTERM');
    const end = await exitOf(p, 20000);
    assert.ok(end, `${name} still running 20 s after SIGTERM:\n${p.log().slice(-2000)}`);
    assert.equal(end.code, 0, p.log().slice(-2000));
    assert.match(p.log(), /stopped while starting/);
    assert.doesNotMatch(p.log(), /"level":"error"/, 'a stop is not logged as an error');
  });
}

test('a gateway started before NATS connects once NATS is there, and serves', async () => {
  const apiPort = await freePort();
  const gw = await service('statsync-gateway', { STATSYNC_API_PORT: String(apiPort) });
  try {
    await waitFor('gateway retrying NATS', () => /nats connect failed; retrying/.test(gw.log()), 20000, 50);
    await sys.startNats();
    await waitFor('gateway connected', () => /nats connection created/.test(gw.log()), 20000, 50);
    await waitFor('gateway /livez', async () => (await fetch(`http://127.0.0.1:${apiPort}/livez`).catch(() => null))?.status === 200, 20000, 100);
  } finally {
    gw.child.kill('SIGTERM');
    const end = await exitOf(gw, 20000);
    assert.ok(end && end.code === 0, gw.log().slice(-2000));
  }
});
