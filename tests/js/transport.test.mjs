/* SPDX-License-Identifier: MIT */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Channel, HttpError, wsBase } from '../../web/shared/transport.js';
import { makeEnv } from './fakes.mjs';

const msg = (seq, extra = {}) => ({ type: 'message', id: 100 + seq, dialog_id: 7, seq, sender: 'ai', text: `m${seq}`, timestamp: 't', client_id: null, ...extra });

function dialogChannel(h, over = {}) {
  const events = [];
  const statuses = [];
  const fatals = [];
  const opens = [];
  const ch = new Channel({
    cursorMode: 'seq',
    strict: true,
    cursor: 0,
    ws: (c) => `ws://x/ws/dialogs/7?token=T&since=${c}`,
    sse: (c) => `http://x/sse/dialogs/7?token=T&since=${c}`,
    poll: h.poll,
    onEvent: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
    onFatal: (f) => fatals.push(f),
    onOpen: (t) => opens.push(t),
    env: h.env,
    config: { upgradeInterval: 60000 },
    ...over,
  });
  return { ch, events, statuses, fatals, opens };
}

test('WebSocket: events flow, duplicates are dropped, reconnect resumes from the last seq', async () => {
  const h = makeEnv();
  const { ch, events, statuses } = dialogChannel(h);
  ch.start();
  assert.equal(h.sockets.length, 1);
  assert.equal(h.sockets[0].url, 'ws://x/ws/dialogs/7?token=T&since=0');
  h.sockets[0].open();
  assert.equal(statuses.at(-1).state, 'connected');
  assert.equal(statuses.at(-1).transport, 'ws');
  h.sockets[0].message(msg(1));
  h.sockets[0].message(msg(2));
  h.sockets[0].message(msg(2)); // duplicate frame
  h.sockets[0].message({ type: 'typing_start', dialog_id: 7, who: 'ai' });
  h.sockets[0].message('garbage{');
  assert.deepEqual(events.map((e) => e.seq ?? e.type), [1, 2, 'typing_start']);
  h.sockets[0].drop(1006);
  assert.equal(statuses.at(-1).state, 'error');
  await h.advance(600); // first backoff is at most 500 ms
  assert.equal(h.sockets.length, 2);
  assert.equal(h.sockets[1].url, 'ws://x/ws/dialogs/7?token=T&since=2');
  h.sockets[1].open();
  h.sockets[1].message(msg(2)); // replay overlap is harmless
  h.sockets[1].message(msg(3));
  assert.deepEqual(events.filter((e) => e.seq).map((e) => e.seq), [1, 2, 3]);
  assert.equal(ch.cursor, 3);
  ch.stop();
});

test('WebSocket that never opens falls back to SSE after 3 tries; SSE resumes with ?since', async () => {
  const h = makeEnv();
  const { ch, events, statuses } = dialogChannel(h, { cursor: 4 });
  ch.start();
  for (let i = 0; i < 3; i++) {
    assert.equal(h.sockets.length, i + 1);
    h.sockets[i].drop(1006);
    await h.advance(2000); // backoff 375, 750, 1500 ms with random = 0.5
  }
  assert.equal(h.sockets.length, 3);
  assert.equal(h.sources.length, 1);
  assert.equal(ch.transport, 'sse');
  assert.equal(h.sources[0].url, 'http://x/sse/dialogs/7?token=T&since=4');
  assert.match(statuses.find((s) => s.state === 'error').error, /WebSocket/);
  h.sources[0].open();
  assert.equal(statuses.at(-1).state, 'connected');
  assert.equal(statuses.at(-1).transport, 'sse');
  h.sources[0].emit(msg(5));
  h.sources[0].emit({ type: 'typing_stop', dialog_id: 7, who: 'ai' }, 'typing_stop');
  assert.deepEqual(events.map((e) => e.seq ?? e.type), [5, 'typing_stop']);
  // the stream drops: we reopen ourselves with the new cursor
  h.sources[0].fail();
  assert.equal(h.sources[0].closed, true);
  await h.advance(1000);
  assert.equal(h.sources[1].url, 'http://x/sse/dialogs/7?token=T&since=5');
  ch.stop();
});

