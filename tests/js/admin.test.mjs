/* SPDX-License-Identifier: MIT */
// web/admin/logic.js: the panel's pure logic (the browser tests check the same rule against REST).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  originNormalize, originWellFormed, parseOrigins, parseWords, parseTimeout, embedSnippet, parseCsv, knowledgeToCsv,
  knowledgeFromCsv, fillPlaceholders, cannedList, filterCanned, slashQuery, questionBefore, timeAgo, parseHash,
  highlightParts, pageHost,
} from '../../web/admin/logic.js';

test('origins: the rule of common/origin.c', () => {
  for (const ok of ['https://shop.example', 'http://localhost:8080', 'https://*.shop.example', 'https://plain.example:443',
    'http://[::1]:8080', 'https://Shop.Example', 'https://a-b.c-d.example:65535', 'HTTPS://shop.example',
    'https://a_b.example']) {
    assert.equal(originWellFormed(ok), true, ok);
  }
  for (const bad of ['shop.example', 'https://*.[::1]', 'https://a..example', 'https://shop.example/', 'https://shop.example/x', 'ftp://shop.example',
    'https://shop.example:0', 'https://shop.example:65536', 'https://shop.example:', 'https://.shop.example',
    'https://shop.example.', 'https://', 'https://*.', 'https://sh op.example', 'https://[]', 'https://[zz]',
    'https://a.example:8o', 'https://a.example:-1', 'https://user@a.example', 'https://a.example?x', '', null, 42,
    `https://${'a'.repeat(2050)}`]) {
    assert.equal(originWellFormed(bad), false, String(bad));
  }
});

test('parseOrigins: one a line, blank lines skipped, normal form, bad lines with their number', () => {
  assert.deepEqual(parseOrigins('https://A.example\n\n  https://*.b.example  \nHTTP://c.example:80\nhttps://d.example:443\nhttps://e.example:8443'),
    { origins: ['https://a.example', 'https://*.b.example', 'http://c.example', 'https://d.example', 'https://e.example:8443'],
      bad: [], tooMany: false });
  assert.equal(originNormalize('https://Plain.Example:443'), 'https://plain.example');
  assert.equal(originNormalize('https://plain.example/'), null);
  const r = parseOrigins('https://a.example\nshop.example\nhttps://c.example/');
  assert.deepEqual(r.bad, [{ line: 2, text: 'shop.example' }, { line: 3, text: 'https://c.example/' }]);
  assert.equal(parseOrigins(Array.from({ length: 101 }, (_, i) => `https://s${i}.example`).join('\n')).tooMany, true);
  assert.deepEqual(parseOrigins('').origins, []);
});

test('handoff words and the waiting timeout', () => {
  assert.deepEqual(parseWords(' human, real person ,,agent '), ['human', 'real person', 'agent']);
  assert.deepEqual(parseWords(''), []);
  assert.equal(parseTimeout(''), null);
  assert.equal(parseTimeout(' 90 '), 90);
  assert.equal(parseTimeout('604800'), 604800);
  for (const bad of ['0', '-5', '1.5', 'soon', '604801', '99999999999', '1e3']) assert.equal(parseTimeout(bad), undefined, bad);
});

test('the embed snippet', () => {
  assert.equal(embedSnippet('https://chat.example/', 7),
    '<script src="https://chat.example/widget/chatai.js" data-assistant="7" async></script>');
});

test('CSV: quotes, commas, new lines, CRLF, BOM; a round trip keeps the entries', () => {
  assert.deepEqual(parseCsv('\uFEFFa,b\r\n"x, y","say ""hi""\nthere"\n'), [['a', 'b'], ['x, y', 'say "hi"\nthere']]);
  assert.deepEqual(parseCsv('a,b'), [['a', 'b']]);
  assert.deepEqual(parseCsv('\n\n'), []);
  const entries = [
    { question: 'Plain?', answer: 'Yes.' },
    { question: 'Comma, quote "x"?', answer: 'Line one\nline two' },
    { question: '=HYPERLINK("evil")', answer: '+1 for @you' },
  ];
  const csv = knowledgeToCsv(entries);
  assert.ok(csv.startsWith('question,answer\r\n'));
  assert.ok(csv.includes(`"'=HYPERLINK(""evil"")"`), 'a formula is kept as text for spreadsheets');
  assert.deepEqual(knowledgeFromCsv(csv), { entries, errors: [] });
});

