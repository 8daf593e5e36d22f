/* SPDX-License-Identifier: MIT */
/*
 * mailsend: one mail, formatted and handed over (issue 15). The sender's address, the
 * recipients and the names are checked with mailaddr.h before they get here; every
 * name and the subject go out as RFC 2047 words and the bodies as base64, so nothing a
 * visitor typed can end a header line.
 *
 * Transport: smtp://[user:password@]host[:port] or smtps://... through libcurl (STARTTLS
 * when the server offers it on smtp://), or `sendmail -t -i` when the URL is "sendmail:".
 */
#ifndef CHATAI_AI_MAILSEND_H
#define CHATAI_AI_MAILSEND_H

#include <stdatomic.h>
#include <stddef.h>

struct mail_msg {
	const char *from;      /* checked address */
	const char *from_name; /* display name (any UTF-8 without controls) or NULL */
	const char *const *to; /* checked addresses */
	size_t nto;
	const char *subject;    /* UTF-8 without controls */
	const char *text;       /* plain text body, UTF-8, LF line ends */
	const char *html;       /* HTML alternative or NULL */
	const char *message_id; /* "<...>" */
};

enum mail_outcome {
	MAIL_SENT,      /* the server took it (250 after DATA; sendmail exit 0) */
	MAIL_RETRY,     /* not taken, try again later: 4xx, no connection, sendmail EX_TEMPFAIL */
	MAIL_REJECTED,  /* refused for good: 5xx, sendmail's other failures */
	MAIL_UNCERTAIN, /* broke off after the body went out: it may have been taken */
};

/* The whole message, CRLF line ends (caller frees). */
char *mail_format(const struct mail_msg *m, size_t *len);

/* A flag that, once non-zero, makes an SMTP send in progress give up within about a
 * second (MAIL_RETRY, or MAIL_UNCERTAIN when the body went out) and mailq_run() stop
 * between mails. Set it before any thread sends; NULL (the default): no such flag. */
void mail_send_abort_flag(const atomic_int *flag);
int mail_send_aborted(void);

/* Send m by url. err gets a short reason on anything but MAIL_SENT. */
enum mail_outcome mail_send(const char *url, const struct mail_msg *m, char *err, size_t errsz);

#endif
