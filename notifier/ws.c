/* SPDX-License-Identifier: MIT */
/* ws: WebSocket handshake key, frame codec, header scanner and wslay glue (see ws.h). */
#include "autoconfig.h"
#include "ws.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char raw[32];
	size_t kl = strlen(key);
	if (kl != 24)
		return -1;
	int n = EVP_DecodeBlock(raw, (const unsigned char *)key, 24);
	/* 24 base64 chars decode to 18 bytes, 2 of them padding: "==" required. */
	if (n != 18 || key[22] != '=' || key[23] != '=')
		return -1;
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[24 + sizeof(WS_GUID)];
	memcpy(buf, key, 24);
	memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1((const unsigned char *)buf, 24 + sizeof(WS_GUID) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	out[WS_ACCEPT_LEN] = '\0';
	return 0;
}

size_t ws_frame_header(uint8_t hdr[10], int opcode, uint64_t len)
{
	hdr[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		hdr[1] = (uint8_t)len;
		return 2;
	}
	if (len < 65536) {
		hdr[1] = 126;
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		return 4;
	}
	hdr[1] = 127;
	for (int i = 0; i < 8; i++)
		hdr[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

size_t ws_close_payload(uint8_t out[125], uint16_t code, const char *reason)
{
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	size_t rl = reason ? strlen(reason) : 0;
	if (rl > 123)
		rl = 123;
	if (rl)
		memcpy(out + 2, reason, rl);
	return 2 + rl;
}

/* Validate a complete header; returns the close code (0 = fine) and sets remain. */
static uint16_t scan_header(struct ws_scan *s)
{
	uint8_t b0 = s->hdr[0], b1 = s->hdr[1];
	int fin = b0 >> 7, rsv = (b0 >> 4) & 7, op = b0 & 0x0f, masked = b1 >> 7;
	uint64_t len = b1 & 0x7f;

	if (len == 126) {
		len = ((uint64_t)s->hdr[2] << 8) | s->hdr[3];
		if (len < 126)
			return 1002;
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | s->hdr[2 + i];
		if (len < 65536 || (len >> 63))
			return 1002;
	}
	if (rsv || !masked)
		return 1002;
	if (op >= 8) {
		if (op > 10 || !fin || len > 125)
			return 1002;
		if (op == WS_OP_CLOSE && len == 1)
			return 1002; /* a close payload is empty or holds a 2-byte code */
		if (op == WS_OP_CLOSE)
			s->saw_close = 1;
	} else if (op == WS_OP_CONT) {
		if (!s->frag_open)
			return 1002;
	} else if (op == WS_OP_TEXT || op == WS_OP_BINARY) {
		if (s->frag_open)
			return 1002;
		s->msg_len = 0;
	} else {
		return 1002;
	}
	if (op < 8) {
		if (len > WS_MAX_MSG || s->msg_len + len > WS_MAX_MSG)
			return 1009;
		s->msg_len += len;
		s->frag_open = !fin;
		if (fin)
			s->msg_len = 0;
	}
	s->remain = len;
	return 0;
}

size_t ws_scan_feed(struct ws_scan *s, const uint8_t *p, size_t len, uint16_t *code)
{
	size_t i = 0;
	size_t frame_start = 0;
	*code = 0;
	while (i < len) {
		if (s->remain) {
			uint64_t take = len - i < s->remain ? len - i : s->remain;
			i += (size_t)take;
			s->remain -= take;
			continue;
		}
		if (s->hlen == 0) {
			frame_start = i;
			s->need = 2;
		}
		s->hdr[s->hlen++] = p[i++];
		if (s->hlen == 2) {
			uint8_t l = s->hdr[1] & 0x7f;
			s->need = (uint8_t)(2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((s->hdr[1] & 0x80) ? 4 : 0));
		}
		if (s->hlen >= 2 && s->hlen == s->need) {
			uint16_t c = scan_header(s);
			s->hlen = 0;
			if (c) {
				*code = c;
				return frame_start;
			}
		}
	}
	return len;
}

int ws_scan_idle(const struct ws_scan *s)
{
	return s->hlen == 0 && s->remain == 0 && !s->frag_open;
}

/* ---- wslay glue ---------------------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws_session *s = user;
	if (s->in_len == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = len < s->in_len ? len : s->in_len;
	memcpy(buf, s->in, n);
	s->in += n;
	s->in_len -= n;
	return (ssize_t)n;
}

/*
 * The pong owed for the most recent ping (RFC 6455 5.5.3: an endpoint that has not yet
 * answered earlier pings MAY answer only the most recent one). wslay queues one pong per
 * ping; send_cb keeps only the last of them here and ws_session_feed() sends it once
 * wslay is done, so a flood of pings costs at most one pong per feed, never a queue of
 * them. Only one session is inside ws_session_feed() at a time (one thread, and out()
 * never feeds another session), and the pong is sent or dropped before it returns.
 */
static struct {
	const struct ws_session *owner; /* session the pong belongs to (NULL: none) */
	size_t len;                     /* bytes in frame */
	uint8_t frame[2 + 125];         /* header and payload, unmasked */
} pong;

static void pong_drop(const struct ws_session *s)
{
	if (pong.owner == s) {
		pong.owner = NULL;
		pong.len = 0;
	}
}

static void pong_flush(struct ws_session *s)
{
	if (pong.owner != s)
		return;
	uint8_t f[sizeof(pong.frame)];
	size_t n = pong.len;
	memcpy(f, pong.frame, n);
	pong_drop(s);
	if (!s->closed && n >= 2)
		s->h->out(s->arg, f, n);
}

/*
 * wslay's output: only control frames (its pongs and the closes it answers or refuses
 * with; data frames are encoded by ws_frame_header() and never go through wslay), cut
 * in any way. Pongs are held in `pong` (the last one wins); anything else goes out in
 * order, after the pong held so far.
 */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws_session *s = user;
	size_t i = 0;
	/* Nothing may follow our close frame (wslay may still want to answer a ping). */
	if (s->closed)
		return (ssize_t)len;
	while (i < len) {
		if (s->opass) {
			s->h->out(s->arg, data + i, len - i);
			break;
		}
		if (s->oremain == 0 && s->ohlen < 2) {
			s->ohdr[s->ohlen++] = data[i++];
			if (s->ohlen < 2)
				continue;
			uint8_t plen = s->ohdr[1] & 0x7f;
			s->ohlen = 0;
			s->oremain = plen;
			if (plen > 125 || (s->ohdr[1] & 0x80)) {
				/* Not a control frame of a server: pass everything through. */
				pong_flush(s);
				s->opass = 1;
				s->h->out(s->arg, s->ohdr, 2);
				continue;
			}
			s->opong = (s->ohdr[0] & 0x0f) == WS_OP_PONG;
			if (s->opong) {
				pong.owner = s;
				memcpy(pong.frame, s->ohdr, 2);
				pong.len = 2;
			} else {
				pong_flush(s);
				s->h->out(s->arg, s->ohdr, 2);
			}
			continue;
		}
		size_t take = len - i < s->oremain ? len - i : s->oremain;
		if (s->opong) {
			if (pong.owner == s && pong.len + take <= sizeof(pong.frame)) {
				memcpy(pong.frame + pong.len, data + i, take);
				pong.len += take;
			}
		} else {
			s->h->out(s->arg, data + i, take);
		}
		i += take;
		s->oremain = (uint8_t)(s->oremain - take);
	}
	return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	memset(buf, 0, len); /* never called on a server context */
	return 0;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct ws_session *s = user;
	if (arg->opcode == WSLAY_TEXT_FRAME) {
		if (s->h->text && !s->closed)
			s->h->text(s->arg, arg->msg, arg->msg_length);
	} else if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
		s->close_recv = arg->status_code ? arg->status_code : 1005;
	}
}

