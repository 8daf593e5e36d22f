/* SPDX-License-Identifier: MIT */
// The operator panel's pure logic: no DOM, no network. node --test tests/js/ imports it.

/**
 * The normal form of an allowed-origins entry, or null when REST would refuse it: the rule
 * of common/origin.c (origin_normalize), which REST, the notifier and chatai-ctl share.
 * http:// or https:// (any case); an optional leading "*." (subdomains only); a host of
 * DNS labels (letters, digits, '-', '_'; no empty label; at most 253 characters) or an
 * [IPv6] literal (no wildcard); an optional :port of 1 to 65535 and nothing else. The
 * normal form has the scheme and host in lower case and drops the default port.
 */
export function originNormalize(s) {
  if (typeof s !== 'string') return null;
  const m = /^(https?):\/\/(.*)$/i.exec(s);
  if (!m) return null;
  const https = m[1].toLowerCase() === 'https';
  let p = m[2];
  let wild = false;
  if (p.startsWith('*.')) { wild = true; p = p.slice(2); }
  let host;
  let rest;
  if (p.startsWith('[')) {
    const q = p.indexOf(']');
    const inner = q < 0 ? p.slice(1) : p.slice(1, q);
    if (wild || q < 0 || inner === '' || !/^[0-9A-Fa-f:]+$/.test(inner)) return null;
    host = p.slice(0, q + 1);
    rest = p.slice(q + 1);
  } else {
    const c = p.indexOf(':');
    host = c < 0 ? p : p.slice(0, c);
    rest = c < 0 ? '' : p.slice(c);
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(host)) return null;
  }
  if (host.length > 253) return null;
  let port = '';
  if (rest !== '') {
    if (!/^:[0-9]{1,5}$/.test(rest)) return null;
    const n = Number(rest.slice(1));
    if (n < 1 || n > 65535) return null;
    if (n !== (https ? 443 : 80)) port = `:${n}`;
  }
  return `${https ? 'https' : 'http'}://${wild ? '*.' : ''}${host.toLowerCase()}${port}`;
}

/** True when REST would accept s in allowed_origins (originNormalize gives a form). */
export function originWellFormed(s) {
  return originNormalize(s) !== null;
}

/**
 * The origins of a textarea (one a line, blank lines ignored), in normal form, and the lines
 * REST would refuse:
 * {origins: [...], bad: [{line, text}]}. At most 100 origins, as REST.
 */
export function parseOrigins(text) {
  const origins = [];
  const bad = [];
  String(text || '').split('\n').forEach((raw, i) => {
    const t = raw.trim();
    if (!t) return;
    const n = originNormalize(t);
    if (n !== null) origins.push(n);
    else bad.push({ line: i + 1, text: t });
  });
  const tooMany = origins.length > 100;
  return { origins, bad, tooMany };
}

/** "human, operator ,agent" -> ["human", "operator", "agent"] (empty words dropped). */
export function parseWords(text) {
  return String(text || '').split(',').map((w) => w.trim()).filter((w) => w !== '');
}

/** The waiting timeout field: '' -> null (wait forever), 1 to 604800 (a week) -> seconds
 * (REST's range), anything else -> undefined (invalid). */
