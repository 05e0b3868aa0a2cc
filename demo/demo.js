// demo.js — the statsync browser demo: two devices of one user, each with its
// own socket.io-client connection to this page's origin (the App URL, so the
// edge passes /socket.io/ to a gateway). Plain browser JavaScript, no build
// step; `io` comes from vendor/socket.io.min.js (socket.io-client, the version
// tests/package.json pins). What each part shows: demo/README.md.
//
// The token: `#token=<JWT>` in the URL (scripts/run-local.sh prints such a
// link) or pasted into the field. It stays in this page: the fragment is never
// sent to a server, and the token goes out only as the Socket.IO auth payload.
//
// For tests (tests/compat/demo_browser.test.js) every device section carries
// its state in data-* attributes (state, version, xp, diamonds, devices,
// pending, transport) and the page fires `demo:change` on document after each
// render; window.statsyncDemo holds the devices.
'use strict';

(function () {
  const ACK_TIMEOUT_MS = 10000; // a silent server: the op is sent again, same opId
  const RETRY_MS = 2000; // after a transient refusal (unavailable, rate_limited, ...)
  const PING_EVERY_MS = 10000; // presence:ping while connected
  const KEEP_OPS = 8; // operations listed per device (pending ones always)
  const KEEP_RECEIVED = 8;
  const TRANSIENT = new Set(['unavailable', 'internal', 'storage_full', 'rate_limited',
    'too_many_requests', 'timeout', 'partition_unavailable', 'token_expired']);
  const DEVICES = [{ id: 'A', name: 'Device A · phone' }, { id: 'B', name: 'Device B · tablet' }];
  const ACTIONS = {
    xp: { label: '+10 xp', delta: { xp: 10 } },
    earn: { label: '+5 diamonds', delta: { diamonds: 5 } },
    spend: { label: 'spend 3 diamonds', delta: { diamonds: -3 } },
  };

  const $ = (sel, root) => (root || document).querySelector(sel);

  // A random opId. crypto.getRandomValues exists in every context
  // (crypto.randomUUID only in secure ones, not on http://<LAN address>).
  function newOpId() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return 'demo-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // The token's claims, unverified: the page only needs sub (presence:join
  // takes the socket's own userId) and exp (shown). The gateway verifies.
  function claims(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent(Array.from(atob(part),
        (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
      const c = JSON.parse(json);
      return c && typeof c.sub === 'string' ? c : null;
    } catch (_) {
      return null;
    }
  }

  function clock(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  // "+10 xp, -1 hearts, set streak=3" (a REST patch may carry __set and more).
  function describeDelta(delta) {
    return Object.keys(delta).map((k) => {
      const v = delta[k];
      if (k === '__set' && v && typeof v === 'object') {
        return 'set ' + Object.keys(v).map((f) => f + '=' + JSON.stringify(v[f])).join(' ');
      }
      if (typeof v === 'number') return (v >= 0 ? '+' : '') + v + ' ' + k;
      return k + ' ' + JSON.stringify(v);
    }).join(', ');
  }

  let renderPending = false;
  function changed() {
    if (renderPending) return;
    renderPending = true;
    queueMicrotask(() => {
      renderPending = false;
      for (const d of Object.values(window.statsyncDemo.devices)) d.render();
      document.dispatchEvent(new CustomEvent('demo:change'));
    });
  }

  // One device: a socket, the newest document it saw, its operations.
  class Device {
    constructor(spec, el, token, userId) {
      this.id = spec.id;
      this.el = el;
      this.token = token;
      this.userId = userId;
      this.doc = null; // the newest document (by version) from a push or an ack
      this.ops = []; // {opId, delta, label, state, attempts, version, note, repeats}
      this.received = []; // {text, at}
      this.devices = null;
      this.offline = false;
      this.state = 'connecting';
      this.error = '';
      this.flushing = false;
      this.gen = 0; // +1 per connect: a flush of an older connection stops
      this.lastApplied = null;
      this.retryTimer = null;
      this.pingTimer = null;
      $('.name', el).textContent = spec.name;
      el.dataset.device = spec.id;
      el.addEventListener('click', (e) => this.onClick(e));
      el.addEventListener('change', (e) => this.onChange(e));
    }

    start() {
      // forceNew: a connection of its own, as on a second device (socket.io
      // would otherwise share one connection between both panels).
      const s = io(location.origin, {
        forceNew: true,
        auth: (cb) => cb({ token: this.token }),
        reconnectionDelay: 500,
        reconnectionDelayMax: 5000,
      });
      this.socket = s;
      s.on('connect', () => this.onConnect());
      s.on('disconnect', (reason) => {
        this.state = this.offline ? 'offline' : 'reconnecting';
        this.devices = null;
        clearInterval(this.pingTimer);
        this.note('disconnected (' + reason + ')');
        this.unsent();
        changed();
      });
      s.on('connect_error', (err) => {
        this.state = 'error';
        this.error = err && err.message ? err.message : String(err);
        this.note('connect_error: ' + this.error);
        changed();
      });
      s.on('user:data:updated', (doc) => {
        this.note('user:data:updated v' + doc.version + ' (xp ' + doc.xp + ', diamonds ' + doc.diamonds + ')');
        this.take(doc);
      });
      s.on('user:update', (u) => {
        this.note('user:update v' + u.version + ' (another device, ' + (u.source || '?') + ')' +
          (u.delta ? ': ' + describeDelta(u.delta) : ''));
      });
      s.on('presence:update', (p) => {
        this.devices = p.devices;
        this.note('presence:update ' + p.devices + (p.devices === 1 ? ' device' : ' devices') + ' online');
      });
      s.on('presence:pong', (p) => { this.devices = p.devices; changed(); });
      s.io.on('reconnect_attempt', () => { this.state = 'reconnecting'; changed(); });
      changed();
    }

    stop() {
      clearTimeout(this.retryTimer);
      clearInterval(this.pingTimer);
      if (this.socket) this.socket.close();
    }

    onConnect() {
      this.gen++;
      this.state = 'connected';
      this.error = '';
      const engine = this.socket.io.engine;
      this.sid = engine.id;
      this.transport = engine.transport.name;
      engine.once('upgrade', (t) => { this.transport = t.name; changed(); });
      this.note('connected (' + this.transport + ')');
      // presence:join answers with the current document (user:data:updated);
      // a ping tells this socket how many devices are online (a joiner is
      // not sent a presence:update of its own join).
      this.socket.emit('presence:join', { userId: this.userId });
      this.ping();
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS);
      changed();
      this.flush();
    }

    ping() {
      if (this.socket.connected) this.socket.emit('presence:ping', { ts: Date.now() });
    }

    // Takes a document only when it is newer than the one shown.
    take(doc) {
      if (!doc || typeof doc.version !== 'number') return;
      if (this.doc && doc.version <= this.doc.version) return;
      this.doc = doc;
      this.flash = true;
      changed();
    }

    note(text) {
      this.received.unshift({ text, at: Date.now() });
      this.received.length = Math.min(this.received.length, KEEP_RECEIVED);
      changed();
    }

    // An operation sent but not answered when the socket went away: it is
    // sent again, same opId, on the next connect (the server applies it at
    // most once).
    unsent() {
      for (const op of this.ops) {
        if (op.state === 'sending') {
          op.state = 'queued';
          op.note = 'no answer yet: will be sent again with the same opId';
        }
      }
    }

    pending() {
      return this.ops.filter((o) => o.state === 'queued' || o.state === 'sending');
    }

    enqueue(action) {
      const a = ACTIONS[action];
      const op = { opId: newOpId(), delta: a.delta, label: a.label, state: 'queued', attempts: 0, repeats: 0 };
      op.note = this.offline ? 'queued on this device (offline)' : '';
      op.offline = this.offline;
      this.ops.push(op);
      this.trim();
      changed();
      this.flush();
    }

    // Sends the queue in order, one operation at a time, while connected.
    async flush() {
      if (this.flushing || this.offline || !this.socket || !this.socket.connected) return;
      this.flushing = true;
      const gen = this.gen;
      try {
        for (;;) {
          if (gen !== this.gen || !this.socket.connected) break;
          const op = this.ops.find((o) => o.state === 'queued');
          if (!op) break;
          op.state = 'sending';
          op.attempts++;
          changed();
          let ack;
          try {
            ack = await this.socket.timeout(ACK_TIMEOUT_MS)
              .emitWithAck('user:clientUpdate', { opId: op.opId, delta: op.delta });
          } catch (e) {
            // Disconnected or no answer in time: keep it, send it again.
            op.state = 'queued';
            op.note = 'no answer (' + e.message + '): will be sent again with the same opId';
            if (this.socket.connected) this.retryLater();
            break;
          }
          if (!this.settle(op, ack)) break;
        }
      } finally {
        this.flushing = false;
        changed();
      }
    }

    retryLater() {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.flush(), RETRY_MS);
    }

    // Records an ack; false when the queue should wait (a transient refusal).
    settle(op, ack) {
      if (ack && ack.ok) {
        op.state = 'applied';
        op.version = ack.stats ? ack.stats.version : undefined;
        op.note = ack.duplicate ? 'applied before (a repeat of its opId): not applied again' : '';
        this.lastApplied = op;
        this.take(ack.stats);
        return true;
      }
      const err = (ack && ack.error) || { code: 'unknown', message: 'no error given' };
      if (ack && ack.stats) this.take(ack.stats);
      if (TRANSIENT.has(err.code)) {
        op.state = 'queued';
        op.note = 'refused for now (' + err.code + '): will be sent again';
        this.retryLater();
        return false;
      }
      op.state = 'refused';
      op.note = err.code + ': ' + err.message;
      return true;
    }

    // Sends the last applied operation again with the same opId: the server
    // answers with the original result (duplicate) and applies nothing.
    async resend() {
      const orig = this.lastApplied;
      if (!orig || !this.socket.connected) return;
      orig.repeats++;
      orig.resend = 'sent again…';
      changed();
      try {
        const ack = await this.socket.timeout(ACK_TIMEOUT_MS)
          .emitWithAck('user:clientUpdate', { opId: orig.opId, delta: orig.delta });
        if (ack && ack.ok) {
          orig.resend = ack.duplicate
            ? 'sent again ×' + orig.repeats + ': answered as a duplicate (v' + ack.stats.version + '), not applied again'
            : 'sent again: applied AGAIN (v' + ack.stats.version + ')'; // never, with idempotency
          orig.duplicates = (orig.duplicates || 0) + (ack.duplicate ? 1 : 0);
          this.take(ack.stats);
        } else {
          orig.resend = 'sent again: ' + (ack && ack.error ? ack.error.code : 'refused');
        }
      } catch (e) {
        orig.resend = 'sent again: no answer (' + e.message + ')';
      }
      changed();
    }

    setOffline(off) {
      this.offline = off;
      if (off) {
        this.state = 'offline';
        clearInterval(this.pingTimer);
        clearTimeout(this.retryTimer);
        this.devices = null;
        this.socket.disconnect(); // a manual disconnect: no reconnect until online
      } else {
        this.state = 'connecting';
        for (const op of this.pending()) op.note = 'back online: sending';
        this.socket.connect(); // on connect: join, ping, flush
      }
      changed();
    }

    // Keeps the newest KEEP_OPS operations, and every one not settled.
    trim() {
      while (this.ops.length > KEEP_OPS) {
        const i = this.ops.findIndex((o) => o.state !== 'queued' && o.state !== 'sending');
        if (i < 0) break;
        this.ops.splice(i, 1);
      }
    }

    onClick(e) {
      const b = e.target.closest('button[data-action]');
      if (!b) return;
      if (b.dataset.action === 'resend') this.resend();
      else this.enqueue(b.dataset.action);
    }

    onChange(e) {
      if (e.target.dataset.action === 'offline') this.setOffline(e.target.checked);
    }

    render() {
      const el = this.el;
      const doc = this.doc;
      const pend = this.pending();
      Object.assign(el.dataset, {
        state: this.state,
        version: doc ? String(doc.version) : '',
        xp: doc ? String(doc.xp) : '',
        diamonds: doc ? String(doc.diamonds) : '',
        devices: this.devices === null ? '' : String(this.devices),
        pending: String(pend.length),
        transport: this.state === 'connected' ? this.transport : '',
      });
      $('.conn', el).textContent = this.state === 'error' ? 'error: ' + this.error : this.state;
      $('.transport', el).textContent = this.state === 'connected' ? this.transport : '–';
      $('.sid', el).textContent = this.state === 'connected' ? 'session ' + this.sid.slice(0, 10) + '…' : 'no session';
      $('.devices', el).textContent = this.devices === null ? '–' : String(this.devices);
      $('.v', el).textContent = doc ? String(doc.version) : '–';
      for (const f of ['xp', 'diamonds', 'hearts', 'streak', 'level']) {
        $('.f-' + f, el).textContent = doc ? String(doc[f]) : '–';
      }
      $('.updated', el).textContent = 'updatedAt ' + (doc ? doc.updatedAt : '–');
      if (this.flash) {
        this.flash = false;
        const v = $('.version', el);
        v.classList.remove('flash');
        void v.offsetWidth; // restart the animation
        v.classList.add('flash');
      }
      $('.pending', el).textContent = pend.length ? pend.length + ' pending' : '';
      $('[data-action=offline]', el).checked = this.offline;
      $('[data-action=resend]', el).disabled = !this.lastApplied || this.state !== 'connected';

      const ops = $('.ops', el);
      ops.textContent = '';
      for (const op of this.ops.slice().reverse()) {
        const li = document.createElement('li');
        li.dataset.opId = op.opId;
        li.dataset.state = op.state;
        li.dataset.duplicates = String(op.duplicates || 0);
        const head = document.createElement('span');
        head.className = 'op-head';
        head.textContent = op.label + ' · ' + op.state +
          (op.state === 'applied' && op.version !== undefined ? ' once, v' + op.version : '') +
          (op.attempts > 1 ? ' (sent ' + op.attempts + '×)' : '');
        const id = document.createElement('code');
        id.textContent = op.opId.slice(0, 13) + '…';
        id.title = op.opId;
        li.append(head, ' ', id);
        const offline = op.offline && op.state !== 'queued' ? 'queued while offline, sent when back online' : '';
        for (const text of [op.note, offline, op.resend]) {
          if (!text) continue;
          const n = document.createElement('div');
          n.className = 'op-note';
          n.textContent = text;
          li.append(n);
        }
        ops.append(li);
      }

      const rec = $('.pushes', el);
      rec.textContent = '';
      for (const r of this.received) {
        const li = document.createElement('li');
        const t = document.createElement('span');
        t.className = 'muted';
        t.textContent = clock(r.at) + ' ';
        li.append(t, r.text);
        rec.append(li);
      }
    }
  }

  // ---- the page ------------------------------------------------------------

  const demo = { devices: {}, userId: null };
  window.statsyncDemo = demo;

  function showError(text) {
    const p = $('#page-error');
    p.textContent = text;
    p.hidden = !text;
  }

  function connect(token) {
    for (const d of Object.values(demo.devices)) d.stop();
    demo.devices = {};
    $('#devices').textContent = '';
    const c = claims(token);
    if (!c) {
      showError('That is not a JWT (three base64url parts with a "sub" claim).');
      return;
    }
    showError('');
    demo.userId = c.sub;
    $('#who').textContent = 'user ' + c.sub +
      (typeof c.exp === 'number' ? ' · token valid until ' + new Date(c.exp * 1000).toLocaleString() : '');
    for (const spec of DEVICES) {
      const el = $('#device-template').content.firstElementChild.cloneNode(true);
      $('#devices').append(el);
      const d = new Device(spec, el, token, c.sub);
      demo.devices[spec.id] = d;
      d.start();
    }
    changed();
  }

  function tokenFromHash() {
    const h = location.hash.replace(/^#/, '');
    return new URLSearchParams(h).get('token') || '';
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('#origin').textContent = location.origin;
    if (typeof io !== 'function') {
      showError('vendor/socket.io.min.js did not load: the page cannot connect.');
      return;
    }
    $('#token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const token = $('#token').value.trim();
      if (!token) return;
      // into the fragment (never sent to a server): a reload reconnects
      history.replaceState(null, '', '#token=' + encodeURIComponent(token));
      connect(token);
    });
    window.addEventListener('error', (e) => showError('page error: ' + e.message));
    const fromHash = () => {
      const token = tokenFromHash();
      if (!token || token === $('#token').value) return;
      $('#token').value = token;
      connect(token);
    };
    window.addEventListener('hashchange', fromHash);
    fromHash();
  });
}());
