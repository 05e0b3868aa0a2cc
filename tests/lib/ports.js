// tests/lib/ports.js — loopback ports for the servers a test starts.
//
// A port is taken from outside the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768–60999 by default). A port
// that bind(0) hands out comes from that range, and between the pick and the
// server's own bind any outgoing connection on the machine (a route between
// nats-servers, a scrape, another test's client) may get it as its local
// port: a stats-service of the observability test once failed to bind its
// admin port that way in CI. Below the range, only a listener can hold it.
//
// 12000–27999 belong to integration/run_cluster's blocks (it needs 33 in a
// row); freePort uses 28000 up to the ephemeral range (4 768 ports by
// default), or 2000–11999 where that is under 2 000 ports. Never a port the
// Fetch standard calls bad (6665–6669, 10080, …): Node's fetch and browsers
// refuse to connect to those at all.
//
// The test processes ctest runs at once each pick at random; a port handed
// out is reserved for the life of the process by a file created exclusively
// in <tmp>/statsync-test-ports (its content: the pid). A reservation whose
// process is gone is taken over. A port something listens on is skipped.
// The C tests use the same directory (tests/support/test_port.c).
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const RESERVE_DIR = path.join(os.tmpdir(), 'statsync-test-ports');
const reserved = new Set();

process.on('exit', () => {
  for (const port of reserved) {
    try { fs.unlinkSync(path.join(RESERVE_DIR, String(port))); } catch (_) { /* gone */ }
  }
});

function ephemeralLow() {
  try {
    const lo = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(lo) && lo > 0 ? lo : 32768;
  } catch (_) { return 32768; }
}

// The [lo, hi) range to pick from.
function pool() {
  const eph = ephemeralLow();
  return eph - 28000 >= 2000 ? [28000, eph] : [2000, Math.min(12000, eph)];
}

// https://fetch.spec.whatwg.org/#bad-port (those above 2000; Chromium's
// restricted ports are the same).
const BAD_PORTS = new Set([2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
  6668, 6669, 6679, 6697, 10080]);

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

// True when this process now holds the reservation of port.
function reserve(port) {
  fs.mkdirSync(RESERVE_DIR, { recursive: true });
  const file = path.join(RESERVE_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      reserved.add(port);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    let owner = NaN;
    try { owner = Number(fs.readFileSync(file, 'utf8')); } catch (_) { continue; /* just released */ }
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
    try { fs.unlinkSync(file); } catch (_) { /* another taker was first */ }
  }
  return false;
}

function release(port) {
  reserved.delete(port);
  try { fs.unlinkSync(path.join(RESERVE_DIR, String(port))); } catch (_) { /* gone */ }
}

const canListen = (port) => new Promise((resolve) => {
  const s = net.createServer();
  s.unref();
  s.once('error', () => resolve(false));
  s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
});

// A loopback port nothing listens on, reserved for this process: never
// handed out twice here, nor to another test process while this one runs.
async function freePort() {
  const [lo, hi] = pool();
  for (let i = 0; i < 500; i++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (BAD_PORTS.has(port) || reserved.has(port) || !reserve(port)) continue;
    if (await canListen(port)) return port;
    release(port);
  }
  throw new Error('freePort: no free loopback port found in 500 tries');
}

module.exports = { freePort, canListen, RESERVE_DIR };
