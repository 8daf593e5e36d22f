/* SPDX-License-Identifier: MIT */
// Assistants (admins): name, greeting, allowed origins (checked as you type with REST's rule),
// handoff words, waiting timeout, and the embed snippet with a copy button.

import { el } from '../shared/dom.js';
import { BASE, $, state, api, registerView, loadAssistants, showError, flash, errorMessage } from './core.js';
import { parseOrigins, parseWords, parseTimeout, embedSnippet } from './logic.js';

let selected = null; // the assistant being edited, or null for a new one

async function show(id) {
  try {
    await loadAssistants();
  } catch (e) {
    showError('assistant-error', errorMessage(e));
  }
  renderList();
  const want = id !== undefined ? id : selected && selected.id;
  const a = state.assistants.find((x) => x.id === want) || null;
  edit(a);
}

function renderList() {
  const list = $('assistant-list');
  list.textContent = '';
  for (const a of state.assistants) {
    list.appendChild(el('li', {},
      el('button', {
        class: 'item', type: 'button', 'data-assistant-id': String(a.id),
        'aria-current': selected && selected.id === a.id ? 'true' : 'false',
        on: { click: () => { edit(a); $('as-name').focus(); } },
      }, el('span', { class: 'item-title', text: a.name }), el('span', { class: 'item-sub', text: `#${a.id}` }))));
  }
  if (!state.assistants.length) list.appendChild(el('li', { class: 'list-empty', text: 'No assistants yet.' }));
}

function edit(a) {
  selected = a;
  $('assistant-form-h').textContent = a ? `Edit “${a.name}”` : 'New assistant';
  $('as-save').textContent = a ? 'Save changes' : 'Create assistant';
  $('as-name').value = a ? a.name : '';
  $('as-greeting').value = a ? a.greeting || '' : '';
  $('as-origins').value = a ? (a.allowed_origins || []).join('\n') : '';
  $('as-handoff').value = a && Array.isArray(a.handoff_words) ? a.handoff_words.join(', ') : '';
  $('as-timeout').value = a && Number.isInteger(a.waiting_timeout) ? String(a.waiting_timeout) : '';
  showError('assistant-error', '');
  checkOrigins();
  checkTimeout();
  for (const b of document.querySelectorAll('#assistant-list .item')) {
    b.setAttribute('aria-current', a && b.dataset.assistantId === String(a.id) ? 'true' : 'false');
  }
  const box = $('snippet-box');
  box.hidden = !a;
  if (a) $('snippet').value = embedSnippet(BASE, a.id);
  flash('snippet-status', '', 0);
}

/** Marks the origins field invalid while a line would be refused by REST. */
function checkOrigins() {
  const r = parseOrigins($('as-origins').value);
  const field = $('as-origins');
  const msg = $('as-origins-msg');
  let text = '';
  if (r.bad.length) {
    text = `Line ${r.bad[0].line}: “${r.bad[0].text}” is not an origin. Write it like https://shop.example, https://*.shop.example or http://localhost:8080 (no path).`;
  } else if (r.tooMany) {
    text = 'At most 100 origins.';
  } else if (r.origins.length) {
    text = `${r.origins.length} origin${r.origins.length > 1 ? 's' : ''}: only these sites can use the widget.`;
  } else {
    text = 'No origin: every site can use the widget.';
  }
  msg.textContent = text;
  const bad = r.bad.length > 0 || r.tooMany;
  msg.classList.toggle('bad', bad);
  field.setAttribute('aria-invalid', bad ? 'true' : 'false');
  return bad ? null : r.origins;
}

function checkTimeout() {
  const v = parseTimeout($('as-timeout').value);
  const bad = v === undefined;
  $('as-timeout').setAttribute('aria-invalid', bad ? 'true' : 'false');
  const msg = $('as-timeout-msg');
  msg.textContent = bad ? 'A whole number of seconds from 1 to 604800 (a week), or empty.' : '';
  msg.classList.toggle('bad', bad);
  return v;
}

async function onSave(e) {
  e.preventDefault();
  const name = $('as-name').value.trim();
  const origins = checkOrigins();
  const timeout = checkTimeout();
  if (!name) {
    showError('assistant-error', 'Give the assistant a name.');
    $('as-name').focus();
    return;
  }
  if (!origins) {
    showError('assistant-error', 'Fix the allowed origins first.');
    $('as-origins').focus();
    return;
  }
  if (timeout === undefined) {
    showError('assistant-error', 'Fix the waiting timeout first.');
    $('as-timeout').focus();
    return;
  }
  const body = {
    name, greeting: $('as-greeting').value.trim(), allowed_origins: origins,
    handoff_words: parseWords($('as-handoff').value), waiting_timeout: timeout,
  };
  const wasNew = !selected;
  $('as-save').disabled = true;
  try {
    let a;
    if (selected) {
      a = await api(`/api/assistants/${selected.id}`, { method: 'PATCH', body });
    } else {
      // Creation takes name, greeting and origins; the rest is a change of the new assistant.
      a = await api('/api/assistants', { body: { name, greeting: body.greeting, allowed_origins: origins } });
      const more = {};
      if (body.handoff_words.length) more.handoff_words = body.handoff_words;
      if (timeout !== null) more.waiting_timeout = timeout;
      if (Object.keys(more).length) a = await api(`/api/assistants/${a.id}`, { method: 'PATCH', body: more });
    }
    showError('assistant-error', '');
    await show(a.id);
    flash('as-status', wasNew ? 'Created.' : 'Saved.');
  } catch (ex) {
    showError('assistant-error', errorMessage(ex));
  } finally {
    $('as-save').disabled = false;
  }
}

async function copySnippet() {
  const box = $('snippet');
  let ok = false;
  try {
    await navigator.clipboard.writeText(box.value);
    ok = true;
  } catch {
    // No clipboard API (an insecure origin): select the text for Ctrl+C.
    box.focus();
    box.select();
    try { ok = document.execCommand('copy'); } catch { ok = false; }
  }
  flash('snippet-status', ok ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C to copy.');
}

export function initAssistants() {
  registerView('assistants', show);
  $('assistant-form').addEventListener('submit', onSave);
  $('as-origins').addEventListener('input', checkOrigins);
  $('as-timeout').addEventListener('input', checkTimeout);
  $('assistant-new').addEventListener('click', () => { edit(null); $('as-name').focus(); });
  $('snippet-copy').addEventListener('click', copySnippet);
}
