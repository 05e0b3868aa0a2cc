// sio_garbage.test.js — raw websocket frames and raw HTTP requests that no
// well-behaved client sends: truncated JSON, wrong types, huge ack ids, events
// before CONNECT, binary packets, unknown namespaces, frames over maxPayload,
// Engine.IO misuse. The gateway must answer or refuse each one cleanly, keep
// the connection where the protocol allows it, and never crash. Also: the
// server's pings, and closing a session whose pongs stop (fast intervals).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { System, sleep } = require('../lib/system');
const { connect, emitAck } = require('./sio_helpers');

let sys;
test.before(async () => {
  sys = await System.start({ gatewayEnv: { STATSYNC_PING_INTERVAL_MS: '400', STATSYNC_PING_TIMEOUT_MS: '800' } });
});
test.after(async () => { if (sys) await sys.stop(); });

const base = () => `127.0.0.1:${sys.gw.socketPort}/socket.io/?EIO=4`;

// A raw Engine.IO websocket client that answers pings unless told not to.
class RawWs {
  static async open({ pong = true } = {}) {
    const r = new RawWs();
    r.ws = new WebSocket(`ws://${base()}&transport=websocket`);
    r.msgs = [];
    r.waiters = [];
    r.pong = pong;
    r.closed = new Promise((resolve) => r.ws.on('close', (code) => resolve(code)));
    r.ws.on('error', () => {});
    r.ws.on('message', (data, isBinary) => {
      const m = isBinary ? data : data.toString();
      if (m === '2' && r.pong) { r.ws.send('3'); return; }
      r.msgs.push(m);
      r.waiters = r.waiters.filter((w) => !w(m));
    });
    await new Promise((resolve, reject) => { r.ws.once('open', resolve); r.ws.once('error', reject); });
    const open = await r.next((m) => m[0] === '0');
    r.sid = JSON.parse(open.slice(1)).sid;
    return r;
  }

  // next message matching pred (already received or to come)
  next(pred, ms = 3000) {
    const i = this.msgs.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.msgs.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no matching message')), ms);
      this.waiters.push((m) => {
        if (!pred(m)) return false;
        clearTimeout(t);
        this.msgs.splice(this.msgs.indexOf(m), 1);
        resolve(m);
        return true;
      });
    });
  }

  send(m) { this.ws.send(m); }

  async connect(user) {
    this.send(`40${JSON.stringify({ token: sys.token(user) })}`);
    return this.next((m) => m.startsWith('40'));
  }

  // proves the socket still works: a ping event answered with an ack
  async alive(id = 777) {
    this.send(`42${id}["presence:ping",{"ts":1}]`);
    const m = await this.next((x) => x.startsWith(`43${id}[`));
    return JSON.parse(m.slice(2 + String(id).length))[0];
  }

  close() { try { this.ws.close(); } catch (_) { /* gone */ } }
}

function gatewayAlive() {
  assert.equal(sys.gw.child.exitCode, null, `gateway exited:\n${sys.gw.log().slice(-3000)}`);
  assert.equal(sys.gw.child.signalCode, null);
}

