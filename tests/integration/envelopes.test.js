// envelopes.test.js — "envelopes are tolerant, data is strict" (DESIGN §2) and
// "a full write keeps what the client sent" (DESIGN §3), against the real
// gateway, stats-service, presence-service and nats-server, with the real
// socket.io-client.
//
// Envelope: the payload of a client event and the updateStats body. Members
// the server does not use (ts, seq, source, clientId, a client's own stamps)
// are ignored; the ones it uses (opId, userId, delta | stats | ops) are still
// validated. Data: delta, __set, stats, each ops[i] — still refused whole on
// any unknown field, and nothing is applied.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System } = require('../lib/system');
const { connect, once, waitFor, emitAck } = require('../compat/sio_helpers');

let sys;
let n = 0;
const fresh = (p = 'env') => `${p}${process.pid}x${++n}`; // a never-written userId
const iso = (ms = Date.now()) => new Date(ms).toISOString();

test.before(async () => { sys = await System.start(); });
test.after(async () => { if (sys) await sys.stop(); });

const get = async (user) => {
  const r = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user) });
  assert.equal(r.status, 200, r.text);
  return r.body;
};
const patch = (user, body) => sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body });
const update = (user, body) => sys.http('POST', '/api/users/updateStats', { token: sys.token(user), body });

