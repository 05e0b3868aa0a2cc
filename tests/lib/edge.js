// tests/lib/edge.js — a real nginx edge (edge/run-edge.sh, so the config comes
// from edge/render-nginx.sh, the renderer every runner uses) in front of the
// gateways of a tests/lib/system.js System, on a free loopback port, with its
// prefix in the system's temp dir.
//
//   const { Edge } = require('../lib/edge');
//   const edge = await Edge.start({ gateways: [{ tag: 'g0', gw: sys.gw }] });
//   edge.url                                  // http://127.0.0.1:<port> (https:// with tls)
//   const r = await edge.http('GET', '/health');
//   await edge.stop();
//
// opts: { gateways: [{tag, gw} | {tag, host, apiPort, socketPort}], port (default
// a free one), tls: true
// (a throwaway self-signed certificate for 127.0.0.1 made with the openssl
// CLI; edge.ca is its PEM, for clients), env: {extra STATSYNC_EDGE_*},
// user: {uid, gid} (run nginx as that user, as the container image does: the
// test process must be root) }.
// nginx runs in its own process group; stop() and test-process exit end it
// and its workers. Every wait is bounded.
'use strict';

const { spawn, execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { freePort, waitFor } = require('./system');

const ROOT = path.resolve(__dirname, '../..');
const RUN_EDGE = path.join(ROOT, 'edge', 'run-edge.sh');
const RENDER = path.join(ROOT, 'edge', 'render-nginx.sh');
const live = new Set();

process.on('exit', () => {
  for (const pid of live) {
    try { process.kill(-pid, 'SIGKILL'); } catch (_) { /* already gone */ }
  }
});

function gatewayList(gateways) {
  return gateways.map((g) => {
    const host = g.host || '127.0.0.1';
    const api = g.apiPort || (g.gw && g.gw.apiPort);
    const sock = g.socketPort || (g.gw && g.gw.socketPort);
    return `${g.tag}=${host}:${api}:${sock}`;
  }).join(',');
}

// A self-signed certificate for 127.0.0.1 / localhost, valid two days.
function makeCert(dir) {
  const cert = path.join(dir, 'edge-cert.pem');
  const key = path.join(dir, 'edge-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 });
  return { cert, key, ca: fs.readFileSync(cert, 'utf8') };
}

// Runs the renderer alone: { status, stdout, stderr }.
function render(env) {
  const r = spawnSync('bash', [RENDER], {
    env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 20000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

class Edge {
  static async start(opts = {}) {
    const edge = new Edge(opts);
    try {
      await edge._start();
    } catch (e) {
      e.message += `\n==== edge ====\n${edge.log().slice(-4000)}`;
      await edge.stop().catch(() => {});
      throw e;
    }
    return edge;
  }

  constructor(opts) {
    this.opts = opts;
    this.dir = fs.mkdtempSync(path.join(opts.dir || os.tmpdir(), 'statsync-edge-'));
    this.prefix = path.join(this.dir, 'prefix');
    this.logFile = path.join(this.dir, 'nginx.log');
    this.child = null;
    if (opts.user) {
      fs.mkdirSync(this.prefix);
      for (const d of [this.dir, this.prefix]) fs.chownSync(d, opts.user.uid, opts.user.gid);
    }
  }

  async _start() {
    this.port = this.opts.port || await freePort(); // opts.port: a restart on the same port
    const env = {
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
      STATSYNC_APP_PORT: String(this.port),
      STATSYNC_EDGE_BIND: '127.0.0.1',
      STATSYNC_EDGE_GATEWAYS: gatewayList(this.opts.gateways || []),
      STATSYNC_EDGE_PREFIX: this.prefix,
      STATSYNC_EDGE_WORKERS: '2',
      ...(this.opts.env || {}),
    };
    if (this.opts.tls) {
      Object.assign(this, makeCert(this.dir));
      env.STATSYNC_EDGE_TLS_CERT = this.cert;
      env.STATSYNC_EDGE_TLS_KEY = this.key;
      if (this.opts.user) {
        for (const f of [this.cert, this.key]) fs.chownSync(f, this.opts.user.uid, this.opts.user.gid);
      }
    }
    this.env = env;
    this.scheme = this.opts.tls ? 'https' : 'http';
    this.url = `${this.scheme}://127.0.0.1:${this.port}`;
    const out = fs.openSync(this.logFile, 'a');
    // Its own process group: the workers go with the master, whatever happens.
    this.child = spawn('bash', [RUN_EDGE], {
      env, stdio: ['ignore', out, out], detached: true, ...(this.opts.user || {}),
    });
    fs.closeSync(out);
    const child = this.child;
    live.add(child.pid);
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // Up once it answers any HTTP request (with no gateway up, nginx's own 503).
    await waitFor(`edge on :${this.port}`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`edge exited early (${child.exitCode}):\n${this.log().slice(-3000)}`);
      }
      const r = await this.http('GET', '/livez', { timeoutMs: 2000 }).catch(() => null);
      return r !== null;
    }, 20000, 50);
    return this;
  }

  // { status, headers, body (parsed JSON or text), text } — over http or https
  // (trusting only this edge's certificate).
  http(method, p, { token, body, headers = {}, raw, timeoutMs = 10000 } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    if (payload !== undefined) h['content-length'] = Buffer.byteLength(payload);
    const mod = this.scheme === 'https' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(`${this.url}${p}`, {
        method, headers: h, agent: false, ...(this.ca ? { ca: this.ca } : {}),
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = text;
          try { parsed = JSON.parse(text); } catch (_) { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed, text });
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${p}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  // socket.io-client options that trust this edge's certificate (https only).
  tlsOptions() { return this.ca ? { ca: this.ca } : {}; }

  accessLog() {
    try {
      return fs.readFileSync(path.join(this.prefix, 'access.log'), 'utf8').split('\n').filter(Boolean)
        .map((l) => JSON.parse(l));
    } catch (_) { return []; }
  }

  log() {
    try { return fs.readFileSync(this.logFile, 'utf8'); } catch (_) { return ''; }
  }

  async stop() {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ } }, 10000);
      await this.exited;
      clearTimeout(t);
    }
    if (child) {
      // The master is gone; make sure no worker of its group outlives it.
      try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* none left */ }
      live.delete(child.pid);
    }
    if (!process.env.STATSYNC_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { Edge, render, makeCert, gatewayList, RENDER, RUN_EDGE };
