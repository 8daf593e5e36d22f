/* SPDX-License-Identifier: MIT */
/*
 * validate: the pure half of every request. Each function takes the parsed body (or
 * the query string) and either fills a small struct or describes the refusal in a
 * struct verr (static strings: nothing to free). No database, no I/O: the unit tests
 * and the fuzzers call these directly.
 *
 * Strings in the result structs point into the cJSON tree they came from, except
 * where noted (`owned`): the caller keeps the tree alive and frees with v_*_free().
 */
#ifndef CHATAI_FCGI_VALIDATE_H
#define CHATAI_FCGI_VALIDATE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include "text.h"
#include "util.h"

struct verr {
	int status;          /* HTTP status */
	const char *code;    /* error code of API.md */
	const char *message; /* for a person */
	const char *field;   /* the field at fault, or NULL (may point to fieldbuf) */
	char fieldbuf[64];   /* storage for a field name taken from the request */
};

/* Longest client_id, page_url (bytes); texts: common/text.h; origins: common/origin.h. */
#define V_CLIENT_ID_MAX 128
#define V_URL_MAX 2048
#define V_ORIGINS_MAX 100
#define V_LIST_LIMIT_MAX 200
#define V_MESSAGES_LIMIT_MAX 1000
#define V_MESSAGES_LIMIT_DEFAULT 500

/*
 * Parse a request body as one JSON object: 400 invalid_json when it is not JSON (a raw
 * NUL byte included), 400 validation_failed with the field when a string holds a
 * \u0000 escape, 400 invalid_json "must be an object" otherwise.
 */
cJSON *v_body(const char *body, size_t len, struct verr *e);

/* The top-level key whose value holds a \u0000 escape, copied into out; 0 or -1. */
int v_nul_field(const char *body, size_t len, char *out, size_t outlen);

struct v_login {
	const char *email;
	const char *password;
};
int v_login(const cJSON *o, struct v_login *out, struct verr *e) CHATAI_WUR;

/* A message: text trimmed (owned), client_id optional. sender: the only accepted value
 * ("manager" for operators, "user" for visitors), optional. */
struct v_post {
	char *text;            /* owned */
	const char *client_id; /* NULL when none */
};
int v_post(const cJSON *o, const char *sender, struct v_post *out, struct verr *e) CHATAI_WUR;

/* {"state": "start" | "stop"}: *start 1 or 0. */
int v_typing(const cJSON *o, int *start, struct verr *e) CHATAI_WUR;

/* {"seq": N >= 0} */
int v_read(const cJSON *o, int64_t *seq, struct verr *e) CHATAI_WUR;

struct v_new_dialog {
	int64_t assistant_id;
	const char *page_url; /* NULL when none */
};
int v_new_dialog(const cJSON *o, struct v_new_dialog *out, struct verr *e) CHATAI_WUR;

/* Assistant create (all fields; name required) or patch (any subset, at least one). */
struct v_assistant {
	char *name;            /* owned, trimmed (name_validate); NULL when absent */
	char *greeting;        /* owned, trimmed (text_greeting); NULL when absent; "" allowed */
	char *origins;         /* owned: JSON array of origin strings; NULL when absent */
};
int v_assistant(const cJSON *o, int create, struct v_assistant *out, struct verr *e) CHATAI_WUR;
void v_assistant_free(struct v_assistant *a);

struct v_knowledge {
	char *question; /* owned, trimmed */
	char *answer;   /* owned, trimmed */
};
int v_knowledge(const cJSON *o, struct v_knowledge *out, struct verr *e) CHATAI_WUR;
void v_knowledge_free(struct v_knowledge *k);

/* GET .../messages: ?after=SEQ&limit=N&wait=S. wait is clamped to max_wait. */
struct v_messages_query {
	int has_after;
	int64_t after;
	int64_t limit;
	int64_t wait; /* seconds, 0 when absent */
};
int v_messages_query(const char *qs, int64_t max_wait, struct v_messages_query *out, struct verr *e) CHATAI_WUR;

/* GET /api/dialogs: ?status=a,b&assistant_id=&limit=&before= */
struct v_dialogs_query {
	char *statuses;       /* owned: "ai,waiting" (checked names, comma separated) or NULL */
	int64_t assistant_id; /* 0: any */
	int64_t limit;
	int64_t before;       /* dialog id, 0: from the newest */
};
int v_dialogs_query(const char *qs, struct v_dialogs_query *out, struct verr *e) CHATAI_WUR;

#endif
