/* SPDX-License-Identifier: MIT */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffDelay, SeqTracker, MessageList, parseEvent, isMessage, fatalCodeForStatus, typingThrottle,
  compareDialogs, describeUserAgent, connectionLabel, randomClientId,
} from '../../web/shared/logic.js';

const msg = (id, seq, extra = {}) => ({ type: 'message', id, dialog_id: 7, seq, sender: 'ai', text: `m${seq}`, timestamp: '2026-11-26T00:00:00.000000Z', client_id: null, ...extra });

test('backoff doubles, stays within [ceiling/2, ceiling], and is capped', () => {
  const lo = (a) => backoffDelay(a, { base: 500, cap: 15000, random: () => 0 });
  const hi = (a) => backoffDelay(a, { base: 500, cap: 15000, random: () => 0.999999 });
  assert.equal(lo(0), 250);
  assert.equal(hi(0), 500);
  assert.equal(lo(1), 500);
  assert.equal(hi(3), 4000);
  assert.equal(hi(10), 15000);
  assert.equal(lo(10), 7500);
  assert.equal(hi(1000), 15000); // huge attempt numbers do not overflow
  assert.equal(lo(-5), 250);
  for (let a = 0; a < 12; a++) {
    const d = backoffDelay(a);
    const ceiling = Math.min(15000, 500 * 2 ** a);
    assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${a}: ${d}`);
  }
});

test('jitter spreads clients apart', () => {
  const seen = new Set();
  for (let i = 0; i < 50; i++) seen.add(backoffDelay(4));
  assert.ok(seen.size > 10);
});

test('strict SeqTracker keeps the highest contiguous seq and rejects duplicates', () => {
  const t = new SeqTracker({ strict: true, start: 3 });
  assert.equal(t.accept(2), false); // already covered by the start
  assert.equal(t.accept(3), false);
  assert.equal(t.accept(4), true);
  assert.equal(t.cursor, 4);
  assert.equal(t.accept(6), true); // gap at 5
  assert.equal(t.cursor, 4);
  assert.equal(t.hasGap(), true);
  assert.equal(t.accept(6), false); // duplicate above the cursor
  assert.equal(t.accept(7), true);
  assert.equal(t.cursor, 4);
  assert.equal(t.highest(), 7);
  assert.equal(t.accept(5), true); // the gap fills: cursor jumps over what was seen
  assert.equal(t.cursor, 7);
  assert.equal(t.hasGap(), false);
  assert.equal(t.accept(0), false);
  assert.equal(t.accept(-1), false);
  assert.equal(t.accept(1.5), false);
  assert.equal(t.accept('8'), false);
});

test('non-strict SeqTracker (site channel) follows the highest seq; holes are normal', () => {
  const t = new SeqTracker({ strict: false });
  assert.equal(t.accept(2), true);
  assert.equal(t.accept(5), true);
  assert.equal(t.cursor, 5);
  assert.equal(t.hasGap(), false);
  assert.equal(t.accept(4), false); // older than the cursor: a replay duplicate
  assert.equal(t.accept(5), false);
});

test('MessageList dedupes by id and seq and orders by seq', () => {
  const l = new MessageList();
  assert.equal(l.upsert(msg(10, 2)), 'added');
  assert.equal(l.upsert(msg(9, 1)), 'added');
  assert.equal(l.upsert(msg(10, 2)), null);
  assert.equal(l.upsert({ ...msg(11, 2) }), null); // same seq, other id: refused
  assert.equal(l.upsert({ id: 'x', seq: 3, sender: 'ai' }), null); // not a message
  assert.deepEqual(l.list().map((m) => m.seq), [1, 2]);
  assert.equal(l.lastSeq(), 2);
});

test('MessageList: optimistic entry replaced by the stored message, failure keeps the text', () => {
  const l = new MessageList();
  l.upsert(msg(1, 1));
  l.addPending('c-a', 'hello', 'user');
  l.addPending('c-b', 'second', 'user');
  assert.deepEqual(l.list().map((m) => m.text), ['m1', 'hello', 'second']);
  assert.equal(l.setFailed('c-b', true), true);
  assert.equal(l.getPending('c-b').failed, true);
  assert.equal(l.getPending('c-b').text, 'second');
  assert.equal(l.setFailed('nope', true), false);
  assert.equal(l.upsert(msg(2, 2, { sender: 'user', text: 'hello', client_id: 'c-a' })), 'replaced');
  assert.equal(l.getPending('c-a'), null);
  assert.deepEqual(l.list().map((m) => [m.text, !!m.pending]), [['m1', false], ['hello', false], ['second', true]]);
  assert.equal(l.size, 3);
});

test('parseEvent accepts objects only', () => {
  assert.deepEqual(parseEvent('{"type":"typing_start","who":"ai"}'), { type: 'typing_start', who: 'ai' });
  assert.equal(parseEvent('not json'), null);
  assert.equal(parseEvent('[1,2]'), null);
  assert.equal(parseEvent('null'), null);
  assert.equal(parseEvent('42'), null);
  assert.equal(parseEvent(''), null);
  assert.equal(parseEvent(undefined), null);
  assert.equal(isMessage(msg(1, 1)), true);
  assert.equal(isMessage({ type: 'typing_start', id: 1, seq: 1, sender: 'ai' }), false);
});

test('fatal HTTP statuses map to the WebSocket close codes', () => {
  assert.equal(fatalCodeForStatus(401), 4401);
  assert.equal(fatalCodeForStatus(403), 4403);
  assert.equal(fatalCodeForStatus(404), 4404);
  assert.equal(fatalCodeForStatus(500), 0);
  assert.equal(fatalCodeForStatus(0), 0);
});

test('typing throttle: one start per interval, a stop after idle', () => {
  let now = 0;
  const timers = [];
  const calls = [];
  const t = typingThrottle({
    start: () => calls.push(['start', now]), stop: () => calls.push(['stop', now]),
    interval: 3000, idle: 4000, now: () => now,
    setTimer: (fn, ms) => { const h = { fn, at: now + ms }; timers.push(h); return h; },
    clearTimer: (h) => { h.fn = null; },
  });
  t.poke(); now = 1000; t.poke(); now = 2000; t.poke();
  assert.deepEqual(calls, [['start', 0]]);
  now = 3500; t.poke();
  assert.deepEqual(calls, [['start', 0], ['start', 3500]]);
  now = 7500;
  for (const h of timers) if (h.fn && h.at <= now) h.fn();
  assert.deepEqual(calls.at(-1), ['stop', 7500]);
  assert.equal(t.active, false);
  t.done(); // no second stop
  assert.equal(calls.filter((c) => c[0] === 'stop').length, 1);
});

test('dialogs waiting for a human come first, then newest activity', () => {
  const ds = [
    { id: 1, status: 'ai', updated_at: '2026-01-01T00:00:03Z' },
    { id: 2, status: 'waiting', updated_at: '2026-01-01T00:00:01Z' },
    { id: 3, status: 'operator', updated_at: '2026-01-01T00:00:05Z' },
    { id: 4, status: 'waiting', updated_at: '2026-01-01T00:00:02Z' },
  ];
  assert.deepEqual(ds.sort(compareDialogs).map((d) => d.id), [4, 2, 3, 1]);
});

test('user agents read as a browser and a system', () => {
  assert.equal(describeUserAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'), 'Chrome 120 on Linux');
  assert.equal(describeUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0'), 'Firefox 121 on Windows');
  assert.equal(describeUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1'), 'Safari 17 on iOS');
  assert.equal(describeUserAgent(''), 'Unknown browser');
  assert.equal(describeUserAgent(null), 'Unknown browser');
});

test('connection labels are the guide\'s four states', () => {
  assert.deepEqual(connectionLabel({ state: 'connected', transport: 'ws' }), { cls: 'connected', text: 'Real-time connected' });
  assert.deepEqual(connectionLabel({ state: 'fallback', transport: 'longpoll' }), { cls: 'fallback', text: 'Polling mode' });
  assert.deepEqual(connectionLabel({ state: 'error', error: 'WebSocket unavailable (1006)' }), { cls: 'disconnected', text: 'Error: WebSocket unavailable (1006)' });
  assert.deepEqual(connectionLabel({ state: 'connecting' }), { cls: 'disconnected', text: 'Connecting...' });
  assert.deepEqual(connectionLabel(null), { cls: 'disconnected', text: 'Connecting...' });
});

test('client ids are random and distinct', () => {
  const ids = new Set(Array.from({ length: 200 }, () => randomClientId()));
  assert.equal(ids.size, 200);
  for (const id of ids) assert.match(id, /^c-[a-z0-9]{16}$/);
});
