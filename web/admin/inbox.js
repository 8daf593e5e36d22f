/* SPDX-License-Identifier: MIT */
// The panel's inbox: the live channel of dialog events, the list of dialogs, the connection
// indicator and the sound for a visitor waiting.

import { el, reconcile, formatTime } from '../shared/dom.js';
import { apiFetch } from '../shared/api.js';
import { Channel, wsBase } from '../shared/transport.js';
import { compareDialogs, connectionLabel } from '../shared/logic.js';
import { BASE, $, state, api } from './core.js';
import { STATUS_LABEL, dialogName, pageHost } from './logic.js';
import { openDialog, renderDialogHead } from './dialog.js';

const signedOutHook = { fn: () => {} };
export function onStreamUnauthorized(fn) {
  signedOutHook.fn = fn;
}

// The last X-Chatai-Poll header seen: a host that runs one request per process asks for
// short polling (docs/api.md); new channels start with what the server said.
export const poll = { header: null };
export const notePoll = (h) => {
  const v = h.get('X-Chatai-Poll');
  if (v) poll.header = v;
  return v;
};

// No token in stream URLs (web servers log URLs): each stream opens with a single-use ticket
// asked for over REST, where the token travels in the Authorization header.
export async function ticketQuery() {
  const t = await apiFetch(BASE, '/api/stream-tickets', { method: 'POST', token: state.token });
  return `ticket=${encodeURIComponent(t && t.ticket)}`;
}

export function connectInbox() {
  if (state.inbox) state.inbox.stop();
  state.inbox = new Channel({
    cursorMode: 'opaque',
    ws: async () => `${wsBase(BASE)}/ws/inbox?${await ticketQuery()}`,
    sse: async () => `${BASE}/sse/inbox?${await ticketQuery()}`,
    poll: async (cursor, wait, signal) => {
      const q = cursor ? `cursor=${encodeURIComponent(cursor)}&wait=${wait}` : 'wait=0';
      let poll = null;
      const r = await apiFetch(BASE, `/api/inbox?${q}`,
        { token: state.token, signal, onHeaders: (h) => { poll = notePoll(h); } });
      return { ...(r || {}), poll };
    },
    pollMode: poll.header,
    onEvent: onInboxEvent,
    onStatus: (s) => { state.inboxStatus = s; renderConnection(); },
    onOpen: () => loadDialogs(),
    onFatal: ({ code }) => {
      if (code === 4401) signedOutHook.fn('Your session has ended. Please sign in again.');
    },
  });
  state.inbox.start();
}

export async function loadDialogs() {
  try {
    const q = state.filter ? `?status=${state.filter}&limit=200` : '?limit=200';
    const r = await api(`/api/dialogs${q}`);
    const first = state.dialogs.size === 0;
    for (const d of (r && r.dialogs) || []) upsertDialog(d, !first);
    renderList();
  } catch { /* the status indicator shows connection trouble */ }
}

/** Merges a dialog object into the inbox. fresh: it is REST's answer about this very dialog
 * (its GET or an action's answer), newer than whatever the inbox heard, whose updated_at may
 * be a message's time, later than the dialog's own for the same change. */
export function upsertDialog(d, notify, fresh = false) {
  if (!d || !Number.isInteger(d.id)) return;
  const prev = state.dialogs.get(d.id);
  if (!fresh && prev && prev.updated_at && d.updated_at && d.updated_at < prev.updated_at) return;
  const merged = prev ? { ...prev, ...d } : d;
  if (state.current && state.current.id === d.id) merged.unread = 0;
  state.dialogs.set(d.id, merged);
  if (notify && d.status === 'waiting' && (!prev || prev.status !== 'waiting')) alertWaiting();
  if (state.current && state.current.id === d.id) {
    state.current.status = merged.status;
    renderDialogHead();
  }
}

function onInboxEvent(ev) {
  if (ev.type === 'dialog_created' || ev.type === 'dialog_updated') {
    upsertDialog(ev.dialog, true);
    renderList();
    return;
  }
  if (ev.type === 'message' && Number.isInteger(ev.dialog_id)) {
    const d = state.dialogs.get(ev.dialog_id);
    if (!d) {
      api(`/api/dialogs/${ev.dialog_id}`).then((dd) => { upsertDialog(dd, true); renderList(); }).catch(() => {});
      return;
    }
    if (!d.last_message || (d.last_message.seq || 0) < ev.seq) {
      d.last_message = ev;
      d.last_seq = Math.max(d.last_seq || 0, ev.seq);
      d.updated_at = ev.timestamp || d.updated_at;
      if (ev.status && ev.status !== d.status) {
        const wasWaiting = d.status === 'waiting';
        d.status = ev.status;
        if (ev.status === 'waiting' && !wasWaiting) alertWaiting();
      }
      const viewing = state.current && state.current.id === d.id;
      if (ev.sender === 'user' && !viewing) d.unread = (d.unread || 0) + 1;
    }
    renderList();
  }
}

// ---- inbox rendering ---------------------------------------------------------------------------

