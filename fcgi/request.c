/* SPDX-License-Identifier: MIT */
/* request: request parsing and answer rendering over FastCGI or CGI. */
#include "autoconfig.h"
#include "request.h"
#include "json.h"
#include "router.h"
#include "log.h"
#include "validate.h"

#include <ctype.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

/* ---- transport ---- */

void fcgx_finish_now(FCGX_Request *r)
{
	if (!r)
		return;
	if (r->ipcFd >= 0 && r->in) {
		/* The rest of stdin (usually just its end record; a body nobody read, up to
		 * 64 KiB): a plain close is safe only once the web server has sent it all. */
		char trash[4096];
		size_t got = 0;
		while (!FCGX_HasSeenEOF(r->in) && got < 65536) {
			int k = FCGX_GetStr(trash, sizeof trash, r->in);
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		if (FCGX_HasSeenEOF(r->in) == EOF && r->keepConnection == 0) {
			char more[256];
			while (recv(r->ipcFd, more, sizeof more, MSG_DONTWAIT) > 0)
				;
			FCGX_Detach(r);
		}
	}
	FCGX_Finish_r(r);
}

const char *transport_param(struct transport *c, const char *name)
{
	if (c->fcgx)
		return FCGX_GetParam(name, c->fcgx->envp);
	return getenv(name);
}

size_t transport_read(struct transport *c, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t want = n - got;
		if (want > 65536)
			want = 65536;
		if (c->fcgx) {
			int k = FCGX_GetStr(buf + got, (int)want, c->fcgx->in);
			if (k <= 0)
				break;
			got += (size_t)k;
		} else {
			ssize_t k = read(STDIN_FILENO, buf + got, want);
			if (k <= 0)
				break;
			got += (size_t)k;
		}
	}
	return got;
}

void transport_write(struct transport *c, const char *buf, size_t n)
{
	if (c->fcgx) {
		FCGX_PutStr(buf, (int)n, c->fcgx->out);
		return;
	}
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, buf, n);
		if (k <= 0)
			return;
		buf += k;
		n -= (size_t)k;
	}
}

void transport_finish_free(struct transport *c)
{
	if (!c)
		return;
	if (c->fcgx) {
		/* Nobody reads a next request on this link: let it close. */
		c->fcgx->keepConnection = 0;
		fcgx_finish_now(c->fcgx);
		free(c->fcgx);
	}
	free(c);
}

/* ---- request ---- */

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

void req_init(struct req *r, struct transport *c, struct db *db)
{
	memset(r, 0, sizeof *r);
	r->transport = c;
	r->db = db;
	const char *m = transport_param(c, "REQUEST_METHOD");
	r->method = xstrdup(m ? m : "GET");

	/* REQUEST_URI is what the client sent, whatever the server's script mapping. */
	const char *uri = transport_param(c, "REQUEST_URI");
	if (uri && *uri) {
		const char *q = strchr(uri, '?');
		r->path = q ? xstrndup(uri, (size_t)(q - uri)) : xstrdup(uri);
		r->query = xstrdup(q ? q + 1 : "");
	} else {
		const char *sn = transport_param(c, "SCRIPT_NAME");
		const char *pi = transport_param(c, "PATH_INFO");
		r->path = xasprintf("%s%s", sn ? sn : "", pi ? pi : "");
		const char *qs = transport_param(c, "QUERY_STRING");
		r->query = xstrdup(qs ? qs : "");
	}
	r->content_type = nonempty(transport_param(c, "CONTENT_TYPE"));
	r->authorization = nonempty(transport_param(c, "HTTP_AUTHORIZATION"));
	r->visitor_token = nonempty(transport_param(c, "HTTP_X_VISITOR_TOKEN"));
	r->origin = nonempty(transport_param(c, "HTTP_ORIGIN"));
	r->remote_addr = nonempty(transport_param(c, "REMOTE_ADDR"));
	r->user_agent = nonempty(transport_param(c, "HTTP_USER_AGENT"));
	const char *cl = transport_param(c, "CONTENT_LENGTH");
	int64_t n;
	if (cl && *cl && parse_int64(cl, 0, INT64_MAX, &n) == 0)
		r->content_length = n;
	else
		r->content_length = (cl && *cl) ? INT64_MAX : -1;
}

void req_read_body(struct req *r)
{
	if (r->content_length == -1 && r->transport->fcgx) {
		/* No CONTENT_LENGTH (a chunked request passed on as a stream): FastCGI marks
		 * the end of the body, so read up to one byte past the limit to tell. */
		size_t cap = CHATAI_BODY_MAX + 1;
		r->body = xmalloc(cap + 1);
		r->body_len = transport_read(r->transport, r->body, cap);
		r->body[r->body_len] = '\0';
		if (r->body_len > CHATAI_BODY_MAX) {
			free(r->body);
			r->body = NULL;
			r->body_len = 0;
			r->body_state = BODY_TOO_LARGE;
			return;
		}
		r->body_state = r->body_len ? BODY_OK : BODY_NONE;
		return;
	}
	if (r->content_length == 0 || r->content_length == -1) {
		r->body_state = BODY_NONE;
		return;
	}
	if (r->content_length > CHATAI_BODY_MAX) {
		r->body_state = BODY_TOO_LARGE;
		return;
	}
	size_t want = (size_t)r->content_length;
	r->body = xmalloc(want + 1);
	r->body_len = transport_read(r->transport, r->body, want);
	r->body[r->body_len] = '\0';
	r->body_state = r->body_len ? BODY_OK : BODY_NONE;
}

