// fault_helpers.js — clients for the fault tests (fault_*.test.js; not a test).
//
// QueueClient is what a mobile client's offline queue does, over the real
// socket.io-client: every update is {opId, delta:{xp:1}} (or a batch
// {ops:[…]} of queued ones); an op stays queued until an ack {ok:true} names
// it, and is sent again with the same opId after an error ack, an ack timeout
// or a reconnect. It never drops an op. Given several gateway URLs it moves
// to the next one when a connection fails or drops.
//
// RestWriter does the same over REST: POST /api/users/data/patch {xp:1} with
// an Idempotency-Key, the same key again until a 2xx.
//
// After the faults, drain() waits until every op is acknowledged; then the
// user's xp must equal exactly the number of distinct opIds / keys sent.
'use strict';

const { io } = require('socket.io-client');
const { sleep } = require('../lib/system');

// A small deterministic PRNG (mulberry32), so a run's choices can be replayed.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class QueueClient {
  // urls: socket URLs (http://127.0.0.1:<port>) in failover order.
  constructor(sys, userId, { urls, id, transports = ['websocket'], maxInflight = 4, ackTimeoutMs = 4000, seed = 1 } = {}) {
    this.sys = sys;
    this.userId = userId;
    this.id = id || `${userId}-c${Math.floor(Math.random() * 1e9)}`;
    this.urls = urls;
    this.urlIdx = 0;
    this.transports = transports;
    this.maxInflight = maxInflight;
    this.ackTimeoutMs = ackTimeoutMs;
    this.rand = prng(seed);
    this.ops = new Map(); // opId -> { state: 'pending' | 'inflight' | 'acked', sends }
    this.pending = []; // opIds waiting to be sent, oldest first
    this.seq = 0;
    this.gen = 0; // bumps on every (re)connect: acks of older sockets are stale
    this.socket = null;
    this.connected = false;
    this.running = false;
    this.inflight = 0;
    this.backoffMs = 0; // after an error, wait before sending again: 100 ms doubling to 1 s
    this.pausedUntil = 0;
    this.pumpTimer = null;
    this.stats = { sends: 0, acked: 0, duplicates: 0, timeouts: 0, errors: {}, connects: 0, disconnects: 0, connectErrors: 0, urlsUsed: new Set() };
  }

  start() {
    this.running = true;
    this._connect();
    return this;
  }

  // Queues n new ops (as the app would while offline or online).
  add(n = 1) {
    for (let i = 0; i < n; i++) {
      const opId = `${this.id}-${++this.seq}`;
      this.ops.set(opId, { state: 'pending', sends: 0 });
      this.pending.push(opId);
    }
    this._pump();
  }

  get sent() { return this.ops.size; } // distinct opIds created (all are sent until acked)
  get unacked() { return this.ops.size - this.stats.acked; }

  _connect() {
    if (!this.running) return;
    const url = this.urls[this.urlIdx % this.urls.length];
    const gen = ++this.gen;
    const s = io(url, {
      auth: { token: this.sys.token(this.userId) },
      reconnection: false,
      forceNew: true,
      timeout: 3000,
      transports: this.transports,
    });
    this.socket = s;
    s.on('connect', () => {
      if (gen !== this.gen) return;
      this.connected = true;
      this.stats.connects++;
      this.stats.urlsUsed.add(url);
      this._pump();
    });
    const fail = (what) => {
      if (gen !== this.gen) return;
      if (what === 'disconnect') this.stats.disconnects++;
      else this.stats.connectErrors++;
      this._reconnect();
    };
    s.on('connect_error', () => fail('connect_error'));
    s.on('disconnect', () => fail('disconnect'));
  }

  // The connection is gone: everything in flight on it goes back to the
  // queue (its ack can never come), then connect again, on the next URL when
  // there are several.
  _reconnect() {
    this.gen++;
    this.connected = false;
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.close();
      this.socket = null;
    }
    this._requeueInflight();
    if (!this.running) return;
    if (this.urls.length > 1) this.urlIdx++;
    setTimeout(() => this._connect(), 100 + Math.floor(this.rand() * 200));
  }

  _requeueInflight() {
    const back = [];
    for (const [opId, o] of this.ops) if (o.state === 'inflight') { o.state = 'pending'; back.push(opId); }
    this.pending.unshift(...back);
    this.inflight = 0;
  }

  _pump() {
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      if (!this.pumpTimer) this.pumpTimer = setTimeout(() => { this.pumpTimer = null; this._pump(); }, wait);
      return;
    }
    while (this.running && this.connected && this.inflight < this.maxInflight && this.pending.length > 0) {
      // mostly single ops, sometimes a batch of what is queued (an offline flush)
      const k = this.rand() < 0.3 ? Math.min(this.pending.length, 1 + Math.floor(this.rand() * 5)) : 1;
      const batch = this.pending.splice(0, k);
      this._send(batch);
    }
  }

  _send(batch) {
    const gen = this.gen;
    for (const opId of batch) {
      const o = this.ops.get(opId);
      o.state = 'inflight';
      o.sends++;
    }
    this.inflight++;
    this.stats.sends++;
    const payload = batch.length === 1
      ? { opId: batch[0], delta: { xp: 1 } }
      : { ops: batch.map((opId) => ({ opId, delta: { xp: 1 } })) };
    this.socket.timeout(this.ackTimeoutMs).emit('user:clientUpdate', payload, (err, ack) => {
      if (gen !== this.gen) {
        // a late answer from a socket we gave up on: an ok still counts
        if (!err && ack && ack.ok) this._acked(batch, ack);
        return;
      }
      this.inflight--;
      if (!err && ack && ack.ok) {
        this.backoffMs = 0;
        this._acked(batch, ack);
        this._pump();
        return;
      }
      if (err) this.stats.timeouts++;
      else {
        const code = (ack && ack.error && ack.error.code) || 'no_ack_body';
        this.stats.errors[code] = (this.stats.errors[code] || 0) + 1;
      }
      for (const opId of batch) {
        const o = this.ops.get(opId);
        if (o.state === 'inflight') { o.state = 'pending'; this.pending.push(opId); }
      }
      // back off before trying again (the whole client, as a real queue would)
      this.backoffMs = Math.min(1000, this.backoffMs ? this.backoffMs * 2 : 100);
      this.pausedUntil = Date.now() + Math.floor(this.backoffMs * (0.5 + this.rand() / 2));
      this._pump();
    });
  }

  _acked(batch, ack) {
    if (ack.duplicate) this.stats.duplicates++;
    for (const opId of batch) {
      const o = this.ops.get(opId);
      if (o.state !== 'acked') {
        if (o.state === 'pending') this.pending.splice(this.pending.indexOf(opId), 1);
        o.state = 'acked';
        this.stats.acked++;
      }
    }
  }

  async drain(timeoutMs) {
    const end = Date.now() + timeoutMs;
    while (this.unacked > 0 && Date.now() < end) {
      this._pump();
      await sleep(50);
    }
    return this.unacked === 0;
  }

  stop() {
    this.running = false;
    this.gen++;
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.close();
      this.socket = null;
    }
  }

  summary() {
    const s = this.stats;
    return `${this.id}: ops ${this.sent}, acked ${s.acked}, sends ${s.sends}, dup-acks ${s.duplicates}, timeouts ${s.timeouts}, errors ${JSON.stringify(s.errors)}, connects ${s.connects}, urls ${s.urlsUsed.size}`;
  }
}

