// client_seq.test.js — exactly-once per client with no time window (issue 16
// item 1; proto/README.md "Exactly-once per client"), against the real
// gateway, stats-service, presence-service and nats-server, with the real
// socket.io-client.
//
//  - REST (patch body clientId/seq) and socket (ops[i].clientId/seq): in
//    order, a repeat answered duplicate with the current document, a repeat
//    of a refused seq answered with its code, the numbering validated;
//  - an op whose ack was lost, re-sent after STATSYNC_IDEMPOTENCY_TTL_S (1 s)
//    forgot its opId — waited for as a state (the stats-service's
//    statsync_stats_idempotency_pruned_total), not a sleep — is not applied
//    twice, while the same late retry carrying only its Idempotency-Key is;
//  - a gap: 409 seq_gap with error.expectedSeq, nothing recorded, and an
//    SDK-like client that holds its ops until acked re-sends from it;
//  - the records survive a stats-service kill -9 and restart;
//  - two stats-service instances owning STATSYNC_PARTITIONS halves: users of
//    both halves behave the same, each counted on its own owner; a partition
//    moved to the other instance (statsync-admin partition move) keeps its
//    users' client records — repeats, refusals and gaps are judged as before.
// Every wait is for a state, each bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { System, Proc, bin, freePort, waitFor, NATS_USERS } = require('../lib/system');
const { usersWhere, partitionOf } = require('../lib/partition');
const { connect, emitAck } = require('../compat/sio_helpers');
const { parsePrometheus } = require('./rest_helpers');
const { admin } = require('./partition_helpers');

let sys;
let n = 0;
const fresh = (p = 'cs') => `${p}${process.pid}x${++n}`;
const CLIENT = '3f2b6c1e-8d4a-4b7e-9c2d-0a1b2c3d4e5f';

test.before(async () => {
  sys = await System.start({ statsEnv: { STATSYNC_LEASE_TTL_MS: '2000' } });
});
test.after(async () => { if (sys) await sys.stop(); });

const patch = (s, user, body, headers = {}, gw) =>
  s.http('POST', '/api/users/data/patch', { token: s.token(user), body, headers, gw });
const doc = async (s, user) => {
  const r = await s.http('GET', `/api/users/${encodeURIComponent(user)}/stats`, { token: s.token(user) });
  assert.equal(r.status, 200, r.text);
  return r.body;
};
const op = (clientId, seq, delta, opId) => ({ ops: [{ ...(opId ? { opId } : {}), delta, clientId, seq }] });

async function statsMetrics(port) {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parsePrometheus(await r.text()).samples;
}
const sample = (samples, name, labels = {}) => samples
  .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
  .reduce((a, x) => a + x.value, 0);

function expectOk(r, what) {
  assert.equal(r.status, 200, `${what}: ${r.text}`);
  assert.equal(r.body.success, true, what);
}
function expectRefused(r, status, code, what) {
  assert.equal(r.status, status, `${what}: ${r.text}`);
  assert.equal(r.body.error.code, code, `${what}: ${r.text}`);
  assert.ok(r.body.error.message.length > 0);
}

