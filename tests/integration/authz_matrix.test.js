// authz_matrix.test.js — "nobody reads or changes anyone else's data"
// (DESIGN §2), route by route and event by event:
//
//  1. A token of user A against user B's data, on every REST route and every
//     Socket.IO event (presence:join, user:clientUpdate in its three shapes —
//     delta, stats, ops — with and without an ack, presence:ping): refused
//     (403 / ack {ok:false, error.code forbidden} / user:error), nothing of B
//     published on NATS, nothing pushed to B's sockets or leaked to A's, and
//     B's document byte-identical afterwards (GET body text and version).
//  2. userIds are what identity providers issue ("auth0|…", an email,
//     "apple:001234.abcd.0815", "a.b", "*", ">", 128 bytes of CJK, …): they
//     work, and reach NATS only through the one subject encoding (ss_subjects.h)
//     — never raw, so no character of an id alters a subject. Ids that break
//     the rules (empty, 129 bytes, control characters, whitespace at an end)
//     are refused with 400 before NATS. Both are proven by a raw NATS client
//     (the protocol over net.Socket: CONNECT, SUB > 1, MSG lines) subscribed
//     to ">" for the whole file: every subject seen is one of the subject
//     map's (proto/README.md), every userId token decodes to the id it was
//     made for, and a refused id publishes nothing.
//  3. Tokens whose sub has bad characters are refused (401 / connect_error),
//     as are forged tokens for B (wrong secret, alg none, HS512, expired).
//
// Fast (a few seconds); runs in the normal suite.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { System, mintToken, sleep, waitFor } = require('../lib/system');
const { partitionOf } = require('../lib/partition');
const { rawRequest } = require('./rest_helpers');
const { connect, connectError, emitAck, once } = require('../compat/sio_helpers');
const { NatsSpy } = require('../lib/nats_spy');

const A = `authzA${process.pid}`;
const B = `authzB${process.pid}`;
const PUSHES = ['user:data:updated', 'user:update'];

let sys;
let spy;

// The subject map of proto/README.md (plus the spy's own markers). A userId
// token is [A-Za-z0-9_-] as is and "=XX" for every other byte.
const TOKEN = '[A-Za-z0-9_=-]{1,384}';
// The stats-services' partition leases (JetStream KV): lease keys, homes, the
// cluster's partition count, and the JetStream API calls on those buckets.
const JS_KV = '\\$KV\\.statsync_partitions(_config)?\\.(p\\.\\d+|home\\.\\d+|partition_count)|\\$JS\\.API\\.[A-Z.]+\\.KV_statsync_partitions(_config)?(\\.\\S+)?';
const SUBJECT_OK = new RegExp(`^(statsync\\.stats\\.(apply|get)\\.(0|[1-9]\\d*)\\.${TOKEN}|statsync\\.user\\.${TOKEN}\\.(changed|presence)|statsync\\.health\\.(stats|presence)|statsync\\.presence\\.(join|leave|ping|heartbeat|sync|snapshot|instance)|_INBOX\\.[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*|authzspy\\.marker\\.\\d+\\.\\d+|${JS_KV})$`);
// [, partition or undefined, token]
const USER_SUBJECT = /^statsync\.(?:stats\.(?:apply|get)\.(\d+)\.([^.]*)|user\.([^.]*)\.(?:changed|presence))$/;

// The subject token of a userId, as common/ss_subjects.c writes it.
function subjectToken(id) {
  return [...Buffer.from(id, 'utf8')].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}
