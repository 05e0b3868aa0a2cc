// compose_config.test.js — the Docker deployment (compose/) checked without
// Docker: there is no Docker engine on the development and CI machines, so
//
//  - `docker-compose config` (Debian package docker-compose) or
//    `docker compose config` must accept compose/docker-compose.yml;
//  - compose/Dockerfile is parsed, and every source path it COPYs must exist
//    in the repository (and survive .dockerignore), every binary or path it
//    takes from the CMake build must exist in this build (STATSYNC_BIN_DIR,
//    set by ctest), and the copied sources must be enough to configure;
//  - every STATSYNC_* variable the compose file or the Dockerfile sets must be
//    one the binary documents in its --help;
//  - every shared library a binary needs must come from a Debian package its
//    runtime image installs (or from the base image);
//  - health checks (on /readyz), non-root users, SIGTERM, health-gated start
//    order, the published ports (127.0.0.1 unless STATSYNC_PUBLISH_ADDR says
//    otherwise, and then the public default secret refused by the gateway)
//    and the LMDB volume are where the README says they are;
//  - NATS runs with one user per service (scripts/nats-config.sh, rendered
//    by the nats-auth service before nats starts): nats-server reads the
//    rendered config from a read-only volume, every service connects as its
//    own user with a password file on a read-only volume no other runtime
//    container mounts, and nats-auth runs the real script, non-root;
//  - the cluster shape of scripts/run-cluster.sh: 3 NATS nodes (routes,
//    JetStream on a volume each, every node rendered by nats-auth), 2
//    stats-services with their partition sets, instance ids and a data
//    volume each, 2 presence-services, 2 gateways; every check above holds
//    for every instance of a kind;
//  - the edge (nginx, target `edge`): its config, rendered by
//    edge/render-nginx.sh from the compose environment, passes `nginx -t`;
//    it lists exactly the compose gateways (tag = their STATSYNC_ROUTE_TAG,
//    their fixed addresses and ports), every gateway trusts the edge's fixed
//    address, and docker-compose.tls.yml mounts the certificate it names;
//  - the observability pack (profile "observability", compose/observability/):
//    official pinned Prometheus and Grafana images, their files mounted
//    read-only, on 127.0.0.1; prometheus.yml scrapes exactly the statsync
//    services of the file at their ports and loads only files beside it;
//    Grafana's datasource is that Prometheus and every panel uses it
//    (that the configuration works against the real services:
//    observability.test.js).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { NATS_USERS } = require('../lib/system');
const { readYaml } = require('../lib/yaml');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');
const COMPOSE_DIR = path.join(ROOT, 'compose');
const COMPOSE_FILE = path.join(COMPOSE_DIR, 'docker-compose.yml');
const COMPOSE_TLS_FILE = path.join(COMPOSE_DIR, 'docker-compose.tls.yml');
const EDGE_RENDER = path.join(ROOT, 'edge', 'render-nginx.sh');
const DOCKERFILE = path.join(COMPOSE_DIR, 'Dockerfile');
const BIN_DIR = path.resolve(process.env.STATSYNC_BIN_DIR || path.join(ROOT, 'build'));
const SANITIZED = process.env.STATSYNC_SANITIZED === '1';

// The service each compose entry runs, and so the runtime libraries it may need.
const SERVICES = ['gateway', 'stats', 'presence'];
// The cluster (scripts/run-cluster.sh's shape): instances of each kind.
const SHAPE = { nats: 3, stats: 2, presence: 2, gateway: 2 };

function run(file, args, opts = {}) {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 60000, ...opts });
  if (r.error && r.error.code === 'ENOENT') return null;
  return r;
}

function have(cmd) {
  const r = run('sh', ['-c', `command -v ${cmd}`]);
  return r && r.status === 0;
}

// A clean environment: the ${VAR:-default} values in the compose file must be
// the defaults, whatever the developer's shell exports.
function cleanEnv() {
  return { PATH: process.env.PATH, HOME: process.env.HOME || os.tmpdir(), LANG: 'C.UTF-8' };
}

// --- docker compose ------------------------------------------------------

let composeTool; // { name, config(file) -> {status, stdout, stderr} }
function findComposeTool() {
  if (composeTool !== undefined) return composeTool;
  composeTool = null;
  const v2 = run('docker', ['compose', 'version'], { env: cleanEnv() });
  if (v2 && v2.status === 0) {
    composeTool = {
      name: 'docker compose',
      config: (file, env = {}) => run('docker', ['compose', ...[].concat(file).flatMap((f) => ['-f', f]), 'config', '--format', 'json'],
        { env: { ...cleanEnv(), ...env } }),
      toJson: (out) => JSON.parse(out),
    };
    return composeTool;
  }
  const v1 = run('docker-compose', ['version'], { env: cleanEnv() });
  if (v1 && v1.status === 0) {
    composeTool = {
      name: 'docker-compose',
      config: (file, env = {}) => run('docker-compose', [...[].concat(file).flatMap((f) => ['-f', f]), 'config'],
        { env: { ...cleanEnv(), ...env } }),
      // docker-compose 1.x prints YAML only; it is a Python program, so its
      // YAML library is there to turn that into JSON.
      toJson: (out) => {
        const r = run('python3', ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
          { input: out });
        assert.ok(r && r.status === 0, `python3 yaml -> json failed: ${r && r.stderr}`);
        return JSON.parse(r.stdout);
      },
    };
  }
  return composeTool;
}

function composeToolOrFail() {
  const tool = findComposeTool();
  assert.ok(tool, 'neither `docker compose` nor `docker-compose` is installed: install the Debian package '
    + 'docker-compose (scripts/deps.sh test does)');
  return tool;
}

const composeCache = new Map();
// The resolved compose file (or files, later ones overriding earlier ones),
// with the operator's variables env (none by default).
function composeConfig(files = COMPOSE_FILE, env = {}) {
  const key = [...[].concat(files), JSON.stringify(env)].join('\n');
  if (composeCache.has(key)) return composeCache.get(key);
  const tool = composeToolOrFail();
  const r = tool.config(files, env);
  const names = [].concat(files).map((f) => path.relative(ROOT, f)).join(' + ');
  assert.equal(r.status, 0, `${tool.name} config rejected ${names}:\n${r.stderr}${r.stdout}`);
  // "The FOO variable is not set. Defaulting to a blank string." is a bug in the file.
  assert.doesNotMatch(r.stderr, /variable is not set|WARN/i, `${tool.name} config warned:\n${r.stderr}`);
  composeCache.set(key, tool.toJson(r.stdout));
  return composeCache.get(key);
}

// The compose services of one kind (built from that Dockerfile target:
// gateway0, gateway1, ...), in name order.
function instances(cfg, kind) {
  return Object.keys(cfg.services).filter((n) => cfg.services[n].build && cfg.services[n].build.target === kind).sort();
}

// The NATS nodes: the services that run the official nats image.
function natsNodes(cfg) {
  return Object.keys(cfg.services).filter((n) => /^nats:/.test(cfg.services[n].image || '')).sort();
}

// --- Dockerfile parsing --------------------------------------------------

// Returns { args: {global ARG defaults}, stages: [{name, base, instrs: [{op, args, line}]}] }.
function parseDockerfile(text) {
  const lines = text.split('\n');
  const instrs = [];
  let cur = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (cur === null && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (cur !== null && trimmed.startsWith('#')) continue; // comments inside a continuation
    let body = raw;
    const cont = /\\\s*$/.test(body);
    if (cont) body = body.replace(/\\\s*$/, '');
    if (cur === null) cur = { text: body, line: i + 1 };
    else cur.text += ` ${body.trim()}`;
    if (!cont) {
      instrs.push(cur);
      cur = null;
    }
  }
  assert.equal(cur, null, 'Dockerfile ends inside a line continuation');
  const out = { args: {}, stages: [] };
  let stage = null;
  for (const { text: t, line } of instrs) {
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(t);
    assert.ok(m, `Dockerfile line ${line}: cannot parse "${t}"`);
    const op = m[1].toUpperCase();
    const args = m[2].trim();
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(f, `Dockerfile line ${line}: bad FROM "${args}"`);
      stage = { name: f[2] || String(out.stages.length), base: f[1], instrs: [], line };
      out.stages.push(stage);
      continue;
    }
    if (stage === null) {
      assert.equal(op, 'ARG', `Dockerfile line ${line}: only ARG may come before the first FROM`);
      const a = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(args);
      out.args[a[1]] = a[2] !== undefined ? a[2].replace(/^"(.*)"$/, '$1') : '';
      continue;
    }
    stage.instrs.push({ op, args, line });
  }
  return out;
}

function substArgs(s, vars) {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => {
    const k = a || b;
    return vars[k] !== undefined ? vars[k] : '';
  });
}

// "--from=build --chown=x a b dest" or JSON form -> { flags, srcs, dest }
function parseCopy(args) {
  let rest = args;
  const flags = {};
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!m) break;
    flags[m[1]] = m[2] === undefined ? true : m[2];
    rest = rest.slice(m[0].length);
  }
  let parts;
  if (rest.startsWith('[')) parts = JSON.parse(rest);
  else parts = rest.split(/\s+/).filter(Boolean);
  assert.ok(parts.length >= 2, `COPY needs a source and a destination: "${args}"`);
  return { flags, srcs: parts.slice(0, -1), dest: parts[parts.length - 1] };
}