void req_free(struct req *r)
{
	free(r->method);
	free(r->path);
	free(r->query);
	free(r->body);
	cJSON_Delete(r->json);
	free(r->op.json);
	free(r->cors_origin);
	buf_free(&r->resp.headers);
	buf_free(&r->resp.body);
	memset(r, 0, sizeof *r);
}

/* ---- answers ---- */

void http_json(struct req *r, int status, const char *body)
{
	r->resp.status = status;
	r->resp.body.len = 0;
	buf_adds(&r->resp.body, body);
}

void http_json_take(struct req *r, int status, char *body)
{
	http_json(r, status, body);
	free(body);
}

void http_no_content(struct req *r)
{
	r->resp.status = 204;
	r->resp.body.len = 0;
}

int http_error(struct req *r, int status, const char *code, const char *message, const char *field)
{
	http_json_take(r, status, json_error(code, message, field));
	return ROUTE_DONE;
}

void http_header(struct req *r, const char *name, const char *value)
{
	buf_printf(&r->resp.headers, "%s: %s\r\n", name, value);
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

void http_render(const struct req *r, struct buf *out)
{
	int status = r->resp.status ? r->resp.status : 500;
	buf_printf(out, "Status: %d %s\r\n", status, http_reason(status));
	if (status != 204)
		buf_adds(out, "Content-Type: application/json; charset=utf-8\r\n");
	buf_adds(out, "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
	if (r->cors_origin) {
		buf_printf(out, "Access-Control-Allow-Origin: %s\r\n", r->cors_origin);
		buf_adds(out, "Vary: Origin\r\n");
	}
	if (r->resp.headers.len)
		buf_add(out, r->resp.headers.p, r->resp.headers.len);
	if (status != 204)
		buf_printf(out, "Content-Length: %zu\r\n", r->resp.body.len);
	buf_adds(out, "\r\n");
	if (status != 204 && r->resp.body.len)
		buf_add(out, r->resp.body.p, r->resp.body.len);
}

void http_send(struct req *r)
{
	struct buf out = { 0 };
	http_render(r, &out);
	transport_write(r->transport, out.p, out.len);
	buf_free(&out);
}

int http_db_error(struct req *r, const char *what)
{
	return http_db_error_of(r, r->db, what);
}

int http_db_error_of(struct req *r, const struct db *db, const char *what)
{
	if (db->status == DB_DOWN)
		return http_error(r, 503, "unavailable", "the database is unavailable, try again shortly",
				  NULL);
	if (db_failed_with(db, "P0002"))
		return http_error(r, 404, "not_found", "no such resource", NULL);
	if (db_failed_with(db, "CA409"))
		return http_error(r, 409, "conflict",
				  "this action is not possible in the dialog's current state", NULL);
	log_error("%s: database error %s: %s", what, db->sqlstate, db->errmsg);
	return http_error(r, 500, "internal_error", "internal error", NULL);
}

int http_db_done(struct req *r, PGresult *res, const char *what)
{
	if (!res) {
		http_db_error(r, what);
		return -1;
	}
	PQclear(res);
	return 0;
}

PGresult *http_one_row(struct req *r, PGresult *res, const char *what, const char *missing)
{
	/* The rule of "one row" is db_one_row()'s; this answers its other outcomes. */
	switch (db_one_row(&res)) {
	case DB_ROW_ONE:
		return res;
	case DB_ROW_FAILED:
		http_db_error(r, what);
		return NULL;
	case DB_ROW_NONE:
		break;
	}
	http_error(r, 404, "not_found", missing, NULL);
	return NULL;
}

int http_row(struct req *r, PGresult *res, int status, const char *what, const char *missing)
{
	if (!(res = http_one_row(r, res, what, missing)))
		return ROUTE_DONE;
	if (status == 204)
		http_no_content(r);
	else if (PQgetisnull(res, 0, 0))
		http_error(r, 404, "not_found", missing, NULL);
	else
		http_json(r, status, PQgetvalue(res, 0, 0));
	PQclear(res);
	return ROUTE_DONE;
}

cJSON *req_body(struct req *r)
{
	return r->json;
}

const char *i64_text(int64_t v, char buf[I64_TEXT])
{
	snprintf(buf, I64_TEXT, "%lld", (long long)v);
	return buf;
}

const char *req_id(struct req *r)
{
	if (!r->id_text[0])
		i64_text(r->ids[0], r->id_text);
	return r->id_text;
}

int http_verr(struct req *r, const struct verr *e)
{
	return http_error(r, e->status, e->code, e->message, e->field);
}

/* ---- pure helpers ---- */

int content_type_is_json(const char *ct)
{
	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	static const char want[] = "application/json";
	if (strncasecmp(ct, want, sizeof want - 1) != 0)
		return 0;
	const char *p = ct + sizeof want - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 1;
	if (*p != ';')
		return 0;
	/* Parameters: only charset matters, and only utf-8 is JSON (RFC 8259). */
	while (*p == ';') {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		const char *k = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		size_t klen = (size_t)(p - k);
		while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t'))
			klen--;
		const char *v = NULL;
		size_t vlen = 0;
		if (*p == '=') {
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			v = p;
			while (*p && *p != ';')
				p++;
			vlen = (size_t)(p - v);
			while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
				v++;
				vlen -= 2;
			}
		}
		if (klen == 7 && strncasecmp(k, "charset", 7) == 0) {
			if (!v || !((vlen == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
			            (vlen == 4 && strncasecmp(v, "utf8", 4) == 0)))
				return 0;
		}
	}
	return *p == '\0';
}

const char *bearer_token(const char *authorization)
{
	if (!authorization)
		return NULL;
	const char *p = authorization;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return NULL;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p ? p : NULL;
}