test('SSE refused too: long-poll, reported as polling; then plain polling after repeated failures', async () => {
  const h = makeEnv();
  h.fetchStatus.value = 502;
  const { ch, events, statuses } = dialogChannel(h, { ws: null });
  ch.start();
  assert.equal(h.sources.length, 1);
  h.sources[0].fail();
  await h.advance(5000);
  assert.equal(h.fetches.length, 1); // probed the status with fetch
  assert.equal(h.sources.length, 2);
  h.sources[1].fail();
  await h.advance(100);
  assert.equal(ch.transport, 'longpoll');
  assert.equal(h.polls.length, 1);
  assert.equal(h.polls[0].cursor, 0);
  assert.equal(h.polls[0].wait, 0); // the first long-poll proves the route at once
  h.polls[0].resolve({ events: [msg(1), msg(2)] });
  await h.advance(0);
  assert.equal(statuses.at(-1).state, 'fallback');
  assert.equal(statuses.at(-1).transport, 'longpoll');
  assert.equal(h.polls.length, 2); // events came: the next long-poll goes out at once
  assert.equal(h.polls[1].wait, 25);
  assert.equal(h.polls[1].cursor, 2);
  // three failures in a row: plain polling every 3 s
  h.polls[1].reject(new HttpError(502));
  await h.advance(20000);
  h.polls[2].reject(new HttpError(502));
  await h.advance(20000);
  h.polls[3].reject(new Error('network'));
  await h.advance(100);
  assert.equal(ch.transport, 'poll');
  const p = h.polls.at(-1);
  assert.equal(p.wait, 0);
  assert.equal(p.cursor, 2);
  p.resolve({ events: [msg(3)] });
  await h.advance(100);
  const n = h.polls.length;
  await h.advance(2800);
  assert.equal(h.polls.length, n); // waits the 3 s interval
  await h.advance(200);
  assert.equal(h.polls.length, n + 1);
  assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
  ch.stop();
});

test('close codes 4401/4403/4404 stop retrying and tell the app', async () => {
  for (const code of [4401, 4403, 4404]) {
    const h = makeEnv();
    const { ch, fatals, statuses } = dialogChannel(h);
    ch.start();
    h.sockets[0].open();
    h.sockets[0].drop(code, 'no');
    await h.advance(120000);
    assert.equal(h.sockets.length, 1, `no retry after ${code}`);
    assert.equal(h.sources.length, 0);
    assert.deepEqual(fatals.map((f) => f.code), [code]);
    assert.equal(statuses.at(-1).state, 'fatal');
  }
});

test('SSE refused with 401/403/404 (seen by a fetch probe) is fatal too', async () => {
  for (const [status, code] of [[401, 4401], [403, 4403], [404, 4404]]) {
    const h = makeEnv();
    h.fetchStatus.value = status;
    const { ch, fatals } = dialogChannel(h, { ws: null });
    ch.start();
    h.sources[0].fail();
    await h.advance(100);
    await h.advance(60000);
    assert.equal(h.sources.length, 1);
    assert.equal(h.polls.length, 0);
    assert.deepEqual(fatals.map((f) => f.code), [code]);
  }
});

test('a 404 page from a web server that does not route /sse/ is not final: long-poll next', async () => {
  const h = makeEnv();
  h.fetchStatus.value = 404;
  h.fetchStatus.type = 'text/html';
  const { ch, fatals } = dialogChannel(h, { ws: null });
  ch.start();
  h.sources[0].fail();
  await h.advance(2000);
  h.sources[1].fail();
  await h.advance(100);
  assert.deepEqual(fatals, []);
  assert.equal(ch.transport, 'longpoll');
  assert.equal(h.polls.length, 1);
  // and a long-poll 404 without the API's JSON error is not final either
  h.polls[0].reject(new HttpError(404, 'not found', false));
  await h.advance(2000);
  assert.deepEqual(fatals, []);
  assert.equal(h.polls.length, 2);
  ch.stop();
});

test('a long-poll that answers at once with nothing (wait ignored) pauses 1 s', async () => {
  const h = makeEnv();
  const { ch } = dialogChannel(h, { ws: null, sse: null });
  ch.start();
  h.polls[0].resolve({ events: [] }); // the first (wait=0) one: no pause after it
  await h.flush();
  assert.equal(h.polls.length, 2);
  h.polls[1].resolve({ events: [] }); // a held one answering at once: the server ignores wait
  await h.advance(900);
  assert.equal(h.polls.length, 2);
  await h.advance(200);
  assert.equal(h.polls.length, 3);
  ch.stop();
});

