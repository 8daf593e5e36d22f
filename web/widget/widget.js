/* SPDX-License-Identifier: MIT */
// The ChatAI chat widget: a launcher button and a chat panel inside a shadow DOM.
// Loaded by chatai.js; mount({assistantId, apiBase, open}).

import css from './styles.js';
import { el, icon, ICONS } from '../shared/dom.js';
import { apiFetch } from '../shared/api.js';
import { Channel, wsBase } from '../shared/transport.js';
import { MessageList, typingThrottle, connectionLabel } from '../shared/logic.js';
import { renderRows, OptimisticSender } from '../shared/messages.js';
import { Mailbox } from './mailbox.js';

const WHO = { ai: 'Assistant', manager: 'Support agent', user: 'You' };

export function mount(options) {
  if (document.querySelector('chatai-widget')) return null;
  const w = new Widget(options);
  w.mount();
  // No window global: the visitor token stays in this module (issue 12, item 11).
  return w;
}

/** The page address operators see: without query and fragment (they may carry a visitor's
 * tokens or personal data) unless the site asked for the full address (data-full-url). */
export function pageUrl(href, full) {
  const s = String(href || '');
  if (full) return s;
  const i = s.search(/[?#]/);
  return i < 0 ? s : s.slice(0, i);
}

class Widget {
  constructor({ assistantId, apiBase, open, fullPageUrl }) {
    this.assistantId = String(assistantId);
    this.fullPageUrl = !!fullPageUrl;
    this.base = apiBase.replace(/\/$/, '');
    this.startOpen = !!open;
    this.storageKey = `chatai:${this.base}:assistant:${this.assistantId}`;
    this.list = new MessageList();
    this.sender = this._makeSender();
    this.channel = null;
    this.dialog = null; // {id, token}
    this.status = 'ai';
    this.info = null;
    this.unread = 0;
    this.isOpen = false;
    this.typingWho = null;
    this.typingTimer = null;
    this.creating = null;
    this.connStatus = null;
    this.mail = new Mailbox(this);
    this.typing = typingThrottle({
      start: () => this._sendTyping('start'),
      stop: () => this._sendTyping('stop'),
    });
  }

  // ---- setup ------------------------------------------------------------------------------

  mount() {
    this.host = document.createElement('chatai-widget');
    this.host.setAttribute('data-assistant', this.assistantId);
    const shadow = this.host.attachShadow({ mode: 'open' });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [sheet];
    this.shadow = shadow;
    this._build();
    shadow.appendChild(this.root);
    (document.body || document.documentElement).appendChild(this.host);

    window.addEventListener('pagehide', () => {
      this.typing.done();
      if (this.channel) this.channel.stop();
    });
    window.addEventListener('pageshow', (e) => {
      if (e.persisted && this.channel) this.channel.start();
    });
    window.addEventListener('online', () => this.channel && this.channel.reconnectNow());
    window.addEventListener('storage', (e) => {
      if (e.key === this.storageKey && !e.newValue && this.dialog) this._forget('');
      if (e.key === this.storageKey && e.newValue && !this.dialog) this._restore();
    });

    this._loadInfo();
    document.addEventListener('visibilitychange', () => this.mail.noteShown());
    // A reply mail's link (docs/api.md, "Mail") opens its dialog here, then shows it.
    this.mail.resumeFromLocation().then((resumed) => {
      this._restore();
      if (this.startOpen || resumed) this.open();
    });
  }

  unmount() {
    if (this.channel) this.channel.stop();
    this.channel = null;
    this.typing.done();
    if (this.host) this.host.remove();
  }

  _build() {
    const panelId = 'chatai-panel';
    this.badge = el('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
    this.launcher = el('button', {
      class: 'launcher', type: 'button', 'aria-label': 'Open chat', 'aria-expanded': 'false',
      'aria-controls': panelId, on: { click: () => (this.isOpen ? this.close() : this.open()) },
    }, icon(ICONS.chat, 'i-chat'), icon(ICONS.close, 'i-close'), this.badge);

    this.titleEl = el('p', { class: 'title', id: 'chatai-title', text: 'Chat with us' });
    this.presence = el('span', { class: 'presence' });
    this.subtitleText = el('span', { text: 'We reply in a moment' });
    this.avatar = el('span', { class: 'avatar', 'aria-hidden': 'true', text: 'C' });
    const closeBtn = el('button', {
      class: 'icon-btn', type: 'button', 'aria-label': 'Close chat', on: { click: () => this.close() },
    }, icon(ICONS.minimize));
    const header = el('div', { class: 'header' }, this.avatar,
      el('div', { class: 'titles' }, this.titleEl, el('p', { class: 'subtitle' }, this.presence, this.subtitleText)),
      closeBtn);

    this.connEl = el('div', { class: 'conn', role: 'status', hidden: true });
    this.messagesEl = el('div', {
      class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
      'aria-label': 'Conversation', tabindex: '0',
    });
    this.typingText = el('span', { text: 'Assistant is typing' });
    this.typingEl = el('div', { class: 'typing', hidden: true, 'aria-live': 'polite' },
      el('span', { class: 'dots', 'aria-hidden': 'true' }, el('span'), el('span'), el('span')), this.typingText);

    this.handoffBtn = el('button', {
      class: 'chip handoff', type: 'button', on: { click: () => this.requestHuman() },
    }, icon(ICONS.person), 'Talk to a human');
    this.actions = el('div', { class: 'actions' }, this.handoffBtn);
    this.mailActions = el('div', { class: 'actions mail-actions' }, this.mail.renderTranscriptButton());

    this.input = el('textarea', {
      class: 'input', rows: '1', placeholder: 'Type your message…', 'aria-label': 'Message',
      maxlength: '4000',
      on: {
        keydown: (e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            this._submit();
          }
        },
        input: () => {
          this._autosize();
          this.sendBtn.disabled = this.input.value.trim() === '';
          if (this.input.value.trim() !== '' && this.dialog) this.typing.poke();
        },
      },
    });
    this.sendBtn = el('button', {
      class: 'send', type: 'submit', 'aria-label': 'Send message', disabled: true,
    }, icon(ICONS.send));
    this.composer = el('form', {
      class: 'composer', on: { submit: (e) => { e.preventDefault(); this._submit(); } },
    }, this.input, this.sendBtn);

    this.closedBar = el('div', { class: 'closed-bar', hidden: true },
      el('button', { class: 'primary', type: 'button', on: { click: () => this.startOver() } },
        'Start a new conversation'));

    this.panel = el('div', {
      class: 'panel', id: panelId, role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'chatai-title',
      hidden: true,
      on: {
        keydown: (e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            this.close();
          }
        },
      },
    }, header, this.connEl, this.messagesEl, this.typingEl, this.actions, this.mailActions, this.composer,
    this.closedBar,
    el('div', { class: 'footer', text: 'Powered by ChatAI' }));

    this.root = el('div', { class: 'root' }, this.panel, this.launcher);
  }

  _autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight + 2, 120)}px`;
  }

  // ---- open / close ---------------------------------------------------------------------

  open() {
    this._setOpen(true);
    this.unread = 0;
    this._renderBadge();
    this._scrollToEnd();
    this.input.focus();
    this.mail.noteShown();
  }

  close() {
    this._setOpen(false);
    this.launcher.focus();
  }

  /** The panel shown or hidden, and the launcher saying what a press does next. */
  _setOpen(isOpen) {
    this.isOpen = isOpen;
    this.panel.hidden = !isOpen;
    this.root.classList.toggle('open', isOpen);
    this.launcher.setAttribute('aria-expanded', String(isOpen));
    this.launcher.setAttribute('aria-label', isOpen ? 'Close chat' : 'Open chat');
  }

  // ---- server state -----------------------------------------------------------------------

  async _loadInfo() {
    try {
      this.info = await apiFetch(this.base, `/api/widget/assistants/${encodeURIComponent(this.assistantId)}`);
    } catch (e) {
      this.info = null;
      if (e.status === 404) {
        // A misconfigured embed (no such assistant): show nothing rather than a broken chat.
        if (window.console) window.console.warn(`ChatAI: assistant ${this.assistantId} does not exist`);
        this.unmount();
        return;
      }
    }
    if (this.info) {
      if (this.channel && this.info.poll) this.channel.setPollMode(this.info.poll);
      const name = String(this.info.name || 'Support');
      this.titleEl.textContent = name;
      this.avatar.textContent = name.trim().charAt(0).toUpperCase() || 'C';
      const on = !!this.info.operators_online;
      this.presence.classList.toggle('on', on);
      this.subtitleText.textContent = on ? 'Our team is online' : 'AI assistant · we reply in a moment';
    }
    this.render();
  }

  _saved() {
    try {
      const v = JSON.parse(localStorage.getItem(this.storageKey) || 'null');
      if (v && Number.isInteger(v.dialog_id) && typeof v.visitor_token === 'string') return v;
    } catch { /* storage blocked or corrupt */ }
    return null;
  }

  async _restore() {
    const saved = this._saved();
    if (!saved) {
      this.render();
      return;
    }
    this.dialog = { id: saved.dialog_id, token: saved.visitor_token };
    try {
      const msgs = await apiFetch(this.base, `/api/widget/dialogs/${this.dialog.id}/messages`,
        { visitorToken: this.dialog.token });
      for (const m of Array.isArray(msgs) ? msgs : []) this._addMessage(m, false);
    } catch (e) {
      if (e.status === 401 || e.status === 403 || e.status === 404) {
        this._forget('');
        return;
      }
    }
    this.render();
    this._connect();
  }

  _connect() {
    if (this.channel) this.channel.stop();
    const d = this.dialog;
    // No token in stream URLs (web servers log URLs): each stream opens with a single-use
    // ticket asked for over REST, where the token travels in a header (docs/streams.md).
    const q = async (cursor) => {
      const t = await apiFetch(this.base, `/api/widget/dialogs/${d.id}/stream-tickets`,
        { method: 'POST', visitorToken: d.token });
      return `assistant_id=${encodeURIComponent(this.assistantId)}` +
        `&ticket=${encodeURIComponent(t && t.ticket)}&since=${cursor || 0}`;
    };
    this.channel = new Channel({
      cursorMode: 'seq',
      strict: false,
      cursor: this.list.lastSeq(),
      ws: async (c) => `${wsBase(this.base)}/ws/widget/dialogs/${d.id}?${await q(c)}`,
      sse: async (c) => `${this.base}/sse/widget/dialogs/${d.id}?${await q(c)}&last_event_id=${c || 0}`,
      poll: async (c, wait, signal) => {
        let poll = null;
        const events = await apiFetch(this.base,
          `/api/widget/dialogs/${d.id}/messages?after=${c || 0}&wait=${wait}`,
          { visitorToken: d.token, signal, onHeaders: (h) => { poll = h.get('X-Chatai-Poll'); } });
        return { events, poll };
      },
      // A host that runs one request per process asks for short polling (docs/api.md).
      pollMode: this.info && this.info.poll,
      onEvent: (ev) => this._onEvent(ev),
      onStatus: (s) => this._onStatus(s),
      // A stream's refusal is not the dialog's end: REST may still serve it (an origin rule
      // the notifier reads differently, a proxy in between). Only REST's own 401/403/404
      // forgets the dialog; otherwise the channel keeps polling.
      confirmRefusal: () => this._dialogGone(d),
      onFatal: () => this._forget('This conversation is no longer available. You can start a new one.'),
    });
    for (const m of this.list.list()) if (!m.pending) this.channel.noteMessage(m);
    this.channel.start();
  }

  /** Asks REST whether dialog d is still ours: true only when REST refuses it (401/403/404
   * as the API's JSON error); a network error or anything else keeps it. */
  async _dialogGone(d) {
    try {
      await apiFetch(this.base, `/api/widget/dialogs/${d.id}/messages?after=${this.list.lastSeq() || 0}`,
        { visitorToken: d.token });
      return false;
    } catch (e) {
      return !!(e && e.apiError !== false && (e.status === 401 || e.status === 403 || e.status === 404));
    }
  }

  _forget(notice) {
    if (this.channel) this.channel.stop();
    this.channel = null;
    this.dialog = null;
    this.status = 'ai';
    try { localStorage.removeItem(this.storageKey); } catch { /* ignore */ }
    this.list = new MessageList();
    this.sender = this._makeSender();
    this.gapsRead = null;
    this.notice = notice || '';
    this._setTyping(null);
    this._onStatus(null);
    this.render();
  }

  startOver() {
    this._forget('');
    this.input.focus();
  }

  async _ensureDialog() {
    if (this.dialog) return this.dialog;
    if (!this.creating) {
      this.creating = (async () => {
        const r = await apiFetch(this.base, '/api/widget/dialogs', {
          body: { assistant_id: Number(this.assistantId), page_url: pageUrl(location.href, this.fullPageUrl).slice(0, 2000) },
        });
        this.dialog = { id: r.dialog_id, token: r.visitor_token };
        try {
          localStorage.setItem(this.storageKey, JSON.stringify({ dialog_id: r.dialog_id, visitor_token: r.visitor_token }));
        } catch { /* private mode: the conversation lasts as long as the page */ }
        this.notice = '';
        for (const m of r.messages || []) this._addMessage(m, false);
        this._connect();
        return this.dialog;
      })();
      this.creating.then(() => { this.creating = null; }, () => { this.creating = null; });
    }
    return this.creating;
  }

  // ---- sending ----------------------------------------------------------------------------

  _submit() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = '';
    this._autosize();
    this.sendBtn.disabled = true;
    this.typing.done();
    this.send(text);
  }

  /** Shows the message at once and queues its POST (shared/messages.js). */
  send(text, clientId) {
    this._scrollToEnd();
    return this.sender.send(text, clientId);
  }

  _makeSender() {
    return new OptimisticSender({
      list: this.list,
      sender: 'user',
      post: (text, cid) => this._post(text, cid),
      onChange: () => this.render(),
      errorText: (e) => (e.status === 429 ? 'Too many messages, wait a moment' : 'Not sent'),
      onError: (e) => {
        if (e.status === 404 || e.status === 403) {
          // The dialog is gone: keep the words, start afresh on retry.
          this.dialog = null;
          try { localStorage.removeItem(this.storageKey); } catch { /* ignore */ }
          if (this.channel) this.channel.stop();
          this.channel = null;
        }
      },
    });
  }

  async _post(text, cid) {
    const d = await this._ensureDialog();
    const r = await apiFetch(this.base, `/api/widget/dialogs/${d.id}/messages`, {
      body: { sender: 'user', text, client_id: cid }, visitorToken: d.token,
    });
    const m = r && r.user_message ? r.user_message : r;
    if (this.channel) {
      this.channel.noteMessage(m);
      this.channel.poke(); // short polling: ask for the answer at once
    }
    return m;
  }

  retry(clientId) {
    return this.sender.retry(clientId);
  }

  async requestHuman() {
    this.handoffBtn.disabled = true;
    try {
      const d = await this._ensureDialog();
      const dlg = await apiFetch(this.base, `/api/widget/dialogs/${d.id}/handoff`, {
        method: 'POST', body: {}, visitorToken: d.token,
      });
      if (dlg && dlg.status) this.status = dlg.status;
    } catch {
      this.notice = 'Could not reach a human right now. Please try again.';
    }
    this.handoffBtn.disabled = false;
    this.render();
  }

  _sendTyping(state) {
    if (!this.dialog) return;
    const type = state === 'start' ? 'typing_start' : 'typing_stop';
    if (this.channel && this.channel.send({ type })) return;
    apiFetch(this.base, `/api/widget/dialogs/${this.dialog.id}/typing`, {
      body: { state }, visitorToken: this.dialog.token,
    }).catch(() => {});
  }

  // ---- events -------------------------------------------------------------------------------

  _onEvent(ev) {
    if (ev.type === 'typing_start' || ev.type === 'typing_stop') {
      if (ev.who === 'user') return;
      this._setTyping(ev.type === 'typing_start' ? (ev.who || 'ai') : null);
      return;
    }
    if (ev.type === 'message' || ev.id !== undefined) {
      const added = this._addMessage(ev, true);
      if (added && (ev.sender === 'ai' || ev.sender === 'manager')) this._setTyping(null);
      this.render();
      if (added) this._checkHoles();
    }
  }

  /**
   * The site channel does not carry the visitor's messages (the sender shows them itself).
   * A hole in the seqs that is not one of our own sends in flight is a message the visitor
   * wrote in another tab: read the history (which has them) to show it here too.
   */
  _checkHoles() {
    if (this.holeTimer) return;
    this.holeTimer = setTimeout(async () => {
      this.holeTimer = null;
      const pend = this.list.pendingState();
      if (!this.dialog || pend.count > 0) {
        if (this.dialog && pend.sending > 0) this._checkHoles();
        return;
      }
      // A hole the history did not fill is not the visitor's (an operators' note or event):
      // read the history once for each new hole only.
      const known = this.gapsRead || (this.gapsRead = new Set());
      if (!this.list.missingSeqs().some((s) => !known.has(s))) return;
      const d = this.dialog;
      try {
        const msgs = await apiFetch(this.base, `/api/widget/dialogs/${d.id}/messages`, { visitorToken: d.token });
        if (this.dialog !== d) return;
        for (const m of Array.isArray(msgs) ? msgs : []) this._addMessage(m, false);
        for (const s of this.list.missingSeqs()) known.add(s);
        this.render();
      } catch { /* the next message tries again */ }
    }, 700);
  }

  _addMessage(m, live) {
    const r = this.list.upsert(m);
    if (!r) return false;
    if (m.status) this.status = m.status;
    if (live && r === 'added' && m.sender !== 'user' && !this.isOpen) {
      this.unread += 1;
    }
    if (live && r === 'added' && this.isOpen) this._scrollToEnd();
    return true;
  }

  _setTyping(who) {
    this.typingWho = who;
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    if (who) {
      this.typingText.textContent = who === 'manager' ? 'Support agent is typing' : 'Assistant is typing';
      this.typingTimer = setTimeout(() => this._setTyping(null), 30000);
    }
    this.typingEl.hidden = !who;
    this.typingEl.setAttribute('data-who', who || '');
    if (who) this._scrollToEnd();
  }

  _onStatus(s) {
    this.connStatus = s;
    const label = connectionLabel(s);
    this.root.setAttribute('data-connection', s ? s.state : 'idle');
    this.root.setAttribute('data-transport', s && s.transport ? s.transport : '');
    // Only trouble is shown to visitors; a working fallback is silent.
    const trouble = s && (s.state === 'error') ;
    this.connEl.hidden = !trouble;
    if (trouble) this.connEl.textContent = 'Reconnecting… messages will arrive when the connection is back.';
    this.connEl.setAttribute('data-label', label.text);
  }

  // ---- rendering ----------------------------------------------------------------------------

  _renderBadge() {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = this.unread > 9 ? '9+' : String(this.unread);
    this.launcher.setAttribute('aria-label', this.isOpen ? 'Close chat'
      : this.unread ? `Open chat, ${this.unread} unread message${this.unread > 1 ? 's' : ''}` : 'Open chat');
  }

  render() {
    const items = this.list.list();
    const rows = [];
    const hasStored = items.some((m) => !m.pending);
    if (!hasStored && this.info && this.info.greeting) {
      rows.push({ key: 'greeting', sender: 'ai', text: String(this.info.greeting), greeting: true });
    } else if (items.length === 0) {
      rows.push({ key: 'intro', intro: true });
    }
    for (const m of items) rows.push(m);
    rows.push(...this.mail.rows());
    if (this.notice) rows.push({ key: 'notice', sender: 'system', text: this.notice, localNotice: true });

    renderRows(this.messagesEl, rows, {
      who: (m) => (m.sender === 'user' ? ''
        : m.sender === 'manager' && m.operator && m.operator.name ? String(m.operator.name) : WHO[m.sender] || ''),
      onRetry: (m) => this.retry(m.client_id),
      special: (m) => {
        if (m.intro) {
          return el('div', { class: 'intro' }, el('strong', { text: 'Hi there!' }),
            'Ask us anything — we usually answer right away.');
        }
        return m.mailOffer ? this.mail.renderOffer() : null;
      },
    });

    const closed = this.status === 'closed';
    this.composer.hidden = closed;
    this.closedBar.hidden = !closed;
    this.actions.hidden = closed || this.status === 'waiting' || this.status === 'operator';
    this.mailActions.hidden = this.mail.renderTranscriptButton().hidden;
    this._renderBadge();
    this.mail.noteShown();
  }

  _scrollToEnd() {
    requestAnimationFrame(() => {
      this.messagesEl.scrollTop = this.messagesEl.scrollHeight;
    });
  }
}
