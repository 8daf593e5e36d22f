/* SPDX-License-Identifier: MIT */
/* text: the limits and rules of the texts people write (see text.h). */
#include "autoconfig.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

static int is_trim_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int text_validate(const char *s, size_t len, char **out, const char **why)
{
	*out = NULL;
	if (!s) {
		*why = "text is required";
		return -1;
	}
	if (memchr(s, '\0', len)) {
		*why = "text must not contain NUL characters";
		return -1;
	}
	if (!utf8_valid(s, len)) {
		*why = "text must be valid UTF-8";
		return -1;
	}
	size_t b = 0, e = len;
	while (b < e && is_trim_space(s[b]))
		b++;
	while (e > b && is_trim_space(s[e - 1]))
		e--;
	if (e == b) {
		*why = "text must not be empty";
		return -1;
	}
	if (utf8_count(s + b, e - b) > CHATAI_TEXT_MAX_CHARS) {
		*why = "text must be at most 4000 characters";
		return -1;
	}
	*out = xstrndup(s + b, e - b);
	return 0;
}

int text_message(const char *s, char **out, const char **why)
{
	return text_validate(s, s ? strlen(s) : 0, out, why);
}

int text_greeting(const char *s, char **out, const char **why)
{
	if (s && !*s) {
		*out = xstrdup("");
		return 0;
	}
	return text_message(s, out, why);
}

int name_validate(const char *s, char **out, const char **why)
{
	if (text_message(s, out, why) < 0)
		return -1;
	int ok = utf8_count(*out, strlen(*out)) <= TEXT_NAME_MAX_CHARS;
	for (const char *p = *out; ok && *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			ok = 0;
	if (!ok) {
		*why = "must be 1 to 200 characters without control characters";
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int email_valid(const char *s)
{
	size_t len = strlen(s);
	const char *at = strchr(s, '@');
	if (len < 3 || len > TEXT_EMAIL_MAX || !at || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	return utf8_valid(s, len);
}

void utf8_truncate(char *s, size_t max)
{
	size_t count = 0;
	for (char *p = s; *p; p++) {
		if (((unsigned char)*p & 0xC0) != 0x80) {
			if (count == max) {
				*p = '\0';
				return;
			}
			count++;
		}
	}
}
