// nats_permissions.test.js — every service is its own NATS user and may use
// only its rows of the subject map (DESIGN §5, proto/README.md "NATS
// permissions"; issue 15 item 2):
//
//  1. The lists: scripts/nats-config.sh (the one place they are written) has,
//     for the gateway, the stats-service and the presence-service, exactly
//     what the subject map of proto/README.md says each publishes and
//     subscribes (requesters subscribe to _INBOX.>, answerers get
//     allow_responses); admin only watches, probes health and reads. The
//     README's permissions table is the script's `table`, the rendered
//     nats-server config carries the same lists, nats-server -t accepts it,
//     and its files are private.
//  2. The server: a real nats-server started with the rendered config and a
//     raw client (the protocol over net.Socket) per user: every PUB and SUB
//     of a sample of subjects is refused (-ERR 'Permissions Violation ...'
//     before the PONG of the PING sent after it) exactly when the subject map
//     does not give it to that user — the gateway cannot forge a user's
//     .changed or .presence events nor read apply/get requests, stats publishes
//     no presence subject, presence no stats subject; services answer
//     requests only through allow_responses (one reply, to a request they
//     received); no credentials, a wrong password, another user's name: not
//     let in.
//  3. The binaries: a service without credentials, or with settings that do
//     not fit, says so; a group/world-readable password file is warned
//     about; and the whole system (REST write, socket push across gateways,
//     presence ping and update, /health) works with auth on, with no
//     violation logged by nats-server (System.stop() checks). Over TLS too,
//     where a certificate without the server's name is refused.
//
// Waits are for states (a PONG, a log line, a health answer), each bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { System, Proc, bin, waitFor, NATS_CONFIG, NATS_USERS, ROOT } = require('../lib/system');
const { connect, emitAck, waitFor: waitEvent } = require('../compat/sio_helpers');
const { readFrames } = require('../lib/nats_spy');

const PROTO_README = path.join(ROOT, 'proto', 'README.md');
const ROLE = { gateway: 'gateway', 'stats-service': 'stats', 'presence-service': 'presence', admin: 'admin' };
const USERS = ['gateway', 'stats', 'presence', 'admin'];
// admin is not in the subject map: operators' tools watch, probe and read.
// (and send partition commands: the one admin row of the map, statsync.ctl.stats.*)
const ADMIN = {
  pub: ['statsync.ctl.stats.*', 'statsync.health.presence', 'statsync.health.stats', 'statsync.stats.get.*.*'],
  sub: ['_INBOX.>', 'statsync.>'],
  responses: false,
};

// The stats-service's JetStream rights: the API of its two key-value buckets
// (partition leases, the cluster's partition count) and their entries —
// nothing of any other stream. (Its API replies come to _INBOX.>.)
const JS_STATS = ['KV_statsync_partitions', 'KV_statsync_partitions_config'].flatMap((b) => [
  `$JS.API.STREAM.INFO.${b}`, `$JS.API.STREAM.CREATE.${b}`, `$JS.API.STREAM.MSG.GET.${b}`,
  `$JS.API.DIRECT.GET.${b}.>`, `$KV.${b.slice(3)}.>`]);

// ---- the subject map and the script's lists --------------------------------

// Rows of proto/README.md's "## Subjects" table: { subject (with * for
// <user>), kind, publisher, subscriber } (users of nats-config.sh).
function subjectMap() {
  const text = fs.readFileSync(PROTO_README, 'utf8');
  const start = text.indexOf('\n## Subjects');
  assert.ok(start >= 0, 'proto/README.md has no "## Subjects" section');
  const end = text.indexOf('\n## ', start + 1);
  const rows = text.slice(start, end).split('\n').filter((l) => l.startsWith('| `statsync.'));
  assert.ok(rows.length >= 10, 'the subject map lost its rows');
  const role = (cell, what) => {
    const m = /^(?:every )?(gateway|stats-service|presence-service|admin)\b/.exec(cell);
    assert.ok(m, `subject map: cannot tell the ${what} of "${cell}"`);
    return ROLE[m[1]];
  };
  const pattern = (s) => s.replace(/<[a-z]+>/g, '*');
  return rows.map((l) => {
    const cells = l.split('|').slice(1, -1).map((c) => c.trim());
    // "… through `statsync.user.<user>.*`": the subscriber takes the row's
    // messages with that one subscription (a room's, for all of a user's events)
    const via = /through `(statsync\.[^`]+)`/.exec(cells[3]);
    return {
      subject: pattern(/`([^`]+)`/.exec(cells[0])[1]),
      subscribeAs: via ? pattern(via[1]) : null,
      kind: cells[1],
      publisher: role(cells[2], 'publisher'),
      subscriber: role(cells[3], 'subscriber'),
    };
  });
}

