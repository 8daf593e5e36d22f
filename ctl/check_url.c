/* SPDX-License-Identifier: MIT */
/* check_url: `chatai-ctl check --url URL`, a live install checked from outside (see
 * check_url.h). It needs no settings file and no database link of its own: everything
 * it learns, it learns through the web server, as a browser would. */
#include "autoconfig.h"
#include "check_url.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY_MAX (64 * 1024)

struct resp {
	long status;         /* of the last status line seen (0: none) */
	char ctype[128];
	char poll[128];      /* X-Chatai-Poll */
	char *body;
	size_t len;
	int stop_at_body;    /* streams: stop at the first byte of the body */
	int stop_at_headers; /* WebSocket: stop when the headers are in */
	int got_body;
	double body_ms;      /* when the first byte of the body came */
	struct timespec t0;
};

static int failed;

static void line(const char *level, const char *what, const char *fmt, ...) CHATAI_PRINTF(3, 4);

static void line(const char *level, const char *what, const char *fmt, ...)
{
	va_list ap;
	printf("%-4s %s: ", level, what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!strcmp(level, "FAIL"))
		failed = 1;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void header_value(const char *h, size_t n, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);
	if (n <= nl + 1 || strncasecmp(h, name, nl) != 0 || h[nl] != ':')
		return;
	const char *v = h + nl + 1;
	const char *e = h + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	snprintf(out, outsz, "%.*s", (int)(e - v), v);
}

static size_t on_header(char *b, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = sz * n;
	if (len > 5 && !strncmp(b, "HTTP/", 5)) {
		const char *sp = memchr(b, ' ', len);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->ctype[0] = r->poll[0] = '\0';
	}
	header_value(b, len, "Content-Type", r->ctype, sizeof r->ctype);
	header_value(b, len, "X-Chatai-Poll", r->poll, sizeof r->poll);
	if (r->stop_at_headers && len == 2 && b[0] == '\r' && r->status >= 101)
		return 0; /* enough: the answer to an upgrade */
	return len;
}

static size_t on_body(char *b, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = sz * n;
	if (!r->got_body) {
		r->got_body = 1;
		r->body_ms = ms_since(&r->t0);
	}
	if (r->stop_at_body)
		return 0;
	size_t take = r->len + len > BODY_MAX ? BODY_MAX - r->len : len;
	if (take) {
		r->body = realloc(r->body, r->len + take + 1);
		if (!r->body)
			abort();
		memcpy(r->body + r->len, b, take);
		r->len += take;
		r->body[r->len] = '\0';
	}
	return len;
}

static const char *opt_origin;

