// tests/lib/system.js — start the real statsync system for a test:
// a real nats-server on a free loopback port, the real binaries from
// STATSYNC_BIN_DIR (set by ctest), a temporary LMDB data dir.
//
//   const { System } = require('../lib/system');
//   const sys = await System.start();            // nats + stats + presence + 1 gateway
//   const tok = sys.token('alice');              // HS256 JWT for user alice
//   const r = await sys.http('GET', '/api/users/alice/stats', { token: tok });
//   await sys.stop();
//
// With { natsAuth: true } (the default when STATSYNC_TEST_NATS_AUTH=1, so a
// whole test file can run that way) nats-server runs with the configuration
// scripts/nats-config.sh renders — one user per service, each allowed only
// its subjects — and every service gets its own user and password file;
// sys.natsCredentials('gateway') gives them to raw clients, and stop() fails
// when nats-server logged a permissions violation (a permission the subject
// map needs but the configuration lacks), unless { natsViolationsExpected }.
// { natsAuth: true, natsTls: true } adds TLS (a throwaway CA and server
// certificate; the URL is tls://, every service gets STATSYNC_NATS_TLS_CA).
//
// nats-server always runs with JetStream (the stats-service keeps its
// partition leases in a KV bucket), its store in the temp dir: kept across a
// restart of the server (startNats again), as a real server's disk is.
//
// Every process is killed on stop() and on test-process exit. Every wait is
// bounded in time.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./ports');

const ROOT = path.resolve(__dirname, '../..');
const BIN_DIR = process.env.STATSYNC_BIN_DIR || path.join(ROOT, 'build');
const NATS_CONFIG = path.join(ROOT, 'scripts', 'nats-config.sh');
const SECRET = 'statsync-test-secret-0123456789abcdef';
const live = new Set();

process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch (_) { /* already gone */ }
  }
});

function bin(name) {
  const candidates = [
    path.join(BIN_DIR, name),
    path.join(BIN_DIR, 'gateway', name),
    path.join(BIN_DIR, 'stats-service', name),
    path.join(BIN_DIR, 'presence-service', name),
    path.join(BIN_DIR, 'tests', 'load', name),
  ];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(`binary ${name} not found under ${BIN_DIR}`);
}

// freePort: tests/lib/ports.js (below the ephemeral range, reserved across
// the test processes running at once).

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// { code, signal } once p (anything with an `exited` promise: a Proc, a
// spawned run) has exited, or null when it is still running after ms. The
// timer never keeps the test process alive.
function exitOf(p, ms = 20000) {
  return Promise.race([p.exited, new Promise((r) => setTimeout(() => r(null), ms).unref())]);
}

async function waitFor(what, fn, timeoutMs = 10000, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    await sleep(stepMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

// Mints a JWT. opts: { secret, alg ('HS256' | 'none' | ...), exp (seconds since epoch), sub }
function mintToken(sub, opts = {}) {
  const alg = opts.alg || 'HS256';
  const header = b64url(JSON.stringify({ alg, typ: 'JWT' }));
  const claims = { sub, iat: Math.floor(Date.now() / 1000) };
  claims.exp = opts.exp !== undefined ? opts.exp : claims.iat + 3600;
  if (opts.exp === null) delete claims.exp;
  const payload = b64url(JSON.stringify(opts.claims || claims));
  if (alg === 'none') return `${header}.${payload}.`;
  const hmacAlg = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg] || 'sha256';
  const sig = crypto.createHmac(hmacAlg, opts.secret || SECRET).update(`${header}.${payload}`).digest();
  return `${header}.${payload}.${b64url(sig)}`;
}

class Proc {
  constructor(name, file, args, env, logFile) {
    this.name = name;
    this.file = file;
    this.args = args;
    this.env = env;
    this.logFile = logFile;
    this.child = null;
  }

  start() {
    const out = fs.openSync(this.logFile, 'a');
    this.child = spawn(this.file, this.args, { env: this.env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    live.add(this.child);
    const child = this.child;
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }));
    return this;
  }

  get pid() { return this.child && this.child.pid; }

  // SIGSTOP, then wait (bounded) until every thread is really stopped: a
  // multi-threaded process stops asynchronously, and a probe sent in between
  // could still be answered.
  async freeze(timeoutMs = 2000) {
    this.child.kill('SIGSTOP');
    const dir = `/proc/${this.child.pid}/task`;
    await waitFor(`${this.name} stopped`, () => fs.readdirSync(dir).every((t) => {
      const stat = fs.readFileSync(`${dir}/${t}/stat`, 'utf8');
      return /\) [Tt] /.test(stat);
    }), timeoutMs, 5);
  }

  thaw() { this.child.kill('SIGCONT'); }

  async kill(signal = 'SIGKILL', timeoutMs = 15000) {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      return this.exited;
    }
    this.child.kill(signal);
    const t = setTimeout(() => { try { this.child.kill('SIGKILL'); } catch (_) { /* gone */ } }, timeoutMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  log() {
    try { return fs.readFileSync(this.logFile, 'utf8'); } catch (_) { return ''; }
  }

  // What to print when the process ended unexpectedly: its warnings and
  // errors first (a stop's routine lines, e.g. 32 "partition released",
  // would otherwise push the cause out of a tail), then the log's tail.
  story(tail = 3000) {
    const log = this.log();
    const bad = log.split('\n').filter((l) => /"level":"(warn|error|fatal)"|\[(ERR|FTL)\]/.test(l));
    const first = bad.slice(0, 40).join('\n').slice(0, 6000);
    return `${first ? `-- warnings and errors --\n${first}\n-- last lines --\n` : ''}${log.slice(-tail)}`;
  }
}

