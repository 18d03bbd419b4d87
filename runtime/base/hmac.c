/* SPDX-License-Identifier: BSD-3-Clause */
/* hmac.c - SHA-256 and HMAC-SHA-256 from libcrypto (see hmac.h). */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "runtime/base/hmac.h"

/*
 * Never leave a failed MAC predictable: if both the expected and the
 * received MAC were, say, all zeros after an error, a check would pass.
 * Two independent random fills cannot match.
 */
static void poison(uint8_t out[DSM_SHA256_LEN])
{
	size_t got = 0;

	while (got < DSM_SHA256_LEN) {
		ssize_t n = getrandom(out + got, DSM_SHA256_LEN - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	/* No randomness at all: still not all zeros, and callers check the
	 * return code before they compare. */
	for (size_t i = got; i < DSM_SHA256_LEN; i++)
		out[i] = (uint8_t)(0xa5 ^ i);
}

int dsm_hmac_sha256(const void *key, size_t keylen, const struct dsm_iov_c *parts, int nparts,
		    uint8_t out[DSM_SHA256_LEN])
{
	static const uint8_t nokey;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t outlen = 0;
	int ok = ctx != NULL;

	/* EVP_MAC_init treats a NULL key as "keep the previous one": give
	 * an empty key a real (zero-length) buffer. */
	ok = ok && EVP_MAC_init(ctx, key ? key : &nokey, keylen, params);
	for (int i = 0; ok && i < nparts; i++)
		ok = EVP_MAC_update(ctx, parts[i].base, parts[i].len);
	ok = ok && EVP_MAC_final(ctx, out, &outlen, DSM_SHA256_LEN) && outlen == DSM_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	if (!ok) {
		poison(out);
		return mac ? -EIO : -ENOMEM;
	}
	return 0;
}

int dsm_sha256(const void *data, size_t len, uint8_t out[DSM_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (!EVP_Digest(data ? data : "", len, out, &outlen, EVP_sha256(), NULL) ||
	    outlen != DSM_SHA256_LEN) {
		poison(out);
		return -EIO;
	}
	return 0;
}

int dsm_sha256_init(struct dsm_sha256_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	c->md = md;
	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		return 0;
	dsm_sha256_abort(c);
	return -ENOMEM;
}

int dsm_sha256_update(struct dsm_sha256_ctx *c, const void *data, size_t len)
{
	return EVP_DigestUpdate(c->md, data, len) ? 0 : -EIO;
}

int dsm_sha256_final(struct dsm_sha256_ctx *c, uint8_t out[DSM_SHA256_LEN])
{
	unsigned int outlen = 0;
	int ok = EVP_DigestFinal_ex(c->md, out, &outlen) && outlen == DSM_SHA256_LEN;

	dsm_sha256_abort(c);
	if (!ok) {
		poison(out);
		return -EIO;
	}
	return 0;
}

void dsm_sha256_abort(struct dsm_sha256_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

bool dsm_memeq_ct(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
