// tests/lib/yaml.js — reads a YAML file for a test, with python3's yaml
// module (Debian python3-yaml: a dependency of docker-compose, which
// scripts/deps.sh test installs), so no YAML parser is written or vendored.
'use strict';

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');

const PY = 'import sys, json, yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), sys.stdout)';

function readYaml(file) {
  const r = spawnSync('python3', ['-c', PY, file], { encoding: 'utf8', timeout: 30000 });
  assert.ok(!r.error, `python3: ${r.error && r.error.message}`);
  assert.equal(r.status, 0, `python3 could not read ${file} (python3-yaml comes with docker-compose, `
    + `which scripts/deps.sh test installs):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

module.exports = { readYaml };