test('CSV import: header optional, incomplete and oversized rows reported', () => {
  const r = knowledgeFromCsv(`Q1,A1\nonly a question\n,no question\nQ2,${'x'.repeat(4001)}\nQ3,A3,extra\n`);
  assert.deepEqual(r.entries, [{ question: 'Q1', answer: 'A1' }, { question: 'Q3', answer: 'A3' }]);
  assert.equal(r.errors.length, 3);
  assert.match(r.errors[0], /^row 2:/);
});

test('placeholders are filled with text; unknown ones stay', () => {
  const ctx = { visitor_page: 'https://s.example/<b>', operator_name: '$& $1', dialog_id: '7' };
  assert.equal(fillPlaceholders('From {visitor_page}, {operator_name} (#{dialog_id}) {nope} {visitor_browser}', ctx),
    'From https://s.example/<b>, $& $1 (#7) {nope} {visitor_browser}');
});

test('canned replies: suggestions first by score, entries after, each once, searchable', () => {
  const sugg = [{ knowledge_id: 2, question: 'B', answer: 'b', score: 0.2 }, { knowledge_id: 3, question: 'C', answer: 'c', score: 0.9 }];
  const entries = [{ id: 1, question: 'A', answer: 'a ship' }, { id: 3, question: 'C', answer: 'c' }];
  const l = cannedList(sugg, entries);
  assert.deepEqual(l.map((x) => [x.knowledge_id, x.suggested]), [[3, true], [2, true], [1, false]]);
  assert.equal(cannedList(sugg, entries, 2).length, 2);
  assert.deepEqual(filterCanned(l, 'SHIP a').map((x) => x.knowledge_id), [1]);
  assert.equal(filterCanned(l, '  ').length, 3);
  assert.equal(slashQuery('/ship it'), 'ship it');
  assert.equal(slashQuery('/'), '');
  assert.equal(slashQuery('no /'), null);
  assert.equal(slashQuery('/a\nb'), null);
});

test('the question before a reply is the last visitor message before it', () => {
  const ms = [
    { seq: 1, sender: 'user', text: 'first' }, { seq: 2, sender: 'ai', text: 'ai' },
    { seq: 3, sender: 'user', text: 'second' }, { seq: 4, type: 'note', sender: 'manager', text: 'note' },
    { seq: 5, sender: 'manager', text: 'reply' }, { seq: 6, sender: 'user', text: 'after' },
  ];
  assert.equal(questionBefore(ms, ms[4]), 'second');
  assert.equal(questionBefore(ms, ms[1]), 'first');
  assert.equal(questionBefore(ms, ms[0]), '');
});

test('time ago, hashes, hosts, highlighted parts', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  assert.equal(timeAgo(null, now), 'never');
  assert.equal(timeAgo('2026-12-01T11:59:30Z', now), 'just now');
  assert.equal(timeAgo('2026-12-01T11:30:00Z', now), '30 min ago');
  assert.equal(timeAgo('2026-12-01T07:00:00Z', now), '5 h ago');
  assert.equal(timeAgo('2026-11-28T12:00:00Z', now), '3 d ago');
  assert.deepEqual(parseHash('#dialog-7'), { view: 'inbox', dialog: 7, seq: null });
  assert.deepEqual(parseHash('#dialog-7-seq-12'), { view: 'inbox', dialog: 7, seq: 12 });
  assert.deepEqual(parseHash('#knowledge'), { view: 'knowledge', dialog: null, seq: null });
  assert.deepEqual(parseHash('#<img>'), { view: 'inbox', dialog: null, seq: null });
  assert.equal(pageHost({ visitor: { page_url: 'https://a.example:8443/x?y' } }), 'a.example:8443');
  assert.equal(pageHost({ visitor: { page_url: 'not a url' } }), '');
  assert.deepEqual(highlightParts('Où est <b>Colis</b>?', 'colis'),
    [{ text: 'Où est <b>', mark: false }, { text: 'Colis', mark: true }, { text: '</b>?', mark: false }]);
  assert.deepEqual(highlightParts('abc', ''), [{ text: 'abc', mark: false }]);
});
