// tests/load/k6/rest.js — REST load: every virtual user is one player who
// patches their own document (a delta with an Idempotency-Key, as the app's
// offline queue sends it) and reads it back, with a think time between rounds.
//
//   k6 run tests/load/k6/rest.js
//   k6 run -e VUS=200 -e DURATION=2m -e THINK_MS=250 tests/load/k6/rest.js
//
// Settings (besides API_URL, STATSYNC_JWT_SECRET, USER_PREFIX from lib.js):
//   VUS       players at once                      (default 50)
//   DURATION  how long                             (default 30s)
//   THINK_MS  pause between two rounds of a player (default 500)
//   P99_MS    threshold on p(99) of each request   (default 250)
//
// Thresholds (k6 exits 99 when one fails): p(99) latency of patches and of
// reads, less than 1% failed requests, more than 99% of checks passing, no
// lost increment, no rate-limit refusal (statsync_rate_limited: 429s).
// A closed model (each VU waits for its answers); scenarios.js has the open
// model (SCENARIO=open). VUS=200 makes ~800 requests a second from one
// address: against compose, exempt it from the per-IP limits first
// (compose/README.md, "k6 and the rate limiter").
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { API_URL, docOf, env, envInt, mintToken, opId, userIdFor } from './lib.js';
import { rateLimited } from './account.js';

const THINK_MS = envInt('THINK_MS', 500);
const P99_MS = envInt('P99_MS', 250);

const lostIncrements = new Counter('statsync_lost_increments');

export const options = {
  scenarios: {
    rest: {
      executor: 'constant-vus',
      vus: envInt('VUS', 50),
      duration: env('DURATION', '30s'),
      gracefulStop: '10s',
    },
  },
  thresholds: {
    'http_req_duration{op:patch}': ['p(99)<' + P99_MS],
    'http_req_duration{op:read}': ['p(99)<' + P99_MS],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    statsync_lost_increments: ['count<1'],
    statsync_rate_limited: ['count<1'],
  },
};

export function setup() {
  const r = http.get(API_URL + '/health', { tags: { op: 'health' } });
  if (r.status !== 200) {
    fail('the gateway at ' + API_URL + ' is not healthy (GET /health: ' + r.status + ' ' + r.body +
      '); start it with `docker compose up` (compose/README.md) or set API_URL');
  }
}

function json(r) {
  try {
    return r.json();
  } catch (e) {
    return null;
  }
}

// Per VU (one JavaScript runtime each): who this player is and what it knows.
const player = { userId: null, token: null, tokenExp: 0, xp: null, n: 0 };

export default function () {
  if (player.userId === null) player.userId = userIdFor('rest', __VU);
  const now = Math.floor(Date.now() / 1000);
  if (player.token === null || now > player.tokenExp - 60) {
    player.token = mintToken(player.userId, 3600);
    player.tokenExp = now + 3600;
  }
  const auth = { Authorization: 'Bearer ' + player.token };
  player.n++;

  const patch = http.post(API_URL + '/api/users/data/patch',
    JSON.stringify({ xp: 1, totalQuestions: 1, correctAnswers: 1 }), {
      headers: {
        Authorization: auth.Authorization,
        'Content-Type': 'application/json',
        'Idempotency-Key': opId(player.userId, player.n),
      },
      tags: { op: 'patch' },
    });
  if (patch.status === 429) rateLimited.add(1);
  const body = json(patch);
  const doc = body && body.success === true ? docOf(body) : null;
  check(patch, {
    'patch: 200': function (r) { return r.status === 200; },
    'patch: {success:true, stats} for this user': function () {
      return doc !== null && typeof doc.xp === 'number' && (doc.userId === undefined || doc.userId === player.userId);
    },
  });
  if (doc !== null && typeof doc.xp === 'number') {
    // Only this VU writes this document: each patch adds exactly 1.
    if (player.xp !== null && doc.xp !== player.xp + 1) lostIncrements.add(1);
    player.xp = doc.xp;
  }

  const read = http.get(API_URL + '/api/users/' + player.userId + '/stats', {
    headers: auth,
    tags: { op: 'read' },
  });
  if (read.status === 429) rateLimited.add(1);
  const got = docOf(json(read));
  check(read, {
    'read: 200': function (r) { return r.status === 200; },
    'read: shows this player\'s last write': function () {
      return got !== null && typeof got === 'object' && player.xp !== null && got.xp === player.xp;
    },
  });

  sleep(THINK_MS / 1000);
}