test('long-poll 401 is fatal', async () => {
  const h = makeEnv();
  const { ch, fatals } = dialogChannel(h, { ws: null, sse: null });
  ch.start();
  h.polls[0].reject(new HttpError(401));
  await h.advance(60000);
  assert.equal(h.polls.length, 1);
  assert.deepEqual(fatals.map((f) => f.code), [4401]);
});

test('a gap on a strict channel is filled with one read; order of delivery keeps every seq once', async () => {
  const h = makeEnv();
  const { ch, events } = dialogChannel(h);
  ch.start();
  h.sockets[0].open();
  h.sockets[0].message(msg(1));
  h.sockets[0].message(msg(3)); // 2 went missing
  await h.flush();
  assert.equal(h.polls.length, 1);
  assert.equal(h.polls[0].cursor, 1);
  assert.equal(h.polls[0].wait, 0);
  h.polls[0].resolve({ events: [msg(2), msg(3)] });
  await h.flush();
  assert.deepEqual(events.map((e) => e.seq).sort((a, b) => a - b), [1, 2, 3]);
  assert.equal(ch.cursor, 3);
  ch.stop();
});

test('messages noted by the app (our own POST answer) are not delivered twice', async () => {
  const h = makeEnv();
  const { ch, events } = dialogChannel(h);
  ch.start();
  h.sockets[0].open();
  ch.noteMessage(msg(1, { sender: 'manager' }));
  h.sockets[0].message(msg(1, { sender: 'manager' }));
  h.sockets[0].message(msg(2));
  assert.deepEqual(events.map((e) => e.seq), [2]);
  assert.equal(ch.cursor, 2);
});

test('from a fallback, WebSocket is probed again (5 s, then doubling to 60 s) and taken when it opens', async () => {
  const h = makeEnv();
  const { ch } = dialogChannel(h, { config: { upgradeMin: 5000, upgradeInterval: 60000, wsFailLimit: 1 } });
  ch.start();
  h.sockets[0].drop(1006); // falls back at once (t = 0)
  await h.flush();
  assert.equal(ch.transport, 'sse');
  h.sources[0].open();
  h.sources[0].emit(msg(1));
  // probes at +5 s, +10 s, +20 s, +40 s, then every 60 s; each one fails
  const probeTimes = [];
  let t = h.now;
  for (const gap of [5000, 10000, 20000, 40000, 60000, 60000]) {
    const n = h.sockets.length;
    await h.advance(gap - 1);
    assert.equal(h.sockets.length, n, `no probe before ${gap} ms`);
    await h.advance(1);
    assert.equal(h.sockets.length, n + 1, `a probe after ${gap} ms`);
    probeTimes.push(h.now - t);
    t = h.now;
    h.sockets.at(-1).onclose({ code: 1006 });
    await h.flush();
  }
  assert.equal(ch.transport, 'sse');
  assert.equal(h.sources.length, 1, 'the SSE stream stayed up during the probes');
  await h.advance(60000);
  h.sockets.at(-1).open(); // this probe works
  await h.flush();
  assert.equal(ch.transport, 'ws');
  assert.equal(h.sources[0].closed, true);
  const main = h.sockets.at(-1);
  assert.equal(main.url, 'ws://x/ws/dialogs/7?token=T&since=1');
  main.open();
  await h.advance(70000); // longer than the longest probe interval, shorter than the silence timeout
  assert.equal(h.sockets.at(-1), main, 'no more probes once on the best transport');
  ch.stop();
});

test('send() uses the open WebSocket only', async () => {
  const h = makeEnv();
  const { ch } = dialogChannel(h);
  ch.start();
  assert.equal(ch.send({ type: 'typing_start' }), false);
  h.sockets[0].open();
  assert.equal(ch.send({ type: 'typing_start' }), true);
  assert.deepEqual(h.sockets[0].sent.map((s) => JSON.parse(s)), [{ type: 'typing_start' }]);
});

