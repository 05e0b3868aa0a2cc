// tests/load/k6/account.js — exact accounting of one user's xp, kept by the
// one VU that acts as that user (no other writer shares the document, and a
// VU runs one iteration at a time): every write adds exactly 1 xp, every
// write acknowledged ({ok:true} ack, 200 patch) raises `expected`, and a read
// by REST must show exactly `expected`. An update whose answer never came
// (a timeout, a dropped socket) may have been applied: it stays pending and
// is resent by REST with the same key (Idempotency-Key = the socket's opId)
// until it is answered, as the app's offline queue does, so what is counted
// is what the server has.
//
// Metrics (shared by the scenarios):
//   statsync_xp_mismatch   reads that differ from what was acknowledged (must stay 0)
//   statsync_acked_writes  writes acknowledged (each +1 xp)
//   statsync_rate_limited  answers that a limit refused (429, rate_limited, a 429 upgrade,
//                          a connect_error for too many sockets of the user)
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { API_URL, docOf, mintToken, opId } from './lib.js';

export const xpMismatch = new Counter('statsync_xp_mismatch');
export const ackedWrites = new Counter('statsync_acked_writes');
export const rateLimited = new Counter('statsync_rate_limited');

const RESEND_TRIES = 3;

// A Socket.IO connect_error payload: counts it when a limit refused the socket.
export function countConnectRefusal(payload) {
  const msg = payload && typeof payload.message === 'string' ? payload.message : '';
  if (/too many sockets|rate.limit/i.test(msg)) rateLimited.add(1);
}

function json(r) {
  try {
    return r.json();
  } catch (e) {
    return null;
  }
}

export function Account(userId) {
  this.userId = userId;
  this.token = null;
  this.tokenExp = 0;
  this.expected = null; // xp the server must have; null until first read
  this.pending = {}; // opId -> delta, sent but not answered
  this.n = 0;
}

Account.prototype.bearer = function () {
  const now = Math.floor(Date.now() / 1000);
  if (this.token === null || now > this.tokenExp - 60) {
    this.token = mintToken(this.userId, 3600);
    this.tokenExp = now + 3600;
  }
  return this.token;
};

Account.prototype.nextOpId = function () {
  this.n++;
  return opId(this.userId, this.n);
};

// A socket update was sent / answered.
Account.prototype.sent = function (id, delta) { this.pending[id] = delta; };
Account.prototype.acked = function (id) {
  if (!(id in this.pending)) return;
  delete this.pending[id];
  ackedWrites.add(1);
  if (this.expected !== null) this.expected += 1;
};
Account.prototype.refused = function (id) { delete this.pending[id]; };
Account.prototype.hasPending = function () { return Object.keys(this.pending).length > 0; };

// POST /api/users/data/patch with key; returns the response.
Account.prototype.post = function (key, delta) {
  return http.post(API_URL + '/api/users/data/patch', JSON.stringify(delta), {
    headers: {
      Authorization: 'Bearer ' + this.bearer(),
      'Content-Type': 'application/json',
      'Idempotency-Key': key,
    },
    tags: { op: 'patch' },
  });
};

// One +1 xp patch; true when acknowledged. The answer must show exactly
// what this VU expects.
Account.prototype.patch = function () {
  const key = this.nextOpId();
  const delta = { xp: 1, totalQuestions: 1, correctAnswers: 1 };
  this.sent(key, delta);
  const r = this.post(key, delta);
  const body = json(r);
  const doc = r.status === 200 && body && body.success === true ? docOf(body) : null;
  if (r.status === 429) rateLimited.add(1);
  if (r.status >= 400 && r.status < 500) this.refused(key); // refused: nothing was applied
  check(r, { 'patch: 200 {success:true, stats}': function () { return doc !== null && typeof doc.xp === 'number'; } });
  if (doc === null) return false;
  this.acked(key);
  this.compare(doc.xp, 'patch answer');
  return true;
};

// Resends what was never answered (same key: applied at most once).
Account.prototype.settle = function () {
  for (const key of Object.keys(this.pending)) {
    for (let i = 0; i < RESEND_TRIES && key in this.pending; i++) {
      const r = this.post(key, this.pending[key]);
      if (r.status === 200) this.acked(key);
      else if (r.status === 429) rateLimited.add(1);
      else if (r.status >= 400 && r.status < 500) this.refused(key);
    }
  }
};

// xp seen somewhere (a read, a patch answer, a join): must be `expected`.
Account.prototype.compare = function (xp, where) {
  if (this.expected === null) {
    this.expected = xp;
    return true;
  }
  const ok = xp === this.expected;
  if (!ok) {
    xpMismatch.add(1);
    console.warn(this.userId + ': ' + where + ' shows xp ' + xp + ', acknowledged ' + this.expected);
    this.expected = xp; // one loss is reported once
  }
  return ok;
};

// Settles, reads the document by REST and compares; returns the document or null.
Account.prototype.verify = function (where) {
  this.settle();
  const r = http.get(API_URL + '/api/users/' + this.userId + '/stats', {
    headers: { Authorization: 'Bearer ' + this.bearer() },
    tags: { op: 'read' },
  });
  const doc = r.status === 200 ? docOf(json(r)) : null;
  check(r, {
    'read: 200 with the document': function () { return doc !== null && typeof doc.xp === 'number'; },
  });
  if (doc === null || typeof doc.xp !== 'number') return null;
  if (this.hasPending()) return doc; // writes still unanswered: nothing exact to say yet
  const first = this.expected === null;
  const ok = this.compare(doc.xp, where);
  if (!first) check(doc, { 'read: xp is what was acknowledged': function () { return ok; } });
  return doc;
};
