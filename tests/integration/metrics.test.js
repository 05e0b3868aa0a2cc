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
