/* SPDX-License-Identifier: MIT */
// One real-time channel with automatic fallback, used by the widget and the operator panel.
//
// Order of preference: WebSocket, then Server-Sent Events, then long-poll, then 3-second
// polling. Each is chosen when the one before fails to open a number of times in a row
// (a connection that opened and later dropped is simply reopened with backoff). Every
// (re)connection resumes from the cursor: the last seq of the dialog (or the opaque inbox
// cursor), so nothing is lost or doubled. Close codes 4401/4403/4404 (HTTP 401/403/404 on
// SSE and long-poll) stop the channel and are reported with onFatal. When the app gives
// `confirmRefusal(code)`, a refusal by a stream (WebSocket or SSE, not REST) is only final
// when that check says so (the widget asks REST for the dialog: a stream can refuse what
// REST still serves, e.g. an origin rule the two read differently); otherwise the streams
// are left alone for the rest of the channel's life and polling carries on. While on a fallback,
// the better transports are probed again: after `upgradeMin` ms, then at doubling intervals
// up to `upgradeInterval` (so a notifier that restarts is back in use within seconds, and a
// network that never allows WebSocket costs one probe a minute).
//
// Short polling: a server whose processes serve one request at a time (plain CGI, Apache
// mod_fcgid) answers `wait=` at once and says so, in the widget configuration ("poll") and
// in the X-Chatai-Poll header of every long-poll answer (poll functions return it as
// `poll`). The long-poll level then asks without waiting, about every second while the
// conversation is active and easing off to 10 s when it is idle (PollPacer), and at once
// after poke() (the app sent something), then once more `followUpMs` later (an answer
// computed right after the send is not missed by a whole interval).
//
// The environment (WebSocket, EventSource, fetch, timers, random) is injectable so that
// node can test this module without a browser (tests/js/transport.test.mjs).

import {
  backoffDelay, FATAL_CLOSE_CODES, fatalCodeForStatus, parseEvent, isMessage, SeqTracker,
  parsePollMode, PollPacer,
} from './logic.js';

export const LEVELS = ['ws', 'sse', 'longpoll', 'poll'];

const DEFAULTS = {
  wsFailLimit: 3, // WebSocket opening failures in a row before SSE
  sseFailLimit: 2, // SSE opening failures in a row before long-poll
  longpollFailLimit: 3, // long-poll failures in a row before plain polling
  backoffBase: 500,
  backoffCap: 15000,
  pollInterval: 3000,
  followUpMs: 300, // short polling: the poll after the one that follows a send, this soon
  longpollWait: 25,
  upgradeMin: 5000,
  upgradeInterval: 60000,
  openTimeout: 10000,
  pingInterval: 30000, // WebSocket: send {"type":"ping"} this often ...
  silenceTimeout: 75000, // ... and reopen when nothing at all arrived for this long
};

/** An HTTP failure with its status (thrown by poll functions). */
export class HttpError extends Error {
  /** apiError: false when the body was not the API's JSON error (e.g. a proxy's page). */
  constructor(status, message, apiError = true) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.apiError = apiError;
  }
}

function defaultEnv() {
  const g = globalThis;
  return {
    WebSocket: g.WebSocket,
    EventSource: g.EventSource,
    fetch: g.fetch ? g.fetch.bind(g) : undefined,
    AbortController: g.AbortController,
    setTimeout: g.setTimeout.bind(g),
    clearTimeout: g.clearTimeout.bind(g),
    random: Math.random,
    now: () => Date.now(),
  };
}

const SSE_EVENT_NAMES = ['message', 'typing_start', 'typing_stop', 'dialog_created', 'dialog_updated'];

// The two push streams: the browser class that opens each, its name in the reasons given,
// and the setting that counts its failed opens before the chooser moves down a level.
const STREAMS = {
  ws: { ctor: 'WebSocket', name: 'WebSocket', failLimit: 'wsFailLimit' },
  sse: { ctor: 'EventSource', name: 'event stream', failLimit: 'sseFailLimit' },
};

