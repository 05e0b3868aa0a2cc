'use strict';
// The package installs from the repository: `npm pack` ships what an app
// needs (and no tests), and the tarball installs into a fresh React Native /
// Expo-shaped app, where CommonJS require, ESM import, the react-native
// condition (what Metro resolves) and the types all resolve.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
const pkg = require('../package.json');

test('npm pack ships the sources, both entries, types and README, not the tests', () => {
  const [info] = JSON.parse(npm(['pack', '--dry-run', '--json', '--loglevel=error'], ROOT));
  const files = info.files.map((f) => f.path).sort();
  for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'core.js', 'core.mjs', 'core.d.ts', 'core.d.mts',
    'README.md', 'package.json',
    'src/services/userDataSync.js', 'src/services/merge.js', 'src/services/backoff.js', 'src/services/token.js',
    'src/optional/async-storage.js', 'src/optional/netinfo.js', 'src/optional/react-native.js',
    'src/hooks/useUserDataSync.js', 'src/contexts/UserDataContext.js', 'src/components/EnhancedRealTimeStatsDemo.js']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  assert.ok(!files.some((f) => f.startsWith('test/')), 'tests are not shipped');
  assert.equal(pkg.dependencies['socket.io-client'], '4.8.1');
});

test('package.json: exports map (react-native, import, require), sideEffects false, optional peers', () => {
  assert.equal(pkg.sideEffects, false);
  for (const [sub, base] of [['.', 'index'], ['./core', 'core']]) {
    const e = pkg.exports[sub];
    assert.deepEqual(Object.keys(e), ['react-native', 'import', 'require', 'default'], `${sub}: Metro takes the first condition it knows`);
    assert.deepEqual(e['react-native'], { types: `./${base}.d.ts`, default: `./${base}.js` });
    assert.deepEqual(e.import, { types: `./${base}.d.mts`, default: `./${base}.mjs` });
    assert.deepEqual(e.require, { types: `./${base}.d.ts`, default: `./${base}.js` });
    for (const c of Object.values(e)) for (const f of Object.values(c)) assert.ok(fs.existsSync(path.join(ROOT, f)), f);
  }
  assert.equal(pkg.exports['./package.json'], './package.json');
  for (const p of ['react', 'react-native', '@react-native-async-storage/async-storage', '@react-native-community/netinfo']) {
    assert.ok(pkg.peerDependencies[p], `${p} is a peer dependency`);
    assert.deepEqual(pkg.peerDependenciesMeta[p], { optional: true }, `${p} is optional`);
  }
});

test('the ESM entries export exactly what the CommonJS entries do, from the same module instance', async () => {
  const esm = await import(path.join(ROOT, 'index.mjs'));
  const esmCore = await import(path.join(ROOT, 'core.mjs'));
  const cjs = require('..');
  const names = (m) => Object.getOwnPropertyNames(m).filter((n) => n !== '__esModule' && n !== 'default').sort();
  assert.deepEqual(names(esm), names(cjs));
  assert.deepEqual(names(esmCore), names(require('../core')));
  assert.equal(esm.configureUserDataSync, cjs.configureUserDataSync, 'one registry and configuration');
  assert.equal(esm.default, cjs);
  assert.equal(typeof esm.EnhancedRealTimeStatsDemo, 'function');
});

// ---- a fresh app ------------------------------------------------------------

function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof text === 'string' ? text : `${JSON.stringify(text, null, 2)}\n`);
}

// Stand-ins for the native packages an Expo app has (they cannot run in
// node): the same module shapes and type declarations.
function stubPackages(dir) {
  write(path.join(dir, 'react-native/package.json'), { name: 'react-native', version: '0.76.0', main: 'index.js', types: 'index.d.ts' });
  write(path.join(dir, 'react-native/index.js'), fs.readFileSync(path.join(__dirname, 'support/react-native.js'), 'utf8'));
  write(path.join(dir, 'react-native/index.d.ts'), `
export declare const AppState: { currentState: string; addEventListener(type: 'change', fn: (s: string) => void): { remove(): void } };
export declare const View: any; export declare const Text: any;\n`);
  write(path.join(dir, 'async-storage/package.json'), { name: '@react-native-async-storage/async-storage', version: '1.23.1', main: 'index.js', types: 'index.d.ts' });
  write(path.join(dir, 'async-storage/index.js'), `'use strict';
const m = new Map();
const AsyncStorage = { getItem: async (k) => (m.has(k) ? m.get(k) : null), setItem: async (k, v) => { m.set(k, String(v)); }, removeItem: async (k) => { m.delete(k); } };
Object.defineProperty(exports, '__esModule', { value: true });
exports.default = AsyncStorage;\n`);
  write(path.join(dir, 'async-storage/index.d.ts'), `declare const AsyncStorage: { getItem(k: string): Promise<string | null>; setItem(k: string, v: string): Promise<void>; removeItem(k: string): Promise<void> };
export default AsyncStorage;\n`);
  write(path.join(dir, 'netinfo/package.json'), { name: '@react-native-community/netinfo', version: '11.4.1', main: 'index.js', types: 'index.d.ts' });
  write(path.join(dir, 'netinfo/index.js'), `'use strict';
const NetInfo = { addEventListener: () => () => {}, fetch: async () => ({ isConnected: true, isInternetReachable: true }) };
Object.defineProperty(exports, '__esModule', { value: true });
exports.default = NetInfo;\n`);
  write(path.join(dir, 'netinfo/index.d.ts'), `export interface NetInfoState { isConnected: boolean | null; isInternetReachable: boolean | null }
declare const NetInfo: { addEventListener(fn: (s: NetInfoState) => void): () => void; fetch(): Promise<NetInfoState> };
export default NetInfo;\n`);
}

