// tests/load/baseline/server.js — the benchmark's baseline: the minimal
// Node.js server a team would write for statsync's job, express + socket.io
// with everything in memory (no disk, no NATS, one process). tests/load/bench.sh
// drives it with the same generator as statsync, in the same run, and prints
// every row with its ratio.
//
//   STATSYNC_JWT_SECRET=… node server.js [--port P] [--host 127.0.0.1]
//
// Prints `{"listening":PORT}` on stdout once it serves (port 0: a free one).
// The wire is statsync's (README.md, proto/README.md), as far as the
// generator and the app read it:
//
//   REST (express, Bearer HS256 JWT checked with jsonwebtoken)
//     POST /api/users/data/patch {xp:1, __set:{…}, userId?}  -> {success:true, stats}
//          Idempotency-Key: a repeat gets the document, nothing applied twice
//     GET  /api/users/:userId/stats                           -> the document
//     GET  /health                                            -> {status:"OK", …}
//   Socket.IO (token in the CONNECT auth {token}, checked once, at CONNECT)
//     presence:join {userId}        -> user:data:updated (the document) to this socket
//     presence:ping {ts}            -> presence:pong {userId, ts, serverTime, devices}
//     user:clientUpdate {opId?, delta} | {ops:[{opId?, delta}]}
//                                   -> ack {ok:true, stats} (when asked for one),
//                                      user:data:updated to every socket of the user,
//                                      user:update to the others; a refusal is the
//                                      ack {ok:false, error} or a user:error event
//
// opIds and Idempotency-Keys are remembered in memory (at most 1 000 000, the
// oldest forgotten first, and none longer than a day). The merge is statsync's
// for the numeric fields: adds, then __set, clamped (hearts 0..5, the rest >= 0);
// unknown fields are refused. Not modelled: full writes, clientId/seq,
// timePerQuestion/lastGameResults, rate limits, presence across processes.
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const jwt = require('jsonwebtoken');
const { Server } = require('socket.io');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const PORT = Number(arg('port', process.env.PORT || 0));
const HOST = arg('host', '127.0.0.1');
if (!process.env.STATSYNC_JWT_SECRET) {
  console.error('baseline: STATSYNC_JWT_SECRET is required');
  process.exit(2);
}
// A KeyObject, made once: given the secret as a string, jsonwebtoken 9 first
// tries it as a PEM public key on every verify, and that failed parse costs
// ~0.4 ms — more than the rest of a request.
const SECRET = crypto.createSecretKey(Buffer.from(process.env.STATSYNC_JWT_SECRET));

// ---- documents, merge, idempotency ------------------------------------------
const INTS = { xp: 0, hearts: 5, diamonds: 0, level: 1, streak: 0, maxStreak: 0, accuracy: 0,
  completedQuestions: 0, correctAnswers: 0, wrongAnswers: 0, totalQuestions: 0, totalTimeSpent: 0 };
const MAX = { hearts: 5 };
const docs = new Map();
const started = Date.now();

function doc(userId) {
  let d = docs.get(userId);
  if (!d) {
    d = { userId, ...INTS, timePerQuestion: [], lastGameResults: null,
      updatedAt: new Date(0).toISOString(), version: 0 };
    docs.set(userId, d);
  }
  return d;
}

