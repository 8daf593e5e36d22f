/* SPDX-License-Identifier: MIT */
/*
 * wslay_ctx_size: how much heap one libwslay server event context takes (mallinfo2
 * around 100 wslay_event_context_server_init() calls). The notifier creates these only
 * while a client frame is in flight (see notifier/ws.h); this prints why.
 */
#include "autoconfig.h"

#include <malloc.h>
#include <stdio.h>
#include <wslay/wslay.h>

static ssize_t recv_cb(wslay_event_context_ptr c, uint8_t *b, size_t l, int f, void *u)
{
	return -1;
}

static ssize_t send_cb(wslay_event_context_ptr c, const uint8_t *b, size_t l, int f, void *u)
{
	return (ssize_t)l;
}

static int genmask_cb(wslay_event_context_ptr c, uint8_t *b, size_t l, void *u)
{
	return 0;
}

int main(void)
{
	struct wslay_event_callbacks cb = { recv_cb, send_cb, genmask_cb, NULL, NULL, NULL, NULL };
	wslay_event_context_ptr ctx[100];
	struct mallinfo2 a = mallinfo2();
	for (int i = 0; i < 100; i++)
		if (wslay_event_context_server_init(&ctx[i], &cb, NULL) != 0)
			return 1;
	struct mallinfo2 b = mallinfo2();
	printf("wslay_server_context_bytes=%zu\n", (b.uordblks - a.uordblks) / 100);
	for (int i = 0; i < 100; i++)
		wslay_event_context_free(ctx[i]);
	return 0;
}