const APP_TSX = `import React from 'react';
import { AppState, Text } from 'react-native';
import AsyncStorage from '@react-native-async-storage/async-storage';
import NetInfo from '@react-native-community/netinfo';
import { configureUserDataSync, UserDataProvider, useUserData, type TokenRequest } from '@statsync/react-native';
import { createUserDataSync } from '@statsync/react-native/core';

configureUserDataSync({
  apiUrl: process.env.EXPO_PUBLIC_API_URL,
  storage: AsyncStorage,
  netInfo: NetInfo,
  appState: AppState,
  getToken: ({ forceRefresh }: TokenRequest) => (forceRefresh ? AsyncStorage.getItem('auth.token') : AsyncStorage.getItem('auth.token')),
});

function Status() {
  const { stats, connected, connectionError, pendingCount, lastSyncedAt, signOut } = useUserData();
  const xp: number = stats?.xp ?? 0;
  // @ts-expect-error the types are the package's own (not any): xp is a number
  const wrong: string = stats?.xp;
  void signOut({ flush: true });
  return <Text>{xp} {String(connected)} {connectionError?.code} {pendingCount} {lastSyncedAt} {wrong}</Text>;
}

export default function App({ userId }: { userId: string }) {
  return <UserDataProvider userId={userId}><Status /></UserDataProvider>;
}

export const s = createUserDataSync('alice', { apiUrl: 'https://app.example.com' });
// @ts-expect-error apiUrl is a string
configureUserDataSync({ apiUrl: 42 });
`;

