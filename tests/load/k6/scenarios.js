// tests/load/k6/scenarios.js — the open model, several devices per user, and
// a soak, as named k6 scenarios; -e SCENARIO= picks which run (a comma list):
//
//   open      open_rest + open_sio: arrival-rate sessions. Iterations start on
//             their schedule whatever the latency (k6's open model), so an
//             overloaded server shows as latency and as dropped_iterations
//             (no free VU left to start one), not as a quietly slower load.
//             open_rest: read, +1 xp patch, read (exact xp each time);
//             open_sio:  a Socket.IO session (sio_session.js) of
//             OPEN_UPDATES updates, then the xp read back by REST.
//   devices   every VU is one user with DEVICES sockets open at once (a
//             phone, a tablet, a web tab; k6/websockets). Updates go out from
//             each device in turn, one in flight; every update must arrive as
//             a user:data:updated push on every device, showing exactly the
//             new xp, with versions growing on each socket. sio_devices_latency:
//             emit -> the last device has it. Then the xp read back by REST.
//   soak      soak_rest (arrival-rate REST sessions) + soak_sio (long socket
//             sessions, pings answered) + soak_watch (the gateway's RSS and
//             fds from /metrics) for SOAK_DURATION (hours by default): exact
//             xp after every session, error rates, and RSS growth per gateway
//             process against thresholds, so leaks and drift fail the run.
//
//   k6 run tests/load/k6/scenarios.js                          # open + devices, 1 min
//   k6 run -e SCENARIO=open -e RATE=200 -e RAMP_TO=2000 -e DURATION=5m tests/load/k6/scenarios.js
//   k6 run -e SCENARIO=devices -e DEVICES_VUS=200 tests/load/k6/scenarios.js
//   k6 run -e SCENARIO=soak -e SOAK_DURATION=4h tests/load/k6/scenarios.js
//
// Needs a k6 with the k6/websockets and k6/timers modules (k6 1.x; older
// releases had them as k6/experimental/websockets and k6/experimental/timers).
//
// Every VU acts as its own user (<USER_PREFIX>-<scenario>-<VU id>) and keeps
// its exact accounting (account.js): a read must show exactly the xp of the
// writes acknowledged so far, or statsync_xp_mismatch counts it.
//
// Settings (besides API_URL, SOCKET_URL, STATSYNC_JWT_SECRET, USER_PREFIX):
//   SCENARIO            open, devices, soak, or scenario names, comma list (default open,devices)
//   DURATION            open and devices scenarios                  (default 1m)
//   RATE                open_rest sessions started per second       (default 50)
//   RAMP_TO             ramp open_rest from RATE to this (ramping-arrival-rate; default: constant)
//   PRE_VUS, MAX_VUS    open_rest VUs pre-allocated / at most       (default 50, 200)
//   SIO_RATE            open_sio sessions started per second        (default 10)
//   SIO_RAMP_TO         ramp open_sio from SIO_RATE to this         (default: constant)
//   SIO_PRE_VUS, SIO_MAX_VUS  open_sio VUs                          (default 20, 200)
//   OPEN_UPDATES        updates per open_sio session                (default 5)
//   OPEN_THINK_MS       pause between two of them                   (default 100)
//   DEVICES_VUS         users of the devices scenario (constant-vus) (default 20)
//   DEVICES             sockets per user                            (default 3)
//   UPDATES, THINK_MS   updates per devices session, pause between  (default 10, 200)
//   PAUSE_MS            pause after a devices session               (default 500)
//   SOAK_DURATION       soak length                                 (default 2h)
//   SOAK_RATE           soak_rest sessions per second               (default 10)
//   SOAK_VUS            soak_sio sockets at once                    (default 20)
//   SOAK_UPDATES, SOAK_THINK_MS  updates per soak_sio session, pause (default 60, 1000: ~1 min sessions)
//   SOAK_WATCH_EVERY    how often soak_watch reads API_URL/metrics  (default 10s)
//   SESSION_TIMEOUT_MS  a socket session that takes longer fails    (default 15000; soak: 2 min more than a session)
//   RETRY_PAUSE_MS      pause after a failed socket session         (default 1000)
//
// Thresholds, per scenario (k6 exits 99 when one fails):
//   REST_P99_MS         p(99) of the REST requests (open_rest, soak_rest)   (default 250)
//   P99_MS              p(99) of socket acks and own pushes                 (default 500)
//   DEVICES_P99_MS      p(99) of emit -> every device has it                (default 800)
//   CONNECT_P99_MS      p(99) of CONNECT                                    (default 1000)
//   DROPPED_MAX         dropped_iterations of an arrival-rate scenario, at most (default 0)
//   SOAK_RSS_GROWTH_MB  growth of a gateway's RSS during the soak, at most  (default 256)
//   SOAK_FDS_MAX        a gateway's open fds during the soak, at most      (default 65536)
//   and, everywhere: checks > 99%, failed requests / sessions < 1%, no xp
//   mismatch, no rate-limit refusal (statsync_rate_limited: a run through a
//   limiter measures the limiter, compose/README.md says what to set).
//
// Rates and per-user limits: an arrival-rate scenario hands iterations to its
// idle VUs in turn, so each user writes about RATE / PRE_VUS times a second
// (open_rest, 1 write a session) — keep that well under the gateway's per-user
// write limit (STATSYNC_RATE_MUTATIONS_PER_S, 20); socket sessions write at
// most 1000 / THINK_MS a second per user.
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';
import { setTimeout, clearTimeout } from 'k6/timers';
import {
  API_URL, EIO, SIO, SOCKET_URL, decodePacket, encodeConnect, encodeDisconnect, encodeEvent, env, envInt,
  socketIoUrl, userIdFor,
} from './lib.js';
import { Account, countConnectRefusal, rateLimited } from './account.js';
import { ackLatency, connectDuration, sioSession } from './sio_session.js';

