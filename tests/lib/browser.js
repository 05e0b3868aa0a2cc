// tests/lib/browser.js — Debian's chromium, headless, driven over the Chrome
// DevTools Protocol on a pipe (--remote-debugging-pipe: commands on fd 3,
// answers and events on fd 4, each a JSON text ended by a NUL byte). No npm
// package: node's child_process is the whole client.
//
//   const { Browser } = require('../lib/browser');
//   const b = await Browser.launch({ dir });      // throws BrowserUnavailable
//   const page = await b.newPage({ width: 1280, height: 1000 });
//   await page.goto('http://127.0.0.1:8080/demo/');
//   await page.waitFor('both connected', () => …, { event: 'demo:change' });
//   await page.click('button.x');
//   await page.screenshot('/path/shot.png');
//   await b.close();
//
// chromium runs in its own process group, with its profile in dir; close() and
// test-process exit end it and its children. Every wait is bounded.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const live = new Set();
process.on('exit', () => {
  for (const pid of live) {
    try { process.kill(-pid, 'SIGKILL'); } catch (_) { /* already gone */ }
  }
});

// chromium is missing or would not start: a test may skip, saying why.
class BrowserUnavailable extends Error {}

function findChromium() {
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/bin'])) {
    for (const name of ['chromium', 'chromium-browser']) {
      const p = path.join(dir || '.', name);
      try { fs.accessSync(p, fs.constants.X_OK); return p; } catch (_) { /* next */ }
    }
  }
  return null;
}

class Browser {
  static async launch({ dir, startMs = 30000 } = {}) {
    const bin = findChromium();
    if (!bin) throw new BrowserUnavailable('chromium is not installed (Debian: apt-get install chromium; scripts/deps.sh test does)');
    const b = new Browser(bin, dir);
    try {
      await b._start(startMs);
    } catch (e) {
      const log = b.log().slice(-2000);
      await b.close({ now: true }).catch(() => {});
      throw new BrowserUnavailable(`chromium (${bin}) did not start: ${e.message}${log ? `\n${log}` : ''}`);
    }
    return b;
  }

  constructor(bin, dir) {
    this.bin = bin;
    this.dir = fs.mkdtempSync(path.join(dir, 'chromium-'));
    this.logFile = path.join(this.dir, 'chromium.log');
    this.nextId = 1;
    this.waiting = new Map(); // id -> {resolve, reject, method}
    this.listeners = new Set(); // fn(msg) for every event
    this.buf = '';
  }

  async _start(startMs) {
    const args = [
      '--headless', '--remote-debugging-pipe', `--user-data-dir=${path.join(this.dir, 'profile')}`,
      '--no-first-run', '--no-default-browser-check', '--disable-gpu', '--disable-extensions',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--password-store=basic', '--mute-audio', '--hide-scrollbars',
      '--disable-features=Translate,MediaRouter,OptimizationHints',
      'about:blank',
    ];
    // As root the sandbox cannot start (and is of no use for our own pages).
    if (process.getuid && process.getuid() === 0) args.unshift('--no-sandbox');
    const out = fs.openSync(this.logFile, 'a');
    this.child = spawn(this.bin, args, {
      stdio: ['ignore', out, out, 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, HOME: this.dir },
    });
    fs.closeSync(out);
    live.add(this.child.pid);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    this.child.on('error', (e) => this._failAll(e));
    this.exited.then(({ code, signal }) => this._failAll(new Error(`chromium exited (${code ?? signal})`)));
    const [toBrowser, fromBrowser] = [this.child.stdio[3], this.child.stdio[4]];
    this.pipe = toBrowser;
    toBrowser.on('error', () => { /* chromium gone: the exit handler reports it */ });
    fromBrowser.setEncoding('utf8');
    fromBrowser.on('data', (chunk) => this._read(chunk));
    const v = await this.send('Browser.getVersion', {}, undefined, startMs);
    this.version = v.product;
  }

