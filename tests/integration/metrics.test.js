// Every service's /metrics is valid Prometheus text and carries the families
// operators need (issue 5): requests by route and status, latency histograms
// (REST, socket events, NATS round trips, LMDB commit), group-commit batch
// size, sockets connected, socket messages in/out, queue drops, NATS
// reconnects, rate-limit refusals.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { io } = require('socket.io-client');
const { System } = require('../lib/system');
const { parsePrometheus } = require('./rest_helpers');

async function scrape(port) {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.strictEqual(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain/);
  return parsePrometheus(await r.text());
}

function family(m, name, type) {
  assert.strictEqual(m.types.get(name), type, `${name} is a ${type}`);
  return m.samples.filter((s) => s.name === name || s.name.startsWith(`${name}_`));
}

test('each service exposes parseable metrics with the expected families', async (t) => {
  const sys = await System.start();
  t.after(() => sys.stop());
  const tok = sys.token('metricsuser');

  const r = await sys.http('POST', '/api/users/data/patch', { token: tok, body: { xp: 1 } });
  assert.strictEqual(r.status, 200);
  const sock = io(sys.socketUrl, { auth: { token: tok }, transports: ['websocket'], reconnection: false });
  try {
    await new Promise((resolve, reject) => { sock.on('connect', resolve); sock.on('connect_error', reject); });
    const ack = await sock.timeout(5000).emitWithAck('user:clientUpdate', { opId: 'm1', delta: { xp: 1 } });
    assert.strictEqual(ack.ok, true);

    const gw = await scrape(sys.gw.apiPort);
    const reqs = family(gw, 'statsync_http_requests_total', 'counter');
    assert.ok(reqs.some((s) => s.labels.route && s.labels.status === '200' && s.value >= 1), 'requests by route and status');
    family(gw, 'statsync_http_request_duration_seconds', 'histogram');
    family(gw, 'statsync_nats_request_duration_seconds', 'histogram');
    const ev = family(gw, 'statsync_socket_event_duration_seconds', 'histogram');
    assert.ok(ev.some((s) => s.labels.event === 'user:clientUpdate' && s.name.endsWith('_count') && s.value >= 1), 'socket event latency');
    const sessions = family(gw, 'statsync_socket_sessions', 'gauge');
    assert.ok(sessions.some((s) => s.value >= 1), 'sockets connected');
    const msgs = family(gw, 'statsync_socket_messages_total', 'counter');
    assert.ok(msgs.some((s) => s.labels.direction === 'in' && s.value >= 1), 'messages in');
    assert.ok(msgs.some((s) => s.labels.direction === 'out' && s.value >= 1), 'messages out');
    family(gw, 'statsync_socket_queue_overflow_total', 'counter');
    family(gw, 'statsync_nats_reconnects_total', 'counter');
    family(gw, 'statsync_rate_limited_total', 'counter');

    const st = await scrape(sys.statsAdminPort);
    family(st, 'statsync_stats_commit_seconds', 'histogram');
    const batch = family(st, 'statsync_stats_batch_size', 'histogram');
    assert.ok(batch.some((s) => s.name.endsWith('_count') && s.value >= 1), 'group-commit batch sizes');
    family(st, 'statsync_stats_mutations_total', 'counter');
    family(st, 'statsync_nats_reconnects_total', 'counter');

    const pr = await scrape(sys.presenceAdminPort);
    family(pr, 'statsync_nats_reconnects_total', 'counter');
    assert.ok(pr.samples.some((s) => s.name.startsWith('statsync_presence_')), 'presence metrics');
  } finally {
    sock.close();
  }
});

// ---- issue 18: process_*, build_info, NATS state, LMDB fill, names ---------------

const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { waitFor } = require('../lib/system');
const { usersWhere } = require('../lib/partition');

// The three services' scrapes, by name, with the process behind each.
async function scrapeAll(sys) {
  return [
    { name: 'gateway', proc: sys.gw, m: await scrape(sys.gw.apiPort) },
    { name: 'stats-service', proc: sys.stats, m: await scrape(sys.statsAdminPort) },
    { name: 'presence-service', proc: sys.presence, m: await scrape(sys.presenceAdminPort) },
  ];
}

function one(m, name, type) {
  const s = family(m, name, type);
  assert.strictEqual(s.length, 1, `${name}: one series`);
  return s[0];
}

// What git says this tree is (the commit build_info must name), or null.
function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch (_) {
    return null;
  }
}