function tokenToId(token) {
  const bytes = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') { bytes.push(parseInt(token.slice(i + 1, i + 3), 16)); i += 2; } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

function assertSubjectsClean(msgs) {
  for (const m of msgs) {
    assert.match(m.subject, SUBJECT_OK, `unexpected subject on NATS: ${JSON.stringify(m.subject)}`);
    const user = USER_SUBJECT.exec(m.subject);
    const tok = user && (user[2] !== undefined ? user[2] : user[3]);
    if (user) assert.equal(subjectToken(tokenToId(tok)), tok, `not a canonical token: ${m.subject}`);
    if (user && user[1] !== undefined) assert.equal(Number(user[1]), partitionOf(tokenToId(tok)), `not the user's partition: ${m.subject}`);
  }
}

function userSubjects(msgs, user) {
  const tok = subjectToken(user);
  return msgs.filter((m) => (/^statsync\.stats\.(apply|get)\./.test(m.subject) && m.subject.split('.').pop() === tok)
    || m.subject.startsWith(`statsync.user.${tok}.`));
}

// ---- helpers --------------------------------------------------------------------------

const tokA = () => sys.token(A);
const tokB = () => sys.token(B);
const now = () => new Date().toISOString();

async function snapshotB() {
  const r = await sys.http('GET', `/api/users/${B}/stats`, { token: tokB() });
  assert.equal(r.status, 200, r.text);
  return { text: r.text, version: r.body.version };
}

function recordAll(s) {
  const got = [];
  s.onAny((event, ...args) => got.push({ event, args }));
  return got;
}

function assertForbidden(r, what) {
  assert.equal(r.status, 403, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.body.error.code, 'forbidden', `${what}: ${r.text}`);
  assert.ok(!r.text.includes('"xp"'), `${what}: a refusal must not carry a document: ${r.text}`);
}

async function ackRefused(s, event, payload, code = 'forbidden') {
  const ack = await emitAck(s, event, payload, 5000);
  assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload)} was accepted: ${JSON.stringify(ack)}`);
  assert.equal(ack.error.code, code, `${event} ${JSON.stringify(payload)}: ${JSON.stringify(ack)}`);
  assert.equal(ack.stats, undefined, 'a refusal must not carry a document');
  return ack;
}

async function errorEventRefused(s, event, payload, code = 'forbidden') {
  const p = once(s, 'user:error', 5000);
  s.emit(event, payload);
  const e = await p;
  assert.equal(e.event, event);
  assert.equal(e.error.code, code, `${event} ${JSON.stringify(payload)}: ${JSON.stringify(e)}`);
  return e;
}

// ---- setup ----------------------------------------------------------------------------

test.before(async () => {
  sys = await System.start();
  spy = await NatsSpy.start(sys.natsPort);
  // B has a real, non-default document
  const r = await sys.http('POST', '/api/users/data/patch', {
    token: tokB(),
    body: { xp: 70, diamonds: 12, timePerQuestion: [1.5, 2.5], lastGameResults: { score: 9 } },
  });
  assert.equal(r.status, 200, r.text);
  const f = await sys.http('POST', '/api/users/updateStats', {
    token: tokB(),
    body: { userId: B, stats: { streak: 4, level: 3, updatedAt: new Date(Date.now() + 1000).toISOString() } },
  });
  assert.equal(f.status, 200, f.text);
});

test.after(async () => {
  if (spy) {
    assertSubjectsClean(spy.msgs);
    spy.close();
  }
  if (sys) await sys.stop();
});

// ---- 1. A against B ---------------------------------------------------------------------

test('REST: every route with A\'s token against B is 403, nothing of B reaches NATS, B unchanged', async () => {
  const before = await snapshotB();
  const b = await connect(sys, B, {});
  const bGot = recordAll(b);
  const mark = await spy.mark();
  try {
    const key = { 'idempotency-key': `authz-${process.pid}-1` };
    const attempts = [
      ['GET stats', () => sys.http('GET', `/api/users/${B}/stats`, { token: tokA() })],
      ['patch body userId', () => sys.http('POST', '/api/users/data/patch', { token: tokA(), body: { userId: B, xp: 1000 } })],
      ['patch body userId + key', () => sys.http('POST', '/api/users/data/patch', { token: tokA(), headers: key, body: { userId: B, diamonds: -12 } })],
      ['patch __set', () => sys.http('POST', '/api/users/data/patch', { token: tokA(), body: { userId: B, __set: { xp: 0, hearts: 0 } } })],
      ['updateStats body userId', () => sys.http('POST', '/api/users/updateStats', { token: tokA(), body: { userId: B, stats: { xp: 1, updatedAt: now() } } })],
      ['updateStats stats.userId', () => sys.http('POST', '/api/users/updateStats', { token: tokA(), body: { stats: { userId: B, xp: 1, updatedAt: now() } } })],
      ['updateStats both', () => sys.http('POST', '/api/users/updateStats', { token: tokA(), headers: key, body: { userId: B, stats: { userId: B, xp: 1, updatedAt: now() } } })],
      ['updateStats mixed', () => sys.http('POST', '/api/users/updateStats', { token: tokA(), body: { userId: A, stats: { userId: B, xp: 1, updatedAt: now() } } })],
    ];
    for (const [what, call] of attempts) assertForbidden(await call(), what);

    // other methods and spellings of B's path
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await sys.http(method, `/api/users/${B}/stats`, { token: tokA(), body: { xp: 1 } });
      assert.ok([403, 404, 405].includes(r.status), `${method} B's stats: ${r.status}`);
    }
    const pct = `%${B.charCodeAt(0).toString(16).toUpperCase()}${B.slice(1)}`; // B with its first byte %-encoded
    const raw = [
      [`/api/users/${pct}/stats`, [403]],
      [`/api/users/${B}/stats/`, [404]],
      // a userId may hold '/': these are the ids "A/../B", never B
      [`/api/users/${A}/../${B}/stats`, [403]],
      [`/api/users/${A}%2F..%2F${B}/stats`, [403]],
      [`/api/users/${B}/stats?userId=${A}`, [403]],
      [`/api/users/${B}%00/stats`, [400]],
    ];
    for (const [p, want] of raw) {
      const r = await rawRequest(sys.gw.apiPort, { method: 'GET', path: p, headers: { authorization: `Bearer ${tokA()}` } });
      assert.ok(want.includes(r.status), `GET ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    // forged tokens for B
    const forged = {
      'wrong secret': mintToken(B, { secret: 'not-the-secret' }),
      'alg none': mintToken(B, { alg: 'none' }),
      'HS512': sys.token(B, { alg: 'HS512' }),
      'expired': sys.token(B, { exp: Math.floor(Date.now() / 1000) - 5 }),
      'no exp': sys.token(B, { exp: null }),
    };
    for (const [what, t] of Object.entries(forged)) {
      const g = await sys.http('GET', `/api/users/${B}/stats`, { token: t });
      assert.equal(g.status, 401, `${what}: ${g.text}`);
      const p = await sys.http('POST', '/api/users/data/patch', { token: t, body: { xp: 5 } });
      assert.equal(p.status, 401, `${what}: ${p.text}`);
    }
    assert.equal((await sys.http('GET', `/api/users/${B}/stats`)).status, 401);

    // public routes carry no user's data
    const metrics = await sys.http('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.ok(!metrics.text.includes(B), '/metrics must not name users');
    const health = await sys.http('GET', '/health');
    assert.ok(!health.text.includes(B), '/health must not name users');

    await spy.settle();
    const seen = spy.since(mark);
    assertSubjectsClean(seen);
    assert.deepEqual(userSubjects(seen, B).map((m) => m.subject), [], 'nothing for B may be published');
    // B's socket may hear about itself (e.g. its own presence), never a data change
    const bData = bGot.filter((e) => PUSHES.includes(e.event));
    assert.deepEqual(bData, [], `B's socket got data pushes: ${JSON.stringify(bData)}`);
  } finally { b.close(); }
  const after = await snapshotB();
  assert.equal(after.text, before.text, 'B\'s document must be byte-identical');
  assert.equal(after.version, before.version);
});