// ENV a=b c="d e"  |  ENV a b   -> {a: 'b', c: 'd e'}
function parseEnv(args) {
  const env = {};
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const m = /^(\S+)\s+(.*)$/.exec(args);
    env[m[1]] = m[2];
    return env;
  }
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let m;
  while ((m = re.exec(args)) !== null) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  return env;
}

// Packages named by `apt-get install` in a RUN line.
function aptPackages(runText) {
  const pkgs = [];
  for (const cmd of runText.split(/&&|;|\|\|/)) {
    const m = /apt-get\s+(?:-\S+\s+)*install\s+(.*)$/.exec(cmd.trim());
    if (!m) continue;
    for (const w of m[1].split(/\s+/)) {
      if (w && !w.startsWith('-')) pkgs.push(w.replace(/[=:].*$/, ''));
    }
  }
  return pkgs;
}

let dfCache;
function dockerfile() {
  if (dfCache) return dfCache;
  const df = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
  const byName = new Map(df.stages.map((s) => [s.name, s]));
  // The chain of stages a target is built from, base first.
  df.chain = (name) => {
    const chain = [];
    let s = byName.get(name);
    while (s) {
      chain.unshift(s);
      s = byName.get(substArgs(s.base, df.args));
    }
    return chain;
  };
  df.stage = (name) => byName.get(name);
  df.instrs = (name, op) => df.chain(name).flatMap((s) => s.instrs.filter((i) => i.op === op));
  df.last = (name, op) => {
    const all = df.instrs(name, op);
    return all.length ? all[all.length - 1] : null;
  };
  df.env = (name) => Object.assign({}, ...df.instrs(name, 'ENV').map((i) => parseEnv(i.args)));
  df.packages = (name) => df.instrs(name, 'RUN').flatMap((i) => aptPackages(i.args));
  // The build stage: the one that runs cmake; its build dir inside the image.
  const build = df.stages.find((s) => s.instrs.some((i) => i.op === 'RUN' && /cmake\s.*--build/.test(i.args)));
  assert.ok(build, 'no stage of compose/Dockerfile runs `cmake --build`');
  const workdirs = build.instrs.filter((i) => i.op === 'WORKDIR');
  const workdir = workdirs.length ? workdirs[workdirs.length - 1].args : '/';
  const b = /cmake\s+-S\s*\S+\s+-B\s*(\S+)/.exec(build.instrs.filter((i) => i.op === 'RUN').map((i) => i.args).join(' '));
  assert.ok(b, 'the build stage names no CMake build dir (-B dir)');
  df.buildStage = build;
  df.buildDirInImage = path.posix.resolve(workdir, b[1]);
  df.buildDirRel = b[1];
  dfCache = df;
  return df;
}

// A path inside the image's CMake build dir -> the same file in STATSYNC_BIN_DIR.
function hostBuildPath(df, imagePath) {
  const rel = path.posix.relative(df.buildDirInImage, imagePath);
  if (rel.startsWith('..') || path.posix.isAbsolute(rel)) return null;
  return path.join(BIN_DIR, rel);
}

// --- .dockerignore (the subset of Docker's rules this repo can use) ------

function dockerignore() {
  const file = path.join(ROOT, '.dockerignore');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const neg = l.startsWith('!');
      let p = path.posix.normalize(neg ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '^';
      for (let i = 0; i < p.length; i++) {
        const c = p[i];
        if (c === '*' && p[i + 1] === '*') {
          i++;
          if (p[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*';
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^$(){}|[\]\\]/g, '\\$&');
      }
      return { neg, re: new RegExp(`${re}$`), text: l };
    });
}

function ignored(rel, patterns) {
  let out = false;
  const parts = rel.split('/');
  for (const p of patterns) {
    let hit = false;
    for (let k = 1; k <= parts.length && !hit; k++) hit = p.re.test(parts.slice(0, k).join('/'));
    if (hit) out = !p.neg;
  }
  return out;
}

function walk(dir, base = dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) walk(full, base, out);
    else out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out;
}

// --- binaries --------------------------------------------------------------

// The binary a target runs: its exec-form ENTRYPOINT, found through the COPY
// that put it there, in this build.
function targetBinaries(df, target) {
  const copies = df.instrs(target, 'COPY').map((i) => ({ ...parseCopy(i.args), line: i.line }))
    .filter((c) => c.flags.from === df.buildStage.name);
  return copies.flatMap((c) => c.srcs.map((src) => ({
    src,
    dest: c.dest.endsWith('/') ? path.posix.join(c.dest, path.posix.basename(src)) : c.dest,
    host: hostBuildPath(df, src),
    line: c.line,
  })));
}

function entrypoint(df, target) {
  const ep = df.last(target, 'ENTRYPOINT');
  assert.ok(ep, `target ${target} has no ENTRYPOINT`);
  assert.ok(ep.args.startsWith('['), `target ${target}: ENTRYPOINT must be the exec form (JSON array), so the `
    + 'binary is PID 1 and receives SIGTERM itself');
  const argv = JSON.parse(ep.args);
  const bin = targetBinaries(df, target).find((b) => b.dest === argv[0]);
  assert.ok(bin, `target ${target}: ENTRYPOINT ${argv[0]} is not a binary COPY'd from the build stage`);
  return bin;
}

const helpCache = new Map();
function helpText(file) {
  if (helpCache.has(file)) return helpCache.get(file);
  const r = run(file, ['--help'], { env: { PATH: process.env.PATH, ASAN_OPTIONS: 'detect_leaks=0' }, timeout: 10000 });
  assert.ok(r, `cannot run ${file}`);
  const text = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `${path.basename(file)} --help exited ${r.status} (signal ${r.signal}); every binary `
    + `must answer --help with its STATSYNC_* settings. Output:\n${text}`);
  helpCache.set(file, text);
  return text;
}

// ==========================================================================

test('docker compose config accepts compose/docker-compose.yml', () => {
  const cfg = composeConfig();
  assert.ok(cfg.services, 'no services in the resolved compose file');
  assert.equal(natsNodes(cfg).length, SHAPE.nats, `NATS nodes: ${natsNodes(cfg)}`);
  for (const s of SERVICES) assert.equal(instances(cfg, s).length, SHAPE[s], `${s} instances: ${instances(cfg, s)}`);
  assert.ok(cfg.services.edge, 'service edge missing');
  const obs = obsConfig();
  for (const name of PACK) assert.ok(obs.services[name], `${name} missing with the observability profile`);
});

