// tests/load/k6/socketio.js — Socket.IO load, spoken as raw Engine.IO v4 /
// Socket.IO v5 frames over k6 websockets (sio_session.js has the exchange).
// Closed model: VUS players at once, each one app session after the other —
// connect, join, UPDATES updates each acked and pushed back, disconnect.
// Under overload a closed model slows down with the server (each VU waits):
// scenarios.js (SCENARIO=open) is the open model that does not.
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
//
// Thresholds (k6 exits 99 when one fails): those p(99)s, more than 99% of
// sessions and checks passing, no protocol error, no rate-limit refusal
// (statsync_rate_limited: a 429 upgrade, a rate_limited ack). VUS=200 opens
// ~80 sessions a second from one address: against compose, exempt it from
// the per-IP limits first (compose/README.md, "k6 and the rate limiter").
import http from 'k6/http';
import { fail, sleep } from 'k6';
import { API_URL, SOCKET_URL, env, envInt, mintToken, userIdFor } from './lib.js';
import { sioSession } from './sio_session.js';

const UPDATES = envInt('UPDATES', 10);
const THINK_MS = envInt('THINK_MS', 200);
const PAUSE_MS = envInt('PAUSE_MS', 500);
const SESSION_TIMEOUT_MS = envInt('SESSION_TIMEOUT_MS', 15000);
const P99_MS = envInt('P99_MS', 500);

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
    statsync_rate_limited: ['count<1'],
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
  sioSession({
    url: SOCKET_URL, userId: userId, token: mintToken(userId, 3600),
    updates: UPDATES, thinkMs: THINK_MS, timeoutMs: SESSION_TIMEOUT_MS,
  });
  sleep(PAUSE_MS / 1000);
}
