'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

test('types: index.d.ts / core.d.ts compile and describe the seed usage (tsc --strict)', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`);
  }
});

test('types: every runtime export is declared', () => {
  const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8') + fs.readFileSync(path.join(ROOT, 'core.d.ts'), 'utf8');
  const names = Object.getOwnPropertyNames(require('..')).filter((n) => n !== '__esModule');
  assert.ok(names.includes('EnhancedRealTimeStatsDemo'));
  for (const n of names) {
    assert.match(dts, new RegExp(`export (declare )?(function|class|const) ${n}\\b`), `${n} has no declaration`);
  }
  const core = Object.keys(require('../core'));
  for (const n of core) assert.match(dts, new RegExp(`export (function|class|const) ${n}\\b`), `core ${n}`);
});
