/* SPDX-License-Identifier: MIT */
/* mailq: the outbox emptied, one mail per step (mailq.h). */
#include "autoconfig.h"
#include "mailq.h"
#include "config.h"
#include "log.h"
#include "mailaddr.h"
#include "mailsend.h"
#include "settings.h"
#include "token.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TO 32

/* One claimed mail: its rows and what they name. */
struct claim {
	char ids[1024]; /* {1,2,3}: the rows, as a SQL array */
	const char *kind;
	PGresult *res; /* the claimed rows (id, kind, dialog_id, from_seq, upto_seq, attempts, message_id) */
};

/* What a composer fills. Strings are owned. */
struct draft {
	char *subject, *text, *html, *from_name;
	char *to[MAX_TO];
	size_t nto;
};

static void draft_free(struct draft *d)
{
	free(d->subject);
	free(d->text);
	free(d->html);
	free(d->from_name);
	for (size_t i = 0; i < d->nto; i++)
		free(d->to[i]);
	memset(d, 0, sizeof *d);
}

static char *trimmed(const char *s)
{
	if (!s)
		return NULL;
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		n--;
	return n ? xstrndup(s, n) : NULL;
}

static char problem[160];

static int bad(const char *key, const char *why)
{
	snprintf(problem, sizeof problem, "setting %s: %s", key, why);
	log_error("mail is off: %s", problem);
	return -1;
}

const char *mailq_problem(void)
{
	return problem;
}

/* The mail keys by the rules of common/settings.def (the ones chatai-ctl check applies):
 * 0 when fine, else -1 after bad(). */
static int mail_settings_ok(void)
{
	static const enum setting_id keys[] = { SET_smtp_url,       SET_mail_from,        SET_public_url,
						SET_mail_alert_to,  SET_mail_reply_delay, SET_mail_alert_delay };
	char buf[256];
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct setting *s = &settings_table[keys[i]];
		const char *v = config_get(s->key, NULL), *why = v ? settings_problem(s, v, buf, sizeof buf) : NULL;
		if (why)
			return bad(s->key, why);
	}
	if (!settings_str(SET_mail_from))
		return bad("mail_from", "is required with smtp_url");
	if (!settings_str(SET_public_url))
		return bad("public_url", "is required with smtp_url");
	return 0;
}

int mailq_load(struct mailq_cfg *c)
{
	memset(c, 0, sizeof *c);
	const char *url = settings_str(SET_smtp_url);
	int64_t rd = 0, ad = 0;
	if (!url)
		return 0;
	if (mail_settings_ok() < 0 || settings_int(SET_mail_reply_delay, &rd) < 0 ||
	    settings_int(SET_mail_alert_delay, &ad) < 0)
		return -1;
	const char *from = settings_str(SET_mail_from), *pub = settings_str(SET_public_url);
	const char *to = settings_str(SET_mail_alert_to);
	c->smtp_url = xstrdup(url);
	c->from = xstrdup(from);
	/* The widget's page as given ("/" added to a bare origin); the panel at its origin. */
	const char *path = strchr(strstr(pub, "://") + 3, '/'), *query = strchr(pub, '?');
	size_t origin = path && (!query || path < query) ? (size_t)(path - pub)
			: query                          ? (size_t)(query - pub)
							 : strlen(pub);
	c->public_url = pub[origin] ? xstrdup(pub) : xasprintf("%s/", pub);
	c->panel_url = xasprintf("%.*s/admin/", (int)origin, pub);
	c->alert_to = to ? xstrdup(to) : NULL;
	c->reply_delay = (int)rd;
	c->alert_delay = (int)ad;
	c->domain = strrchr(c->from, '@') + 1;
	char host[64] = "host";
	gethostname(host, sizeof host - 1);
	snprintf(c->worker, sizeof c->worker, "%.63s/%ld", host, (long)getpid());
	return 1;
}

void mailq_free(struct mailq_cfg *c)
{
	free(c->smtp_url);
	free(c->from);
	free(c->public_url);
	free(c->panel_url);
	free(c->alert_to);
	memset(c, 0, sizeof *c);
}

int mailq_backoff(int attempts)
{
	int s = 60;
	for (int i = 1; i < attempts && s < 3600; i++)
		s *= 2;
	return s > 3600 ? 3600 : s;
}

static void add_to(struct draft *d, const char *addr)
{
	if (d->nto < MAX_TO && addr && mail_addr_valid(addr))
		d->to[d->nto++] = xstrdup(addr);
}