test('REST: in order, repeats answered duplicate, a refused seq keeps its code, the numbering validated', async () => {
  const u = fresh();
  let r = await patch(sys, u, { xp: 5, diamonds: 2, clientId: CLIENT, seq: 1 });
  expectOk(r, 'seq 1');
  assert.equal(r.body.stats.version, 1);
  r = await patch(sys, u, { xp: 1, clientId: CLIENT, seq: 2 });
  expectOk(r, 'seq 2');
  assert.equal(r.body.stats.xp, 6);
  // the answer to 2 was lost: 2 again, with no Idempotency-Key at all
  r = await patch(sys, u, { xp: 1, clientId: CLIENT, seq: 2 });
  expectOk(r, 'seq 2 again');
  assert.equal(r.body.duplicate, true);
  assert.equal(r.body.stats.xp, 6, 'not applied again');
  assert.equal(r.body.stats.version, 2, 'the current document');
  // a refusal is that seq's outcome for good: refused again even when it would fit now
  r = await patch(sys, u, { diamonds: -5, clientId: CLIENT, seq: 3 });
  expectRefused(r, 409, 'insufficient_funds', 'seq 3');
  assert.equal(r.body.stats.diamonds, 2);
  r = await patch(sys, u, { diamonds: 10, clientId: CLIENT, seq: 4 });
  expectOk(r, 'seq 4 (no gap after a refusal)');
  r = await patch(sys, u, { diamonds: -5, clientId: CLIENT, seq: 3 });
  expectRefused(r, 409, 'insufficient_funds', 'seq 3 again');
  assert.equal(r.body.stats.diamonds, 12, 'with the current document');
  r = await patch(sys, u, { xp: 1, clientId: CLIENT, seq: 1 });
  assert.equal(r.body.duplicate, true, 'an old seq: applied before');
  const d = await doc(sys, u);
  assert.equal(d.xp, 6);
  assert.equal(d.diamonds, 12);
  assert.equal(d.version, 3);
  // another install of the same user numbers its own ops
  r = await patch(sys, u, { xp: 100, clientId: 'install-2', seq: 1 });
  expectOk(r, 'install-2 seq 1');
  assert.equal(r.body.stats.xp, 106);
  // the numbering is validated before anything goes on NATS
  for (const [body, code] of [
    [{ xp: 1, seq: 5 }, 'bad_request'],
    [{ xp: 1, clientId: CLIENT }, 'bad_request'],
    [{ xp: 1, clientId: 'a b', seq: 5 }, 'invalid_value'],
    [{ xp: 1, clientId: 'x'.repeat(65), seq: 5 }, 'invalid_value'],
    [{ xp: 1, clientId: CLIENT, seq: 0 }, 'invalid_value'],
    [{ xp: 1, clientId: CLIENT, seq: 2 ** 53 }, 'invalid_value'],
    [{ xp: 1, clientId: CLIENT, seq: 1.5 }, 'invalid_type'],
    [{ xp: 1, clientId: CLIENT, seq: '5' }, 'invalid_type'],
  ]) {
    expectRefused(await patch(sys, u, body), 400, code, JSON.stringify(body));
  }
  assert.equal((await doc(sys, u)).version, 4);
});

test('socket: ops[i].clientId/seq number the ops; repeats, refusals and batches', async () => {
  const u = fresh();
  const s = await connect(sys, u, {});
  try {
    let ack = await emitAck(s, 'user:clientUpdate', op(CLIENT, 1, { xp: 2 }, 'o1'));
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.stats.xp, 2);
    // the same op re-sent: a duplicate, the current document
    ack = await emitAck(s, 'user:clientUpdate', op(CLIENT, 1, { xp: 2 }, 'o1'));
    assert.equal(ack.ok, true);
    assert.equal(ack.duplicate, true);
    assert.equal(ack.stats.xp, 2);
    // a batch numbered 2, 3, with an op of no number between: one change
    ack = await emitAck(s, 'user:clientUpdate', {
      ops: [{ opId: 'o2', delta: { xp: 1 }, clientId: CLIENT, seq: 2 }, { delta: { xp: 10 } },
        { opId: 'o3', delta: { xp: 100 }, clientId: CLIENT, seq: 3 }],
    });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.stats.xp, 113);
    assert.equal(ack.stats.version, 2);
    // a refused seq answers its code again, over REST too (one record per client)
    ack = await emitAck(s, 'user:clientUpdate', op(CLIENT, 4, { diamonds: -1 }, 'o4'));
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'insufficient_funds');
    expectRefused(await patch(sys, u, { diamonds: -1, clientId: CLIENT, seq: 4 }), 409, 'insufficient_funds', 'REST repeat of 4');
    const r = await patch(sys, u, { xp: 1, clientId: CLIENT, seq: 3 });
    assert.equal(r.body.duplicate, true, 'REST repeat of a socket seq');
    // numbering against the rules: refused by the gateway
    for (const payload of [
      { ops: [{ delta: { xp: 1 }, clientId: CLIENT, seq: 5 }, { delta: { xp: 1 }, clientId: CLIENT, seq: 7 }] },
      { ops: [{ delta: { xp: 1 }, clientId: CLIENT, seq: 5 }, { delta: { xp: 1 }, clientId: 'other', seq: 6 }] },
      { ops: [{ delta: { xp: 1 }, clientId: CLIENT }] },
      { ops: [{ delta: { xp: 1 }, clientId: 'a/b', seq: 5 }] },
    ]) {
      ack = await emitAck(s, 'user:clientUpdate', payload);
      assert.equal(ack.ok, false, JSON.stringify(payload));
      assert.ok(['bad_request', 'invalid_value'].includes(ack.error.code), JSON.stringify(ack));
    }
    // the envelope's own clientId / seq stay ignored (an op is numbered in ops[i])
    ack = await emitAck(s, 'user:clientUpdate', { opId: 'e1', delta: { xp: 1 }, clientId: CLIENT, seq: 99 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    ack = await emitAck(s, 'user:clientUpdate', op(CLIENT, 5, { xp: 1 }, 'o5'));
    assert.equal(ack.ok, true, `5 follows 4: ${JSON.stringify(ack)}`);
    assert.equal((await doc(sys, u)).xp, 115);
  } finally { s.close(); }
});

