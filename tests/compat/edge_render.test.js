// edge_render.test.js — the edge's config renderer (edge/render-nginx.sh) and
// the nginx it configures, against fake gateways (plain node HTTP servers on
// loopback that record what reaches them): bad settings are refused with exit
// 2; the rendered config passes `nginx -t`; requests are routed (REST to the
// API ports, /socket.io/ to the socket ports, a sid to the gateway its tag
// names, no sid to the pool, an unknown tag answered by the edge); the
// forwarded headers, the websocket upgrade, unbuffered streaming both ways,
// body limits, nginx's own errors as JSON, TLS versions and ALPN, and nginx
// running as a non-root user as in the container image.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const { freePort, waitFor } = require('../lib/system');
const { Edge, render, makeCert, RUN_EDGE } = require('../lib/edge');

// ---- fake gateways ---------------------------------------------------------

// One HTTP server that records each request: {name, method, url, headers, bodyBytes}.
function fakeServer(name, hits) {
  const server = http.createServer((req, res) => {
    let bytes = 0;
    const hit = { name, method: req.method, url: req.url, headers: req.headers, bodyBytes: 0 };
    hits.push(hit);
    if (req.url.startsWith('/socket.io/stream-out')) {
      // part one now, part two only once the client saw part one
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first|');
      server.release = () => res.end('second');
      return;
    }
    if (req.url.startsWith('/socket.io/?stream-in')) {
      req.on('data', (c) => {
        bytes += c.length;
        hit.bodyBytes = bytes;
        if (server.onChunk) server.onChunk(c);
      });
      req.on('end', () => res.end(JSON.stringify({ name, bytes })));
      return;
    }
    req.on('data', (c) => { bytes += c.length; });
    req.on('end', () => {
      hit.bodyBytes = bytes;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name, url: req.url, bytes }));
    });
  });
  server.on('upgrade', (req, sock) => {
    hits.push({ name, method: req.method, url: req.url, headers: req.headers, upgrade: true });
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    sock.on('data', (d) => sock.write(`${name}:${d}`));
  });
  return server;
}

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

async function fakeGateway(tag, hits) {
  const api = fakeServer(`${tag}-api`, hits);
  const sock = fakeServer(`${tag}-sock`, hits);
  return { tag, api, sock, apiPort: await listen(api), socketPort: await listen(sock) };
}

function closeAll(servers) {
  for (const s of servers) { s.closeAllConnections && s.closeAllConnections(); s.close(); }
}

// A raw HTTP/1.1 exchange on one socket (for the upgrade and streaming cases).
function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function readUntil(sock, pred, ms = 5000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => { sock.off('data', on); reject(new Error(`timed out; got ${JSON.stringify(buf)}`)); }, ms);
    const on = (d) => {
      buf += d.toString('latin1');
      if (pred(buf)) { clearTimeout(t); sock.off('data', on); resolve(buf); }
    };
    sock.on('data', on);
  });
}

// ---- the renderer alone ------------------------------------------------------

const GOOD = { STATSYNC_EDGE_GATEWAYS: 'g0=127.0.0.1:3000:3001,g1=127.0.0.1:4000:4001' };

