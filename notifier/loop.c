/* SPDX-License-Identifier: MIT */
/* loop: libev adapter (see loop.h). */
#include "autoconfig.h"
#include "loop.h"

#include <signal.h>
#include <stdlib.h>

static struct ev_loop *the_loop;

static ev_prepare prepare_w;
static loop_hook_cb prepare_cbs[4];
static int n_prepare;

static ev_signal sig_w[4];
static void (*sig_cbs[4])(int);
static int n_sig;

void loop_init(void)
{
	the_loop = ev_default_loop(EVFLAG_AUTO);
	if (!the_loop)
		abort();
}

struct ev_loop *loop_ev(void)
{
	return the_loop;
}

void loop_run(void)
{
	ev_run(the_loop, 0);
}

void loop_break(void)
{
	ev_break(the_loop, EVBREAK_ALL);
}

double loop_now(void)
{
	return ev_now(the_loop);
}

static void io_trampoline(struct ev_loop *l, ev_io *w, int revents)
{
	struct loop_io *io = w->data;
	io->cb(io->data, revents);
}

void loop_io_init(struct loop_io *io, int fd, int events, loop_io_cb cb, void *data)
{
	ev_io_init(&io->w, io_trampoline, fd, events);
	io->w.data = io;
	io->cb = cb;
	io->data = data;
}

void loop_io_set(struct loop_io *io, int fd, int events)
{
	int active = ev_is_active(&io->w);
	if (active && io->w.fd == fd && (io->w.events & (EV_READ | EV_WRITE)) == events)
		return;
	if (active)
		ev_io_stop(the_loop, &io->w);
	ev_io_set(&io->w, fd, events);
	if (active)
		ev_io_start(the_loop, &io->w);
}

void loop_io_start(struct loop_io *io)
{
	if (!ev_is_active(&io->w))
		ev_io_start(the_loop, &io->w);
}

void loop_io_stop(struct loop_io *io)
{
	if (ev_is_active(&io->w))
		ev_io_stop(the_loop, &io->w);
}

int loop_io_active(const struct loop_io *io)
{
	return ev_is_active(&io->w);
}

static void timer_trampoline(struct ev_loop *l, ev_timer *w, int revents)
{
	struct loop_timer *t = w->data;
	t->cb(t->data);
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *data)
{
	ev_timer_init(&t->w, timer_trampoline, 0., 0.);
	t->w.data = t;
	t->cb = cb;
	t->data = data;
}

void loop_timer_again(struct loop_timer *t, double after)
{
	t->w.repeat = after;
	ev_timer_again(the_loop, &t->w);
}

void loop_timer_once(struct loop_timer *t, double after)
{
	ev_timer_stop(the_loop, &t->w);
	ev_timer_set(&t->w, after, 0.);
	ev_timer_start(the_loop, &t->w);
}

void loop_timer_stop(struct loop_timer *t)
{
	ev_timer_stop(the_loop, &t->w);
}

static void prepare_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
	for (int i = 0; i < n_prepare; i++)
		prepare_cbs[i]();
}

void loop_on_prepare(loop_hook_cb cb)
{
	if (n_prepare == 0) {
		ev_prepare_init(&prepare_w, prepare_cb);
		ev_prepare_start(the_loop, &prepare_w);
	}
	if (n_prepare < 4)
		prepare_cbs[n_prepare++] = cb;
}

static void signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	void (*cb)(int) = w->data;
	cb(w->signum);
}

void loop_on_signal(int sig, void (*cb)(int))
{
	if (n_sig >= 4)
		return;
	ev_signal_init(&sig_w[n_sig], signal_cb, sig);
	sig_w[n_sig].data = (void *)cb;
	sig_cbs[n_sig] = cb;
	ev_signal_start(the_loop, &sig_w[n_sig]);
	n_sig++;
}
