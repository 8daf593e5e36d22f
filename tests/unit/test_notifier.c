/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the notifier's pure parts: SSE formatting, HTTP request parsing and
 * routing, the WebSocket accept key, frame scanner and wslay session, the replay/live
 * cursor, hub routing (with a recording deliver function) and the output queue.
 */
#include "autoconfig.h"

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "check_run.h"
#include "client.h"
#include "cursor.h"
#include "http.h"
#include "hub.h"
#include "json.h"
#include "loop.h"
#include "outq.h"
#include "sse.h"
#include "ws.h"

/* ---- SSE ---------------------------------------------------------------------- */

static char *sse_str(int64_t id, const char *data)
{
	size_t n = sse_event_size(id, data, strlen(data));
	char *out = calloc(1, n + 1);
	ck_assert_uint_eq(sse_event(out, n, id, data, strlen(data)), n);
	return out;
}

START_TEST(test_sse_event)
{
	char *s = sse_str(42, "{\"a\":1}");
	ck_assert_str_eq(s, "id: 42\ndata: {\"a\":1}\n\n");
	free(s);
	s = sse_str(0, "x");
	ck_assert_str_eq(s, "data: x\n\n");
	free(s);
	/* Line breaks of every kind become separate data lines: nothing can inject a field. */
	s = sse_str(0, "a\nid: 9\r\nb\rc");
	ck_assert_str_eq(s, "data: a\ndata: id: 9\ndata: b\ndata: c\n\n");
	free(s);
	s = sse_str(0, "");
	ck_assert_str_eq(s, "data: \n\n");
	free(s);
	char small[4];
	ck_assert_uint_eq(sse_event(small, sizeof(small), 0, "hello", 5), strlen("data: hello\n\n"));
}
END_TEST

START_TEST(test_sse_head_ping)
{
	char buf[1200];
	size_t n = sse_head(buf, sizeof(buf), NULL);
	buf[n] = 0;
	ck_assert_ptr_nonnull(strstr(buf, "Content-Type: text/event-stream"));
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nretry: 2000\n\n"));
	ck_assert_ptr_null(strstr(buf, "Access-Control-Allow-Origin"));
	n = sse_head(buf, sizeof(buf), "https://shop.example");
	buf[n] = 0;
	ck_assert_ptr_nonnull(strstr(buf, "Access-Control-Allow-Origin: https://shop.example\r\n"));
	n = sse_ping(buf, sizeof(buf));
	ck_assert_uint_eq(n, 8);
	ck_assert(memcmp(buf, ": ping\n\n", 8) == 0);
}
END_TEST

/* ---- HTTP --------------------------------------------------------------------- */

static const char upgrade_req[] =
	"GET /ws/dialogs/7?token=abc&since=5 HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
	"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\nOrigin: https://a.example\r\nX-Other: 1\r\n\r\n";

