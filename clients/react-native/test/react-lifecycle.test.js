'use strict';
// The hook and the provider across a component's life (issue 16 items 2, 4,
// 5, 6), with react-test-renderer and StrictMode (effects run twice):
//  - ready from the first render: a child's mount effect may call the
//    actions before the provider's own effect created the service;
//  - options changed after mount apply; other options get another service;
//  - errors clear; connection state and sign-out reach every screen.
const test = require('node:test');
const assert = require('node:assert/strict');
const { React, TestRenderer, act, texts, waitFor } = require('./support/react');
const { FakeServer, memoryStorage, silentLogger } = require('./support/fakes');
const strictRenderer = require('./support/strict-renderer');
const pkg = require('..');

const { useUserDataSync, UserDataProvider, useUserData, resetUserDataSyncRegistry, configureUserDataSync } = pkg;
const h = React.createElement;

function options(server, extra = {}) {
  const io = server.io();
  return {
    io,
    opts: {
      apiUrl: 'http://api.test',
      socketUrl: 'http://socket.test',
      getToken: async () => 'tok-alice',
      storage: memoryStorage(),
      fetch: server.fetch(),
      io,
      debounceMs: 20,
      presencePingIntervalMs: 0,
      logger: silentLogger,
      appState: null,
      netInfo: null,
      ...extra,
    },
  };
}

test.afterEach(async () => { await resetUserDataSyncRegistry(); });

// StrictMode in a concurrent root (support/strict-renderer.js): mount
// effects run, are cleaned up and run again, as in an app in development.
const strict = (child) => h(React.StrictMode, null, child);

test('ready from the first render: a child\'s mount effect calls forcePull() and updateUserStats() (StrictMode)', async () => {
  const server = new FakeServer();
  server.apply('alice', { xp: 40 }, 'seed', 'rest');
  const { io, opts } = options(server);
  const results = [];
  const failures = [];
  let effectRuns = 0;
  function Child() {
    const { forcePull, updateUserStats, stats } = useUserData();
    React.useEffect(() => {
      // React runs this before the provider's effect (the service is not there yet).
      effectRuns += 1;
      forcePull().then((d) => results.push(['pull', d.xp]), (e) => failures.push(e));
      updateUserStats({ xp: 1 }).then((d) => results.push(['update', d.xp]), (e) => failures.push(e));
    }, [forcePull, updateUserStats]);
    return h('Text', null, `XP ${stats ? stats.xp : '-'}`);
  }
  let r;
  r = await strictRenderer.render(strict(h(UserDataProvider, { userId: 'alice', ...opts }, h(Child))));
  assert.equal(effectRuns, 2, 'StrictMode ran the mount effect twice');
  await waitFor('every call settled', () => results.length + failures.length === 4);
  assert.deepEqual(failures, [], 'no call failed for being early');
  assert.equal(results.filter(([k]) => k === 'pull').length, 2);
  assert.ok(results.filter(([k]) => k === 'update').every(([, xp]) => xp >= 41));
  await act(async () => { await io.sockets[0].serverConnect(); });
  await waitFor('both updates reached the server', () => server.doc('alice').xp === 42);
  assert.equal(io.sockets.filter((s) => s.active).length, 1, 'one live socket despite the double effects');
  await waitFor('rendered', () => r.texts()[0] === 'XP 42');
  await r.unmount();
  await waitFor('service destroyed', () => io.sockets.every((s) => !s.active));
});

test('ready from the first render: the hook alone, called in the same component\'s mount effect (StrictMode)', async () => {
  const server = new FakeServer();
  const { opts } = options(server, { autoConnect: false });
  const out = [];
  function Screen() {
    const { updateUserStats, flushQueue, userData } = useUserDataSync('alice', opts);
    React.useEffect(() => { updateUserStats({ xp: 5 }).then(() => flushQueue()).then((f) => out.push(f), (e) => out.push(e)); }, [updateUserStats, flushQueue]);
    return h('Text', null, userData ? `XP ${userData.xp}` : '-');
  }
  const r = await strictRenderer.render(strict(h(Screen)));
  await waitFor('flushed', () => out.length === 2);
  assert.deepEqual(out, [{ pending: 0 }, { pending: 0 }], 'both runs of the effect (StrictMode)');
  assert.equal(server.doc('alice').xp, 10);
  await r.unmount();
});

