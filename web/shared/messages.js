/* SPDX-License-Identifier: MIT */
// Message rendering and optimistic sending, shared by the widget and the operator panel
// (issue 13, item 6): one copy, talking to MessageList only through its methods.
// Text goes in with textContent only (dom.js): nothing a visitor or operator typed becomes markup.

import { el, reconcile, formatTime } from './dom.js';
import { randomClientId } from './logic.js';

/**
 * Keeps `container` showing `rows` (messages, or special rows with a `key`).
 * opts:
 *   who(m)          the sender label, or '' for none
 *   onRetry(m)      the Retry button of a failed send
 *   special(m)      a node for a row that is not a message (intro, greeting...), or null
 *   decorate(node, m) extra per-message content (actions), called on create and update
 */
export function renderRows(container, rows, opts = {}) {
  reconcile(container, rows, messageKey, (m) => createRow(m, opts), (node, m) => updateRow(node, m, opts));
}

/** The reconcile key of a row: its own key, else the client_id (an optimistic entry and the
 * stored message that replaces it keep one node), else the id. */
export function messageKey(m) {
  if (m.key) return m.key;
  return m.client_id ? `c:${m.client_id}` : `m:${m.id}`;
}

function createRow(m, opts) {
  const special = opts.special ? opts.special(m) : null;
  if (special) return special;
  if (m.sender === 'system') {
    const n = el('div', { class: 'notice', text: m.text });
    n.setAttribute('data-event', m.event || '');
    if (m.id !== undefined) n.setAttribute('data-id', String(m.id));
    if (m.seq !== undefined) n.setAttribute('data-seq', String(m.seq));
    return n;
  }
  const note = m.type === 'note';
  const node = el('div', { class: `msg ${m.sender}${note ? ' note' : ''}` });
  node.appendChild(el('span', { class: 'who' }));
  node.appendChild(el('div', { class: 'bubble', text: m.text }));
  node.appendChild(el('div', { class: 'meta' }));
  updateRow(node, m, opts);
  return node;
}

function updateRow(node, m, opts) {
  if (!node.querySelector('.meta')) return; // a notice or a special row
  const who = opts.who ? opts.who(m) : '';
  const whoEl = node.querySelector('.who');
  whoEl.textContent = who || '';
  whoEl.hidden = !who;
  node.classList.toggle('pending', !!m.pending && !m.failed);
  node.classList.toggle('failed', !!m.failed);
  if (m.id !== undefined) node.setAttribute('data-id', String(m.id));
  if (m.seq !== undefined) node.setAttribute('data-seq', String(m.seq));
  const meta = node.querySelector('.meta');
  meta.textContent = '';
  if (m.failed) {
    meta.appendChild(el('span', { text: m.error || 'Not sent' }));
    meta.appendChild(el('button', {
      class: 'retry', type: 'button', on: { click: () => opts.onRetry && opts.onRetry(m) },
    }, 'Retry'));
  } else if (m.pending) {
    meta.appendChild(el('span', { text: 'Sending…' }));
  } else if (m.timestamp) {
    meta.appendChild(el('span', { text: formatTime(m.timestamp) }));
  }
  if (opts.decorate) opts.decorate(node, m);
}

/**
 * Optimistic sending: the words show at once (a pending entry in the MessageList), and the
 * POSTs go one at a time, so messages are stored in the order they were typed even when the
 * server handles requests in parallel. A failure keeps the words with a Retry that reuses the
 * client_id (the server stores it once).
 *
 *   post(text, clientId) -> the stored message (throws on failure)
 *   onChange()           re-render
 *   errorText(e)         the words shown under a failed entry
 *   onError(e)           anything else a failure means to the caller
 *   sender               the sender of the optimistic entries ('user' or 'manager')
 */
export class OptimisticSender {
  constructor({ list, post, onChange, errorText, onError, sender = 'user', newId = randomClientId }) {
    this.list = list;
    this.post = post;
    this.onChange = onChange || (() => {});
    this.errorText = errorText || (() => 'Not sent');
    this.onError = onError || (() => {});
    this.sender = sender;
    this.newId = newId;
    this.chain = Promise.resolve();
  }

  /** Shows text at once and queues its POST; returns the promise of the queue. */
  send(text, clientId) {
    const cid = clientId || this.newId();
    if (!clientId) this.list.addPending(cid, text, this.sender);
    else this.list.setFailed(cid, false);
    this.onChange();
    const run = () => this._post(text, cid);
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  /** Sends a failed entry again with its client_id. */
  retry(clientId) {
    const e = this.list.getPending(clientId);
    if (e) return this.send(e.text, clientId);
    return this.chain;
  }

  async _post(text, cid) {
    try {
      const m = await this.post(text, cid);
      // Stored already (seen on the stream or in history): drop the optimistic copy.
      if (!this.list.upsert(m)) this.list.dropPending(cid);
    } catch (e) {
      this.list.setFailed(cid, true);
      this.list.setError(cid, this.errorText(e));
      this.onError(e);
    }
    this.onChange();
  }
}