test('an ack lost and the op re-sent after the opId TTL passed: applied once', async (t) => {
  // a system of its own, so that the only opIds to forget are this test's two
  const ttl = await System.start({ statsEnv: { STATSYNC_IDEMPOTENCY_TTL_S: '1' } });
  t.after(() => ttl.stop());
  const u = fresh();
  const s = await connect(ttl, u, {});
  let committed;
  try {
    // sent without asking for an ack: the client never learns the outcome
    const pushed = new Promise((resolve) => s.on('user:data:updated', (d) => { if (d.version === 1) resolve(d); }));
    s.emit('user:clientUpdate', op(CLIENT, 1, { xp: 7 }, 'lost-1'));
    committed = await pushed;
  } finally { s.close(); }
  assert.equal(committed.xp, 7);
  // the same kind of late retry by a client that only has an Idempotency-Key
  const v = fresh('plain');
  expectOk(await patch(ttl, v, { xp: 7 }, { 'Idempotency-Key': 'plain-1' }), 'plain op');
  // STATSYNC_IDEMPOTENCY_TTL_S=1: both opIds forgotten (a state, not a sleep)
  await waitFor('both opIds pruned', async () =>
    sample(await statsMetrics(ttl.statsAdminPort), 'statsync_stats_idempotency_pruned_total') >= 2, 15000, 100);
  const plain = await patch(ttl, v, { xp: 7 }, { 'Idempotency-Key': 'plain-1' });
  expectOk(plain, 'plain retry');
  assert.notEqual(plain.body.duplicate, true);
  assert.equal(plain.body.stats.xp, 14, 'an opId alone has a time window: applied twice');
  // the numbered op re-sent (over REST this time, its opId as the key): a repeat
  const r = await patch(ttl, u, { xp: 7, clientId: CLIENT, seq: 1 }, { 'Idempotency-Key': 'lost-1' });
  expectOk(r, 'late retry');
  assert.equal(r.body.duplicate, true);
  assert.equal(r.body.stats.xp, 7, 'applied once');
  assert.equal((await doc(ttl, u)).version, 1);
});

// An SDK-like client: numbers its ops, holds each until acknowledged, and on
// seq_gap re-sends what it holds from the server's expected seq.
class SeqClient {
  constructor(s, user, clientId) { Object.assign(this, { s, user, clientId, next: 1, held: [], acked: [] }); }
  queue(delta) { this.held.push({ seq: this.next++, delta }); }
  async sendOne(entry) {
    return patch(this.s, this.user, { ...entry.delta, clientId: this.clientId, seq: entry.seq });
  }
  // Sends the held ops in order (skip: seqs "lost on the way" this time).
  async flush(skip = new Set()) {
    for (let guard = 0; guard < 10 && this.held.length; guard++) {
      let gap = null;
      for (const e of [...this.held]) {
        if (skip.has(e.seq)) continue;
        const r = await this.sendOne(e);
        if (r.status === 409 && r.body.error.code === 'seq_gap') { gap = r.body.error.expectedSeq; break; }
        assert.equal(r.status, 200, r.text);
        this.held = this.held.filter((x) => x !== e);
        this.acked.push({ seq: e.seq, duplicate: !!r.body.duplicate });
      }
      skip = new Set();
      if (gap === null) break;
      assert.ok(this.held.some((e) => e.seq === gap), `the client holds the expected seq ${gap}`);
      this.held = this.held.filter((e) => e.seq >= gap);
    }
  }
}