const DURATION = env('DURATION', '1m');
const SOAK_DURATION = env('SOAK_DURATION', '2h');
const OPEN_UPDATES = envInt('OPEN_UPDATES', 5);
const OPEN_THINK_MS = envInt('OPEN_THINK_MS', 100);
const DEVICES = envInt('DEVICES', 3);
const UPDATES = envInt('UPDATES', 10);
const THINK_MS = envInt('THINK_MS', 200);
const PAUSE_MS = envInt('PAUSE_MS', 500);
const SOAK_UPDATES = envInt('SOAK_UPDATES', 60);
const SOAK_THINK_MS = envInt('SOAK_THINK_MS', 1000);
const SESSION_TIMEOUT_MS = envInt('SESSION_TIMEOUT_MS', 15000);
const RETRY_PAUSE_MS = envInt('RETRY_PAUSE_MS', 1000);
const SOAK_TIMEOUT_MS = envInt('SESSION_TIMEOUT_MS', SOAK_UPDATES * SOAK_THINK_MS + 120000);

// emit -> the last of the user's devices shows it
const devicesLatency = new Trend('sio_devices_latency', true);
// a device that never got the push of an update
const missedPushes = new Counter('sio_missed_pushes');
const devicesOk = new Rate('sio_devices_ok');
// the gateway's memory and fds (soak_watch), and how much a gateway's RSS grew
const gatewayRss = new Trend('statsync_gateway_rss_mb');
const gatewayRssGrowth = new Trend('statsync_gateway_rss_growth_mb');
const gatewayFds = new Trend('statsync_gateway_open_fds');

const GROUPS = { open: ['open_rest', 'open_sio'], devices: ['devices'], soak: ['soak_rest', 'soak_sio', 'soak_watch'] };

function selected() {
  const out = [];
  const all = Object.keys(GROUPS).reduce(function (a, g) { return a.concat(GROUPS[g]); }, []);
  env('SCENARIO', 'open,devices').split(',').forEach(function (raw) {
    const name = raw.trim();
    const names = GROUPS[name] || (all.indexOf(name) >= 0 ? [name] : null);
    if (names === null) throw new Error('SCENARIO: unknown scenario "' + name + '" (open, devices, soak, or one of ' + all.join(', ') + ')');
    names.forEach(function (n) { if (out.indexOf(n) < 0) out.push(n); });
  });
  return out;
}

function arrival(exec, rate, rampTo, pre, max, duration) {
  const sc = { exec: exec, preAllocatedVUs: pre, maxVUs: max, timeUnit: '1s', gracefulStop: '10s' };
  if (rampTo > 0) {
    sc.executor = 'ramping-arrival-rate';
    sc.startRate = rate;
    sc.stages = [{ duration: duration, target: rampTo }];
  } else {
    sc.executor = 'constant-arrival-rate';
    sc.rate = rate;
    sc.duration = duration;
  }
  return sc;
}