test('calls made before the service is there reject (not hang) when it cannot be created or the screen unmounts', async () => {
  const server = new FakeServer();
  const storage = memoryStorage();
  const { opts } = options(server, { storage });
  // Another live service of alice on the same storage with other options:
  // this provider's service cannot be created (conflicting_options).
  const blocker = pkg.acquireUserDataSync('alice', { ...opts, debounceMs: 999 });
  let err;
  function Child() {
    const { updateUserStats } = useUserData();
    React.useEffect(() => { updateUserStats({ xp: 1 }).catch((e) => { err = e; }); }, [updateUserStats]);
    return null;
  }
  let r;
  await act(async () => { r = TestRenderer.create(h(UserDataProvider, { userId: 'alice', ...opts }, h(Child))); });
  await waitFor('rejected', () => err);
  assert.equal(err.code, 'conflicting_options');
  await act(async () => { r.unmount(); });
  pkg.releaseUserDataSync(blocker);

  // Unmounted in the same tick as mounted: the pending call is rejected.
  let err2;
  function Early() {
    const { forcePull } = useUserData();
    React.useLayoutEffect(() => { forcePull().catch((e) => { err2 = e; }); }, [forcePull]);
    return null;
  }
  function Parent({ show }) { return show ? h(UserDataProvider, { userId: 'alice', ...options(new FakeServer()).opts }, h(Early)) : null; }
  let r2;
  await act(async () => { r2 = TestRenderer.create(h(Parent, { show: true })); r2.update(h(Parent, { show: false })); });
  await waitFor('rejected after unmount', () => err2 || true);
  await act(async () => { r2.unmount(); });
});

test('an option changed after mount takes effect: the provider re-creates the service (apiUrl, timings)', async () => {
  const a = new FakeServer();
  const b = new FakeServer();
  const storage = memoryStorage();
  const A = options(a, { storage, apiUrl: 'http://a.test', socketUrl: 'http://a.test' });
  const B = options(b, { storage, apiUrl: 'http://b.test', socketUrl: 'http://b.test', debounceMs: 30 });
  let ctx;
  function Probe() { ctx = useUserData(); return null; }
  let r;
  await act(async () => { r = TestRenderer.create(h(UserDataProvider, { userId: 'alice', ...A.opts }, h(Probe))); });
  await waitFor('service A', () => ctx.service && ctx.service.apiUrl === 'http://a.test');
  const first = ctx.service;
  await act(async () => { await ctx.updateUserStats({ xp: 1 }); await ctx.flushQueue(); });
  assert.equal(a.doc('alice').xp, 1);

  await act(async () => { r.update(h(UserDataProvider, { userId: 'alice', ...B.opts }, h(Probe))); });
  await waitFor('service B', () => ctx.service && ctx.service.apiUrl === 'http://b.test');
  assert.notEqual(ctx.service, first);
  assert.equal(first.destroyed, true, 'the old service is gone');
  assert.equal(A.io.sockets[0].active, false, 'and its socket');
  assert.equal(ctx.service.options.debounceMs, 30);
  await act(async () => { await ctx.updateUserStats({ xp: 2 }); await ctx.flushQueue(); });
  assert.equal(b.doc('alice').xp, 2, 'the new URL is used');
  assert.equal(a.doc('alice').xp, 1);
  await act(async () => { r.unmount(); });
});