static const struct wslay_event_callbacks wslay_cbs = {
	.recv_callback = recv_cb,
	.send_callback = send_cb,
	.genmask_callback = genmask_cb,
	.on_msg_recv_callback = msg_cb,
};

void ws_session_init(struct ws_session *s, const struct ws_handler *h, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->h = h;
	s->arg = arg;
}

void ws_session_free(struct ws_session *s)
{
	pong_drop(s);
	s->ohlen = s->oremain = s->opong = s->opass = 0;
	if (s->ctx) {
		wslay_event_context_free(s->ctx);
		s->ctx = NULL;
	}
}

int ws_session_has_ctx(const struct ws_session *s)
{
	return s->ctx != NULL;
}

static void send_frame(struct ws_session *s, int opcode, const uint8_t *payload, size_t len)
{
	uint8_t hdr[10];
	size_t hl = ws_frame_header(hdr, opcode, len);
	s->h->out(s->arg, hdr, hl);
	if (len)
		s->h->out(s->arg, payload, len);
}

void ws_session_close(struct ws_session *s, uint16_t code, const char *reason)
{
	if (s->closed)
		return;
	uint8_t pl[125];
	size_t n = ws_close_payload(pl, code, reason);
	/* Closed first, so that out() may close the session again (no-op) while the close
	 * frame is queued. A pong still owed is dropped: nothing else goes before our close
	 * (ws_session_feed() has always flushed wslay's own queue before it returns). From
	 * inside wslay (a message handler closing the session) the context is freed by
	 * ws_session_feed() once wslay has returned. */
	s->closed = 1;
	s->close_sent = code;
	pong_drop(s);
	send_frame(s, WS_OP_CLOSE, pl, n);
	if (!s->in_recv)
		ws_session_free(s);
}

enum ws_result ws_session_feed(struct ws_session *s, const uint8_t *data, size_t len)
{
	uint16_t code;

	if (s->closed)
		return WS_CLOSED;
	size_t ok = ws_scan_feed(&s->scan, data, len, &code);
	if (ok > 0) {
		if (!s->ctx) {
			if (wslay_event_context_server_init(&s->ctx, &wslay_cbs, s) != 0) {
				s->ctx = NULL;
				ws_session_close(s, 1011, "out of memory");
				return WS_CLOSED;
			}
			wslay_event_config_set_max_recv_msg_length(s->ctx, WS_MAX_MSG);
		}
		s->in = data;
		s->in_len = ok;
		s->in_recv = 1;
		int r = wslay_event_recv(s->ctx);
		int r2 = s->closed ? 0 : wslay_event_send(s->ctx);
		s->in_recv = 0;
		if (s->closed) {
			/* A handler closed the session from inside wslay. */
			ws_session_free(s);
			return WS_CLOSED;
		}
		/* One pong for all the pings of this feed, sent before anything else is said. */
		pong_flush(s);
		if (wslay_event_get_close_sent(s->ctx)) {
			/* wslay answered a close, or refused bad UTF-8 / a bad close code. */
			s->closed = 1;
			s->close_sent = wslay_event_get_status_code_sent(s->ctx);
			ws_session_free(s);
			return WS_CLOSED;
		}
		if (r != 0 || r2 != 0) {
			ws_session_close(s, 1002, NULL);
			return WS_CLOSED;
		}
	}
	if (code) {
		ws_session_close(s, code, code == 1009 ? "message too big" : "protocol error");
		return WS_CLOSED;
	}
	if (s->ctx && ws_scan_idle(&s->scan))
		ws_session_free(s);
	return WS_OPEN;
}
