'use strict';
// The package installs from the repository: `npm pack` ships what an app
// needs (and no tests), and the tarball installs and loads in a fresh app.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });

test('npm pack ships the sources, types and README, not the tests', () => {
  const [info] = JSON.parse(npm(['pack', '--dry-run', '--json', '--loglevel=error'], ROOT));
  const files = info.files.map((f) => f.path).sort();
  for (const f of ['index.js', 'index.d.ts', 'core.js', 'core.d.ts', 'README.md', 'package.json',
    'src/services/userDataSync.js', 'src/services/merge.js', 'src/services/backoff.js',
    'src/hooks/useUserDataSync.js', 'src/contexts/UserDataContext.js', 'src/components/EnhancedRealTimeStatsDemo.js']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  assert.ok(!files.some((f) => f.startsWith('test/')), 'tests are not shipped');
  const pkg = require('../package.json');
  assert.equal(pkg.dependencies['socket.io-client'], '4.8.1');
  assert.ok(pkg.peerDependencies.react);
});

test('the packed tarball installs into a fresh app and loads', { timeout: 180000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-rn-install-'));
  try {
    const [info] = JSON.parse(npm(['pack', '--json', '--loglevel=error', '--pack-destination', dir], ROOT));
    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(dir, info.filename)], app);
    const out = execFileSync(process.execPath, ['-e', `
      const p = require('@statsync/react-native');
      const core = require('@statsync/react-native/core');
      const s = new core.UserDataSync('alice', { apiUrl: 'http://127.0.0.1:9', autoConnect: false, logger: {} });
      console.log([typeof p.useUserDataSync, typeof p.UserDataProvider, typeof p.useUserData, typeof s.updateUserStats].join(','));
      console.log(require.resolve('socket.io-client/package.json').includes('node_modules'), require('socket.io-client/package.json').version);
    `], { cwd: app, encoding: 'utf8' });
    assert.equal(out.trim(), 'function,function,function,function\ntrue 4.8.1');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
