'use strict';
// Exactly-once with no time window (issue 16 item 1): every queued operation
// carries this install's clientId and its seq (1, 2, 3 …), persisted with the
// queue and never reused; the (fake) server keeps each client's last seq, so a
// repeat is recognised however late it comes — after the opId TTL too; a
// seq_gap makes the SDK go on as a new client. Fake timers throughout.
const test = require('node:test');
const assert = require('node:assert/strict');
const { FakeServer, makeClient, memoryStorage, enableFakeTimers, advance, settle, jsonResponse } = require('./support/fakes');

const QUEUE = '@statsync/queue/alice';
const CLIENT = '@statsync/client/alice';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function setup(t, opts = {}) {
  const timers = enableFakeTimers();
  const server = opts.server || new FakeServer();
  const made = [];
  const make = (o = {}) => {
    const h = makeClient(server, { ...opts, ...o });
    made.push(h);
    return h;
  };
  t.after(async () => { for (const h of made) await h.client.destroy(); timers.reset(); });
  return { server, make };
}

const stored = (storage, key) => (storage.map.has(key) ? JSON.parse(storage.map.get(key)) : null);
const numbered = (server) => server.requests.filter((r) => r.clientId !== undefined);

async function queueOffline(server, client, deltas) {
  server.reachable = false;
  for (const d of deltas) { await client.updateUserStats(d); await advance(650); }
  server.reachable = true;
}

test('seq: numbers 1, 2, 3 under one durable clientId, kept across app restarts and never reused', async (t) => {
  const { server, make } = setup(t, { autoConnect: false });
  const storage = memoryStorage();
  const a = make({ storage });
  await a.client.start();
  await settle();
  assert.match(a.client.clientId, UUID);
  await queueOffline(server, a.client, [{ xp: 1 }, { xp: 2 }, { xp: 3 }]);
  assert.deepEqual(a.client.getPendingOperations().map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual(stored(storage, QUEUE).entries.map((e) => e.seq), [1, 2, 3], 'persisted with the queue');
  assert.deepEqual(stored(storage, CLIENT), { v: 1, clientId: a.client.clientId, nextSeq: 4 });
  const clientId = a.client.clientId;
  await a.client.destroy(); // the app is closed with three ops queued

  server.reachable = false;
  const b = make({ storage });
  await b.client.start();
  await settle();
  assert.equal(b.client.clientId, clientId, 'the same install');
  assert.deepEqual(b.client.getPendingOperations().map((e) => e.seq), [1, 2, 3]);
  await b.client.updateUserStats({ xp: 4 });
  server.reachable = true;
  await b.client.flushQueue();
  assert.deepEqual(numbered(server).map((r) => [r.clientId, r.seq, r.transport]),
    [[clientId, 1, 'rest'], [clientId, 2, 'rest'], [clientId, 3, 'rest'], [clientId, 4, 'rest']]);
  assert.equal(server.doc('alice').xp, 10);
  assert.equal(storage.map.has(QUEUE), false, 'the queue is empty…');
  assert.deepEqual(stored(storage, CLIENT), { v: 1, clientId, nextSeq: 5 }, '…and the next number is kept');
  await b.client.destroy();

  // an empty queue at the next start: numbering goes on from 5
  const c = make({ storage });
  await c.client.start();
  await settle();
  await c.client.updateUserStats({ xp: 5 });
  await c.client.flushQueue();
  assert.deepEqual(numbered(server).at(-1), { transport: 'rest', opId: numbered(server).at(-1).opId, delta: { xp: 5 }, clientId, seq: 5 });
  assert.equal(server.doc('alice').xp, 15);
});

test('seq: a queue written before clientId/seq (v1) gets numbers under a new clientId', async (t) => {
  const { server, make } = setup(t, { autoConnect: false });
  const storage = memoryStorage();
  storage.map.set(QUEUE, JSON.stringify({ v: 1, entries: [{ opId: 'old-1', delta: { xp: 9 }, createdAt: 1 }, { opId: 'old-2', delta: { xp: 1 }, createdAt: 2 }] }));
  server.reachable = false;
  const h = make({ storage });
  await h.client.start();
  await settle();
  assert.deepEqual(h.client.getPendingOperations().map((e) => [e.opId, e.seq]), [['old-1', 1], ['old-2', 2]]);
  assert.match(h.client.clientId, UUID);
  server.reachable = true;
  await h.client.flushQueue();
  assert.deepEqual(numbered(server).map((r) => [r.opId, r.seq]), [['old-1', 1], ['old-2', 2]]);
  assert.equal(server.doc('alice').xp, 10);
});

test('seq: over the socket each op is a batch of one, {ops:[{opId, delta, clientId, seq}]}', async (t) => {
  const { server, make } = setup(t);
  const h = make();
  await h.client.start();
  await h.socket().serverConnect();
  await settle();
  await h.client.updateUserStats({ xp: 2 });
  await advance(650);
  const sent = h.socket().emitted.filter((e) => e.ev === 'user:clientUpdate');
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0].payload, { ops: [{ opId: server.requests[0].opId, delta: { xp: 2 }, clientId: h.client.clientId, seq: 1 }] });
  assert.equal(server.doc('alice').xp, 2);
});