function expectRefused(ack, code, what) {
  assert.equal(typeof ack, 'object', `${what}: ack ${ack}`);
  assert.equal(ack.ok, false, `${what} accepted: ${JSON.stringify(ack)}`);
  assert.equal(ack.error.code, code, `${what}: ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error.message, 'string');
  assert.ok(ack.error.message.length > 0);
}

function expectHttpError(r, status, code) {
  assert.equal(r.status, status, `want ${status} ${code}, got ${r.status} ${r.text}`);
  assert.equal(r.body.error.code, code, r.text);
  assert.ok(r.body.error.message.length > 0);
}

// ---- socket events: extra envelope members are ignored ---------------------------------

test('user:clientUpdate: every form with extra envelope members is applied', async () => {
  const u = fresh();
  const s = await connect(sys, u, {});
  try {
    let ack = await emitAck(s, 'user:clientUpdate', { userId: u, delta: { xp: 1 }, ts: Date.now() });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.stats.xp, 1);
    assert.equal(ack.stats.version, 1);

    ack = await emitAck(s, 'user:clientUpdate', {
      opId: 'e1', delta: { xp: 2, __set: { hearts: 3 } }, seq: 3, source: 'app', clientId: 'install-1', ts: 'now', meta: { a: [1, { b: null }] },
    });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.stats.xp, 3);
    assert.equal(ack.stats.hearts, 3);
    assert.equal(ack.stats.version, 2);
    // the opId is still used: a repeat with other envelope members is a duplicate
    ack = await emitAck(s, 'user:clientUpdate', { opId: 'e1', delta: { xp: 2, __set: { hearts: 3 } }, seq: 4, ts: 1 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.duplicate, true);
    assert.equal(ack.stats.version, 2);

    // a minute ahead: strictly newer than the server's time of the deltas before
    ack = await emitAck(s, 'user:clientUpdate', { userId: u, stats: { xp: 50, level: 4, updatedAt: iso(Date.now() + 60000) }, clientTs: Date.now() });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.stats.xp, 50);
    assert.equal(ack.stats.level, 4);
    assert.equal(ack.stats.version, 3);

    // a batch: envelope extras ignored; an op may carry the SDK's clientId / seq
    ack = await emitAck(s, 'user:clientUpdate', {
      ops: [{ opId: 'b1', delta: { xp: 1 } }, { opId: 'b2', delta: { xp: 2 }, clientId: 'install-1', seq: 5 }],
      ts: Date.now(), seq: 9, source: 'queue',
    });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.stats.xp, 53);
    assert.equal(ack.stats.version, 4);

    // without an ack: applied too (the change arrives as user:data:updated)
    const pushed = waitFor(s, 'user:data:updated', (d) => d.version === 5);
    const err = new Promise((resolve) => s.once('user:error', resolve));
    s.emit('user:clientUpdate', { delta: { diamonds: 4 }, ts: Date.now(), source: 'app' });
    const d = await Promise.race([pushed, err.then((e) => { throw new Error(`refused: ${JSON.stringify(e)}`); })]);
    assert.equal(d.diamonds, 4);

    const doc = await get(u);
    assert.equal(doc.xp, 53);
    assert.equal(doc.diamonds, 4);
    assert.equal(doc.hearts, 3);
    assert.equal(doc.version, 5);
  } finally { s.close(); }
});

test('user:clientUpdate: envelope members the server uses keep their validation', async () => {
  const u = fresh();
  const s = await connect(sys, u, {});
  try {
    const cases = [
      [{ opId: 5, delta: { xp: 1 }, ts: 1 }, 'invalid_type'],
      [{ opId: '', delta: { xp: 1 }, ts: 1 }, 'invalid_value'],
      [{ opId: 'k'.repeat(129), delta: { xp: 1 }, ts: 1 }, 'invalid_value'],
      [{ opId: 'b', ops: [{ delta: { xp: 1 } }], ts: 1 }, 'bad_request'],
      [{ userId: 7, delta: { xp: 1 }, ts: 1 }, 'invalid_type'],
      [{ userId: fresh(), delta: { xp: 1 }, ts: 1 }, 'forbidden'],
      [{ ts: 1, seq: 2 }, 'bad_request'],
      [{ delta: { xp: 1 }, stats: { xp: 1, updatedAt: iso() }, ts: 1 }, 'bad_request'],
      [{ ops: [], ts: 1 }, 'invalid_value'],
      [{ delta: 'xp', ts: 1 }, 'invalid_type'],
    ];
    for (const [payload, code] of cases) {
      expectRefused(await emitAck(s, 'user:clientUpdate', payload), code, JSON.stringify(payload).slice(0, 80));
    }
    const ok = await emitAck(s, 'user:clientUpdate', { opId: 'k'.repeat(128), delta: { xp: 1 }, ts: 1 });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal((await get(u)).version, 1);
  } finally { s.close(); }
});

test('presence:ping {ts, extra} gets its pong with ts echoed', async () => {
  const u = fresh();
  const s = await connect(sys, u, {});
  try {
    const ts = Date.now();
    const pong = await emitAck(s, 'presence:ping', { ts, foo: 'bar', seq: 1, deviceId: 'd1' });
    assert.equal(pong.userId, u);
    assert.equal(pong.ts, ts);
    assert.equal(typeof pong.serverTime, 'number');
    assert.ok(pong.devices >= 1);
    const ev = once(s, 'presence:pong');
    s.emit('presence:ping', { ts: ts + 1, foo: { nested: [1, 2] } });
    const p = await ev;
    assert.equal(p.userId, u);
    assert.equal(p.ts, ts + 1);
  } finally { s.close(); }
});

test('presence:join {userId, deviceId} joins and answers the document', async () => {
  const u = fresh();
  const r = await patch(u, { xp: 12 });
  assert.equal(r.status, 200, r.text);
  const s = await connect(sys, u, {});
  try {
    const doc = once(s, 'user:data:updated');
    const ack = await emitAck(s, 'presence:join', { userId: u, deviceId: 'phone-1', platform: 'ios', ts: Date.now() });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    const d = await doc;
    assert.equal(d.userId, u);
    assert.equal(d.xp, 12);
    // still its own room only
    expectRefused(await emitAck(s, 'presence:join', { userId: fresh(), deviceId: 'phone-1' }), 'forbidden', 'other room');
  } finally { s.close(); }
});

test('ten sockets of one user each sending {delta:{xp:1}, ts} converge to the exact sum', async () => {
  const u = fresh('conv');
  const N = 10, EACH = 5;
  const sockets = [];
  try {
    for (let i = 0; i < N; i++) {
      const transports = i % 3 === 0 ? ['polling'] : i % 3 === 1 ? ['websocket'] : undefined;
      sockets.push(await connect(sys, u, transports ? { transports } : {}));
    }
    const acks = await Promise.all(sockets.map(async (s, i) => {
      const out = [];
      for (let k = 0; k < EACH; k++) {
        out.push(await emitAck(s, 'user:clientUpdate', { delta: { xp: 1 }, ts: Date.now(), seq: k, source: `socket-${i}` }, 10000));
      }
      return out;
    }));
    for (const a of acks.flat()) assert.equal(a.ok, true, JSON.stringify(a));
    const versions = acks.flat().map((a) => a.stats.version).sort((x, y) => x - y);
    assert.deepEqual(versions, Array.from({ length: N * EACH }, (_, i) => i + 1), 'one version per update');
    const doc = await get(u);
    assert.equal(doc.xp, N * EACH);
    assert.equal(doc.version, N * EACH);
    // and every socket is pushed the next document
    const pushes = sockets.map((s) => waitFor(s, 'user:data:updated', (d) => d.version === N * EACH + 1, 8000));
    const last = await emitAck(sockets[0], 'user:clientUpdate', { delta: { diamonds: 1 }, ts: Date.now() });
    assert.equal(last.ok, true, JSON.stringify(last));
    for (const d of await Promise.all(pushes)) assert.equal(d.xp, N * EACH);
  } finally { for (const s of sockets) s.close(); }
});

// ---- the data stays strict ------------------------------------------------------------

test('unknown fields inside the data are refused and change nothing', async () => {
  const u = fresh();
  const r = await patch(u, { xp: 5 });
  assert.equal(r.status, 200, r.text);
  const before = await get(u);
  const s = await connect(sys, u, {});
  try {
    const cases = [
      { opId: 'x1', delta: { xp: 1, bogus: 1 }, ts: Date.now() },
      { opId: 'x2', delta: { xp: 1, ts: Date.now() } },
      { opId: 'x3', delta: { xp: 1, __set: { hearts: 2, nope: 1 } }, ts: 1 },
      { opId: 'x4', stats: { xp: 100, updatedAt: iso(), nope: 1 }, clientTs: 1 },
      { ops: [{ opId: 'x5', delta: { xp: 1 } }, { opId: 'x6', delta: { zz: 1 } }], ts: 1 },
      { ops: [{ opId: 'x7', delta: { xp: 1 } }, { opId: 'x8', delta: { xp: 1 }, ts: 1 }] },
      { ops: [{ opId: 'x9', delta: { xp: 1 }, userId: u }] },
    ];
    for (const payload of cases) {
      expectRefused(await emitAck(s, 'user:clientUpdate', payload), 'unknown_field', JSON.stringify(payload).slice(0, 80));
    }
    // without an ack the refusal is a user:error event
    const e = once(s, 'user:error');
    s.emit('user:clientUpdate', { delta: { xp: 1, bogus: 1 }, ts: 1 });
    const ev = await e;
    assert.equal(ev.event, 'user:clientUpdate');
    assert.equal(ev.error.code, 'unknown_field');
    // wrong types and non-finite-looking values inside the data: refused too
    expectRefused(await emitAck(s, 'user:clientUpdate', { delta: { xp: '1' }, ts: 1 }), 'invalid_type', 'xp string');
    expectRefused(await emitAck(s, 'user:clientUpdate', { delta: { xp: 1.5 }, ts: 1 }), 'invalid_type', 'xp 1.5');

    const after = await get(u);
    assert.equal(after.version, before.version, 'nothing applied');
    assert.deepEqual(after, before);
    // a refused op recorded nothing: its opId applies once corrected
    const ok = await emitAck(s, 'user:clientUpdate', { ops: [{ opId: 'x5', delta: { xp: 1 } }, { opId: 'x6', delta: { xp: 1 } }] });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(ok.duplicate, undefined);
    assert.equal(ok.stats.xp, 7);
    assert.equal(ok.stats.version, before.version + 1);
  } finally { s.close(); }
});

// ---- REST -----------------------------------------------------------------------------

test('updateStats with extra envelope members is applied; unknown fields in stats are not', async () => {
  const u = fresh();
  let r = await update(u, { userId: u, stats: { xp: 10, hearts: 4, updatedAt: iso(Date.now() - 1000) }, clientTs: Date.now(), seq: 3, source: 'app' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 10);
  assert.equal(r.body.stats.hearts, 4);
  assert.equal(r.body.stats.version, 1);
  r = await update(u, { stats: { xp: 11, updatedAt: iso() }, extra: 1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 11);
  // the members used are still checked
  expectHttpError(await update(u, { userId: fresh(), stats: { xp: 1, updatedAt: iso() }, ts: 1 }), 403, 'forbidden');
  expectHttpError(await update(u, { userId: 7, stats: { xp: 1, updatedAt: iso() } }), 400, 'invalid_type');
  expectHttpError(await update(u, { userId: u, clientTs: 1 }), 400, 'bad_request');
  // the data is strict
  expectHttpError(await update(u, { userId: u, stats: { xp: 1, nope: 1, updatedAt: iso() }, clientTs: 1 }), 400, 'unknown_field');
  expectHttpError(await update(u, { userId: u, stats: { xp: 1, ts: 1, updatedAt: iso() } }), 400, 'unknown_field');
  assert.equal((await get(u)).version, 2);
});

test('the REST patch body is the delta: strict, but for userId and the SDK\'s clientId/seq/opId', async () => {
  const u = fresh();
  let r = await patch(u, { xp: 3, userId: u, clientId: 'install-1', seq: 1, opId: 'p1' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 3);
  // opId in the body is not an idempotency key (the Idempotency-Key header is)
  r = await patch(u, { xp: 3, clientId: 'install-1', seq: 2, opId: 'p1' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.xp, 6);
  // clientId + seq number the op (exactly-once per client): seq 2 again is a repeat
  r = await patch(u, { xp: 3, clientId: 'install-1', seq: 2, opId: 'p2' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.duplicate, true);
  assert.equal(r.body.stats.xp, 6);
  const v = r.body.stats.version;
  for (const [body, code] of [
    [{ xp: 1, ts: Date.now() }, 'unknown_field'],
    [{ xp: 1, bogus: 1 }, 'unknown_field'],
    [{ xp: 1, source: 'app' }, 'unknown_field'],
    [{ xp: 1, __set: { seq: 1 } }, 'unknown_field'],
    [{ clientId: 'c', seq: 1, opId: 'o' }, 'bad_request'],
    [{ xp: '1', seq: 2 }, 'invalid_type'],
    // used, so validated: both or neither, a clientId of 1-64 [A-Za-z0-9_-], a seq of 1..2^53-1
    [{ xp: 1, seq: 2 }, 'bad_request'],
    [{ xp: 1, clientId: 'install-1' }, 'bad_request'],
    [{ xp: 1, clientId: {}, seq: 3 }, 'invalid_type'],
    [{ xp: 1, clientId: 'install-1', seq: 'x' }, 'invalid_type'],
    [{ xp: 1, clientId: 'a.b', seq: 3 }, 'invalid_value'],
    [{ xp: 1, clientId: 'install-1', seq: 0 }, 'invalid_value'],
  ]) {
    expectHttpError(await patch(u, body), 400, code);
  }
  assert.equal((await get(u)).version, v);
});

// ---- accuracy: a full write keeps what the client sent --------------------------------

test('a full write stores accuracy as given; a delta moving correct/total re-derives it', async () => {
  const u = fresh();
  let r = await update(u, { userId: u, stats: { accuracy: 85, correctAnswers: 43, totalQuestions: 50, updatedAt: iso(Date.now() - 5000) } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.accuracy, 85);
  assert.equal((await get(u)).accuracy, 85);
  // a delta that moves neither keeps it
  r = await patch(u, { xp: 1 });
  assert.equal(r.body.stats.accuracy, 85);
  // a delta moving correct/total re-derives: round(100·44/51) = 86
  r = await patch(u, { correctAnswers: 1, totalQuestions: 1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.accuracy, 86);
  // unless it gives accuracy itself
  r = await patch(u, { correctAnswers: 1, totalQuestions: 1, __set: { accuracy: 70 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.accuracy, 70);
  // a full write with correct/total and no accuracy derives it
  r = await update(u, { userId: u, stats: { correctAnswers: 1, totalQuestions: 3, updatedAt: iso(Date.now() + 1000) } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.stats.accuracy, 33);

  // the same over a socket {stats}
  const w = fresh();
  const s = await connect(sys, w, {});
  try {
    const ack = await emitAck(s, 'user:clientUpdate', { stats: { accuracy: 85, correctAnswers: 43, totalQuestions: 50, streak: 4, maxStreak: 1, updatedAt: iso() }, ts: 1 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.stats.accuracy, 85);
    assert.equal(ack.stats.maxStreak, 4, 'maxStreak stays max(maxStreak, streak)');
    const d = await emitAck(s, 'user:clientUpdate', { delta: { correctAnswers: 1, totalQuestions: 1, __set: { accuracy: 70 } } });
    assert.equal(d.stats.accuracy, 70);
    const e = await emitAck(s, 'user:clientUpdate', { delta: { correctAnswers: 1, totalQuestions: 1 } });
    assert.equal(e.stats.accuracy, 87); // 45/52 = 86.5 -> 87
  } finally { s.close(); }
});
