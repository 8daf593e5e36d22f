/* SPDX-License-Identifier: MIT */
// ChatAI operator panel: sign-in, the live inbox, one open dialog.

import { el, reconcile, formatTime } from '../shared/dom.js';
import { apiFetch } from '../shared/api.js';
import { Channel, wsBase } from '../shared/transport.js';
import {
  MessageList, randomClientId, typingThrottle, compareDialogs, describeUserAgent, connectionLabel,
} from '../shared/logic.js';
import { MailInfo } from './mail.js';

const BASE = location.origin;
const TOKEN_KEY = 'chatai.token';
const STATUS_LABEL = { ai: 'AI', waiting: 'Waiting', operator: 'Operator', closed: 'Closed' };
const WHO = { user: 'Visitor', ai: 'Assistant', manager: 'Operator' };

const $ = (id) => document.getElementById(id);
const mailInfo = new MailInfo(BASE, () => state.token);

const state = {
  token: null,
  me: null,
  dialogs: new Map(),
  filter: '',
  inbox: null,
  inboxStatus: null,
  current: null, // {id, list, channel, status}
  typingTimer: null,
  readTimer: null,
  audio: null,
};

// ---- token ------------------------------------------------------------------------------------

function loadToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function saveToken(token, remember) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (remember) localStorage.setItem(TOKEN_KEY, token);
  } catch { /* storage blocked: the token lives in memory */ }
}

function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
  } catch { /* ignore */ }
}

function api(path, opts = {}) {
  return apiFetch(BASE, path, { ...opts, token: state.token }).catch((e) => {
    if (e.status === 401 && state.token) signedOut('Your session has ended. Please sign in again.');
    throw e;
  });
}

// ---- sign in / out ---------------------------------------------------------------------------

function showLogin(message) {
  $('app-view').hidden = true;
  $('login-view').hidden = false;
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  document.title = 'Sign in — ChatAI';
  $('login-email').focus();
}

async function onLogin(e) {
  e.preventDefault();
  unlockAudio();
  const email = $('login-email').value.trim();
  const password = $('login-password').value;
  const err = $('login-error');
  if (!email || !password) {
    err.hidden = false;
    err.textContent = 'Enter your email and password.';
    return;
  }
  $('login-submit').disabled = true;
  try {
    const r = await apiFetch(BASE, '/api/auth/login', { body: { email, password } });
    state.token = r.token;
    state.me = r.user;
    saveToken(r.token, $('login-remember').checked);
    $('login-password').value = '';
    startApp();
  } catch (ex) {
    err.hidden = false;
    err.textContent = ex.status === 401 ? 'Wrong email or password.'
      : ex.status === 429 ? 'Too many attempts. Wait a moment and try again.'
        : ex.message || 'Sign-in failed.';
  } finally {
    $('login-submit').disabled = false;
  }
}

async function onLogout() {
  const token = state.token;
  stopAll();
  clearToken();
  state.token = null;
  if (token) {
    apiFetch(BASE, '/api/auth/logout', { method: 'POST', token }).catch(() => {});
  }
  showLogin('');
}

function signedOut(message) {
  stopAll();
  clearToken();
  state.token = null;
  showLogin(message);
}

function stopAll() {
  if (state.inbox) state.inbox.stop();
  state.inbox = null;
  closeDialog();
  state.dialogs.clear();
  renderList();
}

// ---- app -------------------------------------------------------------------------------------

