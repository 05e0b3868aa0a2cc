// nats_spy.js — a raw NATS client subscribed to ">" for a test: speaks just
// enough of the protocol over net.Socket (CONNECT, SUB, PING/PONG, MSG) and
// records every message on every subject with its reply subject, so a test
// can count what travelled (authz_matrix, one_message); readFrames is its
// protocol reader (nats_permissions' client too).
'use strict';

const net = require('node:net');
const { sleep, waitFor } = require('./system');

// The protocol lines of d (appended to client.buf): every MSG is recorded in
// client.msgs as { subject, reply, payload }, a PING answered; every other
// complete line goes to onLine (PONG, -ERR, INFO, ...).
function readFrames(client, d, onLine) {
  client.buf = Buffer.concat([client.buf, d]);
  for (;;) {
    const eol = client.buf.indexOf('\r\n');
    if (eol < 0) return;
    const line = client.buf.subarray(0, eol).toString('latin1');
    if (line.startsWith('MSG ')) {
      // MSG <subject> <sid> [reply-to] <#bytes>
      const parts = line.split(' ');
      const n = Number(parts[parts.length - 1]);
      if (client.buf.length < eol + 2 + n + 2) return; // payload not all here yet
      const payload = client.buf.subarray(eol + 2, eol + 2 + n);
      client.msgs.push({ subject: parts[1], reply: parts.length === 5 ? parts[3] : null, payload: Buffer.from(payload) });
      client.buf = client.buf.subarray(eol + 2 + n + 2);
      continue;
    }
    client.buf = client.buf.subarray(eol + 2);
    if (line === 'PING') client.sock.write('PONG\r\n');
    else onLine(line);
  }
}

// Speaks just enough of the NATS client protocol: CONNECT, SUB, PING/PONG,
// and MSG parsing. Every message on every subject is recorded.
class NatsSpy {
  static start(port) {
    const spy = new NatsSpy();
    return spy._connect(port).then(() => spy);
  }

  constructor() {
    this.msgs = []; // { subject, reply, payload: Buffer }
    this.buf = Buffer.alloc(0);
    this.pongs = [];
  }

  _connect(port) {
    return new Promise((resolve, reject) => {
      this.sock = net.connect(port, '127.0.0.1');
      this.sock.once('error', reject);
      this.sock.on('data', (d) => this._data(d));
      this.sock.once('connect', () => {
        this.sock.write('CONNECT {"verbose":false,"pedantic":false,"name":"authz-spy"}\r\nSUB > 1\r\n');
        this.ping().then(resolve, reject);
      });
    });
  }

  // Resolves once the server answered a PING sent now: everything the server
  // received from this client before it (our SUB) has been processed.
  ping(timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('NATS spy: no PONG')), timeoutMs);
      this.pongs.push(() => { clearTimeout(t); resolve(); });
      this.sock.write('PING\r\n');
    });
  }

  _data(d) {
    readFrames(this, d, (line) => {
      if (line === 'PONG') { const f = this.pongs.shift(); if (f) f(); }
      else if (line.startsWith('-ERR')) this.errors = [...(this.errors || []), line];
    });
  }

  // Waits until a marker published now comes back: the server has delivered
  // to us whatever it had routed before. Then a short grace for messages from
  // other connections that were already on their way.
  async settle() {
    this.markers = (this.markers || 0) + 1;
    const marker = `authzspy.marker.${process.pid}.${this.markers}`;
    this.sock.write(`PUB ${marker} 0\r\n\r\n`);
    await waitFor('spy marker', () => this.msgs.some((m) => m.subject === marker), 5000, 5);
    await sleep(100);
  }

  // Where "since now" starts: first whatever the server routed to us before
  // now has arrived (settle), so a message of an earlier step — published
  // before it ended but delivered to the spy after — never counts in a later
  // one. (A test once saw the previous test's last GET this way.)
  async mark() {
    await this.settle();
    return this.msgs.length;
  }
  since(i) { return this.msgs.slice(i); }
  close() { this.sock.destroy(); }
}

module.exports = { NatsSpy, readFrames };