test('Socket.IO: every event from A\'s socket against B is refused; nothing of B leaks to A; B unchanged', async () => {
  const before = await snapshotB();
  const b = await connect(sys, B, { transports: ['websocket'] });
  const bGot = recordAll(b);
  for (const transports of [['websocket'], ['polling']]) {
    const a = await connect(sys, A, { transports });
    const aGot = recordAll(a);
    const mark = await spy.mark();
    try {
      const ts = Date.now();
      const upd = (extra) => ({ opId: `authz-${transports[0]}-${Math.random()}`, ...extra });
      const shapes = [
        ['presence:join', { userId: B }],
        ['user:clientUpdate', upd({ userId: B, delta: { xp: 1000 } })],
        ['user:clientUpdate', upd({ delta: { userId: B, xp: 1000 } })],
        ['user:clientUpdate', upd({ stats: { userId: B, xp: 1, updatedAt: now() } })],
        ['user:clientUpdate', upd({ userId: B, stats: { xp: 1, updatedAt: now() } })],
        ['user:clientUpdate', { ops: [{ opId: `authz-ops-${ts}`, delta: { userId: B, xp: 1 } }] }],
        ['user:clientUpdate', { ops: [{ opId: `authz-ops2-${ts}`, delta: { xp: 1 } }, { opId: `authz-ops3-${ts}`, delta: { userId: B, diamonds: -12 } }] }],
        ['user:clientUpdate', { userId: B, ops: [{ opId: `authz-ops4-${ts}`, delta: { xp: 1 } }] }],
      ];
      for (const [event, payload] of shapes) {
        await ackRefused(a, event, payload);
        await errorEventRefused(a, event, payload);
      }
      // presence:ping has no target: whatever it names, it answers about A only
      const pong = await emitAck(a, 'presence:ping', { ts, userId: B });
      assert.equal(pong.userId, A);
      assert.equal(pong.ts, ts);
      const pongEv = await new Promise((resolve) => { a.once('presence:pong', resolve); a.emit('presence:ping', { ts: ts + 1, userId: B }); });
      assert.equal(pongEv.userId, A);

      // a change of B now must reach B's socket and never A's
      const r = await sys.http('POST', '/api/users/data/patch', { token: tokB(), body: { xp: 0 } });
      assert.equal(r.status, 200, r.text);
      await waitFor('B sees its own change', () => bGot.some((e) => e.event === 'user:data:updated' && e.args[0].version === r.body.stats.version), 5000);
      await sleep(200);
      // nothing that names B, whatever the event (data, presence, pongs, errors)
      const leaked = aGot.filter((e) => JSON.stringify(e.args).includes(B));
      assert.deepEqual(leaked, [], `A's socket got something of B: ${JSON.stringify(leaked)}`);
      for (const e of aGot.filter((x) => PUSHES.includes(x.event))) assert.equal(e.args[0].userId, A);

      await spy.settle();
      const seen = spy.since(mark);
      assertSubjectsClean(seen);
      // only B's own patch (and its change event) may name B
      const bSubjects = userSubjects(seen, B).map((m) => (m.subject.startsWith('statsync.user.')
        ? m.subject.replace(/^(statsync\.user)\.[^.]+\./, '$1.<user>.') : m.subject.split('.').slice(0, 3).join('.')));
      assert.deepEqual(bSubjects.sort(), ['statsync.stats.apply', 'statsync.user.<user>.changed'],
        `A's refused events must not publish for B: ${bSubjects}`);
    } finally { a.close(); }
  }
  b.close();
  // B's own patches above each added xp 0: a new version, same values. Compare
  // everything but version/updatedAt, then the byte-identity with no change in between.
  const after = await snapshotB();
  const strip = (t) => { const o = JSON.parse(t); delete o.version; delete o.updatedAt; return JSON.stringify(o); };
  assert.equal(strip(after.text), strip(before.text));
  assert.equal(after.version, before.version + 2, 'only B\'s two own patches changed the version');
});

