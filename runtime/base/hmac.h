/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmac.h - SHA-256, HMAC-SHA-256 and constant-time comparison, from
 * OpenSSL's libcrypto (internal).
 *
 * A thin wrapper so that only hmac.c includes OpenSSL: libcrypto is
 * maintained, on every HPC system, uses the CPU's SHA extensions, and has
 * FIPS-validated builds; a home-grown SHA-256 had none of that.  Used to
 * authenticate peers with the job's secret (handshake messages only), and
 * to check checkpoint files (runtime/ft/ckpt_file.c).
 */
#ifndef DSM_BASE_HMAC_H
#define DSM_BASE_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSM_SHA256_LEN 32

/* One piece of a message, so callers need not concatenate. */
struct dsm_iov_c {
	const void *base;
	size_t len;
};

/*
 * HMAC-SHA-256 under key over the concatenation of nparts buffers.
 * 0, or -ENOMEM / -EIO if libcrypto failed; out is then filled with
 * random bytes, never a predictable value, so that a caller that ignores
 * the error still cannot match an attacker's guess.
 */
int dsm_hmac_sha256(const void *key, size_t keylen, const struct dsm_iov_c *parts, int nparts,
		    uint8_t out[DSM_SHA256_LEN]);

/* SHA-256 of len bytes.  0 or -EIO. */
int dsm_sha256(const void *data, size_t len, uint8_t out[DSM_SHA256_LEN]);

/* SHA-256 of data that arrives in pieces (a checkpoint file as it is
 * written).  init: 0 or -ENOMEM; update: 0 or -EIO; final frees the
 * context whatever it returns (0 or -EIO); abort frees it unfinished. */
struct dsm_sha256_ctx {
	void *md;
};
int dsm_sha256_init(struct dsm_sha256_ctx *c);
int dsm_sha256_update(struct dsm_sha256_ctx *c, const void *data, size_t len);
int dsm_sha256_final(struct dsm_sha256_ctx *c, uint8_t out[DSM_SHA256_LEN]);
void dsm_sha256_abort(struct dsm_sha256_ctx *c);

/* Constant-time comparison (CRYPTO_memcmp): true if equal.  Every MAC check uses it. */
bool dsm_memeq_ct(const void *a, const void *b, size_t len);

#endif /* DSM_BASE_HMAC_H */
