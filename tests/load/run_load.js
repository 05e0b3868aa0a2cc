// run_load.js — statsync-load from node tests (load/smoke, load/baseline):
// run it, read its JSON report, check the report is sane. Never checks speed.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { bin } = require('../lib/system');

// Runs statsync-load; resolves { code, signal, report, stdout, stderr }.
// Bounded: the generator has its own hard deadline, and this kills it past
// timeoutMs.
function runLoad(args, timeoutMs = 90000) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin('statsync-load'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      let report = null;
      try { report = JSON.parse(out.trim().split('\n').pop()); } catch (_) { /* below */ }
      resolve({ code, signal, report, stdout: out, stderr: err });
    });
  });
}

// The report of a run that went through: every connection up, no error, the
// counters consistent. logs: the server side's logs, for the failure message.
function assertSane(r, conns, logs) {
  const why = `stderr:\n${r.stderr.slice(-2000)}\nstdout:\n${r.stdout.slice(-2000)}\n${logs}`;
  assert.equal(r.code, 0, `statsync-load exited ${r.code} ${r.signal || ''}\n${why}`);
  assert.ok(r.report, `no JSON report\n${why}`);
  const rep = r.report;
  assert.equal(rep.connected, conns, why);
  assert.equal(rep.connect_errors, 0, why);
  assert.ok(rep.sent > 0, why);
  assert.ok(rep.matched > 0, why);
  assert.ok(rep.matched <= rep.sent, why);
  assert.equal(rep.unmatched, rep.sent - rep.matched, why);
  for (const [name, n] of Object.entries(rep.errors)) assert.equal(n, 0, `errors.${name}\n${why}`);
  assert.equal(rep.error_total, 0, why);
  assert.equal(rep.latency_us.count, rep.matched, why);
  assert.ok(rep.latency_us.p50 <= rep.latency_us.p99 && rep.latency_us.p99 <= rep.latency_us.max, why);
  assert.ok(rep.throughput_per_s > 0, why);
}

// A --devices run: besides sane, every update reached its sender and every
// other device of its user.
function assertEveryDevice(r, devices) {
  const rep = r.report;
  const why = JSON.stringify(rep);
  assert.equal(rep.devices, devices, why);
  assert.equal(rep.unmatched, 0, why);
  assert.equal(rep.all_devices_matched, rep.sent, why);
  assert.equal(rep.all_devices_unmatched, 0, why);
  assert.equal(rep.all_devices_us.count, rep.sent, why);
  assert.ok(rep.all_devices_us.max >= rep.latency_us.max, why);
}

module.exports = { runLoad, assertSane, assertEveryDevice };