// The NATS user each service connects as (scripts/nats-config.sh users).
const NATS_USERS = { stats: 'stats', presence: 'presence', gateway: 'gateway' };

class System {
  // opts: { gateways: 1, stats: true, presence: true, env: {extra STATSYNC_* for all}, statsEnv,
  //         presenceEnv, gatewayEnv, natsAuth: STATSYNC_TEST_NATS_AUTH === '1', natsTls: false,
  //         natsViolationsExpected: false, presences: 1 }
  // presences: N starts N presence-service instances (sys.presences, each
  // with its adminPort; sys.presence / sys.presenceAdminPort are the first).
  static async start(opts = {}) {
    const sys = new System(opts);
    try {
      await sys._start();
    } catch (e) {
      // Never leave a half-started system behind (it would hang the test run).
      const logs = sys.logs();
      await sys.kill();
      e.message += `\n${logs}`;
      throw e;
    }
    return sys;
  }

  // Kills every process at once (SIGKILL), without checks.
  async kill() {
    const all = [...this.gateways, ...this.presences, this.stats, this.nats].filter(Boolean);
    await Promise.all(all.map((p) => p.kill('SIGKILL').catch(() => {})));
  }

  constructor(opts) {
    this.opts = opts;
    this.natsAuth = opts.natsAuth !== undefined ? !!opts.natsAuth : process.env.STATSYNC_TEST_NATS_AUTH === '1';
    this.natsTls = !!opts.natsTls;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-test-'));
    this.dataDir = path.join(this.dir, 'data');
    fs.mkdirSync(this.dataDir);
    this.natsStoreDir = path.join(this.dir, 'nats-jetstream');
    this.secret = SECRET;
    this.gateways = [];
    this.presences = [];
  }

  // The environment of a service; natsUser: its NATS user (NATS_USERS), whose
  // credentials it gets when the server asks for them.
  baseEnv(extra = {}, natsUser = null) {
    return {
      PATH: process.env.PATH,
      ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0:abort_on_error=1',
      UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || 'print_stacktrace=1:halt_on_error=1',
      ...(process.env.TSAN_OPTIONS ? { TSAN_OPTIONS: process.env.TSAN_OPTIONS } : {}),
      STATSYNC_NATS_URL: this.natsUrl,
      ...(this.natsAuth && natsUser ? {
        STATSYNC_NATS_USER: natsUser,
        STATSYNC_NATS_PASSWORD_FILE: this.natsPasswordFile(natsUser),
      } : {}),
      ...(this.natsTls ? { STATSYNC_NATS_TLS_CA: this.natsCa } : {}),
      STATSYNC_JWT_SECRET: this.secret,
      STATSYNC_LOG_LEVEL: 'debug',
      // Per-user limits apply whatever the client's address (loopback too),
      // so the harness turns them off; the rate-limit tests set their own.
      STATSYNC_RATE_MUTATIONS_PER_S: '0',
      STATSYNC_MAX_SOCKETS_PER_USER: '0',
      // No lame duck (a drain delay, sockets closed over a window) unless a
      // test asks: every test stops its gateways with SIGTERM.
      STATSYNC_SHUTDOWN_DRAIN_MS: '0',
      STATSYNC_SHUTDOWN_SPREAD_MS: '0',
      ...(this.opts.env || {}),
      ...extra,
    };
  }

