/* SPDX-License-Identifier: MIT */
// Mail in the widget (issue 15, docs/api.md "Mail"): the email offer inside the
// conversation when nobody is online or the dialog waits, "email me this conversation",
// the visitor's read position, and the resume link of a reply mail
// (PUBLIC_URL/#chatai-resume=DIALOG.TOKEN), which opens the same dialog in any browser.
import { el } from '../shared/dom.js';
import { apiFetch } from '../shared/api.js';

const RESUME = /^#chatai-resume=(\d+)\.([A-Za-z0-9_-]{20,256})$/;

/** The {dialogId, token} of a resume link in href's fragment, or null. */
export function resumeLink(hash) {
  const m = RESUME.exec(String(hash || ''));
  return m ? { dialogId: Number(m[1]), token: m[2] } : null;
}

export class Mailbox {
  constructor(widget) {
    this.w = widget;
    this.readSent = 0;
    this.readTimer = null;
    this.sending = false;
    this.error = '';
    this.form = null;
  }

  get contactKey() { return `${this.w.storageKey}:contact`; }

  /** The address the visitor left in this dialog ('' when none). */
  contact() {
    try {
      const v = JSON.parse(localStorage.getItem(this.contactKey) || 'null');
      return v && this.w.dialog && v.dialog_id === this.w.dialog.id ? String(v.email) : '';
    } catch { return ''; }
  }

  /**
   * A resume link in the page's address: trade its token for a visitor token of that
   * dialog, keep it as this widget's dialog, and take the fragment out of the address bar
   * (and of the history). Resolves to true when the dialog is now ours.
   */
  async resumeFromLocation() {
    const link = resumeLink(location.hash);
    if (!link) return false;
    try { history.replaceState(null, '', location.pathname + location.search); } catch { /* ignore */ }
    try {
      const r = await apiFetch(this.w.base, '/api/widget/resume',
        { body: { dialog_id: link.dialogId, resume_token: link.token } });
      if (String(r.assistant_id) !== this.w.assistantId) return false;
      localStorage.setItem(this.w.storageKey, JSON.stringify({ dialog_id: r.dialog_id, visitor_token: r.visitor_token }));
      return true;
    } catch (e) {
      if (e.status === 404) this.w.notice = 'This link has expired. Start a new conversation below.';
      return false;
    }
  }

  /** Whether to offer the email field now. */
  wanted() {
    const w = this.w;
    if (!w.info || !w.info.mail || !w.dialog || this.contact()) return false;
    return w.status === 'waiting' ||
      (w.status !== 'closed' && !w.info.operators_online && w.list.list().some((m) => m.sender === 'user'));
  }

  /** The rows the widget's message list gets from mail (after the messages). */
  rows() {
    const out = [];
    if (this.wanted()) out.push({ key: 'mail-offer', mailOffer: true });
    return out;
  }

  renderOffer() {
    if (this.form) return this.form;
    const input = el('input', {
      class: 'mail-input', type: 'email', required: true, maxlength: '254', autocomplete: 'email',
      placeholder: 'you@example.com', 'aria-label': 'Your email address',
    });
    const status = el('p', { class: 'mail-status', role: 'status' });
    const onClose = el('input', { class: 'mail-onclose', type: 'checkbox' });
    const btn = el('button', { class: 'primary mail-send', type: 'submit' }, 'Email me the answer');
    this.form = el('form', {
      class: 'mail-offer',
      on: { submit: (e) => { e.preventDefault(); this.leave(input.value.trim(), onClose.checked, status, btn); } },
    },
    el('p', { class: 'mail-lead', text: 'Nobody can answer right now. Leave your email and we will send you the answer.' }),
    el('div', { class: 'mail-row' }, input, btn),
    el('label', { class: 'mail-consent' }, onClose, ' Also email me the whole conversation when it ends'),
    el('p', { class: 'mail-consent', text: 'By sending it you agree that we email you about this conversation only.' }),
    status);
    return this.form;
  }

  async leave(email, transcriptOnClose, status, btn) {
    const d = this.w.dialog;
    if (!d || this.sending) return;
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
      status.textContent = 'Please enter a valid email address.';
      return;
    }
    this.sending = true;
    btn.disabled = true;
    try {
      await apiFetch(this.w.base, `/api/widget/dialogs/${d.id}/contact`,
        { body: { email, consent: true, transcript_on_close: !!transcriptOnClose }, visitorToken: d.token });
      try { localStorage.setItem(this.contactKey, JSON.stringify({ dialog_id: d.id, email })); } catch { /* ignore */ }
      this.w.notice = `Thanks! We'll email you the answer at ${email}.`;
    } catch (e) {
      status.textContent = e.status === 400 ? 'Please check the email address.' : 'Could not save it, please try again.';
    }
    this.sending = false;
    btn.disabled = false;
    this.w.render();
  }

  /** "Email me this conversation": shown once an address is known. */
  renderTranscriptButton() {
    if (!this.transcriptBtn) {
      this.transcriptBtn = el('button', {
        class: 'chip transcript', type: 'button', on: { click: () => this.transcript() },
      }, 'Email me this conversation');
    }
    this.transcriptBtn.hidden = !(this.w.info && this.w.info.mail && this.w.dialog && this.contact());
    return this.transcriptBtn;
  }

  async transcript() {
    const d = this.w.dialog;
    if (!d) return;
    this.transcriptBtn.disabled = true;
    try {
      await apiFetch(this.w.base, `/api/widget/dialogs/${d.id}/transcript`, { method: 'POST', visitorToken: d.token });
      this.w.notice = `The conversation is on its way to ${this.contact()}.`;
    } catch (e) {
      this.w.notice = e.status === 429 ? 'A copy was sent recently; please try again later.' : 'Could not send it, please try again.';
    }
    this.transcriptBtn.disabled = false;
    this.w.render();
  }

  /** The visitor sees the messages up to the last one: tell the server (debounced). */
  noteShown() {
    const d = this.w.dialog;
    if (!d || !this.w.isOpen || document.visibilityState === 'hidden') return;
    const seq = this.w.list.lastSeq() || 0;
    if (seq <= this.readSent || this.readTimer) return;
    this.readTimer = setTimeout(() => {
      this.readTimer = null;
      const s = this.w.list.lastSeq() || 0;
      if (!this.w.dialog || this.w.dialog !== d || s <= this.readSent) return;
      this.readSent = s;
      apiFetch(this.w.base, `/api/widget/dialogs/${d.id}/read`, { body: { seq: s }, visitorToken: d.token })
        .catch(() => { this.readSent = 0; });
    }, 300);
  }
}
