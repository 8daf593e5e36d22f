/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer driver: the notifier's WebSocket input path (notifier/ws.c: the frame
 * scanner in front of libwslay's server context), fed the way the loop feeds it after a
 * read(), minus the socket. The first byte picks the read size. Every byte the session
 * wants to send is checked to be a well-formed server frame stream (unmasked, final,
 * control frames <= 125 bytes), and a close frame is the last thing sent.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	uint8_t buf[1 << 17];
	size_t len;
	int texts;
};

static void out(void *arg, const uint8_t *d, size_t n)
{
	struct sink *s = arg;
	if (s->len + n > sizeof(s->buf))
		__builtin_trap(); /* a session never says more than it was told */
	memcpy(s->buf + s->len, d, n);
	s->len += n;
}

static void text(void *arg, const uint8_t *d, size_t n)
{
	struct sink *s = arg;
	s->texts++;
	if (n > WS_MAX_MSG)
		__builtin_trap();
	/* What the notifier does with a text message: format it as an SSE event. */
	size_t need = sse_event_size(0, (const char *)d, n);
	char *e = malloc(need);
	if (sse_event(e, need, 0, (const char *)d, n) != need)
		__builtin_trap();
	free(e);
}

static const struct ws_handler handler = { .out = out, .text = text };

/* The server's own output must parse as unmasked final frames, a close frame last. */
static void check_output(const struct sink *s, int closed)
{
	size_t i = 0;
	int last_close = 0;
	while (i < s->len) {
		if (s->len - i < 2)
			__builtin_trap();
		uint8_t b0 = s->buf[i], b1 = s->buf[i + 1];
		if (!(b0 & 0x80) || (b0 & 0x70) || (b1 & 0x80))
			__builtin_trap();
		uint64_t len = b1 & 0x7f;
		size_t h = 2;
		if (len == 126) {
			len = ((uint64_t)s->buf[i + 2] << 8) | s->buf[i + 3];
			h = 4;
		} else if (len == 127) {
			len = 0;
			for (int k = 0; k < 8; k++)
				len = (len << 8) | s->buf[i + 2 + k];
			h = 10;
		}
		int op = b0 & 0x0f;
		if (op >= 8 && len > 125)
			__builtin_trap();
		last_close = op == 8;
		i += h + (size_t)len;
	}
	if (i != s->len || (closed && !last_close))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sink s;
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] * 97 % 4099 + 1;
	data++, size--;
	memset(&s, 0, offsetof(struct sink, buf));
	s.len = 0;
	struct ws_session ws;
	ws_session_init(&ws, &handler, &s);
	int closed = 0;
	for (size_t off = 0; off < size && !closed; off += step) {
		size_t n = size - off < step ? size - off : step;
		closed = ws_session_feed(&ws, data + off, n) == WS_CLOSED;
	}
	if (!closed && ws_scan_idle(&ws.scan) && ws_session_has_ctx(&ws))
		__builtin_trap(); /* an idle session holds no wslay context */
	check_output(&s, closed);
	ws_session_free(&ws);
	/* The handshake key path on the first bytes. */
	if (size >= 24) {
		char key[25], acc[WS_ACCEPT_LEN + 1];
		memcpy(key, data, 24);
		key[24] = 0;
		if (strlen(key) == 24 && ws_accept_key(key, acc) == 0 && strlen(acc) != WS_ACCEPT_LEN)
			__builtin_trap();
	}
	return 0;
}
