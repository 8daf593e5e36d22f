/* SPDX-License-Identifier: MIT */
/* mailsend: format and send one mail (mailsend.h). */
#include "autoconfig.h"
#include "mailsend.h"
#include "log.h"
#include "mailaddr.h"
#include "token.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void put_body(FILE *f, const char *type, const char *body)
{
	fprintf(f, "Content-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", type);
	/* LF to CRLF before encoding: the canonical form of text (RFC 2045). */
	char *c = NULL;
	size_t cn = 0;
	FILE *t = open_memstream(&c, &cn);
	for (const char *p = body; *p; p++) {
		if (*p == '\n' && (p == body || p[-1] != '\r'))
			fputc('\r', t);
		fputc(*p, t);
	}
	fclose(t);
	mail_put_base64(f, (const unsigned char *)c, cn);
	free(c);
}

static void put_headers(FILE *f, const struct mail_msg *m)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(f, "Date: %s\r\nFrom: ", date);
	if (m->from_name && *m->from_name) {
		mail_put_words(f, m->from_name);
		fputs("\r\n ", f);
	}
	fprintf(f, "<%s>\r\nTo: ", m->from);
	for (size_t i = 0; i < m->nto; i++)
		fprintf(f, "%s<%s>", i ? ",\r\n " : "", m->to[i]);
	fputs("\r\nSubject: ", f);
	mail_put_words(f, m->subject);
	fprintf(f, "\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n",
		m->message_id);
}

char *mail_format(const struct mail_msg *m, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	put_headers(f, m);
	if (!m->html) {
		put_body(f, "text/plain", m->text);
	} else {
		unsigned char rnd[12];
		char boundary[40];
		if (random_bytes(rnd, sizeof rnd) < 0)
			memset(rnd, 0x5a, sizeof rnd);
		snprintf(boundary, sizeof boundary, "=_chatai_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
			 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		fprintf(f, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n--%s\r\n", boundary,
			boundary);
		put_body(f, "text/plain", m->text);
		fprintf(f, "--%s\r\n", boundary);
		put_body(f, "text/html", m->html);
		fprintf(f, "--%s--\r\n", boundary);
	}
	fclose(f);
	*len = n;
	return out;
}

struct upload {
	const char *p;
	size_t left;
};

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb < u->left ? size * nmemb : u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

/* Set before the sending thread starts (mail_send_abort_flag), read by it. */
static const atomic_int *abort_flag;

void mail_send_abort_flag(const atomic_int *flag)
{
	abort_flag = flag;
}

int mail_send_aborted(void)
{
	return abort_flag && atomic_load(abort_flag);
}

/* libcurl calls it about once a second even while the server says nothing. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)arg, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return mail_send_aborted();
}

static enum mail_outcome by_curl(const char *url, const struct mail_msg *m, const char *data, size_t len,
				 char *err, size_t errsz)
{
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, errsz, "curl_easy_init failed");
		return MAIL_RETRY;
	}
	struct curl_slist *rcpt = NULL;
	char from[MAIL_ADDR_MAX + 3];
	snprintf(from, sizeof from, "<%s>", m->from);
	for (size_t i = 0; i < m->nto; i++) {
		char to[MAIL_ADDR_MAX + 3];
		snprintf(to, sizeof to, "<%s>", m->to[i]);
		rcpt = curl_slist_append(rcpt, to);
	}
	struct upload u = { data, len };
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (abort_flag) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	if (rc == CURLE_OK)
		return MAIL_SENT;
	snprintf(err, errsz, "%s%s(SMTP %ld)", ebuf[0] ? ebuf : curl_easy_strerror(rc), ebuf[0] ? " " : " ",
		 code);
	if (code >= 500 && code < 600)
		return MAIL_REJECTED;
	if (code >= 400 && code < 500)
		return MAIL_RETRY;
	/* 354: the body was on its way when the line broke; it may have been taken. */
	if (code == 354 || (u.left == 0 && code == 250 && rc != CURLE_COULDNT_CONNECT))
		return MAIL_UNCERTAIN;
	return MAIL_RETRY;
}

static enum mail_outcome by_sendmail(const char *data, size_t len, char *err, size_t errsz)
{
	int fd[2];
	if (pipe(fd) < 0) {
		snprintf(err, errsz, "pipe: %s", strerror(errno));
		return MAIL_RETRY;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		snprintf(err, errsz, "fork: %s", strerror(errno));
		return MAIL_RETRY;
	}
	if (pid == 0) {
		dup2(fd[0], 0);
		close(fd[0]);
		close(fd[1]);
		execl("/usr/sbin/sendmail", "sendmail", "-t", "-i", (char *)NULL);
		_exit(127);
	}
	close(fd[0]);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd[1], data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd[1]);
	signal(SIGPIPE, old);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && off == len)
		return MAIL_SENT;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	snprintf(err, errsz, "sendmail -t exited with %d", code);
	return code == 75 || code == 127 || code == -1 ? MAIL_RETRY : MAIL_REJECTED;
}

enum mail_outcome mail_send(const char *url, const struct mail_msg *m, char *err, size_t errsz)
{
	size_t len = 0;
	char *data = mail_format(m, &len);
	enum mail_outcome o;
	err[0] = '\0';
	if (strcmp(url, "sendmail:") == 0)
		o = by_sendmail(data, len, err, errsz);
	else
		o = by_curl(url, m, data, len, err, errsz);
	free(data);
	return o;
}
