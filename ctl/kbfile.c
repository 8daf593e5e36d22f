/* SPDX-License-Identifier: MIT */
/* kbfile: CSV (RFC 4180) and JSON knowledge-base files into question/answer rows. */
#include "autoconfig.h"
#include "kbfile.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KBFILE_MAX_ERRORS 50

static void kb_error(struct kbfile *kb, int line, const char *fmt, ...) CHATAI_PRINTF(3, 4);

static void kb_error(struct kbfile *kb, int line, const char *fmt, ...)
{
	kb->nerrors++;
	if (kb->nerrors > KBFILE_MAX_ERRORS)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (line > 0) {
		char *where = xasprintf("line %d: %s", line, msg);
		free(msg);
		msg = where;
	}
	kb->errors = xrealloc(kb->errors, kb->nerrors * sizeof *kb->errors);
	kb->errors[kb->nerrors - 1] = msg;
}

/* Keep the error list bounded; the last entry says how many were left out. */
static void kb_errors_close(struct kbfile *kb)
{
	if (kb->nerrors <= KBFILE_MAX_ERRORS)
		return;
	size_t more = kb->nerrors - KBFILE_MAX_ERRORS;
	kb->errors = xrealloc(kb->errors, (KBFILE_MAX_ERRORS + 1) * sizeof *kb->errors);
	kb->errors[KBFILE_MAX_ERRORS] = xasprintf("... and %zu more errors", more);
	kb->nerrors = KBFILE_MAX_ERRORS + 1;
}

/* Validate both texts with the message rule and keep the row, or record why not. */
static void kb_add(struct kbfile *kb, int line, const char *q, size_t ql, const char *a, size_t al)
{
	char *tq = NULL, *ta = NULL;
	const char *why = NULL;
	if (!q) {
		kb_error(kb, line, "question is missing");
		return;
	}
	if (!a) {
		kb_error(kb, line, "answer is missing");
		return;
	}
	if (text_validate(q, ql, &tq, &why) < 0) {
		kb_error(kb, line, "question: %s", why);
		return;
	}
	if (text_validate(a, al, &ta, &why) < 0) {
		free(tq);
		kb_error(kb, line, "answer: %s", why);
		return;
	}
	kb->rows = xrealloc(kb->rows, (kb->nrows + 1) * sizeof *kb->rows);
	kb->rows[kb->nrows].question = tq;
	kb->rows[kb->nrows].answer = ta;
	kb->rows[kb->nrows].line = line;
	kb->nrows++;
}

enum kbfile_format kbfile_guess(const char *name, const char *buf, size_t len)
{
	if (name) {
		size_t n = strlen(name);
		if (n >= 4 && strcasecmp(name + n - 4, ".csv") == 0)
			return KBFILE_CSV;
		if (n >= 5 && strcasecmp(name + n - 5, ".json") == 0)
			return KBFILE_JSON;
	}
	size_t i = 0;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	return i < len && buf[i] == '[' ? KBFILE_JSON : KBFILE_CSV;
}

/* ---- CSV ---------------------------------------------------------------------------- */

struct field {
	char *s;
	size_t len, cap;
};

static void field_put(struct field *f, char c)
{
	if (f->len + 1 >= f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->s = xrealloc(f->s, f->cap);
	}
	f->s[f->len++] = c;
	f->s[f->len] = '\0';
}

struct csv {
	const char *buf;
	size_t len;
	size_t pos;
	int line; /* line of buf[pos] */
};

/*
 * Read one record into fields[0..max) (fields past max are counted, not kept).
 * Returns the number of fields, 0 at end of input, or -1 on a quoting error (then
 * *why says what; the reader cannot resynchronise after an unterminated quote).
 */