test('bad settings: a clear message on stderr, nothing on stdout, exit 2', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-edge-bad-'));
  try {
    const cert = path.join(dir, 'cert.pem');
    fs.writeFileSync(cert, 'not a certificate\n');
    const cases = [
      [{}, /STATSYNC_EDGE_GATEWAYS is empty/],
      [{ STATSYNC_EDGE_GATEWAYS: ' , ' }, /STATSYNC_EDGE_GATEWAYS is empty/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=127.0.0.1:3000' }, /not tag=host:apiPort:socketPort/],
      [{ STATSYNC_EDGE_GATEWAYS: '127.0.0.1:3000:3001' }, /not tag=host:apiPort:socketPort/],
      [{ STATSYNC_EDGE_GATEWAYS: '=127.0.0.1:3000:3001' }, /not tag=host:apiPort:socketPort/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=127.0.0.1:3000:70000' }, /socket port '70000'/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=127.0.0.1:x:3001' }, /API port 'x'/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g.0=127.0.0.1:3000:3001' }, /tag 'g\.0'/],
      [{ STATSYNC_EDGE_GATEWAYS: `${'g'.repeat(33)}=127.0.0.1:3000:3001` }, /tag/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=bad host:3000:3001' }, /host 'bad host'/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=a;b:3000:3001' }, /host 'a;b'/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=h:1:2,G0=h:3:4' }, /given twice/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=h:1:2,' }, /ends with a comma|empty entry/],
      [{ STATSYNC_EDGE_GATEWAYS: 'g0=h:1:2,,g1=h:3:4' }, /empty entry/],
      [{ ...GOOD, STATSYNC_APP_PORT: 'http' }, /STATSYNC_APP_PORT/],
      [{ ...GOOD, STATSYNC_APP_PORT: '0' }, /STATSYNC_APP_PORT/],
      [{ ...GOOD, STATSYNC_EDGE_BIND: '1.2.3.4; evil' }, /STATSYNC_EDGE_BIND/],
      [{ ...GOOD, STATSYNC_EDGE_PREFIX: 'relative/dir' }, /absolute/],
      [{ ...GOOD, STATSYNC_EDGE_TLS_CERT: cert }, /both STATSYNC_EDGE_TLS_CERT and STATSYNC_EDGE_TLS_KEY/],
      [{ ...GOOD, STATSYNC_EDGE_TLS_CERT: path.join(dir, 'none.pem'), STATSYNC_EDGE_TLS_KEY: cert }, /does not exist/],
      [{ ...GOOD, STATSYNC_EDGE_TLS_CERT: cert, STATSYNC_EDGE_TLS_KEY: cert }, /no PEM certificate/],
      [{ ...GOOD, STATSYNC_EDGE_TLS_CERT: 'cert.pem', STATSYNC_EDGE_TLS_KEY: 'key.pem' }, /must be absolute/],
      [{ ...GOOD, STATSYNC_EDGE_WORKERS: 'many' }, /STATSYNC_EDGE_WORKERS/],
      [{ ...GOOD, STATSYNC_EDGE_MAX_BODY: '1g;' }, /STATSYNC_EDGE_MAX_BODY/],
    ];
    for (const [env, msg] of cases) {
      const r = render(env);
      assert.equal(r.status, 2, `${JSON.stringify(env)}: exit ${r.status}\n${r.stderr}`);
      assert.equal(r.stdout, '', `${JSON.stringify(env)} printed a config`);
      assert.match(r.stderr, /^render-nginx\.sh: /, JSON.stringify(env));
      assert.match(r.stderr, msg, `${JSON.stringify(env)}: ${r.stderr}`);
    }
    // the launcher passes the refusal on and starts no nginx
    const l = spawnSync('bash', [RUN_EDGE], {
      env: { PATH: process.env.PATH, STATSYNC_EDGE_PREFIX: path.join(dir, 'p') }, encoding: 'utf8', timeout: 20000,
    });
    assert.equal(l.status, 2, l.stderr);
    assert.match(l.stderr, /STATSYNC_EDGE_GATEWAYS is empty/);
    assert.ok(!fs.existsSync(path.join(dir, 'p', 'nginx.pid')));
    const np = spawnSync('bash', [RUN_EDGE], { env: { PATH: process.env.PATH, ...GOOD }, encoding: 'utf8' });
    assert.equal(np.status, 2);
    assert.match(np.stderr, /STATSYNC_EDGE_PREFIX/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The body of one location block of a rendered config.
function locationBlock(conf, loc) {
  const start = conf.indexOf(`location ${loc} {`);
  assert.ok(start >= 0, `no location ${loc}`);
  let depth = 0;
  for (let i = conf.indexOf('{', start); i < conf.length; i++) {
    if (conf[i] === '{') depth++;
    if (conf[i] === '}' && --depth === 0) return conf.slice(start, i + 1);
  }
  throw new Error(`unterminated location ${loc}`);
}

function seconds(v) {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2] || 's'];
}