test('the packed tarball installs into a fresh Expo-shaped app: require, import, the react-native condition and the types resolve', { timeout: 240000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-rn-install-'));
  try {
    const [info] = JSON.parse(npm(['pack', '--json', '--loglevel=error', '--pack-destination', dir], ROOT));
    stubPackages(path.join(dir, 'stubs'));
    const app = path.join(dir, 'app');
    write(path.join(app, 'package.json'), {
      name: 'app', version: '1.0.0', private: true, main: 'expo-router/entry',
      dependencies: {
        '@statsync/react-native': `file:../${info.filename}`,
        react: '18.3.1',
        'react-native': 'file:../stubs/react-native',
        '@react-native-async-storage/async-storage': 'file:../stubs/async-storage',
        '@react-native-community/netinfo': 'file:../stubs/netinfo',
      },
      devDependencies: { '@types/react': '18.3.8' },
    });
    write(path.join(app, 'app.json'), { expo: { name: 'app', slug: 'app' } });
    write(path.join(app, 'babel.config.js'), "module.exports = (api) => { api.cache(true); return { presets: ['babel-preset-expo'] }; };\n");
    write(path.join(app, '.env'), 'EXPO_PUBLIC_API_URL=http://10.0.2.2:8080\n');
    write(path.join(app, 'App.tsx'), APP_TSX);
    write(path.join(app, 'expo-env.d.ts'), 'declare const process: { env: Record<string, string | undefined> };\n');
    // React Native's / Expo's TypeScript settings: bundler resolution with the react-native condition.
    write(path.join(app, 'tsconfig.json'), {
      compilerOptions: {
        strict: true, noEmit: true, jsx: 'react-native', module: 'esnext', moduleResolution: 'bundler',
        customConditions: ['react-native'], target: 'esnext', lib: ['esnext', 'dom'], esModuleInterop: true,
        allowSyntheticDefaultImports: true, skipLibCheck: false, types: [],
      },
      files: ['App.tsx', 'expo-env.d.ts'],
    });
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--install-links'], app);

    const node = (args, extra = {}) => execFileSync(process.execPath, args, { cwd: app, encoding: 'utf8', ...extra }).trim();
    const installed = path.join(app, 'node_modules/@statsync/react-native');
    assert.ok(!fs.existsSync(path.join(installed, 'test')), 'no tests installed');
    assert.ok(!fs.existsSync(path.join(app, 'node_modules/react-test-renderer')), 'dev dependencies not installed');

    // CommonJS, with the installed optional peers used automatically.
    const cjs = JSON.parse(node(['-e', `
      const p = require('@statsync/react-native');
      const core = require('@statsync/react-native/core');
      const warnings = [];
      const s = new core.UserDataSync('alice', { apiUrl: 'http://127.0.0.1:9', autoConnect: false, getToken: async () => 't', logger: { warn: (m) => warnings.push(m) } });
      console.log(JSON.stringify({
        main: require.resolve('@statsync/react-native'), core: require.resolve('@statsync/react-native/core'),
        kinds: [typeof p.useUserDataSync, typeof p.UserDataProvider, typeof p.useUserData, typeof p.configureUserDataSync, typeof s.updateUserStats],
        storage: s.options.storage === require('@react-native-async-storage/async-storage').default,
        netInfo: s.options.netInfo === require('@react-native-community/netinfo').default,
        appState: s.options.appState === require('react-native').AppState,
        warnings, sio: require(require.resolve('socket.io-client/package.json', { paths: [require.resolve('@statsync/react-native')] })).version,
      }));
    `]));
    assert.equal(path.relative(installed, cjs.main), 'index.js');
    assert.equal(path.relative(installed, cjs.core), 'core.js');
    assert.deepEqual(cjs.kinds, ['function', 'function', 'function', 'function', 'function']);
    assert.deepEqual([cjs.storage, cjs.netInfo, cjs.appState], [true, true, true], 'AsyncStorage, NetInfo, AppState found');
    assert.deepEqual(cjs.warnings, [], 'nothing missing, nothing warned');
    assert.equal(cjs.sio, '4.8.1');

    // ESM: named imports from the .mjs wrapper, the same instance as require().
    write(path.join(app, 'check.mjs'), `
      import { createRequire } from 'node:module';
      import { configureUserDataSync, UserDataProvider, EnhancedRealTimeStatsDemo } from '@statsync/react-native';
      import sync, { createUserDataSync } from '@statsync/react-native/core';
      const require = createRequire(import.meta.url);
      console.log(JSON.stringify({
        main: import.meta.resolve('@statsync/react-native'), core: import.meta.resolve('@statsync/react-native/core'),
        same: configureUserDataSync === require('@statsync/react-native').configureUserDataSync,
        kinds: [typeof UserDataProvider, typeof EnhancedRealTimeStatsDemo, typeof createUserDataSync, typeof sync.UserDataSync],
      }));
    `);
    const esm = JSON.parse(node(['check.mjs']));
    assert.match(esm.main, /node_modules\/@statsync\/react-native\/index\.mjs$/);
    assert.match(esm.core, /node_modules\/@statsync\/react-native\/core\.mjs$/);
    assert.equal(esm.same, true, 'ESM and CommonJS share one module instance');
    assert.deepEqual(esm.kinds, ['function', 'function', 'function', 'function']);

    // The react-native condition (what Metro resolves first): the CommonJS entry, for import and require.
    const rn = node(['--conditions=react-native', '--input-type=module', '-e', `
      import { createRequire } from 'node:module';
      const require = createRequire(process.cwd() + '/');
      console.log(import.meta.resolve('@statsync/react-native'), require.resolve('@statsync/react-native/core'));
    `]).split(' ');
    assert.match(rn[0], /react-native\/index\.js$/);
    assert.match(rn[1], /react-native\/core\.js$/);

    // Types: strict tsc with Expo's / React Native's resolution (bundler + react-native condition)...
    const tsc = require.resolve('typescript/bin/tsc');
    const runTsc = (project) => {
      try { execFileSync(process.execPath, [tsc, '-p', project], { cwd: app, encoding: 'utf8', stdio: 'pipe' }); } catch (err) {
        assert.fail(`tsc -p ${project} failed:\n${err.stdout}${err.stderr}`);
      }
    };
    runTsc('tsconfig.json');
    // ...and node16 resolution, where import takes index.d.mts and require index.d.ts.
    write(path.join(app, 'esm.mts'), `import { configureUserDataSync, type SyncState } from '@statsync/react-native';
import core from '@statsync/react-native/core';
const st: SyncState | null = null;
configureUserDataSync({ apiUrl: 'https://app.example.com' });
export const n: number = core.HEARTS_MAX + (st ? 1 : 0);
// @ts-expect-error typed, not any
export const bad: string = core.HEARTS_MAX;
`);
    write(path.join(app, 'cjs.cts'), `import sdk = require('@statsync/react-native');
import core = require('@statsync/react-native/core');
export const f: typeof sdk.useUserDataSync = sdk.useUserDataSync;
export const ok: boolean = core.isValidUserId('auth0|5f7c');
// @ts-expect-error typed, not any
export const bad: string = core.isValidUserId('x');
`);
    write(path.join(app, 'tsconfig.node16.json'), {
      compilerOptions: { strict: true, noEmit: true, module: 'node16', moduleResolution: 'node16', target: 'es2022', lib: ['es2022', 'dom'], skipLibCheck: false, types: [] },
      files: ['esm.mts', 'cjs.cts'],
    });
    runTsc('tsconfig.node16.json');
    const trace = execFileSync(process.execPath, [tsc, '-p', 'tsconfig.node16.json', '--traceResolution'], { cwd: app, encoding: 'utf8' });
    assert.match(trace, /'@statsync\/react-native' was successfully resolved to '[^']*@statsync\/react-native\/index\.d\.mts'/);
    assert.match(trace, /'@statsync\/react-native' was successfully resolved to '[^']*@statsync\/react-native\/index\.d\.ts'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
