'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { normalizeDelta, mergeDeltas, canMerge, applyDelta, isNewer, defaultDocument, resolveConflict } = require('../src/services/merge');

test('normalizeDelta: validates fields and types, drops server-owned fields', () => {
  assert.deepEqual(normalizeDelta({ xp: 10, hearts: -1, __set: { streak: 0 } }), { xp: 10, hearts: -1, __set: { streak: 0 } });
  assert.deepEqual(normalizeDelta({ xp: 1, userId: 'alice', updatedAt: 'x', version: 3 }), { xp: 1 });
  assert.deepEqual(normalizeDelta({ timePerQuestion: 2.5 }), { timePerQuestion: [2.5] });
  assert.deepEqual(normalizeDelta({ lastGameResults: { score: 3 } }), { lastGameResults: { score: 3 } });
  assert.throws(() => normalizeDelta({ xpp: 1 }), /unknown field xpp/);
  assert.throws(() => normalizeDelta({ xp: 1.5 }), /integer/);
  assert.throws(() => normalizeDelta({ xp: '10' }), /integer/);
  assert.throws(() => normalizeDelta({ totalTimeSpent: Infinity }), /finite/);
  assert.throws(() => normalizeDelta({ __set: { timePerQuestion: 3 } }), /array/);
  assert.throws(() => normalizeDelta({ __set: { diamonds: -1 } }), /below 0/);
  assert.throws(() => normalizeDelta([1]), /plain object/);
  assert.throws(() => normalizeDelta(null), /plain object/);
});

test('mergeDeltas: numbers add, arrays append, __set last-wins', () => {
  let d = {};
  d = mergeDeltas(d, { xp: 10, timePerQuestion: [2.5] });
  d = mergeDeltas(d, { xp: 5, diamonds: 1, timePerQuestion: [3.1], __set: { level: 2 } });
  d = mergeDeltas(d, { streak: 1, __set: { level: 3, hearts: 5 } });
  assert.deepEqual(d, { xp: 15, diamonds: 1, streak: 1, timePerQuestion: [2.5, 3.1], __set: { level: 3, hearts: 5 } });
});

test('mergeDeltas: an add after a __set of the same field folds into the __set (sequential effect)', () => {
  const d = mergeDeltas(mergeDeltas({}, { __set: { hearts: 3, timePerQuestion: [1] } }), { hearts: -1, timePerQuestion: [2] });
  assert.deepEqual(d, { __set: { hearts: 2, timePerQuestion: [1, 2] } });
  const base = { ...defaultDocument('u'), hearts: 5 };
  const seq = applyDelta(applyDelta(base, { __set: { hearts: 3 } }), { hearts: -1 });
  assert.equal(applyDelta(base, d).hearts, seq.hearts);
});

test('mergeDeltas: a __set after an add replaces the add', () => {
  const d = mergeDeltas(mergeDeltas({}, { xp: 10, streak: 2 }), { __set: { streak: 0 } });
  assert.deepEqual(d, { xp: 10, __set: { streak: 0 } });
});

test('mergeDeltas does not modify its inputs', () => {
  const a = { xp: 1, __set: { level: 2 } };
  const b = { xp: 2, __set: { level: 3 } };
  mergeDeltas(a, b);
  assert.deepEqual(a, { xp: 1, __set: { level: 2 } });
  assert.deepEqual(b, { xp: 2, __set: { level: 3 } });
});

test('applyDelta follows the server rules (clamps, derived fields, last 100 times)', () => {
  const base = defaultDocument('u');
  const d = applyDelta(base, { hearts: 3, xp: -10, correctAnswers: 2, totalQuestions: 3, streak: 4, timePerQuestion: Array(120).fill(1) });
  assert.equal(d.hearts, 5);
  assert.equal(d.xp, 0);
  assert.equal(d.accuracy, 67);
  assert.equal(d.maxStreak, 4);
  assert.equal(d.timePerQuestion.length, 100);
  const e = applyDelta(d, { xp: 10, __set: { streak: 0, hearts: 2 } });
  assert.equal(e.streak, 0);
  assert.equal(e.maxStreak, 4);
  assert.equal(e.hearts, 2);
  assert.equal(base.xp, 0, 'input untouched');
});

