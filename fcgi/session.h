/* SPDX-License-Identifier: MIT */
/* session: the operator's login session: POST /api/auth/login, POST /api/auth/logout,
 * GET /api/me (route handlers, routes.c). */
#ifndef CHATAI_FCGI_SESSION_H
#define CHATAI_FCGI_SESSION_H

struct req;

int h_login(struct req *r);
int h_logout(struct req *r);
int h_me(struct req *r);

#endif
