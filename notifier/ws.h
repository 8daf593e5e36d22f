/* SPDX-License-Identifier: MIT */
/*
 * ws: WebSocket (RFC 6455) for the server side, without sockets.
 *
 * Division of labour with libwslay:
 *  - wslay (event API, server context) assembles client messages, unmasks them, checks
 *    UTF-8 of text messages across fragments and of close reasons (close 1007), checks
 *    received close codes (1002), answers pings with pongs and echoes the close
 *    handshake. Of the pongs it owes after one feed, only the last goes out (RFC 6455
 *    5.5.3 allows answering only the most recent ping): a ping flood costs one pong.
 *  - ws_scan, here, reads every frame header BEFORE wslay sees the bytes and refuses what
 *    wslay would answer with a bare close or not at all: unmasked client frames, RSV bits,
 *    reserved opcodes, fragmented or long (> 125) control frames, continuation without a
 *    message, a new message inside a fragmented one, non-minimal lengths (all 1002), and
 *    frames or messages over WS_MAX_MSG (1009) before their payload arrives.
 *  - Server frames (data, ping, close) are encoded here (ws_frame): server frames are
 *    unmasked, so one encoded event is shared by every subscriber's queue.
 *
 * Memory: a wslay event context costs about 8.5 KiB (a 4 KiB output buffer in the event
 * context and a 4 KiB input buffer in its frame context). An idle connection must not pay
 * that, so a ws_session creates its wslay context when bytes arrive and frees it again
 * as soon as ws_scan says the stream is between messages (no partial frame, no open
 * fragmented message): then wslay holds nothing worth keeping.
 *
 * Output: every byte the session wants sent goes through h->out(arg, data, len).
 */
#ifndef CHATAI_WS_H
#define CHATAI_WS_H

#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>
#include "util.h"

#define WS_MAX_MSG 65536
#define WS_ACCEPT_LEN 28

enum ws_opcode { WS_OP_CONT = 0, WS_OP_TEXT = 1, WS_OP_BINARY = 2, WS_OP_CLOSE = 8,
	         WS_OP_PING = 9, WS_OP_PONG = 10 };

/* Sec-WebSocket-Accept for a client key: out gets WS_ACCEPT_LEN chars and a NUL.
 * Returns -1 when the key is not the base64 of 16 bytes (RFC 6455 4.2.1). */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]) CHATAI_WUR;

/* Encode one unmasked final frame; writes at most 10 header bytes into hdr, returns
 * the header length. */
size_t ws_frame_header(uint8_t hdr[10], int opcode, uint64_t len);
/* A close frame payload (code, reason truncated to fit 125 bytes) into out[125]. */
size_t ws_close_payload(uint8_t out[125], uint16_t code, const char *reason);

struct ws_scan {
	uint8_t hdr[14];    /* header bytes gathered so far */
	uint8_t hlen;       /* how many */
	uint8_t need;       /* header length once known (2 until the second byte) */
	uint8_t frag_open;  /* a fragmented data message is open */
	uint8_t saw_close;  /* a complete close frame header went by */
	uint64_t remain;    /* payload bytes of the current frame still to come */
	uint64_t msg_len;   /* payload of the open fragmented message so far */
};

/*
 * Scan len bytes. Returns how many bytes are acceptable: all of them, or the offset of
 * the first refused frame's header within this chunk (0 when the header began in an
 * earlier chunk) with *code set to the close code (1002 or 1009). *code is 0 when all
 * is well.
 */
size_t ws_scan_feed(struct ws_scan *s, const uint8_t *p, size_t len, uint16_t *code);
/* 1 between messages: no partial frame, no open fragmented message. */
int ws_scan_idle(const struct ws_scan *s);

struct ws_handler {
	void (*out)(void *arg, const uint8_t *data, size_t len);  /* bytes to send */
	void (*text)(void *arg, const uint8_t *data, size_t len); /* a complete text message */
};

enum ws_result { WS_OPEN = 0, WS_CLOSED = 1 };

struct ws_session {
	struct ws_scan scan;
	wslay_event_context_ptr ctx; /* NULL while idle */
	const uint8_t *in;           /* bytes being fed (recv callback reads them) */
	size_t in_len;
	const struct ws_handler *h;
	void *arg;
	uint16_t close_sent;         /* close code we sent (0: none yet) */
	uint16_t close_recv;         /* close code received (1005 when none given) */
	uint8_t closed;              /* a close frame has gone out: nothing more to send */
	uint8_t in_recv;             /* inside wslay_event_recv/send(): the context must not be freed */
	uint8_t ohdr[2];             /* wslay's output: header bytes of its current frame */
	uint8_t ohlen;               /* how many of them */
	uint8_t oremain;             /* payload bytes of that frame still to come (<= 125) */
	uint8_t opong;               /* that frame is a pong (held, the last one wins) */
	uint8_t opass;               /* wslay sent something else: pass bytes through */
};

void ws_session_init(struct ws_session *s, const struct ws_handler *h, void *arg);
void ws_session_free(struct ws_session *s);
/* Feed received bytes. WS_CLOSED: a close frame has been queued through out(); the
 * caller closes the TCP connection once its output is flushed. */
enum ws_result ws_session_feed(struct ws_session *s, const uint8_t *data, size_t len);
/* Queue a close frame of our own (1001, 1013, 4401...). Idempotent. */
void ws_session_close(struct ws_session *s, uint16_t code, const char *reason);
/* Bytes of the wslay context currently held (0 when idle); for metrics/tests. */
int ws_session_has_ctx(const struct ws_session *s);

#endif
