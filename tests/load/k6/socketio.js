// tests/load/k6/socketio.js — Socket.IO load, spoken as raw Engine.IO v4 /
// Socket.IO v5 frames over k6 websockets (what socket.io-client 4.x sends with
// transports: ['websocket']). Each iteration is one app session of a player:
//
//   ws  /socket.io/?EIO=4&transport=websocket
//   <-  0{"sid":..,"pingInterval":..}        Engine.IO open
//   ->  40{"token":"<jwt>"}                  CONNECT "/" with auth
//   <-  40{"sid":..}                         connected (44{..} = refused)
//   ->  42["presence:join",{"userId":..}]
//   <-  42["user:data:updated",{..}]         the current document
//   then UPDATES times:
//   ->  42<n>["user:clientUpdate",{"opId":..,"delta":{"xp":1}}]
//   <-  43<n>[{"ok":true,"stats":{..}}]      the ack
//   <-  42["user:data:updated",{..}]         own push, xp one higher
//   ->  41                                   DISCONNECT, then close
//   (<- 2 / -> 3: the server's pings are answered whenever they come)
//
//   k6 run tests/load/k6/socketio.js
//   k6 run -e VUS=500 -e DURATION=2m tests/load/k6/socketio.js
//
// Settings (besides SOCKET_URL, API_URL, STATSYNC_JWT_SECRET, USER_PREFIX):
//   VUS                 sockets at once                      (default 50)
//   DURATION            how long                             (default 30s)
//   UPDATES             updates per session                  (default 10)
//   THINK_MS            pause between two updates            (default 200)
//   PAUSE_MS            pause between two sessions of a VU   (default 500)
//   SESSION_TIMEOUT_MS  a session that takes longer fails    (default 15000)
//   P99_MS              threshold on p(99) of ack and push   (default 500)
//   CONNECT_P99_MS      threshold on p(99) of CONNECT        (default 1000)
import ws from 'k6/ws';
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import {
  API_URL, EIO, SIO, SOCKET_URL, decodePacket, encodeConnect, encodeDisconnect, encodeEvent, env,
  envInt, mintToken, opId, socketIoUrl, userIdFor,
} from './lib.js';

const UPDATES = envInt('UPDATES', 10);
const THINK_MS = envInt('THINK_MS', 200);
const PAUSE_MS = envInt('PAUSE_MS', 500);
const SESSION_TIMEOUT_MS = envInt('SESSION_TIMEOUT_MS', 15000);
const P99_MS = envInt('P99_MS', 500);

// websocket open -> CONNECT accepted
const connectDuration = new Trend('sio_connect_duration', true);
// user:clientUpdate emitted -> its ack
const ackLatency = new Trend('sio_ack_latency', true);
// user:clientUpdate emitted -> the sender's own user:data:updated showing it
const pushLatency = new Trend('sio_push_latency', true);
const sessionOk = new Rate('sio_session_ok');
const protocolErrors = new Counter('sio_protocol_errors');

export const options = {
  scenarios: {
    socketio: {
      executor: 'constant-vus',
      vus: envInt('VUS', 50),
      duration: env('DURATION', '30s'),
      gracefulStop: Math.ceil(SESSION_TIMEOUT_MS / 1000) + 5 + 's',
    },
  },
  thresholds: {
    sio_push_latency: ['p(99)<' + P99_MS],
    sio_ack_latency: ['p(99)<' + P99_MS],
    sio_connect_duration: ['p(99)<' + envInt('CONNECT_P99_MS', 1000)],
    sio_session_ok: ['rate>0.99'],
    sio_protocol_errors: ['count<1'],
    checks: ['rate>0.99'],
  },
};

export function setup() {
  const r = http.get(API_URL + '/health', { tags: { op: 'health' } });
  if (r.status !== 200) {
    fail('the gateway at ' + API_URL + ' is not healthy (GET /health: ' + r.status + ' ' + r.body +
      '); start it with `docker compose up` (compose/README.md) or set API_URL / SOCKET_URL');
  }
}

