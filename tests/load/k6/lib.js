// tests/load/k6/lib.js — shared by the k6 scenarios: settings from the
// environment, HS256 tokens minted in the script (no external tool), and the
// Engine.IO v4 / Socket.IO v5 packet encoding the socket scenario speaks.
//
// Settings (k6 run -e NAME=value ..., or exported in the shell):
//   API_URL              REST base URL            (default http://127.0.0.1:3000)
//   SOCKET_URL           Socket.IO base URL       (default ws://127.0.0.1:3001)
//   STATSYNC_JWT_SECRET  HS256 secret the gateway checks tokens with
//                        (default: compose/docker-compose.yml's development secret)
//   USER_PREFIX          prefix of the userIds the virtual users act as
//
// Plain ES2015 on purpose: k6's JavaScript runtime is not node.
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';

// Must equal the default of STATSYNC_JWT_SECRET in compose/docker-compose.yml
// (tests/integration/k6_syntax.test.js checks), so `docker compose up` plus
// `k6 run` works with nothing set.
export const DEV_SECRET = 'statsync-dev-secret-change-me-0123456789';

export function env(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

export function envInt(name, def) {
  const v = parseInt(env(name, String(def)), 10);
  return isNaN(v) ? def : v;
}

export const API_URL = env('API_URL', 'http://127.0.0.1:3000').replace(/\/+$/, '');
export const SOCKET_URL = env('SOCKET_URL', 'ws://127.0.0.1:3001').replace(/\/+$/, '').replace(/^http/, 'ws');
export const SECRET = env('STATSYNC_JWT_SECRET', DEV_SECRET);

function b64urlJson(obj) {
  return encoding.b64encode(JSON.stringify(obj), 'rawurl');
}

// A token for `sub`, signed like the gateway expects: HS256, sub = userId, exp.
export function mintToken(sub, ttlSeconds) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64urlJson({ alg: 'HS256', typ: 'JWT' });
  const claims = b64urlJson({ sub: sub, iat: now, exp: now + (ttlSeconds || 3600) });
  const signature = crypto.hmac('sha256', SECRET, header + '.' + claims, 'base64rawurl');
  return header + '.' + claims + '.' + signature;
}

// The userId one virtual user acts as: 1-64 chars of [A-Za-z0-9_-]. One user
// per VU, so a VU can check exact values (no other writer shares its document).
export function userIdFor(scenario, vu) {
  const prefix = env('USER_PREFIX', 'k6').replace(/[^A-Za-z0-9_-]/g, '_');
  return (prefix + '-' + scenario + '-' + vu).slice(0, 64);
}

// The stats document in a response body: GET answers the document itself,
// the patch answers {success, stats}.
export function docOf(body) {
  if (body && typeof body === 'object' && body.stats && typeof body.stats === 'object') return body.stats;
  return body;
}

// A unique key for Idempotency-Key / opId.
export function opId(userId, n) {
  return userId + '-' + Date.now().toString(36) + '-' + n + '-' + Math.floor(Math.random() * 1e9).toString(36);
}

// ---- Engine.IO v4 / Socket.IO v5 over a websocket ------------------------
// A websocket frame carries one Engine.IO packet: one digit (0 open, 1 close,
// 2 ping, 3 pong, 4 message, 6 noop) and its data. A message carries one
// Socket.IO packet: one digit (0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK,
// 4 CONNECT_ERROR), an optional "/nsp," (not for "/"), an optional ack id,
// then JSON.

export const EIO = { OPEN: '0', CLOSE: '1', PING: '2', PONG: '3', MESSAGE: '4', NOOP: '6' };
export const SIO = { CONNECT: '0', DISCONNECT: '1', EVENT: '2', ACK: '3', CONNECT_ERROR: '4' };

// ws://host:3001 -> ws://host:3001/socket.io/?EIO=4&transport=websocket
export function socketIoUrl(base) {
  return base.replace(/\/+$/, '') + '/socket.io/?EIO=4&transport=websocket';
}

// Returns { eio, data } and, for messages, { sio, nsp, id, payload }.
// payload is the parsed JSON (undefined when there is none or it is not JSON).
export function decodePacket(frame) {
  const out = { eio: frame.charAt(0), data: frame.slice(1) };
  if (out.eio !== EIO.MESSAGE || out.data.length === 0) return out;
  let rest = out.data;
  out.sio = rest.charAt(0);
  rest = rest.slice(1);
  out.nsp = '/';
  if (rest.charAt(0) === '/') {
    const comma = rest.indexOf(',');
    out.nsp = comma < 0 ? rest : rest.slice(0, comma);
    rest = comma < 0 ? '' : rest.slice(comma + 1);
  }
  const m = /^(\d+)/.exec(rest);
  out.id = null;
  if (m) {
    out.id = parseInt(m[1], 10);
    rest = rest.slice(m[1].length);
  }
  if (rest.length > 0) {
    try {
      out.payload = JSON.parse(rest);
    } catch (e) {
      out.payload = undefined;
      out.bad = true;
    }
  }
  return out;
}

// '40{"token":"..."}': CONNECT to "/" with the auth payload.
export function encodeConnect(auth) {
  return EIO.MESSAGE + SIO.CONNECT + JSON.stringify(auth);
}

// '42["event",data]' or, asking for an ack, '42<id>["event",data]'.
export function encodeEvent(name, data, ackId) {
  return EIO.MESSAGE + SIO.EVENT + (ackId === undefined || ackId === null ? '' : String(ackId)) +
    JSON.stringify([name, data]);
}

export function encodeDisconnect() {
  return EIO.MESSAGE + SIO.DISCONNECT;
}