async function startApp() {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  if (!state.me) {
    try {
      state.me = await api('/api/me');
    } catch (e) {
      if (e.status === 401) return;
      state.me = null;
    }
  }
  $('me').textContent = state.me ? `${state.me.name || state.me.email}` : '';
  connectInbox();
  const m = location.hash.match(/^#dialog-(\d+)$/);
  if (m) openDialog(Number(m[1]));
  updateTitle();
}

// The last X-Chatai-Poll header seen: a host that runs one request per process asks for
// short polling (docs/api.md); new channels start with what the server said.
let pollHeader = null;
const notePoll = (h) => {
  const v = h.get('X-Chatai-Poll');
  if (v) pollHeader = v;
  return v;
};

// No token in stream URLs (web servers log URLs): each stream opens with a single-use ticket
// asked for over REST, where the token travels in the Authorization header.
async function ticketQuery() {
  const t = await apiFetch(BASE, '/api/stream-tickets', { method: 'POST', token: state.token });
  return `ticket=${encodeURIComponent(t && t.ticket)}`;
}

function connectInbox() {
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
    pollMode: pollHeader,
    onEvent: onInboxEvent,
    onStatus: (s) => { state.inboxStatus = s; renderConnection(); },
    onOpen: () => loadDialogs(),
    onFatal: ({ code }) => {
      if (code === 4401) signedOut('Your session has ended. Please sign in again.');
    },
  });
  state.inbox.start();
}

async function loadDialogs() {
  try {
    const q = state.filter ? `?status=${state.filter}&limit=200` : '?limit=200';
    const r = await api(`/api/dialogs${q}`);
    const first = state.dialogs.size === 0;
    for (const d of (r && r.dialogs) || []) upsertDialog(d, !first);
    renderList();
  } catch { /* the status indicator shows connection trouble */ }
}