export class Channel {
  /**
   * options:
   *   ws(cursor) -> URL string (or a Promise of one: e.g. after fetching a single-use
   *     stream ticket, so that no token goes into the URL), or null when WebSocket is not to
   *     be used; a rejection with an HttpError of the API (401/403/404) is final, any other
   *     counts as a failure to open
   *   sse(cursor) -> the same for Server-Sent Events, or null
   *   poll(cursor, waitSeconds, signal) -> Promise<{events: [...], cursor?, poll?}>; throws
   *     HttpError. poll: the answer's X-Chatai-Poll header, when there is one
   *   pollMode: what the server said about polling (the widget configuration's "poll")
   *   cursorMode: 'seq' (dialog channels) or 'opaque' (inbox)
   *   strict: seq channel carries every seq (admin) or has holes by design (site)
   *   cursor: initial cursor (seq number or opaque string)
   *   onEvent(ev), onStatus(status), onFatal({code, reason}), onOpen(transport)
   *   confirmRefusal(code) -> Promise<boolean>: optional; asked when a stream (not a poll)
   *     is refused with 4401/4403/4404: true = really gone (onFatal), false or a throw = use
   *     polling and keep going
   *   env, config: see DEFAULTS and defaultEnv()
   */
  constructor(options) {
    this.o = options;
    this.env = { ...defaultEnv(), ...(options.env || {}) };
    this.cfg = { ...DEFAULTS, ...(options.config || {}) };
    this.cursorMode = options.cursorMode || 'seq';
    if (this.cursorMode === 'seq') {
      this.tracker = new SeqTracker({ strict: options.strict !== false, start: options.cursor || 0 });
      this.opaque = null;
    } else {
      this.tracker = null;
      this.opaque = options.cursor || null;
    }
    this.seenIds = new Set();
    this.level = this._firstLevel(0);
    this.failures = 0; // opening failures in a row at this level
    this.attempt = 0; // backoff attempt at this level
    this.gen = 0; // bumps on every (re)connect; stale callbacks compare and bail
    this.ws = null;
    this.es = null;
    this.abort = null;
    this.timers = new Set();
    this.upgradeTimer = null;
    this.upgradeDelay = this.cfg.upgradeMin;
    this.stopped = true;
    this.status = { state: 'connecting', transport: null, error: null };
    this.filling = false;
    this.short = false; // the server asked for short polling
    this.pacer = null;
    this.sleeper = null; // {id, resolve} of the pause between two polls
    this.followUp = false; // poke(): the next pause is short
    this.streamsRefused = false; // a stream was refused while REST still serves: poll only
    if (options.pollMode) this.setPollMode(options.pollMode);
  }

  /**
   * What the server said about polling: the widget configuration's "poll" object or an
   * X-Chatai-Poll header value. Short: the long-poll level polls without waiting, paced by
   * a PollPacer. Anything unreadable changes nothing.
   */
  setPollMode(v) {
    const m = parsePollMode(v);
    if (!m) return;
    if (m.mode === 'long') {
      this.short = false;
      this.pacer = null;
      return;
    }
    const p = this.pacer;
    if (!p || p.activeMs !== m.activeMs || p.idleMs !== m.idleMs) {
      this.pacer = new PollPacer({ activeMs: m.activeMs, idleMs: m.idleMs });
      this.pacer.activity(this.env.now());
    }
    this.short = true;
  }