class Refused extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function checkDelta(delta) {
  if (!delta || typeof delta !== 'object' || Array.isArray(delta)) throw new Refused(400, 'invalid_type', 'delta must be an object');
  for (const [k, v] of Object.entries(delta)) {
    if (k === '__set') { checkDelta(v); continue; }
    if (!(k in INTS)) throw new Refused(400, 'unknown_field', `unknown field ${k}`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Refused(400, 'invalid_type', `${k} must be a number`);
  }
}

function clamp(k, v) {
  if (k === 'diamonds' && v < 0) throw new Refused(409, 'insufficient_funds', 'not enough diamonds');
  return Math.min(Math.max(v, 0), MAX[k] ?? Number.MAX_SAFE_INTEGER);
}

// Applies the deltas of one request, all or nothing; returns the document.
function apply(userId, deltas) {
  deltas.forEach(checkDelta);
  const d = doc(userId);
  const next = { ...d };
  for (const delta of deltas) {
    for (const [k, v] of Object.entries(delta)) if (k !== '__set') next[k] = clamp(k, next[k] + v);
    for (const [k, v] of Object.entries(delta.__set || {})) next[k] = clamp(k, v);
  }
  next.version = d.version + 1;
  next.updatedAt = new Date().toISOString();
  docs.set(userId, next);
  return next;
}

const SEEN_MAX = 1000000;
const SEEN_TTL_MS = 24 * 3600 * 1000;
const seen = new Map(); // `${userId}\0${key}` -> ms applied, oldest first
const applied = (userId, key) => !!key && seen.has(`${userId}\0${key}`);
function remember(userId, key) {
  if (!key) return;
  const now = Date.now();
  for (const [old, t] of seen) {
    if (seen.size < SEEN_MAX && now - t < SEEN_TTL_MS) break;
    seen.delete(old);
  }
  seen.set(`${userId}\0${key}`, now);
}

// ---- the servers ---------------------------------------------------------------
const app = express();
const server = http.createServer(app);
const io = new Server(server, { serveClient: false });

function publish(d, delta, source, except) {
  io.to(d.userId).emit('user:data:updated', d);
  (except ? except.to(d.userId) : io.to(d.userId)).emit('user:update',
    { userId: d.userId, stats: d, delta, version: d.version, source });
}

function fail(res, e) {
  const status = e instanceof Refused ? e.status : 500;
  res.status(status).json({ error: { code: e.code || 'internal', message: e.message } });
}

function auth(req, res, next) {
  const m = /^Bearer (.+)$/.exec(req.get('authorization') || '');
  try {
    req.userId = jwt.verify(m ? m[1] : '', SECRET, { algorithms: ['HS256'] }).sub;
    if (typeof req.userId !== 'string' || !req.userId) throw new Error('no sub');
    next();
  } catch (_) {
    res.status(401).json({ error: { code: 'unauthorized', message: 'missing or invalid token' } });
  }
}

app.get('/health', (req, res) => {
  res.json({ status: 'OK', timestamp: new Date().toISOString(), connectedClients: io.engine.clientsCount,
    connectedUsers: io.of('/').adapter.rooms.size, totalUsers: docs.size, uptime: (Date.now() - started) / 1000 });
});

app.get('/api/users/:userId/stats', auth, (req, res) => {
  if (req.params.userId !== req.userId) return fail(res, new Refused(403, 'forbidden', 'not your document'));
  return res.json(doc(req.userId));
});

app.post('/api/users/data/patch', auth, express.json({ limit: '1mb' }), (req, res) => {
  try {
    const { userId, clientId, seq, opId, ...delta } = req.body || {};
    if (userId !== undefined && userId !== req.userId) throw new Refused(403, 'forbidden', 'not your document');
    const key = req.get('idempotency-key');
    if (applied(req.userId, key)) return res.json({ success: true, stats: doc(req.userId), duplicate: true });
    const d = apply(req.userId, [delta]);
    remember(req.userId, key);
    publish(d, delta, 'rest', null);
    return res.json({ success: true, stats: d });
  } catch (e) {
    return fail(res, e);
  }
});

io.use((socket, next) => {
  try {
    const sub = jwt.verify(socket.handshake.auth && socket.handshake.auth.token, SECRET, { algorithms: ['HS256'] }).sub;
    if (typeof sub !== 'string' || !sub) throw new Error('no sub');
    socket.data.userId = sub;
    next();
  } catch (_) {
    next(new Error('invalid token'));
  }
});

io.on('connection', (socket) => {
  const userId = socket.data.userId;
  const devices = () => (io.of('/').adapter.rooms.get(userId) || { size: 0 }).size;
  const refuse = (event, ack, e) => {
    const error = { code: e.code || 'internal', message: e.message, status: e.status || 500 };
    if (typeof ack === 'function') ack({ ok: false, error });
    else socket.emit('user:error', { event, error });
  };

  socket.on('presence:join', (p) => {
    if (p && p.userId !== undefined && p.userId !== userId) {
      refuse('presence:join', null, new Refused(403, 'forbidden', 'own userId only'));
      return;
    }
    socket.join(userId);
    socket.emit('user:data:updated', doc(userId));
    io.to(userId).emit('presence:update', { userId, devices: devices() });
  });

  socket.on('presence:ping', (p, ack) => {
    const pong = { userId, ts: p && p.ts, serverTime: Date.now(), devices: devices() };
    if (typeof ack === 'function') ack(pong);
    else socket.emit('presence:pong', pong);
  });

  socket.on('user:clientUpdate', (p, ack) => {
    try {
      if (!p || typeof p !== 'object') throw new Refused(400, 'bad_request', 'payload must be an object');
      const ops = Array.isArray(p.ops) ? p.ops : [{ opId: p.opId, delta: p.delta }];
      if (ops.length < 1 || ops.length > 100) throw new Refused(400, 'bad_request', '1-100 ops');
      const fresh = ops.filter((op) => !applied(userId, op && op.opId));
      if (fresh.length === 0) {
        if (typeof ack === 'function') ack({ ok: true, stats: doc(userId), duplicate: true });
        return;
      }
      const d = apply(userId, fresh.map((op) => op && op.delta));
      for (const op of fresh) remember(userId, op.opId);
      if (typeof ack === 'function') ack({ ok: true, stats: d });
      publish(d, fresh.length === 1 ? fresh[0].delta : fresh.map((op) => op.delta), 'socket', socket);
    } catch (e) {
      refuse('user:clientUpdate', ack, e);
    }
  });

  socket.on('disconnect', () => {
    io.to(userId).emit('presence:update', { userId, devices: devices() });
  });
});

// A backlog as deep as the kernel allows (net.core.somaxconn): with node's
// default of 511 a burst of handshakes overflows the accept queue and
// connections are reset — a limit of the setup, not of the server.
server.listen({ port: PORT, host: HOST, backlog: 65535 }, () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    io.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