test('every service: process_* as the Prometheus clients name them, build_info, NATS connected', async (t) => {
  const before = Date.now() / 1000;
  const sys = await System.start();
  t.after(() => sys.stop());
  const commit = gitCommit();
  for (const { name, proc, m } of await scrapeAll(sys)) {
    const pid = proc.pid;
    const cpu = one(m, 'process_cpu_seconds_total', 'counter').value;
    const [utime, stime] = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ').slice(11, 13).map(Number);
    const ticks = (utime + stime) / 100; // USER_HZ
    assert.ok(cpu >= 0 && Math.abs(cpu - ticks) < 2, `${name}: cpu ${cpu} s, /proc says ${ticks} s`);
    const rss = one(m, 'process_resident_memory_bytes', 'gauge').value;
    const vsz = one(m, 'process_virtual_memory_bytes', 'gauge').value;
    const [pvsz, prss] = fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ').map((x) => Number(x) * 4096);
    assert.ok(rss > 1 << 20 && rss < 4 * prss && rss > prss / 4, `${name}: rss ${rss}, /proc says ${prss}`);
    assert.ok(vsz >= rss && vsz > pvsz / 2 && vsz < pvsz * 2, `${name}: vsz ${vsz}, /proc says ${pvsz}`);
    const fds = one(m, 'process_open_fds', 'gauge').value;
    const pfds = fs.readdirSync(`/proc/${pid}/fd`).length;
    assert.ok(fds > 3 && Math.abs(fds - pfds) <= 4, `${name}: ${fds} fds open, /proc lists ${pfds}`);
    const max = one(m, 'process_max_fds', 'gauge').value;
    const limit = Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))[1]);
    assert.strictEqual(max, limit, `${name}: max fds`);
    const start = one(m, 'process_start_time_seconds', 'gauge').value;
    assert.ok(start >= before - 2 && start <= Date.now() / 1000 + 1, `${name}: started at ${start}, the test at ${before}`);

    const bi = one(m, 'statsync_build_info', 'gauge');
    assert.strictEqual(bi.value, 1);
    assert.deepStrictEqual(Object.keys(bi.labels).sort(), ['commit', 'service', 'version']);
    assert.strictEqual(bi.labels.service, name);
    assert.match(bi.labels.version, /^\d+\.\d+\.\d+$/);
    assert.match(bi.labels.commit, /^([0-9a-f]{12}(-dirty)?|unknown)$/);
    if (commit) assert.ok(bi.labels.commit.startsWith(commit), `${name}: built from ${bi.labels.commit}, the tree is ${commit}`);

    assert.strictEqual(one(m, 'statsync_nats_connected', 'gauge').value, 1, `${name}: NATS connected`);
    one(m, 'statsync_nats_reconnects_total', 'counter');
  }
});

test('statsync_nats_connected follows the connection: 0 while nats-server is away, 1 and a reconnect after', { timeout: 60000 }, async (t) => {
  const sys = await System.start();
  t.after(() => sys.stop());
  const value = async (port, name) => {
    const m = await scrape(port);
    return family(m, name, m.types.get(name) === 'counter' ? 'counter' : 'gauge').reduce((a, s) => a + s.value, 0);
  };
  const ports = [sys.gw.apiPort, sys.statsAdminPort, sys.presenceAdminPort];
  await sys.nats.kill('SIGKILL');
  for (const port of ports) {
    await waitFor(`:${port} says NATS is down`, async () => (await value(port, 'statsync_nats_connected')) === 0, 15000);
  }
  await sys.startNats();
  for (const port of ports) {
    await waitFor(`:${port} says NATS is up again`, async () => (await value(port, 'statsync_nats_connected')) === 1, 20000);
    assert.ok(await value(port, 'statsync_nats_reconnects_total') >= 1, `:${port} counted the reconnect`);
  }
});

