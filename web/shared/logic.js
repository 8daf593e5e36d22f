/* SPDX-License-Identifier: MIT */
// Pure logic shared by the widget and the operator panel: no DOM, no network.
// node --test tests/js/ imports this file directly.

/** Exponential backoff with "equal jitter": half fixed, half random, capped. */
export function backoffDelay(attempt, { base = 500, cap = 15000, random = Math.random } = {}) {
  const n = Math.max(0, Math.min(attempt, 30));
  const ceiling = Math.min(cap, base * 2 ** n);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** WebSocket close codes after which retrying is pointless (API.md, Streams). */
export const FATAL_CLOSE_CODES = new Set([4401, 4403, 4404]);

/** HTTP statuses that mean the same thing for SSE and long-poll. */
export function fatalCodeForStatus(status) {
  if (status === 401) return 4401;
  if (status === 403) return 4403;
  if (status === 404) return 4404;
  return 0;
}

/** Parses one frame of any transport; returns null for anything that is not an event object. */
export function parseEvent(data) {
  if (typeof data !== 'string' || data.length === 0) return null;
  let v;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  return v;
}

/** True for a stored message object (it has an integer id and seq). Private notes
 * (`"type": "note"`, admin channel only) hold a seq of the dialog like messages. */
export function isMessage(ev) {
  return !!ev && Number.isInteger(ev.id) && Number.isInteger(ev.seq) &&
    typeof ev.sender === 'string' && (ev.type === undefined || ev.type === 'message' || ev.type === 'note');
}

/**
 * The resume cursor of one dialog channel.
 *
 * strict (admin channel: every seq of the dialog travels on it): `cursor` is the highest
 * contiguous seq; seqs seen above it are remembered, so a gap can be detected and filled.
 * non-strict (site channel: the visitor's own messages do not travel on it, so seqs have
 * holes by design): a stream delivers in order, so `cursor` is the highest seq seen.
 * Either way `accept(seq)` answers whether the seq is new (dedupe).
 */
export class SeqTracker {
  constructor({ strict = true, start = 0 } = {}) {
    this.strict = strict;
    this.cursor = start;
    this.above = new Set();
  }

  /** Records seq; returns false when it was already seen (a duplicate). */
  accept(seq) {
    if (!Number.isInteger(seq) || seq <= 0) return false;
    if (seq <= this.cursor || this.above.has(seq)) return false;
    if (!this.strict) {
      this.cursor = seq;
      return true;
    }
    if (seq === this.cursor + 1) {
      this.cursor = seq;
      while (this.above.has(this.cursor + 1)) {
        this.above.delete(this.cursor + 1);
        this.cursor += 1;
      }
    } else {
      this.above.add(seq);
    }
    return true;
  }

  /** Marks seq as known without it arriving on the stream (e.g. our own POST's answer). */
  note(seq) {
    if (!this.strict) {
      // In non-strict mode a noted seq above the cursor must not move the cursor past
      // stream events not yet received; it only matters for dedupe of history reads.
      return;
    }
    this.accept(seq);
  }

  /** True when seqs are missing between the cursor and something seen above it. */
  hasGap() {
    return this.strict && this.above.size > 0;
  }

  highest() {
    let h = this.cursor;
    for (const s of this.above) if (s > h) h = s;
    return h;
  }
}

/**
 * Ordered, de-duplicated message list with optimistic entries.
 * Stored messages are keyed by id and ordered by seq; pending (optimistic) entries are keyed
 * by client_id and stay after the stored ones until the stored copy replaces them.
 */
export class MessageList {
  constructor() {
    this.byId = new Map();
    this.seqs = new Set();
    this.pending = new Map(); // client_id -> entry
    this.version = 0;
  }

  /** Adds a stored message. Returns 'added', 'replaced' (an optimistic entry), or null (dup). */
  upsert(msg) {
    if (!isMessage(msg)) return null;
    if (this.byId.has(msg.id) || this.seqs.has(msg.seq)) return null;
    this.byId.set(msg.id, msg);
    this.seqs.add(msg.seq);
    this.version += 1;
    if (msg.client_id && this.pending.has(msg.client_id)) {
      this.pending.delete(msg.client_id);
      return 'replaced';
    }
    return 'added';
  }

  addPending(clientId, text, sender = 'user') {
    const entry = {
      pending: true, failed: false, client_id: clientId, text, sender,
      timestamp: new Date().toISOString(),
    };
    this.pending.set(clientId, entry);
    this.version += 1;
    return entry;
  }

  setFailed(clientId, failed) {
    const e = this.pending.get(clientId);
    if (!e) return false;
    e.failed = failed;
    this.version += 1;
    return true;
  }

  /** The words shown under a failed entry. */
  setError(clientId, error) {
    const e = this.pending.get(clientId);
    if (e) e.error = error;
  }

  /** Forgets an optimistic entry (its stored copy is already in the list). */
  dropPending(clientId) {
    if (this.pending.delete(clientId)) this.version += 1;
  }

  getPending(clientId) {
    return this.pending.get(clientId) || null;
  }

  /** {count, sending}: the optimistic entries, and how many of them are not failed. */
  pendingState() {
    let sending = 0;
    for (const p of this.pending.values()) if (!p.failed) sending += 1;
    return { count: this.pending.size, sending };
  }

  /** The seqs between 1 and the highest stored one that are missing. */
  missingSeqs() {
    const out = [];
    const top = this.lastSeq();
    for (let s = 1; s <= top; s++) if (!this.seqs.has(s)) out.push(s);
    return out;
  }

  hasId(id) {
    return this.byId.has(id);
  }

  /** Stored messages by seq, then pending entries in the order they were added. */
  list() {
    const stored = [...this.byId.values()].sort((a, b) => a.seq - b.seq);
    return stored.concat([...this.pending.values()]);
  }

  get size() {
    return this.byId.size + this.pending.size;
  }

  lastSeq() {
    let h = 0;
    for (const m of this.byId.values()) if (m.seq > h) h = m.seq;
    return h;
  }
}

/** A random client_id for idempotent sends. */
export function randomClientId(random = Math.random) {
  let s = 'c-';
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  if (typeof globalThis.crypto !== 'undefined' && globalThis.crypto.getRandomValues && random === Math.random) {
    const bytes = new Uint8Array(16);
    globalThis.crypto.getRandomValues(bytes);
    for (const b of bytes) s += alphabet[b % alphabet.length];
    return s;
  }
  for (let i = 0; i < 16; i++) s += alphabet[Math.floor(random() * alphabet.length)];
  return s;
}

/**
 * Calls fn at most once per `interval` ms while `start` keeps being called, and calls
 * `stop` after `idle` ms without a call. Used for "is typing" signals.
 */
export function typingThrottle({ start, stop, interval = 3000, idle = 4000, now = Date.now,
  setTimer = setTimeout, clearTimer = clearTimeout }) {
  let last = -Infinity;
  let active = false;
  let timer = null;
  const finish = () => {
    timer = null;
    if (active) {
      active = false;
      last = -Infinity;
      stop();
    }
  };
  return {
    poke() {
      const t = now();
      if (!active || t - last >= interval) {
        active = true;
        last = t;
        start();
      }
      if (timer) clearTimer(timer);
      timer = setTimer(finish, idle);
    },
    done() {
      if (timer) clearTimer(timer);
      finish();
    },
    get active() {
      return active;
    },
  };
}

/** Inbox ordering: waiting dialogs first (oldest wait first), then newest activity first. */
export function compareDialogs(a, b) {
  const wa = a.status === 'waiting' ? 0 : 1;
  const wb = b.status === 'waiting' ? 0 : 1;
  if (wa !== wb) return wa - wb;
  const ta = a.updated_at || a.created_at || '';
  const tb = b.updated_at || b.created_at || '';
  if (ta !== tb) return ta < tb ? 1 : -1;
  return b.id - a.id;
}

/** A short browser description from a user agent string. */
export function describeUserAgent(ua) {
  if (typeof ua !== 'string' || ua === '') return 'Unknown browser';
  let browser = 'Browser';
  let m;
  if ((m = ua.match(/Edg\/(\d+)/))) browser = `Edge ${m[1]}`;
  else if ((m = ua.match(/OPR\/(\d+)/))) browser = `Opera ${m[1]}`;
  else if ((m = ua.match(/(?:Chrome|Chromium|CriOS)\/(\d+)/))) browser = `Chrome ${m[1]}`;
  else if ((m = ua.match(/(?:Firefox|FxiOS)\/(\d+)/))) browser = `Firefox ${m[1]}`;
  else if ((m = ua.match(/Version\/(\d+)[^ ]* (?:Mobile\/\S+ )?Safari/))) browser = `Safari ${m[1]}`;
  let os = '';
  if (/Android/.test(ua)) os = 'Android';
  else if (/iPhone|iPad|iPod/.test(ua)) os = 'iOS';
  else if (/Windows/.test(ua)) os = 'Windows';
  else if (/Mac OS X|Macintosh/.test(ua)) os = 'macOS';
  else if (/CrOS/.test(ua)) os = 'ChromeOS';
  else if (/Linux/.test(ua)) os = 'Linux';
  if (/HeadlessChrome/.test(ua)) browser = browser.replace('Chrome', 'Headless Chrome');
  return os ? `${browser} on ${os}` : browser;
}

/** The guide's ConnectionStatus: CSS class and label from a transport status. */
export function connectionLabel(status) {
  const s = status || {};
  if (s.state === 'connected') return { cls: 'connected', text: 'Real-time connected' };
  if (s.state === 'fallback') return { cls: 'fallback', text: 'Polling mode' };
  if ((s.state === 'error' || s.state === 'fatal') && s.error) {
    return { cls: 'disconnected', text: `Error: ${s.error}` };
  }
  return { cls: 'disconnected', text: 'Connecting...' };
}

/**
 * How the server wants to be polled, from the widget configuration's "poll" object or the
 * X-Chatai-Poll header of a long-poll answer (docs/api.md, Short polling):
 *   "short; active=1000; idle=10000" -> {mode: 'short', activeMs: 1000, idleMs: 10000}
 *   "long; wait=30"                  -> {mode: 'long'}
 * Anything else -> null (nothing said: keep what we have).
 */
export function parsePollMode(v) {
  if (v && typeof v === 'object') {
    if (v.mode === 'long') return { mode: 'long' };
    if (v.mode !== 'short') return null;
    return shortMode(v.active_ms, v.idle_ms);
  }
  if (typeof v !== 'string' || !v.trim()) return null;
  const parts = v.split(';').map((s) => s.trim());
  const mode = parts[0].toLowerCase();
  if (mode === 'long') return { mode: 'long' };
  if (mode !== 'short') return null;
  const kv = {};
  for (const p of parts.slice(1)) {
    const i = p.indexOf('=');
    if (i > 0) kv[p.slice(0, i).trim().toLowerCase()] = Number(p.slice(i + 1).trim());
  }
  return shortMode(kv.active, kv.idle);
}

function shortMode(active, idle) {
  const ok = (n) => Number.isFinite(n) && n >= 100 && n <= 600000;
  const activeMs = ok(Number(active)) ? Number(active) : 1000;
  const idleMs = ok(Number(idle)) ? Math.max(Number(idle), activeMs) : Math.max(10000, activeMs);
  return { mode: 'short', activeMs, idleMs };
}

/**
 * The pace of short polling: every `activeMs` while the conversation is active (something
 * arrived or was sent within `activeFor` ms), then each pause `factor` times the last, up
 * to `idleMs`. activity() (a message, typing, our own send) brings it back to activeMs.
 */
export class PollPacer {
  constructor({ activeMs = 1000, idleMs = 10000, activeFor = 20000, factor = 1.5 } = {}) {
    this.activeMs = activeMs;
    this.idleMs = Math.max(idleMs, activeMs);
    this.activeFor = activeFor;
    this.factor = factor;
    this.lastActivity = -Infinity;
    this.delay = activeMs;
  }

  /** Something happened at `now`: poll at the active pace again. */
  activity(now) {
    this.lastActivity = now;
    this.delay = this.activeMs;
  }

  /** The pause before the next poll, asked after a poll answered at `now`. */
  next(now) {
    if (now - this.lastActivity < this.activeFor) {
      this.delay = this.activeMs;
    } else {
      this.delay = Math.min(this.idleMs, Math.max(this.activeMs, Math.round(this.delay * this.factor)));
    }
    return this.delay;
  }
}
