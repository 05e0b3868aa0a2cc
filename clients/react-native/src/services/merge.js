'use strict';
// Document model and merge rules, client side.
//
// The stats-service is the authority (DESIGN.md §3); this module only
//  - validates a delta before it enters the offline queue (the server rejects a
//    whole request for one bad field, so a bad field must never be merged into
//    a debounce window together with good ones),
//  - merges deltas of one debounce window into a single operation that has the
//    same effect as applying them one after the other,
//  - predicts the result of pending deltas for the optimistic local view,
//  - orders documents by `version` (then `updatedAt`).

const HEARTS_MAX = 5;
const TIME_PER_QUESTION_MAX = 100;

const INT_FIELDS = [
  'xp', 'hearts', 'diamonds', 'level', 'streak', 'maxStreak', 'accuracy',
  'completedQuestions', 'correctAnswers', 'wrongAnswers', 'totalQuestions',
];
const FIELD_KIND = Object.create(null);
for (const f of INT_FIELDS) FIELD_KIND[f] = 'int';
FIELD_KIND.totalTimeSpent = 'number';
FIELD_KIND.timePerQuestion = 'list';
FIELD_KIND.lastGameResults = 'object';
const FIELDS = Object.keys(FIELD_KIND);

// Fields the server owns: accepted in a delta for convenience and dropped.
const IGNORED_IN_DELTA = new Set(['userId', 'updatedAt', 'version']);

const EPOCH = '1970-01-01T00:00:00.000Z';

function defaultDocument(userId) {
  const doc = {
    xp: 0, hearts: HEARTS_MAX, diamonds: 0, level: 1, streak: 0, maxStreak: 0, accuracy: 0,
    completedQuestions: 0, correctAnswers: 0, wrongAnswers: 0, totalQuestions: 0,
    timePerQuestion: [], totalTimeSpent: 0, lastGameResults: null,
    updatedAt: EPOCH,
    // Below any server version (which starts at 0), so the first server
    // document always replaces these placeholder defaults.
    version: -1,
  };
  if (userId) doc.userId = userId;
  return doc;
}

function isPlainObject(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkValue(field, value, where, inSet) {
  const kind = FIELD_KIND[field];
  switch (kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new TypeError(`statsync: ${where}${field} must be an integer, got ${JSON.stringify(value)}`);
      }
      if (inSet && value < 0 && field === 'diamonds') {
        throw new TypeError(`statsync: ${where}diamonds cannot be set below 0`);
      }
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new TypeError(`statsync: ${where}${field} must be a finite number, got ${JSON.stringify(value)}`);
      }
      return value;
    case 'list': {
      const list = Array.isArray(value) ? value : (inSet ? null : [value]);
      if (!list || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        throw new TypeError(`statsync: ${where}${field} must be ${inSet ? 'an array' : 'a number or an array'} of finite numbers`);
      }
      return list.slice();
    }
    case 'object':
      if (value !== null && !isPlainObject(value)) {
        throw new TypeError(`statsync: ${where}${field} must be an object or null`);
      }
      return value === null ? null : JSON.parse(JSON.stringify(value));
    default:
      throw new TypeError(`statsync: unknown field ${where}${field} (known: ${FIELDS.join(', ')})`);
  }
}

// Validates a delta as the app passes it to updateUserStats and returns a
// normalized copy: `{ ...adds, __set?: {...} }`. Throws TypeError.
function normalizeDelta(delta) {
  if (!isPlainObject(delta)) throw new TypeError('statsync: a delta must be a plain object');
  const out = {};
  for (const key of Object.keys(delta)) {
    const value = delta[key];
    if (value === undefined || IGNORED_IN_DELTA.has(key)) continue;
    if (key === '__set') {
      if (value === null) continue;
      if (!isPlainObject(value)) throw new TypeError('statsync: __set must be a plain object');
      const set = {};
      for (const k of Object.keys(value)) {
        if (value[k] === undefined || IGNORED_IN_DELTA.has(k)) continue;
        set[k] = checkValue(k, value[k], '__set.', true);
      }
      if (Object.keys(set).length) out.__set = set;
      continue;
    }
    out[key] = checkValue(key, value, '', false);
  }
  return out;
}