test('seq: an ack lost and re-sent after the server\'s opId TTL has passed is still applied once', async (t) => {
  const { server, make } = setup(t);
  const h = make({ ackTimeoutMs: 1000 });
  await h.client.start();
  await h.socket().serverConnect();
  await settle();
  h.socket().dropAcks = true; // the server commits, the answer never comes
  const acks = [];
  h.client.on('ack', (a) => acks.push(a));
  await h.client.updateUserStats({ xp: 5 });
  await advance(650);
  assert.equal(server.doc('alice').xp, 5, 'committed');
  assert.equal(h.client.getState().pendingCount, 1, 'kept: no answer');
  // a long time offline: longer than STATSYNC_IDEMPOTENCY_TTL_S, the opId is forgotten
  h.socket().serverDisconnect();
  server.reachable = false;
  await advance(2000);
  server.forgetOpIds();
  await advance(48 * 3600 * 1000, 3600 * 1000);
  server.reachable = true;
  h.socket().dropAcks = false;
  await h.client.flushQueue();
  assert.equal(server.doc('alice').xp, 5, 'applied once: the seq was recognised');
  assert.equal(server.doc('alice').version, 1);
  assert.equal(h.client.getState().pendingCount, 0);
  assert.equal(acks.length, 1);
  assert.equal(acks[0].duplicate, true, "the server's duplicate answer is a success");
  assert.equal(acks[0].seq, 1);
  assert.equal(h.client.getState().error, null);
  const sends = server.requests.filter((r) => r.seq === 1);
  assert.ok(sends.length >= 2 && sends.every((r) => r.opId === sends[0].opId && r.clientId === h.client.clientId));
});

test('seq: a refused op whose answer was lost gets its refusal again, even once it would fit; the next op is no gap', async (t) => {
  const { server, make } = setup(t, { autoConnect: false });
  const h = make();
  server.apply('alice', { diamonds: 2 }, 'seed', 'rest');
  await h.client.start();
  await settle();
  assert.equal(h.client.getUserData().diamonds, 2);
  server.apply('alice', { diamonds: -2 }, 'other-device', 'rest'); // spent elsewhere meanwhile
  // the server decides the spend (409 insufficient_funds), the answer is lost
  let lose = true;
  server.restHook = async (u, init) => {
    if (!lose || init.method !== 'POST') return null;
    lose = false;
    const { userId: _u, clientId, seq, ...delta } = JSON.parse(init.body);
    server.apply('alice', delta, init.headers['Idempotency-Key'], 'rest', { clientId, seq });
    throw new TypeError('network lost after the server answered');
  };
  const refused = [];
  h.client.on('refused', (e) => refused.push(e));
  await h.client.updateUserStats({ diamonds: -2 }); // a spend: sent at once
  await settle();
  assert.equal(h.client.getState().pendingCount, 1, 'kept: no answer');
  server.apply('alice', { diamonds: 5 }, 'other-earn', 'rest'); // now it would fit
  server.forgetOpIds();
  await h.client.flushQueue();
  assert.equal(refused.length, 1);
  assert.equal(refused[0].code, 'insufficient_funds', 'the outcome it had when it arrived');
  assert.equal(server.doc('alice').diamonds, 5, 'not applied on the re-send');
  assert.equal(h.client.getState().pendingCount, 0);
  await h.client.updateUserStats({ xp: 1 });
  await h.client.flushQueue();
  assert.equal(server.doc('alice').xp, 1, 'seq 2 follows the refused seq 1');
  assert.deepEqual(numbered(server).map((r) => r.seq), [1, 1, 2]);
});