test('the rendered config passes nginx -t and has the settings long-polling and websockets need', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-edge-conf-'));
  try {
    const { cert, key } = makeCert(dir);
    for (const extra of [{}, { STATSYNC_EDGE_TLS_CERT: cert, STATSYNC_EDGE_TLS_KEY: key }]) {
      const r = render({ ...GOOD, STATSYNC_EDGE_PREFIX: dir, ...extra });
      assert.equal(r.status, 0, r.stderr);
      const conf = r.stdout;
      const file = path.join(dir, 'nginx.conf');
      fs.writeFileSync(file, conf);
      const t = spawnSync('nginx', ['-t', '-q', '-p', `${dir}/`, '-c', file], {
        encoding: 'utf8', env: { PATH: `${process.env.PATH}:/usr/sbin` },
      });
      assert.equal(t.status, 0, `nginx -t: ${t.stderr}\n${conf}`);
      // nothing outside the prefix
      for (const m of conf.matchAll(/^\s*(pid|\w+_temp_path|access_log)\s+(\/\S+)/gm)) {
        assert.ok(m[2].startsWith(dir), `${m[1]} ${m[2]} is outside the prefix`);
      }
      assert.match(conf, /map \$http_upgrade \$\w+ \{/);
      assert.match(conf, /map \$arg_sid \$statsync_socket_upstream \{[^}]*~\^g0\\\. statsync_sock_g0;[^}]*~\^g1\\\. statsync_sock_g1;/);
      assert.match(conf, /upstream statsync_sock_all \{[^}]*least_conn;[^}]*server 127\.0\.0\.1:3001[^}]*server 127\.0\.0\.1:4001/);
      assert.match(conf, /upstream statsync_rest \{[^}]*server 127\.0\.0\.1:3000[^}]*server 127\.0\.0\.1:4000/);
      assert.doesNotMatch(conf, /ip_hash|sticky|\bhash\b/, 'stickiness comes from the sid, not the client IP or a cookie');
      const body = /client_max_body_size (\d+)([km]?);/.exec(conf);
      const bytes = Number(body[1]) * ({ k: 1024, m: 1048576 }[body[2]] || 1);
      assert.ok(bytes > 1048576, 'nginx must let the gateway answer the 413 of a body just over 1 MB');
      const sio = locationBlock(conf, '/socket.io/');
      for (const d of ['proxy_http_version 1.1;', 'proxy_buffering off;', 'proxy_request_buffering off;',
        'proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
        'proxy_set_header X-Forwarded-Proto $scheme;', 'proxy_pass http://$statsync_socket_upstream;']) {
        assert.ok(sio.includes(d), `/socket.io/ lacks ${d}`);
      }
      assert.match(sio, /proxy_set_header Host \$\w+;/);
      assert.match(sio, /proxy_set_header Connection \$\w+;/);
      for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
        const v = new RegExp(`${d} (\\w+);`).exec(sio);
        assert.ok(v && seconds(v[1]) >= 2 * 45, `/socket.io/ ${d} must be well above pingInterval + pingTimeout (45 s)`);
      }
      const rest = locationBlock(conf, '/');
      assert.ok(rest.includes('proxy_pass http://statsync_rest;'));
      assert.ok(rest.includes('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'));
      if (extra.STATSYNC_EDGE_TLS_CERT) {
        assert.match(conf, /listen 127\.0\.0\.1:8080 ssl/);
        assert.doesNotMatch(conf, /^\s*(listen[^;#]*\bhttp2\b|http2 on)/m);
        assert.match(conf, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
      } else {
        assert.doesNotMatch(conf, /\bssl\b/);
      }
    }
    // one gateway: an untagged sid still reaches it
    const one = render({ STATSYNC_EDGE_GATEWAYS: 'solo=localhost:3000:3001' });
    assert.equal(one.status, 0, one.stderr);
    assert.doesNotMatch(one.stdout, /statsync_sid_unknown/);
    assert.match(one.stdout, /pid nginx\.pid;/, 'without a prefix, paths are relative to nginx -p');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- nginx in front of fake gateways ----------------------------------------

test('routing, forwarded headers, upgrade and streaming through a real nginx', async () => {
  const hits = [];
  const fg0 = await fakeGateway('g0', hits);
  const fg1 = await fakeGateway('g1', hits);
  const edge = await Edge.start({ gateways: [fg0, fg1] });
  try {
    const since = () => { hits.length = 0; };
    // REST: API ports, headers
    since();
    const r = await edge.http('GET', '/api/users/a/stats', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(r.status, 200);
    assert.match(r.body.name, /^g[01]-api$/);
    const h = hits.find((x) => x.url === '/api/users/a/stats').headers;
    assert.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h.host, `127.0.0.1:${edge.port}`);
    // /socket.io/ without sid: the pool, spread over both socket ports
    since();
    for (let i = 0; i < 10; i++) {
      const p = await edge.http('GET', `/socket.io/?EIO=4&transport=polling&t=${i}`);
      assert.equal(p.status, 200);
      assert.match(p.body.name, /^g[01]-sock$/);
    }
    assert.deepEqual([...new Set(hits.map((x) => x.name))].sort(), ['g0-sock', 'g1-sock']);
    // a sid goes to the gateway its tag names, every time, GET and POST
    for (const tag of ['g0', 'g1']) {
      since();
      for (let i = 0; i < 10; i++) {
        const m = i % 2 ? 'POST' : 'GET';
        const p = await edge.http(m, `/socket.io/?EIO=4&transport=polling&sid=${tag}.AbC-_123&t=${i}`,
          m === 'POST' ? { raw: '42["x"]', headers: { 'content-type': 'text/plain;charset=UTF-8' } } : {});
        assert.equal(p.status, 200);
        assert.equal(p.body.name, `${tag}-sock`);
      }
      assert.ok(hits.every((x) => x.name === `${tag}-sock`), JSON.stringify(hits.map((x) => x.name)));
    }
    // a sid no gateway here issued: Engine.IO's own 400, from the edge
    since();
    for (const sid of ['g2.xyz', 'xyz', 'G0.xyz']) {
      const u = await edge.http('GET', `/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(u.status, 400);
      assert.deepEqual(u.body, { code: 1, message: 'Session ID unknown' });
    }
    assert.equal(hits.length, 0, 'an unknown sid reached a gateway');
    // the websocket upgrade of a g1 session: to g1, with Upgrade/Connection
    since();
    const ws = await rawConnect(edge.port);
    try {
      ws.write(`GET /socket.io/?EIO=4&transport=websocket&sid=g1.abc HTTP/1.1\r\nHost: 127.0.0.1:${edge.port}\r\n`
        + 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
        + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      const head = await readUntil(ws, (b) => b.includes('\r\n\r\n'));
      assert.match(head, /^HTTP\/1\.1 101 /);
      ws.write('ping');
      await readUntil(ws, (b) => b.includes('g1-sock:ping'));
      const up = hits.find((x) => x.upgrade);
      assert.equal(up.name, 'g1-sock');
      assert.equal(up.headers.upgrade, 'websocket');
      assert.match(up.headers.connection, /upgrade/i);
      assert.equal(up.headers['x-forwarded-for'], '127.0.0.1');
    } finally { ws.destroy(); }
    // unbuffered both ways on /socket.io/: a response part reaches the client
    // before the gateway finished, a request part reaches the gateway before
    // the client finished
    since();
    const so = await rawConnect(edge.port);
    try {
      so.write(`GET /socket.io/stream-out?sid=g0.s HTTP/1.1\r\nHost: x\r\n\r\n`);
      const part = readUntil(so, (b) => b.includes('first|'));
      await waitFor('the stream-out request at g0', () => fg0.sock.release, 5000, 10);
      await part;
      fg0.sock.release();
      await readUntil(so, (b) => b.includes('second'));
    } finally { so.destroy(); fg0.sock.release = null; }
    const si = await rawConnect(edge.port);
    try {
      const got = new Promise((resolve) => { fg1.sock.onChunk = resolve; });
      si.write(`POST /socket.io/?stream-in&sid=g1.s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
      let timer;
      const late = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('the first part did not reach the gateway')), 5000); });
      const first = await Promise.race([got, late]).finally(() => clearTimeout(timer));
      assert.equal(String(first), 'hello');
      fg1.sock.onChunk = null;
      si.write('0\r\n\r\n');
      await readUntil(si, (b) => b.includes('"bytes":5'));
    } finally { si.destroy(); }
    // a body over 1 MB still reaches the gateway (it answers the 413); past
    // the edge's own limit nginx answers, as JSON
    since();
    const big = await edge.http('POST', '/api/users/data/patch', { raw: 'x'.repeat(1536 * 1024), headers: { 'content-type': 'application/json' } });
    assert.equal(big.status, 200);
    assert.equal(big.body.bytes, 1536 * 1024);
    const huge = await edge.http('POST', '/api/users/data/patch', { raw: 'x'.repeat(3 << 20), headers: { 'content-type': 'application/json' } });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.error.code, 'payload_too_large');
    // the access log: JSON lines naming the upstream group
    const log = await waitFor('the access log', () => {
      const l = edge.accessLog();
      return l.some((x) => x.route === 'statsync_sock_g1') && l;
    }, 5000);
    assert.ok(log.every((x) => x.service === 'edge' && typeof x.status === 'number'));
  } finally {
    await edge.stop();
    closeAll([fg0.api, fg0.sock, fg1.api, fg1.sock]);
  }
});

