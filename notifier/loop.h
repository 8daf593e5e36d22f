/* SPDX-License-Identifier: MIT */
/*
 * loop: the one place that talks to libev (as hiredis's adapters/libev.h does; that
 * adapter itself is the one exception: redis_sub.c attaches it to loop_ev()).
 *
 * The rest of the notifier sees watchers with plain callbacks (void *data, int events)
 * and idempotent start/stop: a watcher knows whether it is active, so callers can ask
 * for "reading on" or "writing off" without tracking it themselves. Everything runs on
 * the default loop, in one thread.
 */
#ifndef CHATAI_LOOP_H
#define CHATAI_LOOP_H

#include <ev.h>
#include <stdint.h>

#define LOOP_READ EV_READ
#define LOOP_WRITE EV_WRITE

typedef void (*loop_io_cb)(void *data, int events);
typedef void (*loop_timer_cb)(void *data);
typedef void (*loop_hook_cb)(void);

struct loop_io {
	ev_io w;       /* libev watcher; w.data points back here */
	loop_io_cb cb; /* called with data and the ready events */
	void *data;
};

struct loop_timer {
	ev_timer w;
	loop_timer_cb cb;
	void *data;
};

void loop_init(void);
/* The libev loop itself, for libraries with their own libev adapter (hiredis). */
struct ev_loop *loop_ev(void);
void loop_run(void);
void loop_break(void);
/* Seconds, the loop's cached time (cheap). */
double loop_now(void);

void loop_io_init(struct loop_io *io, int fd, int events, loop_io_cb cb, void *data);
/* Change fd/events (stops and restarts when active). */
void loop_io_set(struct loop_io *io, int fd, int events);
void loop_io_start(struct loop_io *io);
void loop_io_stop(struct loop_io *io);
int loop_io_active(const struct loop_io *io);

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *data);
/* (Re)arm to fire after `after` seconds and then every `after` seconds. */
void loop_timer_again(struct loop_timer *t, double after);
/* Arm to fire once, after `after` seconds (a pending firing is replaced). */
void loop_timer_once(struct loop_timer *t, double after);
void loop_timer_stop(struct loop_timer *t);

/* Run cb before the loop sleeps, every iteration (Redis's beforeSleep). At most 4. */
void loop_on_prepare(loop_hook_cb cb);
/* Run cb(signal) from the loop when sig arrives. At most 4. */
void loop_on_signal(int sig, void (*cb)(int));

#endif
