// The code's structure, kept true (issue 17): the folder layers of
// ARCHITECTURE.md hold for every #include and for every function a library
// calls, every C file is in a layer, and no function is over 60 lines.
//
// The layers are read from ARCHITECTURE.md's two tables ("| folder | may
// use |" and the gateway's "| layer (library) | folder | what it is | may use
// |"), so the document and the code cannot drift apart. The build already
// refuses an upward include by name (a folder's include directory is given
// only to the libraries above it); this test also sees a path
// ("../rooms/rooms.h"), an extern declaration (by the built libraries'
// symbols: STATSYNC_STRUCTURE_LIBS, set by tests/CMakeLists.txt), and a
// folder the tables forgot.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { functions, includes } = require('./cscan');

const ROOT = process.env.STATSYNC_STRUCTURE_ROOT || path.join(__dirname, '../..');
const SCOPE = ['common', 'gateway', 'stats-service', 'presence-service'];
const MAX_LINES = 60;
// Functions allowed past MAX_LINES ('file:function' -> why). Empty: every
// function of the scope is at most MAX_LINES lines.
const LONG_ALLOWED = new Map([]);

const rel = (p) => path.relative(ROOT, p).split(path.sep).join('/');

// Every .c / .h file below the scope's folders (repository-relative).
function cFiles() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.[ch]$/.test(e.name)) out.push(rel(p));
    }
  };
  for (const d of SCOPE) walk(path.join(ROOT, d));
  return out.sort();
}

// The layers of ARCHITECTURE.md: [{paths, uses}], a path a folder ("common",
// "gateway/core") or a file ("gateway/main.c"), uses the paths it may use.
function readLayers(doc) {
  const ticks = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\/$/, ''));
  const layers = [];
  for (const line of doc.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const first = ticks(cells[0] || '');
    if (cells.length === 2 && first.length === 1 && SCOPE.includes(first[0].split('/')[0])) {
      layers.push({ paths: first, uses: ticks(cells[1]), row: line });
    } else if (cells.length === 4 && ticks(cells[1]).some((t) => t.startsWith('gateway/'))) {
      const uses = cells[3].split(',').map((w) => w.trim()).filter(Boolean)
        .map((w) => (w === 'common' || w === 'all' ? w : `gateway/${w}`));
      layers.push({ paths: ticks(cells[1]), uses, row: line });
    }
  }
  return layers;
}

// The layer a file belongs to: the one naming its folder, or naming it (or
// the file of the same stem: shutdown.h goes with shutdown.c).
function layerOf(layers, file) {
  const dir = path.posix.dirname(file);
  const stem = file.replace(/\.[ch]$/, '');
  const byFolder = layers.findIndex((l) => l.paths.includes(dir));
  if (byFolder >= 0) return byFolder;
  return layers.findIndex((l) => l.paths.some((p) => p.replace(/\.[ch]$/, '') === stem));
}

// For each layer, the set of layers it may use (its own not included):
// what its row names and, transitively, what those use. Throws on a cycle
// or a name that is no layer.
function closures(layers) {
  const direct = layers.map((l) => {
    const out = new Set();
    for (const u of l.uses) {
      if (u === 'all') {
        layers.forEach((m, j) => {
          if (m !== l && m.paths.some((p) => p.startsWith('gateway/'))) out.add(j);
        });
        out.add(layers.findIndex((m) => m.paths.includes('common')));
        continue;
      }
      const j = layers.findIndex((m) => m.paths.includes(u));
      if (j < 0) throw new Error(`ARCHITECTURE.md: "${u}" (in ${l.row}) is no layer`);
      out.add(j);
    }
    return out;
  });
  const all = [];
  const visit = (i, trail) => {
    if (trail.includes(i)) {
      throw new Error(`ARCHITECTURE.md: layers use each other in a cycle: ${
        [...trail, i].map((k) => layers[k].paths[0]).join(' -> ')}`);
    }
    if (all[i]) return all[i];
    const out = new Set();
    for (const j of direct[i]) {
      out.add(j);
      for (const k of visit(j, [...trail, i])) out.add(k);
    }
    all[i] = out;
    return out;
  };
  layers.forEach((_, i) => visit(i, []));
  return all;
}

// The project header an #include names, or null (a system or generated
// header): relative to the including file first, as the compiler looks,
// then by name among the scope's headers (the include directories).
function resolve(file, inc, headers) {
  if (inc.quoted) {
    const near = path.posix.normalize(path.posix.join(path.posix.dirname(file), inc.name));
    if (fs.existsSync(path.join(ROOT, near))) return near;
  }
  if (inc.name.includes('/')) {
    for (const d of new Set(headers.values())) {
      const p = path.posix.normalize(path.posix.join(path.posix.dirname(d), inc.name));
      if (fs.existsSync(path.join(ROOT, p)) && !p.startsWith('..')) return p;
    }
    return null;
  }
  return headers.get(inc.name) || null;
}