  async _start() {
    this.natsPort = await freePort();
    this.natsUrl = `${this.natsTls ? 'tls' : 'nats'}://127.0.0.1:${this.natsPort}`;
    if (this.natsTls) this._makeNatsCerts();
    if (this.natsTls && !this.natsAuth) throw new Error('natsTls needs natsAuth (the rendered config has both)');
    if (this.natsAuth) this._renderNatsConfig();
    await this.startNats();
    if (this.opts.stats !== false) {
      this.statsAdminPort = await freePort();
      this.stats = this._statsProc();
      this.stats.start();
      await this.waitHttp(this.statsAdminPort, '/health', this.stats);
    }
    if (this.opts.presence !== false) {
      for (let i = 0; i < (this.opts.presences || 1); i++) await this.addPresence();
      // ready: its picture whole, it answers pings and /health counts
      for (const p of this.presences) await this.waitHttp(p.adminPort, '/readyz', p);
    }
    const n = this.opts.gateways === undefined ? 1 : this.opts.gateways;
    for (let i = 0; i < n; i++) await this.addGateway();
  }

  // One more presence-service instance (the first is sys.presence).
  async addPresence(extraEnv = {}) {
    const adminPort = await freePort();
    const i = this.presences.length;
    const p = new Proc(i ? `presence${i}` : 'presence', bin('statsync-presence'), [],
      this.baseEnv({ STATSYNC_ADMIN_PORT: String(adminPort), ...(this.opts.presenceEnv || {}), ...extraEnv },
        NATS_USERS.presence),
      path.join(this.dir, i ? `presence${i}.log` : 'presence.log'));
    p.adminPort = adminPort;
    this.presences.push(p); // before waiting, so a failed start is still killed
    if (!i) { this.presence = p; this.presenceAdminPort = adminPort; }
    p.start();
    await this.waitHttp(adminPort, '/health', p);
    return p;
  }

  _statsProc() {
    return new Proc('stats', bin('statsync-stats'), [],
      this.baseEnv({
        STATSYNC_DATA_DIR: this.dataDir,
        STATSYNC_ADMIN_PORT: String(this.statsAdminPort),
        ...(this.opts.statsEnv || {}),
      }, NATS_USERS.stats),
      path.join(this.dir, 'stats.log'));
  }

