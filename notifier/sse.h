/* SPDX-License-Identifier: MIT */
/*
 * sse: Server-Sent Events formatting (text/event-stream), a pure codec.
 *
 * Every function writes into a caller-owned buffer and returns the bytes written, or
 * the size needed when it does not fit (snprintf's contract): callers size with a
 * first call or use sse_event_size(). Data is split on line breaks (CR, LF, CRLF) into
 * one `data:` line each, so no payload can inject a field or end an event early.
 */
#ifndef CHATAI_SSE_H
#define CHATAI_SSE_H

#include <stddef.h>
#include <stdint.h>

/* The response head, `retry: 2000` included. origin: echoed in
 * Access-Control-Allow-Origin when not NULL (widget streams from another origin). */
size_t sse_head(char *out, size_t cap, const char *origin);
/* One event: `id: SEQ` when id > 0, then the data lines, then a blank line. */
size_t sse_event(char *out, size_t cap, int64_t id, const char *data, size_t len);
/* Bytes sse_event() needs. */
size_t sse_event_size(int64_t id, const char *data, size_t len);
/* The heartbeat comment ": ping\n\n". */
size_t sse_ping(char *out, size_t cap);

#define SSE_RETRY_MS 2000

#endif
