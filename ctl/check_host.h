/* SPDX-License-Identifier: MIT */
/* check_host: `chatai-ctl check`'s report, one "OK   what: ..." or "FAIL what: ..." line per
 * finding; any FAIL makes the command exit 1. */
#ifndef CHATAI_CTL_CHECK_HOST_H
#define CHATAI_CTL_CHECK_HOST_H

#include "util.h"

/* Print one line of the report; ok 0 marks the check failed. */
void check_line(int ok, const char *what, const char *fmt, ...) CHATAI_PRINTF(3, 4);
/* 1 once a FAIL line was printed. */
int check_failed(void);

/* The settings: unknown keys, values the programs refuse or correct, file mode (check_settings.c). */
void check_settings(void);

#endif