test('a silent WebSocket is pinged, then reopened', async () => {
  const h = makeEnv();
  const { ch } = dialogChannel(h, { config: { pingInterval: 30000, silenceTimeout: 75000 } });
  ch.start();
  h.sockets[0].open();
  await h.advance(30001);
  assert.deepEqual(JSON.parse(h.sockets[0].sent[0]), { type: 'ping' });
  await h.advance(62000);
  assert.ok(h.sockets.length >= 2, 'reopened after silence');
});

test('stop() closes everything and nothing fires afterwards', async () => {
  const h = makeEnv();
  const { ch, statuses } = dialogChannel(h);
  ch.start();
  h.sockets[0].open();
  ch.stop();
  assert.equal(h.sockets[0].closedWith, 1000);
  await h.advance(200000);
  assert.equal(h.sockets.length, 1);
  assert.equal(statuses.at(-1).state, 'closed');
  assert.equal(h.timers.size, 0);
});

test('inbox (opaque cursor): long-poll carries the server cursor forward and resyncs on open', async () => {
  const h = makeEnv();
  const events = [];
  const opens = [];
  const ch = new Channel({
    cursorMode: 'opaque', poll: h.poll, env: h.env,
    onEvent: (e) => events.push(e), onOpen: (t) => opens.push(t),
  });
  ch.start();
  assert.equal(h.polls[0].cursor, null);
  h.polls[0].resolve({ cursor: 'c1', events: [] });
  await h.advance(1500);
  assert.deepEqual(opens, ['longpoll']);
  assert.equal(h.polls[1].cursor, 'c1');
  h.polls[1].resolve({ cursor: 'c2', events: [{ type: 'dialog_created', dialog: { id: 1 } }] });
  await h.advance(10);
  assert.equal(h.polls[2].cursor, 'c2');
  assert.equal(events.length, 1);
  ch.stop();
});

test('wsBase maps http to ws and https to wss', () => {
  assert.equal(wsBase('http://a:8080'), 'ws://a:8080');
  assert.equal(wsBase('https://chat.example'), 'wss://chat.example');
});

test('a stream refusal that confirmRefusal denies (REST still serves the dialog): polling, no onFatal', async () => {
  for (const via of ['ws', 'sse']) {
    const h = makeEnv();
    h.fetchStatus.value = 403;
    const asked = [];
    const { ch, fatals } = dialogChannel(h, {
      ...(via === 'sse' ? { ws: null } : {}),
      confirmRefusal: async (code) => { asked.push(code); return false; },
    });
    ch.start();
    if (via === 'ws') {
      h.sockets[0].open();
      h.sockets[0].drop(4403, 'origin not allowed');
    } else {
      h.sources[0].fail();
    }
    await h.advance(100);
    assert.deepEqual(asked, [4403], via);
    assert.deepEqual(fatals, [], via);
    assert.equal(ch.transport, 'longpoll', via);
    assert.equal(h.polls.length, 1, via);
    h.polls[0].resolve({ events: [msg(1)] });
    await h.flush();
    // the streams are not probed again: the refusal stands
    await h.advance(300000);
    assert.equal(h.sockets.length, via === 'ws' ? 1 : 0, via);
    assert.equal(h.sources.length, via === 'sse' ? 1 : 0, via);
    assert.equal(ch.status.state, 'fallback', via);
    // a REST refusal while polling is still final
    h.polls.at(-1).reject(new HttpError(404));
    await h.advance(100);
    assert.deepEqual(fatals.map((f) => f.code), [4404], via);
  }
});

test('a stream refusal that confirmRefusal confirms is fatal; a failing check keeps polling', async () => {
  const h = makeEnv();
  const { ch, fatals } = dialogChannel(h, { confirmRefusal: async () => true });
  ch.start();
  h.sockets[0].open();
  h.sockets[0].drop(4401, 'no');
  await h.advance(60000);
  assert.deepEqual(fatals.map((f) => f.code), [4401]);
  assert.equal(h.polls.length, 0);

  const h2 = makeEnv();
  const r2 = dialogChannel(h2, { confirmRefusal: async () => { throw new Error('offline'); } });
  r2.ch.start();
  h2.sockets[0].drop(4404, 'no');
  await h2.advance(100);
  assert.deepEqual(r2.fatals, []);
  assert.equal(r2.ch.transport, 'longpoll');
  r2.ch.stop();
});
