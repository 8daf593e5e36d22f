/* SPDX-License-Identifier: MIT */
/*
 * kbfile: the knowledge-base file formats read by `chatai-ctl knowledge import`.
 *
 * A pure codec (no I/O): it takes the bytes of a file and returns the question/answer
 * rows, or the list of every bad row with the line it starts on. Two formats:
 *   CSV  (RFC 4180): a header `question,answer`, then one record per row; fields may be
 *        quoted with "..." (a quote inside is doubled) and then hold commas and newlines;
 *        CRLF or LF line ends; a UTF-8 byte-order mark is ignored; empty lines are skipped.
 *   JSON: an array of objects {"question": "...", "answer": "..."} (other keys ignored).
 * Both texts must satisfy the message rule of API.md (text_validate): an answer is sent to
 * visitors as a message, so what could never be posted is refused here, at import time.
 *
 * The caller owns the struct kbfile and releases it with kbfile_free().
 */
#ifndef CHATAI_KBFILE_H
#define CHATAI_KBFILE_H

#include <stddef.h>
#include "util.h"

enum kbfile_format { KBFILE_AUTO = 0, KBFILE_CSV, KBFILE_JSON };

struct kbfile_row {
	char *question; /* trimmed, valid UTF-8, owned */
	char *answer;   /* trimmed, valid UTF-8, owned */
	int line;       /* line of the file where the row starts (1-based) */
};

struct kbfile {
	enum kbfile_format format; /* the format actually read */
	struct kbfile_row *rows;   /* good rows, in file order */
	size_t nrows;
	char **errors;             /* "line N: what is wrong", owned */
	size_t nerrors;
};

/* Guess the format from a file name (".csv", ".json"), else from the first
 * non-blank byte of the content ('[' means JSON). */
enum kbfile_format kbfile_guess(const char *name, const char *buf, size_t len);

/* Parse buf into kb. Returns 0 when every row is good (nrows may be 0 for an empty
 * list), -1 when at least one error was recorded. Errors are capped at 50 entries
 * (the last one then says how many more there were). */
int kbfile_parse(const char *buf, size_t len, enum kbfile_format format, struct kbfile *kb) CHATAI_WUR;

void kbfile_free(struct kbfile *kb);

#endif