const SCENARIOS = {
  open_rest: function () {
    return arrival('openRest', envInt('RATE', 50), envInt('RAMP_TO', 0), envInt('PRE_VUS', 50), envInt('MAX_VUS', 200), DURATION);
  },
  open_sio: function () {
    return arrival('openSio', envInt('SIO_RATE', 10), envInt('SIO_RAMP_TO', 0), envInt('SIO_PRE_VUS', 20),
      envInt('SIO_MAX_VUS', 200), DURATION);
  },
  devices: function () {
    return { executor: 'constant-vus', exec: 'devices', vus: envInt('DEVICES_VUS', 20), duration: DURATION,
      gracefulStop: Math.ceil(SESSION_TIMEOUT_MS / 1000) + 5 + 's' };
  },
  soak_rest: function () {
    return arrival('soakRest', envInt('SOAK_RATE', 10), 0, envInt('SOAK_PRE_VUS', 10), envInt('SOAK_MAX_VUS', 100), SOAK_DURATION);
  },
  soak_sio: function () {
    return { executor: 'constant-vus', exec: 'soakSio', vus: envInt('SOAK_VUS', 20), duration: SOAK_DURATION,
      gracefulStop: Math.ceil(SOAK_TIMEOUT_MS / 1000) + 5 + 's' };
  },
  soak_watch: function () {
    return { executor: 'constant-arrival-rate', exec: 'soakWatch', rate: 1, timeUnit: env('SOAK_WATCH_EVERY', '10s'),
      duration: SOAK_DURATION, preAllocatedVUs: 1, maxVUs: 2, gracefulStop: '10s' };
  },
};

const REST_P99 = 'p(99)<' + envInt('REST_P99_MS', 250);
const SIO_P99 = 'p(99)<' + envInt('P99_MS', 500);
const CONNECT_P99 = 'p(99)<' + envInt('CONNECT_P99_MS', 1000);
const DROPPED = 'count<=' + envInt('DROPPED_MAX', 0);

// metric -> thresholds, per scenario
const THRESHOLDS = {
  open_rest: {
    http_req_duration: [REST_P99], http_req_failed: ['rate<0.01'], dropped_iterations: [DROPPED],
  },
  open_sio: {
    sio_ack_latency: [SIO_P99], sio_push_latency: [SIO_P99], sio_connect_duration: [CONNECT_P99],
    sio_session_ok: ['rate>0.99'], http_req_failed: ['rate<0.01'], dropped_iterations: [DROPPED],
  },
  devices: {
    sio_devices_latency: ['p(99)<' + envInt('DEVICES_P99_MS', 800)], sio_ack_latency: [SIO_P99],
    sio_connect_duration: [CONNECT_P99], sio_devices_ok: ['rate>0.99'], sio_missed_pushes: ['count<1'],
    http_req_failed: ['rate<0.01'],
  },
  soak_rest: {
    http_req_duration: [REST_P99], http_req_failed: ['rate<0.01'], dropped_iterations: [DROPPED],
  },
  soak_sio: {
    sio_ack_latency: [SIO_P99], sio_push_latency: [SIO_P99], sio_connect_duration: [CONNECT_P99],
    sio_session_ok: ['rate>0.99'], http_req_failed: ['rate<0.01'],
  },
  soak_watch: {
    statsync_gateway_rss_growth_mb: ['max<' + envInt('SOAK_RSS_GROWTH_MB', 256)],
    statsync_gateway_open_fds: ['max<' + envInt('SOAK_FDS_MAX', 65536)],
    http_req_failed: ['rate<0.01'],
  },
};
const EVERYWHERE = { checks: ['rate>0.99'], statsync_xp_mismatch: ['count<1'], statsync_rate_limited: ['count<1'] };

function buildOptions() {
  const scenarios = {};
  const thresholds = {};
  selected().forEach(function (name) {
    scenarios[name] = SCENARIOS[name]();
    const t = Object.assign({}, THRESHOLDS[name], name === 'soak_watch' ? {} : EVERYWHERE);
    Object.keys(t).forEach(function (metric) { thresholds[metric + '{scenario:' + name + '}'] = t[metric]; });
  });
  return { scenarios: scenarios, thresholds: thresholds };
}

export const options = buildOptions();

export function setup() {
  const r = http.get(API_URL + '/health', { tags: { op: 'health' } });
  if (r.status !== 200) {
    fail('the gateway at ' + API_URL + ' is not healthy (GET /health: ' + r.status + ' ' + r.body +
      '); start it with `docker compose up` (compose/README.md) or set API_URL / SOCKET_URL');
  }
}

// This VU's user in each scenario it serves (a VU serves one scenario).
const accounts = {};
function accountFor(scenario) {
  if (!accounts[scenario]) accounts[scenario] = new Account(userIdFor(scenario, __VU));
  return accounts[scenario];
}

