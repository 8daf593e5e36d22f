/* SPDX-License-Identifier: MIT */
/* typing: the one path of a typing event (see typing.h). */
#include "autoconfig.h"
#include "typing.h"
#include "credis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int typing_send(struct db *db, int64_t dialog, int64_t assistant, const char *who, const char *state)
{
	struct credis *rc = credis_thread();
	char d[24];
	snprintf(d, sizeof d, "%" PRId64, dialog);
	const char *p[3] = { d, who, state };
	PGresult *res;
	if (rc && assistant < 1) {
		res = db_exec(db, TYPING_SQL_CHECK, 1, p);
		if (!res)
			return -1;
		assistant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	if (rc && credis_publish_typing(rc, dialog, assistant, who, state) == CREDIS_OK)
		return 0;
	res = db_exec(db, assistant >= 1 ? TYPING_SQL_NOTIFY : TYPING_SQL_CHECK_NOTIFY, 3, p);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}