static int csv_record(struct csv *c, struct field *fields, int max, const char **why)
{
	if (c->pos >= c->len)
		return 0;
	int n = 0;
	for (;;) {
		struct field scratch = { 0 };
		struct field *f = n < max ? &fields[n] : &scratch;
		f->len = 0;
		field_put(f, '\0'); /* make sure f->s exists and is terminated */
		f->len = 0;
		n++;
		if (c->pos < c->len && c->buf[c->pos] == '"') {
			c->pos++;
			for (;;) {
				if (c->pos >= c->len) {
					free(scratch.s);
					*why = "unterminated quoted field";
					return -1;
				}
				char ch = c->buf[c->pos++];
				if (ch == '"') {
					if (c->pos < c->len && c->buf[c->pos] == '"') {
						field_put(f, '"');
						c->pos++;
						continue;
					}
					break;
				}
				if (ch == '\n')
					c->line++;
				field_put(f, ch);
			}
			if (c->pos < c->len && c->buf[c->pos] != ',' && c->buf[c->pos] != '\n' &&
			    !(c->buf[c->pos] == '\r' && c->pos + 1 < c->len && c->buf[c->pos + 1] == '\n') &&
			    !(c->buf[c->pos] == '\r' && c->pos + 1 == c->len)) {
				free(scratch.s);
				*why = "unexpected character after a closing quote (a quote inside a quoted field is written \"\")";
				return -1;
			}
		} else {
			while (c->pos < c->len) {
				char ch = c->buf[c->pos];
				if (ch == ',' || ch == '\n')
					break;
				if (ch == '\r' && (c->pos + 1 == c->len || c->buf[c->pos + 1] == '\n'))
					break;
				if (ch == '"') {
					free(scratch.s);
					*why = "a quote in an unquoted field (quote the whole field: \"...\")";
					return -1;
				}
				field_put(f, ch);
				c->pos++;
			}
		}
		free(scratch.s);
		if (c->pos >= c->len)
			return n;
		char ch = c->buf[c->pos++];
		if (ch == ',')
			continue;
		if (ch == '\r')
			c->pos++; /* the '\n' of CRLF, or past the end */
		c->line++;
		return n;
	}
}

