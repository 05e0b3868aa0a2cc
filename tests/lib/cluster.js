// tests/lib/cluster.js — a real statsync cluster for a test: a 3-node
// nats-server cluster (routes, JetStream, each node's store in the temp dir)
// on free loopback ports, any number of stats-service instances with their
// partition sets, instance ids and data dirs, presence-services, gateways
// (each with its route tag) and optionally the edge (tests/lib/edge.js) in
// front of every gateway. Every service is given every node's URL.
//
//   const { Cluster } = require('../lib/cluster');
//   const cl = await Cluster.start({ edge: true });   // the run-cluster.sh shape
//   const r = await cl.http('GET', '/api/users/alice/stats', { token: cl.token('alice') });
//   await cl.kill('nats1');                            // SIGKILL (or any signal), waits for the exit
//   await cl.restart('nats1');                         // same ports, same store, waits until ready
//   await cl.stop();                                   // throws when a process exited uncleanly
//
// opts: { nats: 3 (nodes), natsAuth (default STATSYNC_TEST_NATS_AUTH === '1':
//         the configuration scripts/nats-config.sh renders, cluster part
//         included, every service its own user), partitionCount: 64,
//         stats: [{ id, partitions, dataDir, env }] (default stats0 = the first
//         half, stats1 = the second), presence: 2 or [{ id, env }],
//         gateways: 2 or [{ tag, env }], edge: false, env (every service),
//         statsEnv, presenceEnv, gatewayEnv, natsViolationsExpected: true, or
//         a function saying which violation lines a test expects }.
//
// A Cluster is a tests/lib/system.js System (same environment of the
// services, token(), http() to a gateway, natsCredentials()), so the
// clients of fault_helpers.js work with it. Processes by name: nats0..,
// the stats ids, presence0.., gateway0.., edge — cl.proc(name), cl.names().
// Every wait is bounded; every process is killed on test-process exit.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { System, Proc, freePort, waitFor, bin, NATS_CONFIG, NATS_USERS } = require('./system');
const { Edge } = require('./edge');

const CLUSTER_NAME = 'statsync';

// The default split of partitionCount over n stats instances: contiguous ranges.
function splitPartitions(count, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const lo = Math.floor((count * i) / n);
    const hi = Math.floor((count * (i + 1)) / n) - 1;
    out.push(lo === hi ? String(lo) : `${lo}-${hi}`);
  }
  return out;
}

// The edge as a process of the cluster: kill and restart like the others,
// on the same port (its prefix is new each start).
class EdgeProc {
  constructor(cluster, port) {
    this.name = 'edge';
    this.cluster = cluster;
    this.port = port;
    this.edge = null;
    this.result = null;
  }

  async start() {
    const gateways = this.cluster.gateways.map((gw) => ({ tag: gw.tag, gw }));
    this.edge = await Edge.start({ gateways, port: this.port, dir: this.cluster.dir });
    this.result = null;
    const e = this.edge;
    e.exited.then((r) => { if (this.edge === e) this.result = r; });
    return this;
  }

  get pid() { return this.edge && this.edge.child && this.edge.child.pid; }
  get url() { return `http://127.0.0.1:${this.port}`; }
  get running() { return !!this.edge && this.edge.child.exitCode === null && this.edge.child.signalCode === null; }

  // signal to nginx's master, then whatever of its group is left (workers).
  async kill(signal = 'SIGKILL') {
    const e = this.edge;
    if (!e) return this.result;
    if (this.running) e.child.kill(signal);
    const t = setTimeout(() => { try { process.kill(-e.child.pid, 'SIGKILL'); } catch (_) { /* gone */ } }, 15000);
    const r = await e.exited;
    clearTimeout(t);
    await e.stop(); // the group, the prefix
    this.edge = null;
    this.result = r;
    return r;
  }

  log() { return this.edge ? this.edge.log() : ''; }
}

class Cluster extends System {
  static async start(opts = {}) {
    const cl = new Cluster(opts);
    try {
      await cl._start();
    } catch (e) {
      const logs = cl.logs();
      await cl.kill();
      e.message += `\n${logs}`;
      throw e;
    }
    return cl;
  }

