// The README's configuration table must list every STATSYNC_* setting that a
// binary documents in its --help (regenerate it with scripts/config-table.sh).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { bin } = require('../lib/system');

const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');

for (const name of ['statsync-gateway', 'statsync-stats', 'statsync-presence']) {
  test(`README documents every setting of ${name}`, () => {
    const help = execFileSync(bin(name), ['--help'], { encoding: 'utf8' });
    const vars = [...new Set(help.match(/STATSYNC_[A-Z0-9_]+/g) || [])];
    assert.ok(vars.length > 2, `${name} --help lists its settings`);
    const missing = vars.filter((v) => !readme.includes(`\`${v}\``));
    assert.deepStrictEqual(missing, [], `README.md lacks ${missing.join(', ')}; run scripts/config-table.sh`);
  });
}
