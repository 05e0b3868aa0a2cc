'use strict';
// Integration helpers: the real statsync system (tests/lib/system.js: a real
// nats-server + the C binaries from STATSYNC_BIN_DIR) and real clients of it.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

const REPO = path.resolve(__dirname, '../../../..');
const SYSTEM_JS = path.join(REPO, 'tests/lib/system.js');
const BIN_DIR = process.env.STATSYNC_BIN_DIR || path.join(REPO, 'build');
const BINARIES = ['gateway/statsync-gateway', 'stats-service/statsync-stats', 'presence-service/statsync-presence'];

function hasNatsServer() {
  try { execFileSync('nats-server', ['--version'], { stdio: 'ignore' }); return true; } catch (_) { return false; }
}

// Why the integration tests cannot run here, or false. When STATSYNC_BIN_DIR
// is set (ctest sets it) nothing is skipped: a missing binary is a failure.
function skipReason() {
  if (process.env.STATSYNC_BIN_DIR) return false;
  const missing = BINARIES.filter((b) => !fs.existsSync(path.join(BIN_DIR, b)));
  if (missing.length) {
    return `statsync binaries not built (${missing.join(', ')} missing under ${BIN_DIR}); `
      + 'build with `cmake -S . -B build && cmake --build build` and/or set STATSYNC_BIN_DIR';
  }
  if (!hasNatsServer()) return 'nats-server not on PATH';
  return false;
}

const { UserDataSync, createMemoryStorage } = require('../..');

const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeoutMs = 20000, stepMs = 20) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(stepMs);
  }
}

function uniqueUser(prefix) {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

// A client as an app would build it, against gateway `gw` of `sys`.
function makeClient(sys, userId, opts = {}) {
  const gw = opts.gw || sys.gw;
  const storage = opts.storage || createMemoryStorage();
  const c = new UserDataSync(userId, {
    apiUrl: `http://127.0.0.1:${gw.apiPort}`,
    socketUrl: `http://127.0.0.1:${gw.socketPort}`,
    getToken: async () => sys.token(userId),
    storage,
    logger: silentLogger,
    presencePingIntervalMs: 0,
    debounceMs: 40,
    ackTimeoutMs: 3000,
    requestTimeoutMs: 3000,
    ...opts,
  });
  c.storageRef = storage;
  return c;
}

async function serverDoc(sys, userId) {
  const r = await sys.http('GET', `/api/users/${userId}/stats`, { token: sys.token(userId) });
  if (r.status !== 200) throw new Error(`GET stats: ${r.status} ${r.text}`);
  return r.body;
}

function snapshotStorage(storage) {
  const copy = createMemoryStorage();
  for (const [k, v] of storage._map) copy._map.set(k, v);
  return copy;
}

module.exports = {
  REPO, SYSTEM_JS, BIN_DIR, skipReason, makeClient, serverDoc, until, sleep, uniqueUser, snapshotStorage, silentLogger,
};
