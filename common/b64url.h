/* SPDX-License-Identifier: MIT */
/*
 * b64url: base64url without padding (RFC 4648 section 5), the one codec of the tree:
 * tokens (common/token.c) and the inbox cursor (fcgi/cursor.c). Pure.
 */
#ifndef CHATAI_COMMON_B64URL_H
#define CHATAI_COMMON_B64URL_H

#include <stddef.h>

/* Encode in[0..n) into out (outlen bytes, NUL included; cut short when too small).
 * Returns the characters written. */
size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen);
/* Decode NUL-terminated in into out: the byte count, or -1 (a character outside the
 * alphabet, a length of 4k+1, or out too small). */
long b64url_decode(const char *in, unsigned char *out, size_t outlen);
/* 1 when c is one of the 64 characters. */
int b64url_is_char(char c);

#endif