/* ---- composers ------------------------------------------------------------------- */

/* Text into HTML: the four characters that mean something there, and line breaks. */
static void html_escape(FILE *f, const char *s)
{
	static const char *const entity[256] = {
		['<'] = "&lt;", ['>'] = "&gt;", ['&'] = "&amp;", ['"'] = "&quot;", ['\n'] = "<br>",
	};
	for (; *s; s++) {
		const char *e = entity[(unsigned char)*s];
		if (e)
			fputs(e, f);
		else
			fputc(*s, f);
	}
}

/* The name of an assistant as it may appear in a subject or a From name. */
static char *clean_name(const char *s, const char *def)
{
	return s && mail_text_clean(s) ? xstrdup(s) : xstrdup(def);
}

static int compose_alert(struct db *db, const struct mailq_cfg *c, const struct claim *cl, struct draft *d)
{
	const char *p[1] = { cl->ids };
	PGresult *r = db_exec(
		db,
		"SELECT d.id, a.name, to_char(d.waiting_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"'),"
		" COALESCE((SELECT m.text FROM messages m WHERE m.dialog_id = d.id AND m.sender = 'user'"
		"           ORDER BY m.seq DESC LIMIT 1), '')"
		" FROM mail_outbox o JOIN dialogs d ON d.id = o.dialog_id JOIN assistants a ON a.id = d.assistant_id"
		" WHERE o.id = ANY ($1::bigint[]) ORDER BY d.id",
		1, p);
	if (!r)
		return -1;
	char *body = NULL;
	size_t bn = 0;
	FILE *f = open_memstream(&body, &bn);
	int n = PQntuples(r);
	fprintf(f, "%d conversation%s waiting for an operator, and nobody is online:\n\n", n,
		n == 1 ? " is" : "s are");
	for (int i = 0; i < n; i++)
		fprintf(f, "Dialog %s (%s), waiting since %s\n  Last question: %.300s\n  %s#dialog-%s\n\n",
			PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
			c->panel_url, PQgetvalue(r, i, 0));
	fclose(f);
	d->text = body;
	d->from_name = clean_name(n ? PQgetvalue(r, 0, 1) : NULL, "ChatAI");
	d->subject =
		xasprintf("%s: %d visitor%s waiting for an operator", d->from_name, n, n == 1 ? "" : "s");
	PQclear(r);
	if (c->alert_to) {
		char *copy = xstrdup(c->alert_to), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char *a = trimmed(t);
			add_to(d, a);
			free(a);
		}
		free(copy);
		return 0;
	}
	r = db_exec(db, "SELECT email FROM operators WHERE role = 'admin' ORDER BY id", 0, NULL);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		add_to(d, PQgetvalue(r, i, 0));
	PQclear(r);
	return 0;
}

/* The dialog's assistant name and contact: d->from_name, d->to. 0, -1 (db), 1 (no contact).
 * The composers return the same, and 2 when there is nothing left to say. */
static int dialog_head(struct db *db, const char *dialog, struct draft *d, int64_t *read_seq)
{
	const char *p[1] = { dialog };
	PGresult *r = db_exec(
		db,
		"SELECT a.name, c.email, d.visitor_read_seq FROM dialogs d JOIN assistants a ON a.id = d.assistant_id"
		" LEFT JOIN dialog_contacts c ON c.dialog_id = d.id WHERE d.id = $1::bigint",
		1, p);
	if (!r)
		return -1;
	int rc = 1;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
		d->from_name = clean_name(PQgetvalue(r, 0, 0), "ChatAI");
		add_to(d, PQgetvalue(r, 0, 1));
		*read_seq = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
		rc = d->nto ? 0 : 1;
	}
	PQclear(r);
	return rc;
}

/* A fresh resume link for the dialog (owned), or NULL on a database failure. */
static char *resume_link(struct db *db, const struct mailq_cfg *c, const char *dialog)
{
	char tok[TOKEN_CHARS + 1], hash[TOKEN_HASH_CHARS + 1];
	if (token_new(tok) < 0)
		return NULL;
	token_hash(tok, hash);
	const char *p[2] = { hash, dialog };
	PGresult *r = db_exec(db, "INSERT INTO resume_tokens (token_hash, dialog_id) VALUES ($1, $2::bigint)",
			      2, p);
	if (!r)
		return NULL;
	PQclear(r);
	return xasprintf("%s#chatai-resume=%s.%s", c->public_url, dialog, tok);
}

