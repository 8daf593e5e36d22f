/* SPDX-License-Identifier: MIT */
// Short polling (docs/api.md, Short polling): what the server says, the pace (about 1 s while
// the conversation is active, easing off to 10 s when idle, at once after sending), and the
// channel following it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePollMode, PollPacer } from '../../web/shared/logic.js';
import { Channel } from '../../web/shared/transport.js';
import { makeEnv } from './fakes.mjs';

const msg = (seq) => ({ type: 'message', id: 100 + seq, dialog_id: 7, seq, sender: 'ai', text: `m${seq}`, timestamp: 't', client_id: null });

test('parsePollMode reads the header and the widget configuration', () => {
  assert.deepEqual(parsePollMode('short; active=1000; idle=10000'), { mode: 'short', activeMs: 1000, idleMs: 10000 });
  assert.deepEqual(parsePollMode('SHORT;active=500;idle=4000'), { mode: 'short', activeMs: 500, idleMs: 4000 });
  assert.deepEqual(parsePollMode('short'), { mode: 'short', activeMs: 1000, idleMs: 10000 });
  assert.deepEqual(parsePollMode('long; wait=30'), { mode: 'long' });
  assert.deepEqual(parsePollMode({ mode: 'short', active_ms: 1000, idle_ms: 10000 }), { mode: 'short', activeMs: 1000, idleMs: 10000 });
  assert.deepEqual(parsePollMode({ mode: 'long', wait_s: 30 }), { mode: 'long' });
  // nonsense values fall back to the defaults; idle is never below active
  assert.deepEqual(parsePollMode('short; active=0; idle=-3'), { mode: 'short', activeMs: 1000, idleMs: 10000 });
  assert.deepEqual(parsePollMode('short; active=3000; idle=2000'), { mode: 'short', activeMs: 3000, idleMs: 3000 });
  for (const v of [null, undefined, '', 'fast', 42, {}, { mode: 'x' }]) assert.equal(parsePollMode(v), null);
});

test('PollPacer: 1 s while active, then easing off to 10 s, back to 1 s on activity', () => {
  const p = new PollPacer({ activeMs: 1000, idleMs: 10000, activeFor: 20000, factor: 1.5 });
  let now = 0;
  p.activity(now);
  const seq = [];
  while (now < 60000) {
    const d = p.next(now);
    seq.push(d);
    now += d;
  }
  // 20 s at 1 s, then 1.5 s, 2.25 s, ... up to 10 s
  assert.deepEqual(seq.slice(0, 20), Array(20).fill(1000));
  assert.deepEqual(seq.slice(20, 26), [1500, 2250, 3375, 5063, 7595, 10000]);
  assert.ok(seq.slice(26).every((d) => d === 10000));
  p.activity(now);
  assert.equal(p.next(now + 10), 1000);
  // idle from the start: eases off at once
  const q = new PollPacer();
  assert.equal(q.next(0), 1500);
});

function channel(h, over = {}) {
  const events = [];
  const ch = new Channel({
    cursorMode: 'seq', strict: false, cursor: 0, ws: null, sse: null,
    poll: h.poll, onEvent: (e) => events.push(e), env: h.env, ...over,
  });
  return { ch, events };
}

test('short mode from the configuration: no waiting, 1 s while active, easing to 10 s, at once after poke()', async () => {
  const h = makeEnv();
  const { ch, events } = channel(h, { pollMode: { mode: 'short', active_ms: 1000, idle_ms: 10000 } });
  ch.start();
  assert.equal(h.polls.length, 1);
  h.polls[0].resolve({ events: [msg(1)], poll: 'short; active=1000; idle=10000' });
  await h.flush();
  assert.deepEqual(events.map((e) => e.seq), [1]);
  // 1 s later the next poll, without waiting on the server
  await h.advance(999);
  assert.equal(h.polls.length, 1);
  await h.advance(1);
  assert.equal(h.polls.length, 2);
  assert.equal(h.polls[1].wait, 0);
  assert.equal(h.polls[1].cursor, 1);
  // nothing happens for a while: the pauses grow to 10 s and stay there
  const times = [];
  for (let i = 1; i < 40; i++) {
    const t0 = h.now;
    h.polls[i].resolve({ events: [] });
    await h.flush();
    while (h.polls.length === i + 1) await h.advance(100);
    times.push(h.now - t0);
    assert.equal(h.polls[i + 1].wait, 0);
  }
  assert.equal(times[0], 1000);
  assert.ok(times.includes(1500) && times.includes(2300), times.join(','));
  assert.deepEqual(times.slice(-5), [10000, 10000, 10000, 10000, 10000]);
  // the app sent a message: poll at once, then at the active pace again
  const n = h.polls.length;
  h.polls[n - 1].resolve({ events: [] });
  await h.advance(300);
  assert.equal(h.polls.length, n);
  ch.poke();
  await h.flush();
  assert.equal(h.polls.length, n + 1);
  // once more soon after (an answer computed right after the send), then every second
  h.polls[n].resolve({ events: [] });
  await h.advance(299);
  assert.equal(h.polls.length, n + 1);
  await h.advance(1);
  assert.equal(h.polls.length, n + 2);
  h.polls[n + 1].resolve({ events: [] });
  await h.advance(999);
  assert.equal(h.polls.length, n + 2);
  await h.advance(1);
  assert.equal(h.polls.length, n + 3);
  // an event (the answer) keeps it active
  h.polls[n + 2].resolve({ events: [msg(2)] });
  await h.advance(1000);
  assert.equal(h.polls.length, n + 4);
  assert.deepEqual(events.map((e) => e.seq), [1, 2]);
  ch.stop();
});

test('the X-Chatai-Poll header switches a long-poll channel to short polling and back', async () => {
  const h = makeEnv();
  const { ch } = channel(h);
  ch.start();
  h.polls[0].resolve({ events: [] });
  await h.flush();
  assert.equal(h.polls[1].wait, 25); // a long-poll: the server holds it
  h.polls[1].resolve({ events: [], poll: 'short; active=1000; idle=10000' });
  await h.flush();
  assert.equal(h.polls.length, 2);
  await h.advance(1000);
  assert.equal(h.polls.length, 3);
  assert.equal(h.polls[2].wait, 0);
  h.polls[2].resolve({ events: [], poll: 'long; wait=30' });
  await h.flush();
  assert.equal(h.polls.length, 4);
  assert.equal(h.polls[3].wait, 25);
  ch.stop();
});

test('stop() during a short-poll pause: nothing fires afterwards', async () => {
  const h = makeEnv();
  const { ch } = channel(h, { pollMode: 'short; active=1000; idle=10000' });
  ch.start();
  h.polls[0].resolve({ events: [] });
  await h.flush();
  ch.stop();
  ch.poke();
  await h.advance(60000);
  assert.equal(h.polls.length, 1);
});