test('the compose tool really validates: a broken file is refused', () => {
  const tool = composeToolOrFail();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-compose-'));
  try {
    const bad = [
      // not YAML
      'services:\n  gateway:\n    image: x\n   ports: [3000\n',
      // YAML, but not a valid compose file (unknown key, wrong type)
      'services:\n  gateway:\n    image: x\n    depends_on: 5\n    portz: ["3000:3000"]\n',
    ];
    for (const [i, text] of bad.entries()) {
      const f = path.join(dir, `bad${i}.yml`);
      fs.writeFileSync(f, text);
      const r = tool.config(f);
      assert.notEqual(r.status, 0, `${tool.name} config accepted a broken file:\n${text}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('compose: nats is the official image, pinned to 2.x, with a health check on its monitoring port', () => {
  const cfg = composeConfig();
  for (const name of natsNodes(cfg)) {
    const nats = cfg.services[name];
    assert.match(nats.image, /^nats:2\.\d+(\.\d+)?(-[a-z0-9.]+)?$/, `${name} image ${nats.image} must be a pinned 2.x tag`);
    assert.ok(nats.healthcheck && nats.healthcheck.test, `${name} has no healthcheck`);
    const cmd = [].concat(nats.command || []).join(' ');
    const port = (/--http_port[ =](\d+)|-m[ =](\d+)/.exec(cmd) || []).slice(1).find(Boolean);
    assert.ok(port, `${name} command "${cmd}" does not enable the monitoring port (--http_port)`);
    assert.match([].concat(nats.healthcheck.test).join(' '), new RegExp(`:${port}/healthz`));
    assert.ok(nats.restart, `${name}: no restart policy`);
  }
});

test('compose: the services are built from compose/Dockerfile targets with the repo as context', () => {
  const cfg = composeConfig();
  const df = dockerfile();
  for (const s of SERVICES.flatMap((k) => instances(cfg, k))) {
    const b = cfg.services[s].build;
    assert.ok(b && b.context, `${s}: no build section`);
    assert.equal(path.resolve(COMPOSE_DIR, b.context), ROOT, `${s}: build context must be the repository root`);
    assert.equal(path.resolve(path.resolve(COMPOSE_DIR, b.context), b.dockerfile || 'Dockerfile'), DOCKERFILE);
    assert.ok(b.target, `${s}: no build target`);
    assert.ok(df.stage(b.target), `${s}: target ${b.target} is not a stage of compose/Dockerfile`);
    assert.ok(cfg.services[s].restart, `${s}: no restart policy`);
  }
});

test('compose: start order is gated on health (nats -> stats, presence -> gateway -> edge)', () => {
  const cfg = composeConfig();
  const of = (k) => (k === 'nats' ? natsNodes(cfg) : k === 'edge' ? ['edge'] : instances(cfg, k));
  const want = { stats: ['nats'], presence: ['nats'], gateway: ['nats', 'stats', 'presence'], edge: ['gateway'] };
  for (const [kind, kinds] of Object.entries(want)) {
    for (const svc of of(kind)) {
      const d = cfg.services[svc].depends_on || {};
      for (const dep of kinds.flatMap(of)) {
        assert.ok(d[dep], `${svc} does not depend on ${dep}`);
        assert.equal(d[dep].condition, 'service_healthy', `${svc} -> ${dep} must wait for service_healthy`);
      }
    }
  }
  // Every service something waits on must have a health check: in the compose
  // file, or a HEALTHCHECK in its image.
  const df = dockerfile();
  for (const s of [...natsNodes(cfg), ...SERVICES.flatMap((k) => instances(cfg, k))]) {
    const svc = cfg.services[s];
    const inImage = svc.build && df.last(svc.build.target, 'HEALTHCHECK');
    assert.ok((svc.healthcheck && !svc.healthcheck.disable) || (inImage && !/^NONE$/i.test(inImage.args)),
      `${s} has no health check`);
  }
});

test('compose: gateway publishes 3000 (REST) and 3001 (Socket.IO) and listens on them', () => {
  const cfg = composeConfig();
  const seen = new Set();
  for (const [i, name] of instances(cfg, 'gateway').entries()) {
    const gw = cfg.services[name];
    const ports = (gw.ports || []).map((p) => (typeof p === 'string'
      ? { target: Number(p.split(':').pop().split('/')[0]), published: Number(p.split(':').slice(-2, -1)[0]) }
      : { target: Number(p.target), published: Number(p.published) }));
    const env = { ...dockerfile().env('gateway'), ...(gw.environment || {}) };
    // The first gateway on 3000 and 3001, the others on ports of their own.
    for (const [port, v] of [[3000, 'STATSYNC_API_PORT'], [3001, 'STATSYNC_SOCKET_PORT']]) {
      const p = i === 0 ? ports.find((x) => x.published === port) : ports.find((x) => String(x.target) === String(env[v]));
      assert.ok(p, `${name} does not publish ${i === 0 ? port : v}: ${JSON.stringify(gw.ports)}`);
      assert.equal(String(env[v]), String(p.target), `${name}: ${v} must be the container port published as ${p.published}`);
      assert.ok(!seen.has(p.published), `${name} publishes ${p.published}, which another gateway publishes too`);
      seen.add(p.published);
    }
    assert.ok(env.STATSYNC_JWT_SECRET && env.STATSYNC_JWT_SECRET.length >= 16,
      `${name} needs a STATSYNC_JWT_SECRET of at least 16 bytes`);
  }
});

// A service's published ports as {host, published, target}: the JSON of
// `docker compose config` or the "host:published:target/proto" strings of
// docker-compose 1.x ("" = every address).
function publishedPorts(svc) {
  return (svc.ports || []).map((p) => {
    if (typeof p !== 'string') return { host: p.host_ip || '', published: Number(p.published), target: Number(p.target) };
    const parts = p.split('/')[0].split(':');
    return { host: parts.length > 2 ? parts.slice(0, -2).join(':') : '', published: Number(parts[parts.length - 2]), target: Number(parts[parts.length - 1]) };
  });
}

// A gateway's environment in the container (image ENV, then compose's); the
// first gateway's by default.
function gatewayEnv(cfg, name = instances(cfg, 'gateway')[0]) {
  return { ...dockerfile().env('gateway'), ...(cfg.services[name].environment || {}) };
}

test('compose: every port is published on 127.0.0.1 unless STATSYNC_PUBLISH_ADDR says otherwise, and the gateway knows where', () => {
  const cfg = composeConfig();
  for (const [name, svc] of Object.entries(cfg.services)) {
    for (const p of publishedPorts(svc)) {
      assert.equal(p.host, '127.0.0.1', `${name} publishes ${p.published} on "${p.host || 'every address'}" by default: `
        + 'the default JWT secret is public');
    }
  }
  for (const gw of instances(cfg, 'gateway')) assert.equal(gatewayEnv(cfg, gw).STATSYNC_PUBLISH_ADDR, '127.0.0.1');
  const open = composeConfig(COMPOSE_FILE, { STATSYNC_PUBLISH_ADDR: '0.0.0.0' });
  for (const name of [...instances(open, 'gateway'), 'edge']) {
    const ports = publishedPorts(open.services[name]);
    assert.ok(ports.length > 0 && ports.every((p) => p.host === '0.0.0.0'), `${name}: ${JSON.stringify(open.services[name].ports)}`);
  }
  for (const gw of instances(open, 'gateway')) assert.equal(gatewayEnv(open, gw).STATSYNC_PUBLISH_ADDR, '0.0.0.0');
  for (const name of [...instances(open, 'stats'), ...instances(open, 'presence')]) {
    assert.ok(publishedPorts(open.services[name]).every((p) => p.host === '127.0.0.1'), `${name}'s admin port stays local`);
  }
});

test('compose: published beyond loopback with the default (public) secret, the gateway refuses to start', () => {
  const df = dockerfile();
  const open = composeConfig(COMPOSE_FILE, { STATSYNC_PUBLISH_ADDR: '0.0.0.0' });
  const secret = crypto.randomBytes(24).toString('hex');
  const own = composeConfig(COMPOSE_FILE, { STATSYNC_PUBLISH_ADDR: '0.0.0.0', STATSYNC_JWT_SECRET: secret });
  for (const name of instances(open, 'gateway')) {
    const bin = entrypoint(df, open.services[name].build.target);
    const env = (cfg) => ({ PATH: process.env.PATH, ASAN_OPTIONS: 'detect_leaks=0', ...gatewayEnv(cfg, name) });
    const r = run(bin.host, [], { env: env(open), timeout: 10000 });
    assert.equal(r.status, 2, `${name} started with the public secret on 0.0.0.0:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /public sample secret/);
    // The operator's own secret reaches the gateway (that the gateway accepts
    // any other secret wherever it is published: config_env.test.js).
    assert.equal(gatewayEnv(own, name).STATSYNC_JWT_SECRET, secret);
  }
});

test('Dockerfile: the health checks ask /readyz (what depends_on: service_healthy waits for)', () => {
  const df = dockerfile();
  const cfg = composeConfig();
  for (const svc of SERVICES.flatMap((k) => instances(cfg, k))) {
    const hc = df.last(cfg.services[svc].build.target, 'HEALTHCHECK');
    assert.match(hc.args, /\/readyz["\s]/, `${svc}: HEALTHCHECK ${hc.args}`);
  }
});

test('compose: the LMDB data lives in a named volume at the stats-service data dir', () => {
  const cfg = composeConfig();
  const df = dockerfile();
  const sources = new Set();
  for (const name of instances(cfg, 'stats')) {
    const stats = cfg.services[name];
    const dataDir = (stats.environment || {}).STATSYNC_DATA_DIR || df.env('stats').STATSYNC_DATA_DIR;
    assert.ok(dataDir, `${name}: STATSYNC_DATA_DIR is set neither in compose nor in the image`);
    const vols = (stats.volumes || []).map((v) => (typeof v === 'string'
      ? { source: v.split(':')[0], target: v.split(':')[1], type: v.startsWith('/') || v.startsWith('.') ? 'bind' : 'volume' }
      : v));
    const v = vols.find((x) => x.target === dataDir);
    assert.ok(v, `${name}: no volume mounted at ${dataDir}: ${JSON.stringify(stats.volumes)}`);
    assert.equal(v.type, 'volume', `${name}: the data must be in a named volume`);
    assert.ok(cfg.volumes && Object.keys(cfg.volumes).includes(v.source), `volume ${v.source} is not declared`);
    // One data dir per instance: two owners must never share an LMDB file.
    assert.ok(!sources.has(v.source), `${name} shares the data volume ${v.source} with another stats instance`);
    sources.add(v.source);
    const declared = df.instrs('stats', 'VOLUME').map((i) => i.args).join(' ');
    assert.match(declared, new RegExp(dataDir.replace(/[/.]/g, '\\$&')), `the stats image declares no VOLUME ${dataDir}`);
  }
});

test('compose: each stats instance owns its own partitions of one fixed count, under an instance id of its own', () => {
  const cfg = composeConfig();
  const df = dockerfile();
  const envOf = (n) => ({ ...df.env('stats'), ...(cfg.services[n].environment || {}) });
  const names = instances(cfg, 'stats');
  const counts = new Set(names.map((n) => envOf(n).STATSYNC_PARTITION_COUNT));
  assert.equal(counts.size, 1, `every stats instance must be given the same STATSYNC_PARTITION_COUNT: ${[...counts]}`);
  const count = Number([...counts][0]);
  assert.ok(Number.isInteger(count) && count >= names.length, `STATSYNC_PARTITION_COUNT ${count}`);
  const owner = new Map();
  for (const n of names) {
    const list = String(envOf(n).STATSYNC_PARTITIONS || '');
    assert.match(list, /^\d+(-\d+)?(,\d+(-\d+)?)*$/, `${n}: STATSYNC_PARTITIONS "${list}" is not a list of partitions and ranges`);
    for (const part of list.split(',')) {
      const [lo, hi = lo] = part.split('-').map(Number);
      assert.ok(lo <= hi && hi < count, `${n}: ${part} is outside 0-${count - 1}`);
      for (let p = lo; p <= hi; p++) {
        assert.ok(!owner.has(p), `partition ${p} is given to both ${owner.get(p)} and ${n}`);
        owner.set(p, n);
      }
    }
  }
  assert.equal(owner.size, count, 'every partition has an owner');
  const ids = names.map((n) => envOf(n).STATSYNC_INSTANCE_ID);
  assert.ok(ids.every(Boolean) && new Set(ids).size === ids.length, `stable, distinct STATSYNC_INSTANCE_IDs: ${ids}`);
  const pids = instances(cfg, 'presence').map((n) => (cfg.services[n].environment || {}).STATSYNC_INSTANCE_ID);
  assert.ok(pids.every(Boolean) && new Set(pids).size === pids.length, `presence STATSYNC_INSTANCE_IDs: ${pids}`);
});

// A service's volumes as { source, target, read_only } (compose v1 prints
// "source:target[:mode]", v2 objects).
function mounts(svc) {
  return (svc.volumes || []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, read_only: !!v.read_only };
    const [source, target, mode = ''] = v.split(':');
    return { source, target, read_only: mode.split(',').includes('ro') };
  });
}

// The nats-auth service: where it renders, and the volume at each path.
function natsAuth(cfg) {
  const svc = cfg.services['nats-auth'];
  assert.ok(svc, 'compose has no nats-auth service (it renders the NATS users and permissions)');
  const df = dockerfile();
  const target = svc.build && svc.build.target;
  assert.ok(target && df.stage(target), 'nats-auth: not built from a compose/Dockerfile target');
  const ep = df.last(target, 'ENTRYPOINT');
  assert.ok(ep && ep.args.startsWith('['), `target ${target}: exec-form ENTRYPOINT`);
  const exe = JSON.parse(ep.args)[0];
  const copied = df.instrs(target, 'COPY').map((i) => parseCopy(i.args))
    .find((c) => c.dest === exe || path.posix.join(c.dest, path.posix.basename(c.srcs[0])) === exe);
  assert.ok(copied && copied.srcs.length === 1 && path.posix.normalize(copied.srcs[0]) === 'scripts/nats-config.sh',
    `nats-auth must run scripts/nats-config.sh (the one place the permissions are written), not ${exe}`);
  const cmd = [].concat(svc.command || JSON.parse(df.last(target, 'CMD').args));
  assert.equal(cmd[0], 'render', `nats-auth command ${cmd.join(' ')}`);
  const user = df.last(target, 'USER');
  assert.ok(user && !/^(root|0)(:|$)/.test(user.args), 'nats-auth must not run as root');
  assert.ok(!svc.restart || svc.restart === 'no', 'nats-auth runs once and exits (restart: "no")');
  return { dir: cmd[1], mounts: mounts(svc) };
}

// nats-auth's `render` arguments: { --option: [values] }.
function renderArgs(cfg) {
  const svc = cfg.services['nats-auth'];
  const cmd = [].concat(svc.command || JSON.parse(dockerfile().last(svc.build.target, 'CMD').args));
  const out = {};
  for (let i = 2; i < cmd.length; i++) {
    if (!cmd[i].startsWith('--')) continue;
    const takes = cmd[i + 1] !== undefined && !cmd[i + 1].startsWith('--');
    (out[cmd[i]] = out[cmd[i]] || []).push(takes ? cmd[i + 1] : true);
    if (takes) i++;
  }
  return out;
}

test('compose: nats-server runs the config nats-auth renders with scripts/nats-config.sh, read-only, after it', () => {
  const cfg = composeConfig();
  const auth = natsAuth(cfg);
  const nodes = natsNodes(cfg);
  for (const name of nodes) {
    const nats = cfg.services[name];
    const cmd = [].concat(nats.command || []);
    const i = cmd.findIndex((a) => a === '--config' || a === '-c');
    assert.ok(i >= 0, `${name} command "${cmd.join(' ')}" does not load a config (--config): it would run without users`);
    const conf = cmd[i + 1];
    const m = mounts(nats).find((v) => conf.startsWith(`${v.target.replace(/\/+$/, '')}/`));
    assert.ok(m, `${conf} is on no volume of ${name}`);
    assert.equal(m.read_only, true, `${name} mounts the rendered config read-only`);
    const rendered = auth.mounts.find((v) => v.source === m.source);
    assert.ok(rendered, `nats-auth does not write the volume ${m.source}`);
    // A cluster node reads its own file, which includes nats-server.conf.
    const file = nodes.length > 1 ? `${name}.conf` : 'nats-server.conf';
    assert.equal(path.posix.join(rendered.target, path.posix.relative(m.target, conf)),
      path.posix.join(auth.dir, file), `${name} reads the file nats-auth renders for it`);
    const dep = (nats.depends_on || {})['nats-auth'];
    assert.ok(dep && dep.condition === 'service_completed_successfully', `${name} must start after nats-auth completed`);
  }
});

test('compose: the NATS nodes form one cluster, each with a JetStream store on a volume of its own', () => {
  const cfg = composeConfig();
  const args = renderArgs(cfg);
  const nodes = natsNodes(cfg);
  assert.equal((args['--cluster'] || []).length, 1, 'nats-auth renders no --cluster');
  const given = (args['--node'] || []).map((e) => {
    const m = /^([A-Za-z0-9_-]+)=([^:]+):(\d+)$/.exec(e);
    assert.ok(m, `--node ${e} is not NAME=HOST:PORT`);
    return { name: m[1], host: m[2], port: m[3] };
  });
  assert.deepEqual(given.map((g) => g.name).sort(), nodes, 'nats-auth renders exactly the compose NATS nodes');
  for (const g of given) assert.equal(g.host, g.name, `${g.name}: routes reach it by its service name`);
  assert.deepEqual(args['--cluster-listen'], ['0.0.0.0'], 'in a container a node listens for routes on every address');
  const [js] = args['--jetstream'] || [];
  assert.ok(js, 'nats-auth renders no --jetstream store');
  const stores = new Set();
  for (const name of nodes) {
    const v = mounts(cfg.services[name]).find((x) => x.target.replace(/\/+$/, '') === js.replace(/\/+$/, ''));
    assert.ok(v, `${name} mounts no volume at the JetStream store ${js}`);
    assert.ok(!v.read_only, `${name}: the JetStream store must be writable`);
    assert.ok(cfg.volumes && Object.keys(cfg.volumes).includes(v.source), `${name}: volume ${v.source} is not declared`);
    assert.ok(!stores.has(v.source), `${name} shares its JetStream volume ${v.source}`);
    stores.add(v.source);
  }
  // Every service is given every node.
  for (const svc of SERVICES.flatMap((k) => instances(cfg, k))) {
    const urls = String((cfg.services[svc].environment || {}).STATSYNC_NATS_URL || '').split(',').map((u) => u.trim());
    assert.deepEqual(urls.map((u) => (/^nats:\/\/([^:]+):4222$/.exec(u) || [])[1]).sort(), nodes, `${svc}: STATSYNC_NATS_URL ${urls}`);
  }
  // What nats-auth renders is what nats-server accepts, node by node.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-compose-nats-'));
  try {
    const cmd = [].concat(cfg.services['nats-auth'].command);
    const r = run('bash', [path.join(ROOT, 'scripts', 'nats-config.sh'), 'render', dir, ...cmd.slice(2)]);
    assert.equal(r.status, 0, `nats-config.sh ${cmd.join(' ')}: ${r.stderr}`);
    for (const name of nodes) {
      const t = run('nats-server', ['-t', '-c', path.join(dir, `${name}.conf`)]);
      assert.ok(t, 'nats-server is not installed');
      assert.equal(t.status, 0, `nats-server -t refused ${name}.conf:\n${t.stderr}${t.stdout}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('compose: every service connects as its own NATS user, its password on a volume only it (and nats-auth) mounts', () => {
  const cfg = composeConfig();
  const auth = natsAuth(cfg);
  const df = dockerfile();
  for (const svcName of SERVICES.flatMap((k) => instances(cfg, k))) {
    const svc = cfg.services[svcName];
    const env = { ...df.env(svc.build.target), ...(svc.environment || {}) };
    const user = NATS_USERS[svc.build.target];
    assert.equal(env.STATSYNC_NATS_USER, user, `${svcName}: STATSYNC_NATS_USER`);
    const file = env.STATSYNC_NATS_PASSWORD_FILE;
    assert.ok(file, `${svcName}: no STATSYNC_NATS_PASSWORD_FILE`);
    const m = mounts(svc).find((v) => file.startsWith(`${v.target.replace(/\/+$/, '')}/`));
    assert.ok(m, `${svcName}: ${file} is on no volume`);
    assert.equal(m.read_only, true, `${svcName}: the password volume is mounted read-only`);
    const w = auth.mounts.find((v) => v.source === m.source);
    assert.ok(w, `${svcName}: nats-auth does not write ${m.source}`);
    assert.equal(w.target, path.posix.join(auth.dir, user), `${svcName}: its volume is nats-auth's ${auth.dir}/${user}`);
    assert.equal(path.posix.relative(m.target, file), 'password');
    for (const [other, o] of Object.entries(cfg.services)) {
      // Instances of one kind share its user (README "NATS security").
      if ((o.build && o.build.target === svc.build.target) || other === 'nats-auth') continue;
      assert.ok(!mounts(o).some((v) => v.source === m.source), `${other} can read ${svcName}'s NATS password (${m.source})`);
    }
  }
  // The servers' volume (all passwords) is nats-auth's and the nodes' only.
  const server = auth.mounts.find((v) => v.target === auth.dir);
  for (const [name, svc] of Object.entries(cfg.services)) {
    if (natsNodes(cfg).includes(name) || name === 'nats-auth') continue;
    assert.ok(!mounts(svc).some((v) => v.source === server.source), `${name} mounts the NATS server's config`);
  }
});

test('Dockerfile: the nats-auth image gives each user directory to the services\' uid', () => {
  const df = dockerfile();
  const cfg = composeConfig();
  const auth = natsAuth(cfg);
  const target = cfg.services['nats-auth'].build.target;
  const run = df.instrs(target, 'RUN').map((i) => i.args).join(' ');
  for (const u of Object.values(NATS_USERS)) {
    assert.ok(run.includes(path.posix.join(auth.dir, u)), `the ${target} image makes no ${auth.dir}/${u} (a new volume takes its owner from it)`);
  }
  const user = df.last(target, 'USER').args.split(':')[0];
  for (const svc of SERVICES) {
    const su = df.last(cfg.services[instances(cfg, svc)[0]].build.target, 'USER').args.split(':')[0];
    assert.equal(su, user, `${svc} (uid ${su}) could not read a password written by uid ${user}`);
  }
  assert.match(run, new RegExp(`chown -R ${user}(:\\d+)? ${auth.dir.replace(/\//g, '\\/')}`));
});

test('Dockerfile: bookworm base, and every runtime target is non-root, health-checked and stops on SIGTERM', () => {
  const df = dockerfile();
  for (const s of df.stages) {
    const base = substArgs(s.base, df.args);
    if (df.stage(base)) continue;
    assert.match(base, /^debian:bookworm(-slim)?(@sha256:[0-9a-f]+)?$/, `stage ${s.name}: base ${base} is not Debian bookworm`);
  }
  const cfg = composeConfig();
  for (const svc of SERVICES) {
    const target = cfg.services[instances(cfg, svc)[0]].build.target;
    const user = df.last(target, 'USER');
    assert.ok(user, `target ${target} runs as root (no USER)`);
    assert.doesNotMatch(user.args, /^(root|0)(:|$)/, `target ${target} runs as root`);
    const hc = df.last(target, 'HEALTHCHECK');
    assert.ok(hc && !/^NONE$/i.test(hc.args), `target ${target} has no HEALTHCHECK`);
    const sig = df.last(target, 'STOPSIGNAL');
    assert.ok(sig && /^(SIGTERM|15)$/.test(sig.args), `target ${target}: STOPSIGNAL must be SIGTERM`);
    assert.ok(df.last(target, 'EXPOSE'), `target ${target} exposes no port`);
    // The health check's command must exist in the image and its ${VARS} be set there.
    const cmd = hc.args.replace(/^(--\S+\s+)*CMD\s+/, '');
    const tool = (/^\[?"?([a-z0-9_-]+)/.exec(cmd) || [])[1];
    assert.ok(tool, `target ${target}: cannot read the HEALTHCHECK command`);
    assert.ok(df.packages(target).includes(tool) || ['sh', 'bash', 'test', 'true'].includes(tool),
      `target ${target}: HEALTHCHECK uses ${tool}, which no apt-get install in its stages provides`);
    const env = df.env(target);
    for (const [, v] of cmd.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
      assert.ok(env[v] !== undefined, `target ${target}: HEALTHCHECK uses $${v}, which no ENV sets`);
    }
    // ...and must probe the port the service listens on.
    if (/STATSYNC_ADMIN_PORT|STATSYNC_API_PORT/.test(cmd)) {
      const port = env.STATSYNC_ADMIN_PORT || env.STATSYNC_API_PORT;
      const exposed = df.instrs(target, 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
      assert.ok(exposed.includes(port), `target ${target}: health port ${port} is not EXPOSEd`);
    }
  }
});

test('Dockerfile: every source path it COPYs exists in the repo and is not .dockerignore\'d', () => {
  const df = dockerfile();
  const ign = dockerignore();
  let n = 0;
  for (const s of df.stages) {
    for (const i of s.instrs.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
      const c = parseCopy(i.args);
      if (c.flags.from) continue;
      for (const src of c.srcs) {
        n++;
        const rel = path.posix.normalize(src).replace(/\/+$/, '').replace(/^\.\//, '');
        const full = path.join(ROOT, rel);
        assert.ok(fs.existsSync(full), `Dockerfile line ${i.line}: COPY source ${src} does not exist in the repo`);
        assert.ok(!ignored(rel, ign), `Dockerfile line ${i.line}: COPY source ${src} is excluded by .dockerignore`);
        if (fs.statSync(full).isDirectory()) {
          const files = walk(full).filter((f) => !ignored(`${rel}/${f}`, ign));
          assert.ok(files.length > 0, `Dockerfile line ${i.line}: every file of ${src} is excluded by .dockerignore`);
        }
      }
    }
  }
  assert.ok(n > 0, 'the Dockerfile copies no sources');
});

test('Dockerfile: the sources it copies are enough for the CMake configure it runs', (t) => {
  const df = dockerfile();
  const ign = dockerignore();
  if (!have('cmake')) return t.skip('cmake not installed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-ctx-'));
  try {
    const ctx = path.join(dir, 'src');
    for (const i of df.buildStage.instrs.filter((x) => x.op === 'COPY')) {
      const c = parseCopy(i.args);
      if (c.flags.from) continue;
      for (const src of c.srcs) {
        const rel = path.posix.normalize(src).replace(/\/+$/, '');
        const full = path.join(ROOT, rel);
        const files = fs.statSync(full).isDirectory() ? walk(full).map((f) => `${rel}/${f}`) : [rel];
        for (const f of files.filter((x) => !ignored(x, ign))) {
          fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
          fs.copyFileSync(path.join(ROOT, f), path.join(ctx, f));
        }
      }
    }
    const cm = /cmake\s+-S\s+\S+\s+-B\s+\S+([^&;]*)/.exec(df.buildStage.instrs.map((i) => i.args).join(' '));
    assert.ok(cm, 'cannot find the `cmake -S . -B build ...` configure line');
    const extra = cm[1].trim().split(/\s+/).filter(Boolean);
    const r = run('cmake', ['-S', ctx, '-B', path.join(dir, 'build'), ...extra], { timeout: 120000 });
    assert.equal(r.status, 0, `cmake configure of only the copied sources failed (is a COPY missing?):\n${r.stdout}${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('Dockerfile: every binary and build path it names exists in this build', () => {
  const df = dockerfile();
  assert.ok(fs.existsSync(BIN_DIR), `build dir ${BIN_DIR} does not exist (STATSYNC_BIN_DIR)`);
  let n = 0;
  for (const s of df.stages) {
    for (const i of s.instrs.filter((x) => x.op === 'COPY' && parseCopy(x.args).flags.from)) {
      const c = parseCopy(i.args);
      assert.equal(c.flags.from, df.buildStage.name, `Dockerfile line ${i.line}: COPY --from=${c.flags.from} is not the build stage`);
      for (const src of c.srcs) {
        n++;
        const host = hostBuildPath(df, src);
        assert.ok(host, `Dockerfile line ${i.line}: ${src} is outside the build dir ${df.buildDirInImage}`);
        assert.ok(fs.existsSync(host), `Dockerfile line ${i.line}: ${src} -> ${host} does not exist in the build`);
        fs.accessSync(host, fs.constants.X_OK);
      }
    }
  }
  // Paths the build stage's RUN lines name inside the build dir (e.g. strip).
  const runText = df.buildStage.instrs.filter((i) => i.op === 'RUN').map((i) => i.args).join(' ');
  const prefix = `${df.buildDirRel.replace(/\/+$/, '')}/`;
  for (const w of runText.split(/\s+/)) {
    if (!w.startsWith(prefix)) continue;
    n++;
    const host = path.join(BIN_DIR, w.slice(prefix.length));
    assert.ok(fs.existsSync(host), `the build stage names ${w}, but ${host} does not exist in the build`);
  }
  assert.ok(n >= 4, 'the Dockerfile copies fewer binaries than expected');
  // Every runtime target gets its own service binary.
  const cfg = composeConfig();
  for (const svc of SERVICES) entrypoint(df, cfg.services[instances(cfg, svc)[0]].build.target);
});

test('every STATSYNC_* variable set by compose or the images is documented in the binary\'s --help', () => {
  const df = dockerfile();
  const cfg = composeConfig();
  for (const svc of SERVICES.flatMap((k) => instances(cfg, k))) {
    const target = cfg.services[svc].build.target;
    const bin = entrypoint(df, target);
    const help = helpText(bin.host);
    const names = new Set([...Object.keys(df.env(target)), ...Object.keys(cfg.services[svc].environment || {})]);
    for (const name of names) {
      if (!name.startsWith('STATSYNC_')) continue;
      assert.match(help, new RegExp(`\\b${name}\\b`),
        `${svc}: ${name} is set for ${path.basename(bin.host)}, which does not list it in --help`);
    }
  }
  // The other binaries the images carry answer --help as well.
  for (const svc of SERVICES) {
    for (const b of targetBinaries(df, cfg.services[instances(cfg, svc)[0]].build.target)) helpText(b.host);
  }
});

test('the README\'s token command works with the compose default secret', () => {
  const df = dockerfile();
  const cfg = composeConfig();
  const gws = instances(cfg, 'gateway');
  // Exactly what `docker compose exec gateway0 ...` in compose/README.md runs:
  // that container's environment plus the README's arguments.
  const readme = fs.readFileSync(path.join(COMPOSE_DIR, 'README.md'), 'utf8');
  const line = readme.split('\n').find((l) => /exec\s+(-T\s+)?gateway\w*\s.*statsync-token/.test(l));
  assert.ok(line, 'compose/README.md shows no `docker compose exec gateway0 ... statsync-token` line');
  const svcName = /exec\s+(?:-T\s+)?(gateway\w*)\s/.exec(line)[1];
  assert.ok(gws.includes(svcName), `compose/README.md execs into ${svcName}, which is not a gateway service (${gws})`);
  const gw = cfg.services[svcName];
  const tokenBin = targetBinaries(df, gw.build.target).find((b) => path.basename(b.src) === 'statsync-token');
  assert.ok(tokenBin, 'the gateway image carries no statsync-token');
  assert.equal(path.posix.dirname(tokenBin.dest), '/usr/local/bin', 'statsync-token must be on PATH in the image');
  const after = line.replace(/^.*?exec\s+(-T\s+)?gateway\w*\s+/, '').replace(/\)\s*$/, '').replace(/`/g, '').trim();
  let argv;
  const sh = /^sh -c '(.*)'$/.exec(after);
  const env = { PATH: process.env.PATH, ...df.env(gw.build.target), ...gw.environment, ASAN_OPTIONS: 'detect_leaks=0' };
  if (sh) argv = ['sh', '-c', sh[1].replace(/\bstatsync-token\b/, tokenBin.host)];
  else argv = after.split(/\s+/).map((w) => (w === 'statsync-token' ? tokenBin.host : w));
  const r = run(argv[0], argv.slice(1), { env });
  assert.ok(r && r.status === 0, `README token command "${after}" failed: ${r && (r.stderr || r.stdout)}`);
  const tok = r.stdout.trim().split('\n').pop().trim();
  const [h, p, sig] = tok.split('.');
  assert.ok(h && p && sig, `not a JWT: ${r.stdout}`);
  const want = crypto.createHmac('sha256', gw.environment.STATSYNC_JWT_SECRET).update(`${h}.${p}`).digest('base64url');
  assert.equal(sig, want, 'the token is not signed with the gateway\'s STATSYNC_JWT_SECRET');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  assert.ok(claims.sub && claims.exp > Date.now() / 1000, `bad claims ${JSON.stringify(claims)}`);
});

test('every apt package the Dockerfile installs exists in bookworm', (t) => {
  const rel = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '';
  if (!/VERSION_CODENAME=bookworm/.test(rel) || !have('dpkg-query')) return t.skip('not a Debian bookworm machine');
  const df = dockerfile();
  const pkgs = [...new Set(df.stages.flatMap((s) => df.packages(s.name)))];
  assert.ok(pkgs.length > 0);
  for (const p of pkgs) {
    // Installed here (the build needs every one of them), else known to apt.
    const q = run('dpkg-query', ['-W', '-f=${Status}', p]);
    if (q.status === 0 && /install ok installed/.test(q.stdout)) continue;
    const a = run('apt-cache', ['show', '--no-all-versions', p]);
    assert.ok(a && a.status === 0 && /^Package: /m.test(a.stdout), `apt package ${p} is unknown on bookworm`);
  }
});

test('every shared library a binary needs comes from a package its runtime image installs', (t) => {
  const rel = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '';
  if (!/VERSION_CODENAME=bookworm/.test(rel) || !have('dpkg-query') || !have('readelf') || !have('ldconfig')) {
    return t.skip('needs a Debian bookworm machine with dpkg, readelf and ldconfig');
  }
  // Installed packages: their dependencies, and what the slim base image has
  // (Priority: required / Essential: yes).
  const q = run('dpkg-query', ['-W', '-f=${Package}\t${Priority}\t${Essential}\t${Depends}, ${Pre-Depends}\t${Provides}\n']);
  const info = new Map();
  const providers = new Map();
  for (const l of q.stdout.split('\n').filter(Boolean)) {
    const [pkg, prio, ess, deps, provides] = l.split('\t');
    const alts = deps.split(',').map((d) => d.trim()).filter(Boolean)
      .map((d) => d.split('|').map((a) => a.trim().split(/[\s:(]/)[0]).filter(Boolean));
    info.set(pkg, { base: prio === 'required' || ess === 'yes', deps: alts });
    for (const pv of (provides || '').split(',').map((x) => x.trim().split(/[\s(]/)[0]).filter(Boolean)) {
      if (!providers.has(pv)) providers.set(pv, []);
      providers.get(pv).push(pkg);
    }
  }
  const closure = (roots) => {
    const seen = new Set();
    const todo = [...roots];
    while (todo.length) {
      const p = todo.pop();
      const names = info.has(p) ? [p] : (providers.get(p) || []);
      for (const n of names) {
        if (seen.has(n)) continue;
        seen.add(n);
        for (const alt of info.get(n).deps) for (const a of alt) if (info.has(a) || providers.has(a)) todo.push(a);
      }
    }
    return seen;
  };
  const basePkgs = [...info].filter(([, v]) => v.base).map(([k]) => k);
  const soPath = new Map();
  for (const l of run('ldconfig', ['-p']).stdout.split('\n')) {
    const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(l);
    if (m && /x86-64|aarch64|64bit/.test(m[2]) && !soPath.has(m[1])) soPath.set(m[1], m[3]);
  }
  const ownerOf = (file) => {
    const cands = [file, fs.realpathSync(file)];
    for (const c of [...cands]) {
      if (c.startsWith('/usr/')) cands.push(c.slice(4));
      else cands.push(`/usr${c}`);
    }
    for (const c of cands) {
      const r = run('dpkg-query', ['-S', c]);
      if (r && r.status === 0) return r.stdout.split(':')[0].trim();
    }
    return null;
  };
  const df = dockerfile();
  const cfg = composeConfig();
  for (const svc of SERVICES) {
    const target = cfg.services[instances(cfg, svc)[0]].build.target;
    const allowed = closure([...df.packages(target), ...basePkgs]);
    for (const b of targetBinaries(df, target)) {
      assert.ok(fs.existsSync(b.host), `${b.host} is not in the build`);
      const needed = [...run('readelf', ['-d', b.host]).stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)]
        .map((m) => m[1]);
      assert.ok(needed.length > 0, `${b.host}: no NEEDED entries?`);
      for (const so of needed) {
        if (SANITIZED && /^lib(asan|ubsan|tsan)\.so/.test(so)) continue; // sanitizer builds only
        const file = soPath.get(so);
        assert.ok(file, `${path.basename(b.host)} needs ${so}, which ldconfig does not know`);
        const pkg = ownerOf(file);
        assert.ok(pkg, `${so} (${file}) belongs to no Debian package`);
        assert.ok(allowed.has(pkg), `target ${target}: ${path.basename(b.host)} needs ${so} from package ${pkg}, `
          + `which the image does not install (apt-get install ${pkg} in the ${target} stage)`);
      }
    }
  }
});

// ---- the edge (nginx) -----------------------------------------------------

// The compose services that run a gateway (one today; more are more entries).
function gatewayServices(cfg) {
  return Object.entries(cfg.services).filter(([, svc]) => svc.build && svc.build.target === 'gateway');
}

function fixedAddress(svc) {
  for (const n of Object.values(svc.networks || {})) if (n && n.ipv4_address) return n.ipv4_address;
  return null;
}

function ipv4ToInt(ip) {
  const p = ip.split('.').map(Number);
  assert.ok(p.length === 4 && p.every((x) => Number.isInteger(x) && x >= 0 && x <= 255), `not an IPv4 address: ${ip}`);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

function inCidr(ip, cidr) {
  const [net, bits = '32'] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(net) & mask) >>> 0);
}

// The edge's environment in the container: image ENV, then compose's.
function edgeEnv(cfg) {
  return { ...dockerfile().env('edge'), ...(cfg.services.edge.environment || {}) };
}

function parseEdgeGateways(list) {
  return String(list || '').split(',').map((e) => {
    const m = /^([A-Za-z0-9_-]+)=(.+):(\d+):(\d+)$/.exec(e.trim());
    assert.ok(m, `STATSYNC_EDGE_GATEWAYS entry "${e}" is not tag=host:apiPort:socketPort`);
    return { tag: m[1], host: m[2], api: m[3], sock: m[4] };
  });
}

// Renders the edge's nginx.conf from env (prefix swapped for a temp dir) and
// runs `nginx -t` on it.
// The image's demo directory is the checkout's demo/ (its COPY source).
const IMAGE_DEMO_DIR = '/usr/local/share/statsync-demo';
function renderAndTest(env, dir) {
  const demo = env.STATSYNC_EDGE_DEMO_DIR === IMAGE_DEMO_DIR ? { STATSYNC_EDGE_DEMO_DIR: path.join(ROOT, 'demo') } : {};
  const r = spawnSync('bash', [EDGE_RENDER], {
    env: { PATH: process.env.PATH, ...env, ...demo, STATSYNC_EDGE_PREFIX: dir, STATSYNC_EDGE_ACCESS_LOG: path.join(dir, 'access.log') },
    encoding: 'utf8', timeout: 20000,
  });
  assert.equal(r.status, 0, `edge/render-nginx.sh refused the compose environment:\n${r.stderr}`);
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, r.stdout);
  const t = run('nginx', ['-t', '-q', '-p', `${dir}/`, '-c', file], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  assert.ok(t, 'nginx is not installed (scripts/deps.sh installs it)');
  assert.equal(t.status, 0, `nginx -t rejected the edge config rendered from compose:\n${t.stderr}\n${r.stdout}`);
  return r.stdout;
}

test('compose: the edge is built from target edge and publishes the App URL port', () => {
  const cfg = composeConfig();
  const edge = cfg.services.edge;
  const b = edge.build;
  assert.ok(b && b.context && b.target, 'edge: no build section with a target');
  assert.equal(path.resolve(COMPOSE_DIR, b.context), ROOT, 'edge: build context must be the repository root');
  assert.equal(path.resolve(ROOT, b.dockerfile || 'Dockerfile'), DOCKERFILE);
  assert.equal(b.target, 'edge');
  assert.ok(dockerfile().stage('edge'), 'compose/Dockerfile has no edge stage');
  assert.ok(edge.restart, 'edge: no restart policy');
  const env = edgeEnv(cfg);
  const ports = (edge.ports || []).map((p) => (typeof p === 'string'
    ? { target: Number(p.split(':').pop().split('/')[0]), published: Number(p.split(':').slice(-2, -1)[0]) }
    : { target: Number(p.target), published: Number(p.published) }));
  const app = ports.find((p) => p.published === 8080);
  assert.ok(app, `edge does not publish 8080 (STATSYNC_APP_PORT's default): ${JSON.stringify(edge.ports)}`);
  assert.equal(String(app.target), String(env.STATSYNC_APP_PORT), 'the published port must be the one the edge listens on');
  assert.ok(['0.0.0.0', '::', '*'].includes(env.STATSYNC_EDGE_BIND), 'in a container the edge must listen on all addresses');
});

test('Dockerfile: the edge image runs Debian\'s nginx through edge/run-edge.sh, non-root, health-checked', () => {
  const df = dockerfile();
  assert.ok(df.packages('edge').includes('nginx'), 'the edge stage installs no nginx');
  const user = df.last('edge', 'USER');
  assert.ok(user && !/^(root|0)(:|$)/.test(user.args), 'the edge image runs as root');
  const sig = df.last('edge', 'STOPSIGNAL');
  assert.ok(sig && /^(SIGQUIT|SIGTERM)$/.test(sig.args), 'edge: STOPSIGNAL must be SIGQUIT (graceful) or SIGTERM');
  const env = df.env('edge');
  const exposed = df.instrs('edge', 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  assert.ok(exposed.includes(env.STATSYNC_APP_PORT), `edge: STATSYNC_APP_PORT ${env.STATSYNC_APP_PORT} is not EXPOSEd`);
  const hc = df.last('edge', 'HEALTHCHECK');
  assert.ok(hc && !/^NONE$/i.test(hc.args), 'the edge image has no HEALTHCHECK');
  const cmd = hc.args.replace(/^(--\S+\s+)*CMD\s+/, '');
  const tool = (/^\[?"?([a-z0-9_-]+)/.exec(cmd) || [])[1];
  assert.ok(df.packages('edge').includes(tool), `edge: HEALTHCHECK uses ${tool}, which the stage does not install`);
  for (const [, v] of cmd.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
    assert.ok(env[v] !== undefined, `edge: HEALTHCHECK uses $${v}, which no ENV sets`);
  }
  assert.match(cmd, /\$\{?STATSYNC_APP_PORT/, 'the edge HEALTHCHECK must probe the port it listens on');
  // ENTRYPOINT: exec form, the launcher COPY'd from edge/, the renderer beside it.
  const ep = df.last('edge', 'ENTRYPOINT');
  assert.ok(ep && ep.args.startsWith('['), 'edge: ENTRYPOINT must be the exec form (nginx ends up PID 1)');
  const argv = JSON.parse(ep.args);
  const copies = df.instrs('edge', 'COPY').map((i) => parseCopy(i.args)).filter((c) => !c.flags.from);
  const files = copies.flatMap((c) => c.srcs.map((src) => ({
    src: path.posix.normalize(src),
    dest: c.dest.endsWith('/') ? path.posix.join(c.dest, path.posix.basename(src)) : c.dest,
  })));
  const launcher = files.find((f) => f.dest === argv[0]);
  assert.ok(launcher, `edge: ENTRYPOINT ${argv[0]} is not a file COPY'd into the image`);
  assert.equal(launcher.src, 'edge/run-edge.sh');
  const renderer = files.find((f) => f.src === 'edge/render-nginx.sh');
  assert.ok(renderer && path.posix.dirname(renderer.dest) === path.posix.dirname(launcher.dest),
    'edge/render-nginx.sh must be copied beside run-edge.sh (the launcher runs it from its own directory)');
  for (const f of [launcher, renderer]) fs.accessSync(path.join(ROOT, f.src), fs.constants.X_OK);
  // the browser demo: demo/ copied to the directory STATSYNC_EDGE_DEMO_DIR names
  const demo = copies.find((c) => c.srcs.some((src) => path.posix.normalize(src).replace(/\/$/, '') === 'demo'));
  assert.ok(demo, 'edge: the image does not COPY demo/ (the browser demo at /demo/)');
  assert.equal(path.posix.normalize(demo.dest).replace(/\/$/, ''), env.STATSYNC_EDGE_DEMO_DIR);
  assert.equal(env.STATSYNC_EDGE_DEMO_DIR, IMAGE_DEMO_DIR);
  fs.accessSync(path.join(ROOT, 'demo/index.html'));
});

test('compose: the edge lists every gateway by its route tag and address; every gateway trusts the edge', () => {
  const cfg = composeConfig();
  const edge = cfg.services.edge;
  const edgeIp = fixedAddress(edge);
  assert.ok(edgeIp, 'the edge needs a fixed address (networks: ... ipv4_address) for the gateways to trust');
  const subnets = Object.values(cfg.networks || {}).flatMap((n) => ((n && n.ipam && n.ipam.config) || []).map((c) => c.subnet));
  assert.ok(subnets.some((sn) => sn && inCidr(edgeIp, sn)), `the edge's address ${edgeIp} is in no fixed subnet (${subnets})`);
  const gws = gatewayServices(cfg);
  assert.ok(gws.length >= 1);
  const entries = parseEdgeGateways(edgeEnv(cfg).STATSYNC_EDGE_GATEWAYS);
  assert.equal(entries.length, gws.length, 'STATSYNC_EDGE_GATEWAYS must have one entry per gateway service');
  assert.equal(new Set(entries.map((e) => e.tag.toLowerCase())).size, entries.length, 'route tags must be distinct');
  const df = dockerfile();
  for (const [name, svc] of gws) {
    const env = { ...df.env('gateway'), ...(svc.environment || {}) };
    assert.ok(env.STATSYNC_ROUTE_TAG, `${name}: no STATSYNC_ROUTE_TAG (the edge keeps polling sessions by it)`);
    const e = entries.find((x) => x.tag === env.STATSYNC_ROUTE_TAG);
    assert.ok(e, `${name}: route tag ${env.STATSYNC_ROUTE_TAG} has no STATSYNC_EDGE_GATEWAYS entry`);
    const addr = fixedAddress(svc);
    assert.ok(e.host === addr || e.host === name,
      `${name}: the edge entry's host ${e.host} is neither its fixed address ${addr} nor its name`);
    assert.equal(e.api, String(env.STATSYNC_API_PORT), `${name}: edge entry API port`);
    assert.equal(e.sock, String(env.STATSYNC_SOCKET_PORT), `${name}: edge entry Socket.IO port`);
    const trusted = String(env.STATSYNC_TRUSTED_PROXIES || '').split(',').map((x) => x.trim()).filter(Boolean);
    assert.ok(trusted.some((t) => /^[\d.]+(\/\d+)?$/.test(t) && inCidr(edgeIp, t.includes('/') ? t : `${t}/32`)),
      `${name}: STATSYNC_TRUSTED_PROXIES (${trusted}) does not include the edge's address ${edgeIp}`);
    assert.ok(!trusted.some((t) => /^0\.0\.0\.0\/0$|^::\/0$/.test(t)), `${name} trusts everyone's X-Forwarded-For`);
  }
  for (const [name] of gws) assert.ok((edge.depends_on || {})[name], `the edge must start after ${name}`);
});

test('compose: the edge config rendered from the compose environment passes nginx -t', () => {
  const cfg = composeConfig();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-compose-edge-'));
  try {
    const conf = renderAndTest(edgeEnv(cfg), dir);
    for (const e of parseEdgeGateways(edgeEnv(cfg).STATSYNC_EDGE_GATEWAYS)) {
      assert.ok(conf.includes(`server ${e.host}:${e.sock}`) && conf.includes(`server ${e.host}:${e.api}`));
    }
    assert.match(conf, new RegExp(`listen 0\\.0\\.0\\.0:${edgeEnv(cfg).STATSYNC_APP_PORT} default_server;`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('compose: docker-compose.tls.yml turns on HTTPS/WSS with the certificate it mounts', () => {
  const cfg = composeConfig([COMPOSE_FILE, COMPOSE_TLS_FILE]);
  const edge = cfg.services.edge;
  const env = edgeEnv(cfg);
  const cert = env.STATSYNC_EDGE_TLS_CERT;
  const key = env.STATSYNC_EDGE_TLS_KEY;
  assert.ok(cert && key, 'docker-compose.tls.yml must set STATSYNC_EDGE_TLS_CERT and STATSYNC_EDGE_TLS_KEY');
  const vols = (edge.volumes || []).map((v) => (typeof v === 'string'
    ? { source: v.split(':')[0], target: v.split(':')[1], read_only: /:ro$/.test(v) }
    : v));
  for (const f of [cert, key]) {
    const v = vols.find((x) => f.startsWith(`${x.target.replace(/\/+$/, '')}/`));
    assert.ok(v, `${f} is on no volume of the edge: ${JSON.stringify(edge.volumes)}`);
    assert.equal(v.read_only, true, `${v.target} must be mounted read-only`);
  }
  // The same renderer with a real (throwaway) pair at those names.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-compose-tls-'));
  try {
    const c = path.join(dir, path.basename(cert));
    const k = path.join(dir, path.basename(key));
    const o = run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '1', '-subj', '/CN=localhost', '-keyout', k, '-out', c]);
    assert.ok(o && o.status === 0, `openssl could not make a test certificate: ${o && o.stderr}`);
    const conf = renderAndTest({ ...env, STATSYNC_EDGE_TLS_CERT: c, STATSYNC_EDGE_TLS_KEY: k }, dir);
    assert.match(conf, /listen \S+ ssl default_server;/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The plain file stays plain HTTP.
  const plain = edgeEnv(composeConfig());
  assert.ok(!plain.STATSYNC_EDGE_TLS_CERT && !plain.STATSYNC_EDGE_TLS_KEY);
});

test('every STATSYNC_* variable the edge gets is one edge/render-nginx.sh documents in --help', () => {
  const r = run('bash', [EDGE_RENDER, '--help'], { env: { PATH: process.env.PATH } });
  assert.equal(r.status, 0, r.stderr);
  for (const files of [COMPOSE_FILE, [COMPOSE_FILE, COMPOSE_TLS_FILE]]) {
    for (const name of Object.keys(edgeEnv(composeConfig(files)))) {
      if (!name.startsWith('STATSYNC_')) continue;
      assert.match(r.stdout, new RegExp(`\\b${name}\\b`), `the edge gets ${name}, which render-nginx.sh --help does not list`);
    }
  }
});

// ---- the observability pack (profile "observability") ---------------------

const OBS_DIR = path.join(COMPOSE_DIR, 'observability');
const OBS_PROFILE = { COMPOSE_PROFILES: 'observability' };
const PACK = ['prometheus', 'grafana'];

// The resolved file with the pack's profile on (COMPOSE_PROFILES: both
// docker compose and docker-compose 1.28+ read it).
function obsConfig(env = {}) { return composeConfig(COMPOSE_FILE, { ...OBS_PROFILE, ...env }); }

// A service's bind mounts of repository files: {source (absolute), target, read_only}.
function bindMounts(svc) {
  return mounts(svc).filter((m) => path.isAbsolute(m.source));
}

// Where a container path of svc is on the host (through its bind mounts), or null.
function hostPathOf(svc, containerPath) {
  for (const m of bindMounts(svc)) {
    const rel = path.posix.relative(m.target, containerPath);
    if (!rel.startsWith('..') && !path.posix.isAbsolute(rel)) return path.join(m.source, rel);
  }
  return null;
}

function flagValue(argv, flag) {
  const a = [].concat(argv || []).find((x) => x.startsWith(`${flag}=`));
  return a ? a.slice(flag.length + 1) : null;
}

test('compose: the observability pack is a profile of official, pinned images, its files mounted read-only, on 127.0.0.1', () => {
  const cfg = obsConfig();
  for (const name of PACK) {
    const svc = cfg.services[name];
    assert.ok(svc, `no service ${name} with the observability profile`);
    assert.deepEqual(svc.profiles, ['observability'], `${name}: only in the observability profile`);
    assert.ok(svc.restart, `${name}: no restart policy`);
    assert.ok(svc.healthcheck && svc.healthcheck.test, `${name}: no healthcheck`);
    const binds = bindMounts(svc);
    assert.ok(binds.length > 0, `${name} mounts none of compose/observability/`);
    for (const m of binds) {
      assert.ok(m.source.startsWith(`${OBS_DIR}${path.sep}`), `${name} mounts ${m.source}, outside compose/observability/`);
      assert.ok(fs.existsSync(m.source), `${name} mounts ${m.source}, which does not exist`);
      assert.equal(m.read_only, true, `${name}: ${m.target} must be read-only`);
    }
    const ports = publishedPorts(svc);
    assert.ok(ports.length === 1 && ports[0].host === '127.0.0.1', `${name}: ${JSON.stringify(svc.ports)}`);
    // Whatever STATSYNC_PUBLISH_ADDR says: Grafana lets anyone look.
    assert.ok(publishedPorts(obsConfig({ STATSYNC_PUBLISH_ADDR: '0.0.0.0' }).services[name]).every((p) => p.host === '127.0.0.1'));
  }
  assert.match(cfg.services.prometheus.image, /^prom\/prometheus:v2\.\d+\.\d+$/, 'prometheus: the official image, a pinned 2.x');
  assert.match(cfg.services.grafana.image, /^grafana\/grafana:\d+\.\d+\.\d+$/, 'grafana: the official image, pinned');
  assert.equal(cfg.services.grafana.depends_on.prometheus.condition, 'service_healthy');
  // The pack waits for nothing of the cluster: Prometheus scrapes what is up.
  assert.deepEqual(Object.keys(cfg.services.prometheus.depends_on || {}), []);
});

test('compose: Prometheus runs the shipped prometheus.yml, and everything it loads is in the mounted folder', () => {
  const svc = obsConfig().services.prometheus;
  const conf = flagValue(svc.command, '--config.file');
  assert.ok(conf, `prometheus: no --config.file in ${JSON.stringify(svc.command)}`);
  const host = hostPathOf(svc, conf);
  assert.equal(host, path.join(OBS_DIR, 'prometheus', 'prometheus.yml'), `--config.file ${conf} is not the shipped prometheus.yml`);
  const tsdb = flagValue(svc.command, '--storage.tsdb.path');
  assert.ok(tsdb && mounts(svc).some((m) => m.target === tsdb && !path.isAbsolute(m.source)), 'the TSDB must be on a named volume');
  const cfg = readYaml(host);
  // Relative paths are relative to the config file: all of them on the mount.
  const files = [...cfg.rule_files,
    ...((cfg.alerting || {}).alertmanagers || []).flatMap((a) => (a.file_sd_configs || []).flatMap((sd) => sd.files))];
  for (const f of files) {
    assert.ok(!path.isAbsolute(f), `prometheus.yml names ${f}: relative paths only (the folder is mounted)`);
    assert.ok(fs.existsSync(path.resolve(path.dirname(host), f)), `prometheus.yml loads ${f}, which is not beside it`);
  }
});

test('compose: prometheus.yml scrapes every statsync service of the compose file, at its /metrics port, by its name', () => {
  const cfg = obsConfig();
  const df = dockerfile();
  const prom = readYaml(path.join(OBS_DIR, 'prometheus', 'prometheus.yml'));
  const scraped = new Map(); // target -> { job, instance }
  for (const job of prom.scrape_configs) {
    assert.ok(!job.metrics_path || job.metrics_path === '/metrics', `${job.job_name}: metrics_path`);
    for (const sc of job.static_configs) {
      for (const t of sc.targets) scraped.set(t, { job: job.job_name, instance: (sc.labels || {}).instance });
    }
  }
  const want = new Map();
  for (const kind of SERVICES) {
    for (const name of instances(cfg, kind)) {
      const svc = cfg.services[name];
      const env = { ...df.env(svc.build.target), ...(svc.environment || {}) };
      const port = kind === 'gateway' ? env.STATSYNC_API_PORT : env.STATSYNC_ADMIN_PORT;
      assert.ok(port, `${name}: no metrics port in its environment`);
      want.set(`${name}:${port}`, { kind, name });
    }
  }
  assert.deepEqual([...scraped.keys()].sort(), [...want.keys()].sort(), 'one target per statsync service, at its port');
  for (const [t, { kind, name }] of want) {
    assert.equal(scraped.get(t).instance, name, `${t}: instance label`);
    assert.equal(scraped.get(t).job, `statsync-${kind}`, `${t}: job`);
  }
});

test('compose: Grafana is provisioned with the pack\'s Prometheus and the statsync dashboard', () => {
  const cfg = obsConfig();
  const svc = cfg.services.grafana;
  const ds = readYaml(hostPathOf(svc, '/etc/grafana/provisioning/datasources/statsync.yml'));
  assert.equal(ds.datasources.length, 1);
  const source = ds.datasources[0];
  const promSvc = cfg.services.prometheus;
  const listen = flagValue(promSvc.command, '--web.listen-address');
  assert.equal(source.type, 'prometheus');
  assert.equal(source.url, `http://prometheus:${listen.split(':').pop()}`, 'the datasource is the prometheus service, at its port');
  const prom = readYaml(path.join(OBS_DIR, 'prometheus', 'prometheus.yml'));
  assert.equal(source.jsonData.timeInterval, prom.global.scrape_interval,
    'timeInterval must be the scrape interval (Grafana derives $__rate_interval from it)');
  const prov = readYaml(hostPathOf(svc, '/etc/grafana/provisioning/dashboards/statsync.yml'));
  assert.equal(prov.providers.length, 1);
  const dashDir = hostPathOf(svc, prov.providers[0].options.path);
  assert.equal(dashDir, path.join(OBS_DIR, 'grafana', 'dashboards'), 'the provider reads the mounted dashboards folder');
  const dashFiles = fs.readdirSync(dashDir).filter((f) => f.endsWith('.json'));
  assert.ok(dashFiles.length >= 1);
  const home = svc.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  assert.ok(home && fs.existsSync(hostPathOf(svc, home)), `the home dashboard ${home} is not in a mount`);
  for (const f of dashFiles) {
    const dash = JSON.parse(fs.readFileSync(path.join(dashDir, f), 'utf8'));
    assert.ok(dash.uid && dash.title, `${f}: uid and title`);
    const walk = (panels) => (panels || []).flatMap((p) => [p, ...walk(p.panels)]);
    const panels = walk(dash.panels).filter((p) => p.type !== 'row');
    assert.ok(panels.length > 0, `${f}: no panels`);
    for (const p of panels) {
      for (const d of [p.datasource, ...(p.targets || []).map((x) => x.datasource)]) {
        assert.equal(d && d.uid, source.uid, `${f}: panel "${p.title}" does not use the provisioned datasource`);
      }
    }
  }
});