  constructor(opts) {
    super(opts);
    if (opts.natsTls) throw new Error('Cluster: natsTls is not supported');
    this.partitionCount = opts.partitionCount || 64;
    this.natsNodes = [];
    this.statsInstances = [];
    this.presenceInstances = [];
    this.edgeProc = null;
  }

  // ---- processes by name -------------------------------------------------

  all() {
    return [...this.natsNodes, ...this.statsInstances, ...this.presenceInstances, ...this.gateways,
      ...(this.edgeProc ? [this.edgeProc] : [])];
  }

  names() { return this.all().map((p) => p.name); }

  proc(name) {
    const p = this.all().find((x) => x.name === name);
    if (!p) throw new Error(`no process ${name} in the cluster (${this.names().join(' ')})`);
    return p;
  }

  get edge() { return this.edgeProc; }
  get natsUrls() { return this.natsNodes.map((n) => `nats://127.0.0.1:${n.clientPort}`); }

  // Kills one process (SIGKILL unless told otherwise) and waits for its exit.
  async kill(name, signal = 'SIGKILL') {
    if (name === undefined) { // System's kill(): everything at once, no checks
      await Promise.all(this.all().map((p) => p.kill('SIGKILL').catch(() => {})));
      return undefined;
    }
    return this.proc(name).kill(signal);
  }

  // Starts a killed process again, on its ports and with its data, and waits
  // until it is ready (as at the start).
  async restart(name) {
    const p = this.proc(name);
    if (p === this.edgeProc) return p.start();
    p.start();
    await this._ready(p);
    return p;
  }

  async _ready(p) {
    if (p.kind === 'nats') await this._natsReady(p);
    else if (p.kind === 'gateway') await this.waitHttp(p.apiPort, '/health', p, true);
    else await this.waitHttp(p.adminPort, '/health', p);
  }

  // ---- start ---------------------------------------------------------------

  async _start() {
    const o = this.opts;
    const nodes = o.nats === undefined ? 3 : o.nats;
    for (let k = 0; k < nodes; k++) {
      const node = { name: `nats${k}`, clientPort: await freePort(), clusterPort: await freePort(), httpPort: await freePort() };
      this.natsNodes.push(node);
    }
    this.natsUrl = this.natsUrls.join(',');
    if (this.natsAuth) this._renderClusterConfig();
    this.natsNodes = this.natsNodes.map((n) => this._natsProc(n));
    for (const n of this.natsNodes) n.start();
    // A JetStream cluster elects its meta leader once a majority is up.
    await Promise.all(this.natsNodes.map((n) => this._natsReady(n)));
    await this._jetstreamWhole();

    const statsSpecs = o.stats || splitPartitions(this.partitionCount, 2).map((partitions, i) => ({ id: `stats${i}`, partitions }));
    for (const spec of statsSpecs) this.statsInstances.push(await this._statsInstance(spec));
    const presenceSpecs = Array.isArray(o.presence) ? o.presence
      : Array.from({ length: o.presence === undefined ? 2 : o.presence }, (_, i) => ({ id: `presence${i}` }));
    for (const spec of presenceSpecs) this.presenceInstances.push(await this._presenceInstance(spec));
    // One stats instance after the other (the first creates the lease
    // bucket), then the presence instances together.
    for (const p of this.statsInstances) {
      p.start();
      await this._ready(p);
    }
    for (const p of this.presenceInstances) p.start();
    await Promise.all(this.presenceInstances.map((p) => this._ready(p)));

    const gwSpecs = Array.isArray(o.gateways) ? o.gateways
      : Array.from({ length: o.gateways === undefined ? 2 : o.gateways }, (_, i) => ({ tag: `g${i}` }));
    for (const spec of gwSpecs) await this._addClusterGateway(spec);
    if (o.edge) {
      this.edgeProc = new EdgeProc(this, await freePort());
      await this.edgeProc.start();
    }
  }

