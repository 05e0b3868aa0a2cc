// sio_helpers.js — small promise helpers for the Socket.IO compatibility tests
// (the real socket.io-client from tests/node_modules). Every wait is bounded.
'use strict';

const { io } = require('socket.io-client');

// Connects a socket for userId on gateway gw (default: the first) and resolves
// once it is connected. opts go to io(); token defaults to a valid one.
function connect(sys, userId, opts = {}, gw = sys.gw) {
  const { token = sys.token(userId), ...rest } = opts;
  const s = io(`http://127.0.0.1:${gw.socketPort}`, {
    auth: { token },
    reconnection: false,
    timeout: 5000,
    ...rest,
  });
  return new Promise((resolve, reject) => {
    // Only the first connection is judged here: a later reconnect attempt's
    // connect_error must not close a socket the test is still using.
    const onError = (e) => { clearTimeout(t); s.off('connect', onConnect); s.close(); reject(e); };
    const onConnect = () => { clearTimeout(t); s.off('connect_error', onError); resolve(s); };
    const t = setTimeout(() => { s.close(); reject(new Error('connect timed out')); }, 8000);
    s.once('connect', onConnect);
    s.once('connect_error', onError);
  });
}

// Resolves with the connect_error of a socket that must be refused.
function connectError(sys, opts = {}, gw = sys.gw) {
  const s = io(`http://127.0.0.1:${gw.socketPort}`, { reconnection: false, timeout: 5000, ...opts });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { s.close(); reject(new Error('no connect_error')); }, 8000);
    s.once('connect', () => { clearTimeout(t); s.close(); reject(new Error('connected but should not')); });
    s.once('connect_error', (e) => { clearTimeout(t); s.close(); resolve(e); });
  });
}

function once(s, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    s.once(event, (arg) => { clearTimeout(t); resolve(arg); });
  });
}

// Waits for the first `event` whose payload satisfies pred.
function waitFor(s, event, pred, ms = 5000) {
  return new Promise((resolve, reject) => {
    const on = (arg) => {
      if (!pred(arg)) return;
      clearTimeout(t);
      s.off(event, on);
      resolve(arg);
    };
    const t = setTimeout(() => { s.off(event, on); reject(new Error(`no matching ${event} within ${ms} ms`)); }, ms);
    s.on(event, on);
  });
}

function emitAck(s, event, payload, ms = 5000) {
  return s.timeout(ms).emitWithAck(event, payload);
}

// Records every payload of the given events: rec.user:data:updated = [...]
function record(s, events) {
  const rec = {};
  for (const e of events) {
    rec[e] = [];
    s.on(e, (arg) => rec[e].push(arg));
  }
  return rec;
}

module.exports = { connect, connectError, once, waitFor, emitAck, record };
