'use strict';
// A fake React renderer (react-reconciler, React 18.3's own reconciler) with a
// concurrent root, so that <React.StrictMode> really does what it does in an
// app in development: every component's mount effects run, are cleaned up,
// and run again. (react-test-renderer 18 is built with that switched off.)
// Host components are plain objects {type, props, children}; text is {text}.
require('./react'); // react-native stub + IS_REACT_ACT_ENVIRONMENT
const React = require('react');
const Reconciler = require('react-reconciler');
const { ConcurrentRoot, DefaultEventPriority } = require('react-reconciler/constants');

const remove = (list, child) => { const i = list.indexOf(child); if (i >= 0) list.splice(i, 1); };
const insertBefore = (list, child, before) => { remove(list, child); list.splice(list.indexOf(before), 0, child); };

const host = {
  supportsMutation: true,
  supportsPersistence: false,
  supportsHydration: false,
  isPrimaryRenderer: false,
  supportsMicrotasks: true,
  scheduleMicrotask: queueMicrotask,
  scheduleTimeout: setTimeout,
  cancelTimeout: clearTimeout,
  noTimeout: -1,
  createInstance: (type, props) => ({ type, props, children: [] }),
  createTextInstance: (text) => ({ text }),
  appendInitialChild: (p, c) => { p.children.push(c); },
  appendChild: (p, c) => { remove(p.children, c); p.children.push(c); },
  appendChildToContainer: (p, c) => { remove(p.children, c); p.children.push(c); },
  insertBefore: (p, c, b) => insertBefore(p.children, c, b),
  insertInContainerBefore: (p, c, b) => insertBefore(p.children, c, b),
  removeChild: (p, c) => remove(p.children, c),
  removeChildFromContainer: (p, c) => remove(p.children, c),
  clearContainer: (p) => { p.children = []; },
  finalizeInitialChildren: () => false,
  prepareUpdate: () => true,
  commitUpdate: (inst, _payload, _type, _old, next) => { inst.props = next; },
  commitTextUpdate: (t, _old, next) => { t.text = next; },
  resetTextContent: () => {},
  shouldSetTextContent: () => false,
  getRootHostContext: () => ({}),
  getChildHostContext: (parent) => parent,
  getPublicInstance: (i) => i,
  prepareForCommit: () => null,
  resetAfterCommit: () => {},
  preparePortalMount: () => {},
  getCurrentEventPriority: () => DefaultEventPriority,
  getInstanceFromNode: () => null,
  beforeActiveInstanceBlur: () => {},
  afterActiveInstanceBlur: () => {},
  prepareScopeUpdate: () => {},
  getInstanceFromScope: () => null,
  detachDeletedInstance: () => {},
  hideInstance: (i) => { i.hidden = true; },
  unhideInstance: (i) => { i.hidden = false; },
  hideTextInstance: (t) => { t.hidden = true; },
  unhideTextInstance: (t) => { t.hidden = false; },
};

const reconciler = Reconciler(host);
const act = React.unstable_act;

function textOf(node) {
  if (node.text !== undefined) return String(node.text);
  return node.children.map(textOf).join('');
}

function all(node, out = []) {
  if (node.children) for (const c of node.children) { if (c.type) out.push(c); all(c, out); }
  return out;
}

// render(element) inside act(); returns {update, unmount, texts, byTestID}.
async function render(element) {
  const container = { children: [] };
  const root = reconciler.createContainer(container, ConcurrentRoot, null, false, null, '', (e) => { throw e; }, null);
  await act(async () => { reconciler.updateContainer(element, root, null, null); });
  return {
    container,
    update: (el) => act(async () => { reconciler.updateContainer(el, root, null, null); }),
    unmount: () => act(async () => { reconciler.updateContainer(null, root, null, null); }),
    texts: () => all(container).filter((n) => n.type === 'Text').map(textOf),
    byTestID: (id) => all(container).filter((n) => n.props && n.props.testID === id),
  };
}

module.exports = { render, act, textOf };