test('no gateway answering: nginx\'s own 503, as the gateway\'s JSON error shape', async () => {
  const deadApi = await freePort();
  const deadSock = await freePort();
  const edge = await Edge.start({ gateways: [{ tag: 'g0', apiPort: deadApi, socketPort: deadSock }] });
  try {
    for (const p of ['/health', '/socket.io/?EIO=4&transport=polling']) {
      const r = await edge.http('GET', p);
      assert.equal(r.status, 503, p);
      assert.match(String(r.headers['content-type']), /application\/json/);
      assert.equal(r.body.error.code, 'unavailable');
    }
  } finally { await edge.stop(); }
});

test('TLS: 1.2 and 1.3 only, HTTP/1.1 (no h2 in ALPN), forwarded proto https', async () => {
  const hits = [];
  const fg = await fakeGateway('g0', hits);
  const edge = await Edge.start({ gateways: [fg], tls: true });
  try {
    const r = await edge.http('GET', '/api/x');
    assert.equal(r.status, 200);
    assert.equal(hits.find((x) => x.url === '/api/x').headers['x-forwarded-proto'], 'https');
    const hs = (opts) => new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: edge.port, ca: edge.ca, servername: undefined, ...opts }, () => {
        const out = { protocol: s.getProtocol(), alpn: s.alpnProtocol };
        s.end();
        resolve(out);
      });
      s.setTimeout(5000, () => s.destroy(new Error('TLS handshake timed out')));
      s.on('error', reject);
    });
    const modern = await hs({ ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(modern.protocol, 'TLSv1.3');
    assert.notEqual(modern.alpn, 'h2');
    assert.equal((await hs({ maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
    await assert.rejects(hs({ maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }));
  } finally {
    await edge.stop();
    closeAll([fg.api, fg.sock]);
  }
});

test('nginx started by a non-root user (as in the container image) works inside its prefix', async (t) => {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return t.skip('needs root to switch to an unprivileged user');
  const hits = [];
  const fg = await fakeGateway('g0', hits);
  const edge = await Edge.start({ gateways: [fg], user: { uid: 65534, gid: 65534 }, tls: true });
  try {
    const conf = fs.readFileSync(path.join(edge.prefix, 'nginx.conf'), 'utf8');
    assert.doesNotMatch(conf, /^user /m, 'a non-root nginx gets no user directive');
    // a body large enough for a temp file in the prefix
    const r = await edge.http('POST', '/api/y', { raw: 'y'.repeat(512 * 1024), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.bytes, 512 * 1024);
    const st = fs.statSync(path.join(edge.prefix, 'client_body_temp'));
    assert.equal(st.uid, 65534);
    assert.doesNotMatch(edge.log(), /\[(emerg|alert|crit)\]/, edge.log());
  } finally {
    await edge.stop();
    closeAll([fg.api, fg.sock]);
  }
});