class RestWriter {
  // apiPorts: gateway API ports in failover order.
  constructor(sys, userId, { apiPorts, id, timeoutMs = 5000 } = {}) {
    this.sys = sys;
    this.userId = userId;
    this.id = id || `${userId}-r${Math.floor(Math.random() * 1e9)}`;
    this.apiPorts = apiPorts;
    this.portIdx = 0;
    this.timeoutMs = timeoutMs;
    this.keys = new Set();
    this.acked = new Set();
    this.seq = 0;
    this.stats = { requests: 0, statuses: {}, netErrors: 0, duplicates: 0 };
    this.running = false;
    this.target = 0; // ops to send in total (the loop stops adding at stop())
  }

  // Sends one new op every intervalMs while running; each op is retried
  // until acknowledged before the next one starts (one op at a time, like a
  // queue flushed in order).
  start(intervalMs = 50) {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const key = `${this.id}-${++this.seq}`;
        this.keys.add(key);
        await this._untilAcked(key, () => this.running);
        await sleep(intervalMs);
      }
    })();
    return this;
  }

  async _untilAcked(key, keepGoing) {
    while (!this.acked.has(key)) {
      if (!keepGoing()) return;
      if (await this._once(key)) { this.acked.add(key); return; }
      await sleep(100);
    }
  }

  async _once(key) {
    const port = this.apiPorts[this.portIdx % this.apiPorts.length];
    this.stats.requests++;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/users/data/patch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.sys.token(this.userId)}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: '{"xp":1}',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await r.text();
      this.stats.statuses[r.status] = (this.stats.statuses[r.status] || 0) + 1;
      if (r.status === 200) {
        if (JSON.parse(text).duplicate) this.stats.duplicates++;
        return true;
      }
      return false;
    } catch (_) {
      this.stats.netErrors++;
      if (this.apiPorts.length > 1) this.portIdx++;
      return false;
    }
  }

  async stop() {
    this.running = false;
    await this.loop;
  }

  // Every key created is sent again until acknowledged.
  async drain(timeoutMs) {
    const end = Date.now() + timeoutMs;
    for (const key of this.keys) await this._untilAcked(key, () => Date.now() < end);
    return [...this.keys].every((k) => this.acked.has(k));
  }

  get sent() { return this.keys.size; }

  summary() {
    const s = this.stats;
    return `${this.id}: keys ${this.keys.size}, acked ${this.acked.size}, requests ${s.requests}, statuses ${JSON.stringify(s.statuses)}, net errors ${s.netErrors}, dup ${s.duplicates}`;
  }
}