test('Socket.IO: A cannot change B and B\'s document is byte-identical (no B activity in between)', async () => {
  const before = await snapshotB();
  const a = await connect(sys, A, {});
  try {
    await ackRefused(a, 'user:clientUpdate', { opId: 'x1', userId: B, delta: { xp: 5 } });
    await ackRefused(a, 'user:clientUpdate', { opId: 'x2', delta: { userId: B, xp: 5 } });
    await ackRefused(a, 'user:clientUpdate', { opId: 'x3', stats: { userId: B, xp: 5, updatedAt: now() } });
    await ackRefused(a, 'user:clientUpdate', { ops: [{ opId: 'x4', delta: { userId: B, xp: 5 } }] });
    await ackRefused(a, 'presence:join', { userId: B });
    // the socket stays usable for A's own document
    const ok = await emitAck(a, 'user:clientUpdate', { opId: `own-${process.pid}`, delta: { xp: 1 } });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(ok.stats.userId, A);
  } finally { a.close(); }
  const after = await snapshotB();
  assert.equal(after.text, before.text);
  assert.equal(after.version, before.version);
});

// ---- 2. userIds: what identity providers issue works, the rest is 400 ----------------

const CJK128 = `${'\u6f22\u5b57'.repeat(21)}xy`; // 42 x 3 bytes + 2 = 128 bytes
const GOOD_IDS = [
  'auth0|5f7c8ec7c33c6c004bbafe82', 'google-oauth2|112233445566778899000', 'apple:001234.x.0815',
  'ana.maria+duo@example.com', '9b2c3e1a-6f0d-4c1e-9f5a-2d7b8e4c1a00', CJK128,
  'a.b', 'a_b', 'A', 'a', 'a|b', 'a%7Cb', 'a=7Cb', '*', '>', 'a b', '\u00fc', '%2E', '.', `${A}.>`, `${A}.*`,
  '_INBOX.x', 'statsync.stats.get.x', 'a/b', `${A}/../${B}`,
];
const BAD_IDS = [
  '', 'x'.repeat(129), `${CJK128}z`, ' a', 'a ', 'a\u00a0', '\u3000a', 'a\u0000b', 'a\tb', 'a\r\nPUB x 1',
  'a\u0085b', 'a\u007fb', 'a\u0001',
];