test('events before CONNECT are ignored and the connection stays usable', async () => {
  const r = await RawWs.open();
  try {
    r.send('42["user:clientUpdate",{"delta":{"xp":1}}]');
    r.send('421["presence:ping",{"ts":1}]');
    await sleep(100);
    assert.equal(r.msgs.length, 0, JSON.stringify(r.msgs));
    const c = await r.connect('garb_before');
    assert.match(c, /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
    assert.equal((await r.alive()).userId, 'garb_before');
  } finally { r.close(); }
});

test('truncated JSON, wrong types and bad packets are refused; the socket stays usable', async () => {
  const r = await RawWs.open();
  try {
    await r.connect('garb_types');
    r.send('425["user:clientUpdate",{"delta":');           // truncated, with an ack id
    const ack = JSON.parse((await r.next((m) => m.startsWith('435['))).slice(3))[0];
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'invalid_json');
    r.send('42["user:clientUpdate",{"delta":');             // truncated, no ack id
    const ue = JSON.parse((await r.next((m) => m.startsWith('42["user:error"'))).slice(2));
    assert.equal(ue[1].error.code, 'invalid_json');
    for (const bad of ['42{"a":1}', '42[1,2]', '42[]', '42', '4x', '9', '', '4', '42["connect"]',
      '43[{}]', '44{"message":"x"}', '42["user:clientUpdate",{"a":1,"a":2}]',
      `42["e",${'['.repeat(200)}${']'.repeat(200)}]`, '42["user:clientUpdate",null]',
      '42["user:clientUpdate",{"delta":{"xp":1e400}}]', '42["presence:join",5]', '0', '5', '6',
      '42["user:clientUpdate",{"ops":' + JSON.stringify(Array.from({ length: 101 }, () => ({ delta: { xp: 1 } }))) + '}]']) {
      r.send(bad);
    }
    r.send('426["user:clientUpdate",{"delta":{"xp":"ten"}}]');
    const a6 = JSON.parse((await r.next((m) => m.startsWith('436['))).slice(3))[0];
    assert.equal(a6.error.code, 'invalid_type');
    r.send('427["user:clientUpdate",{"delta":{"xp":1},"ops":[]}]');
    assert.equal(JSON.parse((await r.next((m) => m.startsWith('437['))).slice(3))[0].ok, false);
    assert.equal((await r.alive()).userId, 'garb_types');
    gatewayAlive();
  } finally { r.close(); }
});

test('huge ack ids are refused (> 2^31-1 or > 10 digits)', async () => {
  const r = await RawWs.open();
  try {
    await r.connect('garb_ack');
    r.send('422147483648["presence:ping",{"ts":1}]');
    r.send('4299999999999999999999999["presence:ping",{"ts":1}]');
    r.send(`42${'9'.repeat(5000)}["presence:ping",{"ts":1}]`);
    await sleep(100);
    assert.equal(r.msgs.filter((m) => m.startsWith('43')).length, 0);
    // the largest valid ack id works
    r.send('422147483647["presence:ping",{"ts":1}]');
    await r.next((m) => m.startsWith('432147483647['));
    assert.equal((await r.alive()).userId, 'garb_ack');
  } finally { r.close(); }
});

test('binary packets and binary frames are refused without closing the socket', async () => {
  const r = await RawWs.open();
  try {
    await r.connect('garb_bin');
    r.send('451-9["user:clientUpdate",{"_placeholder":true,"num":0}]');
    r.send(Buffer.from([1, 2, 3, 4]));
    const ack = JSON.parse((await r.next((m) => typeof m === 'string' && m.startsWith('439['))).slice(3))[0];
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'bad_request');
    assert.equal((await r.alive()).userId, 'garb_bin');
  } finally { r.close(); }
});

test('an unknown namespace gets a CONNECT_ERROR for that namespace', async () => {
  const r = await RawWs.open();
  try {
    r.send(`40/admin,${JSON.stringify({ token: sys.token('garb_nsp') })}`);
    const m = await r.next((x) => x.startsWith('44/admin,'));
    assert.match(JSON.parse(m.slice('44/admin,'.length)).message, /namespace/i);
    r.send(`40/${'x'.repeat(500)},{}`); // namespace too long: refused, ignored
    await r.connect('garb_nsp');
    assert.equal((await r.alive()).userId, 'garb_nsp');
  } finally { r.close(); }
});

test('a websocket frame over maxPayload closes that connection only (1009)', async () => {
  const r = await RawWs.open();
  const ok = await connect(sys, 'garb_big_other', { transports: ['websocket'] });
  try {
    await r.connect('garb_big');
    r.send(`42["user:clientUpdate",{"x":"${'a'.repeat(1000001)}"}]`);
    const code = await Promise.race([r.closed, sleep(5000).then(() => 'open')]);
    assert.ok(code === 1009 || code === 1006, `closed with ${code}`); // 1006 when the close frame races the unread rest
    const pong = await emitAck(ok, 'presence:ping', { ts: 1 });
    assert.equal(pong.userId, 'garb_big_other');
    gatewayAlive();
  } finally { r.close(); ok.close(); }
});

