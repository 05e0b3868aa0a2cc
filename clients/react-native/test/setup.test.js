'use strict';
// The app's set-up (issue 16 item 3): one configureUserDataSync() call in
// App.js, or the packages used automatically where they are installed; a
// clear warning for each missing piece; a missing apiUrl is an error at
// configure time. And (item 5) services keyed by everything that matters.
const test = require('node:test');
const assert = require('node:assert/strict');
const Module = require('node:module');
const path = require('node:path');
const pkg = require('..');
const { FakeServer, memoryStorage, fakeNetInfo, fakeAppState, settle } = require('./support/fakes');

const { UserDataSync, configureUserDataSync, acquireUserDataSync, releaseUserDataSync, resetUserDataSyncRegistry, SyncError } = pkg;

test.afterEach(async () => {
  await resetUserDataSyncRegistry();
  delete process.env.EXPO_PUBLIC_API_URL;
  delete process.env.EXPO_PUBLIC_SOCKET_URL;
});

function capture() {
  const lines = [];
  return { lines, logger: { warn: (m) => lines.push(m), error: (m) => lines.push(m), info() {}, debug() {} } };
}

// Makes require(name) resolve to a stub module for the duration of a test.
function stubModules(t, stubs) {
  const orig = Module._resolveFilename;
  const dir = path.join(__dirname, 'support');
  const files = {};
  for (const [name, exportsValue] of Object.entries(stubs)) {
    const file = path.join(dir, `__stub_${name.replace(/[^a-z0-9]/gi, '_')}.js`);
    files[name] = file;
    require.cache[file] = { id: file, filename: file, loaded: true, exports: exportsValue };
  }
  Module._resolveFilename = function resolve(request, ...rest) {
    if (files[request]) return files[request];
    return orig.call(this, request, ...rest);
  };
  t.after(() => {
    Module._resolveFilename = orig;
    for (const f of Object.values(files)) delete require.cache[f];
  });
}

test('set-up: one clear warning per missing piece (storage, NetInfo, AppState, token source)', () => {
  const { lines, logger } = capture();
  new UserDataSync('alice', { apiUrl: 'http://api.test', autoConnect: false, logger }); // eslint-disable-line no-new
  assert.equal(lines.length, 4, lines.join('\n'));
  assert.ok(lines.some((l) => /no storage: .*lost when the app is closed.*@react-native-async-storage\/async-storage/.test(l)));
  assert.ok(lines.some((l) => /no NetInfo: .*@react-native-community\/netinfo/.test(l)));
  assert.ok(lines.some((l) => /no AppState: .*foreground/.test(l)));
  assert.ok(lines.some((l) => /no token source: .*401.*getToken/.test(l)));
  new UserDataSync('alice', { apiUrl: 'http://api.test', autoConnect: false, logger }); // eslint-disable-line no-new
  assert.equal(lines.length, 4, 'each warning once');
});

test('set-up: with every piece given — or null, "none on purpose" — nothing is warned', () => {
  const { lines, logger } = capture();
  new UserDataSync('alice', { // eslint-disable-line no-new
    apiUrl: 'http://api.test', autoConnect: false, logger,
    storage: memoryStorage(), netInfo: fakeNetInfo(), appState: fakeAppState(), getToken: async () => 't',
  });
  new UserDataSync('bob', { apiUrl: 'http://api.test', autoConnect: false, logger, storage: null, netInfo: null, appState: null, getToken: null }); // eslint-disable-line no-new
  assert.deepEqual(lines, []);
});

test('set-up: storage without getToken warns that the seed\'s token key is used', () => {
  const { lines, logger } = capture();
  new UserDataSync('alice', { apiUrl: 'http://api.test', autoConnect: false, logger, storage: memoryStorage(), netInfo: null, appState: null }); // eslint-disable-line no-new
  assert.equal(lines.length, 1);
  assert.match(lines[0], /no getToken: the token is read from storage key 'auth\.token'/);
});

