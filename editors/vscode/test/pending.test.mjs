// The suggestion tracker behind nib/didRejectCompletion (src/pending.ts), on its compiled form:
// `npm test` compiles and runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const { Pending } = createRequire(import.meta.url)('../out/pending.js');

/** Type `text` one character at a time at the end of what was typed; the steps. */
function type(p, text) {
  return [...text].map((ch) => p.edit({ start: p.end(), end: p.end(), text: ch }));
}

test('typing the suggestion keeps it open until all of it is typed', () => {
  const p = new Pending(10, [' total / count']);
  assert.deepEqual(type(p, ' total / coun'), Array(13).fill('open'));
  assert.deepEqual(type(p, 't'), ['typed']);
});

test('a character the suggestion does not continue with types it over at once', () => {
  const p = new Pending(10, [' total / count']);
  assert.deepEqual(type(p, ' tx'), ['open', 'open', 'typedOver']);
});

test('an alternative that still matches keeps it open', () => {
  const p = new Pending(0, ['abc', 'axy']);
  assert.deepEqual(type(p, 'ax'), ['open', 'open']);
  assert.deepEqual(type(p, 'z'), ['typedOver']);
});

test('a backspace inside what was typed takes it back', () => {
  const p = new Pending(5, ['foo']);
  assert.deepEqual(type(p, 'fx'), ['open', 'typedOver']);
  const q = new Pending(5, ['foo']);
  type(q, 'f');
  assert.equal(q.edit({ start: 5, end: 6, text: '' }), 'open');
  assert.equal(q.end(), 5);
});

test('the insertion of the whole suggestion over the typed part accepts it', () => {
  const p = new Pending(5, ['return x']);
  type(p, 're');
  assert.equal(p.edit({ start: 5, end: 7, text: 'return x' }), 'typed');
});

test('edits before it move it, edits after it leave it open, a deletion across it loses it', () => {
  const p = new Pending(5, ['abc']);
  assert.equal(p.edit({ start: 0, end: 2, text: '' }), 'open');
  assert.equal(p.end(), 3);
  assert.equal(p.edit({ start: 9, end: 9, text: 'z' }), 'open');
  assert.equal(p.edit({ start: 1, end: 4, text: '' }), 'lost');
});

test('text already in the range counts as typed', () => {
  const p = new Pending(4, ['return total'], 'ret');
  assert.equal(p.end(), 7);
  assert.deepEqual(type(p, 'x'), ['typedOver']);
});
