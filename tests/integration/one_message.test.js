// one_message.test.js — one stats → gateway message per socket update
// (issue 19; proto/README.md, "One message per socket update"), watched by a
// raw NATS client subscribed to ">" (tests/lib/nats_spy.js) that sees every
// request with its reply subject and every message sent to it:
//
//  1. A committed user:clientUpdate asks for its answer in the change event
//     (Mutation.reply_in_event): no StatsReply reaches the gateway's inbox,
//     the ChangeEvent names the request's reply subject, and the ack
//     {ok:true, stats} carries the very document of the push.
//  2. What is not a committed change is answered by a StatsReply as before:
//     a refusal (409 insufficient_funds), an idempotent repeat (duplicate).
//  3. A socket that leaves while its update is in flight: the room's
//     subscription is kept until the answer came (the event still reaches
//     the gateway), then dropped.
//  4. Mixed versions: a gateway with STATSYNC_REPLY_IN_EVENT=0 never sets the
//     flag (a reply, as before); a stats-service that ignores the flag
//     (STATSYNC_REPLY_IN_EVENT=0 there: what a stats-service before this
//     change does) sends a reply and an event, and the gateway answers the
//     request once.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, waitFor } = require('../lib/system');
const { NatsSpy } = require('../lib/nats_spy');
const { connect, emitAck, once } = require('../compat/sio_helpers');

const U = `onemsg${process.pid}`;

// The top-level fields of a protobuf message: field number -> [values]
// (varints as BigInt, length-delimited as Buffer). Enough to read the one
// field each check needs without a protobuf library.
function fields(buf) {
  const out = new Map();
  let i = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; i < buf.length; shift += 7n) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw new Error('truncated varint');
  };
  while (i < buf.length) {
    const key = Number(varint());
    const wire = key & 7;
    let v;
    if (wire === 0) v = varint();
    else if (wire === 2) { const n = Number(varint()); v = buf.subarray(i, i + n); i += n; }
    else if (wire === 1 || wire === 5) { const n = wire === 1 ? 8 : 4; v = buf.subarray(i, i + n); i += n; }
    else throw new Error(`wire type ${wire}`);
    if (!out.has(key >> 3)) out.set(key >> 3, []);
    out.get(key >> 3).push(v);
  }
  return out;
}
const MUTATION_REPLY_IN_EVENT = 5;
const EVENT_REPLY_TO = 5;
const REPLY_STATUS = 1;

// Runs fn (one socket update) and returns what NATS carried for it: the
// apply request (with its reply subject), the messages sent to that reply
// subject, and the user's change events.
async function traffic(spy, user, fn) {
  const mark = await spy.mark();
  const result = await fn();
  await spy.settle();
  const msgs = spy.since(mark);
  const applies = msgs.filter((m) => m.subject.startsWith('statsync.stats.apply.') && m.subject.endsWith(`.${user}`));
  assert.equal(applies.length, 1, 'one apply request');
  const apply = applies[0];
  assert.ok(apply.reply, 'the request has a reply subject');
  return {
    result,
    flag: (fields(apply.payload).get(MUTATION_REPLY_IN_EVENT) || [0n])[0],
    replies: msgs.filter((m) => m.subject === apply.reply),
    events: msgs.filter((m) => m.subject === `statsync.user.${user}.changed`),
    reply: apply.reply,
  };
}

async function metric(sys, name, gw = sys.gw) {
  const text = (await sys.http('GET', '/metrics', { gw })).text;
  const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}
const UPDATES_DONE = 'statsync_socket_event_duration_seconds_count{event="user:clientUpdate"}';
const EVENTS_IN = 'statsync_socket_change_events_total';