test('applyDelta keeps a given accuracy and derives it only when correct/total move', () => {
  const base = { ...defaultDocument('u'), accuracy: 85, correctAnswers: 43, totalQuestions: 50 };
  assert.equal(applyDelta(base, { xp: 1 }).accuracy, 85, 'nothing moved: kept');
  assert.equal(applyDelta(base, { correctAnswers: 1, totalQuestions: 1 }).accuracy, 86, 'moved: derived');
  assert.equal(applyDelta(base, { correctAnswers: 1, totalQuestions: 1, __set: { accuracy: 70 } }).accuracy, 70, 'given: kept');
  assert.equal(applyDelta(base, { totalQuestions: 1, accuracy: 1 }).accuracy, 86, 'an added accuracy is a given one');
});

test('isNewer: version first, then updatedAt; never backwards', () => {
  const a = { version: 3, updatedAt: '2024-01-15T10:00:00.000Z' };
  assert.equal(isNewer({ version: 4, updatedAt: '2020-01-01T00:00:00.000Z' }, a), true, 'higher version wins even with older time');
  assert.equal(isNewer({ version: 2, updatedAt: '2030-01-01T00:00:00.000Z' }, a), false, 'lower version loses even with newer time');
  assert.equal(isNewer({ version: 3, updatedAt: '2024-01-15T10:00:01.000Z' }, a), true, 'same version: later updatedAt');
  assert.equal(isNewer({ version: 3, updatedAt: '2024-01-15T10:00:00.000Z' }, a), false, 'same document is not newer');
  assert.equal(isNewer({ updatedAt: '2024-01-15T10:00:01.000Z' }, { updatedAt: '2024-01-15T10:00:00.000Z' }), true, 'no versions: time');
  assert.equal(isNewer({ version: '5' }, { version: 4 }), true, 'string versions');
  assert.equal(isNewer({ version: 0, updatedAt: '1970-01-01T00:00:00.000Z' }, defaultDocument('u')), true, 'server defaults beat local placeholder');
  assert.equal(isNewer(a, null), true);
  assert.equal(isNewer(null, a), false);
});

test('resolveConflict (seed helper) is last-write-wins on updatedAt', () => {
  const local = { xp: 1, updatedAt: '2024-01-15T10:00:00Z' };
  assert.deepEqual(resolveConflict(local, { xp: 2, updatedAt: '2024-01-15T10:00:01Z' }).xp, 2);
  assert.deepEqual(resolveConflict(local, { xp: 2, updatedAt: '2024-01-15T09:00:00Z' }).xp, 1);
});

test('canMerge: same-sign adds and unrelated __sets merge; sign flips and __set over an add do not', () => {
  assert.equal(canMerge({ xp: 10, hearts: -1 }, { xp: 5, hearts: -2, __set: { level: 2 } }), true);
  assert.equal(canMerge({ hearts: 1 }, { hearts: -1 }), false);
  assert.equal(canMerge({ streak: 2 }, { __set: { streak: 0 } }), false);
  assert.equal(canMerge({ __set: { streak: 0 } }, { streak: 1 }), true);
  assert.equal(canMerge({ xp: 0 }, { xp: -1 }), true, 'zero has no sign');
  assert.equal(canMerge(null, { xp: 1 }), true);
});

test('merge is exact whenever canMerge allows it (randomized against sequential application)', () => {
  let seed = 42;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const fields = ['hearts', 'xp', 'streak', 'correctAnswers', 'totalQuestions'];
  const randomDelta = () => {
    const d = {};
    const f = fields[rnd(fields.length)];
    if (rnd(4) === 0) d.__set = { [f]: rnd(7) };
    else d[f] = rnd(7) - 3;
    return d;
  };
  for (let iter = 0; iter < 2000; iter++) {
    let doc = applyDelta(defaultDocument('u'), { xp: rnd(5), streak: rnd(3), hearts: -rnd(6) });
    let seq = doc;
    let acc = null;
    const ops = [];
    for (let i = 0; i < 6; i++) {
      const d = randomDelta();
      seq = applyDelta(seq, d);
      if (acc && !canMerge(acc, d)) { ops.push(acc); acc = null; }
      acc = mergeDeltas(acc || {}, d);
    }
    ops.push(acc);
    for (const op of ops) doc = applyDelta(doc, op);
    assert.deepEqual(doc, seq, `iteration ${iter}: ${JSON.stringify(ops)}`);
  }
});