// How an id is written in a URL path so that the gateway decodes it back to
// exactly those bytes (raw requests: no client-side normalisation).
function pathSegment(id) {
  return Buffer.from(id, 'utf8').toString('latin1').split('').map((c) => {
    const code = c.charCodeAt(0);
    return /[A-Za-z0-9_-]/.test(c) ? c : `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

test('REST: userIds that break the rules are 400, naming the rule, before NATS', async () => {
  const mark = await spy.mark();
  for (const bad of BAD_IDS) {
    const what = JSON.stringify(bad);
    // in the path
    const g = await rawRequest(sys.gw.apiPort, { method: 'GET', path: `/api/users/${pathSegment(bad)}/stats`, headers: { authorization: `Bearer ${tokA()}` } });
    assert.equal(g.status, 400, `GET ${what}: ${g.status} ${JSON.stringify(g.body)}`);
    assert.equal(g.body.error.code, 'invalid_user_id', `GET ${what}: ${JSON.stringify(g.body)}`);
    assert.match(g.body.error.message, /userId must/, `GET ${what}: ${JSON.stringify(g.body)}`);
    // in bodies
    const bodies = [
      ['/api/users/data/patch', { userId: bad, xp: 1 }],
      ['/api/users/updateStats', { userId: bad, stats: { xp: 1, updatedAt: now() } }],
      ['/api/users/updateStats', { stats: { userId: bad, xp: 1, updatedAt: now() } }],
    ];
    for (const [p, body] of bodies) {
      const r = await sys.http('POST', p, { token: tokA(), body });
      assert.equal(r.status, 400, `POST ${p} ${what}: ${r.status} ${r.text}`);
      // JSON text with \u0000 in a string is refused by the parser itself
      assert.equal(r.body.error.code, bad.includes('\u0000') ? 'invalid_json' : 'invalid_user_id', `POST ${p} ${what}: ${r.text}`);
    }
  }
  await spy.settle();
  const seen = spy.since(mark);
  assertSubjectsClean(seen);
  assert.deepEqual(seen.filter((m) => m.subject.startsWith('statsync.stats.')).map((m) => m.subject), [],
    'a refused userId publishes nothing at all');
});

test('identity-provider userIds work on every route, and reach NATS only encoded', async () => {
  const mark = await spy.mark();
  for (const id of GOOD_IDS) {
    const what = JSON.stringify(id);
    const tok = sys.token(id);
    const w = await sys.http('POST', '/api/users/data/patch', { token: tok, body: { xp: 2 } });
    assert.equal(w.status, 200, `patch ${what}: ${w.text}`);
    assert.equal(w.body.stats.userId, id);
    // a minute ahead (allowed: up to 5): strictly newer than the patch's server time
    const later = new Date(Date.now() + 60000).toISOString();
    const full = await sys.http('POST', '/api/users/updateStats', { token: tok, body: { userId: id, stats: { xp: 7, updatedAt: later } } });
    assert.equal(full.status, 200, `updateStats ${what}: ${full.text}`);
    const g = await rawRequest(sys.gw.apiPort, { method: 'GET', path: `/api/users/${pathSegment(id)}/stats`, headers: { authorization: `Bearer ${tok}` } });
    assert.equal(g.status, 200, `GET ${what}: ${g.status} ${JSON.stringify(g.body)}`);
    assert.equal(g.body.userId, id);
    assert.equal(g.body.xp, 7);
    // another provider's id never reads it
    const other = await rawRequest(sys.gw.apiPort, { method: 'GET', path: `/api/users/${pathSegment(id)}/stats`, headers: { authorization: `Bearer ${tokA()}` } });
    assert.equal(other.status, 403, `A reading ${what}: ${other.status}`);
  }
  await spy.settle();
  const seen = spy.since(mark);
  assertSubjectsClean(seen);
  for (const id of GOOD_IDS) {
    const mine = userSubjects(seen, id);
    assert.ok(mine.some((m) => m.subject.startsWith('statsync.stats.apply.')), `no apply subject for ${JSON.stringify(id)}`);
    for (const m of mine) {
      const u = USER_SUBJECT.exec(m.subject);
      assert.equal(tokenToId(u[2] !== undefined ? u[2] : u[3]), id, m.subject);
    }
  }
});

test('Socket.IO: bad userIds in events are refused before NATS; the socket stays usable', async (t) => {
  const a = await connect(sys, A, {});
  const mark = await spy.mark();
  const codes = {};
  try {
    for (const bad of BAD_IDS) {
      for (const [event, payload] of [
        ['presence:join', { userId: bad }],
        ['user:clientUpdate', { opId: 'b1', userId: bad, delta: { xp: 1 } }],
        ['user:clientUpdate', { opId: 'b2', delta: { userId: bad, xp: 1 } }],
        ['user:clientUpdate', { opId: 'b3', stats: { userId: bad, xp: 1, updatedAt: now() } }],
        ['user:clientUpdate', { ops: [{ opId: 'b4', delta: { userId: bad, xp: 1 } }] }],
      ]) {
        const ack = await emitAck(a, event, payload);
        assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload)} accepted`);
        // DESIGN §2 says 400; a mismatch with the socket's own user is also a
        // refusal (403); \u0000 makes the whole packet invalid JSON (400)
        assert.ok(['invalid_user_id', 'forbidden', 'invalid_json'].includes(ack.error.code), `${event} ${JSON.stringify(bad)}: ${JSON.stringify(ack)}`);
        codes[ack.error.code] = (codes[ack.error.code] || 0) + 1;
      }
    }
    const ok = await emitAck(a, 'presence:join', { userId: A });
    assert.equal(ok.ok, true);
    t.diagnostic(`refusal codes: ${JSON.stringify(codes)}`);
  } finally { a.close(); }
  await spy.settle();
  const seen = spy.since(mark);
  assertSubjectsClean(seen);
  assert.deepEqual(seen.filter((m) => /^statsync\.stats\.apply\.|^statsync\.user\.[^.]*\.changed$/.test(m.subject)).map((m) => m.subject), [],
    'no bad event publishes a mutation');
});