export function parseTimeout(text) {
  const t = String(text ?? '').trim();
  if (t === '') return null;
  if (!/^[0-9]+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 1 && n <= 604800 ? n : undefined;
}

/** The one tag a site pastes to embed the widget of assistant id served from base. */
export function embedSnippet(base, id) {
  const b = String(base).replace(/\/$/, '');
  return `<script src="${b}/widget/chatai.js" data-assistant="${Number(id)}" async></script>`;
}

// ---- CSV (RFC 4180: quoted fields may hold commas, quotes doubled, new lines) ----------------

/** Parses CSV text into rows of fields. */
export function parseCsv(text) {
  const s = String(text || '').replace(/^\uFEFF/, '');
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i += 1; continue; }
      field += c;
      i += 1;
      continue;
    }
    if (c === '"' && field === '') { quoted = true; i += 1; continue; }
    if (c === ',') { row.push(field); field = ''; i += 1; continue; }
    if (c === '\r' || c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && s[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += c;
    i += 1;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

function csvField(v) {
  const s = String(v ?? '');
  // A leading = + - @ would be a formula to a spreadsheet: a quote in front keeps it text.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Knowledge entries as CSV with a header line: question,answer. */
export function knowledgeToCsv(entries) {
  const lines = ['question,answer'];
  for (const e of entries) lines.push(`${csvField(e.question)},${csvField(e.answer)}`);
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * Knowledge entries from CSV: two columns (question, answer), an optional header line.
 * Returns {entries: [{question, answer}], errors: ["line 3: ..."]}.
 */
export function knowledgeFromCsv(text) {
  const rows = parseCsv(text);
  const entries = [];
  const errors = [];
  rows.forEach((r, i) => {
    if (i === 0 && r.length >= 2 && r[0].trim().toLowerCase() === 'question' && r[1].trim().toLowerCase() === 'answer') return;
    const unq = (v) => (v.startsWith("'") && /^'[=+\-@\t\r]/.test(v) ? v.slice(1) : v);
    const question = unq((r[0] || '').trim());
    const answer = unq((r[1] || '').trim());
    if (r.length < 2 || !question || !answer) {
      errors.push(`row ${i + 1}: needs a question and an answer`);
      return;
    }
    if ([...question].length > 4000 || [...answer].length > 4000) {
      errors.push(`row ${i + 1}: at most 4000 characters a field`);
      return;
    }
    entries.push({ question, answer });
  });
  return { entries, errors };
}

// ---- canned replies -------------------------------------------------------------------------

/**
 * Fills {visitor_page}-style placeholders. ctx: {visitor_page, visitor_browser, operator_name,
 * dialog_id, assistant_name}. Unknown placeholders stay as they are; values are plain text.
 */
export function fillPlaceholders(text, ctx) {
  return String(text).replace(/\{([a-z_]+)\}/g, (all, k) => (
    Object.prototype.hasOwnProperty.call(ctx || {}, k) && ctx[k] !== undefined && ctx[k] !== null
      ? String(ctx[k]) : all));
}

/**
 * The canned replies to show: the dialog's suggestions first (best score first), then the
 * knowledge entries (in the order the search ranked them), each entry once, at most `max`.
 * Items: {knowledge_id, question, answer, suggested}.
 */
export function cannedList(suggestions, entries, max = 8) {
  const out = [];
  const seen = new Set();
  const sorted = [...(suggestions || [])].sort((a, b) => (b.score || 0) - (a.score || 0));
  for (const s of sorted) {
    if (seen.has(s.knowledge_id)) continue;
    seen.add(s.knowledge_id);
    out.push({ knowledge_id: s.knowledge_id, question: s.question, answer: s.answer, suggested: true });
  }
  for (const e of entries || []) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    out.push({ knowledge_id: e.id, question: e.question, answer: e.answer, suggested: false });
  }
  return out.slice(0, max);
}

/** Filters canned replies by the words typed after "/" (every word in question or answer). */
export function filterCanned(items, query) {
  const words = String(query || '').toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return items;
  return items.filter((it) => {
    const hay = `${it.question} ${it.answer}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** The "/query" being typed at the start of the composer, or null when it is not one. */
export function slashQuery(text) {
  const m = /^\/([^\n]*)$/.exec(String(text || ''));
  return m ? m[1] : null;
}

/** The visitor's message that led to message m: the last visitor message before it. */
export function questionBefore(messages, m) {
  let q = '';
  for (const x of messages) {
    if (x === m || (m.seq !== undefined && x.seq >= m.seq)) break;
    if (x.sender === 'user' && x.type !== 'note') q = x.text;
  }
  return q;
}

// ---- inbox ---------------------------------------------------------------------------------

export const STATUS_LABEL = { ai: 'AI', waiting: 'Waiting', operator: 'Operator', closed: 'Closed' };

export function dialogName(d) {
  return `Visitor #${d.id}`;
}

/** The host of the page the visitor wrote from, or ''. */
export function pageHost(d) {
  const url = d && d.visitor && typeof d.visitor.page_url === 'string' ? d.visitor.page_url : '';
  try {
    return url ? new URL(url).host : '';
  } catch {
    return '';
  }
}

/** "5 min ago"-style age of an ISO time relative to now (ms), or "never". */
export function timeAgo(iso, now = Date.now()) {
  if (!iso) return 'never';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return 'never';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** The section a location hash names: {view, dialog, seq}. */
export function parseHash(hash) {
  const h = String(hash || '').replace(/^#/, '');
  let m = /^dialog-(\d+)(?:-seq-(\d+))?$/.exec(h);
  if (m) return { view: 'inbox', dialog: Number(m[1]), seq: m[2] ? Number(m[2]) : null };
  m = /^(inbox|assistants|knowledge|operators|profile|search)$/.exec(h);
  return { view: m ? m[1] : 'inbox', dialog: null, seq: null };
}

/**
 * A search snippet in parts, the query's words marked: [{text, mark}]. The page puts each
 * part in as text (matches in <mark>), so nothing in a message becomes markup.
 */
export function highlightParts(text, query) {
  const s = String(text || '');
  const words = String(query || '').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 1);
  if (!words.length || !s) return s ? [{ text: s, mark: false }] : [];
  const low = s.toLowerCase();
  const parts = [];
  let i = 0;
  let plain = '';
  while (i < s.length) {
    const w = words.find((x) => low.startsWith(x, i));
    if (w) {
      if (plain) parts.push({ text: plain, mark: false });
      plain = '';
      parts.push({ text: s.slice(i, i + w.length), mark: true });
      i += w.length;
    } else {
      plain += s[i];
      i += 1;
    }
  }
  if (plain) parts.push({ text: plain, mark: false });
  return parts;
}
