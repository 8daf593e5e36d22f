/* SPDX-License-Identifier: MIT */
/*
 * token: bearer and visitor tokens, and operator password hashing.
 *
 * Tokens are 32 bytes from the OS random source, encoded base64url without padding
 * (43 characters). At rest only their SHA-256 (hex) is stored. Comparisons of secrets
 * are constant-time. Passwords use crypt(3) with yescrypt ("$y$") and a fresh salt.
 */
#ifndef CHATAI_TOKEN_H
#define CHATAI_TOKEN_H

#include <stddef.h>
#include "util.h"

#define TOKEN_CHARS 43
#define TOKEN_HASH_CHARS 64

/* A fresh token in out (TOKEN_CHARS + 1 bytes). 0 or -1 (no entropy). */
int token_new(char out[TOKEN_CHARS + 1]) CHATAI_WUR;
/* Hex SHA-256 of token, in out (TOKEN_HASH_CHARS + 1 bytes). */
void token_hash(const char *token, char out[TOKEN_HASH_CHARS + 1]);
/* 1 when equal; time depends only on the lengths. */
int token_equal(const char *a, const char *b);
/* 1 when s looks like a token (right length and alphabet): cheap pre-check. */
int token_well_formed(const char *s);

/* yescrypt hash of password into *out (xmalloc'd). 0 or -1. */
int password_hash(const char *password, char **out) CHATAI_WUR;
/* 1 when password matches hash, 0 otherwise (also for a malformed hash). */
int password_verify(const char *password, const char *hash);

/* Random bytes from the OS. 0 or -1. */
int random_bytes(void *buf, size_t n) CHATAI_WUR;

#endif