export default function () {
  const userId = userIdFor('sio', __VU);
  const token = mintToken(userId, 3600);
  const s = {
    connected: false, joined: false, done: false, error: null,
    baseXp: 0, lastVersion: -1, sent: 0, acked: 0, pushed: 0, sentAt: {},
  };

  const res = ws.connect(socketIoUrl(SOCKET_URL), { tags: { name: 'socket.io' } }, function (socket) {
    let openedAt = Date.now();

    function abort(why) {
      if (s.error === null) s.error = why;
      protocolErrors.add(1);
      socket.close();
    }

    function sendUpdate() {
      s.sent++;
      s.sentAt[s.sent] = Date.now();
      socket.send(encodeEvent('user:clientUpdate', { opId: opId(userId, s.sent), delta: { xp: 1 } }, s.sent));
    }

    function maybeFinish() {
      if (s.done || s.acked < UPDATES || s.pushed < UPDATES) return;
      s.done = true;
      socket.send(encodeDisconnect());
      socket.close();
    }

    function onAck(p) {
      const n = p.id;
      if (!(n in s.sentAt)) return abort('ack for an id never sent: ' + n);
      ackLatency.add(Date.now() - s.sentAt[n]);
      const r = Array.isArray(p.payload) ? p.payload[0] : null;
      if (!r || r.ok !== true) return abort('update ' + n + ' refused: ' + JSON.stringify(p.payload));
      s.acked++;
      maybeFinish();
    }

    function onDocument(doc) {
      if (!doc || typeof doc !== 'object' || typeof doc.xp !== 'number') {
        return abort('user:data:updated without a document: ' + JSON.stringify(doc));
      }
      if (doc.userId !== undefined && doc.userId !== userId) {
        return abort('received the document of ' + doc.userId + ' on the socket of ' + userId);
      }
      if (typeof doc.version === 'number') {
        if (doc.version <= s.lastVersion) return abort('push with a stale version ' + doc.version);
        s.lastVersion = doc.version;
      }
      if (!s.joined) { // the answer to presence:join: the starting point
        s.joined = true;
        s.baseXp = doc.xp;
        sendUpdate();
        return;
      }
      // One update in flight at a time and nobody else writes this user:
      // the push for update n shows exactly baseXp + n.
      const n = doc.xp - s.baseXp;
      if (n !== s.sent) return abort('push shows xp ' + doc.xp + ', expected ' + (s.baseXp + s.sent));
      pushLatency.add(Date.now() - s.sentAt[n]);
      s.pushed = n;
      if (s.sent < UPDATES) socket.setTimeout(sendUpdate, THINK_MS);
      else maybeFinish();
    }

    socket.on('open', function () {
      openedAt = Date.now();
    });

    socket.on('message', function (frame) {
      const p = decodePacket(String(frame));
      if (p.eio === EIO.OPEN) {
        socket.send(encodeConnect({ token: token }));
        return;
      }
      if (p.eio === EIO.PING) {
        socket.send(EIO.PONG + p.data);
        return;
      }
      if (p.eio === EIO.NOOP || p.eio === EIO.PONG) return;
      if (p.eio === EIO.CLOSE) return abort('the server closed the Engine.IO session');
      if (p.eio !== EIO.MESSAGE) return abort('unexpected Engine.IO packet: ' + String(frame).slice(0, 80));
      if (p.bad) return abort('bad JSON in: ' + String(frame).slice(0, 120));
      if (p.nsp !== '/') return abort('packet for namespace ' + p.nsp);

      if (p.sio === SIO.CONNECT) {
        if (!p.payload || typeof p.payload.sid !== 'string') return abort('CONNECT without a sid: ' + frame);
        connectDuration.add(Date.now() - openedAt);
        s.connected = true;
        socket.send(encodeEvent('presence:join', { userId: userId }));
      } else if (p.sio === SIO.CONNECT_ERROR) {
        abort('CONNECT refused: ' + JSON.stringify(p.payload));
      } else if (p.sio === SIO.DISCONNECT) {
        abort('the server disconnected the socket');
      } else if (p.sio === SIO.ACK) {
        onAck(p);
      } else if (p.sio === SIO.EVENT) {
        if (!Array.isArray(p.payload) || typeof p.payload[0] !== 'string') return abort('bad EVENT: ' + frame);
        if (p.payload[0] === 'user:data:updated') onDocument(p.payload[1]);
        // other events (user:update for other devices, presence:pong) are not ours to check
      } else {
        abort('unexpected Socket.IO packet: ' + String(frame).slice(0, 80));
      }
    });

    socket.on('error', function (e) {
      abort('websocket error: ' + (e && typeof e.error === 'function' ? e.error() : String(e)));
    });

    socket.setTimeout(function () {
      if (!s.done) {
        abort('timed out after ' + SESSION_TIMEOUT_MS + ' ms (connected ' + s.connected + ', joined ' + s.joined +
          ', sent ' + s.sent + ', acked ' + s.acked + ', pushed ' + s.pushed + ')');
      }
    }, SESSION_TIMEOUT_MS);
  });

  check(res, { 'websocket upgrade: 101': function (r) { return !!r && r.status === 101; } });
  check(s, {
    'socket.io CONNECT accepted': function (x) { return x.connected; },
    'presence:join answered with the document': function (x) { return x.joined; },
    'every update acked {ok:true}': function (x) { return x.acked === UPDATES; },
    'every update pushed back to its sender': function (x) { return x.pushed === UPDATES; },
  });
  sessionOk.add(s.done && s.error === null);
  if (s.error !== null) console.warn('VU ' + __VU + ' (' + userId + '): ' + s.error);

  sleep(PAUSE_MS / 1000);
}