test('a gap: seq_gap with the expected seq, nothing recorded; the SDK-like re-send from it works', async () => {
  const u = fresh();
  const c = new SeqClient(sys, u, CLIENT);
  for (let i = 1; i <= 5; i++) c.queue({ xp: i });
  const gaps = [];
  const orig = c.sendOne.bind(c);
  c.sendOne = async (e) => {
    const r = await orig(e);
    if (r.status === 409) gaps.push(r.body.error);
    return r;
  };
  // 3 is lost on the way the first time: 4 arrives after 2
  await c.flush(new Set([3]));
  assert.equal(gaps.length, 1, JSON.stringify(gaps));
  assert.equal(gaps[0].code, 'seq_gap');
  assert.equal(gaps[0].expectedSeq, 3);
  assert.match(gaps[0].message, /next seq is 3/);
  assert.deepEqual(c.acked.map((a) => a.seq), [1, 2, 3, 4, 5]);
  assert.ok(c.acked.every((a) => !a.duplicate), '4 was not recorded at the gap: applied at its re-send');
  const d = await doc(sys, u);
  assert.equal(d.xp, 15, 'every op once');
  assert.equal(d.version, 5);
  // the socket ack carries it too
  const s = await connect(sys, u, {});
  try {
    const ack = await emitAck(s, 'user:clientUpdate', op(CLIENT, 9, { xp: 1 }));
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'seq_gap');
    assert.equal(ack.error.status, 409);
    assert.equal(ack.error.expectedSeq, 6);
  } finally { s.close(); }
  const m = await statsMetrics(sys.statsAdminPort);
  assert.ok(sample(m, 'statsync_stats_client_seq_total', { verdict: 'gap' }) >= 2);
  assert.ok(sample(m, 'statsync_stats_client_seq_total', { verdict: 'new' }) >= 5);
  assert.ok(sample(m, 'statsync_stats_client_seq_total', { verdict: 'repeat' }) >= 1);
});

test('the records survive a stats-service kill -9 and restart', async () => {
  const u = fresh();
  expectOk(await patch(sys, u, { xp: 3, clientId: CLIENT, seq: 1 }), 'seq 1');
  expectRefused(await patch(sys, u, { diamonds: -1, clientId: CLIENT, seq: 2 }), 409, 'insufficient_funds', 'seq 2');
  await sys.stats.kill('SIGKILL');
  await sys.restartStats();
  await waitFor('stats-service answering', async () => (await patch(sys, fresh('probe'), { xp: 1 })).status === 200, 15000, 100);
  let r = await patch(sys, u, { xp: 3, clientId: CLIENT, seq: 1 });
  expectOk(r, 'seq 1 after the restart');
  assert.equal(r.body.duplicate, true);
  assert.equal(r.body.stats.xp, 3);
  expectRefused(await patch(sys, u, { diamonds: -1, clientId: CLIENT, seq: 2 }), 409, 'insufficient_funds', 'seq 2 after the restart');
  r = await patch(sys, u, { xp: 1, clientId: CLIENT, seq: 4 });
  expectRefused(r, 409, 'seq_gap', 'seq 4');
  assert.equal(r.body.error.expectedSeq, 3);
  expectOk(await patch(sys, u, { xp: 1, clientId: CLIENT, seq: 3 }), 'seq 3');
});

