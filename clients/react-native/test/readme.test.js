'use strict';
// The README's usage examples are the seed's, unchanged, and they work with
// this package: every example block is taken from README.md, compiled (JSX)
// with TypeScript's transpiler, and run against the package with a fake
// server. The app set-up files shown in the README are used as written.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');
const { React, TestRenderer, act, texts, waitFor, STUB } = require('./support/react');
const { FakeServer, fakeNetInfo, silentLogger } = require('./support/fakes');
const pkg = require('..');

const ROOT = path.resolve(__dirname, '..');
const REPO = path.resolve(ROOT, '../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function blocks(kind) {
  const out = {};
  const re = new RegExp(`<!-- ${kind}: ([^ ]+) -->\\n\`\`\`(\\w*)\\n([\\s\\S]*?)\`\`\``, 'g');
  let m;
  while ((m = re.exec(README))) out[m[1]] = { lang: m[2], code: m[3], fenced: `\`\`\`${m[2]}\n${m[3]}\`\`\`` };
  return out;
}
const EXAMPLES = blocks('seed-example');
const APP_FILES = blocks('app-file');

function seedText() {
  const dirs = [process.env.STATSYNC_SEED_DIR, path.resolve(REPO, '../shared/seed')].filter(Boolean);
  for (const d of dirs) {
    if (!fs.existsSync(d)) continue;
    return fs.readdirSync(d).map((f) => fs.readFileSync(path.join(d, f), 'utf8')).join('\n');
  }
  return null;
}

// ---- a tiny module system for the README's code --------------------------

