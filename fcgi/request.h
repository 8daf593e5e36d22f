/* SPDX-License-Identifier: MIT */
/*
 * request: one REST request and its answer, independent of how it arrived. The lowest
 * layer of fcgi/: it calls nothing above it (docs/internals.md, "fcgi/ layers").
 *
 * A struct transport is how the request arrived (a FastCGI request, or CGI on stdin/stdout); a
 * struct req is the parsed request plus the answer being built (struct resp). Handlers
 * only fill req->resp through http_json() / http_error(); the dispatcher sends it once
 * (http_send) and frees everything the request owned (req_free). Nothing here keeps
 * state across requests, so any thread may run any request.
 *
 * The pure parts (buffers, query strings, content types) have no I/O and are unit
 * tested and fuzzed on their own.
 */
#ifndef CHATAI_FCGI_REQUEST_H
#define CHATAI_FCGI_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <fcgiapp.h>
#include <cjson/cJSON.h>
#include "buf.h"
#include "db.h"
#include "url.h"
#include "util.h"

/* Bytes of an int64 as decimal text, sign and NUL included (i64_text). */
#define I64_TEXT 24

/* The transport of one request. */
struct transport {
	FCGX_Request *fcgx; /* NULL: plain CGI (environ, stdin, stdout) */
};

/*
 * Finish a FastCGI request and close its link at once. libfcgi's own close shuts the
 * link down and then waits (up to 2 s) for the web server to close its side, so every
 * answer costs a round trip through the web server's event loop before the thread may
 * go on: thousands of long-polls answered at once then go out one web-server turn
 * apart. Here whatever the web server sent and nobody read (the end-of-stdin record) is
 * drained first, so the close is a plain FIN. NULL or a finished request: nothing.
 */
void fcgx_finish_now(FCGX_Request *r);

/* A request parameter (CGI meta-variable) or NULL. */
const char *transport_param(struct transport *c, const char *name);
/* Read up to n bytes of the body; returns the count (0 at the end or on error). */
size_t transport_read(struct transport *c, char *buf, size_t n);
void transport_write(struct transport *c, const char *buf, size_t n);
/* Free the transport of a finished request (FastCGI: finish and free; CGI: nothing). */
void transport_finish_free(struct transport *c);

struct resp {
	int status;          /* 0 until set */
	struct buf headers;  /* extra header lines, each ending in \r\n */
	struct buf body;     /* JSON text (or empty for 204) */
};

/* The authenticated operator of a request (route flag ROUTE_OPERATOR). */
struct operator {
	int64_t id;         /* operators.id, 0 when none */
	int64_t session_id; /* sessions.id */
	int is_admin;       /* role admin */
	char *json;         /* {"id","email","name","role"} as text, owned */
};

struct route;

enum body_state {
	BODY_NONE = 0,     /* no body sent */
	BODY_OK,           /* body[0..body_len) read in full */
	BODY_TOO_LARGE,    /* announced or found over CHATAI_BODY_MAX: not read */
};

struct req {
	struct transport *transport;
	struct db *db;              /* the thread's database link */
	char *method;               /* REQUEST_METHOD, owned */
	char *path;                 /* path part of REQUEST_URI, owned */
	char *query;                /* query string without '?', owned ("" when none) */
	const char *content_type;   /* the following point into the transport's params */
	const char *authorization;
	const char *visitor_token;  /* X-Visitor-Token header (the query is looked at too) */
	const char *origin;
	const char *remote_addr;
	const char *user_agent;
	int64_t content_length;     /* -1 when not given */
	char *body;                 /* owned, NUL-terminated, body_len bytes */
	size_t body_len;
	enum body_state body_state;
	cJSON *json;                /* the parsed body (ROUTE_BODY routes), owned */
	int64_t ids[2];             /* the {id} segments of the path, in order */
	int nids;
	char id_text[I64_TEXT];     /* ids[0] as text once req_id() was asked ("" before) */
	const struct route *route;
	struct operator op;
	char *cors_origin;          /* when set, the answer allows this origin (owned) */
	struct resp resp;
};

/* Fill r from the transport's parameters (does not read the body). */
void req_init(struct req *r, struct transport *c, struct db *db);
/* Read the body (at most CHATAI_BODY_MAX; an announced larger one is not read at all). */
void req_read_body(struct req *r);
void req_free(struct req *r);
/* The request's JSON body, parsed by the pipeline for ROUTE_BODY routes. */
cJSON *req_body(struct req *r);
/* The path's first {id} (r->ids[0]) as decimal text, the usual first statement parameter. */
const char *req_id(struct req *r);
/* v as decimal text into buf (I64_TEXT bytes); returns buf. */
const char *i64_text(int64_t v, char buf[I64_TEXT]);

/* Answer builders. body is JSON text, copied. The ones that answer an error return
 * ROUTE_DONE (router.h), so that a handler ends with `return http_error(...)`. */
void http_json(struct req *r, int status, const char *body);
/* Take ownership of a malloc'd body. */
void http_json_take(struct req *r, int status, char *body);
void http_no_content(struct req *r);
int http_error(struct req *r, int status, const char *code, const char *message, const char *field);
void http_header(struct req *r, const char *name, const char *value);
/* Answer a validation refusal (validate.h): its status, code, message and field. */
struct verr;
int http_verr(struct req *r, const struct verr *e);
/* The reason phrase of a status code. */
const char *http_reason(int status);
/* The complete CGI/FastCGI answer (Status line, headers, blank line, body) into out. */
void http_render(const struct req *r, struct buf *out);
/* Render and write to the transport. */
void http_send(struct req *r);

/* Map a failed db_exec() to an answer: DB_DOWN -> 503, P0002 -> 404, CA409 -> 409,
 * anything else -> 500 (logged). ROUTE_DONE. */
int http_db_error(struct req *r, const char *what);
/* The same for the outcome recorded in db (which need not be r's link). */
int http_db_error_of(struct req *r, const struct db *db, const char *what);
/* A statement whose rows nobody reads (res: what db_exec() returned): 0 when it ran (res
 * cleared), -1 with http_db_error(what) set. */
int http_db_done(struct req *r, PGresult *res, const char *what) CHATAI_WUR;

/*
 * The answer of a statement that finds one row (res: what db_exec() returned).
 * http_one_row: res when it holds exactly one row; otherwise NULL with the answer set,
 * http_db_error(what) when the statement failed, 404 not_found with the message
 * `missing` when it found no row (res cleared).
 * http_row: answer status with the row's first column as the JSON body (204: no body);
 * a NULL first column is a missing row too. Clears res; returns ROUTE_DONE.
 */
PGresult *http_one_row(struct req *r, PGresult *res, const char *what, const char *missing);
int http_row(struct req *r, PGresult *res, int status, const char *what, const char *missing);

/* Query strings: query_get() and url_decode() of common/url.h. */

/* 1 when a Content-Type value is application/json (any case, parameters allowed,
 * charset if given must be utf-8). */
int content_type_is_json(const char *ct);

/* Bearer token of an Authorization header value, or NULL (points into the value). */
const char *bearer_token(const char *authorization);

#endif
