'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Backoff } = require('../src/services/backoff');
const { FakeServer, makeClient, enableFakeTimers, advance, settle } = require('./support/fakes');

test('backoff: 500 ms doubling to a 5000 ms cap, forever; reset starts over', () => {
  const b = new Backoff();
  const seq = Array.from({ length: 9 }, () => b.next());
  assert.deepEqual(seq, [500, 1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000]);
  for (let i = 0; i < 1000; i++) b.next();
  assert.equal(b.next(), 5000, 'still retrying after 1000 attempts');
  b.reset();
  assert.equal(b.next(), 500);
});

test('backoff: jitter stays within ±jitter and under the cap', () => {
  let r = 0;
  const rnd = [0, 0.999, 0.5];
  const b = new Backoff({ jitter: 0.5, random: () => rnd[r++ % 3] });
  const d = [b.next(), b.next(), b.next()];
  assert.equal(d[0], 250);
  assert.ok(d[1] > 1000 && d[1] <= 1500);
  assert.equal(d[2], 2000);
  const c = new Backoff({ jitter: 0.5, random: () => 0.999 });
  for (let i = 0; i < 10; i++) assert.ok(c.next() <= 5000);
});

test('socket: reconnection 500 -> 5000 ms, forever (socket.io-client options)', async () => {
  const server = new FakeServer();
  const h = makeClient(server);
  await h.client.start();
  const o = h.socket().opts;
  assert.equal(o.reconnection, true);
  assert.equal(o.reconnectionDelay, 500);
  assert.equal(o.reconnectionDelayMax, 5000);
  assert.equal(o.reconnectionAttempts, Infinity);
  assert.equal(typeof o.auth, 'function');
  const auth = await new Promise((resolve) => o.auth(resolve));
  assert.deepEqual(auth, { token: 'tok-alice' });
  await h.client.destroy();
});

test('REST retries follow the backoff sequence while the server is unreachable', async (t) => {
  const timers = enableFakeTimers();
  t.after(() => timers.reset());
  const server = new FakeServer();
  server.reachable = false;
  const h = makeClient(server, { autoConnect: false, debounceMs: 600 });
  await h.client.start();
  await settle();
  await h.client.updateUserStats({ xp: 1 });
  const patchTimes = [];
  let elapsed = 0;
  let seen = 0;
  while (elapsed < 25000) {
    await advance(10, 10);
    elapsed += 10;
    const n = h.fetch.calls.filter((c) => c.method === 'POST').length;
    for (; seen < n; seen++) patchTimes.push(elapsed);
  }
  assert.equal(patchTimes[0], 600, 'first attempt when the 600 ms window closes');
  // attempt at ~600, then +500, +1000, +2000, +4000, +5000, +5000, ...
  const gaps = patchTimes.slice(1).map((t2, i) => t2 - patchTimes[i]);
  const rounded = gaps.map((g) => Math.round(g / 10) * 10);
  assert.deepEqual(rounded.slice(0, 6), [500, 1000, 2000, 4000, 5000, 5000]);
  assert.equal(h.client.getState().pendingCount, 1, 'still queued');
  // Server back: the next retry delivers it, exactly once.
  server.reachable = true;
  await advance(5100, 50);
  assert.equal(h.client.getState().pendingCount, 0);
  assert.equal(server.doc('alice').xp, 1);
  await h.client.destroy();
});

test('while a retry is scheduled, new windows do not add attempts (the backoff holds)', async (t) => {
  const timers = enableFakeTimers();
  t.after(() => timers.reset());
  const server = new FakeServer();
  server.reachable = false;
  const h = makeClient(server, { autoConnect: false });
  await h.client.start();
  await settle();
  const posts = () => h.fetch.calls.filter((c) => c.method === 'POST').length;
  await h.client.updateUserStats({ xp: 1 });
  await advance(600, 10); // attempt 1 at 600 ms; retry scheduled for 1100 ms
  assert.equal(posts(), 1);
  await h.client.updateUserStats({ xp: 2 }); // its window closes at 1200 ms
  await advance(1000, 10); // 1600 ms: only the retry at 1100 ms went out
  assert.equal(posts(), 2);
  server.reachable = true;
  await advance(1600, 10); // next retry at 2100 ms sends both, in order
  assert.equal(posts(), 4);
  assert.equal(server.doc('alice').xp, 3);
  assert.equal(h.client.getState().pendingCount, 0);
  await h.client.destroy();
});
