/* SPDX-License-Identifier: MIT */
/* knowledge: `chatai-ctl knowledge import ASSISTANT_ID FILE`, all rows or none. */
#include "autoconfig.h"
#include "ctl.h"
#include "kbfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest knowledge file read (bytes). */
#define KB_FILE_MAX (64 * 1024 * 1024)

int cmd_knowledge(int argc, char **argv)
{
	static const char use[] = "usage: chatai-ctl knowledge import ASSISTANT_ID FILE";
	if (argc < 1 || strcmp(argv[0], "import") != 0)
		die_usage("%s", use);
	const char *pos[2];
	if (parse_args(argc - 1, argv + 1, NULL, pos, 2) != 2)
		die_usage("%s", use);
	int64_t aid;
	if (parse_int64(pos[0], 1, INT64_MAX, &aid) < 0)
		die_usage("ASSISTANT_ID must be a positive integer, not '%s'", pos[0]);
	const char *file = pos[1];

	struct kbfile kb;
	size_t len = 0;
	int rc = EXIT_FAIL, in_tx = 0;
	PGconn *c = NULL;
	char *buf = read_file(file, KB_FILE_MAX, &len);
	memset(&kb, 0, sizeof kb);
	if (!buf)
		goto out;
	if (kbfile_parse(buf, len, kbfile_guess(strcmp(file, "-") ? file : NULL, buf, len), &kb) < 0) {
		for (size_t i = 0; i < kb.nerrors; i++)
			fprintf(stderr, "%s: %s\n", file, kb.errors[i]);
		errorf("%s: %zu bad row(s); nothing imported", file, kb.nerrors);
		goto out;
	}
	if (kb.nrows == 0) {
		errorf("%s: no entries to import", file);
		goto out;
	}
	c = ctl_connect();
	if (!c)
		goto out;
	if (run_cmd(c, "BEGIN", "BEGIN") < 0)
		goto out;
	in_tx = 1;
	char idbuf[24];
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)aid);
	const char *p1[] = { idbuf };
	PGresult *r = run(c, "looking up the assistant",
			  "SELECT ts_config::text FROM assistants WHERE id = $1 FOR SHARE", 1, p1);
	if (!r)
		goto out;
	if (PQntuples(r) == 0) {
		PQclear(r);
		errorf("no assistant with id %s (chatai-ctl assistant add creates one)", idbuf);
		goto out;
	}
	char *tscfg = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	for (size_t i = 0; i < kb.nrows; i++) {
		const char *p[] = { idbuf, kb.rows[i].question, kb.rows[i].answer, tscfg };
		r = run(c, "inserting an entry",
			"INSERT INTO knowledge (assistant_id, question, answer, ts_config) "
			"VALUES ($1, $2, $3, $4::regconfig)",
			4, p);
		if (!r) {
			errorf("%s: line %d could not be stored; nothing imported", file, kb.rows[i].line);
			free(tscfg);
			goto out;
		}
		PQclear(r);
	}
	free(tscfg);
	if (run_cmd(c, "COMMIT", "COMMIT") < 0)
		goto out;
	in_tx = 0;
	printf("imported %zu entries into assistant %s\n", kb.nrows, idbuf);
	rc = 0;
out:
	if (c) {
		if (in_tx)
			PQclear(PQexec(c, "ROLLBACK"));
		PQfinish(c);
	}
	kbfile_free(&kb);
	free(buf);
	return rc;
}
