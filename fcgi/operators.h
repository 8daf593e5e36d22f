/* SPDX-License-Identifier: MIT */
/*
 * operators: the operator accounts over REST (docs/api.md "Operators"): the list, create
 * and change of an admin, and an operator's own profile (PATCH /api/me). Writes go
 * through chatai_operator_*() of sql/006_admin.sql, as chatai-ctl's do. A disable
 * or an admin's new password revokes every session of the operator in the same
 * transaction, an operator's own new password (PATCH /api/me) every session but the one
 * asking; this process forgets them at once, the other processes and the notifier on the
 * trigger's NOTIFY.
 */
#ifndef CHATAI_FCGI_OPERATORS_H
#define CHATAI_FCGI_OPERATORS_H

struct req;

int h_operators_list(struct req *r);
int h_team(struct req *r); /* GET /api/team: any operator */
int h_operators_create(struct req *r);
int h_operator_patch(struct req *r);
int h_me_patch(struct req *r);

#endif
