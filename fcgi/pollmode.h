/* SPDX-License-Identifier: MIT */
/*
 * pollmode: long-poll or short poll, and how the clients are told.
 *
 * A long-poll holds its request until news arrives. Where a process serves one request
 * at a time (plain CGI; Apache mod_fcgid, which sends a process one request at a time
 * and counts a waiting one as busy) every waiting client would hold a whole process, and
 * a host's per-account process cap would be reached by a handful of open chats. There the
 * server answers `wait=` at once and tells the clients to poll briefly instead: the
 * widget configuration carries "poll", and every answer of a long-poll route carries the
 * header X-Chatai-Poll.
 *
 * Setting fcgi_poll_mode: auto (default), long or short. auto means short for plain CGI
 * and for a worker started by Apache on an inherited FastCGI socket (mod_fcgid: the
 * request's SERVER_SOFTWARE starts with "Apache" and there is no --listen), long for
 * every other way of running (lighttpd's bin-path, spawn-fcgi, the --listen pool). A
 * request parameter CHATAI_FCGI_POLL_MODE (what `SetEnv` in .htaccess passes) wins over
 * the setting for that request.
 */
#ifndef CHATAI_FCGI_POLLMODE_H
#define CHATAI_FCGI_POLLMODE_H

#include <cjson/cJSON.h>

struct req;

/* The intervals a short-polling client is told (milliseconds). */
#define POLL_ACTIVE_MS 1000
#define POLL_IDLE_MS 10000

/* Read fcgi_poll_mode (config_load() done). is_cgi: plain CGI; external: --listen. 0, or
 * -1 when the setting has a bad value (logged; auto is used). */
int pollmode_init(int is_cgi, int external);

/* 1 when this request is served in short-poll mode. */
int pollmode_short(struct req *r);

/* Add X-Chatai-Poll to the answer (long-poll routes). */
void pollmode_header(struct req *r);
/* The same, the mode known: a parked request is a long-poll (its parameters are not
 * looked up again for each of thousands of answers). */
void pollmode_header_as(struct req *r, int is_short);

/* The "poll" object of the widget configuration (new cJSON object). */
cJSON *pollmode_json(struct req *r);

#endif