test('stats-service: LMDB size and map per served partition (and no other), totals, fill, idempotency records, the cluster\'s partition count', { timeout: 60000 }, async (t) => {
  const MAP_MB = 4;
  const served = [0, 1, 2, 3];
  const sys = await System.start({ statsEnv: { STATSYNC_PARTITIONS: '0-3', STATSYNC_MAP_SIZE_MB: String(MAP_MB) } });
  t.after(() => sys.stop());
  const lmdb = async () => {
    const m = await scrape(sys.statsAdminPort);
    const per = (name) => {
      const s = family(m, name, 'gauge');
      return new Map(s.map((x) => [Number(x.labels.partition), x.value]));
    };
    return {
      size: per('statsync_stats_lmdb_size_bytes'),
      map: per('statsync_stats_lmdb_map_size_bytes'),
      totalSize: one(m, 'statsync_stats_lmdb_total_size_bytes', 'gauge').value,
      totalMap: one(m, 'statsync_stats_lmdb_total_map_size_bytes', 'gauge').value,
      fill: one(m, 'statsync_stats_lmdb_max_fill_ratio', 'gauge').value,
      idem: one(m, 'statsync_stats_idempotency_records', 'gauge').value,
      cluster: one(m, 'statsync_stats_cluster_partitions', 'gauge').value,
    };
  };
  const check = (l) => {
    assert.deepStrictEqual([...l.size.keys()].sort(), served, 'a series for each served partition, none other');
    assert.deepStrictEqual([...l.map.keys()].sort(), served);
    for (const p of served) {
      assert.strictEqual(l.map.get(p), MAP_MB * 1024 * 1024, `partition ${p}: the map is STATSYNC_MAP_SIZE_MB`);
      assert.ok(l.size.get(p) > 0 && l.size.get(p) <= l.map.get(p), `partition ${p}: 0 < size <= map`);
    }
    const sum = (mp) => [...mp.values()].reduce((a, b) => a + b, 0);
    assert.strictEqual(l.totalSize, sum(l.size));
    assert.strictEqual(l.totalMap, sum(l.map));
    const fullest = Math.max(...served.map((p) => l.size.get(p) / l.map.get(p)));
    assert.ok(Math.abs(l.fill - fullest) < 1e-9, `max fill ${l.fill} is the fullest partition's ${fullest}`);
    assert.strictEqual(l.cluster, 64, 'statsync_stats_cluster_partitions is STATSYNC_PARTITION_COUNT (default 64), served here or not');
  };
  const a = await lmdb();
  check(a);
  assert.strictEqual(a.idem, 0);

  // Writes with Idempotency-Keys to users of partitions 0 and 1, with a
  // large lastGameResults: the records are counted, the files grow.
  const users = usersWhere(`lm${process.pid}-`, 40, (p) => p <= 1);
  const big = { notes: 'x'.repeat(12000) };
  let n = 0;
  for (const u of users) {
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(u), body: { xp: 1, lastGameResults: big }, headers: { 'idempotency-key': `k-${u}` } });
    assert.strictEqual(r.status, 200, JSON.stringify(r.body));
    n++;
  }
  const again = await sys.http('POST', '/api/users/data/patch', { token: sys.token(users[0]), body: { xp: 1, lastGameResults: big }, headers: { 'idempotency-key': `k-${users[0]}` } });
  assert.strictEqual(again.status, 200); // a repeat: no new record
  const b = await lmdb();
  check(b);
  assert.strictEqual(b.idem, n, 'one record per applied key');
  for (const p of [0, 1]) assert.ok(b.size.get(p) > a.size.get(p), `partition ${p} grew: ${a.size.get(p)} -> ${b.size.get(p)}`);
  assert.ok(b.totalSize > a.totalSize && b.fill > a.fill, 'totals and fill moved');
});

// Names by the Prometheus conventions: counters end in _total and only they
// do; units are base units (seconds, bytes) in the name; a histogram is
// either of seconds or a plain count.
test('metric names follow the Prometheus conventions on every service', async (t) => {
  const sys = await System.start();
  t.after(() => sys.stop());
  const countHistograms = new Set(['statsync_stats_batch_size']);
  for (const { name, m } of await scrapeAll(sys)) {
    for (const [fam, type] of m.types) {
      assert.match(fam, /^(statsync|process)_[a-z0-9_]+$/, `${name}: ${fam}`);
      if (type === 'counter') assert.match(fam, /_total$/, `${name}: counter ${fam} ends in _total`);
      else assert.doesNotMatch(fam, /_total$/, `${name}: ${type} ${fam} must not end in _total`);
      assert.doesNotMatch(fam, /_(ms|milliseconds|us|microseconds|ns|nanoseconds|minutes|hours|kb|mb|gb|kib|mib|gib|percent)(_|$)/, `${name}: ${fam} names a base unit`);
      if (type === 'histogram' && !countHistograms.has(fam)) assert.match(fam, /_seconds$/, `${name}: histogram ${fam} is of seconds`);
      assert.ok(m.help.get(fam), `${name}: ${fam} has a help text`);
    }
  }
});
