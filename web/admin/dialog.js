/* SPDX-License-Identifier: MIT */
// The open dialog: its messages (shared/messages.js), its live channel, the head (status,
// assignment, actions) and the composer's sending of replies and private notes.

import { el, formatTime } from '../shared/dom.js';
import { apiFetch } from '../shared/api.js';
import { Channel, wsBase } from '../shared/transport.js';
import { MessageList, typingThrottle, describeUserAgent } from '../shared/logic.js';
import { renderRows, OptimisticSender } from '../shared/messages.js';
import { BASE, $, state, api, errorMessage } from './core.js';
import { STATUS_LABEL, dialogName } from './logic.js';
import {
  upsertDialog, renderList, renderConnection, ticketQuery, notePoll, poll,
} from './inbox.js';
import { openSaveAsKnowledge, closeCanned, fillAssignees } from './composer.js';
import { MailInfo } from './mail.js';

const WHO = { user: 'Visitor', ai: 'Assistant', manager: 'Operator' };
const mailInfo = new MailInfo(BASE, () => state.token);

const hooks = { unauthorized: () => {} };
export function onDialogUnauthorized(fn) {
  hooks.unauthorized = fn;
}

export function closeDialog() {
  const cur = state.current;
  if (!cur) return;
  cur.typing.done();
  if (cur.channel) cur.channel.stop();
  state.current = null;
  $('dialog-view').hidden = true;
  $('empty-pane').hidden = false;
  $('inbox-view').classList.remove('has-dialog');
  setTyping(false);
  closeCanned();
  mailInfo.show(null);
  renderConnection();
}

function newCurrent(id) {
  const cur = {
    id,
    list: new MessageList(),
    channel: null,
    status: null,
    connStatus: null,
    focusSeq: null,
    typing: typingThrottle({
      start: () => sendTyping(cur, 'start'),
      stop: () => sendTyping(cur, 'stop'),
    }),
  };
  cur.sender = new OptimisticSender({
    list: cur.list,
    sender: 'manager',
    post: (text, cid) => postReply(cur, text, cid),
    onChange: () => { if (state.current === cur) renderMessages(true); },
    errorText: (e) => (e.status === 409 ? 'The conversation is closed' : 'Not sent'),
  });
  return cur;
}

/** Opens dialog id; with seq, scrolls to that message and marks it (search results). */
export async function openDialog(id, seq = null) {
  if (state.current && state.current.id === id) {
    if (seq) focusMessage(seq);
    return;
  }
  closeDialog();
  const cur = newCurrent(id);
  cur.focusSeq = seq;
  state.current = cur;
  history.replaceState(null, '', seq ? `#dialog-${id}-seq-${seq}` : `#dialog-${id}`);
  $('empty-pane').hidden = true;
  $('dialog-view').hidden = false;
  $('inbox-view').classList.add('has-dialog');
  $('messages').textContent = '';
  $('dialog-error').hidden = true;
  const d = state.dialogs.get(id);
  if (d) d.unread = 0;
  renderList();
  renderDialogHead();
  fillAssignees();
  try {
    const [dlg, msgs] = await Promise.all([api(`/api/dialogs/${id}`), api(`/api/dialogs/${id}/messages?limit=1000`)]);
    if (state.current !== cur) return;
    upsertDialog(dlg, false, true);
    for (const m of Array.isArray(msgs) ? msgs : []) cur.list.upsert(m);
  } catch (e) {
    if (state.current !== cur) return;
    showDialogError(e.status === 404 ? 'This conversation does not exist.' : e.message);
    return;
  }
  renderDialogHead();
  renderMessages(!cur.focusSeq);
  mailInfo.show(id);
  connectDialog(cur);
  markRead(cur);
  if (cur.focusSeq) focusMessage(cur.focusSeq);
  else $('reply-input').focus();
}

/** Scrolls to the message of seq, marks it and gives it focus (for keyboard and readers). */
export function focusMessage(seq) {
  const node = document.querySelector(`#messages > [data-seq="${Number(seq)}"]`);
  if (!node) return false;
  for (const n of document.querySelectorAll('#messages > .found')) n.classList.remove('found');
  node.classList.add('found');
  node.setAttribute('tabindex', '-1');
  node.scrollIntoView({ block: 'center' });
  node.focus({ preventScroll: true });
  return true;
}

