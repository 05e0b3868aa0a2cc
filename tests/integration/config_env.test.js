// config_env.test.js — safe configuration defaults (issue 15 item 8), end to
// end with the real binaries:
//  - every binary warns, one log line per name, about a STATSYNC_* variable
//    no statsync program reads (a typo), and about nothing else: each one is
//    started with every name the other binaries' --help and the scripts
//    (run-local, compose, the edge, bench, the test harnesses) use, as
//    run-local.sh and compose hand every process the same environment;
//  - the JWT secret from STATSYNC_JWT_SECRET_FILE (trailing newline dropped),
//    and both it and STATSYNC_JWT_SECRET set refused;
//  - the public compose sample secret refused unless the gateway is published
//    on loopback only (STATSYNC_PUBLISH_ADDR);
//  - STATSYNC_IDEMPOTENCY_TTL_S of 0 or less refused with a clear message;
//  - STATSYNC_ADMIN_BIND: the admin port listens on that address only.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { System, Proc, bin, freePort, waitFor, SECRET } = require('../lib/system');

const ROOT = path.resolve(__dirname, '../..');
const BINARIES = { gateway: 'statsync-gateway', stats: 'statsync-stats', presence: 'statsync-presence' };
const SAMPLE_SECRET = 'statsync-dev-secret-change-me-0123456789'; // compose/docker-compose.yml
const UNKNOWN = /unknown environment variable/;

const NAME = /\bSTATSYNC_[A-Z0-9_]*[A-Z0-9]\b/g;
const helpNames = (b) => new Set(spawnSync(bin(b), ['--help'], { encoding: 'utf8' }).stdout.match(NAME));

// Every STATSYNC_* name the scripts, compose, the edge and the harnesses use.
function scriptNames() {
  const names = new Set();
  const scan = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p)) if (e !== 'node_modules') scan(path.join(p, e));
    } else if (/\.(sh|js|ya?ml|md)$|Dockerfile$|^run$/.test(path.basename(p))) {
      for (const m of fs.readFileSync(p, 'utf8').match(NAME) || []) names.add(m);
    }
  };
  for (const p of ['scripts', 'edge', 'compose', 'tests/load/bench.sh', 'tests/lib', 'clients/react-native/test',
    'clients/react-native/scripts', '.ci']) {
    if (fs.existsSync(path.join(ROOT, p))) scan(path.join(ROOT, p));
  }
  return names;
}

function unknownWarnings(log) {
  return log.split('\n').filter((l) => UNKNOWN.test(l)).map((l) => JSON.parse(l));
}

test('a STATSYNC_* typo is warned about once by every binary; what other binaries and scripts use is not', async (t) => {
  const all = new Set([...scriptNames(), ...Object.values(BINARIES).flatMap((b) => [...helpNames(b)])]);
  assert.ok(all.has('STATSYNC_APP_PORT') && all.has('STATSYNC_EDGE_GATEWAYS') && all.has('STATSYNC_DATA_DIR'));
  const envFor = (b) => {
    const own = helpNames(b);
    const env = { STATSYNC_JWT_SECRT: 'a typo' };
    for (const n of all) if (!own.has(n)) env[n] = '1';
    return env;
  };
  const sys = await System.start({
    statsEnv: envFor(BINARIES.stats),
    presenceEnv: envFor(BINARIES.presence),
    gatewayEnv: envFor(BINARIES.gateway),
  });
  t.after(() => sys.stop());
  for (const p of [sys.stats, sys.presence, sys.gw]) {
    const w = unknownWarnings(p.log());
    assert.deepEqual(w.map((x) => x.name), ['STATSYNC_JWT_SECRT'], `${p.name} warned about: ${JSON.stringify(w)}`);
    assert.equal(w[0].level, 'warn');
  }
});