test('an inline getToken (a new function every render) neither re-creates the service nor is ignored', async () => {
  const server = new FakeServer();
  const { io, opts } = options(server, { autoConnect: false });
  let ctx;
  function Probe() { ctx = useUserData(); return null; }
  function App({ token }) {
    return h(UserDataProvider, { userId: 'alice', ...opts, getToken: async () => token }, h(Probe));
  }
  let r;
  await act(async () => { r = TestRenderer.create(h(App, { token: 'tok-nobody' })); });
  await waitFor('service', () => ctx.service);
  const service = ctx.service;
  await act(async () => { r.update(h(App, { token: 'tok-alice' })); });
  await act(async () => { r.update(h(App, { token: 'tok-alice' })); });
  assert.equal(ctx.service, service, 'the same service across renders');
  assert.equal(io.sockets.length, 0);
  await act(async () => { await ctx.updateUserStats({ xp: 3 }); await ctx.flushQueue(); });
  assert.equal(server.doc('alice').xp, 3, 'the latest getToken was asked (tok-alice)');
  await act(async () => { r.unmount(); });
});

test('configureUserDataSync() after mount re-keys the providers that use it', async () => {
  const a = new FakeServer();
  const b = new FakeServer();
  configureUserDataSync({ ...options(a, { apiUrl: 'http://a.test', autoConnect: false }).opts });
  let ctx;
  function Probe() { ctx = useUserData(); return null; }
  let r;
  await act(async () => { r = TestRenderer.create(h(UserDataProvider, { userId: 'alice' }, h(Probe))); });
  await waitFor('a', () => ctx.service && ctx.service.apiUrl === 'http://a.test');
  await act(async () => { configureUserDataSync({ apiUrl: 'http://b.test', fetch: b.fetch() }); });
  await waitFor('b', () => ctx.service && ctx.service.apiUrl === 'http://b.test');
  await act(async () => { await ctx.updateUserStats({ xp: 4 }); await ctx.flushQueue(); });
  assert.equal(b.doc('alice').xp, 4);
  await act(async () => { r.unmount(); });
});

test('a second provider with other options gets its own service, not the first one\'s', async () => {
  const a = new FakeServer();
  const b = new FakeServer();
  const A = options(a, { apiUrl: 'http://a.test', autoConnect: false });
  const B = options(b, { apiUrl: 'http://b.test', autoConnect: false });
  const ctxs = {};
  function Probe({ name }) { ctxs[name] = useUserData(); return null; }
  let r;
  await act(async () => {
    r = TestRenderer.create(h(React.Fragment, null,
      h(UserDataProvider, { userId: 'alice', ...A.opts }, h(Probe, { name: 'a' })),
      h(UserDataProvider, { userId: 'alice', ...B.opts }, h(Probe, { name: 'b' }))));
  });
  await waitFor('both', () => ctxs.a.service && ctxs.b.service);
  assert.notEqual(ctxs.a.service, ctxs.b.service);
  await act(async () => { await ctxs.b.updateUserStats({ xp: 9 }); await ctxs.b.flushQueue(); });
  assert.equal(b.doc('alice').xp, 9);
  assert.equal(a.requests.length, 0);
  await act(async () => { r.unmount(); });
});

test('errors clear: a refusal shown by the hook is cleared by the next successful sync', async () => {
  const server = new FakeServer();
  server.refuse = (delta) => (delta.__set && delta.__set.level === 99 ? { status: 400, code: 'invalid_value', message: 'level too high' } : null);
  const { opts } = options(server, { autoConnect: false });
  let last;
  function Screen() {
    last = useUserDataSync('alice', opts);
    if (last.error) return h('Text', null, `Error: ${last.error}`);
    return h('Text', null, 'OK');
  }
  let r;
  await act(async () => { r = TestRenderer.create(h(Screen)); });
  await waitFor('loaded', () => !last.loading);
  await act(async () => { await last.updateUserStats({ __set: { level: 99 } }); await last.flushQueue(); });
  assert.match(texts(r)[0], /^Error: .*level too high/);
  await act(async () => { await last.forcePull(); });
  assert.equal(texts(r)[0], 'OK', 'the screen is not stuck on the error');
  assert.equal(last.errorDetail, null);
  await act(async () => { r.unmount(); });
});

