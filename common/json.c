/* SPDX-License-Identifier: MIT */
/* json: request-body parsing and small accessors over cJSON. */
#include "autoconfig.h"
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *json_malloc(size_t n)
{
	return xmalloc(n);
}

void json_init(void)
{
	cJSON_Hooks h = { json_malloc, free };
	cJSON_InitHooks(&h);
}

/* 1 when a JSON text carries a \u0000 escape outside of an escaped backslash. */
static int has_nul_escape(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
			return 1;
		i++; /* skip the escaped character (handles "\\u0000" as text) */
	}
	return 0;
}

cJSON *json_parse_body(const char *buf, size_t len, enum json_parse_err *err)
{
	*err = JSON_OK;
	if (!buf || len == 0) {
		*err = JSON_INVALID;
		return NULL;
	}
	if (memchr(buf, '\0', len) || has_nul_escape(buf, len)) {
		*err = JSON_HAS_NUL;
		return NULL;
	}
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!v) {
		*err = JSON_INVALID;
		return NULL;
	}
	/* Only white space may follow the value. */
	for (const char *p = end; p && p < buf + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
			cJSON_Delete(v);
			*err = JSON_INVALID;
			return NULL;
		}
	}
	if (!cJSON_IsObject(v)) {
		cJSON_Delete(v);
		*err = JSON_NOT_OBJECT;
		return NULL;
	}
	return v;
}

/* The member key of obj when it has type is: JSON_FIELD_OK with *v set. */
static enum json_field get_typed(const cJSON *obj, const char *key, cJSON_bool (*is)(const cJSON *), const cJSON **v)
{
	*v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!*v || cJSON_IsNull(*v))
		return JSON_FIELD_MISSING;
	return is(*v) ? JSON_FIELD_OK : JSON_FIELD_WRONG_TYPE;
}

enum json_field json_get_str(const cJSON *obj, const char *key, const char **out)
{
	const cJSON *v;
	enum json_field rc = get_typed(obj, key, cJSON_IsString, &v);
	if (rc == JSON_FIELD_OK && !v->valuestring)
		rc = JSON_FIELD_WRONG_TYPE;
	if (rc == JSON_FIELD_OK)
		*out = v->valuestring;
	return rc;
}

enum json_field json_get_int64(const cJSON *obj, const char *key, int64_t *out)
{
	const cJSON *v;
	enum json_field rc = get_typed(obj, key, cJSON_IsNumber, &v);
	if (rc != JSON_FIELD_OK)
		return rc;
	double d = v->valuedouble;
	/* 2^53: past this a double no longer holds every integer. */
	if (!isfinite(d) || d != floor(d) || d > 9007199254740992.0 || d < -9007199254740992.0)
		return JSON_FIELD_WRONG_TYPE;
	*out = (int64_t)d;
	return JSON_FIELD_OK;
}

enum json_field json_get_bool(const cJSON *obj, const char *key, int *out)
{
	const cJSON *v;
	enum json_field rc = get_typed(obj, key, cJSON_IsBool, &v);
	if (rc == JSON_FIELD_OK)
		*out = cJSON_IsTrue(v);
	return rc;
}

char *json_print(const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);
	if (!s)
		abort();
	return s;
}

char *json_error(const char *code, const char *message, const char *field)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	if (field)
		cJSON_AddStringToObject(e, "field", field);
	char *s = json_print(root);
	cJSON_Delete(root);
	return s;
}
