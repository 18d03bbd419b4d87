/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104).
 *
 * Used to authenticate peers with the job's shared secret.  Self-contained
 * so the runtime does not need OpenSSL; speed is not critical because only
 * handshake messages are authenticated.  All functions are reentrant: every
 * bit of state lives in the caller's struct dsm_sha256.
 */
#ifndef DSM_BASE_SHA256_H
#define DSM_BASE_SHA256_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define DSM_SHA256_LEN 32

struct dsm_sha256 {
	uint32_t h[8];		/* chaining state */
	uint64_t nbytes;	/* total bytes hashed so far */
	uint8_t buf[64];	/* partial block not yet compressed */
	size_t buflen;		/* bytes valid in buf, always < 64 */
};

void dsm_sha256_init(struct dsm_sha256 *c);
void dsm_sha256_update(struct dsm_sha256 *c, const void *data, size_t len);
void dsm_sha256_final(struct dsm_sha256 *c, uint8_t out[DSM_SHA256_LEN]);
void dsm_sha256(const void *data, size_t len, uint8_t out[DSM_SHA256_LEN]);

/* HMAC-SHA-256 over the concatenation of nparts buffers (so callers need not build a message) */
struct dsm_iov_c {
	const void *base;
	size_t len;
};

void dsm_hmac_sha256(const void *key, size_t keylen,
		     const struct dsm_iov_c *parts, int nparts,
		     uint8_t out[DSM_SHA256_LEN]);

/* constant-time comparison: true if equal */
bool dsm_memeq_ct(const void *a, const void *b, size_t len);

#endif /* DSM_BASE_SHA256_H */