// Violations of the layers by the #include lines of files.
function includeViolations(layers, files) {
  const may = closures(layers);
  const headers = new Map();
  for (const f of files.filter((x) => x.endsWith('.h'))) {
    const name = path.posix.basename(f);
    assert.ok(!headers.has(name), `two headers named ${name}: ${headers.get(name)}, ${f}`);
    headers.set(name, f);
  }
  const bad = [];
  for (const f of files) {
    const from = layerOf(layers, f);
    for (const inc of includes(fs.readFileSync(path.join(ROOT, f), 'utf8'))) {
      const target = resolve(f, inc, headers);
      if (target === null) continue;
      const to = layerOf(layers, target);
      if (to !== from && !may[from].has(to)) {
        bad.push(`${f}:${inc.line} includes ${target}: ${layers[from].paths[0]} may not use ` +
                 `${layers[to].paths[0]} (ARCHITECTURE.md)`);
      }
    }
  }
  return bad;
}

// nm's global symbols of a static library: {defined: Set, undefined: Set}.
function symbols(lib) {
  const list = (args) => execFileSync('nm', [...args, '--format=posix', lib], {
    encoding: 'utf8', maxBuffer: 64 << 20,
  }).split('\n').map((l) => l.split(' ')).filter((w) => w.length >= 2 && !w[0].endsWith(':'));
  return {
    defined: new Set(list(['-g', '--defined-only']).map((w) => w[0])),
    undefined: new Set(list(['-u']).filter((w) => w[1] === 'U').map((w) => w[0])),
  };
}

// Violations of the layers by the functions (and data) the libraries use:
// libs is [[layer path, library file]].
function callViolations(layers, libs) {
  const may = closures(layers);
  const owner = new Map(); // symbol -> layer defining it
  const syms = libs.map(([p, file]) => {
    const s = symbols(file);
    const i = layers.findIndex((l) => l.paths.includes(p));
    assert.ok(i >= 0, `${p} (STATSYNC_STRUCTURE_LIBS) is no layer of ARCHITECTURE.md`);
    for (const d of s.defined) owner.set(d, i);
    return [i, s];
  });
  const bad = [];
  for (const [i, s] of syms) {
    for (const u of s.undefined) {
      const to = owner.get(u);
      if (to !== undefined && to !== i && !may[i].has(to)) {
        bad.push(`${layers[i].paths[0]} uses ${u} of ${layers[to].paths[0]}, which it may not ` +
                 '(ARCHITECTURE.md)');
      }
    }
  }
  return bad;
}

function longFunctions(files) {
  const bad = [];
  for (const f of files) {
    for (const fn of functions(fs.readFileSync(path.join(ROOT, f), 'utf8'))) {
      if (fn.lines > MAX_LINES && !LONG_ALLOWED.has(`${f}:${fn.name}`)) {
        bad.push(`${f}:${fn.line} ${fn.name}() is ${fn.lines} lines (at most ${MAX_LINES}): ` +
                 'split it into named steps');
      }
    }
  }
  return bad;
}

const doc = fs.readFileSync(path.join(ROOT, 'ARCHITECTURE.md'), 'utf8');
const layers = readLayers(doc);
const files = cFiles();

test('ARCHITECTURE.md gives every C file a layer, and the layers no cycle', () => {
  assert.ok(layers.length >= 10, `the layer tables of ARCHITECTURE.md were read (${layers.length} rows)`);
  closures(layers); // throws on a cycle or an unknown name
  const homeless = files.filter((f) => layerOf(layers, f) < 0);
  assert.deepStrictEqual(homeless, [], 'files in no row of ARCHITECTURE.md\'s layer tables');
});

test('no #include goes to a folder the layers do not allow', () => {
  assert.deepStrictEqual(includeViolations(layers, files), []);
});

test('no library calls into a folder the layers do not allow', () => {
  const spec = process.env.STATSYNC_STRUCTURE_LIBS;
  assert.ok(spec, 'STATSYNC_STRUCTURE_LIBS names the built libraries (tests/CMakeLists.txt)');
  const libs = spec.split(',').map((e) => e.split('='));
  for (const [, file] of libs) assert.ok(fs.existsSync(file), `${file} is built`);
  assert.deepStrictEqual(callViolations(layers, libs), []);
});

test(`no function is over ${MAX_LINES} lines`, () => {
  assert.deepStrictEqual(longFunctions(files), []);
});

// The checker itself: each rule sees what it is for.
test('the checks fail on what they are for', () => {
  const body = (n) => Array.from({ length: n }, (_, i) => `    x += ${i}; /* { */`).join('\n');
  const src = `static int a[] = {1, 2};\nstruct s { int x; };\n` +
    `int f(int x)\n{\n${body(61)}\n}\nint g(void) { return "}"[0] + '{'; }\n` +
    `#define M(x) { x }\nstatic int h(void)\n{\n${body(60)}\n}\n`;
  assert.deepStrictEqual(functions(src).map((f) => [f.name, f.lines]),
    [['f', 61], ['g', -1], ['h', 60]]);
  const t = readLayers('| `common/` | — |\n| `gateway/x/` | `common/` |\n' +
    '| gw_y | `gateway/y/` | y | x |\n| gw_z | `gateway/z/` | z | y |\n');
  const may = closures(t);
  assert.ok(may[3].has(0) && may[3].has(1) && !may[1].has(2), 'transitive, and not upward');
  assert.throws(() => closures(readLayers('| a | `gateway/a/` | | b |\n| b | `gateway/b/` | | a |')),
    /cycle/);
  assert.deepStrictEqual(includes('#include "../rooms/rooms.h"\n # include <x.h>\n'),
    [{ name: '../rooms/rooms.h', quoted: true, line: 1 }, { name: 'x.h', quoted: false, line: 2 }]);
});