// A refusal must always reach the client as {ok:false, error:{code,message}}
// (the ack) or {event, error} (user:error), whatever the client sent. A
// client key quoted in the message is made printable ASCII first
// (stats_json_printable), so a multi-byte character cut at the length bound
// can never turn the message into invalid UTF-8 and the ack into nothing.
test('Socket.IO: a refusal for a long non-ASCII unknown key still carries {ok:false, error}',
  async () => {
    const a = await connect(sys, A, {});
    try {
      const key = `a${'\u00e9'.repeat(30)}`; // byte 40 falls inside an é
      // (inside the data: an unknown envelope member would just be ignored)
      for (const payload of [{ delta: { xp: 1, [key]: 1 } }, { ops: [{ opId: 'u1', delta: { xp: 1, [key]: 1 } }] }]) {
        const ack = await emitAck(a, 'user:clientUpdate', payload);
        assert.equal(typeof ack, 'object', `ack for ${JSON.stringify(payload).slice(0, 40)}: ${ack}`);
        assert.equal(ack.ok, false);
        assert.equal(ack.error.code, 'unknown_field');
      }
      const e = await errorEventRefused(a, 'user:clientUpdate', { delta: { xp: 1, [key]: 1 } }, 'unknown_field');
      assert.equal(e.event, 'user:clientUpdate');
    } finally { a.close(); }
  });