function compile(code, name) {
  const out = ts.transpileModule(code, {
    fileName: `${name}.jsx`,
    compilerOptions: {
      jsx: ts.JsxEmit.ReactJSX,
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2020,
      esModuleInterop: true,
      allowJs: true,
    },
    reportDiagnostics: true,
  });
  const errs = (out.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  assert.equal(errs.length, 0, `${name} does not compile: ${errs.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
  return out.outputText;
}

function makeWorld(server) {
  const asyncStorage = new Map([['auth.token', 'tok-alice']]);
  const AsyncStorage = {
    getItem: async (k) => (asyncStorage.has(k) ? asyncStorage.get(k) : null),
    setItem: async (k, v) => { asyncStorage.set(k, String(v)); },
    removeItem: async (k) => { asyncStorage.delete(k); },
  };
  const NetInfo = fakeNetInfo();
  const io = server.io();
  const modules = new Map();
  const virtual = {
    react: () => require('react'),
    'react/jsx-runtime': () => require('react/jsx-runtime'),
    'react-native': () => require(STUB),
    '@statsync/react-native': () => pkg,
    '@react-native-async-storage/async-storage': () => ({ __esModule: true, default: AsyncStorage }),
    '@react-native-community/netinfo': () => ({ __esModule: true, default: NetInfo }),
  };
  const aliases = {
    '../contexts/UserDataContext': 'src/contexts/UserDataContext.js',
    './src/contexts/UserDataContext': 'src/contexts/UserDataContext.js',
    '../hooks/useUserDataSync': 'src/hooks/useUserDataSync.js',
    '../components/EnhancedRealTimeStatsDemo': 'src/components/EnhancedRealTimeStatsDemo.js',
    './src/screens/GameScreen': 'screens',
  };
  const world = { AsyncStorage, NetInfo, io, modules, captured: {} };
  const req = (spec) => {
    if (virtual[spec]) return virtual[spec]();
    const key = aliases[spec] || spec;
    if (modules.has(key)) return modules.get(key);
    if (APP_FILES[key]) return world.load(key, APP_FILES[key].code);
    throw new Error(`README code imports unknown module ${spec}`);
  };
  world.load = (key, code, extra = {}) => {
    const js = compile(code, key);
    const module = { exports: {} };
    modules.set(key, module.exports);
    const names = Object.keys(extra);
    // eslint-disable-next-line no-new-func
    new Function('require', 'module', 'exports', ...names, js)(req, module, module.exports, ...names.map((n) => extra[n]));
    modules.set(key, module.exports);
    return module.exports;
  };
  world.require = req;
  return world;
}

const defaultOf = (m) => (m && m.__esModule ? m.default : m);

test.afterEach(async () => {
  await pkg.resetUserDataSyncRegistry();
  delete process.env.EXPO_PUBLIC_API_URL;
  delete process.env.EXPO_PUBLIC_SOCKET_URL;
});

test('README: every usage example is in the seed, byte for byte', (t) => {
  const names = Object.keys(EXAMPLES);
  assert.deepEqual(names.sort(), ['advanced', 'basic', 'config', 'debounce', 'deltas', 'demo', 'hook', 'offline', 'reconnect']);
  const seed = seedText();
  if (!seed) { t.skip('the seed (../shared/seed beside the repository, or STATSYNC_SEED_DIR) is not here'); return; }
  for (const n of names) assert.ok(seed.includes(EXAMPLES[n].fenced), `README example "${n}" differs from the seed`);
});

test('README: configuration from EXPO_PUBLIC_API_URL / EXPO_PUBLIC_SOCKET_URL', async () => {
  process.env.EXPO_PUBLIC_API_URL = 'http://api.example:3000';
  process.env.EXPO_PUBLIC_SOCKET_URL = 'http://socket.example:3001';
  const server = new FakeServer();
  const world = makeWorld(server);
  const urls = world.load('config', `${EXAMPLES.config.code}\nexport { API_BASE, SOCKET_URL };`);
  const s = new pkg.UserDataSync('alice', { logger: silentLogger });
  assert.equal(s.apiUrl, urls.API_BASE);
  assert.equal(s.socketUrl, urls.SOCKET_URL);
  delete process.env.EXPO_PUBLIC_SOCKET_URL;
  const s2 = new pkg.UserDataSync('alice', { logger: silentLogger });
  assert.equal(s2.socketUrl, 'http://api.example:3000', 'the socket URL falls back to the API URL, as in the seed');
  delete process.env.EXPO_PUBLIC_API_URL;
  assert.throws(() => new pkg.UserDataSync('alice', { logger: silentLogger }), /EXPO_PUBLIC_API_URL/);
});

// The README's App.js with the seed's screens in it.
async function renderApp(server) {
  const world = makeWorld(server);
  const basic = world.load('basic', `import { View, Text } from 'react-native';\n${EXAMPLES.basic.code}\nexport default MyScreen;`);
  const advanced = world.load('advanced', `import { useUserData } from '../contexts/UserDataContext';\n${EXAMPLES.advanced.code}\nexport default GameScreen;`);
  const demoModule = world.load('demo', `${EXAMPLES.demo.code}\nexport default EnhancedRealTimeStatsDemo;`);
  const { useUserData } = world.require('../contexts/UserDataContext');
  function Capture() { world.captured.ctx = useUserData(); return null; }
  world.modules.set('screens', {
    __esModule: true,
    default: () => React.createElement(React.Fragment, null,
      React.createElement(defaultOf(basic)), React.createElement(defaultOf(advanced)),
      React.createElement(defaultOf(demoModule)), React.createElement(Capture)),
  });
  process.env.EXPO_PUBLIC_API_URL = 'http://api.test';
  process.env.EXPO_PUBLIC_SOCKET_URL = 'http://socket.test';
  const App = defaultOf(world.require('App.js'));
  // What the README's App.js configured, plus the fake network for this test.
  const cfg = pkg.getUserDataSyncConfig();
  assert.equal(cfg.storage, world.AsyncStorage);
  assert.equal(cfg.netInfo, world.NetInfo);
  assert.equal(cfg.appState, require(STUB).AppState);
  pkg.configureUserDataSync({ fetch: server.fetch(), io: world.io, logger: silentLogger, presencePingIntervalMs: 0 });
  let r;
  await act(async () => { r = TestRenderer.create(React.createElement(App, { userId: 'alice' })); });
  return { world, r };
}

test('README: App set-up with the seed\'s screens — Basic usage renders XP and Hearts, next to the Advanced screen and the demo', async () => {
  const server = new FakeServer();
  server.apply('alice', { xp: 150, hearts: -2 }, 'x', 'rest');
  const { r, world } = await renderApp(server);
  await waitFor('screen', () => texts(r).includes('XP: 150'));
  assert.ok(texts(r).includes('Hearts: 3'));
  assert.equal(typeof world.captured.ctx.stats, 'object');
  assert.equal(world.captured.ctx.stats.xp, 150);
  assert.ok(r.root.findAllByProps({ testID: 'statsync-demo' }).length === 1, 'the demo renders in the same tree');
  await act(async () => { r.unmount(); });
});

test('README: Basic usage shows the error string', async () => {
  const server = new FakeServer();
  server.reachable = false;
  const { r } = await renderApp(server);
  await waitFor('error text', () => texts(r).some((x) => x.startsWith('Error: statsync: pull failed')));
  await act(async () => { r.unmount(); });
});

test('README: Delta updates (increments, __set, mixed) reach the server with the sequential result', async () => {
  const server = new FakeServer();
  const { r, world } = await renderApp(server);
  await waitFor('loaded', () => texts(r).includes('XP: 0'));
  await act(async () => { await world.io.sockets[0].serverConnect(); });
  const { updateUserStats, flushQueue } = world.captured.ctx;
  await act(async () => {
    await world.load('deltas-run', `export default async function run(updateUserStats) {\n${EXAMPLES.deltas.code}\n}`).default(updateUserStats);
  });
  assert.ok(texts(r).includes('XP: 160'), 'optimistic');
  await act(async () => { await flushQueue(); });
  const doc = server.doc('alice');
  assert.deepEqual({ xp: doc.xp, hearts: doc.hearts, diamonds: doc.diamonds, streak: doc.streak, level: doc.level },
    { xp: 160, hearts: 5, diamonds: 15, streak: 0, level: 2 });
  await act(async () => { r.unmount(); });
});

test('README: Debounced updates — the three calls are one request', async () => {
  const server = new FakeServer();
  const { r, world } = await renderApp(server);
  await waitFor('loaded', () => texts(r).includes('XP: 0'));
  await act(async () => { await world.io.sockets[0].serverConnect(); });
  const { updateUserStats } = world.captured.ctx;
  await act(async () => {
    world.load('debounce-run', `export default function run(updateUserStats) {\n${EXAMPLES.debounce.code}\n}`).default(updateUserStats);
  });
  await waitFor('sent after the 600 ms window', () => server.requests.length === 1, 3000);
  assert.deepEqual(server.requests[0].delta, { xp: 10, diamonds: 1, streak: 1 });
  await act(async () => { r.unmount(); });
});

test('README: Offline queue — queued while offline, flushed when NetInfo says online', async () => {
  const server = new FakeServer();
  const { r, world } = await renderApp(server);
  await waitFor('loaded', () => texts(r).includes('XP: 0'));
  server.reachable = false;
  world.NetInfo.set({ isConnected: false, isInternetReachable: false });
  const { updateUserStats } = world.captured.ctx;
  await act(async () => {
    await world.load('offline-run', `export default async function run(updateUserStats) {\n${EXAMPLES.offline.code}\n}`).default(updateUserStats);
  });
  assert.equal(world.captured.ctx.pendingCount, 1, 'queued');
  assert.ok(texts(r).includes('XP: 10'));
  await new Promise((res) => setTimeout(res, 700));
  assert.equal(server.requests.length, 0);
  server.reachable = true;
  await act(async () => { world.NetInfo.set({ isConnected: true, isInternetReachable: true }); });
  await waitFor('flushed', () => server.doc('alice').xp === 10 && world.captured.ctx.pendingCount === 0);
  await act(async () => { r.unmount(); });
});

test('README: the hook line works in a component', async () => {
  const server = new FakeServer();
  const world = makeWorld(server);
  const mod = world.load('hook', `import useUserDataSync from '../hooks/useUserDataSync';
export default function Screen({ userId, out }) {
${EXAMPLES.hook.code}
  Object.assign(out, { userData, updateUserStats, forcePull, flushQueue, loading, error });
  return null;
}`);
  const out = {};
  pkg.configureUserDataSync({
    apiUrl: 'http://api.test', socketUrl: 'http://socket.test', getToken: async () => 'tok-alice',
    fetch: server.fetch(), io: world.io, logger: silentLogger, presencePingIntervalMs: 0,
  });
  let r;
  await act(async () => { r = TestRenderer.create(React.createElement(defaultOf(mod), { userId: 'alice', out })); });
  await waitFor('loaded', () => out.loading === false && out.userData);
  assert.equal(out.error, null);
  for (const f of ['updateUserStats', 'forcePull', 'flushQueue']) assert.equal(typeof out[f], 'function');
  await act(async () => { await out.updateUserStats({ xp: 1 }); await out.flushQueue(); });
  assert.equal(server.doc('alice').xp, 1);
  assert.equal((await out.forcePull()).xp, 1);
  await act(async () => { r.unmount(); });
});

test('README: Auto-reconnect — the seed\'s settings are what socket.io-client gets', async () => {
  const server = new FakeServer();
  const world = makeWorld(server);
  const settings = world.load('reconnect', `export default {\n${EXAMPLES.reconnect.code}\n};`).default;
  assert.deepEqual(settings, { reconnectionDelay: 500, reconnectionDelayMax: 5000, reconnectionAttempts: Infinity });
  const s = new pkg.UserDataSync('alice', { apiUrl: 'http://api.test', io: world.io, fetch: server.fetch(), logger: silentLogger, getToken: async () => 'tok-alice' });
  await s.start();
  const opts = world.io.sockets[0].opts;
  for (const k of Object.keys(settings)) assert.equal(opts[k], settings[k], k);
  await s.destroy();
});

// ---- an Expo release build ----------------------------------------------------
// babel-preset-expo replaces process.env.EXPO_PUBLIC_* by its value in the
// app's own code at build time, and leaves node_modules alone: in a release
// build the SDK's own process.env has nothing. The README's App.js must work
// like that, and fail clearly when the variable was not set for the build.

function inlineExpoEnv(code, value) {
  return code.replace(/process\.env\.EXPO_PUBLIC_API_URL/g, value === undefined ? 'undefined' : JSON.stringify(value));
}

test('README: App.js passes apiUrl explicitly, from EXPO_PUBLIC_API_URL written in the app\'s own code', () => {
  assert.match(APP_FILES['App.js'].code, /configureUserDataSync\(\{\n\s+\/\/[^\n]*\n\s+\/\/[^\n]*\n\s+apiUrl: process\.env\.EXPO_PUBLIC_API_URL,/);
  assert.match(README, /### Why apiUrl is passed explicitly/);
});

test('README: App.js as an Expo release build inlines it — the SDK never reads the env, and the app works', async () => {
  delete process.env.EXPO_PUBLIC_API_URL;
  delete process.env.EXPO_PUBLIC_SOCKET_URL;
  const server = new FakeServer();
  server.apply('alice', { xp: 33 }, 'x', 'rest');
  const world = makeWorld(server);
  const basic = world.load('basic', `import { View, Text } from 'react-native';\n${EXAMPLES.basic.code}\nexport default MyScreen;`);
  world.modules.set('screens', { __esModule: true, default: defaultOf(basic) });
  const App = defaultOf(world.load('App.js', inlineExpoEnv(APP_FILES['App.js'].code, 'http://api.test')));
  assert.equal(pkg.getUserDataSyncConfig().apiUrl, 'http://api.test');
  pkg.configureUserDataSync({ fetch: server.fetch(), io: world.io, logger: silentLogger, presencePingIntervalMs: 0 });
  let r;
  await act(async () => { r = TestRenderer.create(React.createElement(App, { userId: 'alice' })); });
  await waitFor('screen', () => texts(r).includes('XP: 33'));
  assert.equal(world.io.sockets[0].url, 'http://api.test', 'the socket goes to the App URL too');
  await act(async () => { r.unmount(); });
});

test('README: App.js built without EXPO_PUBLIC_API_URL fails at configure time with what to do', () => {
  delete process.env.EXPO_PUBLIC_API_URL;
  const world = makeWorld(new FakeServer());
  world.modules.set('screens', { __esModule: true, default: () => null });
  assert.throws(() => world.load('App.js', inlineExpoEnv(APP_FILES['App.js'].code, undefined)), (e) => {
    assert.equal(e.code, 'missing_api_url');
    assert.match(e.message, /apiUrl is missing \(undefined\).*EXPO_PUBLIC_API_URL.*build/s);
    return true;
  });
});

test('the SDK reads process.env only as the documented development fallback', () => {
  const files = [];
  const walk = (d) => {
    for (const f of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, f.name);
      if (f.isDirectory()) walk(p); else if (p.endsWith('.js')) files.push(p);
    }
  };
  walk(path.join(ROOT, 'src'));
  const uses = [];
  const code = (line) => line.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''"); // string literals out
  for (const f of files) {
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      if (/process\.env/.test(code(line)) && !/^\s*\/\//.test(line)) uses.push(`${path.relative(ROOT, f)}: ${line.trim()}`);
    }
  }
  assert.deepEqual(uses, [
    'src/services/userDataSync.js: try { return process.env.EXPO_PUBLIC_API_URL || undefined; } catch (_) { return undefined; }',
    'src/services/userDataSync.js: try { return process.env.EXPO_PUBLIC_SOCKET_URL || undefined; } catch (_) { return undefined; }',
  ], 'envApiUrl() / envSocketUrl() only');
});
