'use strict';
// React test setup: `require('react-native')` resolves to the stub, and act()
// knows it runs in a test environment.
const Module = require('node:module');
const path = require('node:path');

const STUB = path.join(__dirname, 'react-native.js');
const origResolve = Module._resolveFilename;
Module._resolveFilename = function resolve(request, ...rest) {
  if (request === 'react-native') return STUB;
  return origResolve.call(this, request, ...rest);
};
globalThis.IS_REACT_ACT_ENVIRONMENT = true;

const React = require('react');
const TestRenderer = require('react-test-renderer');
const { act } = TestRenderer;

// Text content of every host <Text> in the tree.
function texts(renderer) {
  return renderer.root.findAll((n) => n.type === 'Text').map((n) => flatten(n.props.children));
}
function flatten(c) {
  if (c === null || c === undefined || c === false) return '';
  if (Array.isArray(c)) return c.map(flatten).join('');
  if (typeof c === 'object' && c.props) return flatten(c.props.children);
  return String(c);
}

async function waitFor(what, fn, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await act(async () => { await new Promise((r) => setTimeout(r, 10)); });
  }
}

module.exports = { React, TestRenderer, act, texts, waitFor, STUB };