  _read(chunk) {
    this.buf += chunk;
    let end;
    while ((end = this.buf.indexOf('\0')) >= 0) {
      const text = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 1);
      let msg;
      try { msg = JSON.parse(text); } catch (_) { continue; }
      if (msg.id !== undefined) {
        const w = this.waiting.get(msg.id);
        if (!w) continue;
        this.waiting.delete(msg.id);
        if (msg.error) w.reject(new Error(`${w.method}: ${msg.error.message}`));
        else w.resolve(msg.result);
      } else {
        for (const fn of this.listeners) fn(msg);
      }
    }
  }

  _failAll(err) {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  // Sends one CDP command (to a page's session when sessionId is given).
  send(method, params = {}, sessionId, timeoutMs = 15000) {
    const id = this.nextId++;
    const msg = { id, method, params, ...(sessionId ? { sessionId } : {}) };
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        method,
        resolve: (v) => { clearTimeout(t); resolve(v); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        this.waiting.get(id).reject(new Error('chromium is not running'));
        this.waiting.delete(id);
        return;
      }
      this.pipe.write(`${JSON.stringify(msg)}\0`);
    });
  }

  async newPage({ width = 1280, height = 1000 } = {}) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await page._init(width, height);
    return page;
  }

  log() {
    try { return fs.readFileSync(this.logFile, 'utf8'); } catch (_) { return ''; }
  }

  // Asks chromium to quit (now: kills it at once), then kills whatever is
  // left of its process group.
  async close({ now = false } = {}) {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      if (now) {
        try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
      } else {
        await this.send('Browser.close', {}, undefined, 3000).catch(() => {});
      }
      const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ } }, 5000);
      await this.exited;
      clearTimeout(t);
    }
    if (child) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* none left */ }
      live.delete(child.pid);
    }
    if (!process.env.STATSYNC_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// One tab. Collects the page's console messages, uncaught exceptions and the
// browser's own log entries (a refused script or connection — CSP, a 404 —
// lands there) in .console, .errors and .log.
class Page {
  constructor(browser, sessionId) {
    this.b = browser;
    this.sessionId = sessionId;
    this.console = [];
    this.errors = [];
    this.log = [];
    this.loadWaiters = new Set();
    browser.listeners.add((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Runtime.consoleAPICalled') {
        this.console.push(`${m.params.type}: ${m.params.args.map((a) => a.value ?? a.description ?? '').join(' ')}`);
      } else if (m.method === 'Runtime.exceptionThrown') {
        const d = m.params.exceptionDetails;
        this.errors.push((d.exception && d.exception.description) || d.text);
      } else if (m.method === 'Log.entryAdded') {
        this.log.push(`${m.params.entry.level}: ${m.params.entry.text}${m.params.entry.url ? ` (${m.params.entry.url})` : ''}`);
      } else if (m.method === 'Page.loadEventFired') {
        for (const fn of this.loadWaiters) fn();
      }
    });
  }

  send(method, params, timeoutMs) { return this.b.send(method, params, this.sessionId, timeoutMs); }

  async _init(width, height) {
    await Promise.all([this.send('Page.enable'), this.send('Runtime.enable'), this.send('Log.enable')]);
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
  }

  // Navigates and waits for the load event (bounded).
  async goto(url, timeoutMs = 15000) {
    let done;
    const loaded = new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.loadWaiters.delete(done); reject(new Error(`${url}: no load event within ${timeoutMs} ms`)); }, timeoutMs);
      done = () => { clearTimeout(t); this.loadWaiters.delete(done); resolve(); };
      this.loadWaiters.add(done);
    });
    const r = await this.send('Page.navigate', { url });
    if (r.errorText) { this.loadWaiters.delete(done); throw new Error(`${url}: ${r.errorText}`); }
    await loaded;
  }

  // Evaluates an expression in the page (a promise is awaited); its value.
  async evaluate(expression, timeoutMs = 15000) {
    const r = await this.send('Runtime.evaluate', {
      expression, awaitPromise: true, returnByValue: true, userGesture: true,
    }, timeoutMs + 1000);
    if (r.exceptionDetails) {
      const d = r.exceptionDetails;
      throw new Error((d.exception && (d.exception.description || d.exception.value)) || d.text);
    }
    return r.result.value;
  }

  // Waits until fn (a function, run in the page) returns something truthy,
  // and returns that. fn is tried at once and again whenever the page fires
  // `event` on document — the page says when its state changed; nothing is
  // polled. Fails after timeoutMs.
  async waitFor(what, fn, { event, timeoutMs = 15000 } = {}) {
    if (!event) throw new Error('waitFor needs the page event that announces a change');
    const src = `new Promise((resolve, reject) => {
      const fn = (${fn.toString()});
      const done = () => { clearTimeout(t); document.removeEventListener(${JSON.stringify(event)}, check); };
      const check = () => { let v; try { v = fn(); } catch (_) { v = false; } if (v) { done(); resolve(v); } };
      const t = setTimeout(() => { done(); reject(new Error('timeout')); }, ${timeoutMs});
      document.addEventListener(${JSON.stringify(event)}, check);
      check();
    })`;
    try {
      return await this.evaluate(src, timeoutMs);
    } catch (e) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${e.message})`);
    }
  }

  // Clicks the element (element.click(): a checkbox toggles and fires change).
  click(selector) {
    return this.evaluate(`(() => {
      const e = document.querySelector(${JSON.stringify(selector)});
      if (!e) throw new Error('no element ' + ${JSON.stringify(selector)});
      if (e.disabled) throw new Error(${JSON.stringify(selector)} + ' is disabled');
      e.click();
      return true;
    })()`);
  }

  // A PNG of the whole page (beyond the viewport too) written to file.
  async screenshot(file) {
    const m = await this.send('Page.getLayoutMetrics');
    const size = m.cssContentSize || m.contentSize;
    const r = await this.send('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 },
    }, 20000);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(r.data, 'base64'));
    return file;
  }
}

module.exports = { Browser, BrowserUnavailable, findChromium };
