/* SPDX-License-Identifier: MIT */
/*
 * redis_sub: the notifier's optional Redis subscriber (hiredis async on the notifier's
 * libev loop, through hiredis's own adapters/libev.h).
 *
 * It SUBSCRIBEs to "chatai:ephemeral" (CREDIS_CHANNEL), where the REST workers and the
 * assistant workers of every host publish typing events when Redis is up, and hands
 * each one to the notifier, which routes it exactly like a typing event that came by
 * the PostgreSQL NOTIFY channel. Only typing travels here: a payload that is not a
 * well-formed typing object of docs/internals.md is dropped and counted, so whoever can
 * write to Redis can at most fake a typing indicator, never a chat message.
 *
 * A lost link is retried with a growing delay (100 ms doubling to 5 s); a connect that
 * does not complete within 2 s is abandoned and retried. Publishers see when no
 * subscriber got an event (PUBLISH answers 0) and send it through PostgreSQL instead;
 * a typing event can be missed only by a notifier that is between two subscriptions
 * while another one is subscribed (typing is ephemeral: see docs/scaleout.md).
 *
 * Lifetimes: the event passed to on_event is valid only during the call. on_event and
 * on_state run from the loop; they must not call redis_sub_stop().
 */
#ifndef CHATAI_REDIS_SUB_H
#define CHATAI_REDIS_SUB_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

enum redis_sub_state {
	REDIS_SUB_OFF = 0,  /* no redis_url (or a malformed one): PostgreSQL alone */
	REDIS_SUB_DOWN = 1, /* configured, not subscribed right now (connecting, retrying) */
	REDIS_SUB_UP = 2,   /* subscribed */
};

/* One typing event, validated. */
struct redis_sub_event {
	const char *json;     /* canonical {"k":"typing","dialog_id":..,"assistant_id":..,"who":..,"state":..} */
	size_t len;           /* of json */
	int64_t dialog_id;    /* >= 1 */
	int64_t assistant_id; /* >= 1 */
	const char *who;      /* "user", "ai" or "manager" (static) */
	const char *state;    /* "start" or "stop" (static) */
};

typedef void (*redis_sub_event_fn)(void *ctx, const struct redis_sub_event *ev);
typedef void (*redis_sub_state_fn)(void *ctx, enum redis_sub_state state);

struct redis_sub_stats {
	uint64_t events;     /* typing events handed to on_event */
	uint64_t rejected;   /* payloads dropped (not a typing object) */
	uint64_t reconnects; /* connection attempts after the first */
};

struct redis_sub;

/*
 * Start subscribing to url (redis_url; forms of credis_url_parse()). NULL or "" gives
 * NULL (Redis off), and so does a malformed URL (an error is logged). Otherwise the
 * handle is returned at once in state DOWN and connects in the background; on_state
 * (may be NULL) is called on every change between DOWN and UP. Runs on loop.h's loop
 * (loop_init() first): its timers are loop timers, hiredis is attached to loop_ev().
 */
struct redis_sub *redis_sub_start(const char *url, redis_sub_event_fn on_event,
				  redis_sub_state_fn on_state, void *ctx);

/* Unsubscribe, close and free (NULL is fine). Not from inside a redis_sub callback. */
void redis_sub_stop(struct redis_sub *rs);

/* The state; NULL handle: REDIS_SUB_OFF. */
enum redis_sub_state redis_sub_state(const struct redis_sub *rs);
/* "off", "down", "up": the value of /health's "redis" field. */
const char *redis_sub_state_str(enum redis_sub_state st);
/* Counters for /metrics (zeros for a NULL handle). */
void redis_sub_stats(const struct redis_sub *rs, struct redis_sub_stats *out);

/*
 * Validate a payload and fill ev (json points into buf, of size buflen, which receives
 * the canonical form). 0, or -1 when it is not a typing event. Pure: exposed for tests
 * and fuzzing.
 */
int redis_sub_parse(const char *payload, size_t len, struct redis_sub_event *ev, char *buf,
		    size_t buflen);

#endif