// What the subject map gives each service: { pub, sub, responses }.
function derived() {
  const out = {};
  for (const u of Object.values(NATS_USERS)) out[u] = { pub: new Set(), sub: new Set(), responses: false };
  out.stats.sub.add('_INBOX.>'); // JetStream API replies
  for (const s of JS_STATS) out.stats.pub.add(s);
  for (const r of subjectMap()) {
    if (r.publisher === 'admin') { // ADMIN holds admin's own lists
      out[r.subscriber].sub.add(r.subject);
      out[r.subscriber].responses = true;
      continue;
    }
    out[r.publisher].pub.add(r.subject);
    out[r.subscriber].sub.add(r.subscribeAs || r.subject);
    if (r.kind === 'request/reply') {
      out[r.subscriber].responses = true; // it answers
      out[r.publisher].sub.add('_INBOX.>'); // it waits for answers
    }
  }
  const sorted = (s) => [...s].sort();
  return Object.fromEntries(Object.entries(out).map(([u, v]) => [u, { pub: sorted(v.pub), sub: sorted(v.sub), responses: v.responses }]));
}

// The exact lists each user must have: the subject map's, and admin's.
function expected() { return { ...derived(), admin: ADMIN }; }

function script(...args) {
  return execFileSync('bash', [NATS_CONFIG, ...args], { encoding: 'utf8' });
}

