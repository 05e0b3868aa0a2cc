// demo_browser.test.js — the browser demo (demo/, served by the edge at
// /demo/) in Debian's headless chromium against the real system behind a real
// nginx edge: the page loads from the App URL, both devices connect with the
// vendored socket.io-client (and upgrade to websocket through the edge), an
// update on device A shows on device B with the new version, device B offline
// queues two updates that are applied exactly once when it is back (xp read
// through REST; a resend of an opId is answered as a duplicate and changes
// nothing), diamonds are earned, spent and refused below 0, and the presence
// count follows (2, 1 while B is offline, 2). A screenshot of the end state
// is kept in <build dir>/test-artifacts/demo.png (the path is printed).
// Also, without a browser: the edge's /demo/ location (types, headers, 404,
// methods, the renderer's STATSYNC_EDGE_DEMO_DIR), and the vendored client
// is byte for byte the file of the socket.io-client that tests/package.json
// pins. Skips the browser part, saying why, only when chromium cannot start.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { System, ROOT, waitFor } = require('../lib/system');
const { Edge, render, makeCert } = require('../lib/edge');
const { Browser, BrowserUnavailable } = require('../lib/browser');

const DEMO = path.join(ROOT, 'demo');
const VENDORED = path.join(DEMO, 'vendor', 'socket.io.min.js');
const PACKAGE_DIR = path.join(ROOT, 'tests', 'node_modules', 'socket.io-client');
const ARTIFACTS = path.join(process.env.STATSYNC_BIN_DIR || path.join(ROOT, 'build'), 'test-artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'demo.png');
const USER = 'demo-user';
const WAIT_MS = 15000;

let sys;
let edge;
let browser;
let noBrowser = '';
let tmp;

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statsync-demo-'));
  sys = await System.start({ gateways: 0 });
  // As run-local.sh: a tagged gateway that believes X-Forwarded-For from the edge.
  const gw = await sys.addGateway({ STATSYNC_ROUTE_TAG: 'g0', STATSYNC_TRUSTED_PROXIES: 'loopback' });
  edge = await Edge.start({ gateways: [{ tag: 'g0', gw }] });
  try {
    browser = await Browser.launch({ dir: tmp });
  } catch (e) {
    if (!(e instanceof BrowserUnavailable)) throw e;
    noBrowser = e.message;
  }
});

test.after(async () => {
  if (browser) await browser.close();
  if (edge) await edge.stop();
  if (sys) await sys.stop();
  if (tmp && !process.env.STATSYNC_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

test("the vendored client is the file of the socket.io-client tests/package.json pins", () => {
  const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'package.json'), 'utf8')).dependencies['socket.io-client'];
  const installed = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')).version;
  assert.equal(installed, pinned, 'tests/node_modules holds the pinned version (npm ci --prefix tests)');
  const vendored = fs.readFileSync(VENDORED);
  assert.ok(vendored.equals(fs.readFileSync(path.join(PACKAGE_DIR, 'dist', 'socket.io.min.js'))),
    `demo/vendor/socket.io.min.js differs from socket.io-client ${pinned}'s dist/socket.io.min.js: copy it again (demo/vendor/README.md)`);
  assert.match(vendored.toString('utf8', 0, 200), new RegExp(`Socket\\.IO v${pinned.replace(/\./g, '\\.')}\\b`));
  const readme = fs.readFileSync(path.join(DEMO, 'vendor', 'README.md'), 'utf8');
  assert.ok(readme.includes(`socket.io-client@${pinned}`), 'demo/vendor/README.md names the vendored version');
});

test('the edge serves the demo at /demo/: static files with their types, its own 404, GET only', async () => {
  const redirect = await edge.http('GET', '/demo');
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, '/demo/');
  const index = await edge.http('GET', '/demo/');
  assert.equal(index.status, 200);
  assert.match(index.headers['content-type'], /^text\/html; charset=utf-8$/);
  assert.equal(index.text, fs.readFileSync(path.join(DEMO, 'index.html'), 'utf8'));
  assert.match(index.headers['content-security-policy'], /script-src 'self'/);
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  assert.equal(index.headers['cache-control'], 'no-cache');
  const js = await edge.http('GET', '/demo/vendor/socket.io.min.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  assert.equal(js.text, fs.readFileSync(VENDORED, 'utf8'));
  assert.match((await edge.http('GET', '/demo/demo.css')).headers['content-type'], /^text\/css/);
  // a file that is not there: nginx's 404, no gateway asked
  const missing = await edge.http('GET', '/demo/nothing-here.js');
  assert.equal(missing.status, 404);
  assert.equal((await edge.http('POST', '/demo/', { body: {} })).status, 403);
  // nginx writes a request's log line after its answer: wait for all five
  const demoLines = () => edge.accessLog().filter((l) => l.path.startsWith('/demo/'));
  await waitFor('the five /demo/ lines in the access log', () => demoLines().length >= 5, 5000);
  const log = demoLines();
  assert.ok(log.every((l) => l.upstream === '' && (l.method !== 'GET' || l.route === 'demo')), JSON.stringify(log));
  // the rest of the App URL is the gateway's, as before
  assert.equal((await edge.http('GET', '/health')).status, 200);
});