function connectDialog(cur) {
  cur.channel = new Channel({
    cursorMode: 'seq',
    strict: true,
    cursor: cur.list.lastSeq(),
    ws: async (c) => `${wsBase(BASE)}/ws/dialogs/${cur.id}?${await ticketQuery()}&since=${c}`,
    sse: async (c) => `${BASE}/sse/dialogs/${cur.id}?${await ticketQuery()}&since=${c}&last_event_id=${c}`,
    poll: async (c, wait, signal) => {
      let mode = null;
      const events = await apiFetch(BASE, `/api/dialogs/${cur.id}/messages?after=${c}&wait=${wait}`,
        { token: state.token, signal, onHeaders: (h) => { mode = notePoll(h); } });
      return { events, poll: mode };
    },
    pollMode: poll.header,
    onEvent: (ev) => onDialogEvent(cur, ev),
    onStatus: (s) => { cur.connStatus = s; renderConnection(); },
    onFatal: ({ code }) => {
      if (code === 4401) hooks.unauthorized('Your session has ended. Please sign in again.');
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
  }
  if (ev.event) refreshDialog(cur);
  renderMessages(false);
  renderDialogHead();
  mailInfo.refresh();
  if (ev.sender === 'user') markRead(cur);
}

export async function refreshDialog(cur) {
  try {
    const d = await api(`/api/dialogs/${cur.id}`);
    if (state.current === cur) {
      upsertDialog(d, false, true);
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

export function markCurrentRead() {
  if (state.current) markRead(state.current);
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

export function showDialogError(msg) {
  const e = $('dialog-error');
  e.hidden = !msg;
  e.textContent = msg || '';
}

export function renderDialogHead() {
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
    : noteMode() ? 'Write a private note (operators only)…'
      : 'Write a reply… (/ for canned replies, Enter to send)';
  const sel = $('assign-select');
  if (d.assigned_to && d.assigned_to.id && sel.value === '') sel.value = String(d.assigned_to.id);
}

export const noteMode = () => $('reply-form').dataset.mode === 'note';

function senderName(m) {
  if (m.sender === 'manager' && m.operator && m.operator.name) return String(m.operator.name);
  if (m.sender === 'manager' && m.pending && state.me && state.me.name) return String(state.me.name);
  return WHO[m.sender] || m.sender;
}

export function renderMessages(jump) {
  const cur = state.current;
  if (!cur) return;
  const box = $('messages');
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  renderRows(box, cur.list.list(), {
    who: (m) => (m.type === 'note' ? `Private note · ${senderName(m)}` : senderName(m)),
    onRetry: (m) => (m.type === 'note' ? sendNote(m.text) : cur.sender.retry(m.client_id)),
    decorate: (node, m) => decorateMessage(node, m, cur),
  });
  mailInfo.decorate();
  if (jump || nearBottom) box.scrollTop = box.scrollHeight;
}

// "Save as knowledge" on every stored operator reply.
function decorateMessage(node, m, cur) {
  if (m.sender !== 'manager' || m.type === 'note' || m.pending || m.id === undefined) return;
  const meta = node.querySelector('.meta');
  meta.appendChild(el('button', {
    class: 'link-btn save-kb', type: 'button', 'aria-label': 'Save this reply as knowledge',
    on: { click: () => openSaveAsKnowledge(cur, m) },
  }, 'Save as knowledge'));
}

/** Sends the composer's words as a reply (optimistic) or a private note. */
export function sendReply(text) {
  const cur = state.current;
  if (!cur) return;
  cur.sender.send(text);
}

async function postReply(cur, text, cid) {
  const m = await api(`/api/dialogs/${cur.id}/messages`, { body: { text, sender: 'manager', client_id: cid } });
  if (cur.channel) {
    cur.channel.noteMessage(m);
    cur.channel.poke(); // short polling: the visitor's reply is likely soon
  }
  if (cur.status === 'ai' || cur.status === 'waiting') refreshDialog(cur);
  return m;
}

/** Posts a private note (seen by operators only); it shows when stored. */
export async function sendNote(text) {
  const cur = state.current;
  if (!cur) return;
  try {
    const m = await api(`/api/dialogs/${cur.id}/notes`, { body: { text } });
    if (cur.channel) cur.channel.noteMessage(m);
    cur.list.upsert(m);
    showDialogError('');
    if (state.current === cur) renderMessages(true);
  } catch (e) {
    showDialogError(`The note was not saved: ${errorMessage(e)}`);
    if (state.current === cur && !$('reply-input').value) $('reply-input').value = text;
  }
}

export async function dialogAction(action) {
  const cur = state.current;
  if (!cur) return;
  const btns = ['btn-takeover', 'btn-release', 'btn-close'].map($);
  for (const b of btns) b.disabled = true;
  try {
    const d = await api(`/api/dialogs/${cur.id}/${action}`, { method: 'POST', body: {} });
    upsertDialog(d, false, true);
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