  // scripts/nats-config.sh render: the server's users and permissions (and
  // TLS), every user's password file beside them.
  _renderNatsConfig() {
    this.natsAuthDir = path.join(this.dir, 'nats-auth');
    const tls = this.natsTls ? ['--tls-cert', this.natsCert, '--tls-key', this.natsKey] : [];
    execFileSync('bash', [NATS_CONFIG, 'render', this.natsAuthDir, ...tls, '--jetstream', this.natsStoreDir],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    this.natsConfig = path.join(this.natsAuthDir, 'nats-server.conf');
  }

  // A throwaway CA and a server certificate it signed, for 127.0.0.1 and
  // localhost (openssl; nothing leaves the test's directory).
  _makeNatsCerts() {
    const d = path.join(this.dir, 'nats-tls');
    fs.mkdirSync(d, { mode: 0o700 });
    const ssl = (...args) => execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'ignore', 'pipe'] });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=statsync test NATS CA', '-keyout', 'ca.key', '-out', 'ca.crt');
    ssl('req', ...ec, '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
    fs.writeFileSync(path.join(d, 'ext.cnf'), `subjectAltName=${this.opts.natsTlsSan || 'DNS:localhost,IP:127.0.0.1'}\n`);
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
      '-extfile', 'ext.cnf', '-out', 'server.crt');
    this.natsCa = path.join(d, 'ca.crt');
    this.natsCert = path.join(d, 'server.crt');
    this.natsKey = path.join(d, 'server.key');
  }

  natsPasswordFile(user) { return path.join(this.natsAuthDir, user, 'password'); }

  // { user, pass } of a NATS user of the rendered configuration.
  natsCredentials(user) {
    return { user, pass: fs.readFileSync(this.natsPasswordFile(user), 'utf8').replace(/\r?\n$/, '') };
  }

  // The permissions violations nats-server logged ("Publish Violation - User
  // "gateway", Subject ...").
  natsViolations() {
    return this.nats ? this.nats.log().split('\n').filter((l) => /Violation/.test(l)) : [];
  }

  // nats-server's /connz: the client connections it holds now (a state to
  // wait for, e.g. a killed client's connection gone, its subscriptions with it).
  async natsConnz() {
    const r = await fetch(`http://127.0.0.1:${this.natsMonitorPort}/connz?limit=1024`);
    return (await r.json()).connections || [];
  }

  async startNats() {
    // The rendered config has its jetstream block; without one, the flags.
    const conf = this.natsConfig ? ['-c', this.natsConfig] : ['-js', '-sd', this.natsStoreDir];
    // its monitoring port: tests wait on what the server knows (natsConnz)
    if (!this.natsMonitorPort) this.natsMonitorPort = await freePort();
    this.nats = new Proc('nats', 'nats-server', [...conf, '-a', '127.0.0.1', '-p', String(this.natsPort),
      '-m', String(this.natsMonitorPort)],
      { PATH: process.env.PATH }, path.join(this.dir, 'nats.log')).start();
    await waitFor('nats-server', () => new Promise((resolve) => {
      const s = net.connect(this.natsPort, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    }), 10000);
  }

  async addGateway(extraEnv = {}) {
    const apiPort = await freePort();
    const socketPort = await freePort();
    const idx = this.gateways.length;
    const gw = new Proc(`gateway${idx}`, bin('statsync-gateway'), [],
      this.baseEnv({
        STATSYNC_API_PORT: String(apiPort),
        STATSYNC_SOCKET_PORT: String(socketPort),
        STATSYNC_GATEWAY_ID: `gw${idx}-${process.pid}`,
        ...(this.opts.gatewayEnv || {}),
        ...extraEnv,
      }, NATS_USERS.gateway),
      path.join(this.dir, `gateway${idx}.log`));
    gw.apiPort = apiPort;
    gw.socketPort = socketPort;
    gw.start();
    this.gateways.push(gw); // before waiting, so a failed start is still killed
    await this.waitHttp(apiPort, '/health', gw, true);
    return gw;
  }

  // Restarts a gateway on the same ports (after kill).
  async restartGateway(gw) {
    gw.start();
    await this.waitHttp(gw.apiPort, '/health', gw, true);
    return gw;
  }

  async restartStats() {
    this.stats.start();
    await this.waitHttp(this.statsAdminPort, '/health', this.stats);
  }

  // Restarts a presence-service instance (the first by default) on the same
  // admin port (after kill).
  async restartPresence(p = this.presence) {
    p.start();
    await this.waitHttp(p.adminPort, '/health', p);
  }

  // Waits until GET path answers (200, or any status when anyStatus).
  async waitHttp(port, p, proc, anyStatus = false) {
    await waitFor(`${proc.name} on :${port}${p}`, async () => {
      if (proc.child && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
        throw new Error(`${proc.name} exited early:\n${proc.story()}`);
      }
      const r = await fetch(`http://127.0.0.1:${port}${p}`).catch(() => null);
      return r && (anyStatus || r.status === 200);
    }, 20000, 50);
  }

  get gw() { return this.gateways[0]; }
  get apiUrl() { return `http://127.0.0.1:${this.gw.apiPort}`; }
  get socketUrl() { return `http://127.0.0.1:${this.gw.socketPort}`; }

  token(userId, opts = {}) { return mintToken(userId, { secret: this.secret, ...opts }); }

  // HTTP helper: returns { status, headers, body (parsed JSON or text), text }.
  async http(method, p, { token, body, headers = {}, gw = this.gw, raw } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const r = await fetch(`http://127.0.0.1:${gw.apiPort}${p}`, { method, headers: h, body: payload });
    const text = await r.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch (_) { /* not JSON */ }
    return { status: r.status, headers: r.headers, body: parsed, text };
  }

  logs() {
    const all = [this.nats, this.stats, ...this.presences, ...this.gateways].filter(Boolean);
    return all.map((p) => `==== ${p.name} ====\n${p.log().slice(-4000)}`).join('\n');
  }

  async stop() {
    const all = [...this.gateways, ...this.presences, this.stats].filter(Boolean);
    const results = await Promise.all(all.map((p) => p.kill('SIGTERM')));
    await this.nats.kill('SIGTERM');
    // A sanitizer report makes a service exit non-zero: surface it.
    const bad = all.filter((p, i) => results[i] && results[i].code !== 0 && results[i].code !== null);
    // Under auth, a refused publish or subscription of a service is a
    // permission the configuration lacks (nats-server logs each one).
    const violations = this.natsAuth && !this.opts.natsViolationsExpected ? this.natsViolations() : [];
    // The logs go with the temporary directory: read the culprits' tails first.
    const tails = bad.map((p) => `==== ${p.name} (exit ${results[all.indexOf(p)].code}) ====\n${p.log().slice(-6000)}`);
    if (!process.env.STATSYNC_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
    if (bad.length) {
      throw new Error(`processes exited uncleanly: ${bad.map((p) => p.name).join(', ')}\n${tails.join('\n')}`);
    }
    if (violations.length) {
      throw new Error(`nats-server refused a service (scripts/nats-config.sh lacks a permission):\n${violations.join('\n')}`);
    }
  }
}

module.exports = { System, Proc, mintToken, freePort, waitFor, exitOf, sleep, bin, SECRET, NATS_CONFIG, NATS_USERS, ROOT };