function isEmptyDelta(d) {
  return !d || Object.keys(d).every((k) => k === '__set' && !Object.keys(d.__set).length);
}

function addValue(field, current, add) {
  switch (FIELD_KIND[field]) {
    case 'int':
    case 'number':
      return (typeof current === 'number' ? current : 0) + add;
    case 'list':
      return (Array.isArray(current) ? current : []).concat(add);
    case 'object':
      return add === null ? null : JSON.parse(JSON.stringify(add));
    default:
      return add;
  }
}

// Clamp of an absolute value by the server's rules (hearts in [0, 5], every
// other counter at least 0), so that folding an add into a __set gives the
// value the server would have reached step by step.
function clampValue(field, v) {
  if (typeof v !== 'number') return v;
  if (field === 'hearts') return Math.min(HEARTS_MAX, Math.max(0, v));
  if (FIELD_KIND[field] === 'int' || field === 'totalTimeSpent') return Math.max(0, v);
  return v;
}

// Whether b can join a window holding a without changing the result compared
// with sending them one after the other. Merging is exact except when
//  - b adds to a field with the opposite sign of a's add: the server clamps
//    after each operation (hearts at 5, counters at 0), so +1 then -1 at full
//    hearts is 4, while a merged 0 would leave 5;
//  - b __sets a field that a adds to: the add would vanish from the merged
//    operation, and with it derived values (maxStreak after streak +2, then
//    __set streak 0);
//  - b lowers a streak that a __sets (the peak would vanish from maxStreak).
// The service then starts a new operation for b.
function canMerge(a, b) {
  if (!a) return true;
  for (const key of Object.keys(b)) {
    if (key === '__set') continue;
    if (typeof b[key] === 'number' && typeof a[key] === 'number' && a[key] * b[key] < 0) return false;
  }
  if (b.__set) {
    for (const key of Object.keys(b.__set)) {
      if (Object.prototype.hasOwnProperty.call(a, key) && key !== '__set') return false;
    }
  }
  // streak feeds maxStreak = max(maxStreak, streak) after every operation:
  // lowering a streak the window has set would hide that peak.
  const setStreak = a.__set && typeof a.__set.streak === 'number' ? a.__set.streak : null;
  if (setStreak !== null) {
    if (typeof b.streak === 'number' && b.streak < 0) return false;
    if (b.__set && typeof b.__set.streak === 'number' && b.__set.streak < setStreak) return false;
  }
  return true;
}

// merge(a, b): one delta with the effect of applying a, then b (server order
// inside one delta: adds, then __set). Numbers add, arrays append,
// lastGameResults and __set values are last-wins; an add that follows a
// __set of the same field is folded into that __set (clamped as the server
// would). Exact when canMerge(a, b) holds.
function mergeDeltas(a, b) {
  const out = JSON.parse(JSON.stringify(a || {}));
  const set = out.__set ? out.__set : null;
  for (const key of Object.keys(b)) {
    if (key === '__set') continue;
    if (set && Object.prototype.hasOwnProperty.call(set, key)) {
      set[key] = clampValue(key, addValue(key, set[key], b[key]));
    } else if (Object.prototype.hasOwnProperty.call(out, key)) {
      out[key] = addValue(key, out[key], b[key]);
    } else {
      out[key] = addValue(key, undefined, b[key]);
    }
  }
  if (b.__set) {
    out.__set = out.__set || {};
    for (const key of Object.keys(b.__set)) {
      out.__set[key] = JSON.parse(JSON.stringify(b.__set[key]));
      delete out[key];
    }
  }
  return out;
}