// read, +1 xp, read: each read exact
function restSession(scenario) {
  const a = accountFor(scenario);
  a.verify('session start');
  a.patch();
  a.verify('session end');
}

function socketSession(scenario, updates, thinkMs, timeoutMs) {
  const a = accountFor(scenario);
  if (a.expected === null || a.hasPending()) a.verify('before connect');
  const s = sioSession({ url: SOCKET_URL, userId: a.userId, token: a.bearer(), updates: updates, thinkMs: thinkMs,
    timeoutMs: timeoutMs, account: a });
  a.verify('after the session');
  if (s.error !== null) sleep(RETRY_PAUSE_MS / 1000); // as the app backs off: no tight loop of failures
}

export function openRest() { restSession('open_rest'); }
export function openSio() { socketSession('open_sio', OPEN_UPDATES, OPEN_THINK_MS, SESSION_TIMEOUT_MS); }
export function soakRest() { restSession('soak_rest'); }
export function soakSio() { socketSession('soak_sio', SOAK_UPDATES, SOAK_THINK_MS, SOAK_TIMEOUT_MS); }

// --- devices: one user, DEVICES sockets at once (k6/websockets) -----------

export function devices() {
  const a = accountFor('devices');
  if (a.expected === null || a.hasPending()) a.verify('before connect');
  if (a.expected === null) return; // the read failed (counted): no base to check pushes against
  const userId = a.userId;
  const token = a.bearer();
  const base = a.expected;
  const t = { devs: [], joined: 0, n: 0, id: null, sentAt: 0, acked: false, got: 0, error: null, done: false,
    ended: false, closed: 0, timer: null, endTimer: null };

  function end() {
    if (t.ended) return;
    t.ended = true;
    if (t.endTimer !== null) clearTimeout(t.endTimer);
    check(t, {
      'devices: every device connected and joined': function (x) { return x.joined === DEVICES; },
      'devices: every update acked {ok:true}': function (x) { return x.n === UPDATES && x.acked; },
      'devices: every update pushed to every device': function (x) { return x.n === UPDATES && x.got === DEVICES; },
    });
    devicesOk.add(t.error === null);
    if (t.error !== null) console.warn(userId + ': ' + t.error);
    a.verify('after the session');
    if (t.error !== null) sleep(RETRY_PAUSE_MS / 1000);
  }

  function stop(why) {
    if (t.done) return;
    t.done = true;
    if (why) {
      t.error = why;
      if (t.n > 0 && t.got < DEVICES) missedPushes.add(DEVICES - t.got);
    }
    clearTimeout(t.timer);
    t.devs.forEach(function (d) {
      if (d.open) d.sock.send(encodeDisconnect());
      d.sock.close();
    });
    // every close event ends it; this bounds a close that never comes
    t.endTimer = setTimeout(end, 5000);
  }

  function sendNext() {
    if (t.done) return;
    t.n++;
    t.got = 0;
    t.acked = false;
    t.devs.forEach(function (d) { d.has = false; });
    const from = t.devs[(t.n - 1) % DEVICES];
    t.id = a.nextOpId();
    a.sent(t.id, { xp: 1 });
    t.sentAt = Date.now();
    from.sock.send(encodeEvent('user:clientUpdate', { opId: t.id, delta: { xp: 1 } }, t.n));
  }

  function progress() {
    if (t.done || !t.acked || t.got < DEVICES) return;
    devicesLatency.add(Date.now() - t.sentAt);
    if (t.n < UPDATES) setTimeout(sendNext, THINK_MS);
    else setTimeout(function () { stop(null); }, PAUSE_MS);
  }

  function onDocument(d, doc) {
    if (!doc || typeof doc !== 'object' || typeof doc.xp !== 'number') return stop('device ' + d.i + ': a push without a document');
    if (doc.userId !== undefined && doc.userId !== userId) return stop('device ' + d.i + ': the document of ' + doc.userId);
    if (typeof doc.version === 'number') {
      if (doc.version <= d.version) return stop('device ' + d.i + ': version ' + doc.version + ' after ' + d.version);
      d.version = doc.version;
    }
    if (!d.joined) { // the answer to presence:join
      d.joined = true;
      t.joined++;
      if (!a.compare(doc.xp, 'join on device ' + d.i)) return stop('device ' + d.i + ': joined at xp ' + doc.xp + ', acknowledged ' + base);
      if (t.joined === DEVICES) sendNext();
      return;
    }
    if (t.n === 0) return stop('device ' + d.i + ': a push before any update');
    if (doc.xp !== base + t.n) return stop('device ' + d.i + ': push shows xp ' + doc.xp + ', expected ' + (base + t.n));
    if (d.has) return stop('device ' + d.i + ': a second push for update ' + t.n);
    d.has = true;
    t.got++;
    progress();
  }

  function onFrame(d, frame) {
    const p = decodePacket(frame);
    if (p.eio === EIO.OPEN) return d.sock.send(encodeConnect({ token: token }));
    if (p.eio === EIO.PING) return d.sock.send(EIO.PONG + p.data);
    if (p.eio === EIO.NOOP || p.eio === EIO.PONG) return undefined;
    if (p.eio !== EIO.MESSAGE || p.bad || p.nsp !== '/') return stop('device ' + d.i + ': unexpected frame ' + frame.slice(0, 80));
    if (p.sio === SIO.CONNECT) {
      connectDuration.add(Date.now() - d.openedAt);
      return d.sock.send(encodeEvent('presence:join', { userId: userId }));
    }
    if (p.sio === SIO.CONNECT_ERROR) {
      countConnectRefusal(p.payload);
      return stop('device ' + d.i + ': CONNECT refused: ' + JSON.stringify(p.payload));
    }
    if (p.sio === SIO.DISCONNECT) return stop('device ' + d.i + ': disconnected by the server');
    if (p.sio === SIO.ACK) {
      const r = Array.isArray(p.payload) ? p.payload[0] : null;
      if (p.id !== t.n || t.acked) return stop('device ' + d.i + ': ack ' + p.id + ' during update ' + t.n);
      ackLatency.add(Date.now() - t.sentAt);
      if (!r || r.ok !== true) {
        if (r && r.error && r.error.code === 'rate_limited') rateLimited.add(1);
        if (r && r.ok === false) a.refused(t.id);
        return stop('update ' + t.n + ' refused: ' + JSON.stringify(p.payload));
      }
      a.acked(t.id);
      t.acked = true;
      return progress();
    }
    if (p.sio === SIO.EVENT && Array.isArray(p.payload) && p.payload[0] === 'user:data:updated') return onDocument(d, p.payload[1]);
    return undefined; // user:update (to the other devices), presence:pong: not checked here
  }

  for (let i = 0; i < DEVICES; i++) {
    const d = { i: i, sock: null, open: false, joined: false, version: -1, has: false, openedAt: Date.now() };
    d.sock = new WebSocket(socketIoUrl(SOCKET_URL));
    d.sock.onopen = function () { d.open = true; d.openedAt = Date.now(); };
    d.sock.onmessage = function (e) { onFrame(d, String(e.data)); };
    d.sock.onerror = function (e) {
      const why = String(e && e.error);
      if (/429/.test(why)) rateLimited.add(1);
      stop('device ' + i + ': websocket error ' + why);
    };
    d.sock.onclose = function () {
      d.open = false;
      t.closed++;
      if (!t.done) stop('device ' + i + ': closed by the server');
      if (t.closed >= DEVICES) end();
    };
    t.devs.push(d);
  }
  t.timer = setTimeout(function () {
    stop('timed out after ' + SESSION_TIMEOUT_MS + ' ms at update ' + t.n + ' (' + t.joined + ' joined, ' + t.got +
      ' of ' + DEVICES + ' pushes, acked ' + t.acked + ')');
  }, SESSION_TIMEOUT_MS);
}

// --- soak_watch: the gateway's RSS and fds --------------------------------

const firstRss = {}; // process_start_time_seconds -> its first RSS (MB), so a restart starts over

export function soakWatch() {
  const r = http.get(API_URL + '/metrics', { tags: { op: 'metrics' } });
  const text = r.status === 200 ? String(r.body) : '';
  function gauge(name) {
    const m = new RegExp('^' + name + '(?:\\{[^}]*\\})? ([0-9.eE+-]+)$', 'm').exec(text);
    return m ? Number(m[1]) : null;
  }
  const rss = gauge('process_resident_memory_bytes');
  const fds = gauge('process_open_fds');
  const started = String(gauge('process_start_time_seconds'));
  check(r, { 'metrics: 200 with process_resident_memory_bytes': function () { return rss !== null; } });
  if (rss === null) return;
  const mb = rss / 1048576;
  if (!(started in firstRss)) firstRss[started] = mb;
  gatewayRss.add(mb);
  gatewayRssGrowth.add(mb - firstRss[started]);
  if (fds !== null) gatewayFds.add(fds);
}

export default function () {
  sleep(1); // every scenario names its exec function; this is never run by them
}