/* One request; returns the curl code (CURLE_WRITE_ERROR when we stopped it on purpose). */
static CURLcode fetch(const char *url, const char *post_json, const char *const *headers, long timeout_ms,
		      struct resp *r)
{
	CURL *c = curl_easy_init();
	if (!c)
		abort();
	struct curl_slist *hl = NULL;
	for (; headers && *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	char origin[600];
	if (opt_origin) {
		snprintf(origin, sizeof origin, "Origin: %s", opt_origin);
		hl = curl_slist_append(hl, origin);
	}
	if (post_json) {
		hl = curl_slist_append(hl, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_json);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "chatai-ctl check/" PACKAGE_VERSION);
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

static int is_json(const struct resp *r)
{
	return strstr(r->ctype, "json") != NULL;
}

static const char *json_error(const struct resp *r)
{
	static char buf[64];
	buf[0] = '\0';
	cJSON *j = r->body ? cJSON_Parse(r->body) : NULL;
	cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsString(e))
		snprintf(buf, sizeof buf, "%s", e->valuestring);
	cJSON_Delete(j);
	return buf;
}

/* The API and the settings: GET /api/me answers 401 JSON when chatai.fcgi runs. 0 when
 * chatai.fcgi answered (the other checks make sense), -1 otherwise. */
static int check_api(const char *base)
{
	char url[2048];
	snprintf(url, sizeof url, "%s/api/me", base);
	struct resp r = { 0 };
	CURLcode rc = fetch(url, NULL, NULL, 15000, &r);
	int ok = -1;
	if (rc != CURLE_OK) {
		line("FAIL", "api", "cannot reach %s: %s", url, curl_easy_strerror(rc));
	} else if ((r.status == 401 || r.status == 503) && is_json(&r)) {
		line("OK", "api", "chatai.fcgi answers at %s/api/ (401 without a token, as it should)", base);
		line("OK", "settings", "chatai.fcgi found its settings (it answers only with a database_url)");
		if (r.status == 503)
			line("FAIL", "database", "chatai.fcgi cannot reach PostgreSQL (503 %s): check database_url in "
			     "chatai.conf, and that the database accepts connections from the web host", json_error(&r));
		ok = 0;
	} else if (r.status == 500) {
		line("FAIL", "api", "%s answers 500 Internal Server Error: chatai.fcgi did not start or the server "
		     "refused the .htaccess. The web server's error log says which: \"database_url is not set\": "
		     "chatai.fcgi found no settings (put chatai.conf above the web root, e.g. ~/chatai.conf, "
		     "readable by the user the program runs as; \"chatai.conf: Permission denied\": it is not); "
		     "\"... not allowed here\": the host's AllowOverride "
		     "lacks what the .htaccess needs (AuthConfig FileInfo Indexes Options=ExecCGI,Indexes); "
		     "\"End of script output before headers\" alone: chatai.fcgi cannot run here (built for "
		     "another system? not mode 755?)", url);
		line("FAIL", "settings", "unknown: chatai.fcgi does not answer");
	} else if (r.status == 403) {
		line("FAIL", "api", "%s answers 403 Forbidden: the server does not let chatai.fcgi run. It needs "
		     "Options ExecCGI (AllowOverride Options=ExecCGI), chatai.fcgi mode 755, and under suexec "
		     "the program and its folder owned by your account and not group-writable", url);
	} else if (r.status == 404) {
		line("FAIL", "api", "%s answers 404 from the web server, not from chatai.fcgi: /api/ is not "
		     "routed to it. mod_rewrite is missing, the .htaccess is not read (AllowOverride None), "
		     "api/chatai.fcgi is missing, or ChatAI sits in a subfolder of the site (install it at "
		     "the root of a domain or subdomain)", url);
	} else if (r.status == 200 && !is_json(&r)) {
		line("FAIL", "api", "%s sends a file (%s) instead of running chatai.fcgi: no FastCGI or CGI "
		     "handler for it (the host needs mod_fcgid or mod_cgi, and Options ExecCGI)", url,
		     r.ctype[0] ? r.ctype : "no Content-Type");
	} else {
		line("FAIL", "api", "%s answers %ld (%s), expected 401 JSON from chatai.fcgi", url, r.status,
		     r.ctype[0] ? r.ctype : "no Content-Type");
	}
	resp_free(&r);
	return ok;
}

static void describe_poll(const char *from, cJSON *poll, const char *header)
{
	cJSON *mode = cJSON_GetObjectItemCaseSensitive(poll, "mode");
	if (cJSON_IsString(mode) && !strcmp(mode->valuestring, "short")) {
		cJSON *a = cJSON_GetObjectItemCaseSensitive(poll, "active_ms");
		cJSON *i = cJSON_GetObjectItemCaseSensitive(poll, "idle_ms");
		line("OK", "polling", "short-poll: the server runs a process per request (CGI or mod_fcgid), so "
		     "clients ask again every %.1f s while a chat is active, every %.0f s when idle, and no "
		     "request waits (%s)", cJSON_IsNumber(a) ? a->valuedouble / 1000 : 1.0,
		     cJSON_IsNumber(i) ? i->valuedouble / 1000 : 10.0, from);
	} else if (header && !strncmp(header, "short", 5)) {
		line("OK", "polling", "short-poll (%s: X-Chatai-Poll: %s)", from, header);
	} else {
		line("OK", "polling", "long-poll: a request waits until news comes (up to 25-30 s)%s%s",
		     header && *header ? "; X-Chatai-Poll: " : "", header ? header : "");
	}
}

/* The widget configuration of assistant aid: database reachable, poll mode. Returns 0
 * when the assistant exists. */
static int check_assistant(const char *base, long aid, cJSON **poll_out)
{
	char url[2048];
	snprintf(url, sizeof url, "%s/api/widget/assistants/%ld", base, aid);
	struct resp r = { 0 };
	CURLcode rc = fetch(url, NULL, NULL, 15000, &r);
	int ok = -1;
	if (rc == CURLE_OK && r.status == 200 && is_json(&r)) {
		cJSON *j = cJSON_Parse(r.body);
		cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
		line("OK", "database", "reachable: assistant %ld is \"%s\"", aid,
		     cJSON_IsString(name) ? name->valuestring : "?");
		cJSON *poll = cJSON_GetObjectItemCaseSensitive(j, "poll");
		*poll_out = poll ? cJSON_Duplicate(poll, 1) : NULL;
		cJSON_Delete(j);
		ok = 0;
	} else if (rc == CURLE_OK && r.status == 404 && is_json(&r)) {
		line("OK", "database", "reachable (no assistant %ld)", aid);
		line("WARN", "streams", "not checked: no assistant %ld here; pass --assistant ID (an assistant of this "
		     "install) to check the polling mode, SSE and WebSocket", aid);
	} else if (rc == CURLE_OK && r.status == 503) {
		line("FAIL", "database", "chatai.fcgi cannot reach PostgreSQL (503): check database_url in chatai.conf");
	} else {
		line("FAIL", "database", "%s: %s %ld", url, rc == CURLE_OK ? "answered" : curl_easy_strerror(rc),
		     r.status);
	}
	resp_free(&r);
	return ok;
}

/* SSE: the first bytes (retry:) must come at once. 1 when a notifier answered. */
static int check_sse(const char *base, long did, const char *q)
{
	char url[2048];
	struct resp r = { 0 };
	snprintf(url, sizeof url, "%s/sse/widget/dialogs/%ld?%s", base, did, q);
	const char *sh[] = { "Accept: text/event-stream", NULL };
	r.stop_at_body = 1;
	CURLcode rc = fetch(url, NULL, sh, 4000, &r);
	int notifier = 0;
	static const char buffers[] = "something buffers SSE (mod_deflate without no-gzip on /sse/, ProxyPass "
				      "without flushpackets=on, lighttpd without server.stream-response-body = 2, "
				      "or a proxy or CDN in front with buffering on)";
	if (r.status == 200 && r.got_body) {
		line("OK", "sse", "events come unbuffered (first bytes after %.0f ms)", r.body_ms);
		notifier = 1;
	} else if (r.status == 200) {
		line("FAIL", "sse", "the stream started but nothing came in 4 s: %s", buffers);
		notifier = 1;
	} else if (r.status == 0 && rc == CURLE_OPERATION_TIMEDOUT) {
		line("FAIL", "sse", "not even the answer's headers came in 4 s (the notifier sends them at once): %s",
		     buffers);
		notifier = 1;
	} else if (r.status == 404 || r.status == 502 || r.status == 503) {
		line("OK", "sse", "none here (%ld: no notifier, as on a shared host): the widget and the panel poll",
		     r.status);
	} else {
		line("FAIL", "sse", "%s answered %ld", url, r.status);
	}
	resp_free(&r);

	return notifier;
}

/* WebSocket: the upgrade must reach the notifier (101). */
static void check_ws(const char *base, long did, const char *q, int notifier)
{
	char url[2048];
	struct resp r = { 0 };
	snprintf(url, sizeof url, "%s/ws/widget/dialogs/%ld?%s", base, did, q);
	const char *wh[] = { "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
			     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", NULL };
	r.stop_at_headers = 1;
	CURLcode rc = fetch(url, NULL, wh, 5000, &r);
	if (r.status == 101)
		line("OK", "websocket", "the upgrade reaches the notifier (101 Switching Protocols)");
	else if (!notifier && (r.status == 404 || r.status == 502 || r.status == 503))
		line("OK", "websocket", "none here (%ld: no notifier): clients poll", r.status);
	else if (r.status > 0)
		line("FAIL", "websocket", "answered %ld instead of 101: the web server does not pass the upgrade on "
		     "(Apache: ProxyPass \"/ws/\" ... upgrade=websocket with mod_proxy_http 2.4.47+ or "
		     "mod_proxy_wstunnel; lighttpd: proxy.header = (\"upgrade\" => \"enable\")); clients fall "
		     "back to SSE or polling", r.status);
	else
		line("FAIL", "websocket", "%s: no answer: %s", url, curl_easy_strerror(rc));
	resp_free(&r);
}

static void check_streams(const char *base, long aid, cJSON *poll)
{
	char url[2048], body[256];
	snprintf(url, sizeof url, "%s/api/widget/dialogs", base);
	snprintf(body, sizeof body, "{\"assistant_id\":%ld,\"page_url\":\"chatai-ctl check --url\"}", aid);
	struct resp r = { 0 };
	CURLcode rc = fetch(url, body, NULL, 15000, &r);
	if (rc != CURLE_OK || r.status != 201) {
		if (r.status == 403)
			line("WARN", "streams", "not checked: assistant %ld admits only its allowed origins; pass "
			     "--origin https://your.site (one of them)", aid);
		else
			line("FAIL", "streams", "could not open a test dialog: %s %ld %s", url, r.status,
			     rc == CURLE_OK ? json_error(&r) : curl_easy_strerror(rc));
		describe_poll("the widget configuration", poll, NULL);
		resp_free(&r);
		return;
	}
	cJSON *j = cJSON_Parse(r.body);
	cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "dialog_id");
	cJSON *vt = cJSON_GetObjectItemCaseSensitive(j, "visitor_token");
	long did = cJSON_IsNumber(d) ? (long)d->valuedouble : 0;
	char token[256];
	snprintf(token, sizeof token, "%s", cJSON_IsString(vt) ? vt->valuestring : "");
	cJSON_Delete(j);
	resp_free(&r);

	/* polling: the widget configuration, and the header of a long-poll answer */
	char hdr[300];
	snprintf(hdr, sizeof hdr, "X-Visitor-Token: %s", token);
	const char *vh[] = { hdr, NULL };
	snprintf(url, sizeof url, "%s/api/widget/dialogs/%ld/messages?after=1&wait=1", base, did);
	rc = fetch(url, NULL, vh, 15000, &r);
	describe_poll("the widget configuration", poll, rc == CURLE_OK && r.poll[0] ? r.poll : NULL);
	resp_free(&r);

	char q[600];
	snprintf(q, sizeof q, "assistant_id=%ld&visitor_token=%s", aid, token);
	check_ws(base, did, q, check_sse(base, did, q));
}

int check_url_wanted(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--url") || !strncmp(argv[i], "--url=", 6))
			return 1;
	return 0;
}

int check_url_main(int argc, char **argv)
{
	const char *url = NULL;
	long aid = 1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		if ((!strcmp(a, "--url") || !strcmp(a, "--assistant") || !strcmp(a, "--origin")) && i + 1 < argc)
			v = argv[++i];
		else if (!strncmp(a, "--url=", 6) || !strncmp(a, "--origin=", 9) || !strncmp(a, "--assistant=", 12))
			v = strchr(a, '=') + 1;
		if (!v) {
			fprintf(stderr, "chatai-ctl: check --url URL [--assistant ID] [--origin ORIGIN]: "
				"unexpected '%s'\nTry 'chatai-ctl --help'.\n", a);
			return 2;
		}
		if (!strncmp(a, "--url", 5))
			url = v;
		else if (!strncmp(a, "--origin", 8))
			opt_origin = v;
		else {
			char *end;
			aid = strtol(v, &end, 10);
			if (*end || aid < 1) {
				fprintf(stderr, "chatai-ctl: --assistant: '%s' is not an assistant id\n", v);
				return 2;
			}
		}
	}
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
		fprintf(stderr, "chatai-ctl: check --url needs the install's address, http://... or https://...\n");
		return 2;
	}
	char base[1024];
	snprintf(base, sizeof base, "%s", url);
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		base[--bl] = '\0';
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("checking %s from outside\n", base);
	const char *path = strchr(strstr(base, "://") + 3, '/');
	if (path && path[1])
		line("WARN", "address", "%s is a folder of its site: ChatAI answers at the root of a domain or "
		     "subdomain (the widget and the panel call /api/ there); use e.g. https://chat.example.com/",
		     base);
	if (check_api(base) == 0) {
		cJSON *poll = NULL;
		if (check_assistant(base, aid, &poll) == 0)
			check_streams(base, aid, poll);
		cJSON_Delete(poll);
	}
	curl_global_cleanup();
	printf(failed ? "something is wrong: see the FAIL lines above\n" : "all good\n");
	return failed ? 1 : 0;
}