START_TEST(test_http_parse_whole_and_split)
{
	for (size_t step = 1; step <= sizeof(upgrade_req); step += (step < 8 ? 1 : 37)) {
		struct http_req *r = http_req_new();
		enum http_feed f = HTTP_AGAIN;
		size_t off = 0, used;
		while (off < sizeof(upgrade_req) - 1 && f == HTTP_AGAIN) {
			size_t n = sizeof(upgrade_req) - 1 - off;
			if (n > step)
				n = step;
			f = http_req_feed(r, upgrade_req + off, n, &used);
			off += n;
		}
		ck_assert_int_eq(f, HTTP_DONE);
		ck_assert_int_eq(r->method, HTTP_GET);
		ck_assert_str_eq(r->url, "/ws/dialogs/7?token=abc&since=5");
		ck_assert_str_eq(r->upgrade, "WebSocket");
		ck_assert(http_has_token(r->connection, "upgrade"));
		ck_assert(!http_has_token(r->connection, "close"));
		ck_assert_str_eq(r->ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
		ck_assert_str_eq(r->ws_version, "13");
		ck_assert_str_eq(r->origin, "https://a.example");
		http_req_free(r);
	}
}
END_TEST

static int feed_all(const char *req, int *status)
{
	struct http_req *r = http_req_new();
	size_t used;
	enum http_feed f = http_req_feed(r, req, strlen(req), &used);
	*status = r->status;
	http_req_free(r);
	return f;
}

START_TEST(test_http_limits_and_errors)
{
	int st;
	ck_assert_int_eq(feed_all("GARBAGE\r\n\r\n", &st), HTTP_ERROR);
	ck_assert_int_eq(st, 400);
	ck_assert_int_eq(feed_all("POST /sse/inbox HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &st), HTTP_ERROR);
	ck_assert_int_eq(st, 400);
	/* Over the head limit: 431, however it is split. */
	size_t big = HTTP_HEAD_MAX + 100;
	char *req = malloc(big + 64);
	strcpy(req, "GET / HTTP/1.1\r\nX-Big: ");
	size_t l = strlen(req);
	memset(req + l, 'a', big);
	req[l + big] = 0;
	ck_assert_int_eq(feed_all(req, &st), HTTP_ERROR);
	ck_assert_int_eq(st, 431);
	/* A kept header longer than its field: 431. */
	strcpy(req, "GET / HTTP/1.1\r\nOrigin: ");
	l = strlen(req);
	memset(req + l, 'o', 600);
	strcpy(req + l + 600, "\r\n\r\n");
	ck_assert_int_eq(feed_all(req, &st), HTTP_ERROR);
	ck_assert_int_eq(st, 431);
	/* A URL over the limit: 414. */
	strcpy(req, "GET /");
	memset(req + 5, 'u', HTTP_URL_MAX);
	strcpy(req + 5 + HTTP_URL_MAX, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(feed_all(req, &st), HTTP_ERROR);
	ck_assert_int_eq(st, 414);
	free(req);
	ck_assert_int_eq(feed_all("GET /health HTTP/1.1\r\nHost: a\r\n", &st), HTTP_AGAIN);
}
END_TEST

START_TEST(test_http_query)
{
	char v[64];
	ck_assert_int_eq(http_query_param("/x?a=1&token=ab%2Bc+d&b", "token", v, sizeof(v)), 6);
	ck_assert_str_eq(v, "ab+c d");
	ck_assert_int_eq(http_query_param("/x?a=1&b", "b", v, sizeof(v)), 0);
	ck_assert_int_eq(http_query_param("/x?tokenx=1", "token", v, sizeof(v)), QUERY_ABSENT);
	ck_assert_int_eq(http_query_param("/x", "token", v, sizeof(v)), QUERY_ABSENT);
	ck_assert_int_eq(http_query_param("/x?token=%zz", "token", v, sizeof(v)), QUERY_MALFORMED);
	ck_assert_int_eq(http_query_param("/x?token=%00", "token", v, sizeof(v)), QUERY_MALFORMED);
	ck_assert_int_eq(http_query_param("/x?token=%4", "token", v, sizeof(v)), -2);
	ck_assert_int_eq(http_query_param("/x?t=0123456789", "t", v, 5), -2);
	unsigned char a[16];
	ck_assert_int_eq(http_forwarded_addr("203.0.113.9, 10.0.0.1", a), 0);
	ck_assert(a[10] == 0xff && a[11] == 0xff && a[12] == 10 && a[15] == 1);
	ck_assert_int_eq(http_forwarded_addr(" 2001:db8::7 ", a), 0);
	ck_assert(a[0] == 0x20 && a[1] == 0x01 && a[15] == 7);
	ck_assert_int_eq(http_forwarded_addr("1.2.3.4, not-an-ip", a), -1);
	ck_assert_int_eq(http_forwarded_addr("", a), -1);
}
END_TEST

START_TEST(test_http_route)
{
	struct http_route rt;
	http_route_parse("/ws/dialogs/12?token=x", &rt);
	ck_assert_int_eq(rt.transport, ROUTE_WS);
	ck_assert_int_eq(rt.channel, CHAN_ADMIN);
	ck_assert_int_eq(rt.dialog_id, 12);
	http_route_parse("/sse/widget/dialogs/3/", &rt);
	ck_assert_int_eq(rt.transport, ROUTE_SSE);
	ck_assert_int_eq(rt.channel, CHAN_SITE);
	ck_assert_int_eq(rt.dialog_id, 3);
	http_route_parse("/ws/inbox?token=1", &rt);
	ck_assert_int_eq(rt.channel, CHAN_INBOX);
	http_route_parse("/health", &rt);
	ck_assert_int_eq(rt.transport, ROUTE_HEALTH);
	http_route_parse("/metrics?x", &rt);
	ck_assert_int_eq(rt.transport, ROUTE_METRICS);
	const char *bad[] = { "/ws/dialogs/0", "/ws/dialogs/-1", "/ws/dialogs/1x", "/ws/dialogs/",
	                      "/ws/dialogs/99999999999999999999", "/wsx/dialogs/1", "/ws/widget/inbox",
	                      "/", "/sse/dialogs/1/extra", NULL };
	for (int i = 0; bad[i]; i++) {
		http_route_parse(bad[i], &rt);
		ck_assert_msg(rt.transport == ROUTE_NONE, "%s", bad[i]);
	}
}
END_TEST

/* ---- WebSocket ---------------------------------------------------------------- */

START_TEST(test_ws_accept_key)
{
	char out[WS_ACCEPT_LEN + 1];
	/* RFC 6455 section 1.3's example. */
	ck_assert_int_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	ck_assert_int_eq(ws_accept_key("short", out), -1);
	ck_assert_int_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=x", out), -1);
	ck_assert_int_eq(ws_accept_key("!!!!!!!!!!!!!!!!!!!!!!==", out), -1);
}
END_TEST

START_TEST(test_ws_frame_header)
{
	uint8_t h[10];
	ck_assert_uint_eq(ws_frame_header(h, WS_OP_TEXT, 5), 2);
	ck_assert_uint_eq(h[0], 0x81);
	ck_assert_uint_eq(h[1], 5);
	ck_assert_uint_eq(ws_frame_header(h, WS_OP_TEXT, 300), 4);
	ck_assert_uint_eq(h[1], 126);
	ck_assert_uint_eq((h[2] << 8) | h[3], 300);
	ck_assert_uint_eq(ws_frame_header(h, WS_OP_BINARY, 70000), 10);
	ck_assert_uint_eq(h[1], 127);
	ck_assert_uint_eq(((uint32_t)h[7] << 16) | (h[8] << 8) | h[9], 70000);
	uint8_t pl[125];
	char reason[200];
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = 0;
	ck_assert_uint_eq(ws_close_payload(pl, 4401, reason), 125);
	ck_assert_uint_eq((pl[0] << 8) | pl[1], 4401);
}
END_TEST

/* Build a masked client frame into out; returns its length. */
static size_t cframe(uint8_t *out, int fin, int rsv, int op, const void *payload, size_t len, int mask)
{
	size_t n = 0;
	out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | op);
	uint8_t m = mask ? 0x80 : 0;
	if (len < 126) {
		out[n++] = (uint8_t)(m | len);
	} else if (len < 65536) {
		out[n++] = m | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = m | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	if (mask) {
		memcpy(out + n, key, 4);
		n += 4;
	}
	for (size_t i = 0; i < len; i++)
		out[n + i] = ((const uint8_t *)payload)[i] ^ (mask ? key[i % 4] : 0);
	return n + len;
}

static uint16_t scan_code(const uint8_t *p, size_t len)
{
	struct ws_scan s;
	uint16_t code;
	memset(&s, 0, sizeof(s));
	ws_scan_feed(&s, p, len, &code);
	return code;
}

START_TEST(test_ws_scan)
{
	uint8_t f[80000];
	size_t n;
	n = cframe(f, 1, 0, WS_OP_TEXT, "hi", 2, 1);
	ck_assert_uint_eq(scan_code(f, n), 0);
	n = cframe(f, 1, 0, WS_OP_TEXT, "hi", 2, 0);
	ck_assert_uint_eq(scan_code(f, n), 1002); /* unmasked */
	n = cframe(f, 1, 2, WS_OP_TEXT, "hi", 2, 1);
	ck_assert_uint_eq(scan_code(f, n), 1002); /* RSV */
	for (int op = 3; op <= 7; op++) {
		n = cframe(f, 1, 0, op, "", 0, 1);
		ck_assert_uint_eq(scan_code(f, n), 1002);
	}
	for (int op = 11; op <= 15; op++) {
		n = cframe(f, 1, 0, op, "", 0, 1);
		ck_assert_uint_eq(scan_code(f, n), 1002);
	}
	n = cframe(f, 0, 0, WS_OP_PING, "x", 1, 1);
	ck_assert_uint_eq(scan_code(f, n), 1002); /* fragmented control */
	uint8_t big[200] = { 0 };
	n = cframe(f, 1, 0, WS_OP_PING, big, 126, 1);
	ck_assert_uint_eq(scan_code(f, n), 1002); /* control > 125 */
	n = cframe(f, 1, 0, WS_OP_CONT, "x", 1, 1);
	ck_assert_uint_eq(scan_code(f, n), 1002); /* continuation without a message */
	/* A new message inside a fragmented one. */
	n = cframe(f, 0, 0, WS_OP_TEXT, "a", 1, 1);
	n += cframe(f + n, 1, 0, WS_OP_TEXT, "b", 1, 1);
	ck_assert_uint_eq(scan_code(f, n), 1002);
	/* Over 64 KiB in one frame, and across fragments. */
	static uint8_t payload[WS_MAX_MSG + 1];
	n = cframe(f, 1, 0, WS_OP_BINARY, payload, WS_MAX_MSG + 1, 1);
	ck_assert_uint_eq(scan_code(f, 14), 1009); /* refused from its header alone */
	n = cframe(f, 1, 0, WS_OP_BINARY, payload, WS_MAX_MSG, 1);
	ck_assert_uint_eq(scan_code(f, n), 0);
	n = cframe(f, 0, 0, WS_OP_TEXT, payload, 40000, 1);
	n += cframe(f + n, 1, 0, WS_OP_CONT, payload, 30000, 1);
	ck_assert_uint_eq(scan_code(f, n), 1009);
	/* Non-minimal length encoding. */
	uint8_t nm[] = { 0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4 };
	ck_assert_uint_eq(scan_code(nm, sizeof(nm)), 1002);
	/* Idle tracking, byte by byte, with a ping between fragments. */
	struct ws_scan s;
	uint16_t code;
	memset(&s, 0, sizeof(s));
	n = cframe(f, 0, 0, WS_OP_TEXT, "ab", 2, 1);
	n += cframe(f + n, 1, 0, WS_OP_PING, "p", 1, 1);
	size_t end_of_ping = n;
	n += cframe(f + n, 1, 0, WS_OP_CONT, "cd", 2, 1);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(ws_scan_feed(&s, f + i, 1, &code), 1);
		ck_assert_uint_eq(code, 0);
		/* The fragmented message is open throughout, ping included. */
		if (i + 1 < n)
			ck_assert(!ws_scan_idle(&s));
	}
	(void)end_of_ping;
	ck_assert(ws_scan_idle(&s));
	/* The refused frame's offset is reported. */
	memset(&s, 0, sizeof(s));
	n = cframe(f, 1, 0, WS_OP_TEXT, "ok", 2, 1);
	size_t first = n;
	n += cframe(f + n, 1, 0, WS_OP_TEXT, "no", 2, 0);
	ck_assert_uint_eq(ws_scan_feed(&s, f, n, &code), first);
	ck_assert_uint_eq(code, 1002);
}
END_TEST

struct wsrec {
	uint8_t out[4096];
	size_t outlen;
	char text[70000];
	size_t textlen;
	int ntext;
};

static void rec_out(void *arg, const uint8_t *d, size_t n)
{
	struct wsrec *r = arg;
	ck_assert(r->outlen + n <= sizeof(r->out));
	memcpy(r->out + r->outlen, d, n);
	r->outlen += n;
}

static void rec_text(void *arg, const uint8_t *d, size_t n)
{
	struct wsrec *r = arg;
	memcpy(r->text, d, n);
	r->textlen = n;
	r->ntext++;
}

static const struct ws_handler rec_handler = { .out = rec_out, .text = rec_text };

static uint16_t out_close_code(const struct wsrec *r)
{
	/* The last frame written must be a close: find it. */
	for (size_t i = 0; i + 1 < r->outlen;) {
		uint8_t op = r->out[i] & 0x0f, len = r->out[i + 1] & 0x7f;
		if (op == WS_OP_CLOSE)
			return len >= 2 ? (uint16_t)((r->out[i + 2] << 8) | r->out[i + 3]) : 1005;
		i += 2 + len;
	}
	return 0;
}

/* A new session recording into r (emptied). */
static void session_start(struct ws_session *s, struct wsrec *r)
{
	memset(r, 0, sizeof(*r));
	ws_session_init(s, &rec_handler, r);
}

/* A new session fed f[0..n) at once: it closes, its close frame carrying code. */
static void closes_with(struct ws_session *s, struct wsrec *r, const uint8_t *f, size_t n, uint16_t code)
{
	session_start(s, r);
	ck_assert_int_eq(ws_session_feed(s, f, n), WS_CLOSED);
	ck_assert_uint_eq(out_close_code(r), code);
}

START_TEST(test_ws_session)
{
	static struct wsrec r;
	struct ws_session s;
	uint8_t f[256];
	size_t n;

	/* A text message split across fragments and across feeds; the context goes away
	 * once the message is complete. */
	session_start(&s, &r);
	n = cframe(f, 0, 0, WS_OP_TEXT, "{\"type\":", 8, 1);
	n += cframe(f + n, 1, 0, WS_OP_CONT, "\"ping\"}", 7, 1);
	ck_assert_int_eq(ws_session_feed(&s, f, 5), WS_OPEN);
	ck_assert(ws_session_has_ctx(&s));
	ck_assert_int_eq(ws_session_feed(&s, f + 5, n - 5), WS_OPEN);
	ck_assert_int_eq(r.ntext, 1);
	ck_assert(r.textlen == 15 && memcmp(r.text, "{\"type\":\"ping\"}", 15) == 0);
	ck_assert(!ws_session_has_ctx(&s));

	/* Ping is answered with a pong carrying the same payload. */
	n = cframe(f, 1, 0, WS_OP_PING, "abc", 3, 1);
	ck_assert_int_eq(ws_session_feed(&s, f, n), WS_OPEN);
	ck_assert_uint_eq(r.outlen, 5);
	ck_assert_uint_eq(r.out[0], 0x8a);
	ck_assert(memcmp(r.out + 2, "abc", 3) == 0);
	ws_session_free(&s);

	/* Many pings in one feed: one pong, for the last of them (RFC 6455 5.5.3). Before,
	 * every ping queued its own pong. Pings followed by a close in one feed: wslay sends
	 * only the close, and nothing follows it. */
	session_start(&s, &r);
	{
		static uint8_t many[100 * 16];
		size_t m = 0;
		char p[8];
		for (int k = 0; k < 100; k++) {
			snprintf(p, sizeof(p), "p%d", k);
			m += cframe(many + m, 1, 0, WS_OP_PING, p, strlen(p), 1);
		}
		ck_assert_int_eq(ws_session_feed(&s, many, m), WS_OPEN);
		ck_assert_uint_eq(r.outlen, 5);
		ck_assert_uint_eq(r.out[0], 0x8a);
		ck_assert(memcmp(r.out + 2, "p99", 3) == 0);
		m = cframe(many, 1, 0, WS_OP_PING, "a", 1, 1);
		m += cframe(many + m, 1, 0, WS_OP_PING, "b", 1, 1);
		uint8_t cl0[2] = { 0x03, 0xe8 };
		m += cframe(many + m, 1, 0, WS_OP_CLOSE, cl0, 2, 1);
		r.outlen = 0;
		ck_assert_int_eq(ws_session_feed(&s, many, m), WS_CLOSED);
		ck_assert_uint_eq(r.outlen, 4);
		ck_assert_uint_eq(r.out[0], 0x88);
		ck_assert_uint_eq(out_close_code(&r), 1000);
	}
	ws_session_free(&s);

	/* Invalid UTF-8 split across fragments: 1007. */
	n = cframe(f, 0, 0, WS_OP_TEXT, "ok\xce", 3, 1);
	n += cframe(f + n, 1, 0, WS_OP_CONT, "\x28", 1, 1);
	closes_with(&s, &r, f, n, 1007);
	ck_assert_int_eq(r.ntext, 0);
	ws_session_free(&s);

	/* A close is echoed with its code. */
	uint8_t cl[2] = { 0x03, 0xe8 };
	n = cframe(f, 1, 0, WS_OP_CLOSE, cl, 2, 1);
	closes_with(&s, &r, f, n, 1000);
	ck_assert_uint_eq(s.close_recv, 1000);
	ws_session_free(&s);

	/* A close with a reserved code: 1002. */
	uint8_t bad[2] = { 0x03, 0xec }; /* 1004 */
	n = cframe(f, 1, 0, WS_OP_CLOSE, bad, 2, 1);
	closes_with(&s, &r, f, n, 1002);
	ws_session_free(&s);

	/* Unmasked: 1002 from the scanner, nothing reaches the handler. */
	n = cframe(f, 1, 0, WS_OP_TEXT, "hi", 2, 0);
	closes_with(&s, &r, f, n, 1002);
	ck_assert_int_eq(r.ntext, 0);
	ck_assert_int_eq(ws_session_feed(&s, f, n), WS_CLOSED);
	ws_session_free(&s);

	/* Our own close is sent once. */
	session_start(&s, &r);
	ws_session_close(&s, 4401, "no");
	ws_session_close(&s, 1001, "again");
	ck_assert_uint_eq(out_close_code(&r), 4401);
	ck_assert_uint_eq(r.outlen, 2 + 2 + 2);
	ws_session_free(&s);
}
END_TEST

/* A handler that closes its own session from inside wslay (what a slow-reader cut does
 * when the answer to a message overflows the queue): no use after free, one close last. */
static struct ws_session *closing_session;
static void closing_text(void *arg, const uint8_t *d, size_t n)
{
	rec_text(arg, d, n);
	ws_session_close(closing_session, 1013, "slow");
}
static const struct ws_handler closing_handler = { .out = rec_out, .text = closing_text };

START_TEST(test_ws_close_from_handler)
{
	static struct wsrec r;
	struct ws_session s;
	uint8_t f[256];
	size_t n = 0;
	memset(&r, 0, sizeof(r));
	ws_session_init(&s, &closing_handler, &r);
	closing_session = &s;
	n += cframe(f + n, 1, 0, WS_OP_TEXT, "a", 1, 1);
	n += cframe(f + n, 1, 0, WS_OP_PING, "p", 1, 1);
	n += cframe(f + n, 1, 0, WS_OP_TEXT, "b", 1, 1);
	ck_assert_int_eq(ws_session_feed(&s, f, n), WS_CLOSED);
	ck_assert_int_eq(r.ntext, 1);
	ck_assert(!ws_session_has_ctx(&s));
	ck_assert_uint_eq(r.outlen, 2 + 2 + 4); /* only our close frame: code and "slow" */
	ck_assert_uint_eq(out_close_code(&r), 1013);
	ws_session_free(&s);
}
END_TEST

/* ---- cursor ------------------------------------------------------------------- */

START_TEST(test_cursor_merge)
{
	struct cursor c;
	cursor_init(&c, 5, 0);
	ck_assert_int_eq(cursor_live(&c, 5), CURSOR_DROP);
	ck_assert_int_eq(cursor_live(&c, 6), CURSOR_DELIVER);
	ck_assert_int_eq(cursor_live(&c, 8), CURSOR_GAP);
	ck_assert_int_eq(c.last, 6);
	cursor_replay_begin(&c);
	ck_assert_int_eq(cursor_live(&c, 9), CURSOR_HOLD);
	ck_assert_int_eq(cursor_live(&c, 3), CURSOR_DROP);
	ck_assert_int_eq(cursor_replayed(&c, 6), CURSOR_DROP);
	ck_assert_int_eq(cursor_replayed(&c, 7), CURSOR_DELIVER);
	ck_assert_int_eq(cursor_replayed(&c, 8), CURSOR_DELIVER);
	cursor_replay_end(&c);
	/* Held 8 (live) and 9 (live) now: 8 is a duplicate of the replay, 9 is next. */
	ck_assert_int_eq(cursor_live(&c, 8), CURSOR_DROP);
	ck_assert_int_eq(cursor_live(&c, 9), CURSOR_DELIVER);
	ck_assert_int_eq(c.last, 9);
}
END_TEST

/* Property: whatever interleaving of a replay and live events, the delivered sequence is
 * exactly last+1 .. N in order. */
START_TEST(test_cursor_random_interleavings)
{
	srand(7);
	for (int round = 0; round < 2000; round++) {
		int N = 1 + rand() % 40, start = rand() % (N + 1);
		int committed_at_replay = start + rand() % (N - start + 1);
		struct cursor c;
		cursor_init(&c, start, 1);
		int64_t held[64];
		int nheld = 0, delivered = 0;
		int64_t out[64];
		/* Live events seen before the replay answer are held; some are lost (missed
		 * NOTIFY) at random. */
		int live_from = start + 1 + rand() % 3;
		for (int s = live_from; s <= N; s++) {
			if (rand() % 5 == 0)
				continue;
			if (cursor_live(&c, s) == CURSOR_HOLD)
				held[nheld++] = s;
		}
		for (int s = 1; s <= committed_at_replay; s++)
			if (cursor_replayed(&c, s) == CURSOR_DELIVER)
				out[delivered++] = s;
		cursor_replay_end(&c);
		for (int i = 0; i < nheld; i++) {
			enum cursor_verdict v = cursor_live(&c, held[i]);
			if (v == CURSOR_DELIVER) {
				out[delivered++] = held[i];
			} else if (v == CURSOR_GAP) {
				/* Catch-up replay reads everything committed. */
				cursor_replay_begin(&c);
				for (int s = 1; s <= N; s++)
					if (cursor_replayed(&c, s) == CURSOR_DELIVER)
						out[delivered++] = s;
				cursor_replay_end(&c);
			}
		}
		/* Everything committed by the time of the last replay, in order, once. */
		for (int i = 0; i < delivered; i++)
			ck_assert_int_eq(out[i], start + 1 + i);
		ck_assert_int_le(delivered, N - start);
	}
}
END_TEST

/* ---- hub ---------------------------------------------------------------------- */

struct delivery {
	struct sub *s;
	char json[256];
	int64_t seq;
};
static struct delivery deliveries[64];
static int ndeliveries;
static int64_t revoked;

static void rec_deliver(struct sub *s, struct hub_event *ev)
{
	ck_assert_int_lt(ndeliveries, 64);
	deliveries[ndeliveries].s = s;
	deliveries[ndeliveries].seq = ev->seq;
	snprintf(deliveries[ndeliveries].json, sizeof(deliveries[0].json), "%.*s", (int)ev->len, ev->json);
	ndeliveries++;
}

static void rec_revoke(int64_t sid)
{
	revoked = sid;
}

static const struct hub_ops rec_ops = { .deliver = rec_deliver, .revoke = rec_revoke };

static void notify(const char *p)
{
	hub_notify(p, strlen(p), 1);
}

static int count_for(struct sub *s)
{
	int n = 0;
	for (int i = 0; i < ndeliveries; i++)
		n += deliveries[i].s == s;
	return n;
}

/* The deliveries so far, counted for subs[0..3] (admin, site, inbox, other): each as
 * wanted, -1 where not looked at. */
static void delivered(struct sub *const subs[4], int admin, int site, int inbox, int other)
{
	const int want[4] = { admin, site, inbox, other };
	for (int i = 0; i < 4; i++)
		if (want[i] >= 0)
			ck_assert_msg(count_for(subs[i]) == want[i], "subscriber %d: %d deliveries, not %d", i,
				      count_for(subs[i]), want[i]);
}

START_TEST(test_hub_routing)
{
	loop_init();
	json_init();
	hub_init(&rec_ops);
	struct sub admin, site, other, inbox;
	struct sub *const subs[] = { &admin, &site, &inbox, &other };
	hub_sub_join(&admin, CHAN_ADMIN, 7);
	hub_sub_join(&site, CHAN_SITE, 7);
	hub_sub_join(&other, CHAN_ADMIN, 8);
	hub_sub_join(&inbox, CHAN_INBOX, 0);
	/* Before authorisation nothing goes out (held). */
	notify("{\"k\":\"msg\",\"dialog_id\":7,\"assistant_id\":1,\"seq\":1,\"aud\":\"all\",\"msg\":{\"type\":\"message\",\"seq\":1}}");
	ck_assert_int_eq(ndeliveries, 0);
	hub_sub_start(&admin, 0, 0);
	hub_sub_start(&site, 1, 0);
	hub_sub_start(&other, 0, 0);
	hub_sub_start(&inbox, 0, 0);
	/* The held event reaches admin (its cursor was 0), not site (cursor 1). */
	delivered(subs, 1, 0, -1, -1);
	ndeliveries = 0;

	/* Visitor message: admin + inbox, not site. */
	notify("{\"k\":\"msg\",\"dialog_id\":7,\"assistant_id\":1,\"seq\":2,\"aud\":\"admin\",\"msg\":{\"type\":\"message\",\"seq\":2,\"sender\":\"user\"}}");
	delivered(subs, 1, 0, 1, 0);
	/* AI message: all three; the site cursor passed over seq 2 without a gap. */
	notify("{\"k\":\"msg\",\"dialog_id\":7,\"assistant_id\":1,\"seq\":3,\"aud\":\"all\",\"msg\":{\"type\":\"message\",\"seq\":3,\"sender\":\"ai\"}}");
	delivered(subs, 2, 1, 2, -1);
	ck_assert_int_eq(site.cur.last, 3);
	ck_assert(!site.cur.replaying);
	/* Duplicate notification: dropped. */
	notify("{\"k\":\"msg\",\"dialog_id\":7,\"assistant_id\":1,\"seq\":3,\"aud\":\"all\",\"msg\":{\"type\":\"message\",\"seq\":3}}");
	ck_assert_int_eq(count_for(&admin), 2);
	ndeliveries = 0;

	/* Typing: ai -> site only; user -> admin only; never inbox. */
	notify("{\"k\":\"typing\",\"dialog_id\":7,\"assistant_id\":1,\"who\":\"ai\",\"state\":\"start\"}");
	delivered(subs, 0, 1, -1, -1);
	ck_assert_str_eq(deliveries[0].json, "{\"type\":\"typing_start\",\"dialog_id\":7,\"who\":\"ai\"}");
	notify("{\"k\":\"typing\",\"dialog_id\":7,\"assistant_id\":1,\"who\":\"user\",\"state\":\"stop\"}");
	delivered(subs, 1, 1, -1, -1);
	notify("{\"k\":\"typing\",\"dialog_id\":7,\"assistant_id\":1,\"who\":\"manager\",\"state\":\"start\"}");
	delivered(subs, 1, 2, 0, -1);
	ndeliveries = 0;

	/* A gap (seq 5 after 3): nothing delivered, both dialog subscribers now replay. */
	notify("{\"k\":\"msg\",\"dialog_id\":7,\"assistant_id\":1,\"seq\":5,\"aud\":\"all\",\"msg\":{\"type\":\"message\",\"seq\":5}}");
	ck_assert_int_eq(count_for(&admin), 0);
	ck_assert(admin.cur.replaying && site.cur.replaying);
	ck_assert_uint_eq(admin.nheld, 1);

	/* Garbage payloads are counted, not fatal. */
	notify("not json");
	notify("{\"k\":\"msg\"}");
	notify("{\"k\":\"typing\",\"dialog_id\":7,\"who\":\"root\",\"state\":\"start\"}");
	notify("{\"k\":\"revoke\",\"session_id\":42}");
	ck_assert_int_eq(revoked, 42);

	/* Leaving while held events exist frees them; the channel goes with its last member. */
	ck_assert_uint_eq(hub_chan_count(), 2);
	hub_sub_leave(&other);
	ck_assert_uint_eq(hub_chan_count(), 1);
	hub_sub_leave(&inbox);
	hub_sub_leave(&site);
	hub_sub_leave(&admin);
	/* The channel of dialog 7 stays while its replay query is pending. */
	ck_assert_uint_le(hub_chan_count(), 1);
	hub_sub_leave(&admin); /* idempotent */
}
END_TEST

/* ---- output queue ------------------------------------------------------------- */

START_TEST(test_outq)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct outq q;
	memset(&q, 0, sizeof(q));
	struct obuf *shared = obuf_new("hello ", 6, 0);
	outq_push(&q, shared);
	outq_push_copy(&q, "world", 5);
	outq_push(&q, shared);
	ck_assert_uint_eq(shared->refs, 3);
	ck_assert_uint_eq(q.bytes, 17);
	ck_assert_int_eq(outq_flush(&q, sv[0], NULL, NULL), 17);
	ck_assert(outq_empty(&q));
	ck_assert_ptr_null(q.items);
	ck_assert_uint_eq(shared->refs, 1);
	char buf[64];
	ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 17);
	ck_assert(memcmp(buf, "hello worldhello ", 17) == 0);
	/* Drop everything not started; the half-written item stays. */
	for (int i = 0; i < 10; i++)
		outq_push(&q, shared);
	q.items[q.head].off = 3;
	q.bytes -= 3;
	outq_drop_unstarted(&q);
	ck_assert_uint_eq(q.count, 1);
	ck_assert_uint_eq(q.bytes, 3);
	outq_clear(&q);
	ck_assert_uint_eq(shared->refs, 1);
	/* A writer error is reported. */
	outq_push(&q, shared);
	close(sv[1]);
	ck_assert_int_eq(outq_flush(&q, sv[0], NULL, NULL), CHATAI_ERR);
	outq_clear(&q);
	obuf_unref(shared);
	close(sv[0]);
}
END_TEST

/* ---- auth decisions ----------------------------------------------------------- */

/* The bytes of b, as a string (freed by the caller). */
static char *obuf_str(const struct obuf *b)
{
	char *s = xmalloc(b->len + 1);
	memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return s;
}

/*
 * The transports behind struct transport_ops: every stream transport fills in what the
 * connection code calls without asking which transport it holds; an event is encoded
 * once per transport and encoding, SSE gives a dialog's messages their seq as the event
 * id (not inbox events, not typing), WebSocket sends one unmasked text frame.
 */
START_TEST(test_transport_ops)
{
	const struct transport_ops *streams[2] = { &transport_ws, &transport_sse };
	for (int i = 0; i < 2; i++) {
		const struct transport_ops *t = streams[i];
		ck_assert_ptr_nonnull(t->open_count);
		ck_assert_ptr_nonnull(t->open);
		ck_assert_ptr_nonnull(t->refuse);
		ck_assert_ptr_nonnull(t->bad_cursor);
		ck_assert_ptr_nonnull(t->end);
		ck_assert_ptr_nonnull(t->encode);
		ck_assert_ptr_nonnull(t->keepalive);
		ck_assert_ptr_nonnull(t->interval);
	}
	ck_assert_ptr_nonnull(transport_http.refuse);
	ck_assert_ptr_nonnull(transport_http.open_count);
	ck_assert_int_eq(transport_sse.event_id_cursor, 1);
	ck_assert_int_eq(transport_ws.event_id_cursor, 0);

	const char j[] = "{\"type\":\"message\",\"seq\":7}";
	struct hub_event *ev = hub_event_new(HEV_MSG, 3, 7, xstrdup(j), strlen(j), 0);
	struct obuf *a = transport_sse.encode(ev, CHAN_ADMIN);
	char *s = obuf_str(a);
	ck_assert_str_eq(s, "id: 7\ndata: {\"type\":\"message\",\"seq\":7}\n\n");
	free(s);
	ck_assert_ptr_eq(transport_sse.encode(ev, CHAN_SITE), a);
	s = obuf_str(transport_sse.encode(ev, CHAN_INBOX));
	ck_assert_str_eq(s, "data: {\"type\":\"message\",\"seq\":7}\n\n");
	free(s);
	struct obuf *w = transport_ws.encode(ev, CHAN_ADMIN);
	ck_assert_uint_eq(w->len, 2 + strlen(j));
	ck_assert_uint_eq((uint8_t)w->data[0], 0x81); /* FIN, text */
	ck_assert_uint_eq((uint8_t)w->data[1], strlen(j)); /* unmasked, length */
	ck_assert_int_eq(memcmp(w->data + 2, j, strlen(j)), 0);
	ck_assert_ptr_eq(transport_ws.encode(ev, CHAN_INBOX), w);
	hub_event_unref(ev);

	const char t[] = "{\"type\":\"typing\"}";
	ev = hub_event_new(HEV_TYPING, 3, 0, xstrdup(t), strlen(t), 0);
	s = obuf_str(transport_sse.encode(ev, CHAN_ADMIN));
	ck_assert_str_eq(s, "data: {\"type\":\"typing\"}\n\n");
	free(s);
	hub_event_unref(ev);
}
END_TEST

START_TEST(test_auth_visitor)
{
	struct auth_result r;
	const char *h = "aaaa";
	auth_visitor_check(0, "", 0, 0, 0, h, 1, &r);
	ck_assert_int_eq(r.status, 404);
	auth_visitor_check(1, "bbbb", 1, 1, 3, h, 1, &r);
	ck_assert_int_eq(r.status, 401);
	auth_visitor_check(1, "aaaa", 2, 1, 3, h, 1, &r);
	ck_assert_int_eq(r.status, 403);
	auth_visitor_check(1, "aaaa", 1, 0, 3, h, 1, &r);
	ck_assert_int_eq(r.status, 403);
	auth_visitor_check(1, "aaaa", 1, 1, 3, h, 1, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(r.last_seq, 3);
	/* The query's row, decided with the one origin rule (common/origin.h) in C. */
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc cols[4];
	memset(cols, 0, sizeof cols);
	const char *names[] = { "hash", "assistant_id", "last_seq", "origins" };
	for (int i = 0; i < 4; i++)
		cols[i].name = (char *)names[i];
	ck_assert(PQsetResultAttrs(res, 4, cols));
	const char *vals[] = { "aaaa", "1", "7", "[\"https://*.shop.example\", \"https://plain.example:443\"]" };
	for (int i = 0; i < 4; i++)
		ck_assert(PQsetvalue(res, 0, i, (char *)vals[i], (int)strlen(vals[i])));
	const char *ok[] = { "https://a.shop.example", "https://plain.example", "https://PLAIN.example:443", NULL };
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		auth_visitor_decide(res, h, 1, ok[i], &r);
		ck_assert_msg(r.status == 0 && r.last_seq == 7, "%s", ok[i] ? ok[i] : "(no Origin)");
	}
	const char *refused[] = { "https://shop.example.evil", "http://a.shop.example", "https://shop.example",
		                  "https://plain.example:8443", "null" };
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		auth_visitor_decide(res, h, 1, refused[i], &r);
		ck_assert_msg(r.status == 403, "%s", refused[i]);
	}
	PQclear(res);
	ck_assert_int_eq(auth_ws_code(401), 4401);
	ck_assert_int_eq(auth_ws_code(403), 4403);
	ck_assert_int_eq(auth_ws_code(404), 4404);
	ck_assert_int_eq(auth_ws_code(503), 1013);
	auth_operator_decide(NULL, 1, &r);
	ck_assert_int_eq(r.status, 503);
}
END_TEST

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("notifier");
	check_case(s, "core", CHECK_TESTS(test_sse_event, test_sse_head_ping, test_http_parse_whole_and_split,
					  test_http_limits_and_errors, test_http_query, test_http_route,
					  test_ws_accept_key, test_ws_frame_header, test_ws_scan, test_ws_session,
					  test_ws_close_from_handler, test_cursor_merge,
					  test_cursor_random_interleavings, test_hub_routing, test_outq,
					  test_auth_visitor, test_transport_ops));
	return check_run(s, CK_FORK_GETENV);
}
