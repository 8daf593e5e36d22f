/* SPDX-License-Identifier: MIT */
/* mail: `chatai-ctl mail --once` (send what is due, for cron) and the mail line of
 * `chatai-ctl check` (issue 15; ai/mailq.h does the work). */
#ifndef CHATAI_CTL_MAIL_H
#define CHATAI_CTL_MAIL_H

#include <libpq-fe.h>
#include <stddef.h>

/* chatai-ctl mail ARGS: exit status. */
int ctl_mail_main(int argc, char **argv);

/* One line on mail for check: 1 (fine or off), 0 (a problem) with the text in buf. */
int ctl_mail_check(PGconn *c, char *buf, size_t n);

#endif
