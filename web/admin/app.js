/* SPDX-License-Identifier: MIT */
// ChatAI operator panel, the entry module: sign-in, the sections, the wiring of the page.
// The parts live beside it (core, inbox, dialog, composer, assistants, knowledge, people,
// search, logic); every one of them can be imported without side effects.

import { apiFetch } from '../shared/api.js';
import { BASE, TOKEN_KEY, $, state, api, isAdmin, showView, setUnauthorizedHook } from './core.js';
import { parseHash } from './logic.js';
import {
  connectInbox, loadDialogs, renderList, renderConnection, updateTitle, unlockAudio, onStreamUnauthorized,
} from './inbox.js';
import {
  openDialog, closeDialog, dialogAction, sendReply, sendNote, markCurrentRead, onDialogUnauthorized,
  renderDialogHead, noteMode,
} from './dialog.js';
import { initComposer, onComposerInput, cannedKey, cannedOpen, closeCanned } from './composer.js';
import { initAssistants } from './assistants.js';
import { initKnowledge } from './knowledge.js';
import { initPeople } from './people.js';
import { initSearch } from './search.js';

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
  // The form shows once the server has ended the session (the token is gone from storage
  // already): signing out is over when it looks over.
  if (token) {
    const signal = AbortSignal.timeout ? AbortSignal.timeout(3000) : undefined; // never stuck
    await apiFetch(BASE, '/api/auth/logout', { method: 'POST', token, signal }).catch(() => {});
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
  state.me = null;
  state.operators = null;
  state.team = null;
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
  for (const n of document.querySelectorAll('[data-admin]')) n.hidden = !isAdmin();
  connectInbox();
  route();
  updateTitle();
}

/** Shows what the location hash names (#dialog-7, #dialog-7-seq-12, #knowledge, ...). */
function route() {
  const r = parseHash(location.hash);
  showView(r.view);
  if (r.dialog) openDialog(r.dialog, r.seq);
}

// ---- wiring ------------------------------------------------------------------------------------

function wireComposer() {
  const input = $('reply-input');
  $('reply-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    closeCanned();
    if (state.current) state.current.typing.done();
    if (noteMode()) sendNote(text);
    else sendReply(text);
  });
  input.addEventListener('keydown', (e) => {
    if (cannedKey(e)) {
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('reply-form').requestSubmit();
    }
  });
  input.addEventListener('input', () => {
    onComposerInput();
    // Notes are for operators: the visitor sees no typing for them.
    if (state.current && input.value.trim() && !noteMode() && !cannedOpen()) state.current.typing.poke();
  });
  for (const r of document.querySelectorAll('input[name="reply-mode"]')) {
    r.addEventListener('change', () => {
      $('reply-form').dataset.mode = r.value;
      $('reply-send').textContent = r.value === 'note' ? 'Add note' : 'Send';
      $('reply-input').setAttribute('aria-label', r.value === 'note' ? 'Private note' : 'Reply');
      renderDialogHead();
    });
  }
}

function wireInbox() {
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
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.current && state.view === 'inbox' && document.activeElement !== $('reply-input')
        && !$('save-kb').open) {
      closeDialog();
      renderList();
    }
  });
}

function wirePage() {
  document.addEventListener('pointerdown', unlockAudio, { once: true });
  document.addEventListener('keydown', unlockAudio, { once: true });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) markCurrentRead();
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
  window.addEventListener('hashchange', () => {
    if (state.token && !$('app-view').hidden) route();
  });
}

function init() {
  setUnauthorizedHook(signedOut);
  onStreamUnauthorized(signedOut);
  onDialogUnauthorized(signedOut);
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  wireInbox();
  wireComposer();
  wirePage();
  initComposer();
  initAssistants();
  initKnowledge();
  initPeople();
  initSearch();
  renderConnection();

  state.token = loadToken();
  if (state.token) startApp();
  else showLogin('');
}

// No window global: the session token stays in these modules (issue 12, item 11).
init();
