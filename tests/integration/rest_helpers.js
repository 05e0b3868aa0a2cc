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

// Parses Prometheus text exposition format 0.0.4 strictly, as Prometheus
// itself would refuse it (and a little more: what our renderer must never
// do even where Prometheus is lenient). Returns { samples: [{ name, labels,
// value }], types: Map(name -> type), help: Map(name -> text) }, label
// values and help texts unescaped. Throws with the line number on:
// - a comment that is not `# HELP name text` / `# TYPE name type`, a HELP or
//   TYPE given twice, or after the family's first sample;
// - an escape other than \\ \" \n in a label value (\\ \n in a help text), a
//   raw `"` or a bad label name (or a reserved `__` one), a label twice;
// - a sample of no TYPE'd family (a histogram's are name_bucket with `le`,
//   name_sum, name_count), a family whose lines are not all together, the
//   same series twice, a bad value or timestamp;
// - a histogram whose buckets do not rise with `le`, are not cumulative, lack
//   +Inf, or whose +Inf bucket is not its _count.
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(NaN|[+-]Inf|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$/;

function unescapeHelp(text, where) {
  return text.replace(/\\(.?)/g, (all, c) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new Error(`${where}: bad escape \\${c} in help text`);
  });
}

// The label block of a sample: s[pos] is '{'. Returns { labels, end } with
// end the index after '}'.
function parseLabels(s, pos, where) {
  const labels = {};
  let i = pos + 1;
  for (;;) {
    if (s[i] === '}') return { labels, end: i + 1 };
    const nm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!nm) throw new Error(`${where}: bad label name at column ${i + 1}`);
    const name = nm[0];
    if (name.startsWith('__')) throw new Error(`${where}: reserved label name ${name}`);
    if (Object.prototype.hasOwnProperty.call(labels, name)) throw new Error(`${where}: label ${name} twice`);
    i += name.length;
    if (s[i] !== '=' || s[i + 1] !== '"') throw new Error(`${where}: expected ="…" after label ${name}`);
    i += 2;
    let v = '';
    for (;;) {
      if (i >= s.length) throw new Error(`${where}: unterminated value of label ${name}`);
      const c = s[i];
      if (c === '"') { i++; break; }
      if (c === '\\') {
        const e = s[i + 1];
        if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else if (e === 'n') v += '\n';
        else throw new Error(`${where}: bad escape \\${e === undefined ? '' : e} in label ${name}`);
        i += 2;
      } else {
        v += c;
        i++;
      }
    }
    labels[name] = v;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`);
  }
}

// The family a sample name belongs to, given the TYPEs seen so far.
function familyOf(name, types) {
  if (types.has(name) && types.get(name) !== 'histogram') return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const t = types.get(base);
    if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
  }
  return null;
}

function checkHistograms(samples, types) {
  const series = new Map(); // family + labels without le -> { buckets: [[le, v]], count }
  for (const s of samples) {
    const fam = familyOf(s.name, types);
    if (types.get(fam) !== 'histogram') continue;
    const { le, ...rest } = s.labels;
    const key = `${fam}${JSON.stringify(Object.entries(rest).sort())}`;
    if (!series.has(key)) series.set(key, { buckets: [], count: null });
    const h = series.get(key);
    if (s.name === `${fam}_bucket`) {
      if (le === undefined) throw new Error(`${fam}: a bucket without le`);
      h.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${fam}_count`) h.count = s.value;
  }
  for (const [key, h] of series) {
    if (h.buckets.length === 0 || h.buckets[h.buckets.length - 1][0] !== Infinity) throw new Error(`${key}: no +Inf bucket last`);
    for (let i = 1; i < h.buckets.length; i++) {
      if (!(h.buckets[i][0] > h.buckets[i - 1][0])) throw new Error(`${key}: buckets not in rising le order`);
      if (h.buckets[i][1] < h.buckets[i - 1][1]) throw new Error(`${key}: buckets not cumulative`);
    }
    if (h.count !== h.buckets[h.buckets.length - 1][1]) throw new Error(`${key}: +Inf bucket is not _count`);
  }
}

function parsePrometheus(text) {
  const samples = [];
  const types = new Map();
  const help = new Map();
  const started = new Set(); // families with a sample
  const closed = new Set(); // families whose lines ended
  const seen = new Set(); // series
  let current = null;
  const enter = (fam, where) => {
    if (fam === current) return;
    if (closed.has(fam)) throw new Error(`${where}: lines of ${fam} are not all together`);
    if (current !== null) closed.add(current);
    current = fam;
  };
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('metrics text must end with a newline');
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}`;
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+) ?(.*)$/.exec(line);
      if (!m || !METRIC_NAME.test(m[2])) throw new Error(`${where}: bad comment: ${line}`);
      const [, kind, name, rest] = m;
      if (started.has(name)) throw new Error(`${where}: ${kind} of ${name} after its samples`);
      enter(name, where);
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: bad type ${rest}`);
        if (types.has(name)) throw new Error(`${where}: TYPE of ${name} given twice`);
        types.set(name, rest);
      } else {
        if (help.has(name)) throw new Error(`${where}: HELP of ${name} given twice`);
        help.set(name, unescapeHelp(rest, where));
      }
      continue;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`${where}: bad sample: ${line}`);
    const name = nm[0];
    let pos = name.length;
    let labels = {};
    if (line[pos] === '{') ({ labels, end: pos } = parseLabels(line, pos, where));
    const tail = /^ (\S+)( -?\d+)?$/.exec(line.slice(pos));
    if (!tail) throw new Error(`${where}: bad sample: ${line}`);
    const v = tail[1];
    if (!VALUE.test(v)) throw new Error(`${where}: bad value ${v}`);
    const fam = familyOf(name, types);
    if (fam === null) throw new Error(`${where}: ${name} belongs to no TYPE'd family`);
    if (types.get(fam) === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new Error(`${where}: bucket without le`);
    enter(fam, where);
    started.add(fam);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: series ${key} twice`);
    seen.add(key);
    samples.push({ name, labels, value: Number(v.replace('Inf', 'Infinity')) });
  }
  checkHistograms(samples, types);
  return { samples, types, help };
}

module.exports = { rawRequest, parsePrometheus };
