/* SPDX-License-Identifier: MIT */
// The search box: full-text search over message text; a result opens its dialog at the message.

import { el, formatTime } from '../shared/dom.js';
import { $, api, registerView, showView, errorMessage } from './core.js';
import { STATUS_LABEL, highlightParts, pageHost } from './logic.js';
import { openDialog } from './dialog.js';

let last = '';

async function run(q) {
  const list = $('search-results');
  const status = $('search-status');
  list.textContent = '';
  if (!q) {
    status.textContent = 'Type words to search every conversation.';
    return;
  }
  status.textContent = 'Searching…';
  try {
    const r = await api(`/api/search?q=${encodeURIComponent(q)}&limit=50`);
    if (q !== last) return;
    const results = (r && r.results) || [];
    status.textContent = results.length ? `${results.length} message${results.length > 1 ? 's' : ''} found for “${q}”.`
      : `Nothing found for “${q}”.`;
    for (const res of results) list.appendChild(resultItem(res));
  } catch (e) {
    status.textContent = `Search failed: ${errorMessage(e)}`;
  }
}

function resultItem(res) {
  const m = res.message || {};
  const status = res.status || '';
  const host = pageHost({ visitor: { page_url: res.page_url } });
  const site = [res.assistant && res.assistant.name, host].filter(Boolean).join(' · ');
  return el('li', {},
    el('button', {
      class: 'result', type: 'button', 'data-dialog-id': String(res.dialog_id), 'data-seq': String(m.seq || ''),
      on: { click: () => open(res.dialog_id, m.seq) },
    },
    el('span', { class: 'result-top' },
      el('span', { class: 'result-title', text: `Visitor #${res.dialog_id}` }),
      status ? el('span', { class: `pill ${status}`, text: STATUS_LABEL[status] || status }) : null,
      site ? el('span', { class: 'result-site', text: String(site) }) : null,
      el('span', { class: 'result-time', text: m.timestamp ? formatTime(m.timestamp) : '' })),
    el('span', { class: 'result-snippet' },
      highlightParts(res.snippet || m.text || '', last).map((p) => (p.mark ? el('mark', { text: p.text }) : p.text)))));
}

function open(dialogId, seq) {
  showView('inbox');
  openDialog(dialogId, seq || null);
}

export function initSearch() {
  registerView('search', () => {});
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    last = $('search-input').value.trim();
    showView('search');
    history.replaceState(null, '', '#search');
    run(last);
    $('search-results').focus();
  });
}
