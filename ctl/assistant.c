/* SPDX-License-Identifier: MIT */
/* assistant: `chatai-ctl assistant add NAME [--greeting TEXT] [--origin ORIGIN]...`. */
#include "autoconfig.h"
#include "ctl.h"
#include "json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An Origin as browsers send it: scheme://host[:port], no path, no trailing slash. */
static int valid_origin(const char *o)
{
	const char *host;
	if (strncmp(o, "https://", 8) == 0)
		host = o + 8;
	else if (strncmp(o, "http://", 7) == 0)
		host = o + 7;
	else
		return 0;
	if (!*host || strlen(o) > 255)
		return 0;
	for (const char *p = host; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr(".-:[]_", *p)))
			return 0;
	return 1;
}

int cmd_assistant(int argc, char **argv)
{
	static const char use[] = "usage: chatai-ctl assistant add NAME [--greeting TEXT] [--origin ORIGIN]...";
	if (argc < 1 || strcmp(argv[0], "add") != 0)
		die_usage("%s", use);
	const char *greeting = "", **origins = NULL, *why = NULL;
	struct opt opts[] = { { "--greeting", 1, &greeting, NULL, 0 }, { "--origin", 1, NULL, &origins, 0 },
			      { NULL, 0, NULL, NULL, 0 } };
	const char *pos[1];
	int rc = EXIT_FAIL;
	char *greet = NULL, *origins_json = NULL;
	cJSON *arr = NULL;
	PGconn *c = NULL;
	if (parse_args(argc - 1, argv + 1, opts, pos, 1) != 1)
		die_usage("%s", use);
	if (!valid_name(pos[0], &why)) {
		errorf("name: %s", why);
		goto out;
	}
	/* The greeting is sent as the first message of each dialog: same rule as messages. */
	if (*greeting && text_validate(greeting, strlen(greeting), &greet, &why) < 0) {
		errorf("greeting: %s", why);
		goto out;
	}
	arr = cJSON_CreateArray();
	for (size_t i = 0; origins && origins[i]; i++) {
		if (!valid_origin(origins[i])) {
			errorf("'%s' is not an origin (write scheme://host[:port], e.g. https://shop.example)",
			       origins[i]);
			goto out;
		}
		cJSON_AddItemToArray(arr, cJSON_CreateString(origins[i]));
	}
	origins_json = json_print(arr);
	c = ctl_connect();
	if (!c)
		goto out;
	const char *params[] = { pos[0], greet ? greet : "", origins_json };
	PGresult *r = run(c, "adding the assistant",
			  "INSERT INTO assistants (name, greeting, allowed_origins) "
			  "VALUES ($1, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb))) RETURNING id",
			  3, params);
	if (!r)
		goto out;
	rc = print_new_id(r);
out:
	if (c)
		PQfinish(c);
	cJSON_Delete(arr);
	free(origins_json);
	free(greet);
	free(origins);
	return rc;
}
