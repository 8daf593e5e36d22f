/* SPDX-License-Identifier: MIT */
// Knowledge: a searchable list of an assistant's entries with add, edit and delete (admins),
// CSV import (an upsert by question) and export in the browser, and "try a question".

import { el } from '../shared/dom.js';
import { $, state, api, registerView, loadAssistants, showError, flash, errorMessage, isAdmin } from './core.js';
import { knowledgeFromCsv, knowledgeToCsv } from './logic.js';

const kb = { assistant: null, entries: [], editing: null, timer: null, seq: 0 };

async function show(arg) {
  try {
    await loadAssistants();
  } catch (e) {
    showError('kb-error', errorMessage(e));
  }
  const sel = $('kb-assistant');
  const keep = arg || kb.assistant || (state.assistants[0] && state.assistants[0].id);
  sel.textContent = '';
  for (const a of state.assistants) sel.appendChild(el('option', { value: String(a.id), text: a.name }));
  kb.assistant = state.assistants.some((a) => a.id === Number(keep)) ? Number(keep) : null;
  if (kb.assistant) sel.value = String(kb.assistant);
  const admin = isAdmin();
  $('kb-form').hidden = !admin;
  for (const n of document.querySelectorAll('#knowledge-view .csv label, #kb-import')) n.hidden = !admin;
  await refresh();
}

/** Reads the entries of the chosen assistant, ranked by the search box when it has words. */
async function refresh() {
  const my = ++kb.seq;
  const list = $('kb-list');
  if (!kb.assistant) {
    list.textContent = '';
    $('kb-count').textContent = 'Create an assistant first.';
    return;
  }
  const q = $('kb-search').value.trim();
  try {
    const r = await api(`/api/assistants/${kb.assistant}/knowledge${q ? `?q=${encodeURIComponent(q)}` : ''}`);
    if (my !== kb.seq) return;
    kb.entries = (r && r.knowledge) || [];
  } catch (e) {
    if (my !== kb.seq) return;
    kb.entries = [];
    $('kb-count').textContent = errorMessage(e);
  }
  renderEntries(q);
}

function renderEntries(q) {
  const list = $('kb-list');
  list.textContent = '';
  const admin = isAdmin();
  for (const k of kb.entries) {
    const actions = admin ? el('div', { class: 'kb-actions' },
      el('button', { class: 'btn btn-small', type: 'button', 'aria-label': `Edit: ${k.question}`, on: { click: () => startEdit(k) } }, 'Edit'),
      el('button', {
        class: 'btn btn-small btn-danger-ghost', type: 'button', 'aria-label': `Delete: ${k.question}`,
        on: { click: (e) => onDelete(e.currentTarget, k) },
      }, 'Delete')) : null;
    list.appendChild(el('li', { class: 'kb-entry', 'data-knowledge-id': String(k.id) },
      el('p', { class: 'kb-q', text: k.question }),
      el('p', { class: 'kb-a', text: k.answer }),
      actions));
  }
  const n = kb.entries.length;
  $('kb-count').textContent = q ? `${n} entr${n === 1 ? 'y matches' : 'ies match'} “${q}”.` : `${n} entr${n === 1 ? 'y' : 'ies'}.`;
}

function startEdit(k) {
  kb.editing = k;
  $('kb-form-h').textContent = 'Edit the entry';
  $('kb-save').textContent = 'Save changes';
  $('kb-cancel').hidden = false;
  $('kb-question').value = k.question;
  $('kb-answer').value = k.answer;
  showError('kb-error', '');
  $('kb-question').focus();
}

function stopEdit() {
  kb.editing = null;
  $('kb-form-h').textContent = 'Add an entry';
  $('kb-save').textContent = 'Add entry';
  $('kb-cancel').hidden = true;
  $('kb-question').value = '';
  $('kb-answer').value = '';
}

async function onSave(e) {
  e.preventDefault();
  const question = $('kb-question').value.trim();
  const answer = $('kb-answer').value.trim();
  if (!question || !answer) {
    showError('kb-error', 'Give both a question and an answer.');
    return;
  }
  if (!kb.assistant) {
    showError('kb-error', 'Create an assistant first.');
    return;
  }
  try {
    if (kb.editing) await api(`/api/knowledge/${kb.editing.id}`, { method: 'PATCH', body: { question, answer } });
    else await api(`/api/assistants/${kb.assistant}/knowledge`, { body: { question, answer } });
    flash('kb-status', kb.editing ? 'Saved.' : 'Added.');
    showError('kb-error', '');
    stopEdit();
    await refresh();
  } catch (ex) {
    showError('kb-error', errorMessage(ex));
  }
}