// The script's table, parsed: { user: { pub, sub, responses } }.
function scriptLists(table = script('table')) {
  const out = {};
  for (const l of table.split('\n').filter((x) => /^\| `/.test(x))) {
    const cells = l.split('|').slice(1, -1).map((c) => c.trim());
    const items = (c) => [...c.matchAll(/`([^`]+)`/g)].map((m) => m[1]).sort();
    out[items(cells[0])[0]] = { pub: items(cells[2]), sub: items(cells[3]), responses: cells[4] === 'yes' };
  }
  return out;
}

// Does nats-server let a permission `pattern` through for `subject`? It
// matches the subject's tokens against the pattern with the subject's own
// wildcards taken as plain tokens: `foo.*` lets a client subscribe `foo.>`
// too (one token `>`). Harmless here: every userId is one token, and no user
// may publish deeper subjects (the publish lists use `*`; samples() tries).
function matches(pattern, subject) {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

// ---- a raw NATS client ---------------------------------------------------------

// The client protocol over net.Socket, enough to be refused: CONNECT with
// user/pass, PUB, SUB, UNSUB, PING/PONG, MSG, -ERR. The server handles a
// client's lines in order, so the -ERR of a refused PUB/SUB arrives before
// the PONG of a PING written after it: probe() needs no timing.
class RawNats {
  // Resolves once the server accepted the CONNECT; rejects with the server's
  // -ERR (e.g. 'Authorization Violation') or when it closes the connection.
  static connect(port, creds = null, name = 'nats-permissions-test') {
    const c = new RawNats();
    return c._connect(port, creds, name).then(() => c);
  }

  constructor() {
    this.buf = Buffer.alloc(0);
    this.errs = [];
    this.msgs = [];
    this.pongs = [];
    this.sid = 0;
    this.closed = false;
  }

  _connect(port, creds, name) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.close(); reject(new Error('no answer to CONNECT')); }, 5000);
      const fail = (e) => { clearTimeout(t); reject(e); };
      this.sock = net.connect(port, '127.0.0.1');
      this.sock.on('data', (d) => this._data(d));
      this.sock.on('error', (e) => fail(e));
      this.sock.on('close', () => {
        this.closed = true;
        fail(new Error(`connection closed: ${this.errs.join(' ') || 'no -ERR'}`));
        for (const p of this.pongs.splice(0)) p.reject(new Error('connection closed'));
      });
      this.sock.once('connect', () => {
        const opts = { verbose: false, pedantic: false, name, ...(creds ? { user: creds.user, pass: creds.pass } : {}) };
        this.pongs.push({ resolve: () => { clearTimeout(t); resolve(); }, reject: fail });
        this.sock.write(`CONNECT ${JSON.stringify(opts)}\r\nPING\r\n`);
      });
    });
  }

  _data(d) {
    readFrames(this, d, (line) => {
      if (line === 'PONG') { const p = this.pongs.shift(); if (p) p.resolve(); }
      else if (line.startsWith('-ERR')) this.errs.push(line);
    });
  }

  // Writes text and a PING; resolves with the -ERR lines that came before the PONG.
  probe(text) {
    const from = this.errs.length;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no PONG after ${JSON.stringify(text)}`)), 5000);
      this.pongs.push({ resolve: () => { clearTimeout(t); resolve(this.errs.slice(from)); }, reject });
      this.sock.write(`${text}PING\r\n`);
    });
  }

  // True when the server took it; false when it refused it as a permissions
  // violation of exactly that subject; anything else fails the test.
  async _allowed(text, kind, subject) {
    const errs = await this.probe(text);
    if (errs.length === 0) return true;
    assert.deepEqual(errs, [`-ERR 'Permissions Violation for ${kind} to "${subject}"'`]);
    return false;
  }

  canPub(subject, reply = null, payload = '') {
    const n = Buffer.byteLength(payload);
    return this._allowed(`PUB ${subject}${reply ? ` ${reply}` : ''} ${n}\r\n${payload}\r\n`, 'Publish', subject);
  }

  // Subscribes (and unsubscribes at once when allowed unless keep).
  async canSub(subject, keep = false) {
    const sid = ++this.sid;
    const ok = await this._allowed(`SUB ${subject} ${sid}\r\n`, 'Subscription', subject);
    if (ok && !keep) await this.probe(`UNSUB ${sid}\r\n`);
    return ok;
  }

  waitMsg(what, pred, ms = 5000) {
    return waitFor(what, () => this.msgs.find(pred), ms, 5);
  }

  close() { if (this.sock) this.sock.destroy(); }
}

// The subjects each user is tried with: every row of the subject map, as a
// permission (with *) and as a concrete subject, and some no row has.
function samples(map) {
  const concrete = map.map((r) => r.subject.replaceAll('*', 'perm_user'));
  const pub = [...concrete, 'statsync.stats.apply.a.b.c', 'statsync.user.a.changed.b', 'statsync.user.a.b.presence',
    'statsync.stats.apply.victim', '$JS.API.STREAM.CREATE.OTHER', '$JS.API.STREAM.DELETE.KV_statsync_partitions',
    '$KV.other.x', '$JS.API.INFO',
    'statsync.user.perm_user', 'statsync.user.perm_user.other', 'statsync.user', 'statsync.stats.changed.perm_user',
    'statsync.health.other', 'statsync.other', 'foo', '_INBOX.perm.1', '$SYS.REQ.SERVER.PING'];
  const sub = [...new Set([...map.map((r) => r.subject), ...concrete,
    'statsync.stats.apply.>', 'statsync.stats.get.>', 'statsync.user.>', 'statsync.stats.>',
    'statsync.user.*.changed', 'statsync.user.*.presence', 'statsync.user.perm_user.*', 'statsync.presence.*', 'statsync.health.*', 'statsync.>', '>',
    '_INBOX.>', '_INBOX.perm.*', 'foo'])];
  return { pub, sub };
}

// ---- 1. the lists ----------------------------------------------------------------

test('the script gives each service exactly its rows of the subject map; admin only watches, probes and reads', () => {
  const got = scriptLists();
  assert.deepEqual(Object.keys(got).sort(), [...USERS].sort(), 'nats-config.sh table: one row per user');
  assert.deepEqual(script('users').trim().split('\n').sort(), [...USERS].sort());
  assert.deepEqual(got, expected(), 'scripts/nats-config.sh and the subject map of proto/README.md differ');
  // the rules the brief names, spelled out
  const can = (u, kind, s) => got[u][kind].some((p) => matches(p, s));
  assert.ok(!can('gateway', 'pub', 'statsync.user.x.changed') && !can('gateway', 'pub', 'statsync.user.x.presence'));
  // a user's events share a prefix (one subscription per room): each kind has one publisher
  assert.ok(can('stats', 'pub', 'statsync.user.x.changed') && !can('stats', 'pub', 'statsync.user.x.presence'));
  assert.ok(can('presence', 'pub', 'statsync.user.x.presence') && !can('presence', 'pub', 'statsync.user.x.changed'));
  assert.ok(!can('gateway', 'sub', 'statsync.stats.apply.>') && !can('gateway', 'sub', 'statsync.stats.get.>'));
  assert.ok(!got.stats.pub.some((p) => p.startsWith('statsync.presence')));
  assert.ok(![...got.presence.pub, ...got.presence.sub].some((p) => p.startsWith('statsync.stats')));
  for (const u of USERS) {
    assert.ok(!got[u].pub.some((p) => p.startsWith('_INBOX')), `${u} publishes replies only through allow_responses`);
  }
});

test('proto/README.md\'s permissions table is the one the script prints', () => {
  const text = fs.readFileSync(PROTO_README, 'utf8');
  const m = /<!-- nats-permissions:start -->\n([\s\S]*?)<!-- nats-permissions:end -->/.exec(text);
  assert.ok(m, 'proto/README.md has no nats-permissions markers');
  assert.equal(m[1], script('table'), 'proto/README.md is behind: paste `scripts/nats-config.sh table` between the markers');
});

test('render: nats-server accepts the config, it carries the table\'s lists, files are private, passwords kept until --rotate', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-nats-config-'));
  try {
    script('render', dir);
    const conf = path.join(dir, 'nats-server.conf');
    const t = spawnSync('nats-server', ['-t', '-c', conf], { encoding: 'utf8' });
    assert.equal(t.status, 0, `nats-server -t refused the rendered config:\n${t.stderr}${t.stdout}`);
    assert.equal(fs.statSync(conf).mode & 0o777, 0o600);
    const text = fs.readFileSync(conf, 'utf8');
    const lists = scriptLists();
    const before = {};
    for (const u of USERS) {
      const pw = path.join(dir, u, 'password');
      assert.equal(fs.statSync(pw).mode & 0o777, 0o600, `${u}/password must be 0600`);
      assert.equal(fs.statSync(path.join(dir, u)).mode & 0o777, 0o700, `${u}/ must be 0700`);
      before[u] = fs.readFileSync(pw, 'utf8');
      assert.match(before[u], /^[A-Za-z0-9_-]{40,}$/, `${u}: a long random password`);
      const start = text.indexOf(`{ user: "${u}", password: "${before[u]}"`);
      assert.ok(start >= 0, `the config has no user ${u} with the password of ${u}/password`);
      const next = text.indexOf('{ user: "', start + 1);
      const block = text.slice(start, next < 0 ? undefined : next);
      const allow = (kind) => [...(new RegExp(`${kind}: \\{ allow: \\[([^\\]]*)\\] \\}`).exec(block) || [, ''])[1]
        .matchAll(/"([^"]+)"/g)].map((x) => x[1]).sort();
      assert.deepEqual({ pub: allow('publish'), sub: allow('subscribe'), responses: /allow_responses: true/.test(block) },
        lists[u], `the config's lists of ${u} are not the table's`);
    }
    assert.equal(new Set(Object.values(before)).size, USERS.length, 'every user has a password of its own');
    script('render', dir);
    for (const u of USERS) assert.equal(fs.readFileSync(path.join(dir, u, 'password'), 'utf8'), before[u], 'kept');
    script('render', dir, '--rotate');
    for (const u of USERS) assert.notEqual(fs.readFileSync(path.join(dir, u, 'password'), 'utf8'), before[u], 'rotated');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- 2. the server -------------------------------------------------------------------

let bare; // nats-server with the rendered config, no statsync service
test.before(async () => {
  bare = await System.start({ natsAuth: true, stats: false, presence: false, gateways: 0, natsViolationsExpected: true });
});
test.after(async () => { if (bare) await bare.stop(); });

test('nats-server refuses every publish and subscription the subject map does not give the user, and allows the rest', async () => {
  const exp = expected();
  const { pub, sub } = samples(subjectMap());
  const wrong = [];
  for (const u of USERS) {
    const c = await RawNats.connect(bare.natsPort, bare.natsCredentials(u));
    try {
      for (const s of pub) {
        const want = exp[u].pub.some((p) => matches(p, s));
        if ((await c.canPub(s)) !== want) wrong.push(`${u} PUB ${s}: ${want ? 'refused' : 'allowed'}`);
      }
      for (const s of sub) {
        const want = exp[u].sub.some((p) => matches(p, s));
        if ((await c.canSub(s)) !== want) wrong.push(`${u} SUB ${s}: ${want ? 'refused' : 'allowed'}`);
      }
    } finally { c.close(); }
  }
  assert.deepEqual(wrong, [], 'the running server and the subject map disagree');
});

test('gateway credentials cannot forge a user\'s events (.changed / .presence) nor read apply / get requests', async () => {
  const gw = await RawNats.connect(bare.natsPort, bare.natsCredentials('gateway'));
  try {
    assert.equal(await gw.canPub('statsync.user.victim.changed'), false);
    assert.equal(await gw.canPub('statsync.user.victim.presence'), false);
    assert.equal(await gw.canPub('statsync.presence.sync'), false);
    assert.equal(await gw.canSub('statsync.stats.apply.>'), false);
    assert.equal(await gw.canSub('statsync.stats.apply.victim'), false);
    assert.equal(await gw.canSub('statsync.stats.get.>'), false);
    assert.equal(await gw.canSub('>'), false);
    // what it needs still works on the same connection
    assert.equal(await gw.canPub('statsync.stats.apply.7.victim'), true);
    assert.equal(await gw.canSub('statsync.user.victim.*'), true);
  } finally { gw.close(); }
});

test('stats credentials cannot publish presence subjects; presence credentials cannot touch stats subjects', async () => {
  const st = await RawNats.connect(bare.natsPort, bare.natsCredentials('stats'));
  const pr = await RawNats.connect(bare.natsPort, bare.natsCredentials('presence'));
  try {
    assert.equal(await st.canPub('statsync.user.victim.presence'), false);
    assert.equal(await st.canPub('statsync.presence.sync'), false);
    assert.equal(await st.canPub('statsync.stats.apply.victim'), false);
    assert.equal(await st.canPub('statsync.user.victim.changed'), true);
    for (const s of ['statsync.user.victim.changed', 'statsync.stats.apply.victim', 'statsync.stats.get.victim']) {
      assert.equal(await pr.canPub(s), false, `presence PUB ${s}`);
    }
    for (const s of ['statsync.stats.apply.*', 'statsync.user.*.changed', 'statsync.user.>', 'statsync.stats.>', 'statsync.health.stats']) {
      assert.equal(await pr.canSub(s), false, `presence SUB ${s}`);
    }
    assert.equal(await pr.canPub('statsync.user.victim.presence'), true);
  } finally { st.close(); pr.close(); }
});

test('services answer through allow_responses: one reply to a request they received, no other publish on _INBOX', async () => {
  const gw = await RawNats.connect(bare.natsPort, bare.natsCredentials('gateway'));
  const st = await RawNats.connect(bare.natsPort, bare.natsCredentials('stats'));
  try {
    const inbox = `_INBOX.perm${process.pid}.1`;
    assert.equal(await gw.canSub(`_INBOX.perm${process.pid}.*`, true), true);
    assert.equal(await st.canSub('statsync.health.stats', true), true);
    assert.equal(await gw.canPub('statsync.health.stats', inbox, 'ping'), true);
    const req = await st.waitMsg('the request at stats', (m) => m.subject === 'statsync.health.stats');
    assert.equal(req.reply, inbox);
    assert.equal(await st.canPub(inbox, null, 'pong'), true, 'the reply to a request it received');
    const rep = await gw.waitMsg('the reply at the gateway', (m) => m.subject === inbox);
    assert.equal(rep.payload.toString(), 'pong');
    assert.equal(await st.canPub(inbox, null, 'again'), false, 'one reply per request');
    assert.equal(await st.canPub(`_INBOX.perm${process.pid}.2`, null, 'x'), false, 'no reply without a request');
    assert.equal(await gw.canPub(`_INBOX.perm${process.pid}.3`, null, 'x'), false, 'the gateway answers no one');
  } finally { gw.close(); st.close(); }
});

test('no credentials, a wrong password, another user\'s password: not let in', async () => {
  await assert.rejects(RawNats.connect(bare.natsPort, null), /Authorization Violation/);
  await assert.rejects(RawNats.connect(bare.natsPort, { user: 'gateway', pass: 'wrong' }), /Authorization Violation/);
  await assert.rejects(RawNats.connect(bare.natsPort, { user: 'gateway', pass: bare.natsCredentials('stats').pass }),
    /Authorization Violation/);
  await assert.rejects(RawNats.connect(bare.natsPort, { user: 'root', pass: 'root' }), /Authorization Violation/);
});

// ---- 3. the binaries -------------------------------------------------------------------

// A presence-service against the bare server with env on top of the usual.
function presenceProc(name, env) {
  const p = new Proc(name, bin('statsync-presence'), [], bare.baseEnv({ STATSYNC_ADMIN_PORT: '0', ...env }),
    path.join(bare.dir, `${name}.log`));
  return p.start();
}

test('a service without credentials logs that NATS refused it (and keeps trying)', async () => {
  const p = presenceProc('presence-anonymous', {});
  try {
    await waitFor('the refusal in its log', () => /nats refused our credentials.*Authorization Violation/.test(p.log()), 10000);
    assert.equal(p.child.exitCode, null, 'it keeps retrying, as for an unreachable server');
  } finally { await p.kill('SIGKILL'); }
});

test('settings that do not fit stop a service at start, saying which', async () => {
  const cases = [
    [{ STATSYNC_NATS_USER: 'presence' }, /STATSYNC_NATS_PASSWORD_FILE go together/],
    [{ STATSYNC_NATS_USER: 'presence', STATSYNC_NATS_PASSWORD_FILE: path.join(bare.dir, 'none') }, /nats password unusable.*No such file/],
    [{ STATSYNC_NATS_CREDS: path.join(bare.dir, 'x.creds'), STATSYNC_NATS_USER: 'presence',
      STATSYNC_NATS_PASSWORD_FILE: bare.natsPasswordFile('presence') }, /STATSYNC_NATS_CREDS replaces/],
  ];
  for (const [i, [env, why]] of cases.entries()) {
    const p = presenceProc(`presence-misconfigured${i}`, env);
    const { code } = await Promise.race([p.exited, new Promise((_, rej) => setTimeout(() => rej(new Error(`${JSON.stringify(env)}: still running`)), 10000))])
      .finally(() => p.kill('SIGKILL'));
    assert.notEqual(code, 0, `${JSON.stringify(env)}: exit code`);
    assert.match(p.log(), why);
  }
});

test('a group/world-readable password file is warned about, and still used', async () => {
  const loose = path.join(bare.dir, 'presence-password-0644');
  fs.copyFileSync(bare.natsPasswordFile('presence'), loose);
  fs.chmodSync(loose, 0o644);
  const p = presenceProc('presence-loose', { STATSYNC_NATS_USER: 'presence', STATSYNC_NATS_PASSWORD_FILE: loose });
  try {
    await waitFor('connected', () => /nats connection created.*"user":"presence"/.test(p.log()), 10000);
    assert.match(p.log(), /password file is readable by group or others/);
  } finally { await p.kill('SIGTERM'); }
});

test('the whole system works with auth on: REST, socket pushes across gateways, presence, /health; nothing refused', async () => {
  const sys = await System.start({ natsAuth: true, gateways: 2 });
  const socks = [];
  try {
    const [g0, g1] = sys.gateways;
    for (const gw of sys.gateways) {
      const h = await sys.http('GET', '/health', { gw });
      assert.equal(h.status, 200, h.text); // both health requests answered
      assert.equal(h.body.counts, 'cluster');
    }
    for (const p of [sys.stats, sys.presence, ...sys.gateways]) {
      assert.match(p.log(), /nats connection created.*"user":"(stats|presence|gateway)"/, `${p.name} connected as its user`);
    }
    const user = `perm_e2e${process.pid}`;
    const a = await connect(sys, user, {}, g0);
    socks.push(a);
    const update = waitEvent(a, 'presence:update', (u) => u.devices === 2); // statsync.user.<u>.presence fan-out
    const b = await connect(sys, user, { transports: ['websocket'] }, g1);
    socks.push(b);
    await update;
    const pong = await emitAck(a, 'presence:ping', { ts: 7 });
    assert.equal(pong.devices, 2, 'devices from the presence-service (the gateway alone knows 1)');
    // REST write on g0 -> statsync.user.<u>.changed -> push to the socket on g1
    const pushed = waitEvent(b, 'user:data:updated', (d) => d.xp === 5);
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token(user), body: { xp: 5 }, gw: g0 });
    assert.equal(r.status, 200, r.text);
    await pushed;
    // socket write on g1 -> push to the socket on g0
    const pushedA = waitEvent(a, 'user:data:updated', (d) => d.xp === 8);
    const ack = await emitAck(b, 'user:clientUpdate', { opId: 'perm1', delta: { xp: 3 } });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    await pushedA;
    const doc = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user), gw: g1 });
    assert.equal(doc.body.xp, 8);
    assert.deepEqual(sys.natsViolations(), []);
  } finally {
    socks.forEach((s) => s.close());
    await sys.stop(); // fails on any violation nats-server logged
  }
});

test('TLS to NATS: the system works over tls:// with the CA; a certificate without the server\'s name is refused', async () => {
  const sys = await System.start({ natsAuth: true, natsTls: true, gateways: 1 });
  try {
    assert.match(sys.natsUrl, /^tls:\/\//);
    const h = await sys.http('GET', '/health');
    assert.equal(h.status, 200, h.text);
    assert.match(sys.stats.log(), /nats connection created.*"tls":true/);
    const r = await sys.http('POST', '/api/users/data/patch', { token: sys.token('perm_tls'), body: { xp: 1 } });
    assert.equal(r.status, 200, r.text);
    for (const [name, env, why] of [
      ['presence-wrong-name', { STATSYNC_NATS_TLS_HOSTNAME: 'wrong.example' }, /SSL handshake error.*(mismatch|verify)/i],
      ['presence-no-ca', { STATSYNC_NATS_TLS_CA: '' }, /SSL handshake error.*(issuer|verif)/i],
    ]) {
      const p = new Proc(name, bin('statsync-presence'), [],
        sys.baseEnv({ STATSYNC_ADMIN_PORT: '0', ...env }, 'presence'), path.join(sys.dir, `${name}.log`)).start();
      try {
        await waitFor(`${name}: the handshake failure in its log`, () => why.test(p.log()), 10000);
        assert.doesNotMatch(p.log(), /nats connection created/);
      } finally { await p.kill('SIGKILL'); }
    }
  } finally {
    await sys.stop();
  }
});
