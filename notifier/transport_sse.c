/* SPDX-License-Identifier: MIT */
/*
 * transport_sse: Server-Sent Events (docs/streams.md). The stream opens with a 200 head,
 * carries each event as `data:` lines (messages of a dialog with `id: SEQ`, so that the
 * browser's Last-Event-ID resumes it), keeps alive with `: ping` comments and ends by
 * closing: an event stream has no close code, the client's next request learns why.
 * Refusals are plain HTTP answers (transport_http.c). Nothing is read from the client.
 */
#include "autoconfig.h"
#include "client.h"

#include "metrics.h"
#include "sse.h"

static void tr_sse_open(struct client *c)
{
	const char *origin = NULL;
	if (c->is_visitor && c->req->origin[0])
		origin = c->req->origin;
	char head[1200];
	size_t n = sse_head(head, sizeof(head), origin);
	conn_queue_copy(c, head, n < sizeof(head) ? n : sizeof(head));
}

static void tr_sse_bad_cursor(struct client *c)
{
	tr_http_error(c, 400, "validation_failed", "the cursor must be a non-negative integer", "since");
}

static void tr_sse_end(struct client *c, uint16_t code, const char *why)
{
	(void)code;
	(void)why;
	conn_set_state(c, CS_DRAIN);
}

/* Messages of a dialog carry their seq as the event id; inbox events and typing none. */
static struct obuf *tr_sse_encode(struct hub_event *ev, int chan_kind)
{
	int enc = ev->kind == HEV_MSG && chan_kind != CHAN_INBOX ? ENC_SSE_ID : ENC_SSE;
	if (!ev->enc[enc]) {
		int64_t id = enc == ENC_SSE_ID ? ev->seq : 0;
		size_t n = sse_event_size(id, ev->json, ev->len);
		struct obuf *b = obuf_alloc(n, ev->t_recv_us);
		sse_event(b->data, n, id, ev->json, ev->len);
		ev->enc[enc] = b;
	}
	return ev->enc[enc];
}

static void tr_sse_keepalive(struct client *c)
{
	char p[16];
	size_t n = sse_ping(p, sizeof(p));
	conn_queue_copy(c, p, n);
}

static double tr_sse_interval(void)
{
	return conn_cfg.sse_ping_interval;
}

const struct transport_ops transport_sse = {
	.name = "sse",
	.open_count = &metrics.conns_sse,
	.event_id_cursor = 1,
	.open = tr_sse_open,
	.refuse = tr_http_refuse,
	.bad_cursor = tr_sse_bad_cursor,
	.end = tr_sse_end,
	.encode = tr_sse_encode,
	.keepalive = tr_sse_keepalive,
	.interval = tr_sse_interval,
};