test('two stats-service instances owning partition halves: users of both halves behave the same', async (t) => {
  const own = await System.start({ stats: false, gatewayEnv: { STATSYNC_REQUEST_TIMEOUT_MS: '10000' } });
  const procs = [];
  t.after(async () => {
    for (const p of procs) await p.kill('SIGTERM');
    await own.stop();
  });
  const start = async (name, parts) => {
    const port = await freePort();
    const p = new Proc(name, bin('statsync-stats'), [], own.baseEnv({
      STATSYNC_DATA_DIR: path.join(own.dir, `data-${name}`),
      STATSYNC_ADMIN_PORT: String(port),
      STATSYNC_INSTANCE_ID: name,
      STATSYNC_PARTITIONS: parts,
      STATSYNC_LEASE_TTL_MS: '2000',
    }, NATS_USERS.stats), path.join(own.dir, `${name}.log`));
    p.adminPort = port;
    procs.push(p);
    p.start();
    await own.waitHttp(port, '/health', p);
    return p;
  };
  const low = await start('seqlow', '0-31');
  const high = await start('seqhigh', '32-63');
  const lows = usersWhere(`csl${process.pid}x`, 3, (p) => p < 32);
  const highs = usersWhere(`csh${process.pid}x`, 3, (p) => p >= 32);
  for (const u of [...lows, ...highs]) {
    expectOk(await patch(own, u, { xp: 2, diamonds: 1, clientId: CLIENT, seq: 1 }), `${u} seq 1`);
    const again = await patch(own, u, { xp: 2, clientId: CLIENT, seq: 1 });
    assert.equal(again.body.duplicate, true, `${u} repeat`);
    expectRefused(await patch(own, u, { diamonds: -9, clientId: CLIENT, seq: 2 }), 409, 'insufficient_funds', `${u} seq 2`);
    const gap = await patch(own, u, { xp: 1, clientId: CLIENT, seq: 5 });
    expectRefused(gap, 409, 'seq_gap', `${u} gap`);
    assert.equal(gap.body.error.expectedSeq, 3);
    expectRefused(await patch(own, u, { diamonds: -9, clientId: CLIENT, seq: 2 }), 409, 'insufficient_funds', `${u} seq 2 again`);
    expectOk(await patch(own, u, { xp: 1, clientId: CLIENT, seq: 3 }), `${u} seq 3`);
    const d = await doc(own, u);
    assert.equal(d.xp, 3, u);
    assert.equal(d.version, 2, u);
  }
  // each owner judged its own half only: the records live in its partitions' LMDB
  for (const p of [low, high]) {
    const m = await statsMetrics(p.adminPort);
    assert.equal(sample(m, 'statsync_stats_client_seq_total', { verdict: 'new' }), 3 * 3, `${p.name}: new`);
    assert.equal(sample(m, 'statsync_stats_client_seq_total', { verdict: 'repeat' }), 3 * 2, `${p.name}: repeats`);
    assert.equal(sample(m, 'statsync_stats_client_seq_total', { verdict: 'gap' }), 3, `${p.name}: gaps`);
  }
  // a partition moved to the other instance takes its client records along
  const u = lows[0];
  const part = partitionOf(u);
  const mv = await admin(own, ['partition', 'move', String(part), '--from', 'seqlow', '--to', 'seqhigh', '--json']);
  assert.equal(mv.code, 0, mv.text);
  let r = await patch(own, u, { xp: 2, clientId: CLIENT, seq: 1 });
  assert.equal(r.body.duplicate, true, `after the move: ${r.text}`);
  expectRefused(await patch(own, u, { diamonds: -9, clientId: CLIENT, seq: 2 }), 409, 'insufficient_funds', 'refused seq after the move');
  r = await patch(own, u, { xp: 1, clientId: CLIENT, seq: 6 });
  expectRefused(r, 409, 'seq_gap', 'a gap after the move (a new client would be taken as it comes)');
  assert.equal(r.body.error.expectedSeq, 4);
  expectOk(await patch(own, u, { xp: 1, clientId: CLIENT, seq: 4 }), 'seq 4 on the new owner');
  assert.equal((await doc(own, u)).xp, 4);
  const judged = sample(await statsMetrics(high.adminPort), 'statsync_stats_client_seq_total');
  assert.equal(judged, 3 * 6 + 4, 'judged by the new owner');
});