test('connection state from the hook, the context and the demo: connected, connectionError, pendingCount, lastSyncedAt', async () => {
  const Demo = pkg.EnhancedRealTimeStatsDemo;
  const server = new FakeServer();
  const { io, opts } = options(server);
  let hook;
  let ctx;
  function Probe() { ctx = useUserData(); hook = useUserDataSync('alice', opts); return null; }
  let r;
  await act(async () => { r = TestRenderer.create(h(UserDataProvider, { userId: 'alice', ...opts }, h(Probe), h(Demo))); });
  await waitFor('demo', () => r.root.findAllByProps({ testID: 'statsync-demo' }).length === 1);
  const s = io.sockets[0];
  assert.equal(io.sockets.length, 1, 'the hook with the same options shares the provider\'s service');
  await act(async () => { s.refuseConnect('too many sockets for this user (at most 1)'); });
  for (const v of [ctx, hook]) {
    assert.equal(v.connected, false);
    assert.equal(v.connectionError.code, 'too_many_sockets');
    assert.equal(typeof v.pendingCount, 'number');
    assert.equal(typeof v.lastSyncedAt, 'number', 'the first pull went through REST');
  }
  const shown = (id) => r.root.findAllByProps({ testID: id }).map((n) => [].concat(n.props.children).join(''));
  assert.match(shown('statsync-demo-connection')[0], /^Socket: statsync: the server refused the socket: too many sockets for this user \(at most 1\)/);
  assert.match(shown('statsync-demo-synced')[0], /^Last synced: \d\d:\d\d:\d\d$/);
  assert.match(shown('statsync-demo-status')[0], /^Disconnected · pending: 0/);
  await act(async () => { await s.serverConnect(); });
  assert.equal(ctx.connected, true);
  assert.equal(ctx.connectionError, null);
  assert.deepEqual(shown('statsync-demo-connection'), []);
  assert.match(shown('statsync-demo-status')[0], /^Connected/);
  await act(async () => { r.unmount(); });
});

test('signOut() from the context: the screens see signedOut, the stored queue and document are gone', async () => {
  const server = new FakeServer();
  const storage = memoryStorage();
  const { io, opts } = options(server, { storage });
  let ctx;
  function Probe() { ctx = useUserData(); return h('Text', null, ctx.signedOut ? 'signed out' : `XP ${ctx.stats ? ctx.stats.xp : '-'}`); }
  const r = await strictRenderer.render(strict(h(UserDataProvider, { userId: 'alice', ...opts }, h(Probe))));
  await waitFor('loaded', () => r.texts()[0] === 'XP 0');
  server.reachable = false;
  await act(async () => { await ctx.updateUserStats({ xp: 5 }); });
  await waitFor('queued and stored', () => storage.map.has('@statsync/queue/alice') && storage.map.has('@statsync/doc/alice'));
  let result;
  await act(async () => { result = await ctx.signOut(); });
  assert.deepEqual(result, { discarded: 1 });
  assert.equal(r.texts()[0], 'signed out');
  assert.equal(ctx.signedOut, true);
  assert.equal(ctx.userData, null);
  assert.equal(storage.map.has('@statsync/queue/alice'), false);
  assert.equal(storage.map.has('@statsync/doc/alice'), false);
  assert.ok(io.sockets.every((s) => !s.active));
  await assert.rejects(ctx.updateUserStats({ xp: 1 }), /signed out/);
  // The app shows its sign-in screen (userId null), then the next user.
  await r.update(strict(h(UserDataProvider, { userId: null, ...opts }, h(Probe))));
  server.reachable = true;
  await r.update(strict(h(UserDataProvider, { userId: 'alice', ...opts }, h(Probe))));
  await waitFor('signed in again, nothing of the discarded queue', () => r.texts()[0] === 'XP 0');
  assert.equal(server.doc('alice').xp, 0);
  await r.unmount();
});