test('seq: a gap (an op the gateway refused, recorded nowhere) — the SDK goes on as a new client, nothing applied twice or lost', async (t) => {
  const { server, make } = setup(t, { autoConnect: false });
  const storage = memoryStorage();
  const h = make({ storage });
  await h.client.start();
  await settle();
  const first = h.client.clientId;
  // the gateway refuses op 2 before it reaches the stats-service
  server.restHook = async (u, init) => {
    const body = init.body ? JSON.parse(init.body) : {};
    if (body.seq === 2 && body.clientId === first) return jsonResponse(413, { error: { code: 'payload_too_large', message: 'too large' } });
    return null;
  };
  const gaps = [];
  h.client.on('seqGap', (g) => gaps.push(g));
  await queueOffline(server, h.client, [{ xp: 1 }, { xp: 2 }, { xp: 4 }]);
  assert.deepEqual(h.client.getPendingOperations().map((e) => e.seq), [1, 2, 3]);
  await h.client.flushQueue();
  assert.equal(gaps.length, 1, JSON.stringify(gaps));
  assert.deepEqual(gaps[0], { expectedSeq: 2, seq: 3, previousClientId: first, clientId: h.client.clientId });
  assert.notEqual(h.client.clientId, first);
  assert.match(h.client.clientId, UUID);
  assert.equal(server.doc('alice').xp, 5, 'ops 1 and 3 applied once; op 2 was refused');
  const under = (id) => numbered(server).filter((r) => r.clientId === id).map((r) => r.seq);
  assert.deepEqual(under(first), [1, 3], 'op 2 never reached the stats-service');
  assert.deepEqual(under(h.client.clientId), [3], 'the same number, under the new clientId');
  assert.deepEqual(stored(storage, CLIENT), { v: 1, clientId: h.client.clientId, nextSeq: 4 }, 'persisted before it was used');
  // later ops go on in order
  await h.client.updateUserStats({ xp: 8 });
  await h.client.flushQueue();
  assert.deepEqual(under(h.client.clientId), [3, 4]);
  assert.equal(server.doc('alice').xp, 13);
  assert.equal(h.client.getState().syncError, null);
});

test('seq: a server restored from an older copy (its last seq behind the SDK) — a gap, then the queue is applied once', async (t) => {
  const { server, make } = setup(t, { autoConnect: false });
  const h = make();
  await h.client.start();
  await settle();
  await h.client.updateUserStats({ xp: 1 });
  await h.client.flushQueue();
  await h.client.updateUserStats({ xp: 2 });
  await h.client.flushQueue();
  const first = h.client.clientId;
  server.clientsOf('alice').get(first).last = 0; // the restore: this client's numbers are gone
  await h.client.updateUserStats({ xp: 10 });
  await h.client.flushQueue();
  assert.notEqual(h.client.clientId, first);
  assert.equal(server.doc('alice').xp, 13, 'applied once');
  assert.equal(h.client.getState().pendingCount, 0);
  assert.equal(h.client.getState().error, null);
});

test('seq: an op is sent only once its number is in storage', async (t) => {
  const { server, make } = setup(t, { autoConnect: false });
  const storage = memoryStorage();
  let failWrites = false;
  const set = storage.setItem;
  storage.setItem = async (k, v) => { if (failWrites && k === CLIENT) throw new Error('disk full'); return set(k, v); };
  const h = make({ storage });
  await h.client.start();
  await settle();
  failWrites = true;
  await h.client.updateUserStats({ xp: 1 });
  await assert.rejects(h.client.flushQueue(), (e) => e.code === 'storage');
  assert.equal(numbered(server).length, 0, 'nothing sent with a number storage does not hold');
  assert.equal(h.client.getState().pendingCount, 1);
  failWrites = false;
  await h.client.flushQueue();
  assert.equal(server.doc('alice').xp, 1);
  assert.equal(stored(storage, CLIENT).nextSeq, 2);
});

test('seq: sign-out deletes the client record; the next sign-in is a new client numbering from 1', async (t) => {
  const { server, make } = setup(t, { autoConnect: false });
  const storage = memoryStorage();
  const a = make({ storage });
  await a.client.start();
  await settle();
  await a.client.updateUserStats({ xp: 1 });
  await a.client.flushQueue();
  const first = a.client.clientId;
  assert.ok(storage.map.has(CLIENT));
  await a.client.signOut();
  assert.equal(storage.map.has(CLIENT), false);
  const b = make({ storage });
  await b.client.start();
  await settle();
  assert.notEqual(b.client.clientId, first);
  await b.client.updateUserStats({ xp: 1 });
  await b.client.flushQueue();
  assert.deepEqual(numbered(server).map((r) => [r.clientId === first, r.seq]), [[true, 1], [false, 1]]);
  assert.equal(server.doc('alice').xp, 2, 'the new client\'s seq 1 is not mistaken for the old one\'s');
});
