/* SPDX-License-Identifier: MIT */
// Mail in the operator panel (issue 15): the visitor's contact in the dialog's head, and on
// each reply "seen" (the visitor's read position) or the state of its mail (queued, sent,
// failed, uncertain), from GET /api/dialogs/{id}/mail (docs/api.md, "Mail").
import { el } from '../shared/dom.js';
import { apiFetch } from '../shared/api.js';

const REFRESH_MS = 15000;
const LABEL = {
  queued: 'mail queued', sent: 'mailed', failed: 'mail failed', uncertain: 'mail may not have arrived',
};

export class MailInfo {
  constructor(base, token) {
    this.base = base;
    this.token = token; // () => the bearer token
    this.data = null;
    this.id = null;
    this.timer = null;
  }

  /** Follow dialog id (null: none). */
  show(id) {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.id = id;
    this.data = null;
    this.renderHead();
    if (id === null) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    const id = this.id;
    if (id === null) return;
    try {
      const j = await apiFetch(this.base, `/api/dialogs/${id}/mail`, { token: this.token() });
      if (this.id !== id) return;
      this.data = j;
    } catch { return; }
    this.renderHead();
    this.decorate();
  }

  renderHead() {
    const info = document.querySelector('.visitor-info');
    if (!info) return;
    let dd = document.getElementById('visitor-contact');
    if (!dd) {
      dd = el('dd', { id: 'visitor-contact' });
      info.appendChild(el('div', {}, el('dt', { text: 'Email' }), dd));
    }
    const c = this.data && this.data.contact;
    dd.textContent = c ? (c.name ? `${c.name} <${c.email}>` : String(c.email)) : '—';
    dd.title = c && c.consent_at ? `consent given ${c.consent_at}` : '';
  }

  /** Marks on the replies in #messages (call after each render of the messages). */
  decorate() {
    const d = this.data;
    if (!d) return;
    const replies = (d.mails || []).filter((x) => x.kind === 'reply');
    for (const node of document.querySelectorAll('#messages .msg.manager, #messages .msg.ai')) {
      const seq = Number(node.getAttribute('data-seq') || 0);
      const meta = node.querySelector('.meta');
      if (!seq || !meta) continue;
      let mark = meta.querySelector('.mail-mark');
      if (!mark) {
        mark = el('span', { class: 'mail-mark' });
        meta.appendChild(mark);
      }
      let mail = replies.find((x) => x.from_seq <= seq && seq <= x.upto_seq && x.state !== 'skipped');
      const seen = seq <= d.visitor_read_seq;
      if (mail && mail.state === 'queued' && seen) mail = null; // read in time: it will not be mailed
      const text = mail ? LABEL[mail.state] || '' : seen ? 'seen' : '';
      mark.textContent = text;
      mark.setAttribute('data-state', mail ? mail.state : text);
      mark.title = mail && mail.error ? String(mail.error) : '';
    }
  }
}
