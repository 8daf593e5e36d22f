/* SPDX-License-Identifier: MIT */
/*
 * mailaddr: what may go into a mail header, checked and encoded (issue 15). Header
 * injection is impossible by construction: an address is accepted only in a narrow
 * ASCII form (no white space, no control characters, no quotes, brackets, commas or
 * parentheses), a display name only without control characters (CR and LF included),
 * and every name or subject is written as RFC 2047 encoded words, whatever it holds.
 * Pure functions: the REST validators and the sender use the same ones.
 */
#ifndef CHATAI_MAILADDR_H
#define CHATAI_MAILADDR_H

#include <stdio.h>
#include "util.h"

#define MAIL_ADDR_MAX 254
#define MAIL_NAME_MAX 200

/* 1 when s is local@domain: local part of atext and dots, domain of letters, digits,
 * hyphens and dots with at least one dot (or a bracketless IP-free host), ASCII only,
 * at most MAIL_ADDR_MAX bytes. */
int mail_addr_valid(const char *s);

/* 1 when s is valid UTF-8 of 1..MAIL_NAME_MAX bytes with no control character
 * (C0, DEL, C1, U+2028/9). */
int mail_text_clean(const char *s);

/* 1 when any byte of s is a control character (C0 or DEL): CR, LF, TAB included. */
int mail_has_ctl(const char *s);

/* Write s as RFC 2047 encoded words (UTF-8, base64, each 60 characters at most, whole characters),
 * folded with CRLF SP between words. s must be valid UTF-8. */
void mail_put_words(FILE *out, const char *s);

/* Base64 of n bytes, lines of 76 characters ending in CRLF. */
void mail_put_base64(FILE *out, const unsigned char *p, size_t n);

#endif
