/* SPDX-License-Identifier: MIT */
/* token: random tokens, SHA-256 at rest, constant-time compare, yescrypt passwords. */
#include "autoconfig.h"
#include "token.h"
#include "b64url.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int token_new(char out[TOKEN_CHARS + 1])
{
	unsigned char raw[32];
	if (random_bytes(raw, sizeof raw) < 0)
		return -1;
	(void)b64url_encode(raw, sizeof raw, out, TOKEN_CHARS + 1); /* 43 characters */
	explicit_bzero(raw, sizeof raw);
	return 0;
}

void token_hash(const char *token, char out[TOKEN_HASH_CHARS + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";
	EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[TOKEN_HASH_CHARS] = '\0';
}

int token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}

int token_well_formed(const char *s)
{
	if (!s || strlen(s) != TOKEN_CHARS)
		return 0;
	for (const char *p = s; *p; p++)
		if (!b64url_is_char(*p))
			return 0;
	return 1;
}

int password_hash(const char *password, char **out)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	*out = NULL;
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt))
		return -1;
	/* struct crypt_data is ~32 KiB: keep it off small thread stacks. */
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	char *h = crypt_r(password, salt, cd);
	int rc = -1;
	if (h && h[0] != '*') {
		*out = xstrdup(h);
		rc = 0;
	}
	free(cd);
	return rc;
}

int password_verify(const char *password, const char *hash)
{
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	int ok = 0;
	if (hash && hash[0] == '$') {
		char *h = crypt_r(password, hash, cd);
		ok = h && h[0] != '*' && token_equal(h, hash);
	}
	free(cd);
	return ok;
}
