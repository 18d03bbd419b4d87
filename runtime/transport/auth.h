/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * auth.h - proving knowledge of the job's secret without sending it.
 *
 * Challenge-response on every connection: each side sends a fresh random
 * nonce; each answers with HMAC-SHA-256(secret, label | role | the other's
 * nonce | its own nonce | its id | the other's id).  Binding both nonces and
 * both ids stops replays and reflection of a MAC to its sender.
 */
#ifndef DSM_TRANSPORT_AUTH_H
#define DSM_TRANSPORT_AUTH_H

#include <stdint.h>

#include "runtime/base/config.h"
#include "runtime/base/hmac.h"

#define DSM_NONCE_LEN 32

enum dsm_auth_role { DSM_AUTH_ACCEPTOR = 'A', DSM_AUTH_INITIATOR = 'I' };

struct dsm_hello {
	uint8_t nonce[DSM_NONCE_LEN];
	uint32_t dst;			/* the node the sender believes it talks to */
	uint32_t reserved;
	uint8_t mac[DSM_SHA256_LEN];	/* acceptor's reply only; zero otherwise */
	struct dsm_job_settings settings;	/* must equal the receiver's */
};

/* The MAC one side sends.  0, or a negative code if libcrypto failed (out
 * is then random, so it matches nothing). */
int dsm_auth_mac(const uint8_t secret[DSM_SECRET_LEN], enum dsm_auth_role role,
		 const uint8_t peer_nonce[DSM_NONCE_LEN], const uint8_t own_nonce[DSM_NONCE_LEN],
		 uint32_t self, uint32_t peer, uint8_t out[DSM_SHA256_LEN]);

/* Fill a nonce from getrandom(2).  0 or -errno. */
int dsm_auth_nonce(uint8_t nonce[DSM_NONCE_LEN]);

#endif /* DSM_TRANSPORT_AUTH_H */