/* Narrow [s, s+len) to its non-blank middle. */
static void trim_span(const char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static int header_is(const struct field *f, const char *want)
{
	const char *s = f->s;
	size_t l = f->len;
	trim_span(&s, &l);
	return l == strlen(want) && strncasecmp(s, want, l) == 0;
}

static void parse_csv(const char *buf, size_t len, struct kbfile *kb)
{
	struct csv c = { buf, len, 0, 1 };
	struct field fields[2] = { { 0 }, { 0 } };
	int have_header = 0;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		c.pos = 3;
	for (;;) {
		const char *why = NULL;
		int line = c.line;
		int n = csv_record(&c, fields, 2, &why);
		if (n == 0)
			break;
		if (n < 0) {
			kb_error(kb, line, "%s", why);
			break;
		}
		if (n == 1 && fields[0].len == 0)
			continue; /* an empty line */
		if (!have_header) {
			if (n != 2 || !header_is(&fields[0], "question") || !header_is(&fields[1], "answer")) {
				kb_error(kb, line, "the first line must be the header question,answer");
				break;
			}
			have_header = 1;
			continue;
		}
		if (n != 2) {
			kb_error(kb, line, "expected 2 fields (question,answer), found %d", n);
			continue;
		}
		kb_add(kb, line, fields[0].s, fields[0].len, fields[1].s, fields[1].len);
	}
	if (!have_header && kb->nerrors == 0)
		kb_error(kb, 0, "the file is empty (a CSV file starts with the header question,answer)");
	free(fields[0].s);
	free(fields[1].s);
}

/* ---- JSON --------------------------------------------------------------------------- */

static int line_at(const char *buf, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

/*
 * The line on which each element of the top-level array starts (cJSON keeps no
 * positions). Also finds \u0000 escapes, which cJSON would silently cut strings at.
 * Returns the number of elements recorded in lines[0..max).
 */
static size_t json_scan(const char *buf, size_t len, int *lines, size_t max, int *nul_line)
{
	int depth = 0, in_str = 0, expecting = 0, line = 1;
	size_t n = 0;
	*nul_line = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '\n')
			line++;
		if (in_str) {
			if (ch == '\\' && i + 1 < len) {
				if (buf[i + 1] == 'u' && i + 5 < len && memcmp(buf + i + 2, "0000", 4) == 0 &&
				    !*nul_line)
					*nul_line = line;
				i++;
			} else if (ch == '"') {
				in_str = 0;
			}
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (depth == 1 && expecting && ch != ']') {
			if (n < max)
				lines[n] = line;
			n++;
			expecting = 0;
		}
		if (ch == '"')
			in_str = 1;
		else if (ch == '[' || ch == '{') {
			depth++;
			if (depth == 1)
				expecting = 1;
		} else if (ch == ']' || ch == '}')
			depth--;
		else if (ch == ',' && depth == 1)
			expecting = 1;
	}
	return n;
}

static void parse_json(const char *buf, size_t len, struct kbfile *kb)
{
	if (memchr(buf, '\0', len)) {
		kb_error(kb, line_at(buf, (size_t)((const char *)memchr(buf, '\0', len) - buf)),
			 "NUL byte in the file");
		return;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= buf && at <= buf + len ? (size_t)(at - buf) : 0;
		kb_error(kb, line_at(buf, off), "not valid JSON");
		return;
	}
	for (const char *p = end; p && p < buf + len; p++) {
		if (!isspace((unsigned char)*p)) {
			kb_error(kb, line_at(buf, (size_t)(p - buf)), "unexpected text after the JSON array");
			goto out;
		}
	}
	if (!cJSON_IsArray(root)) {
		kb_error(kb, 1, "the file must hold a JSON array of {\"question\", \"answer\"} objects");
		goto out;
	}
	int nul_line = 0;
	size_t count = (size_t)cJSON_GetArraySize(root);
	int *lines = xcalloc(count ? count : 1, sizeof *lines);
	json_scan(buf, len, lines, count, &nul_line);
	if (nul_line) {
		kb_error(kb, nul_line, "a \\u0000 escape (NUL) is not allowed");
		free(lines);
		goto out;
	}
	size_t i = 0;
	for (const cJSON *el = root->child; el; el = el->next, i++) {
		int line = i < count ? lines[i] : 0;
		if (!cJSON_IsObject(el)) {
			kb_error(kb, line, "entry %zu: expected an object {\"question\", \"answer\"}", i + 1);
			continue;
		}
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(el, "question");
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(el, "answer");
		if (q && !cJSON_IsString(q)) {
			kb_error(kb, line, "entry %zu: question must be a string", i + 1);
			continue;
		}
		if (a && !cJSON_IsString(a)) {
			kb_error(kb, line, "entry %zu: answer must be a string", i + 1);
			continue;
		}
		const char *qs = q ? q->valuestring : NULL;
		const char *as = a ? a->valuestring : NULL;
		kb_add(kb, line, qs, qs ? strlen(qs) : 0, as, as ? strlen(as) : 0);
	}
	free(lines);
out:
	cJSON_Delete(root);
}

int kbfile_parse(const char *buf, size_t len, enum kbfile_format format, struct kbfile *kb)
{
	memset(kb, 0, sizeof *kb);
	if (format == KBFILE_AUTO)
		format = kbfile_guess(NULL, buf, len);
	kb->format = format;
	if (format == KBFILE_JSON)
		parse_json(buf, len, kb);
	else
		parse_csv(buf, len, kb);
	kb_errors_close(kb);
	return kb->nerrors ? -1 : 0;
}

void kbfile_free(struct kbfile *kb)
{
	for (size_t i = 0; i < kb->nrows; i++) {
		free(kb->rows[i].question);
		free(kb->rows[i].answer);
	}
	for (size_t i = 0; i < kb->nerrors; i++)
		free(kb->errors[i]);
	free(kb->rows);
	free(kb->errors);
	memset(kb, 0, sizeof *kb);
}
