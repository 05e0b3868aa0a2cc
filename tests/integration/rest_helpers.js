// rest_helpers.js — helpers shared by the rest_*.test.js files (not a test).
'use strict';

const net = require('node:net');

// Sends a hand-written HTTP/1.1 request over a raw socket: headers as given,
// then each body chunk. Used where fetch cannot go: bodies whose answer comes
// before they are fully sent, chunked bodies, headers fetch refuses.
// Resolves with { status, headers (lower-case), body (parsed JSON or text) }
// once the server closes the connection or a whole response arrived.
function rawRequest(port, { method = 'POST', path, headers = {}, chunks = [], chunked = false, timeoutMs = 15000 }) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (err) return reject(err);
      resolve(parseResponse(data));
    };
    const timer = setTimeout(() => finish(new Error(`raw ${method} ${path}: no answer in ${timeoutMs} ms`)), timeoutMs);
    s.on('data', (d) => {
      data = Buffer.concat([data, d]);
      const r = parseResponse(data);
      if (r && r.complete) finish();
    });
    s.on('error', () => { /* EPIPE / ECONNRESET after an early answer: judged by what arrived */ });
    s.on('close', () => {
      if (!parseResponse(data)) return finish(new Error(`raw ${method} ${path}: connection closed without a response`));
      return finish();
    });
    s.on('connect', () => {
      let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      if (chunked) head += 'Transfer-Encoding: chunked\r\n';
      s.write(`${head}\r\n`);
      const writeAll = async () => {
        for (const c of chunks) {
          if (done || s.destroyed) return;
          const buf = Buffer.from(c);
          const frame = chunked ? Buffer.concat([Buffer.from(`${buf.length.toString(16)}\r\n`), buf, Buffer.from('\r\n')]) : buf;
          if (!s.write(frame)) await new Promise((r) => { s.once('drain', r); s.once('close', r); });
        }
        if (chunked && !done && !s.destroyed) s.write('0\r\n\r\n');
      };
      writeAll().catch(() => {});
    });
  });
}

function parseResponse(buf) {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return null;
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const bodyBuf = buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  const len = headers['content-length'] !== undefined ? Number(headers['content-length']) : null;
  const complete = len !== null && bodyBuf.length >= len;
  const raw = bodyBuf.subarray(0, len !== null ? len : bodyBuf.length).toString('utf8');
  let body = raw;
  try { body = JSON.parse(raw); } catch (_) { /* not JSON */ }
  return { status: Number(m[1]), headers, body, complete };
}

// Parses Prometheus text exposition format 0.0.4 strictly enough to catch a
// broken line; returns [{ name, labels, value }].
function parsePrometheus(text) {
  const samples = [];
  const types = new Map();
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('metrics text must end with a newline');
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) throw new Error(`line ${i + 1}: bad comment: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`line ${i + 1}: bad type ${m[3]}`);
        if (types.has(m[2])) throw new Error(`line ${i + 1}: TYPE of ${m[2]} given twice`);
        types.set(m[2], m[3]);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`line ${i + 1}: bad sample: ${line}`);
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const l = re.exec(m[3]);
        if (!l) throw new Error(`line ${i + 1}: bad labels: ${m[3]}`);
        labels[l[1]] = l[2];
        pos = re.lastIndex;
      }
    }
    const v = m[4];
    if (!/^(NaN|[+-]Inf|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$/.test(v)) throw new Error(`line ${i + 1}: bad value ${v}`);
    samples.push({ name: m[1], labels, value: Number(v.replace('Inf', 'Infinity')) });
  }
  return { samples, types };
}

module.exports = { rawRequest, parsePrometheus };