test('one message per socket update, and the replies that stay', async (t) => {
  const sys = await System.start({ natsAuth: false });
  const spy = await NatsSpy.start(sys.natsPort);
  t.after(async () => { spy.close(); await sys.stop(); });
  const sock = await connect(sys, U);
  t.after(() => sock.close());

  await t.test('a committed change: the event alone answers it, the ack has the push document', async () => {
    const push = once(sock, 'user:data:updated');
    const tr = await traffic(spy, U, () => emitAck(sock, 'user:clientUpdate', { opId: `${U}-1`, delta: { xp: 7 } }));
    assert.equal(tr.flag, 1n, 'the gateway asked for the answer in the event');
    assert.equal(tr.replies.length, 0, 'no StatsReply reached the inbox');
    assert.equal(tr.events.length, 1);
    assert.equal(fields(tr.events[0].payload).get(EVENT_REPLY_TO)[0].toString(), tr.reply,
      'the event names the request');
    assert.equal(tr.result.ok, true);
    assert.equal(tr.result.stats.xp, 7);
    assert.deepEqual(tr.result.stats, await push, 'the ack carries the pushed document');
  });

  await t.test('an update without an ack: its push, no reply', async () => {
    const push = once(sock, 'user:data:updated');
    const tr = await traffic(spy, U, async () => {
      sock.emit('user:clientUpdate', { opId: `${U}-2`, delta: { xp: 1 } });
      return push;
    });
    assert.equal(tr.result.xp, 8);
    assert.equal(tr.replies.length, 0);
    assert.equal(tr.events.length, 1);
  });

  await t.test('a refusal and a repeat are still answered by a StatsReply', async () => {
    const refused = await traffic(spy, U, () => emitAck(sock, 'user:clientUpdate', { delta: { diamonds: -1 } }));
    assert.equal(refused.result.ok, false);
    assert.equal(refused.result.error.code, 'insufficient_funds');
    assert.equal(refused.replies.length, 1);
    assert.equal(fields(refused.replies[0].payload).get(REPLY_STATUS)[0], 409n);
    assert.equal(refused.events.length, 0);

    const again = await traffic(spy, U, () => emitAck(sock, 'user:clientUpdate', { opId: `${U}-1`, delta: { xp: 7 } }));
    assert.equal(again.result.ok, true);
    assert.equal(again.result.duplicate, true);
    assert.equal(again.result.stats.xp, 8);
    assert.equal(again.replies.length, 1);
    assert.equal(again.events.length, 0);
  });

  await t.test('a socket that leaves with its update in flight: the room waits for the answer, then goes', async () => {
    const P = `${U}p`;
    const other = `${U}q`;
    const q = await connect(sys, other); // a user that stays: a barrier for the gateway's deliveries
    t.after(() => q.close());
    const before = await metric(sys, EVENTS_IN);
    const s = await connect(sys, P);
    s.emit('user:clientUpdate', { opId: `${P}-1`, delta: { xp: 3 } });
    s.disconnect(); // right behind the event: the gateway sees both before the commit
    // the event of that update still reached the gateway: its subscription was kept
    await waitFor('the pinned room\'s event', async () => (await metric(sys, EVENTS_IN)) >= before + 1, 5000);
    const doc = await sys.http('GET', `/api/users/${P}/stats`, { token: sys.token(P) });
    assert.equal(doc.body.xp, 3);
    // then the room went: a later change of P no longer reaches this gateway
    const counted = await metric(sys, EVENTS_IN);
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(P), body: { userId: P, xp: 1 } });
    assert.equal(r.status, 200);
    const qPush = once(q, 'user:data:updated');
    const rq = await sys.http('POST', '/api/users/data/patch', { token: sys.token(other), body: { userId: other, xp: 1 } });
    assert.equal(rq.status, 200);
    await qPush;
    await spy.settle();
    assert.equal(await metric(sys, EVENTS_IN), counted + 1, 'only the staying user\'s event came in');
  });

  await t.test('a gateway with STATSYNC_REPLY_IN_EVENT=0 asks for a reply', async () => {
    const gw1 = await sys.addGateway({ STATSYNC_REPLY_IN_EVENT: '0' });
    const s = await connect(sys, U, {}, gw1);
    t.after(() => s.close());
    const tr = await traffic(spy, U, () => emitAck(s, 'user:clientUpdate', { opId: `${U}-3`, delta: { xp: 1 } }));
    assert.equal(tr.flag, 0n);
    assert.equal(tr.replies.length, 1);
    assert.equal(tr.events.length, 1);
    assert.equal(fields(tr.events[0].payload).get(EVENT_REPLY_TO), undefined);
    assert.equal(tr.result.ok, true);
    assert.equal(tr.result.stats.xp, 9);
  });
});

test('a stats-service that ignores the flag: reply and event, the request answered once', async (t) => {
  const sys = await System.start({ natsAuth: false, statsEnv: { STATSYNC_REPLY_IN_EVENT: '0' } });
  const spy = await NatsSpy.start(sys.natsPort);
  t.after(async () => { spy.close(); await sys.stop(); });
  const sock = await connect(sys, U);
  t.after(() => sock.close());
  const done0 = await metric(sys, UPDATES_DONE);
  const push = once(sock, 'user:data:updated');
  const tr = await traffic(spy, U, () => emitAck(sock, 'user:clientUpdate', { opId: `${U}-1`, delta: { xp: 5 } }));
  assert.equal(tr.flag, 1n, 'the gateway asked');
  assert.equal(tr.replies.length, 1, 'the old way: a StatsReply');
  assert.equal(tr.events.length, 1);
  assert.equal(fields(tr.events[0].payload).get(EVENT_REPLY_TO), undefined);
  assert.equal(tr.result.ok, true);
  assert.equal(tr.result.stats.xp, 5);
  assert.equal((await push).xp, 5);
  assert.equal(await metric(sys, UPDATES_DONE), done0 + 1, 'completed exactly once');
});