  /** Something happened in the conversation (the app sent a message): poll at once and at
   * the active pace again. */
  poke() {
    if (this.pacer) this.pacer.activity(this.env.now());
    this.followUp = true;
    this._wake();
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const id = this._timer(() => {
        this.sleeper = null;
        resolve();
      }, ms);
      this.sleeper = { id, resolve };
    });
  }

  _wake() {
    const s = this.sleeper;
    if (!s) return;
    this.sleeper = null;
    this.env.clearTimeout(s.id);
    this.timers.delete(s.id);
    s.resolve();
  }

  get transport() {
    return LEVELS[this.level];
  }

  /** The resume position: last seq (seq mode) or the opaque inbox cursor. */
  get cursor() {
    return this.tracker ? this.tracker.cursor : this.opaque;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    this._teardown();
    this._cancelUpgrade();
    this._setStatus('closed', null);
  }

  /** Sends a JSON object over the WebSocket; false when no WebSocket is open. */
  send(obj) {
    if (this.ws && this.wsOpen) {
      try {
        this.ws.send(JSON.stringify(obj));
        return true;
      } catch {
        return false;
      }
    }
    return false;
  }

  /** Tells the channel about a message learnt elsewhere (e.g. the answer to our POST). */
  noteMessage(msg) {
    if (!isMessage(msg)) return;
    this.seenIds.add(msg.id);
    if (this.tracker) this.tracker.note(msg.seq);
  }

  /** Drops the current connection and connects again at once (e.g. after going online). */
  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    this._connect();
  }

  // ---- internals ------------------------------------------------------------------------

  _firstLevel(from) {
    for (let i = from; i < LEVELS.length; i++) {
      if (this._available(LEVELS[i])) return i;
    }
    return LEVELS.length - 1;
  }

  _available(name) {
    if ((name === 'ws' || name === 'sse') && this.streamsRefused) return false;
    if (name === 'ws') return !!(this.o.ws && this.env.WebSocket);
    if (name === 'sse') return !!(this.o.sse && this.env.EventSource);
    return !!this.o.poll;
  }

  _setStatus(state, error) {
    const next = { state, transport: state === 'closed' ? null : this.transport, error: error || null };
    const cur = this.status;
    if (cur.state === next.state && cur.transport === next.transport && cur.error === next.error) return;
    this.status = next;
    if (this.o.onStatus) this.o.onStatus({ ...next });
  }

  _timer(fn, ms) {
    const id = this.env.setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, ms);
    this.timers.add(id);
    return id;
  }

  _clearTimers() {
    for (const id of this.timers) this.env.clearTimeout(id);
    this.timers.clear();
  }

  _teardown() {
    this.gen += 1;
    this._clearTimers();
    this.sleeper = null;
    this.wsOpen = false;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
    if (this.es) {
      try { this.es.close(); } catch { /* already closed */ }
      this.es = null;
    }
    if (this.abort) {
      try { this.abort.abort(); } catch { /* nothing to abort */ }
      this.abort = null;
    }
  }

  _connect() {
    if (this.stopped) return;
    this._teardown();
    const name = this.transport;
    if (this.status.state !== 'error') this._setStatus('connecting', null);
    if (name === 'ws' || name === 'sse') this._openStream(name);
    else this._pollLoop(name === 'longpoll');
    this._scheduleUpgrade();
  }

  _retry(error) {
    if (this.stopped) return;
    this._setStatus('error', error);
    const delay = backoffDelay(this.attempt, {
      base: this.cfg.backoffBase, cap: this.cfg.backoffCap, random: this.env.random,
    });
    this.attempt += 1;
    const gen = this.gen;
    this._timer(() => {
      if (gen === this.gen) this._connect();
    }, delay);
  }

  _openFailed(error, limit) {
    this.failures += 1;
    if (this.failures >= limit && this.level < LEVELS.length - 1) {
      this._fallBack(error);
      return;
    }
    this._retry(error);
  }

  _fallBack(error) {
    this._cancelUpgrade();
    this.upgradeDelay = this.cfg.upgradeMin;
    this.level = this._firstLevel(this.level + 1);
    this.failures = 0;
    this.attempt = 0;
    this._setStatus('error', error);
    this._connect();
  }

  _opened() {
    this.failures = 0;
    this.attempt = 0;
    const name = this.transport;
    this._setStatus(name === 'ws' || name === 'sse' ? 'connected' : 'fallback', null);
    if (this.o.onOpen) this.o.onOpen(name);
  }

  _fatal(code, reason) {
    this.stopped = true;
    this._teardown();
    this._cancelUpgrade();
    const text = code === 4401 ? 'not signed in' : code === 4403 ? 'access denied' : 'conversation not found';
    this._setStatus('fatal', text);
    if (this.o.onFatal) this.o.onFatal({ code, reason: reason || text });
  }

  /** A stream (WebSocket or SSE) refused with 4401/4403/4404: final, or (when the app's
   * confirmRefusal says the conversation is still served) polling from now on. */
  _streamRefused(code, reason) {
    if (!this.o.confirmRefusal) {
      this._fatal(code, reason);
      return;
    }
    this._teardown();
    this._cancelUpgrade();
    const gen = this.gen;
    this._setStatus('error', `stream refused (${code})`);
    Promise.resolve()
      .then(() => this.o.confirmRefusal(code))
      .then((gone) => !!gone, () => false)
      .then((gone) => {
        if (this.stopped || gen !== this.gen) return;
        if (gone) {
          this._fatal(code, reason);
          return;
        }
        this.streamsRefused = true;
        this.level = this._firstLevel(0);
        this.failures = 0;
        this.attempt = 0;
        this.upgradeDelay = this.cfg.upgradeMin;
        this._connect();
      });
  }

  _cursorParam() {
    return this.cursor;
  }

  /**
   * Calls make(cursor) (a URL or a Promise of one) and then onUrl(url), unless the channel
   * moved on meanwhile; a failure goes to onFail(err), except the API's own refusal of the
   * ticket request (401/403/404), which is final: REST itself said no.
   */
  _withUrl(make, onUrl, onFail) {
    const gen = this.gen;
    let u;
    try {
      u = make(this._cursorParam());
    } catch (e) {
      onFail(e);
      return;
    }
    if (!u || typeof u.then !== 'function') {
      onUrl(u);
      return;
    }
    u.then((url) => {
      if (gen === this.gen && !this.stopped) onUrl(url);
    }, (e) => {
      if (gen !== this.gen || this.stopped) return;
      const fatal = e && e.apiError !== false ? fatalCodeForStatus(e.status) : 0;
      if (fatal) this._fatal(fatal, e.message);
      else onFail(e);
    });
  }

  // -- the push streams: one way to open either --

  /** Open the stream kind ('ws' or 'sse') on a fresh URL; a failure counts as a failed open. */
  _openStream(kind) {
    const s = STREAMS[kind];
    const failed = (why) => this._openFailed(`${s.name}: ${why}`, this.cfg[s.failLimit]);
    this._withUrl(this.o[kind], (url) => {
      let stream;
      try {
        stream = new this.env[s.ctor](url);
      } catch (e) {
        failed(e && e.message ? e.message : 'cannot open');
        return;
      }
      if (kind === 'ws') this._wsStart(stream);
      else this._sseStart(stream);
    }, () => failed('no stream ticket'));
  }

  // -- WebSocket --

  _wsStart(ws) {
    const gen = this.gen;
    this.ws = ws;
    this.wsOpen = false;
    let opened = false;
    let lastData = this.env.now();
    this._timer(() => {
      if (gen === this.gen && !opened) {
        ws.onclose = null;
        try { ws.close(); } catch { /* ignore */ }
        this.ws = null;
        this._openFailed('WebSocket timed out', this.cfg.wsFailLimit);
      }
    }, this.cfg.openTimeout);
    const heartbeat = () => {
      if (gen !== this.gen || !opened) return;
      if (this.env.now() - lastData > this.cfg.silenceTimeout) {
        try { ws.close(4000); } catch { /* ignore */ }
        this._wsClosed(gen, true, 1006, '');
        return;
      }
      this.send({ type: 'ping' });
      this._timer(heartbeat, this.cfg.pingInterval);
    };
    ws.onopen = () => {
      if (gen !== this.gen) return;
      opened = true;
      this.wsOpen = true;
      lastData = this.env.now();
      this._opened();
      this._timer(heartbeat, this.cfg.pingInterval);
    };
    ws.onmessage = (e) => {
      if (gen !== this.gen) return;
      lastData = this.env.now();
      this._ingest(parseEvent(e.data));
    };
    ws.onerror = () => { /* onclose follows and decides */ };
    ws.onclose = (e) => {
      if (gen !== this.gen) return;
      this._wsClosed(gen, opened, e.code, e.reason);
    };
  }

  _wsClosed(gen, opened, code, reason) {
    if (gen !== this.gen) return;
    if (this.ws) {
      this.ws.onopen = this.ws.onmessage = this.ws.onerror = this.ws.onclose = null;
    }
    this.ws = null;
    this.wsOpen = false;
    if (FATAL_CLOSE_CODES.has(code)) {
      this._streamRefused(code, reason);
      return;
    }
    if (!opened) {
      this._openFailed(`WebSocket unavailable (${code || 'no answer'})`, this.cfg.wsFailLimit);
      return;
    }
    this._retry(`connection lost (${code})`);
  }

  // -- Server-Sent Events --

  _sseStart(es) {
    const gen = this.gen;
    this.es = es;
    let opened = false;
    const onData = (e) => {
      if (gen !== this.gen) return;
      this._ingest(parseEvent(e.data));
    };
    for (const name of SSE_EVENT_NAMES) es.addEventListener(name, onData);
    es.onopen = () => {
      if (gen !== this.gen) return;
      opened = true;
      this._opened();
    };
    es.onerror = () => {
      if (gen !== this.gen) return;
      // EventSource would reconnect on its own with a stale ?since=; we reopen ourselves.
      try { es.close(); } catch { /* ignore */ }
      this.es = null;
      if (opened) {
        this._retry('event stream lost');
        return;
      }
      // A stream ticket is good once: the probe asks with a fresh URL (same URL otherwise).
      const fresh = new Promise((resolve) => {
        this._withUrl(this.o.sse, resolve, () => resolve(null));
      });
      fresh.then((u) => (u ? this._probeSse(u) : { status: 0, api: false })).then(({ status, api }) => {
        if (gen !== this.gen) return;
        // Only the notifier's own JSON refusal is final; a 404 page from a web server that
        // does not route /sse/ means "use something else".
        const fatal = api ? fatalCodeForStatus(status) : 0;
        if (fatal) this._streamRefused(fatal, `HTTP ${status}`);
        else this._openFailed(`event stream unavailable (${status || 'no answer'})`, this.cfg.sseFailLimit);
      });
    };
  }

  /**
   * EventSource cannot see the HTTP status: ask with fetch and drop the body at once.
   * Resolves {status, api}: api is true when the answer is the API's JSON error object.
   */
  async _probeSse(url) {
    if (!this.env.fetch) return { status: 0, api: false };
    const ctl = this.env.AbortController ? new this.env.AbortController() : null;
    const timer = this.env.setTimeout(() => ctl && ctl.abort(), 5000);
    try {
      const r = await this.env.fetch(url, {
        headers: { Accept: 'text/event-stream' }, signal: ctl ? ctl.signal : undefined, cache: 'no-store',
      });
      const type = (r.headers && r.headers.get && r.headers.get('Content-Type')) || '';
      return { status: r.status, api: /json/i.test(type) };
    } catch {
      return { status: 0, api: false };
    } finally {
      this.env.clearTimeout(timer);
      if (ctl) ctl.abort();
    }
  }

  // -- long-poll and polling --

  async _pollLoop(longpoll) {
    const gen = this.gen;
    let first = true;
    if (this.pacer) this.pacer.activity(this.env.now());
    while (gen === this.gen && !this.stopped) {
      const ctl = this.env.AbortController ? new this.env.AbortController() : null;
      this.abort = ctl;
      const t0 = this.env.now();
      let result;
      let usedWait = 0;
      try {
        // The first request does not wait: it proves the route works (the indicator can say
        // so at once) and catches up; the following ones are held by the server.
        const wait = longpoll && !this.short ? this.cfg.longpollWait : 0;
        usedWait = first ? 0 : wait;
        result = await this.o.poll(this._cursorParam(), usedWait, ctl ? ctl.signal : undefined);
      } catch (err) {
        if (gen !== this.gen) return;
        // A refusal is final only when the API itself said so (its JSON error), not when
        // a proxy in between answered.
        const fatal = err && err.apiError !== false ? fatalCodeForStatus(err.status) : 0;
        if (fatal) {
          this._fatal(fatal, err.message);
          return;
        }
        const msg = err && err.status ? `server answered ${err.status}` : 'network error';
        if (longpoll) this._openFailed(msg, this.cfg.longpollFailLimit);
        else this._retry(msg);
        return;
      }
      if (gen !== this.gen) return;
      if (result && result.poll) this.setPollMode(result.poll);
      if (result && result.cursor !== undefined && this.cursorMode === 'opaque') {
        this.opaque = result.cursor;
      }
      if (first || this.status.state !== 'fallback') {
        first = false;
        this._opened();
      }
      const events = (result && Array.isArray(result.events)) ? result.events : [];
      for (const ev of events) this._ingest(ev && typeof ev === 'object' ? ev : null);
      if (gen !== this.gen) return;
      const elapsed = this.env.now() - t0;
      let pause = 0;
      // +-10 % keeps clients that started together from polling in step
      if (this.short && this.pacer) {
        pause = Math.round(this.pacer.next(this.env.now()) * (0.9 + 0.2 * this.env.random()));
        if (this.followUp) pause = Math.min(pause, this.cfg.followUpMs);
        this.followUp = false;
      }
      else if (!longpoll) pause = this.cfg.pollInterval;
      else if (usedWait > 0 && events.length === 0 && elapsed < 1000) pause = 1000; // wait was ignored
      if (pause > 0) {
        await this._sleep(pause);
      }
    }
  }

  // -- upgrade back to a better transport --

  _cancelUpgrade() {
    if (this.upgradeTimer !== null) {
      this.env.clearTimeout(this.upgradeTimer);
      this.upgradeTimer = null;
    }
  }

  /** Plans the next probe of the better transports (one timer at a time; reconnects at the
   * current level do not postpone it). */
  _scheduleUpgrade() {
    if (this.stopped || this.level === this._firstLevel(0)) {
      this._cancelUpgrade();
      this.upgradeDelay = this.cfg.upgradeMin;
      return;
    }
    if (this.upgradeTimer !== null) return;
    this.upgradeTimer = this.env.setTimeout(() => {
      this.upgradeTimer = null;
      this._tryUpgrade();
    }, this.upgradeDelay);
  }

  async _tryUpgrade() {
    if (this.stopped) return;
    const gen = this.gen;
    const best = this._firstLevel(0);
    for (let lvl = best; lvl < this.level; lvl++) {
      const name = LEVELS[lvl];
      if (!this._available(name)) continue;
      let ok = false;
      if (name === 'ws') ok = await this._probeWs();
      else if (name === 'sse') {
        let u = null;
        try { u = await this.o.sse(this._cursorParam()); } catch { u = null; }
        ok = !!u && (await this._probeSse(u)).status === 200;
      }
      if (this.stopped || gen !== this.gen) return;
      if (ok) {
        this.level = lvl;
        this.failures = 0;
        this.attempt = 0;
        this._connect();
        return;
      }
    }
    this.upgradeDelay = Math.min(this.upgradeDelay * 2, this.cfg.upgradeInterval);
    this._scheduleUpgrade();
  }

  async _probeWs() {
    let url;
    try {
      url = await this.o.ws(this._cursorParam());
    } catch {
      return false;
    }
    if (this.stopped) return false;
    return new Promise((resolve) => {
      let ws;
      try {
        ws = new this.env.WebSocket(url);
      } catch {
        resolve(false);
        return;
      }
      let done = false;
      const finish = (ok) => {
        if (done) return;
        done = true;
        this.env.clearTimeout(timer);
        ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
        try { ws.close(1000); } catch { /* ignore */ }
        resolve(ok);
      };
      const timer = this.env.setTimeout(() => finish(false), 5000);
      ws.onopen = () => finish(true);
      ws.onclose = () => finish(false);
      ws.onerror = () => finish(false);
    });
  }

  // -- events --

  _ingest(ev) {
    if (!ev) return;
    if (ev.type === 'pong') return;
    if (this.pacer) this.pacer.activity(this.env.now());
    if (isMessage(ev)) {
      if (this.seenIds.has(ev.id)) {
        if (this.tracker) this.tracker.accept(ev.seq);
        return;
      }
      if (this.tracker) {
        if (this.cursorMode === 'seq' && !this.tracker.accept(ev.seq)) return;
      }
      this.seenIds.add(ev.id);
      if (this.seenIds.size > 20000) {
        const it = this.seenIds.values();
        for (let i = 0; i < 10000; i++) this.seenIds.delete(it.next().value);
      }
      if (this.o.onEvent) this.o.onEvent(ev);
      if (this.tracker && this.tracker.hasGap()) this._fillGap();
      return;
    }
    if (this.o.onEvent) this.o.onEvent(ev);
  }

  /** A seq went missing on a strict channel: read what lies between with one poll call. */
  async _fillGap() {
    if (this.filling || !this.o.poll) return;
    this.filling = true;
    try {
      const r = await this.o.poll(this.tracker.cursor, 0, undefined);
      for (const ev of (r && r.events) || []) this._ingest(ev);
    } catch {
      // the next reconnect resumes from the cursor anyway
    } finally {
      this.filling = false;
    }
  }
}

/** Builds ws:// or wss:// from an http(s) base URL. */
export function wsBase(httpBase) {
  return httpBase.replace(/^http(s?):\/\//, (m, s) => `ws${s}://`);
}

/** Closes every channel in the set when the page goes away (pagehide, also for bfcache). */
export function closeOnPageHide(win, channels) {
  const handler = () => {
    for (const c of channels) c.stop();
  };
  win.addEventListener('pagehide', handler);
  return handler;
}