test('sessions whose pongs stop are closed; clients that answer stay', async () => {
  const silent = await RawWs.open({ pong: false });
  const good = await connect(sys, 'garb_pinged', {});
  try {
    await silent.connect('garb_silent');
    const code = await Promise.race([silent.closed, sleep(4000).then(() => 'open')]);
    assert.notEqual(code, 'open', 'a session without pongs is closed');
    await sleep(1200); // several ping intervals
    assert.equal(good.connected, true);
    assert.equal((await emitAck(good, 'presence:ping', { ts: 1 })).userId, 'garb_pinged');
  } finally { silent.close(); good.close(); }
});

async function httpReq(method, query, body, headers = {}) {
  const r = await fetch(`http://${base()}${query}`, { method, body, headers });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

test('raw polling: handshake, bad parameters, unknown sid, overlap, maxPayload, CORS', async () => {
  let r = await httpReq('GET', '&transport=polling');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const { sid, upgrades, pingInterval, pingTimeout, maxPayload } = JSON.parse(r.text.slice(1));
  assert.deepEqual(upgrades, ['websocket']);
  assert.equal(pingInterval, 400);
  assert.equal(pingTimeout, 800);
  assert.equal(maxPayload, 1000000);

  assert.equal((await httpReq('GET', '&transport=polling&sid=nope')).status, 400);
  assert.deepEqual(JSON.parse((await httpReq('GET', '&transport=polling&sid=nope')).text), { code: 1, message: 'Session ID unknown' });
  assert.equal((await fetch(`http://127.0.0.1:${sys.gw.socketPort}/socket.io/?EIO=3&transport=polling`)).status, 400);
  assert.equal((await httpReq('GET', '&transport=carrier-pigeon')).status, 400);
  assert.equal((await httpReq('POST', '&transport=polling', '40')).status, 400); // handshake by POST
  assert.equal((await fetch(`http://127.0.0.1:${sys.gw.socketPort}/elsewhere`)).status, 404);
  const pre = await httpReq('OPTIONS', '&transport=polling');
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);

  // garbage POST bodies are answered "ok" and change nothing
  r = await httpReq('POST', `&transport=polling&sid=${sid}`, `40${JSON.stringify({ token: sys.token('garb_poll') })}\x1e42["x"\x1eb AAAA\x1e\x1e9`, { 'content-type': 'text/plain;charset=UTF-8' });
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok');
  r = await httpReq('GET', `&transport=polling&sid=${sid}`);
  assert.match(r.text, /^40\{"sid"/);

  // one pending GET at a time: a second one is refused and the session closed
  const first = httpReq('GET', `&transport=polling&sid=${sid}`);
  await sleep(50);
  const second = await httpReq('GET', `&transport=polling&sid=${sid}`);
  assert.equal(second.status, 400);
  assert.equal((await first).text, '1'); // the parked GET learns the session closed
  assert.equal((await httpReq('GET', `&transport=polling&sid=${sid}`)).status, 400);

  // a POST over maxPayload: 413
  r = await httpReq('GET', '&transport=polling');
  const sid2 = JSON.parse(r.text.slice(1)).sid;
  r = await httpReq('POST', `&transport=polling&sid=${sid2}`, `42["x","${'a'.repeat(1000001)}"]`);
  assert.equal(r.status, 413);
  gatewayAlive();
});

test('raw upgrade misuse: probes for unknown or upgraded sessions are refused', async () => {
  const bad = new WebSocket(`ws://${base()}&transport=websocket&sid=nope`);
  const res = await new Promise((resolve) => {
    bad.on('unexpected-response', (req, resp) => resolve(resp.statusCode));
    bad.on('error', () => resolve('error'));
    bad.on('open', () => resolve('open'));
  });
  assert.notEqual(res, 'open');
  const ok = await connect(sys, 'garb_upg', { transports: ['websocket'] });
  try {
    const again = new WebSocket(`ws://${base()}&transport=websocket&sid=${ok.io.engine.id}`);
    const r2 = await new Promise((resolve) => {
      again.on('unexpected-response', (req, resp) => resolve(resp.statusCode));
      again.on('error', () => resolve('error'));
      again.on('open', () => resolve('open'));
    });
    assert.notEqual(r2, 'open');
    assert.equal((await emitAck(ok, 'presence:ping', { ts: 1 })).userId, 'garb_upg');
  } finally { ok.close(); }
  gatewayAlive();
});
