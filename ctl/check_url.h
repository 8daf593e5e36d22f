/* SPDX-License-Identifier: MIT */
/*
 * check_url: `chatai-ctl check --url URL [--assistant ID] [--origin ORIGIN]`, a live
 * install checked from outside, the way a browser reaches it: the API answers, chatai.fcgi
 * found its settings and its database, long-poll or short-poll mode, SSE unbuffered, and
 * WebSocket reaching the notifier where there is one. One OK/WARN/FAIL line per check in
 * plain words, with what to fix; exit status 1 when a check failed.
 */
#ifndef CHATAI_CTL_CHECK_URL_H
#define CHATAI_CTL_CHECK_URL_H

/* 1 when the arguments of `check` ask for --url (then check_url_main runs instead). */
int check_url_wanted(int argc, char **argv);

/* Run the checks; returns the exit status (0, 1 failed, 2 usage). */
int check_url_main(int argc, char **argv);

#endif