test('the JWT secret from STATSYNC_JWT_SECRET_FILE; both it and STATSYNC_JWT_SECRET set is refused', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-secret-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'jwt');
  fs.writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
  const sys = await System.start({ gateways: 0 });
  t.after(() => sys.stop());
  const gw = await sys.addGateway({ STATSYNC_JWT_SECRET: '', STATSYNC_JWT_SECRET_FILE: file });
  const r = await sys.http('GET', '/api/users/filesecret/stats', { token: sys.token('filesecret'), gw });
  assert.equal(r.status, 200, r.text);
  assert.equal(unknownWarnings(gw.log()).length, 0);

  const both = spawnSync(bin('statsync-gateway'), [], {
    env: { PATH: process.env.PATH, STATSYNC_JWT_SECRET: SECRET, STATSYNC_JWT_SECRET_FILE: file },
    encoding: 'utf8', timeout: 10000,
  });
  assert.equal(both.status, 2, both.stderr);
  assert.match(both.stderr, /set STATSYNC_JWT_SECRET or STATSYNC_JWT_SECRET_FILE, not both/);
  const missing = spawnSync(bin('statsync-gateway'), [], {
    env: { PATH: process.env.PATH, STATSYNC_JWT_SECRET_FILE: path.join(dir, 'absent') },
    encoding: 'utf8', timeout: 10000,
  });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /STATSYNC_JWT_SECRET_FILE: cannot read/);
});

test('the public sample secret is refused unless the gateway is published on loopback only', async (t) => {
  for (const publish of [undefined, '0.0.0.0', '192.0.2.7']) {
    const env = { PATH: process.env.PATH, STATSYNC_JWT_SECRET: SAMPLE_SECRET };
    if (publish) env.STATSYNC_PUBLISH_ADDR = publish;
    const r = spawnSync(bin('statsync-gateway'), [], { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, `publish ${publish}: ${r.stderr}`);
    assert.match(r.stderr, /public sample secret/);
  }
  const sys = await System.start({ gateways: 0 });
  t.after(() => sys.stop());
  const gw = await sys.addGateway({ STATSYNC_JWT_SECRET: SAMPLE_SECRET, STATSYNC_PUBLISH_ADDR: '127.0.0.1' });
  await waitFor('ready with the sample secret on loopback', async () => {
    const r = await fetch(`http://127.0.0.1:${gw.apiPort}/readyz`);
    return r.status === 200;
  }, 10000);
});

test('STATSYNC_IDEMPOTENCY_TTL_S of 0 or less is refused with a clear message', () => {
  for (const ttl of ['0', '-5']) {
    const r = spawnSync(bin('statsync-stats'), [], {
      env: { PATH: process.env.PATH, STATSYNC_IDEMPOTENCY_TTL_S: ttl, STATSYNC_DATA_DIR: '/nonexistent' },
      encoding: 'utf8', timeout: 10000,
    });
    assert.equal(r.status, 2, `ttl ${ttl}: ${r.stderr}`);
    assert.match(r.stderr, /STATSYNC_IDEMPOTENCY_TTL_S must be in \[1, .*retry would apply its change twice/);
  }
});

test('STATSYNC_ADMIN_BIND: the admin port listens on that address only; a name is refused', async (t) => {
  const sys = await System.start({ gateways: 0, presence: false });
  t.after(() => sys.stop());
  const port = await freePort();
  const p = new Proc('presence-bound', bin('statsync-presence'), [],
    sys.baseEnv({ STATSYNC_ADMIN_PORT: String(port), STATSYNC_ADMIN_BIND: '127.0.0.2' }),
    path.join(sys.dir, 'presence-bound.log')).start();
  t.after(() => p.kill('SIGTERM'));
  await waitFor('presence on 127.0.0.2', async () => {
    const r = await fetch(`http://127.0.0.2:${port}/livez`).catch(() => null);
    return r && r.status === 200;
  }, 10000);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/livez`), 'nothing listens on 127.0.0.1');
  const bad = spawnSync(bin('statsync-presence'), [], {
    env: { PATH: process.env.PATH, STATSYNC_ADMIN_BIND: 'localhost' }, encoding: 'utf8', timeout: 10000,
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /STATSYNC_ADMIN_BIND must be a numeric IP address/);
});
