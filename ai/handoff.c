/* SPDX-License-Identifier: MIT */
/* handoff: whole-word, case-insensitive matching of the assistant's handoff words. */
#include "autoconfig.h"
#include "handoff.h"
#include "util.h"

#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

/* C.UTF-8 gives Unicode case mapping and classes whatever the process locale is; when it
 * is missing, only ASCII letters are folded (other letters still match exactly). */
static locale_t ctype_locale(void)
{
	static int tried;
	static locale_t loc;
	if (!tried) {
		tried = 1;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	return loc;
}

/* Decode one code point at s[0..len). Returns its length, or 0 for an invalid sequence
 * (then the caller skips one byte). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
	if (n == 0 || n > len || s[0] > 0xF4 || !utf8_valid((const char *)s, n))
		return 0;
	uint32_t c = s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++)
		c = (c << 6) | (s[i] & 0x3F);
	*cp = c;
	return n;
}

static size_t utf8_encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xC0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xE0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	out[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

static int is_word_char(uint32_t c, locale_t loc)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	return loc ? iswalnum_l((wint_t)c, loc) : 0;
}

static uint32_t fold(uint32_t c, locale_t loc)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (!loc)
		return c;
	wint_t l = towlower_l((wint_t)c, loc);
	/* A lower case outside Unicode would be a libc bug; keep the original then. */
	return (l <= 0x10FFFF && !(l >= 0xD800 && l <= 0xDFFF)) ? (uint32_t)l : c;
}

size_t handoff_words_split(const char *s, char ***out)
{
	locale_t loc = ctype_locale();
	size_t len = strlen(s), n = 0, cap = 0;
	char **words = NULL;
	/* Folding grows a code point by at most one byte (2 -> 3 bytes, e.g. U+023A): twice the
	 * input is always enough. */
	char *cur = xmalloc(len * 2 + 5);
	size_t curlen = 0;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	for (;;) {
		uint32_t c = 0;
		size_t step = 0;
		int word = 0;
		if (i < len) {
			step = utf8_decode(p + i, len - i, &c);
			word = step > 0 && is_word_char(c, loc);
			if (step == 0)
				step = 1;
		}
		if (word) {
			curlen += utf8_encode(fold(c, loc), cur + curlen);
		} else if (curlen > 0) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				words = xrealloc(words, cap * sizeof *words);
			}
			words[n++] = xstrndup(cur, curlen);
			curlen = 0;
		}
		if (i >= len)
			break;
		i += step;
	}
	free(cur);
	*out = words;
	return n;
}

void handoff_words_free(char **w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

int handoff_match(const char *text, const char *const *words, size_t n, size_t *which)
{
	char **t = NULL;
	size_t nt = handoff_words_split(text, &t);
	int found = 0;
	for (size_t k = 0; k < n && !found; k++) {
		if (!words[k])
			continue;
		char **w = NULL;
		size_t nw = handoff_words_split(words[k], &w);
		for (size_t i = 0; nw > 0 && i + nw <= nt && !found; i++) {
			size_t j = 0;
			while (j < nw && strcmp(t[i + j], w[j]) == 0)
				j++;
			if (j == nw) {
				found = 1;
				if (which)
					*which = k;
			}
		}
		handoff_words_free(w, nw);
	}
	handoff_words_free(t, nt);
	return found;
}
