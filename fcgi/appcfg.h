/* SPDX-License-Identifier: MIT */
/*
 * appcfg: the REST worker's settings, read once at start (app_settings_load, after
 * config_load) before any thread starts, and never changed afterwards (no reload in the
 * FastCGI worker). Part of the request layer: it calls only common/config.
 */
#ifndef CHATAI_FCGI_APPCFG_H
#define CHATAI_FCGI_APPCFG_H

#include <stdint.h>

struct app_settings {
	int64_t token_ttl;         /* seconds a login session lives */
	int64_t rl_dialogs;        /* per minute per client address; 0 disables */
	int64_t rl_messages;
	int64_t rl_typing;
	int64_t rl_login;
	int64_t rl_reads;          /* widget GET and OPTIONS */
	int64_t longpoll_max_wait; /* seconds */
	int64_t longpoll_max;      /* parked long-polls per process */
	int64_t longpoll_max_per_ip; /* of those, per client address (IPv6 /64); 0: no cap */
	int64_t auth_cache_ttl;    /* seconds a verified session or widget dialog is remembered */
	int mail_on;               /* smtp_url is set: the widget's mail routes work (docs/api.md, Mail) */
};
extern struct app_settings app_cfg;

/* Read the settings into app_cfg (config_load() done by the caller). */
void app_settings_load(void);

#endif