test('set-up: installed AsyncStorage, NetInfo and React Native are used automatically (guarded requires)', async (t) => {
  const asyncStore = memoryStorage();
  asyncStore.map.set('auth.token', 'tok-alice');
  const netInfo = fakeNetInfo();
  const appState = fakeAppState('active');
  stubModules(t, {
    '@react-native-async-storage/async-storage': { __esModule: true, default: asyncStore },
    '@react-native-community/netinfo': { __esModule: true, default: netInfo },
    'react-native': { AppState: appState, Platform: { OS: 'ios' } },
  });
  await resetUserDataSyncRegistry(); // forget what was detected before the stubs
  const { lines, logger } = capture();
  const server = new FakeServer();
  const s = new UserDataSync('alice', { apiUrl: 'http://api.test', autoConnect: false, logger, fetch: server.fetch() });
  t.after(() => s.destroy());
  assert.equal(lines.length, 1, 'storage, NetInfo and AppState found; only the token source is not said');
  assert.match(lines[0], /no getToken: the token is read from storage key 'auth\.token'/);
  assert.equal(s.options.storage, asyncStore);
  assert.equal(s.options.netInfo, netInfo);
  assert.equal(s.options.appState, appState);
  await s.start();
  await settle();
  assert.equal(netInfo.listenerCount(), 1);
  assert.equal(appState.listenerCount(), 1);
  await s.updateUserStats({ xp: 3 });
  await s.flushQueue();
  assert.equal(server.doc('alice').xp, 3, 'the token came from AsyncStorage auth.token');
  assert.ok(asyncStore.map.has('@statsync/doc/alice'), 'persisted in AsyncStorage');
  const off = new UserDataSync('bob', { apiUrl: 'http://api.test', autoConnect: false, logger, autoDetect: false });
  assert.equal(off.options.storage, undefined, 'autoDetect: false uses nothing it was not given');
});

test('set-up: a broken optional package (throws when loaded) counts as absent', async (t) => {
  const orig = Module._resolveFilename;
  Module._resolveFilename = function resolve(request, ...rest) {
    if (request === '@react-native-async-storage/async-storage') throw new Error('[@RNC/AsyncStorage]: NativeModule: AsyncStorage is null.');
    return orig.call(this, request, ...rest);
  };
  t.after(() => { Module._resolveFilename = orig; });
  await resetUserDataSyncRegistry();
  const { lines, logger } = capture();
  const s = new UserDataSync('alice', { apiUrl: 'http://api.test', autoConnect: false, logger });
  assert.ok(s.storage, 'memory storage instead');
  assert.ok(lines.some((l) => /no storage/.test(l)));
});

test('configure: a missing apiUrl is a clear error at configure time (an Expo build without EXPO_PUBLIC_API_URL)', () => {
  // What App.js passes when EXPO_PUBLIC_API_URL was not set at build time.
  assert.throws(() => configureUserDataSync({ apiUrl: undefined, storage: memoryStorage() }), (e) => {
    assert.ok(e instanceof SyncError);
    assert.equal(e.kind, 'config');
    assert.equal(e.code, 'missing_api_url');
    assert.match(e.message, /configureUserDataSync: apiUrl is missing \(undefined\)/);
    assert.match(e.message, /apiUrl: process\.env\.EXPO_PUBLIC_API_URL/);
    assert.match(e.message, /EAS build profile/);
    return true;
  });
  assert.throws(() => configureUserDataSync({}), /apiUrl is missing/);
  assert.throws(() => configureUserDataSync({ apiUrl: '' }), /apiUrl is missing \(empty\)/);
  assert.throws(() => configureUserDataSync({ apiUrl: 'undefined' }), (e) => e.code === 'invalid_url');
  assert.throws(() => configureUserDataSync({ apiUrl: 'api.example.com' }), /must be an http:\/\/ or https:\/\/ URL/);
  assert.throws(() => configureUserDataSync({ apiUrl: 'http://a.test', socketUrl: 'nope' }), /socketUrl must be/);
  assert.deepEqual(pkg.getUserDataSyncConfig(), {}, 'a refused configuration is not kept');
  const cfg = configureUserDataSync({ apiUrl: 'https://app.example.com' });
  assert.equal(cfg.apiUrl, 'https://app.example.com');
  configureUserDataSync({ debounceMs: 100 }); // later calls merge with the apiUrl given before
  assert.equal(pkg.getUserDataSyncConfig().debounceMs, 100);
});