static const char *who(PGresult *r, int i, const char *assistant)
{
	const char *s = PQgetvalue(r, i, 0);
	if (!strcmp(s, "user"))
		return "You";
	if (!strcmp(s, "ai"))
		return assistant;
	if (!strcmp(s, "manager"))
		return *PQgetvalue(r, i, 2) ? PQgetvalue(r, i, 2) : "Operator";
	return "Notice";
}

/* Messages seq (lo, hi] shown to the visitor; replies only when only_replies. */
static PGresult *dialog_lines(struct db *db, const char *dialog, int64_t lo, int64_t hi, int only_replies)
{
	char a[24], b[24];
	snprintf(a, sizeof a, "%lld", (long long)lo);
	snprintf(b, sizeof b, "%lld", (long long)hi);
	const char *p[4] = { dialog, a, b, only_replies ? "t" : "f" };
	return db_exec(
		db,
		"SELECT m.sender, m.text, COALESCE(o.name, ''),"
		" to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
		" FROM messages m LEFT JOIN operators o ON o.id = m.operator_id"
		" WHERE m.dialog_id = $1::bigint AND m.seq > $2::bigint AND m.seq <= $3::bigint"
		"   AND (m.audience = 'all' OR m.sender = 'user')"
		"   AND (NOT $4::boolean OR (m.sender IN ('manager', 'ai') AND m.event IS NULL)) ORDER BY m.seq",
		4, p);
}

static int compose_reply(struct db *db, const struct mailq_cfg *c, const struct claim *cl, struct draft *d)
{
	const char *dialog = PQgetvalue(cl->res, 0, 2);
	int64_t read_seq = 0, from = strtoll(PQgetvalue(cl->res, 0, 3), NULL, 10);
	int64_t upto = strtoll(PQgetvalue(cl->res, 0, 4), NULL, 10);
	int rc = dialog_head(db, dialog, d, &read_seq);
	if (rc != 0)
		return rc;
	PGresult *r = dialog_lines(db, dialog, read_seq > from - 1 ? read_seq : from - 1, upto, 1);
	if (r && PQntuples(r) == 0) { /* read meanwhile */
		PQclear(r);
		return 2;
	}
	char *link = r ? resume_link(db, c, dialog) : NULL;
	if (!link) {
		PQclear(r);
		return -1;
	}
	char *t = NULL, *h = NULL;
	size_t tn = 0, hn = 0;
	FILE *ft = open_memstream(&t, &tn), *fh = open_memstream(&h, &hn);
	fprintf(ft, "You have a reply to your question:\n\n");
	fputs("<p>You have a reply to your question:</p>\n", fh);
	for (int i = 0; i < PQntuples(r); i++) {
		fprintf(ft, "%s:\n%s\n\n", who(r, i, d->from_name), PQgetvalue(r, i, 1));
		fputs("<p><b>", fh);
		html_escape(fh, who(r, i, d->from_name));
		fputs(":</b><br>", fh);
		html_escape(fh, PQgetvalue(r, i, 1));
		fputs("</p>\n", fh);
	}
	fprintf(ft, "Continue the conversation (the link works for 30 days, in any browser):\n%s\n", link);
	fprintf(fh,
		"<p><a href=\"%s\">Continue the conversation</a> (the link works for 30 days, in any browser)</p>\n",
		link);
	fclose(ft);
	fclose(fh);
	PQclear(r);
	free(link);
	d->text = t;
	d->html = h;
	d->subject = xasprintf("%s replied to you", d->from_name);
	return 0;
}

static int compose_transcript(struct db *db, const struct claim *cl, struct draft *d)
{
	const char *dialog = PQgetvalue(cl->res, 0, 2);
	int64_t read_seq = 0, upto = strtoll(PQgetvalue(cl->res, 0, 4), NULL, 10);
	int rc = dialog_head(db, dialog, d, &read_seq);
	if (rc != 0)
		return rc;
	PGresult *r = dialog_lines(db, dialog, 0, upto, 0);
	if (!r)
		return -1;
	char *t = NULL;
	size_t tn = 0;
	FILE *ft = open_memstream(&t, &tn);
	fprintf(ft, "Your conversation with %s:\n\n", d->from_name);
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(ft, "[%s] %s:\n%s\n\n", PQgetvalue(r, i, 3), who(r, i, d->from_name),
			PQgetvalue(r, i, 1));
	fclose(ft);
	PQclear(r);
	d->text = t;
	d->subject = xasprintf("Your conversation with %s", d->from_name);
	return 0;
}