  // scripts/nats-config.sh render with the cluster part: users and
  // permissions shared by every node, one config per node.
  _renderClusterConfig() {
    this.natsAuthDir = path.join(this.dir, 'nats-auth');
    const nodeArgs = this.natsNodes.flatMap((n) => ['--node', `${n.name}=127.0.0.1:${n.clusterPort}`]);
    execFileSync('bash', [NATS_CONFIG, 'render', this.natsAuthDir, '--jetstream', this.natsStoreDir,
      '--cluster', CLUSTER_NAME, ...nodeArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  _natsProc(n) {
    const common = ['-a', '127.0.0.1', '-p', String(n.clientPort), '-m', String(n.httpPort)];
    let args;
    if (this.natsAuth) {
      args = ['-c', path.join(this.natsAuthDir, `${n.name}.conf`), ...common];
    } else {
      // The same shape from flags: no config file without auth.
      const routes = this.natsNodes.filter((x) => x.name !== n.name).map((x) => `nats://127.0.0.1:${x.clusterPort}`);
      args = [...common, '--server_name', n.name, '--cluster_name', CLUSTER_NAME,
        '--cluster', `nats://127.0.0.1:${n.clusterPort}`, '--routes', routes.join(','),
        '-js', '-sd', path.join(this.natsStoreDir, n.name)];
    }
    const p = new Proc(n.name, 'nats-server', args, { PATH: process.env.PATH }, path.join(this.dir, `${n.name}.log`));
    return Object.assign(p, n, { kind: 'nats' });
  }

  // Accepting clients, and /healthz 200: JetStream in contact with its meta leader.
  async _natsReady(n) {
    await waitFor(`${n.name} ready (:${n.clientPort}, /healthz on :${n.httpPort})`, async () => {
      if (n.child && (n.child.exitCode !== null || n.child.signalCode !== null)) {
        throw new Error(`${n.name} exited early:\n${n.story()}`);
      }
      const open = await new Promise((resolve) => {
        const s = net.connect(n.clientPort, '127.0.0.1', () => { s.end(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (!open) return false;
      const r = await fetch(`http://127.0.0.1:${n.httpPort}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      return r && r.status === 200;
    }, 30000, 50);
  }

  // The JetStream cluster is whole: its meta leader sees every other node
  // current (what a bucket with a replica on each node needs to be made).
  async _jetstreamWhole() {
    if (this.natsNodes.length < 2) return;
    let last;
    await waitFor('a JetStream meta leader with every other node current', async () => {
      const views = await Promise.all(this.natsNodes.map(async (n) => {
        const r = await fetch(`http://127.0.0.1:${n.httpPort}/jsz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
        return { n, meta: r && r.status === 200 ? (await r.json()).meta_cluster || {} : {} };
      }));
      last = views.map((v) => v.meta);
      return views.some(({ n, meta }) => meta.leader === n.name && (meta.replicas || []).length === this.natsNodes.length - 1
        && meta.replicas.every((x) => x.current));
    }, 30000, 50).catch((e) => { e.message += ` (${JSON.stringify(last)})`; throw e; });
  }

  // The names of the client connections a node holds (cnats sends each
  // service's connection name: the gateway id, "stats-service", ...).
  async natsConnections(name) {
    const n = this.proc(name);
    const r = await fetch(`http://127.0.0.1:${n.httpPort}/connz?limit=1024`, { signal: AbortSignal.timeout(2000) });
    const body = await r.json();
    return (body.connections || []).map((c) => c.name || '');
  }

  async _statsInstance(spec) {
    const adminPort = await freePort();
    const dataDir = spec.dataDir || path.join(this.dir, `data-${spec.id}`);
    fs.mkdirSync(dataDir, { recursive: true });
    const p = new Proc(spec.id, bin('statsync-stats'), [], this.baseEnv({
      STATSYNC_ADMIN_PORT: String(adminPort),
      STATSYNC_INSTANCE_ID: spec.id,
      STATSYNC_DATA_DIR: dataDir,
      STATSYNC_PARTITION_COUNT: String(this.partitionCount),
      // The lease bucket on every node (up to 3): losing one loses no lease.
      STATSYNC_LEASE_REPLICAS: String(Math.min(3, this.natsNodes.length)),
      ...(spec.partitions !== undefined ? { STATSYNC_PARTITIONS: spec.partitions } : {}),
      ...(this.opts.statsEnv || {}),
      ...(spec.env || {}),
    }, NATS_USERS.stats), path.join(this.dir, `${spec.id}.log`));
    return Object.assign(p, { kind: 'stats', adminPort, dataDir, partitions: spec.partitions });
  }

  async _presenceInstance(spec) {
    const adminPort = await freePort();
    const p = new Proc(spec.id, bin('statsync-presence'), [], this.baseEnv({
      STATSYNC_ADMIN_PORT: String(adminPort),
      STATSYNC_INSTANCE_ID: spec.id,
      ...(this.opts.presenceEnv || {}),
      ...(spec.env || {}),
    }, NATS_USERS.presence), path.join(this.dir, `${spec.id}.log`));
    return Object.assign(p, { kind: 'presence', adminPort });
  }

  async _addClusterGateway(spec) {
    const i = this.gateways.length;
    const apiPort = await freePort();
    const socketPort = await freePort();
    const name = `gateway${i}`;
    const gw = new Proc(name, bin('statsync-gateway'), [], this.baseEnv({
      STATSYNC_API_PORT: String(apiPort),
      STATSYNC_SOCKET_PORT: String(socketPort),
      STATSYNC_GATEWAY_ID: `${name}-${process.pid}`,
      STATSYNC_ROUTE_TAG: spec.tag,
      STATSYNC_TRUSTED_PROXIES: 'loopback',
      STATSYNC_PARTITION_COUNT: String(this.partitionCount), // the stats instances' count
      ...(this.opts.gatewayEnv || {}),
      ...(spec.env || {}),
    }, NATS_USERS.gateway), path.join(this.dir, `${name}.log`));
    Object.assign(gw, { kind: 'gateway', apiPort, socketPort, tag: spec.tag });
    gw.start();
    this.gateways.push(gw);
    await this._ready(gw);
    return gw;
  }

  // HTTP through the edge (opts as System.http, without gw).
  edgeHttp(method, p, opts = {}) {
    if (!this.edgeProc || !this.edgeProc.edge) throw new Error('the cluster has no edge running');
    return this.edgeProc.edge.http(method, p, opts);
  }

  // ---- stop -----------------------------------------------------------------

  natsViolations() {
    return this.natsNodes.flatMap((n) => n.log().split('\n').filter((l) => /Violation/.test(l)));
  }

  logs() {
    return this.all().map((p) => `==== ${p.name} ====\n${p.log().slice(-4000)}`).join('\n');
  }

  // SIGTERM in the order of a clean stop: the edge, the gateways, the
  // services, then NATS (SIGINT: nats-server's clean stop, exit 0; it exits
  // 1 on SIGTERM). Throws, as System.stop does, when a process exited with
  // a non-zero status (a sanitizer report, a crash at shutdown) or, under
  // auth, when nats-server refused a service something.
  async stop() {
    const results = new Map();
    const waves = [this.edgeProc ? [this.edgeProc] : [], this.gateways,
      [...this.statsInstances, ...this.presenceInstances], this.natsNodes];
    for (const wave of waves) {
      const rs = await Promise.all(wave.map((p) => p.kill(p.kind === 'nats' ? 'SIGINT' : 'SIGTERM')));
      wave.forEach((p, i) => results.set(p, rs[i]));
    }
    const bad = [...results].filter(([, r]) => r && r.code !== 0 && r.code !== null);
    const expected = this.opts.natsViolationsExpected;
    const violations = !this.natsAuth || expected === true ? []
      : this.natsViolations().filter((l) => !(typeof expected === 'function' && expected(l)));
    const tails = bad.map(([p, r]) => `==== ${p.name} (exit ${r.code}) ====\n${p.log().slice(-6000)}`);
    if (!process.env.STATSYNC_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
    if (bad.length) {
      throw new Error(`processes exited uncleanly: ${bad.map(([p]) => p.name).join(', ')}\n${tails.join('\n')}`);
    }
    if (violations.length) {
      throw new Error(`nats-server refused a service (scripts/nats-config.sh lacks a permission):\n${violations.join('\n')}`);
    }
  }
}

module.exports = { Cluster, splitPartitions, CLUSTER_NAME };
