/* SPDX-License-Identifier: MIT */
/* mailaddr: checked addresses and names, RFC 2047 words (mailaddr.h). */
#include "autoconfig.h"
#include "mailaddr.h"

#include <string.h>

static int atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int domain_ok(const char *d)
{
	size_t n = strlen(d), label = 0;
	int dots = 0;
	if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-' || d[n - 1] == '.' || d[n - 1] == '-')
		return 0;
	for (const char *p = d; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (label == 0 || p[-1] == '-' || p[1] == '-')
				return 0;
			dots++;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   c == '-') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return dots >= 1;
}

int mail_addr_valid(const char *s)
{
	if (!s)
		return 0;
	size_t n = strlen(s);
	const char *at = strrchr(s, '@');
	if (n == 0 || n > MAIL_ADDR_MAX || !at || at == s || (size_t)(at - s) > 64)
		return 0;
	if (s[0] == '.' || at[-1] == '.')
		return 0;
	for (const char *p = s; p < at; p++) {
		if (*p == '.' ? p[1] == '.' : !atext((unsigned char)*p))
			return 0;
	}
	return domain_ok(at + 1);
}

int mail_has_ctl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

int mail_text_clean(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > MAIL_NAME_MAX || !utf8_valid(s, n) || mail_has_ctl(s))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) /* C1 controls */
			return 0;
		if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) /* U+2028/9 */
			return 0;
	}
	return 1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64_chunk(FILE *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		fputc(b64[v >> 18 & 63], out);
		fputc(b64[v >> 12 & 63], out);
		fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', out);
		fputc(i + 2 < n ? b64[v & 63] : '=', out);
	}
}

void mail_put_base64(FILE *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 57) {
		put_b64_chunk(out, p + i, n - i < 57 ? n - i : 57);
		fputs("\r\n", out);
	}
}

void mail_put_words(FILE *out, const char *s)
{
	/* "=?UTF-8?B?" + base64 + "?=": 36 bytes of text make a 60-character word, which
	 * fits a line after "Subject: " (78 characters a line, RFC 5322). */
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	int first = 1;
	while (n > 0) {
		size_t k = n < 36 ? n : 36;
		while (k < n && k > 0 && (p[k] & 0xC0) == 0x80)
			k--;
		if (k == 0)
			k = n < 36 ? n : 36;
		fputs(first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?", out);
		put_b64_chunk(out, p, k);
		fputs("?=", out);
		first = 0;
		p += k;
		n -= k;
	}
}
