/* SPDX-License-Identifier: MIT */
/* b64url: base64url without padding (see b64url.h). */
#include "autoconfig.h"
#include "b64url.h"

#include <stdint.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		int chars = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
		for (int k = 0; k < chars; k++) {
			if (j + 1 >= outlen)
				goto done;
			out[j++] = b64[(v >> (18 - 6 * k)) & 63];
		}
	}
done:
	if (outlen)
		out[j] = '\0';
	return j;
}

int b64url_is_char(char c)
{
	return c && strchr(b64, c) != NULL;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

long b64url_decode(const char *in, unsigned char *out, size_t outlen)
{
	size_t n = strlen(in), j = 0;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		size_t chars = n - i < 4 ? n - i : 4;
		for (size_t k = 0; k < 4; k++) {
			int d = 0;
			if (k < chars) {
				d = b64val(in[i + k]);
				if (d < 0)
					return -1;
			}
			v = (v << 6) | (uint32_t)d;
		}
		size_t bytes = chars - 1;
		for (size_t k = 0; k < bytes; k++) {
			if (j >= outlen)
				return -1;
			out[j++] = (unsigned char)(v >> (16 - 8 * k));
		}
	}
	return (long)j;
}