// The exact check: per user, xp == distinct opIds + keys sent for that user.
async function assertExactSums(assert, sys, writers, { gw } = {}) {
  const expected = new Map();
  for (const w of writers) expected.set(w.userId, (expected.get(w.userId) || 0) + w.sent);
  const rows = [];
  for (const [user, want] of expected) {
    const r = await sys.http('GET', `/api/users/${user}/stats`, { token: sys.token(user), gw });
    assert.equal(r.status, 200, r.text);
    rows.push({ user, want, xp: r.body.xp, version: r.body.version });
  }
  for (const row of rows) {
    assert.equal(row.xp, row.want, `${row.user}: xp ${row.xp} but ${row.want} distinct ops were sent (${row.xp < row.want ? 'lost' : 'doubled'})`);
  }
  return rows;
}

// One line on how the faults hit the traffic: duplicate answers (a retried op
// that had been committed before its ack was lost), gateway timeouts (outcome
// unknown to the client), other error acks/statuses, ack timeouts, reconnects.
function faultLine(clients, rest) {
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const errs = {};
  for (const c of clients) for (const [k, v] of Object.entries(c.stats.errors)) errs[k] = (errs[k] || 0) + v;
  const statuses = {};
  for (const w of rest) for (const [k, v] of Object.entries(w.stats.statuses)) statuses[k] = (statuses[k] || 0) + v;
  return `socket: ${sum(clients.map((c) => c.sent))} ops, ${sum(clients.map((c) => c.stats.duplicates))} duplicate acks, ` +
    `error acks ${JSON.stringify(errs)}, ack timeouts ${sum(clients.map((c) => c.stats.timeouts))}, ` +
    `reconnects ${sum(clients.map((c) => c.stats.connects - 1))}; REST: ${sum(rest.map((w) => w.sent))} keys, ` +
    `${sum(rest.map((w) => w.stats.duplicates))} duplicate answers, statuses ${JSON.stringify(statuses)}, network errors ${sum(rest.map((w) => w.stats.netErrors))}`;
}

// Produces load: every tickMs each QueueClient gets one new op.
function feeder(clients, tickMs = 40) {
  const t = setInterval(() => { for (const c of clients) c.add(1); }, tickMs);
  return { stop: () => clearInterval(t) };
}

module.exports = { QueueClient, RestWriter, assertExactSums, feeder, faultLine, prng };