// ---- 3. tokens for a sub with bad characters --------------------------------------------

test('tokens whose sub is not a valid userId are refused on REST (401) and on CONNECT', async () => {
  const mark = await spy.mark();
  const subs = [...BAD_IDS, 12, null, ['a'], { id: 'a' }];
  for (const sub of subs) {
    const t = mintToken(undefined, { secret: sys.secret, claims: { sub, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 } });
    const what = JSON.stringify(sub);
    const r = await sys.http('POST', '/api/users/data/patch', { token: t, body: { xp: 1 } });
    assert.equal(r.status, 401, `sub ${what}: ${r.status} ${r.text}`);
    assert.equal(r.body.error.code, 'unauthorized');
    if (typeof sub === 'string') {
      const g = await rawRequest(sys.gw.apiPort, { method: 'GET', path: `/api/users/${pathSegment(sub) || 'x'}/stats`, headers: { authorization: `Bearer ${t}` } });
      assert.equal(g.status, 401, `GET with sub ${what}: ${g.status}`);
    }
    const e = await connectError(sys, { auth: { token: t }, transports: ['websocket'] });
    assert.match(e.message, /unauthorized/, `sub ${what}: ${e.message}`);
  }
  // also as the query token, over polling
  const t = mintToken(undefined, { secret: sys.secret, claims: { sub: ' a', exp: Math.floor(Date.now() / 1000) + 600 } });
  const e = await connectError(sys, { query: { token: t }, transports: ['polling'] });
  assert.match(e.message, /unauthorized/);
  await spy.settle();
  const seen = spy.since(mark);
  assertSubjectsClean(seen);
  assert.deepEqual(seen.filter((m) => m.subject.startsWith('statsync.stats.')).map((m) => m.subject), []);
});
