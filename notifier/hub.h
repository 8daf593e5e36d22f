/* SPDX-License-Identifier: MIT */
/*
 * hub: channels, subscribers and the routing table of API.md.
 *
 * Every dialog with subscribers has one hub_chan holding its admin-channel and
 * site-channel subscribers; operator inbox subscribers sit on one list. The hub turns
 * each notification into a hub_event and hands it to every subscriber it is routed to
 * through ops->deliver():
 *
 *   event                          admin channel   site channel   inbox
 *   message, sender user           yes             no             yes
 *   message, ai / manager / system yes             yes            yes
 *   typing of ai / manager         no              yes            no
 *   typing of the visitor          yes             no             no
 *   dialog_created / _updated      no              no             yes (chatai_dialog_json)
 *
 * Message events carry the dialog's seq and go through each subscriber's cursor (see
 * cursor.h): replays of the messages table run per channel on the query link and are
 * merged with the live stream without gap or duplicate. A message sent by reference
 * ("ref":true) is read back by the same replay path.
 *
 * Ownership: a struct sub lives inside its connection; the hub only links it. Events are
 * reference counted; ops->deliver() takes its own reference to what it keeps (the
 * encoded obufs cached in enc[]). Subscriber lists may lose members while they are
 * walked (a safe iterator is kept per list).
 */
#ifndef CHATAI_HUB_H
#define CHATAI_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "cursor.h"
#include "outq.h"

/* The three kinds of channel of API.md; the route parser (http.c) maps URLs onto them. */
enum hub_channel { CHAN_NONE = 0, CHAN_ADMIN, CHAN_SITE, CHAN_INBOX };

enum hub_ev_kind { HEV_MSG = 0, HEV_TYPING, HEV_INBOX };
enum hub_enc { ENC_WS = 0, ENC_SSE_ID, ENC_SSE, ENC_N };

struct hub_event {
	uint32_t refs;
	uint8_t kind;            /* enum hub_ev_kind */
	uint8_t aud_all;         /* message: also on the site channel */
	uint8_t to_admin, to_site; /* typing routing */
	int64_t dialog_id;
	int64_t seq;             /* messages; 0 otherwise */
	int64_t t_recv_us;       /* when its notification was read; 0 for replayed rows */
	char *json;              /* the JSON sent (NULL: message by reference, not read yet) */
	size_t len;
	struct obuf *enc[ENC_N]; /* encodings cached by the transport layer */
};

struct hub_chan;

struct sub {
	struct hub_chan *chan;     /* dialog channel, NULL for inbox */
	struct sub *prev, *next;   /* in the channel's or the inbox list */
	uint8_t kind;              /* enum hub_channel: CHAN_ADMIN, CHAN_SITE, CHAN_INBOX */
	uint8_t joined;            /* linked into a list */
	uint8_t active;            /* authorised: deliveries go out */
	uint8_t in_query;          /* covered by the channel's running replay */
	uint8_t again;             /* held events were dropped: replay once more */
	uint8_t paused;            /* replay paused until the connection drains its queue */
	struct cursor cur;
	struct hub_event **held;   /* live events held during a replay (lazy) */
	uint32_t nheld, capheld;
};

struct hub_ops {
	void (*deliver)(struct sub *s, struct hub_event *ev);
	/* Replays are paced: rows are delivered only while this says the subscriber's
	 * connection has room; then the replay pauses until hub_sub_resume(). */
	int (*can_take)(struct sub *s);
	void (*revoke)(int64_t session_id);
};

void hub_init(const struct hub_ops *ops);
void hub_shutdown(void);

/* Link a subscriber before it is authorised: message events are held from now on,
 * so none committed after the auth query's snapshot can be missed. */
void hub_sub_join(struct sub *s, int kind, int64_t dialog_id);
/* Authorised: start from last (the client's cursor, or the dialog's last_seq); with
 * replay, rows after last are read from the table first. */
void hub_sub_start(struct sub *s, int64_t last, int replay);
void hub_sub_leave(struct sub *s);
/* The connection drained its queue: a paused replay goes on. */
void hub_sub_resume(struct sub *s);

/* A payload from the LISTEN link. */
void hub_notify(const char *payload, size_t len, int64_t t_recv_us);
/* The LISTEN link came back: notifications may have been lost, catch every channel up. */
void hub_resync(void);

struct hub_event *hub_event_new(int kind, int64_t dialog_id, int64_t seq, char *json, size_t len,
                                int64_t t_recv_us);
void hub_event_unref(struct hub_event *ev);

size_t hub_chan_count(void);
size_t hub_inbox_count(void);

/* Bytes from a struct sub that a delivery touches (the sub and the connection fields
 * stored right after it): prefetched for the next subscriber of a fan-out. */
#define HUB_SUB_HOT 128
/* Max events held per subscriber during a replay before falling back to another replay. */
#define HUB_HOLD_MAX 4096
/* Rows per replay query. */
#define HUB_REPLAY_PAGE 500

#endif