// Delete asks once more on the same button (no blocking confirm()).
async function onDelete(btn, k) {
  if (btn.dataset.confirm !== 'yes') {
    btn.dataset.confirm = 'yes';
    btn.textContent = 'Really delete?';
    btn.setAttribute('aria-label', `Really delete: ${k.question}?`);
    return;
  }
  try {
    await api(`/api/knowledge/${k.id}`, { method: 'DELETE' });
    if (kb.editing && kb.editing.id === k.id) stopEdit();
    flash('kb-status', 'Deleted.');
    await refresh();
    $('kb-search').focus();
  } catch (ex) {
    showError('kb-error', errorMessage(ex));
  }
}

async function allEntries() {
  const r = await api(`/api/assistants/${kb.assistant}/knowledge`);
  return (r && r.knowledge) || [];
}

/** CSV import: a known question gets the new answer, a new one is added. */
async function onImport() {
  const input = $('kb-import');
  const file = input.files && input.files[0];
  input.value = '';
  if (!file || !kb.assistant) return;
  const { entries, errors } = knowledgeFromCsv(await file.text());
  let added = 0;
  let updated = 0;
  try {
    const byQuestion = new Map((await allEntries()).map((k) => [k.question, k]));
    for (const e of entries) {
      const old = byQuestion.get(e.question);
      if (old && old.answer === e.answer) continue;
      if (old) {
        await api(`/api/knowledge/${old.id}`, { method: 'PATCH', body: { answer: e.answer } });
        updated += 1;
      } else {
        const k = await api(`/api/assistants/${kb.assistant}/knowledge`, { body: e });
        byQuestion.set(k.question, k);
        added += 1;
      }
    }
  } catch (ex) {
    errors.push(errorMessage(ex));
  }
  const skipped = errors.length ? ` ${errors.length} problem${errors.length > 1 ? 's' : ''}: ${errors.slice(0, 3).join('; ')}` : '';
  flash('kb-csv-status', `Imported: ${added} added, ${updated} updated.${skipped}`, 0);
  await refresh();
}

async function onExport() {
  if (!kb.assistant) return;
  try {
    const csv = knowledgeToCsv(await allEntries());
    const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
    const a = el('a', { href: url, download: `knowledge-assistant-${kb.assistant}.csv` });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    flash('kb-csv-status', 'Exported.');
  } catch (ex) {
    flash('kb-csv-status', errorMessage(ex), 0);
  }
}

async function onTry(e) {
  e.preventDefault();
  const question = $('kb-try').value.trim();
  const box = $('kb-try-result');
  if (!question || !kb.assistant) return;
  box.hidden = false;
  const ans = box.querySelector('.try-answer');
  const src = box.querySelector('.try-source');
  try {
    const r = await api(`/api/assistants/${kb.assistant}/answer-preview`, { body: { question } });
    ans.textContent = r.answer || '';
    if (r.knowledge_id === null || r.knowledge_id === undefined) {
      src.textContent = 'No entry matched: this is the fallback answer.';
      box.dataset.knowledgeId = '';
    } else {
      const k = kb.entries.find((x) => x.id === r.knowledge_id);
      src.textContent = k ? `From entry #${r.knowledge_id}: “${k.question}”` : `From entry #${r.knowledge_id}`;
      box.dataset.knowledgeId = String(r.knowledge_id);
    }
  } catch (ex) {
    ans.textContent = '';
    src.textContent = errorMessage(ex);
    box.dataset.knowledgeId = '';
  }
}

export function initKnowledge() {
  registerView('knowledge', show);
  $('kb-assistant').addEventListener('change', () => {
    kb.assistant = Number($('kb-assistant').value);
    stopEdit();
    refresh();
  });
  $('kb-search').addEventListener('input', () => {
    clearTimeout(kb.timer);
    kb.timer = setTimeout(refresh, 250);
  });
  $('kb-search-form').addEventListener('submit', (e) => { e.preventDefault(); refresh(); });
  $('kb-form').addEventListener('submit', onSave);
  $('kb-cancel').addEventListener('click', stopEdit);
  $('kb-import').addEventListener('change', onImport);
  $('kb-export').addEventListener('click', onExport);
  $('kb-try-form').addEventListener('submit', onTry);
}
