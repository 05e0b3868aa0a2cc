'use strict';
// The client against the REAL statsync system: nats-server + stats-service
// (LMDB) + presence-service + gateway(s), started by tests/lib/system.js.
const test = require('node:test');
const assert = require('node:assert/strict');
const H = require('./helpers');

const SKIP = H.skipReason();
if (SKIP) {
  // eslint-disable-next-line no-console
  console.log(`# SKIP client integration tests: ${SKIP}`);
}
const itest = (name, fn) => test(name, { skip: SKIP || false, timeout: 120000 }, fn);

let System;
if (!SKIP) ({ System } = require(H.SYSTEM_JS));

async function withSystem(t, opts, fn) {
  const sys = await System.start(opts);
  const clients = [];
  const track = (c) => { clients.push(c); return c; };
  try {
    await fn(sys, track);
  } catch (err) {
    err.message += `\n---- server logs ----\n${sys.logs()}`;
    throw err;
  } finally {
    for (const c of clients) await c.destroy();
    await sys.stop();
  }
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

itest('updates made while the server is unreachable are applied exactly once after it returns (and survive an app restart)', async (t) => {
  await withSystem(t, {}, async (sys, track) => {
    const userId = H.uniqueUser('rn-offline');
    const c1 = track(H.makeClient(sys, userId));
    await c1.start();
    await H.until('socket connected', () => c1.getState().connected);
    await H.until('first document', () => c1.getUserData() && c1.getUserData().version === 0);

    await sys.gw.kill('SIGKILL'); // the whole edge goes away: socket and REST
    await H.until('disconnect noticed', () => !c1.getState().connected);

    const xps = [];
    for (let i = 1; i <= 10; i++) { // ten separate windows -> ten operations
      await c1.updateUserStats({ xp: i, correctAnswers: 1, totalQuestions: 1 });
      xps.push(i);
      await H.sleep(60);
    }
    for (let i = 0; i < 5; i++) { // one burst -> merged into one operation
      c1.updateUserStats({ xp: 100, timePerQuestion: [1.5] });
      xps.push(100);
    }
    await c1.updateUserStats({ __set: { level: 3 } });
    await H.sleep(100);
    const expectedXp = sum(xps);
    assert.equal(c1.getUserData().xp, expectedXp, 'optimistic view while offline');
    const queued = c1.getPendingOperations();
    assert.ok(queued.length >= 11, `queued ${queued.length} operations`);

    // The app is killed while offline; the next start finds the queue in storage.
    const storage = c1.storageRef;
    await c1.destroy();
    const snapshot = H.snapshotStorage(storage); // the queue as it was before any flush

    const c2 = track(H.makeClient(sys, userId, { storage }));
    await c2.start();
    assert.equal(c2.getState().pendingCount, queued.length, 'restored after restart');
    await H.sleep(300); // retries against the dead gateway meanwhile
    await sys.restartGateway(sys.gw);
    await H.until('queue drained', () => c2.getState().pendingCount === 0, 30000);

    const doc = await H.serverDoc(sys, userId);
    assert.equal(doc.xp, expectedXp, 'every update applied exactly once');
    assert.equal(doc.correctAnswers, 10);
    assert.equal(doc.totalQuestions, 10);
    assert.equal(doc.accuracy, 100);
    assert.equal(doc.level, 3);
    assert.deepEqual(doc.timePerQuestion, [1.5, 1.5, 1.5, 1.5, 1.5]);
    assert.equal(doc.version, queued.length, 'one version per operation');
    await H.until('client converged on the server document', () => c2.getUserData().version === doc.version);
    assert.equal(c2.getUserData().xp, expectedXp);

    // Replaying the very same queue (e.g. a storage write that was lost before
    // the acks were recorded) must not count anything twice.
    const c3 = track(H.makeClient(sys, userId, { storage: snapshot, autoConnect: false }));
    await c3.start();
    assert.equal(c3.getState().pendingCount, queued.length);
    const dups = [];
    c3.on('ack', (a) => dups.push(a));
    await c3.flushQueue();
    assert.equal(dups.length, queued.length);
    const again = await H.serverDoc(sys, userId);
    assert.equal(again.xp, expectedXp, 'a replayed queue is not applied again');
    assert.equal(again.version, doc.version);
  });
});

// Two ways to die in the middle of a flush, over each transport:
//  - 'kill': the gateway is SIGKILLed as the 10th ack arrives, while the
//    client goes on with the next operation;
//  - 'ack-lost': the 11th operation reaches the server and is committed, then
//    the gateway is SIGKILLed before its answer reaches the client (the worst
//    case: the client cannot know it was applied and must send it again).
for (const transport of ['socket', 'rest']) {
  for (const mode of ['kill', 'ack-lost']) {
    itest(`the gateway is killed in the middle of a ${transport} flush (${mode}); the final document counts every update exactly once`, async (t) => {
      await withSystem(t, {}, async (sys, track) => {
        const userId = H.uniqueUser(`rn-${mode}-${transport}`);
        let killed = null;
        const killGateway = () => { if (!killed) killed = sys.gw.kill('SIGKILL'); return killed; };
        let posts = 0;
        const losingFetch = async (url, init) => {
          // The socket variant keeps every write on the socket: REST writes
          // fail here as if that path were blocked.
          if (transport === 'socket' && init.method === 'POST') throw new TypeError('fetch failed: blocked by the test');
          const res = await fetch(url, init);
          if (transport === 'rest' && mode === 'ack-lost' && init.method === 'POST' && ++posts === 11) {
            await res.text(); // committed on the server...
            await killGateway(); // ...and the answer dies with the gateway
            throw new TypeError('fetch failed: socket hang up');
          }
          return res;
        };
        const c = track(H.makeClient(sys, userId, { autoConnect: transport === 'socket', fetch: losingFetch }));
        const events = [];
        const t0 = Date.now();
        c.on('error', (e) => events.push(`${Date.now() - t0}ms error ${e.kind}/${e.code}: ${e.message}`));
        c.on('disconnect', (r) => events.push(`${Date.now() - t0}ms disconnect ${r}`));
        c.on('connect', () => events.push(`${Date.now() - t0}ms connect`));
        c.on('ack', (a) => events.push(`${Date.now() - t0}ms ack ${a.opId.slice(0, 8)}${a.duplicate ? ' DUP' : ''}`));
        await c.start();
        if (transport === 'socket') {
          await H.until('socket connected', () => c.getState().connected);
          if (mode === 'ack-lost') loseAck(c, 11, killGateway);
        }
        await H.until('first document', () => c.getUserData() && c.getUserData().version >= 0);

        await sys.gw.kill('SIGKILL');
        if (transport === 'socket') await H.until('disconnect noticed', () => !c.getState().connected);
        const N = 40;
        for (let i = 1; i <= N; i++) {
          await c.updateUserStats({ xp: i, diamonds: 1 });
          await H.sleep(50);
        }
        await H.until('all sealed', () => c.getPendingOperations().every((e) => e.sealed), 5000);
        assert.equal(c.getPendingOperations().length, N);
        const opIds = c.getPendingOperations().map((e) => e.opId);

        let acks = 0;
        const dupes = [];
        c.on('ack', (a) => {
          acks += 1;
          if (a.duplicate) dupes.push(a.opId);
          if (mode === 'kill' && acks === 10) killGateway();
        });
        if (transport === 'socket') {
          // The socket reconnects and flushes by itself, and the 10th ack
          // kills the gateway: that may happen before a /health probe sees
          // it up, so wait for the kill (a state), not for the probe.
          sys.gw.start();
        } else {
          await sys.restartGateway(sys.gw);
          c.flushQueue().catch(() => {});
        }
        await H.until('kill mid-flush', () => killed, 30000);
        await killed;
        await H.sleep(100);
        const left = c.getState().pendingCount;
        assert.ok(left > 0 && left < N, `flush interrupted half-way (${left} left)`);
        await H.sleep(600);
        await sys.restartGateway(sys.gw);
        if (transport === 'rest') {
          await H.until('flushed over REST', async () => { await c.flushQueue().catch(() => {}); return c.getState().pendingCount === 0; }, 30000, 200);
        }
        await H.until('queue drained', () => c.getState().pendingCount === 0, 30000);
        if (process.env.STATSYNC_CLIENT_DEBUG) t.diagnostic(events.join('\n'));
        t.diagnostic(`${transport}/${mode}: interrupted with ${left} of ${N} queued; resent operations answered as duplicates: #${dupes.map((d) => opIds.indexOf(d) + 1).join(', #') || 'none'}`);
        if (mode === 'ack-lost') {
          assert.ok(dupes.includes(opIds[10]),
            `the committed-but-unacknowledged operation was sent again and recognized as a duplicate (${dupes.map((d) => opIds.indexOf(d))})`);
        }

        const doc = await H.serverDoc(sys, userId);
        assert.equal(doc.xp, (N * (N + 1)) / 2, 'every update counted exactly once');
        assert.equal(doc.diamonds, N);
        assert.equal(doc.version, N, 'one version per operation, none applied twice');
        await H.until('client view = server document', () => c.getUserData().version === doc.version);
        assert.equal(c.getUserData().xp, doc.xp);
      });
    });
  }
}

// Test-only interception on the real socket.io-client socket: when the answer
// to the nth user:clientUpdate arrives (the server committed it), kill the
// gateway first and hand the client a lost connection instead of the answer.
function loseAck(c, nth, kill) {
  const s = c._socket;
  const origTimeout = s.timeout.bind(s);
  let count = 0;
  s.timeout = (ms) => {
    const em = origTimeout(ms);
    return {
      emit: (ev, payload, cb) => {
        if (ev === 'user:clientUpdate' && ++count === nth) {
          return em.emit(ev, payload, (err) => {
            Promise.resolve(kill()).then(() => cb(err || new Error('socket has been disconnected')));
          });
        }
        return em.emit(ev, payload, cb);
      },
    };
  };
}

itest('two clients of one user (on two gateways) converge to the same document', async (t) => {
  await withSystem(t, { gateways: 2 }, async (sys, track) => {
    const userId = H.uniqueUser('rn-two');
    const a = track(H.makeClient(sys, userId, { gw: sys.gateways[0] }));
    const b = track(H.makeClient(sys, userId, { gw: sys.gateways[1], debounceMs: 25 }));
    await Promise.all([a.start(), b.start()]);
    await H.until('both connected', () => a.getState().connected && b.getState().connected);

    const run = async (c, n, delta) => {
      for (let i = 0; i < n; i++) {
        await c.updateUserStats(delta(i));
        await H.sleep(5 + Math.floor(Math.random() * 40));
      }
    };
    await Promise.all([
      run(a, 30, (i) => ({ xp: 1, correctAnswers: 1, totalQuestions: 1, timePerQuestion: [i] })),
      run(b, 30, () => ({ xp: 2, wrongAnswers: 1, totalQuestions: 1, diamonds: 1 })),
    ]);
    // b goes offline for a while (its gateway dies) and keeps playing.
    await sys.gateways[1].kill('SIGKILL');
    await run(b, 10, () => ({ xp: 5 }));
    await run(a, 5, () => ({ xp: 1 }));
    await sys.restartGateway(sys.gateways[1]);

    await H.until('both queues drained', () => a.getState().pendingCount === 0 && b.getState().pendingCount === 0, 30000);
    const doc = await H.serverDoc(sys, userId);
    assert.equal(doc.xp, 30 * 1 + 30 * 2 + 10 * 5 + 5 * 1);
    assert.equal(doc.totalQuestions, 60);
    assert.equal(doc.diamonds, 30);
    assert.equal(doc.accuracy, 50);
    await H.until('both views at the server version',
      () => a.getUserData().version === doc.version && b.getUserData().version === doc.version, 15000);
    assert.deepEqual(a.getUserData(), b.getUserData());
    for (const k of ['xp', 'hearts', 'diamonds', 'level', 'streak', 'maxStreak', 'accuracy', 'correctAnswers', 'wrongAnswers', 'totalQuestions', 'timePerQuestion', 'updatedAt', 'version']) {
      assert.deepEqual(a.getUserData()[k], doc[k], k);
    }
  });
});

itest('a stale document (an old pull answer delivered after newer pushes) is ignored', async (t) => {
  await withSystem(t, {}, async (sys, track) => {
    const userId = H.uniqueUser('rn-stale');
    const held = [];
    let holdGets = false;
    const slowFetch = async (url, init) => {
      const res = await fetch(url, init); // answered by the real server now...
      if (holdGets && (init.method || 'GET') === 'GET') {
        const text = await res.text();
        await new Promise((release) => held.push(release)); // ...delivered later
        return { status: res.status, headers: res.headers, text: async () => text };
      }
      return res;
    };
    const c = track(H.makeClient(sys, userId, { fetch: slowFetch }));
    await c.start();
    await H.until('socket connected', () => c.getState().connected);
    await c.updateUserStats({ xp: 1 });
    await c.flushQueue();
    await H.until('version 1', () => c.getUserData().version === 1);

    const stale = [];
    c.on('stale', (e) => stale.push(e));
    holdGets = true;
    const pull = c.forcePull(); // the server answers with version 1
    await H.until('GET answered and held', () => held.length === 1);
    holdGets = false;
    // Another device writes twice; the pushes bring versions 2 and 3.
    for (const k of ['other-1', 'other-2']) {
      const r = await sys.http('POST', '/api/users/data/patch', {
        token: sys.token(userId), body: { xp: 10 }, headers: { 'Idempotency-Key': `${userId}-${k}` },
      });
      assert.equal(r.status, 200, r.text);
    }
    await H.until('pushes applied', () => c.getUserData().version === 3);
    assert.equal(c.getUserData().xp, 21);
    held[0](); // the version-1 answer finally arrives
    const view = await pull;
    assert.equal(view.version, 3, 'the stale pull answer did not move the document back');
    assert.equal(view.xp, 21);
    assert.ok(stale.some((e) => e.doc.version === 1 && e.source === 'pull'), 'reported as stale');
    // And a stale socket push: replay an old document through the socket
    // handler path the gateway uses.
    const old = { ...(await H.serverDoc(sys, userId)), version: 2, xp: 11 };
    c._onPush(old);
    assert.equal(c.getUserData().xp, 21);
    assert.equal(c.getUserData().version, 3);
  });
});
