/* SPDX-License-Identifier: MIT */
// shared/messages.js: the optimistic sending both the widget and the panel use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptimisticSender, messageKey } from '../../web/shared/messages.js';
import { MessageList, isMessage } from '../../web/shared/logic.js';

const stored = (id, seq, extra = {}) => ({ type: 'message', id, dialog_id: 7, seq, sender: 'user', text: `m${seq}`, timestamp: 't', client_id: null, ...extra });

function deferred() {
  let resolve;
  let reject;
  const p = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { p, resolve, reject };
}

test('sends show at once and are posted one at a time, in typing order', async () => {
  const list = new MessageList();
  const posts = [];
  const gates = [];
  let n = 0;
  let changes = 0;
  const s = new OptimisticSender({
    list,
    newId: () => `c-${++n}`,
    post: (text, cid) => {
      posts.push([text, cid]);
      const g = deferred();
      gates.push(g);
      return g.p;
    },
    onChange: () => { changes += 1; },
  });
  const all = [s.send('one'), s.send('two'), s.send('three')];
  assert.deepEqual(list.list().map((m) => [m.text, m.pending]), [['one', true], ['two', true], ['three', true]]);
  assert.ok(changes >= 3);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(posts, [['one', 'c-1']], 'the second POST waits for the first');
  gates[0].resolve(stored(1, 1, { text: 'one', client_id: 'c-1' }));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(posts.map((p) => p[0]), ['one', 'two']);
  gates[1].resolve(stored(2, 2, { text: 'two', client_id: 'c-2' }));
  await new Promise((r) => setImmediate(r));
  gates[2].resolve(stored(3, 3, { text: 'three', client_id: 'c-3' }));
  await Promise.all(all);
  assert.deepEqual(list.list().map((m) => [m.text, !!m.pending]), [['one', false], ['two', false], ['three', false]]);
  assert.equal(list.pending.size, 0);
});

test('a failure keeps the words with its error; retry reuses the client_id; the queue goes on', async () => {
  const list = new MessageList();
  const posts = [];
  const errors = [];
  let fail = true;
  const s = new OptimisticSender({
    list,
    sender: 'manager',
    newId: () => 'c-x',
    post: async (text, cid) => {
      posts.push(cid);
      if (fail) throw Object.assign(new Error('closed'), { status: 409 });
      return stored(5, 5, { sender: 'manager', text, client_id: cid });
    },
    errorText: (e) => (e.status === 409 ? 'The conversation is closed' : 'Not sent'),
    onError: (e) => errors.push(e.status),
  });
  await s.send('hello');
  const p = list.getPending('c-x');
  assert.equal(p.failed, true);
  assert.equal(p.sender, 'manager');
  assert.equal(p.error, 'The conversation is closed');
  assert.deepEqual(errors, [409]);
  fail = false;
  await s.retry('c-x');
  assert.deepEqual(posts, ['c-x', 'c-x']);
  assert.equal(list.getPending('c-x'), null);
  assert.deepEqual(list.list().map((m) => [m.id, m.text]), [[5, 'hello']]);
  await s.retry('nope'); // unknown: nothing posted
  assert.equal(posts.length, 2);
});

test('a POST answered with a message already seen on the stream drops the optimistic copy', async () => {
  const list = new MessageList();
  const m = stored(9, 9, { text: 'dup', client_id: 'c-d' });
  const s = new OptimisticSender({
    list,
    newId: () => 'c-d',
    post: async () => {
      list.upsert({ ...m, client_id: null }); // the stream delivered it first (no client_id)
      return m;
    },
  });
  await s.send('dup');
  assert.equal(list.getPending('c-d'), null);
  assert.equal(list.size, 1);
});

test('messageKey keeps one node from the optimistic entry to the stored message', () => {
  assert.equal(messageKey({ pending: true, client_id: 'c-1' }), 'c:c-1');
  assert.equal(messageKey(stored(4, 4, { client_id: 'c-1' })), 'c:c-1');
  assert.equal(messageKey(stored(4, 4)), 'm:4');
  assert.equal(messageKey({ key: 'greeting' }), 'greeting');
});

test('private notes hold a seq of the dialog like messages (the admin stream counts them)', () => {
  assert.equal(isMessage(stored(1, 1, { type: 'note', sender: 'manager' })), true);
  assert.equal(isMessage(stored(1, 1, { type: 'typing_start' })), false);
  const list = new MessageList();
  assert.equal(list.upsert(stored(1, 1)), 'added');
  assert.equal(list.upsert(stored(2, 2, { type: 'note', sender: 'manager' })), 'added');
  assert.equal(list.lastSeq(), 2);
});

test('pendingState and missingSeqs: what the widget asks instead of reading the internals', () => {
  const list = new MessageList();
  list.upsert(stored(1, 1));
  list.upsert(stored(4, 4));
  assert.deepEqual(list.missingSeqs(), [2, 3]);
  list.addPending('c-1', 'a');
  list.addPending('c-2', 'b');
  list.setFailed('c-2', true);
  assert.deepEqual(list.pendingState(), { count: 2, sending: 1 });
  list.dropPending('c-1');
  assert.deepEqual(list.pendingState(), { count: 1, sending: 0 });
});