/* ---- one step -------------------------------------------------------------------- */

static int record(struct db *db, const struct claim *cl, const char *state, const char *err, int delay)
{
	char dl[16];
	snprintf(dl, sizeof dl, "%d", delay);
	const char *p[4] = { cl->ids, state, err && *err ? err : NULL, dl };
	return db_run(db, "SELECT chatai_mail_result($1::bigint[], $2, $3, $4::int)", 4, p);
}

static int claim(struct db *db, const struct mailq_cfg *c, struct claim *cl)
{
	char rd[16], ad[16];
	snprintf(rd, sizeof rd, "%d", c->reply_delay);
	snprintf(ad, sizeof ad, "%d", c->alert_delay);
	const char *p[4] = { c->worker, c->domain, rd, ad };
	cl->res = db_exec(db,
			  "SELECT id, kind, dialog_id, from_seq, upto_seq, attempts, message_id"
			  " FROM chatai_mail_claim($1, $2, $3::int, $4::int) ORDER BY id",
			  4, p);
	if (!cl->res)
		return -1;
	int n = PQntuples(cl->res);
	if (n == 0) {
		PQclear(cl->res);
		return 0;
	}
	size_t off = 0;
	cl->ids[off++] = '{';
	for (int i = 0; i < n && off + 24 < sizeof cl->ids; i++)
		off += (size_t)snprintf(cl->ids + off, sizeof cl->ids - off, "%s%s", i ? "," : "",
					PQgetvalue(cl->res, i, 0));
	snprintf(cl->ids + off, sizeof cl->ids - off, "}");
	cl->kind = PQgetvalue(cl->res, 0, 1);
	return 1;
}

/* The state and delay a failed send leaves. */
static const char *after_failure(enum mail_outcome o, int attempts, int *delay)
{
	*delay = mailq_backoff(attempts);
	if (o == MAIL_UNCERTAIN)
		return "uncertain";
	if (o == MAIL_REJECTED)
		return attempts >= MAILQ_REJECT_TRIES ? "failed" : "queued";
	return attempts >= MAILQ_RETRY_TRIES ? "failed" : "queued";
}

static int step(struct db *db, const struct mailq_cfg *c)
{
	struct claim cl = { 0 };
	int got = claim(db, c, &cl);
	if (got <= 0)
		return got;
	struct draft d = { 0 };
	int rc = !strcmp(cl.kind, "alert")   ? compose_alert(db, c, &cl, &d)
		 : !strcmp(cl.kind, "reply") ? compose_reply(db, c, &cl, &d)
					     : compose_transcript(db, &cl, &d);
	int out = 0;
	if (rc < 0) {
		out = record(db, &cl, "queued", "could not compose the mail (database)", 60) < 0 ? -1 : 0;
	} else if (rc == 2) {
		out = record(db, &cl, "skipped", "read by the visitor", 0) < 0 ? -1 : 0;
	} else if (rc > 0 || d.nto == 0) {
		out = record(db, &cl, "failed", "no recipient address", 0) < 0 ? -1 : 0;
	} else {
		struct mail_msg m = { c->from, d.from_name, (const char *const *)d.to, d.nto, d.subject,
				      d.text,  d.html,      PQgetvalue(cl.res, 0, 6) };
		char err[512];
		enum mail_outcome o = mail_send(c->smtp_url, &m, err, sizeof err);
		int attempts = atoi(PQgetvalue(cl.res, 0, 5)), delay = 0;
		const char *state = o == MAIL_SENT ? "sent" : after_failure(o, attempts, &delay);
		if (o == MAIL_SENT)
			log_info("mail: %s %s sent (%s)", cl.kind, cl.ids, PQgetvalue(cl.res, 0, 6));
		else
			log_warn("mail: %s %s not sent: %s (%s)", cl.kind, cl.ids, err, state);
		out = record(db, &cl, state, err, delay) < 0 ? -1 : o == MAIL_SENT;
	}
	draft_free(&d);
	PQclear(cl.res);
	return out < 0 ? -1 : out == 1 ? 1 : 2;
}

int mailq_run(struct db *db, const struct mailq_cfg *c, int max, int64_t budget_ms)
{
	int sent = 0;
	int64_t until = now_ms() + budget_ms;
	if (!c->smtp_url)
		return 0;
	for (int i = 0; i < max && now_ms() < until && !mail_send_aborted(); i++) {
		int rc = step(db, c);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		sent += rc == 1;
	}
	return sent;
}
