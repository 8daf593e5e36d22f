/* SPDX-License-Identifier: MIT */
/*
 * json: helpers over cJSON for request bodies and answers.
 *
 * cJSON keeps strings NUL-terminated, so a "\u0000" escape would silently cut a string:
 * json_parse_body() refuses any body that carries one (JSON_HAS_NUL) before parsing.
 * It does not check UTF-8 (cJSON does not either): callers validate text fields with
 * utf8_valid() / text_validate().
 */
#ifndef CHATAI_JSON_H
#define CHATAI_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

enum json_parse_err {
	JSON_OK = 0,
	JSON_INVALID,    /* not JSON at all */
	JSON_NOT_OBJECT, /* JSON but not an object at the top */
	JSON_HAS_NUL,    /* a raw NUL byte or a \u0000 escape */
};

/* Install xmalloc-based hooks in cJSON (call once at start). */
void json_init(void);

/* Parse a request body that must be one JSON object. NULL and *err on failure. */
cJSON *json_parse_body(const char *buf, size_t len, enum json_parse_err *err);

/* What a field accessor found. */
enum json_field {
	JSON_FIELD_OK = 0,
	JSON_FIELD_MISSING = -1,    /* absent, or JSON null */
	JSON_FIELD_WRONG_TYPE = -2, /* present, of another type (or not an integral number) */
};
enum json_field json_get_str(const cJSON *obj, const char *key, const char **out);
enum json_field json_get_int64(const cJSON *obj, const char *key, int64_t *out); /* integral numbers only */
enum json_field json_get_bool(const cJSON *obj, const char *key, int *out);

/* Unformatted text of v, allocated with xmalloc (caller frees). */
char *json_print(const cJSON *v);

/* Build {"error": {"code", "message"[, "field"]}} as a fresh string (caller frees). */
char *json_error(const char *code, const char *message, const char *field);

#endif
