/* SPDX-License-Identifier: MIT */
// Test doubles for the transport's injectable environment: a virtual clock, WebSocket,
// EventSource and fetch that the tests drive step by step.

export function makeEnv({ random = () => 0.5 } = {}) {
  let now = 0;
  let nextId = 1;
  const timers = new Map(); // id -> {at, fn}
  const sockets = [];
  const sources = [];
  const fetches = [];
  const polls = [];

  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(data) { this.sent.push(data); }
    close(code) { this.closedWith = code ?? 1000; this.readyState = 3; }
    // test controls
    open() { this.readyState = 1; this.onopen && this.onopen({}); }
    message(obj) { this.onmessage && this.onmessage({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) }); }
    drop(code = 1006, reason = '') { this.readyState = 3; this.onclose && this.onclose({ code, reason }); }
  }

  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.listeners = {};
      this.closed = false;
      sources.push(this);
    }
    addEventListener(name, fn) { (this.listeners[name] ||= []).push(fn); }
    close() { this.closed = true; }
    open() { this.onopen && this.onopen({}); }
    emit(obj, name = 'message') { for (const fn of this.listeners[name] || []) fn({ data: JSON.stringify(obj) }); }
    fail() { this.onerror && this.onerror({}); }
  }

  const fetchStatus = { value: 200, type: 'application/json' };
  async function fakeFetch(url) {
    fetches.push(url);
    return { status: fetchStatus.value, headers: { get: () => fetchStatus.type } };
  }

  class FakeAbortController {
    constructor() { this.signal = { aborted: false }; }
    abort() { this.signal.aborted = true; }
  }

  const env = {
    WebSocket: FakeWebSocket,
    EventSource: FakeEventSource,
    fetch: fakeFetch,
    AbortController: FakeAbortController,
    setTimeout(fn, ms) { const id = nextId++; timers.set(id, { at: now + Math.max(0, ms || 0), fn }); return id; },
    clearTimeout(id) { timers.delete(id); },
    random,
    now: () => now,
  };

  /** A poll function whose calls the test answers: each call is queued with resolve/reject. */
  function poll(cursor, wait, signal) {
    return new Promise((resolve, reject) => polls.push({ cursor, wait, signal, resolve, reject }));
  }

  async function flush() {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }

  /** Moves the virtual clock forward, firing due timers in order. */
  async function advance(ms) {
    const end = now + ms;
    for (;;) {
      await flush();
      let best = null;
      for (const [id, t] of timers) if (t.at <= end && (!best || t.at < best[1].at)) best = [id, t];
      if (!best) break;
      timers.delete(best[0]);
      now = best[1].at;
      best[1].fn();
    }
    now = end;
    await flush();
  }

  return { env, sockets, sources, fetches, polls, poll, fetchStatus, advance, flush, timers, get now() { return now; } };
}
