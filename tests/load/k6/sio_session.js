// tests/load/k6/sio_session.js — one app session of a player over a k6/ws
// websocket, raw Engine.IO v4 / Socket.IO v5 frames (what socket.io-client
// 4.x sends with transports: ['websocket']); used by socketio.js and the
// socket scenarios of scenarios.js:
//
//   ws  /socket.io/?EIO=4&transport=websocket
//   <-  0{"sid":..,"pingInterval":..}        Engine.IO open
//   ->  40{"token":"<jwt>"}                  CONNECT "/" with auth
//   <-  40{"sid":..}                         connected (44{..} = refused)
//   ->  42["presence:join",{"userId":..}]
//   <-  42["user:data:updated",{..}]         the current document
//   then `updates` times, one in flight:
//   ->  42<n>["user:clientUpdate",{"opId":..,"delta":{"xp":1}}]
//   <-  43<n>[{"ok":true,"stats":{..}}]      the ack
//   <-  42["user:data:updated",{..}]         own push, xp one higher
//   ->  41                                   DISCONNECT, then close
//   (<- 2 / -> 3: the server's pings are answered whenever they come)
//
// Metrics: sio_connect_duration (websocket open -> CONNECT accepted),
// sio_ack_latency (emit -> ack), sio_push_latency (emit -> the sender's own
// push showing it), sio_session_ok (a session that did all of it),
// sio_protocol_errors, and statsync_rate_limited (account.js).
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { EIO, SIO, decodePacket, encodeConnect, encodeDisconnect, encodeEvent, opId, socketIoUrl } from './lib.js';
import { countConnectRefusal, rateLimited } from './account.js';

export const connectDuration = new Trend('sio_connect_duration', true);
export const ackLatency = new Trend('sio_ack_latency', true);
export const pushLatency = new Trend('sio_push_latency', true);
export const sessionOk = new Rate('sio_session_ok');
export const protocolErrors = new Counter('sio_protocol_errors');

// o: { url, userId, token, updates, thinkMs, timeoutMs, account (account.js,
// optional: the join must show what it acknowledged, acks are counted) }.
// Returns what happened: { connected, joined, done, error, acked, pushed, status }.
export function sioSession(o) {
  const userId = o.userId;
  const account = o.account || null;
  const s = {
    connected: false, joined: false, done: false, error: null,
    baseXp: 0, lastVersion: -1, sent: 0, acked: 0, pushed: 0, sentAt: {}, ids: {}, status: 0,
  };

  const res = ws.connect(socketIoUrl(o.url), { tags: { name: 'socket.io' } }, function (socket) {
    let openedAt = Date.now();

    function abort(why) {
      if (s.error === null) s.error = why;
      protocolErrors.add(1);
      socket.close();
    }

    function sendUpdate() {
      s.sent++;
      s.sentAt[s.sent] = Date.now();
      const id = account ? account.nextOpId() : opId(userId, s.sent);
      s.ids[s.sent] = id;
      if (account) account.sent(id, { xp: 1 });
      socket.send(encodeEvent('user:clientUpdate', { opId: id, delta: { xp: 1 } }, s.sent));
    }

    function maybeFinish() {
      if (s.done || s.acked < o.updates || s.pushed < o.updates) return;
      s.done = true;
      socket.send(encodeDisconnect());
      socket.close();
    }

    function onAck(p) {
      const n = p.id;
      if (!(n in s.sentAt)) return abort('ack for an id never sent: ' + n);
      ackLatency.add(Date.now() - s.sentAt[n]);
      const r = Array.isArray(p.payload) ? p.payload[0] : null;
      if (!r || r.ok !== true) {
        if (r && r.error && r.error.code === 'rate_limited') rateLimited.add(1);
        if (account && r && r.ok === false) account.refused(s.ids[n]);
        return abort('update ' + n + ' refused: ' + JSON.stringify(p.payload));
      }
      if (account) account.acked(s.ids[n]);
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
        if (account && !account.hasPending()) account.compare(doc.xp, 'join');
        sendUpdate();
        return;
      }
      // One update in flight at a time and nobody else writes this user:
      // the push for update n shows exactly baseXp + n.
      const n = doc.xp - s.baseXp;
      if (n !== s.sent) return abort('push shows xp ' + doc.xp + ', expected ' + (s.baseXp + s.sent));
      pushLatency.add(Date.now() - s.sentAt[n]);
      s.pushed = n;
      if (s.sent < o.updates) socket.setTimeout(sendUpdate, o.thinkMs);
      else maybeFinish();
    }

    socket.on('open', function () {
      openedAt = Date.now();
    });

    socket.on('message', function (frame) {
      const p = decodePacket(String(frame));
      if (p.eio === EIO.OPEN) {
        socket.send(encodeConnect({ token: o.token }));
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
        countConnectRefusal(p.payload);
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
        abort('timed out after ' + o.timeoutMs + ' ms (connected ' + s.connected + ', joined ' + s.joined +
          ', sent ' + s.sent + ', acked ' + s.acked + ', pushed ' + s.pushed + ')');
      }
    }, o.timeoutMs);
  });

  s.status = res ? res.status : 0;
  if (s.status === 429) rateLimited.add(1);
  if (s.status !== 101 && s.error === null) s.error = 'websocket upgrade answered ' + s.status;
  check(res, { 'websocket upgrade: 101': function (r) { return !!r && r.status === 101; } });
  check(s, {
    'socket.io CONNECT accepted': function (x) { return x.connected; },
    'presence:join answered with the document': function (x) { return x.joined; },
    'every update acked {ok:true}': function (x) { return x.acked === o.updates; },
    'every update pushed back to its sender': function (x) { return x.pushed === o.updates; },
  });
  sessionOk.add(s.done && s.error === null);
  if (s.error !== null) console.warn(userId + ': ' + s.error);
  return s;
}
