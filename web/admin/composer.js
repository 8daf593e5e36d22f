/* SPDX-License-Identifier: MIT */
// The composer's helpers: canned replies behind "/", "save as knowledge" on an operator's
// reply, and assigning the dialog to a named operator.

import { el } from '../shared/dom.js';
import { describeUserAgent } from '../shared/logic.js';
import { $, state, api, errorMessage, showError } from './core.js';
import { cannedList, filterCanned, fillPlaceholders, slashQuery, questionBefore } from './logic.js';
import { upsertDialog, renderList } from './inbox.js';
import { renderDialogHead, showDialogError } from './dialog.js';

// ---- canned replies -------------------------------------------------------------------------

const canned = { items: [], active: -1, dialog: null, suggestions: null, query: null, timer: null, seq: 0 };

function assistantOf(cur) {
  const d = cur && state.dialogs.get(cur.id);
  return d ? d.assistant_id : null;
}

/** The values of the placeholders for the open dialog. */
export function placeholderContext(cur) {
  const d = (cur && state.dialogs.get(cur.id)) || {};
  const v = d.visitor || {};
  const a = state.assistants.find((x) => x.id === d.assistant_id);
  return {
    visitor_page: v.page_url || '',
    visitor_browser: v.user_agent ? describeUserAgent(String(v.user_agent)) : '',
    operator_name: (state.me && (state.me.name || state.me.email)) || '',
    dialog_id: d.id !== undefined ? String(d.id) : '',
    assistant_name: a ? a.name : '',
  };
}

/** Called on every input of the composer: opens, filters or closes the list. */
export function onComposerInput() {
  const q = slashQuery($('reply-input').value);
  if (q === null || !state.current) {
    closeCanned();
    return;
  }
  canned.query = q;
  clearTimeout(canned.timer);
  canned.timer = setTimeout(() => loadCanned(state.current, q), q ? 200 : 0);
  if (canned.items.length) showCanned(filterCanned(canned.items, q));
}

async function loadCanned(cur, q) {
  const my = ++canned.seq;
  if (canned.dialog !== cur) {
    canned.dialog = cur;
    canned.suggestions = null;
  }
  try {
    if (!canned.suggestions) {
      const r = await api(`/api/dialogs/${cur.id}/suggestions`);
      canned.suggestions = (r && r.suggestions) || [];
    }
    let entries = [];
    const aid = assistantOf(cur);
    if (aid) {
      const r = await api(`/api/assistants/${aid}/knowledge${q ? `?q=${encodeURIComponent(q)}` : ''}`);
      entries = (r && r.knowledge) || [];
    }
    if (my !== canned.seq || state.current !== cur || slashQuery($('reply-input').value) === null) return;
    canned.items = cannedList(canned.suggestions, entries, 50);
    showCanned(filterCanned(canned.items, q).slice(0, 8));
  } catch (e) {
    if (my !== canned.seq) return;
    showCanned([], `Canned replies are unavailable: ${errorMessage(e)}`);
  }
}

function showCanned(items, message) {
  const box = $('canned');
  const list = $('canned-list');
  canned.shown = items;
  list.textContent = '';
  items.forEach((it, i) => {
    const li = el('li', {
      id: `canned-${i}`, class: 'canned-item', role: 'option', 'aria-selected': 'false',
      'data-knowledge-id': String(it.knowledge_id),
      on: { mousedown: (e) => { e.preventDefault(); pickCanned(i); } },
    },
    el('span', { class: 'canned-q', text: it.question }),
    it.suggested ? el('span', { class: 'canned-tag', text: 'suggested' }) : null,
    el('span', { class: 'canned-a', text: it.answer }));
    list.appendChild(li);
  });
  const empty = $('canned-empty');
  empty.hidden = items.length > 0;
  empty.textContent = message || 'No canned reply matches.';
  box.hidden = false;
  $('canned-status').textContent = items.length
    ? `${items.length} canned repl${items.length === 1 ? 'y' : 'ies'}: arrow keys choose, Enter inserts.`
    : empty.textContent;
  setActive(items.length ? 0 : -1);
}

function setActive(i) {
  canned.active = i;
  const input = $('reply-input');
  for (const li of $('canned-list').children) li.setAttribute('aria-selected', 'false');
  const li = i >= 0 ? $(`canned-${i}`) : null;
  if (li) {
    li.setAttribute('aria-selected', 'true');
    li.scrollIntoView({ block: 'nearest' });
    input.setAttribute('aria-activedescendant', li.id);
  } else {
    input.removeAttribute('aria-activedescendant');
  }
}

