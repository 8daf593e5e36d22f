/* SPDX-License-Identifier: MIT */
/* sse: text/event-stream formatting (see sse.h). */
#include "autoconfig.h"
#include "sse.h"

#include <stdio.h>
#include <string.h>

static size_t put(char *out, size_t cap, size_t pos, const char *s, size_t n)
{
	if (out && n && pos + n <= cap)
		memcpy(out + pos, s, n);
	return pos + n;
}

size_t sse_head(char *out, size_t cap, const char *origin)
{
	char buf[1024];
	int n;
	if (origin)
		n = snprintf(buf, sizeof(buf),
		             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
		             "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n"
		             "Access-Control-Allow-Origin: %.512s\r\nVary: Origin\r\n\r\nretry: %d\n\n",
		             origin, SSE_RETRY_MS);
	else
		n = snprintf(buf, sizeof(buf),
		             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
		             "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n"
		             "\r\nretry: %d\n\n", SSE_RETRY_MS);
	return put(out, cap, 0, buf, (size_t)n);
}

size_t sse_event(char *out, size_t cap, int64_t id, const char *data, size_t len)
{
	size_t pos = 0;
	if (id > 0) {
		char idl[40];
		int n = snprintf(idl, sizeof(idl), "id: %lld\n", (long long)id);
		pos = put(out, cap, pos, idl, (size_t)n);
	}
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < len && data[j] != '\n' && data[j] != '\r')
			j++;
		pos = put(out, cap, pos, "data: ", 6);
		if (j > i)
			pos = put(out, cap, pos, data + i, j - i);
		pos = put(out, cap, pos, "\n", 1);
		if (j >= len)
			break;
		if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
			j++;
		i = j + 1;
	}
	pos = put(out, cap, pos, "\n", 1);
	return pos;
}

size_t sse_event_size(int64_t id, const char *data, size_t len)
{
	return sse_event(NULL, 0, id, data, len);
}

size_t sse_ping(char *out, size_t cap)
{
	return put(out, cap, 0, ": ping\n\n", 8);
}
