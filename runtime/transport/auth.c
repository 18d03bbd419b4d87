/* SPDX-License-Identifier: BSD-3-Clause */
/* auth.c - MACs for the connection handshake (see auth.h). */
#include <errno.h>
#include <sys/random.h>

#include "runtime/transport/auth.h"

int dsm_auth_mac(const uint8_t secret[DSM_SECRET_LEN], enum dsm_auth_role role,
		 const uint8_t peer_nonce[DSM_NONCE_LEN], const uint8_t own_nonce[DSM_NONCE_LEN],
		 uint32_t self, uint32_t peer, uint8_t out[DSM_SHA256_LEN])
{
	static const char label[] = "libdsm-auth-v1";
	uint8_t r = (uint8_t)role;
	struct dsm_iov_c parts[] = {
		{ label, sizeof(label) },
		{ &r, 1 },
		{ peer_nonce, DSM_NONCE_LEN },
		{ own_nonce, DSM_NONCE_LEN },
		{ &self, sizeof(self) },
		{ &peer, sizeof(peer) },
	};

	return dsm_hmac_sha256(secret, DSM_SECRET_LEN, parts, 6, out);
}

int dsm_auth_nonce(uint8_t nonce[DSM_NONCE_LEN])
{
	size_t got = 0;

	while (got < DSM_NONCE_LEN) {
		ssize_t n = getrandom(nonce + got, DSM_NONCE_LEN - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}