test('configure: the development fallback EXPO_PUBLIC_API_URL (read by the SDK itself) is still accepted', () => {
  process.env.EXPO_PUBLIC_API_URL = 'http://10.0.2.2:8080';
  const cfg = configureUserDataSync({ storage: null });
  assert.equal(cfg.apiUrl, undefined);
  const s = new UserDataSync('alice', { ...cfg, autoConnect: false, logger: {} });
  assert.equal(s.apiUrl, 'http://10.0.2.2:8080');
});

test('configure: the seed\'s placeholder URL is warned about', () => {
  const { lines, logger } = capture();
  configureUserDataSync({ apiUrl: 'https://your-api.com', logger });
  assert.match(lines[0], /placeholder/);
});

test('shared services: keyed by everything that matters (userId, apiUrl, token source, storage, timings)', () => {
  const base = { apiUrl: 'http://a.test', autoConnect: false, logger: {}, fetch: async () => { throw new Error('offline'); } };
  const tokA = async () => 'tok-alice';
  const tokB = async () => 'tok-alice';
  const s1 = acquireUserDataSync('alice', { ...base, getToken: tokA });
  const same = acquireUserDataSync('alice', { ...base, getToken: tokA });
  assert.equal(same, s1, 'the same options share the service');
  const others = [
    acquireUserDataSync('bob', { ...base, getToken: tokA }),
    acquireUserDataSync('alice', { ...base, getToken: tokA, apiUrl: 'http://b.test' }),
    acquireUserDataSync('alice', { ...base, getToken: tokB }),
    acquireUserDataSync('alice', { ...base, token: 'tok-alice' }),
    acquireUserDataSync('alice', { ...base, getToken: tokA, debounceMs: 50 }),
    acquireUserDataSync('alice', { ...base, getToken: tokA, socketOptions: { transports: ['websocket'] } }),
  ];
  assert.equal(new Set([s1, ...others]).size, 7, 'each different option set has its own service');
  assert.equal(others[1].apiUrl, 'http://b.test');
  assert.equal(acquireUserDataSync('alice', { ...base, getToken: tokA, logger: { warn() {} } }), s1, 'the logger does not matter');
  for (const s of [s1, same, ...others]) releaseUserDataSync(s);
});

test('shared services: two live services never own one stored queue — a clear error instead', () => {
  const storage = memoryStorage();
  const base = { apiUrl: 'http://a.test', autoConnect: false, logger: {}, storage, fetch: async () => { throw new Error('offline'); } };
  const s1 = acquireUserDataSync('alice', base);
  assert.throws(() => acquireUserDataSync('alice', { ...base, apiUrl: 'http://b.test' }), (e) => {
    assert.equal(e.code, 'conflicting_options');
    assert.match(e.message, /apiUrl, socketUrl differ/);
    assert.match(e.message, /storageKeyPrefix/);
    return true;
  });
  const own = acquireUserDataSync('alice', { ...base, apiUrl: 'http://b.test', storageKeyPrefix: '@b' });
  assert.notEqual(own, s1, 'with its own storageKeyPrefix it gets its own service');
  releaseUserDataSync(s1);
  releaseUserDataSync(own);
});

test('shared services: after the last release the next options take over the same storage (waiting for the old one)', async () => {
  const storage = memoryStorage();
  const server = new FakeServer();
  server.reachable = false;
  const base = { apiUrl: 'http://a.test', autoConnect: false, logger: {}, storage, fetch: server.fetch(), getToken: async () => 'tok-alice', debounceMs: 10 };
  const s1 = acquireUserDataSync('alice', base);
  await s1.updateUserStats({ xp: 2 });
  releaseUserDataSync(s1);
  const s2 = acquireUserDataSync('alice', { ...base, debounceMs: 20 });
  assert.notEqual(s2, s1);
  assert.equal(s1.destroyed, true, 'the old one is destroyed at once');
  await s2.start();
  assert.equal(s2.getState().pendingCount, 1, 'the new one found the old one\'s queue');
  assert.equal(s2.options.debounceMs, 20);
  releaseUserDataSync(s2);
});
