/* SPDX-License-Identifier: MIT */
/*
 * text: the limits and rules of the texts people write (docs/api.md), in one place for
 * REST (fcgi/validate.c), chatai-ctl (operators, assistants, knowledge files) and the
 * assistant worker (answers):
 *
 *  - a message (and a knowledge question or answer): text_validate();
 *  - a greeting: "" (none) or a message;
 *  - a display name (operator, assistant): trimmed, 1..200 characters, no control
 *    characters;
 *  - an operator's e-mail address: 3..254 bytes of UTF-8, one '@' with text on both
 *    sides, no spaces or control characters.
 *
 * Every length counted in characters is in code points. All pure; UTF-8 itself is
 * checked by utf8_valid() (util.h).
 */
#ifndef CHATAI_COMMON_TEXT_H
#define CHATAI_COMMON_TEXT_H

#include <stddef.h>
#include "util.h"

/* Longest message text, in characters after trimming (also a greeting's). */
#define CHATAI_TEXT_MAX_CHARS 4000
/* Longest display name, in characters after trimming. */
#define TEXT_NAME_MAX_CHARS 200
/* Longest e-mail address an operator may be given, in bytes (RFC 5321's path limit). */
#define TEXT_EMAIL_MAX 254
/* Longest e-mail address or password a login may send, in bytes (bounds the input; a
 * longer one could never match). */
#define TEXT_LOGIN_EMAIL_MAX 320
#define TEXT_PASSWORD_MAX 1024

/*
 * Message text rule of API.md: valid UTF-8, no NUL, 1..4000 characters after trimming
 * surrounding white space (ASCII space, tab, CR, LF, VT, FF and U+00A0 / U+3000 are not
 * trimmed: only ASCII white space). On success *out is a fresh copy of the trimmed
 * text (caller frees) and 0 is returned; on failure -1 and *why names the problem.
 */
int text_validate(const char *s, size_t len, char **out, const char **why) CHATAI_WUR;

/* text_validate() of a NUL-terminated s (NULL: "text is required"). */
int text_message(const char *s, char **out, const char **why) CHATAI_WUR;

/* A greeting: "" (no greeting: *out = "" copy) or the message rule. 0 or -1 (*why). */
int text_greeting(const char *s, char **out, const char **why) CHATAI_WUR;

/* A display name: the message rule, then at most TEXT_NAME_MAX_CHARS characters and no
 * control characters. *out trimmed (caller frees). 0 or -1 (*why). */
int name_validate(const char *s, char **out, const char **why) CHATAI_WUR;

/* An operator's e-mail address as stored. 1 when well formed. */
int email_valid(const char *s);

/* Cut valid UTF-8 s to at most max characters, in place. */
void utf8_truncate(char *s, size_t max);

#endif