export function cannedOpen() {
  return !$('canned').hidden;
}

export function closeCanned() {
  clearTimeout(canned.timer);
  canned.seq += 1;
  $('canned').hidden = true;
  $('canned-status').textContent = '';
  $('reply-input').removeAttribute('aria-activedescendant');
}

function pickCanned(i) {
  const it = (canned.shown || [])[i];
  if (!it) return;
  const input = $('reply-input');
  input.value = fillPlaceholders(it.answer, placeholderContext(state.current));
  closeCanned();
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

/** The composer's keys while the list is open; true when the key was used. */
export function cannedKey(e) {
  if (!cannedOpen()) return false;
  const n = (canned.shown || []).length;
  if (e.key === 'ArrowDown' && n) { setActive((canned.active + 1) % n); return true; }
  if (e.key === 'ArrowUp' && n) { setActive((canned.active - 1 + n) % n); return true; }
  if ((e.key === 'Enter' || e.key === 'Tab') && canned.active >= 0) { pickCanned(canned.active); return true; }
  if (e.key === 'Escape') { closeCanned(); return true; }
  return false;
}

// ---- save as knowledge ----------------------------------------------------------------------

const saving = { cur: null };

export function openSaveAsKnowledge(cur, m) {
  saving.cur = cur;
  $('save-kb-question').value = questionBefore(cur.list.list(), m);
  $('save-kb-answer').value = m.text;
  showError('save-kb-error', '');
  const dlg = $('save-kb');
  dlg.returnFocus = document.activeElement;
  dlg.showModal();
  $('save-kb-question').focus();
}

async function onSaveKnowledge(e) {
  e.preventDefault();
  const cur = saving.cur;
  const aid = assistantOf(cur);
  const question = $('save-kb-question').value.trim();
  const answer = $('save-kb-answer').value.trim();
  if (!question || !answer) {
    showError('save-kb-error', 'Give both a question and an answer.');
    return;
  }
  try {
    await api(`/api/assistants/${aid}/knowledge`, { body: { question, answer } });
    closeSave();
    showDialogError('');
    canned.suggestions = null;
  } catch (ex) {
    showError('save-kb-error', errorMessage(ex));
  }
}

function closeSave() {
  const dlg = $('save-kb');
  if (dlg.open) dlg.close();
  if (dlg.returnFocus && dlg.returnFocus.focus) dlg.returnFocus.focus();
}

// ---- assignment -----------------------------------------------------------------------------

/** Fills the "Assign to" list: every active operator (GET /api/team, open to any operator). */
export async function fillAssignees() {
  const sel = $('assign-select');
  let ops = state.team;
  if (!ops) {
    try {
      const r = await api('/api/team');
      ops = state.team = (r && r.operators) || [];
    } catch { ops = null; }
  }
  const list = (ops || []).slice();
  if (state.me && !list.some((o) => o.id === state.me.id)) list.unshift(state.me);
  const keep = sel.value;
  sel.textContent = '';
  sel.appendChild(el('option', { value: '', text: 'Choose an operator' }));
  for (const o of list) {
    sel.appendChild(el('option', { value: String(o.id), text: `${o.name || o.email}${state.me && o.id === state.me.id ? ' (me)' : ''}` }));
  }
  sel.value = keep;
  renderDialogHead();
}

async function onAssign() {
  const cur = state.current;
  const id = Number($('assign-select').value);
  if (!cur || !id) {
    showDialogError('Choose an operator to assign the conversation to.');
    return;
  }
  $('assign-btn').disabled = true;
  try {
    const d = await api(`/api/dialogs/${cur.id}/assign`, { body: { operator_id: id } });
    upsertDialog(d, false, true);
    if (d && d.status) cur.status = d.status;
    renderList();
    renderDialogHead();
    showDialogError('');
  } catch (e) {
    showDialogError(`Not assigned: ${errorMessage(e)}`);
  } finally {
    $('assign-btn').disabled = false;
  }
}

export function initComposer() {
  $('save-kb-form').addEventListener('submit', onSaveKnowledge);
  $('save-kb-cancel').addEventListener('click', closeSave);
  $('save-kb').addEventListener('cancel', () => setTimeout(closeSave, 0));
  $('assign-btn').addEventListener('click', onAssign);
  $('reply-input').addEventListener('blur', () => setTimeout(() => {
    if (document.activeElement !== $('reply-input')) closeCanned();
  }, 150));
}