test('render-nginx.sh: the demo location (HSTS repeated under TLS), STATSYNC_EDGE_DEMO_DIR off, bad values', () => {
  const base = { STATSYNC_EDGE_GATEWAYS: 'g0=127.0.0.1:3000:3001' };
  const on = render(base);
  assert.equal(on.status, 0, on.stderr);
  assert.ok(on.stdout.includes(`alias ${DEMO}/;`), 'the checkout\'s demo/ by default');
  // add_header in a location drops the server's: the demo repeats HSTS
  const { cert, key } = makeCert(tmp);
  const tls = render({ ...base, STATSYNC_EDGE_TLS_CERT: cert, STATSYNC_EDGE_TLS_KEY: key });
  assert.equal(tls.status, 0, tls.stderr);
  const demoLoc = tls.stdout.slice(tls.stdout.indexOf('location /demo/ {'));
  assert.match(demoLoc.slice(0, demoLoc.indexOf('\n        }')), /add_header Strict-Transport-Security "max-age=63072000" always;/);
  const off = render({ ...base, STATSYNC_EDGE_DEMO_DIR: 'off' });
  assert.equal(off.status, 0, off.stderr);
  assert.ok(!off.stdout.includes('/demo'), 'no demo location when off');
  for (const [dir, msg] of [['demo', /must be an absolute path or 'off'/], [tmp, /holds no index\.html/],
    ['/tmp/a b', /may only hold/]]) {
    const r = render({ ...base, STATSYNC_EDGE_DEMO_DIR: dir });
    assert.equal(r.status, 2, `${dir}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, msg);
  }
});

// ---- in the browser ----------------------------------------------------------

// In the page: a device's section, by id.
const dev = (id) => `document.querySelector('section[data-device=${id}]')`;

test('in headless chromium: two devices of one user, pushes with versions, offline queue, presence', { timeout: 120000 }, async (t) => {
  if (!browser) {
    t.skip(`chromium cannot be started, so the demo was not run in a browser: ${noBrowser}`);
    return;
  }
  t.diagnostic(`browser: ${browser.version}`);
  const failShot = path.join(ARTIFACTS, 'demo-failed.png');
  fs.rmSync(failShot, { force: true }); // the artifacts are this run's
  const page = await browser.newPage({ width: 1280, height: 1000 });
  const token = sys.token(USER);
  const ev = { event: 'demo:change', timeoutMs: WAIT_MS };
  // The page's own state, for failure messages.
  const state = () => page.evaluate(`JSON.stringify(['A', 'B'].map((id) => {
    const s = document.querySelector('section[data-device=' + id + ']');
    return s ? { ...s.dataset, ops: [...s.querySelectorAll('.ops li')].map((li) => li.textContent) } : null;
  }))`).catch((e) => `(no state: ${e.message})`);
  const rest = async () => {
    const r = await edge.http('GET', `/api/users/${USER}/stats`, { token });
    assert.equal(r.status, 200, r.text);
    return r.body;
  };
  try {
    await page.goto(`${edge.url}/demo/#token=${token}`);
    assert.equal(await page.evaluate("typeof io === 'function' && !!window.statsyncDemo"), true, 'the vendored client and demo.js loaded');

    // Both devices connect through the edge, upgrade to websocket, and show
    // the document presence:join answered (version 0: a new user).
    await page.waitFor('both devices connected over websocket with a document', () => ['A', 'B'].every((id) => {
      const s = document.querySelector(`section[data-device=${id}]`).dataset;
      return s.state === 'connected' && s.transport === 'websocket' && s.version === '0';
    }), ev);
    await page.waitFor('presence: 2 devices on both', () => ['A', 'B']
      .every((id) => document.querySelector(`section[data-device=${id}]`).dataset.devices === '2'), ev);

    // An update on A shows on B with the new version.
    await page.click(`section[data-device=A] button[data-action=xp]`);
    await page.waitFor('A\'s +10 xp on both devices as version 1', () => ['A', 'B'].every((id) => {
      const s = document.querySelector(`section[data-device=${id}]`).dataset;
      return s.version === '1' && s.xp === '10';
    }), ev);
    // The push and the ack are two frames (the gateway sends the room's push,
    // then the writer's ack): the op shows applied once the ack is read.
    await page.waitFor('A\'s op applied (its ack)', () =>
      document.querySelector('section[data-device=A] .ops li').dataset.state === 'applied', ev);
    assert.equal((await rest()).xp, 10);

    // B offline: two updates queue on B (nothing reaches the server), A sees 1 device.
    await page.click(`section[data-device=B] input[data-action=offline]`);
    await page.waitFor('B offline and A told 1 device', () =>
      document.querySelector('section[data-device=B]').dataset.state === 'offline'
      && document.querySelector('section[data-device=A]').dataset.devices === '1', ev);
    await page.click(`section[data-device=B] button[data-action=xp]`);
    await page.click(`section[data-device=B] button[data-action=xp]`);
    const queued = await page.waitFor('two updates queued on B', () => {
      const s = document.querySelector('section[data-device=B]');
      const ops = [...s.querySelectorAll('.ops li[data-state=queued]')].map((li) => li.dataset.opId);
      return s.dataset.pending === '2' && ops.length === 2 ? ops : null;
    }, ev);
    assert.equal(new Set(queued).size, 2, 'two opIds');
    let doc = await rest();
    assert.deepEqual([doc.xp, doc.version], [10, 1], 'nothing left B while offline');

    // B online: the queue goes out in order with the same opIds, each applied
    // once; A and B end at the same version.
    await page.click(`section[data-device=B] input[data-action=offline]`);
    await page.waitFor('B back online, its queue applied, both devices at version 3 with xp 30', () => {
      const b = document.querySelector('section[data-device=B]');
      return b.dataset.state === 'connected' && b.dataset.pending === '0'
        && ['A', 'B'].every((id) => {
          const s = document.querySelector(`section[data-device=${id}]`).dataset;
          return s.version === '3' && s.xp === '30';
        });
    }, ev);
    const after = await page.evaluate(`JSON.stringify([...${dev('B')}.querySelectorAll('.ops li')].map((li) => [li.dataset.opId, li.dataset.state]))`);
    for (const id of queued) assert.ok(JSON.parse(after).some(([o, st]) => o === id && st === 'applied'), `${id} applied: ${after}`);
    doc = await rest();
    assert.deepEqual([doc.xp, doc.version], [30, 3], 'each queued update applied exactly once');
    await page.waitFor('presence: 2 devices again', () => ['A', 'B']
      .every((id) => document.querySelector(`section[data-device=${id}]`).dataset.devices === '2'), ev);

    // Resending B's last opId: answered as a duplicate, nothing applied.
    await page.click(`section[data-device=B] button[data-action=resend]`);
    await page.waitFor('the resend answered as a duplicate', () =>
      document.querySelector('section[data-device=B] .ops li').dataset.duplicates === '1', ev);
    doc = await rest();
    assert.deepEqual([doc.xp, doc.version], [30, 3], 'a resent opId changes nothing');

    // Diamonds: earned on A, spent on B, a spend below 0 refused.
    await page.click(`section[data-device=A] button[data-action=earn]`);
    await page.waitFor('5 diamonds on B', () => document.querySelector('section[data-device=B]').dataset.diamonds === '5', ev);
    await page.click(`section[data-device=B] button[data-action=spend]`);
    await page.waitFor('2 diamonds on A after B spent 3', () => document.querySelector('section[data-device=A]').dataset.diamonds === '2', ev);
    await page.click(`section[data-device=A] button[data-action=spend]`);
    const refused = await page.waitFor('the spend below 0 refused', () => {
      const li = document.querySelector('section[data-device=A] .ops li');
      return li.dataset.state === 'refused' ? li.textContent : null;
    }, ev);
    assert.match(refused, /insufficient_funds/);
    doc = await rest();
    assert.deepEqual([doc.diamonds, doc.xp, doc.version], [2, 30, 5]);

    assert.deepEqual(page.errors, [], 'no uncaught exception in the page');
    const refusedByBrowser = page.log.filter((l) => /^error: /.test(l));
    assert.deepEqual(refusedByBrowser, [], 'the browser refused nothing (CSP, a missing file)');
  } catch (e) {
    await page.screenshot(failShot).catch(() => {});
    e.message += `\npage state: ${await state()}\nconsole: ${page.console.join('\n')}\nerrors: ${page.errors.join('\n')}`
      + `\nbrowser log: ${page.log.join('\n')}\nscreenshot: ${failShot}`;
    throw e;
  }
  await page.screenshot(SCREENSHOT);
  assert.ok(fs.statSync(SCREENSHOT).size > 10000, 'a real screenshot');
  t.diagnostic(`screenshot of the demo: ${SCREENSHOT}`);
  console.log(`demo screenshot: ${SCREENSHOT}`);
});