function upsertDialog(d, notify) {
  if (!d || !Number.isInteger(d.id)) return;
  const prev = state.dialogs.get(d.id);
  if (prev && prev.updated_at && d.updated_at && d.updated_at < prev.updated_at) return;
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

function pageHost(d) {
  const url = d.visitor && typeof d.visitor.page_url === 'string' ? d.visitor.page_url : '';
  try {
    return url ? new URL(url).host : '';
  } catch {
    return '';
  }
}

function dialogName(d) {
  return `Visitor #${d.id}`;
}

function renderList() {
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

function updateTitle() {
  let waiting = 0;
  for (const d of state.dialogs.values()) if (d.status === 'waiting') waiting += 1;
  if ($('app-view').hidden) return;
  document.title = waiting > 0 ? `(${waiting}) Inbox — ChatAI` : 'Inbox — ChatAI';
}

// ---- sound --------------------------------------------------------------------------------------

function unlockAudio() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return;
  if (!state.audio) {
    try { state.audio = new AC(); } catch { state.audio = null; }
  }
  if (state.audio && state.audio.state === 'suspended') state.audio.resume().catch(() => {});
}

function alertWaiting() {
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

function renderConnection() {
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

// ---- the open dialog ---------------------------------------------------------------------------

function closeDialog() {
  const cur = state.current;
  if (!cur) return;
  cur.typing.done();
  if (cur.channel) cur.channel.stop();
  state.current = null;
  $('dialog-view').hidden = true;
  $('empty-pane').hidden = false;
  document.querySelector('.layout').classList.remove('has-dialog');
  setTyping(false);
  mailInfo.show(null);
  renderConnection();
}

async function openDialog(id) {
  if (state.current && state.current.id === id) return;
  closeDialog();
  const cur = {
    id,
    list: new MessageList(),
    channel: null,
    status: null,
    connStatus: null,
    typing: typingThrottle({
      start: () => sendTyping(cur, 'start'),
      stop: () => sendTyping(cur, 'stop'),
    }),
  };
  state.current = cur;
  history.replaceState(null, '', `#dialog-${id}`);
  $('empty-pane').hidden = true;
  $('dialog-view').hidden = false;
  document.querySelector('.layout').classList.add('has-dialog');
  $('messages').textContent = '';
  $('dialog-error').hidden = true;
  const d = state.dialogs.get(id);
  if (d) d.unread = 0;
  renderList();
  renderDialogHead();
  try {
    const [dlg, msgs] = await Promise.all([api(`/api/dialogs/${id}`), api(`/api/dialogs/${id}/messages?limit=1000`)]);
    if (state.current !== cur) return;
    upsertDialog(dlg, false);
    for (const m of Array.isArray(msgs) ? msgs : []) cur.list.upsert(m);
  } catch (e) {
    if (state.current !== cur) return;
    showDialogError(e.status === 404 ? 'This conversation does not exist.' : e.message);
    return;
  }
  renderDialogHead();
  renderMessages(true);
  mailInfo.show(id);
  connectDialog(cur);
  markRead(cur);
  $('reply-input').focus();
}

function connectDialog(cur) {
  cur.channel = new Channel({
    cursorMode: 'seq',
    strict: true,
    cursor: cur.list.lastSeq(),
    ws: async (c) => `${wsBase(BASE)}/ws/dialogs/${cur.id}?${await ticketQuery()}&since=${c}`,
    sse: async (c) => `${BASE}/sse/dialogs/${cur.id}?${await ticketQuery()}&since=${c}&last_event_id=${c}`,
    poll: async (c, wait, signal) => {
      let poll = null;
      const events = await apiFetch(BASE, `/api/dialogs/${cur.id}/messages?after=${c}&wait=${wait}`,
        { token: state.token, signal, onHeaders: (h) => { poll = notePoll(h); } });
      return { events, poll };
    },
    pollMode: pollHeader,
    onEvent: (ev) => onDialogEvent(cur, ev),
    onStatus: (s) => { cur.connStatus = s; renderConnection(); },
    onFatal: ({ code }) => {
      if (code === 4401) signedOut('Your session has ended. Please sign in again.');
      else showDialogError(code === 4404 ? 'This conversation no longer exists.' : 'You cannot open this conversation.');
    },
  });
  for (const m of cur.list.list()) if (!m.pending) cur.channel.noteMessage(m);
  cur.channel.start();
}

function onDialogEvent(cur, ev) {
  if (state.current !== cur) return;
  if (ev.type === 'typing_start' || ev.type === 'typing_stop') {
    if (ev.who === 'user') setTyping(ev.type === 'typing_start');
    return;
  }
  const r = cur.list.upsert(ev);
  if (!r) return;
  if (ev.sender === 'user') setTyping(false);
  if (ev.status) {
    cur.status = ev.status;
    const d = state.dialogs.get(cur.id);
    if (d) d.status = ev.status;
    if (ev.event) refreshDialog(cur);
  }
  renderMessages(false);
  renderDialogHead();
  mailInfo.refresh();
  if (ev.sender === 'user') markRead(cur);
}

async function refreshDialog(cur) {
  try {
    const d = await api(`/api/dialogs/${cur.id}`);
    if (state.current === cur) {
      upsertDialog(d, false);
      renderList();
      renderDialogHead();
    }
  } catch { /* the stream carries on */ }
}

function markRead(cur) {
  if (state.readTimer) clearTimeout(state.readTimer);
  state.readTimer = setTimeout(() => {
    state.readTimer = null;
    if (state.current !== cur || document.hidden) return;
    const seq = cur.list.lastSeq();
    if (!seq) return;
    api(`/api/dialogs/${cur.id}/read`, { body: { seq } }).catch(() => {});
    const d = state.dialogs.get(cur.id);
    if (d && d.unread) {
      d.unread = 0;
      renderList();
    }
  }, 400);
}

function setTyping(on) {
  $('typing').hidden = !on;
  if (state.typingTimer) clearTimeout(state.typingTimer);
  state.typingTimer = on ? setTimeout(() => setTyping(false), 15000) : null;
}

function sendTyping(cur, s) {
  if (state.current !== cur) return;
  if (cur.channel && cur.channel.send({ type: s === 'start' ? 'typing_start' : 'typing_stop' })) return;
  api(`/api/dialogs/${cur.id}/typing`, { body: { state: s } }).catch(() => {});
}

function showDialogError(msg) {
  const e = $('dialog-error');
  e.hidden = !msg;
  e.textContent = msg || '';
}

function renderDialogHead() {
  const cur = state.current;
  if (!cur) return;
  const d = state.dialogs.get(cur.id) || { id: cur.id, status: cur.status || 'ai' };
  const status = cur.status || d.status;
  $('dialog-title').textContent = dialogName(d);
  const pill = $('dialog-status');
  pill.className = `pill ${status}`;
  pill.textContent = STATUS_LABEL[status] || status || '';
  $('dialog-assigned').textContent = d.assigned_to && d.assigned_to.name ? `Assigned to ${d.assigned_to.name}` : '';
  $('btn-takeover').hidden = !(status === 'ai' || status === 'waiting');
  $('btn-release').hidden = status !== 'operator';
  $('btn-close').hidden = status === 'closed';
  const v = d.visitor || {};
  const page = $('visitor-page');
  page.textContent = '';
  if (typeof v.page_url === 'string' && /^https?:\/\//i.test(v.page_url)) {
    page.appendChild(el('a', { href: v.page_url, target: '_blank', rel: 'noopener noreferrer nofollow', text: v.page_url }));
  } else {
    page.textContent = v.page_url ? String(v.page_url) : '—';
  }
  page.title = v.page_url ? String(v.page_url) : '';
  const browser = $('visitor-browser');
  browser.textContent = v.user_agent ? describeUserAgent(String(v.user_agent)) : '—';
  browser.title = v.user_agent ? String(v.user_agent) : '';
  $('visitor-started').textContent = d.created_at ? formatTime(d.created_at) : '—';
  const input = $('reply-input');
  const closed = status === 'closed';
  input.disabled = closed;
  $('reply-send').disabled = closed;
  input.placeholder = closed ? 'This conversation is closed.'
    : 'Write a reply… (Enter to send, Shift+Enter for a new line)';
}

function renderMessages(jump) {
  const cur = state.current;
  if (!cur) return;
  const box = $('messages');
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  reconcile(box, cur.list.list(), (m) => (m.client_id ? `c:${m.client_id}` : `m:${m.id}`), renderMessage, updateMessage);
  mailInfo.decorate();
  if (jump || nearBottom) box.scrollTop = box.scrollHeight;
}

function renderMessage(m) {
  if (m.sender === 'system') {
    const n = el('div', { class: 'notice', text: m.text });
    n.setAttribute('data-event', m.event || '');
    if (m.id !== undefined) n.setAttribute('data-id', String(m.id));
    return n;
  }
  const node = el('div', { class: `msg ${m.sender}` },
    el('span', { class: 'who' }),
    el('div', { class: 'bubble', text: m.text }),
    el('div', { class: 'meta' }));
  updateMessage(node, m);
  return node;
}

function senderName(m) {
  if (m.sender === 'manager' && m.operator && m.operator.name) return String(m.operator.name);
  if (m.sender === 'manager' && m.pending && state.me && state.me.name) return String(state.me.name);
  return WHO[m.sender] || m.sender;
}

function updateMessage(node, m) {
  if (m.sender === 'system') return;
  node.querySelector('.who').textContent = senderName(m);
  node.classList.toggle('pending', !!m.pending && !m.failed);
  node.classList.toggle('failed', !!m.failed);
  if (m.id !== undefined) node.setAttribute('data-id', String(m.id));
  if (m.seq !== undefined) node.setAttribute('data-seq', String(m.seq));
  const meta = node.querySelector('.meta');
  meta.textContent = '';
  if (m.failed) {
    meta.appendChild(el('span', { text: m.error || 'Not sent' }));
    meta.appendChild(el('button', { class: 'retry', type: 'button', on: { click: () => sendReply(m.text, m.client_id) } }, 'Retry'));
  } else if (m.pending) {
    meta.appendChild(el('span', { text: 'Sending…' }));
  } else {
    meta.appendChild(el('span', { text: formatTime(m.timestamp) }));
  }
}

// Replies are posted one at a time (in typing order), shown at once.
function sendReply(text, clientId) {
  const cur = state.current;
  if (!cur) return;
  const cid = clientId || randomClientId();
  if (!clientId) cur.list.addPending(cid, text, 'manager');
  else cur.list.setFailed(cid, false);
  renderMessages(true);
  const run = () => postReply(cur, text, cid);
  cur.sendChain = (cur.sendChain || Promise.resolve()).then(run, run);
}

async function postReply(cur, text, cid) {
  try {
    const m = await api(`/api/dialogs/${cur.id}/messages`, { body: { text, sender: 'manager', client_id: cid } });
    if (cur.channel) {
      cur.channel.noteMessage(m);
      cur.channel.poke(); // short polling: the visitor's reply is likely soon
    }
    if (!cur.list.upsert(m)) cur.list.pending.delete(cid);
    if (cur.status === 'ai' || cur.status === 'waiting') refreshDialog(cur);
  } catch (e) {
    cur.list.setFailed(cid, true);
    const p = cur.list.getPending(cid);
    if (p) p.error = e.status === 409 ? 'The conversation is closed' : 'Not sent';
  }
  if (state.current === cur) renderMessages(true);
}

async function dialogAction(action) {
  const cur = state.current;
  if (!cur) return;
  const btns = ['btn-takeover', 'btn-release', 'btn-close'].map($);
  for (const b of btns) b.disabled = true;
  try {
    const d = await api(`/api/dialogs/${cur.id}/${action}`, { method: 'POST', body: {} });
    upsertDialog(d, false);
    cur.status = d.status;
    renderList();
    renderDialogHead();
    showDialogError('');
  } catch (e) {
    showDialogError(e.message || 'That did not work.');
  } finally {
    for (const b of btns) b.disabled = false;
  }
}

// ---- wiring ------------------------------------------------------------------------------------

function init() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  for (const b of document.querySelectorAll('.filter')) {
    b.addEventListener('click', () => {
      state.filter = b.dataset.status;
      for (const o of document.querySelectorAll('.filter')) o.setAttribute('aria-selected', o === b ? 'true' : 'false');
      renderList();
      loadDialogs();
    });
  }
  $('btn-takeover').addEventListener('click', () => dialogAction('takeover'));
  $('btn-release').addEventListener('click', () => dialogAction('release'));
  $('btn-close').addEventListener('click', () => dialogAction('close'));
  $('btn-back').addEventListener('click', () => { closeDialog(); history.replaceState(null, '', '#'); renderList(); });
  const input = $('reply-input');
  $('reply-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    if (state.current) state.current.typing.done();
    sendReply(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('reply-form').requestSubmit();
    }
  });
  input.addEventListener('input', () => {
    if (state.current && input.value.trim()) state.current.typing.poke();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.current && document.activeElement !== input) {
      closeDialog();
      renderList();
    }
  });
  document.addEventListener('pointerdown', unlockAudio, { once: true });
  document.addEventListener('keydown', unlockAudio, { once: true });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.current) markRead(state.current);
  });
  window.addEventListener('pagehide', () => {
    if (state.inbox) state.inbox.stop();
    if (state.current && state.current.channel) state.current.channel.stop();
  });
  window.addEventListener('pageshow', (e) => {
    if (!e.persisted) return;
    if (state.inbox) state.inbox.start();
    if (state.current && state.current.channel) state.current.channel.start();
  });
  window.addEventListener('online', () => {
    if (state.inbox) state.inbox.reconnectNow();
    if (state.current && state.current.channel) state.current.channel.reconnectNow();
  });
  window.addEventListener('storage', (e) => {
    if (e.key === TOKEN_KEY && !e.newValue && state.token && !sessionStorage.getItem(TOKEN_KEY)) {
      signedOut('You signed out in another tab.');
    }
  });

  state.token = loadToken();
  if (state.token) startApp();
  else showLogin('');
}

// No window global: the session token stays in this module (issue 12, item 11).
init();