function visibleDialogs() {
  const all = [...state.dialogs.values()].sort(compareDialogs);
  if (!state.filter) return all.filter((d) => d.status !== 'closed');
  return all.filter((d) => d.status === state.filter);
}

export function renderList() {
  const list = $('dialog-list');
  const items = visibleDialogs();
  reconcile(list, items, (d) => d.id, (d) => {
    const btn = el('button', { class: 'dialog-item', type: 'button', on: { click: () => openDialog(d.id) } },
      el('div', { class: 'di-top' },
        el('span', { class: 'di-name' }), el('span', { class: 'pill' }), el('span', { class: 'di-time' })),
      el('div', { class: 'di-bottom' }, el('span', { class: 'di-preview' }), el('span', { class: 'di-unread' })));
    const li = el('li', { class: 'dialog-row' }, btn);
    fillItem(li, d);
    return li;
  }, fillItem);
  $('list-empty').hidden = items.length > 0;
  const counts = { '': 0, waiting: 0, ai: 0, operator: 0, closed: 0 };
  for (const d of state.dialogs.values()) {
    if (d.status !== 'closed') counts[''] += 1;
    if (counts[d.status] !== undefined) counts[d.status] += 1;
  }
  for (const b of document.querySelectorAll('.filter')) {
    const n = counts[b.dataset.status];
    b.querySelector('.count').textContent = n ? String(n) : '';
  }
  updateTitle();
}

function fillItem(li, d) {
  li.setAttribute('data-dialog-id', String(d.id));
  li.setAttribute('data-status', d.status);
  const btn = li.firstChild;
  btn.setAttribute('aria-current', state.current && state.current.id === d.id ? 'true' : 'false');
  btn.classList.toggle('unread', (d.unread || 0) > 0);
  const nameEl = btn.querySelector('.di-name');
  nameEl.textContent = dialogName(d);
  const host = pageHost(d);
  if (host) nameEl.appendChild(el('span', { class: 'di-host', text: ` · ${host}` }));
  const pill = btn.querySelector('.pill');
  pill.className = `pill ${d.status}`;
  pill.textContent = STATUS_LABEL[d.status] || d.status;
  btn.querySelector('.di-time').textContent = formatTime(d.updated_at || d.created_at);
  const lm = d.last_message;
  const prefix = lm ? (lm.sender === 'manager' ? 'You: ' : lm.sender === 'ai' ? 'AI: ' : '') : '';
  btn.querySelector('.di-preview').textContent = lm ? prefix + lm.text : 'No messages yet';
  btn.querySelector('.di-unread').textContent = d.unread > 0 ? String(d.unread) : '';
  btn.setAttribute('aria-label', `${dialogName(d)}, ${STATUS_LABEL[d.status] || d.status}` +
    `${d.unread > 0 ? `, ${d.unread} unread` : ''}${lm ? `: ${lm.text.slice(0, 80)}` : ''}`);
}

export function updateTitle() {
  let waiting = 0;
  for (const d of state.dialogs.values()) if (d.status === 'waiting') waiting += 1;
  if ($('app-view').hidden) return;
  document.title = waiting > 0 ? `(${waiting}) Inbox — ChatAI` : 'Inbox — ChatAI';
}

// ---- sound --------------------------------------------------------------------------------------

export function unlockAudio() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return;
  if (!state.audio) {
    try { state.audio = new AC(); } catch { state.audio = null; }
  }
  if (state.audio && state.audio.state === 'suspended') state.audio.resume().catch(() => {});
}

export function alertWaiting() {
  updateTitle();
  const ctx = state.audio;
  if (!ctx || ctx.state !== 'running') return;
  const t = ctx.currentTime;
  for (const [i, f] of [[0, 880], [1, 1175]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, t + i * 0.16);
    gain.gain.exponentialRampToValueAtTime(0.15, t + i * 0.16 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.16 + 0.15);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t + i * 0.16);
    osc.stop(t + i * 0.16 + 0.16);
  }
}

// ---- connection indicator --------------------------------------------------------------------

const RANK = { fatal: 0, error: 0, connecting: 1, closed: 1, fallback: 2, connected: 3 };

export function renderConnection() {
  const candidates = [state.inboxStatus, state.current ? state.current.connStatus : null].filter(Boolean);
  let s = candidates[0] || null;
  for (const c of candidates) if ((RANK[c.state] ?? 1) < (RANK[s.state] ?? 1)) s = c;
  const label = connectionLabel(s);
  const box = $('connection');
  box.querySelector('.status-dot').className = `status-dot ${label.cls}`;
  box.querySelector('.status-text').textContent = label.text;
  const names = { ws: 'WebSocket', sse: 'SSE', longpoll: 'long-poll', poll: 'polling' };
  box.querySelector('.transport-name').textContent = s && s.transport && (s.state === 'connected' || s.state === 'fallback')
    ? `· ${names[s.transport]}` : '';
  box.setAttribute('data-state', s ? s.state : 'connecting');
  box.setAttribute('data-transport', s && s.transport ? s.transport : '');
}

