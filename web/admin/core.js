/* SPDX-License-Identifier: MIT */
// The panel's shared state and small helpers: the session token, the REST call that signs
// out on 401, the section switcher, form messages. No work at import time.

import { apiFetch } from '../shared/api.js';

export const BASE = typeof location !== 'undefined' ? location.origin : '';
export const TOKEN_KEY = 'chatai.token';

export const $ = (id) => document.getElementById(id);

export const state = {
  token: null,
  me: null,
  dialogs: new Map(),
  filter: '',
  inbox: null,
  inboxStatus: null,
  current: null, // {id, list, channel, status, sender, ...}
  typingTimer: null,
  readTimer: null,
  audio: null,
  view: 'inbox',
  assistants: [],
  operators: null, // [operator] once read (admins), or null
};

// Set by session.js: what a 401 does (sign out with a message).
const hooks = { onUnauthorized: () => {} };
export function setUnauthorizedHook(fn) {
  hooks.onUnauthorized = fn;
}

/** A REST call with the session token; a 401 signs out. */
export function api(path, opts = {}) {
  return apiFetch(BASE, path, { ...opts, token: state.token }).catch((e) => {
    if (e.status === 401 && state.token) hooks.onUnauthorized('Your session has ended. Please sign in again.');
    throw e;
  });
}

export const isAdmin = () => !!(state.me && state.me.role === 'admin');

/** Shows msg in an alert box (role=alert), or hides it for ''. */
export function showError(id, msg) {
  const e = $(id);
  e.hidden = !msg;
  e.textContent = msg || '';
}

/** A short status line (role=status) that clears itself. */
export function flash(id, msg, ms = 4000) {
  const e = $(id);
  e.textContent = msg;
  clearTimeout(e._t);
  if (ms) e._t = setTimeout(() => { e.textContent = ''; }, ms);
}

/** The words of a failed request for a person: the server's message, with the field. */
export function errorMessage(e, fallback = 'That did not work.') {
  if (!e) return fallback;
  if (e.status === 0) return 'The server cannot be reached.';
  if (e.status === 403) return 'Only administrators can do that.';
  return e.message || fallback;
}

// Views register a function called each time their section is shown.
const views = new Map();
export function registerView(name, onShow) {
  views.set(name, onShow);
}

/** Shows one section of the panel (inbox, assistants, knowledge, operators, profile, search). */
export function showView(name, arg) {
  if (name === 'operators' && !isAdmin()) name = 'inbox';
  if (name === 'assistants' && !isAdmin()) name = 'inbox';
  state.view = name;
  for (const s of document.querySelectorAll('[data-screen]')) s.hidden = s.dataset.screen !== name;
  for (const a of document.querySelectorAll('.nav-link')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const fn = views.get(name);
  if (fn) fn(arg);
}

/** Loads the assistants once per call (every operator may read them). */
export async function loadAssistants() {
  const r = await api('/api/assistants');
  state.assistants = (r && r.assistants) || [];
  return state.assistants;
}
