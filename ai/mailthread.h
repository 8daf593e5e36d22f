/* SPDX-License-Identifier: MIT */
/*
 * mailthread: chatai-ai's mail sender, in a thread of its own with its own database
 * link (issue 15), so that a slow or silent mail server never holds up the answers of
 * the worker's loop. Every MAILTHREAD_TICK_MS it sends what the outbox has due
 * (mailq_run). Settings come from the main thread (mailthread_settings, after a SIGHUP);
 * mailthread_stop() makes a send in progress give up (mail_send_abort_flag: within about
 * a second; a mail whose body already went out is left 'uncertain', never resent) and
 * joins the thread.
 */
#ifndef CHATAI_AI_MAILTHREAD_H
#define CHATAI_AI_MAILTHREAD_H

#include "mailq.h"

#define MAILTHREAD_TICK_MS 2000

/* Start the thread on database url with settings *cfg (taken over: *cfg is emptied).
 * 0, or -1 when no thread could be made (logged). */
int mailthread_start(const char *url, struct mailq_cfg *cfg);
/* New settings (taken over), used from the next tick. */
void mailthread_settings(struct mailq_cfg *cfg);
/* Stop and join the thread (nothing when it was not started). */
void mailthread_stop(void);

#endif
