'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { React, TestRenderer, act, texts, waitFor } = require('./support/react');
const { FakeServer, memoryStorage, silentLogger } = require('./support/fakes');
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
      ...extra,
    },
  };
}

test.afterEach(async () => { await resetUserDataSyncRegistry(); });

test('useUserDataSync(userId): loading, then the document; updates are optimistic and reach the server', async () => {
  const server = new FakeServer();
  server.apply('alice', { xp: 40 }, 'seed-op', 'rest');
  const { io, opts } = options(server);
  let last;
  function Screen({ userId }) {
    last = useUserDataSync(userId, opts);
    return h('Text', null, last.loading ? 'Loading...' : `XP: ${last.userData.xp}`);
  }
  let r;
  await act(async () => { r = TestRenderer.create(h(Screen, { userId: 'alice' })); });
  assert.deepEqual(Object.keys(last).filter((k) => ['userData', 'updateUserStats', 'forcePull', 'flushQueue', 'loading', 'error'].includes(k)).sort(),
    ['error', 'flushQueue', 'forcePull', 'loading', 'updateUserStats', 'userData']);
  await waitFor('document', () => texts(r)[0] === 'XP: 40');
  assert.equal(last.error, null);
  await act(async () => { await io.sockets[0].serverConnect(); });
  await act(async () => { await last.updateUserStats({ xp: 10 }); });
  assert.equal(texts(r)[0], 'XP: 50', 'optimistic');
  await waitFor('server ack', () => server.doc('alice').xp === 50 && last.pendingCount === 0);
  assert.equal(last.connected, true);
  await act(async () => { await last.flushQueue(); });
  const pulled = await last.forcePull();
  assert.equal(pulled.xp, 50);
  await act(async () => { r.unmount(); });
  await waitFor('service destroyed on unmount', () => io.sockets[0].active === false);
});

test('useUserDataSync: error is a string (renderable as in the seed), loading ends on failure', async () => {
  const server = new FakeServer();
  server.reachable = false;
  const { opts } = options(server);
  let last;
  function Screen() {
    last = useUserDataSync('alice', opts);
    if (last.loading) return h('Text', null, 'Loading...');
    return h('Text', null, 'Error: ', last.error);
  }
  let r;
  await act(async () => { r = TestRenderer.create(h(Screen)); });
  await waitFor('error', () => !last.loading);
  assert.equal(typeof last.error, 'string');
  assert.match(texts(r)[0], /^Error: statsync: pull failed/);
  assert.ok(last.userData, 'defaults are shown once loading ended');
  assert.equal(last.userData.hearts, 5);
  await act(async () => { r.unmount(); });
});

test('useUserDataSync(null): idle, not loading; actions reject', async () => {
  let last;
  function Screen() { last = useUserDataSync(null); return null; }
  await act(async () => { TestRenderer.create(h(Screen)); });
  assert.equal(last.loading, false);
  assert.equal(last.userData, null);
  await assert.rejects(last.updateUserStats({ xp: 1 }), /no userId/);
});

test('switching userId switches the service', async () => {
  const server = new FakeServer();
  server.apply('bob', { xp: 7 }, 'b1', 'rest');
  const { io, opts } = options(server, { getToken: async () => 'tok-bob' });
  let last;
  function Screen({ userId }) { last = useUserDataSync(userId, opts); return null; }
  let r;
  await act(async () => { r = TestRenderer.create(h(Screen, { userId: 'alice' })); });
  await waitFor('alice', () => last.userData && last.userData.userId === 'alice');
  await act(async () => { r.update(h(Screen, { userId: 'bob' })); });
  await waitFor('bob', () => last.userData && last.userData.xp === 7);
  await waitFor('alice released', () => io.sockets[0].active === false);
  await act(async () => { r.unmount(); });
});