// Predicts the server's result of one delta (DESIGN.md §3). Only used for the
// optimistic view; the server's answer replaces it.
function applyDelta(doc, delta) {
  const out = { ...doc };
  if (Array.isArray(out.timePerQuestion)) out.timePerQuestion = out.timePerQuestion.slice();
  for (const key of Object.keys(delta)) {
    if (key === '__set' || !FIELD_KIND[key]) continue;
    out[key] = addValue(key, out[key], delta[key]);
  }
  if (delta.__set) {
    for (const key of Object.keys(delta.__set)) {
      if (!FIELD_KIND[key]) continue;
      const v = delta.__set[key];
      out[key] = Array.isArray(v) ? v.slice() : (v && typeof v === 'object' ? JSON.parse(JSON.stringify(v)) : v);
    }
  }
  // accuracy is derived only when the delta moves correct/total without
  // giving accuracy itself (DESIGN §3)
  const givesAccuracy = 'accuracy' in delta || (delta.__set && 'accuracy' in delta.__set);
  const moved = out.correctAnswers !== doc.correctAnswers || out.totalQuestions !== doc.totalQuestions;
  applyRules(out);
  if (moved && !givesAccuracy) {
    out.accuracy = out.totalQuestions > 0 ? Math.round((100 * (out.correctAnswers || 0)) / out.totalQuestions) : 0;
  }
  return out;
}

function applyRules(doc) {
  for (const f of INT_FIELDS) {
    if (typeof doc[f] === 'number' && doc[f] < 0) doc[f] = 0;
  }
  if (typeof doc.hearts === 'number' && doc.hearts > HEARTS_MAX) doc.hearts = HEARTS_MAX;
  if (typeof doc.totalTimeSpent === 'number' && doc.totalTimeSpent < 0) doc.totalTimeSpent = 0;
  if (Array.isArray(doc.timePerQuestion) && doc.timePerQuestion.length > TIME_PER_QUESTION_MAX) {
    doc.timePerQuestion = doc.timePerQuestion.slice(-TIME_PER_QUESTION_MAX);
  }
  doc.maxStreak = Math.max(doc.maxStreak || 0, doc.streak || 0);
  return doc;
}

function timeOf(doc) {
  if (!doc || doc.updatedAt === undefined || doc.updatedAt === null) return NaN;
  const t = typeof doc.updatedAt === 'number' ? doc.updatedAt : Date.parse(doc.updatedAt);
  return Number.isFinite(t) ? t : NaN;
}

function versionOf(doc) {
  if (!doc) return NaN;
  const v = typeof doc.version === 'string' ? Number(doc.version) : doc.version;
  return typeof v === 'number' && Number.isFinite(v) ? v : NaN;
}

// True when `incoming` should replace `current`: a higher version wins; on
// the same (or a missing) version a strictly later updatedAt wins. Never
// goes backwards; an equal document is not "newer".
function isNewer(incoming, current) {
  if (!incoming) return false;
  if (!current) return true;
  const vi = versionOf(incoming);
  const vc = versionOf(current);
  if (!Number.isNaN(vi) && !Number.isNaN(vc) && vi !== vc) return vi > vc;
  const ti = timeOf(incoming);
  const tc = timeOf(current);
  if (Number.isNaN(ti)) return false;
  if (Number.isNaN(tc)) return true;
  return ti > tc;
}

// Seed-compatible last-write-wins helper on updatedAt (kept for apps that
// used the seed's resolveConflict); the service itself orders by isNewer.
function resolveConflict(local, incoming) {
  const localTime = new Date((local && local.updatedAt) || 0).getTime();
  const incomingTime = new Date((incoming && incoming.updatedAt) || 0).getTime();
  return incomingTime >= localTime ? { ...local, ...incoming } : local;
}

module.exports = {
  HEARTS_MAX,
  FIELDS,
  FIELD_KIND,
  INT_FIELDS,
  defaultDocument,
  normalizeDelta,
  isEmptyDelta,
  mergeDeltas,
  canMerge,
  clampValue,
  applyDelta,
  applyRules,
  isNewer,
  versionOf,
  resolveConflict,
  isPlainObject,
};