test('UserDataProvider / useUserData: one service for all screens; stats === userData', async () => {
  const server = new FakeServer();
  const { io, opts } = options(server);
  const seen = [];
  function A() { const c = useUserData(); seen.push(['A', c]); return h('Text', null, `A ${c.stats ? c.stats.xp : '-'}`); }
  function B() { const c = useUserData(); seen.push(['B', c]); return h('Text', null, `B ${c.stats ? c.stats.xp : '-'}`); }
  let r;
  await act(async () => {
    r = TestRenderer.create(h(UserDataProvider, { userId: 'alice', ...opts }, h(A), h(B)));
  });
  await waitFor('loaded', () => texts(r).join('|') === 'A 0|B 0');
  assert.equal(io.sockets.length, 1, 'one socket for the whole app');
  const ctx = seen.at(-1)[1];
  for (const k of ['stats', 'userData', 'updateUserStats', 'forcePull', 'flushQueue', 'loading', 'error']) assert.ok(k in ctx, k);
  assert.equal(ctx.stats, ctx.userData);
  await act(async () => { await ctx.updateUserStats({ xp: 3 }); });
  assert.equal(texts(r).join('|'), 'A 3|B 3');
  await act(async () => { await seen.at(-1)[1].flushQueue(); });
  assert.equal(server.doc('alice').xp, 3);
  await act(async () => { r.unmount(); });
});

test('useUserData outside a provider throws a clear error', async () => {
  function Bad() { useUserData(); return null; }
  const origError = console.error;
  console.error = () => {};
  try {
    assert.throws(() => act(() => { TestRenderer.create(h(Bad)); }), /inside <UserDataProvider/);
  } finally { console.error = origError; }
});

test('configureUserDataSync() supplies defaults for providers that only pass userId', async () => {
  const server = new FakeServer();
  server.apply('alice', { xp: 11 }, 's', 'rest');
  const { opts } = options(server);
  configureUserDataSync(opts);
  function S() { const { stats } = useUserData(); return h('Text', null, `XP ${stats ? stats.xp : '-'}`); }
  let r;
  await act(async () => { r = TestRenderer.create(h(UserDataProvider, { userId: 'alice' }, h(S))); });
  await waitFor('configured', () => texts(r)[0] === 'XP 11');
  await act(async () => { r.unmount(); });
});

test('EnhancedRealTimeStatsDemo: shows the stats and drives the seed scenarios', async () => {
  const Demo = pkg.EnhancedRealTimeStatsDemo;
  const server = new FakeServer();
  const { io, opts } = options(server);
  let r;
  await act(async () => { r = TestRenderer.create(h(UserDataProvider, { userId: 'alice', ...opts }, h(Demo))); });
  await waitFor('demo', () => r.root.findAllByProps({ testID: 'statsync-demo' }).length === 1);
  const stat = (k) => flattenText(r.root.findByProps({ testID: `stat-${k}` }));
  const press = async (id) => { await act(async () => { r.root.findByProps({ testID: id }).props.onPress(); await new Promise((res) => setTimeout(res, 5)); }); };
  assert.equal(stat('xp'), 'XP: 0');
  await act(async () => { await io.sockets[0].serverConnect(); });
  await waitFor('connected', () => flattenText(r.root.findByProps({ testID: 'statsync-demo-status' })).startsWith('Connected'));
  await press('btn-correct');
  await press('btn-correct');
  assert.equal(stat('xp'), 'XP: 20');
  await press('btn-wrong');
  assert.equal(stat('hearts'), 'Hearts: 4');
  assert.equal(stat('streak'), 'Streak: 0');
  assert.equal(stat('maxStreak'), 'Max streak: 2');
  assert.equal(stat('accuracy'), 'Accuracy %: 67');
  await press('btn-flush');
  await waitFor('flushed', () => server.doc('alice').xp === 20 && server.doc('alice').hearts === 4);
  await press('btn-refill');
  await press('btn-pull');
  await waitFor('refill reached the server', () => server.doc('alice').hearts === 5);
  assert.equal(stat('hearts'), 'Hearts: 5');
  const log = r.root.findByProps({ testID: 'statsync-demo-log' });
  assert.ok(flattenText(log).includes('force sync: ok'));
  await act(async () => { r.unmount(); });
});

test('EnhancedRealTimeStatsDemo works standalone with a userId prop', async () => {
  const Demo = pkg.EnhancedRealTimeStatsDemo;
  const server = new FakeServer();
  const { opts } = options(server);
  let r;
  await act(async () => { r = TestRenderer.create(h(Demo, { userId: 'alice', options: opts })); });
  await waitFor('demo', () => r.root.findAllByProps({ testID: 'statsync-demo' }).length === 1);
  await act(async () => { r.unmount(); });
});

function flattenText(node) {
  return node.findAll((n) => n.type === 'Text').map((n) => [].concat(n.props.children).join('')).join(' ');
}
