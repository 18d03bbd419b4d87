/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104).
 *
 * A plain, portable implementation: loads and stores are done byte by byte
 * in big-endian order so the code is correct on any host endianness and
 * never makes unaligned accesses.  Only handshake messages are hashed, so
 * clarity wins over speed here.
 */
#include "sha256.h"

#include <string.h>

#define SHA256_BLOCK 64

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
	store_be32(p, (uint32_t)(v >> 32));
	store_be32(p + 4, (uint32_t)v);
}

/*
 * Wipe secrets (key pads, intermediate digests) through a volatile pointer
 * so the compiler cannot drop the stores as dead.  explicit_bzero() would
 * do, but it is not in every libc we may be built against.
 */
static void secure_wipe(void *p, size_t len)
{
	volatile uint8_t *vp = p;

	while (len--)
		*vp++ = 0;
}

static void sha256_compress(uint32_t h[8], const uint8_t block[SHA256_BLOCK])
{
	uint32_t w[64];
	uint32_t a, b, c, d, e, f, g, hh;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = load_be32(block + 4 * i);
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			      (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			      (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}

	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];

	for (i = 0; i < 64; i++) {
		uint32_t S1 = ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + S1 + ch + K[i] + w[i];
		uint32_t S0 = ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;

		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}

	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;

	/* The schedule is derived from (possibly keyed) input. */
	secure_wipe(w, sizeof(w));
}

void dsm_sha256_init(struct dsm_sha256 *c)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, iv, sizeof(iv));
	c->nbytes = 0;
	c->buflen = 0;
}

void dsm_sha256_update(struct dsm_sha256 *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	/* Guard here so callers may pass (NULL, 0); memcpy(NULL) is UB. */
	if (len == 0)
		return;

	c->nbytes += len;

	/* Top up a partially filled block first. */
	if (c->buflen) {
		size_t n = SHA256_BLOCK - c->buflen;

		if (n > len)
			n = len;
		memcpy(c->buf + c->buflen, p, n);
		c->buflen += n;
		p += n;
		len -= n;
		if (c->buflen < SHA256_BLOCK)
			return;
		sha256_compress(c->h, c->buf);
		c->buflen = 0;
	}

	/* Whole blocks straight from the caller's buffer, no copy. */
	while (len >= SHA256_BLOCK) {
		sha256_compress(c->h, p);
		p += SHA256_BLOCK;
		len -= SHA256_BLOCK;
	}

	if (len) {
		memcpy(c->buf, p, len);
		c->buflen = len;
	}
}

void dsm_sha256_final(struct dsm_sha256 *c, uint8_t out[DSM_SHA256_LEN])
{
	/* Length must be captured before padding is appended. */
	uint64_t nbits = c->nbytes << 3;
	int i;

	c->buf[c->buflen++] = 0x80;
	if (c->buflen > SHA256_BLOCK - 8) {
		/* No room for the length: pad out this block and start another. */
		memset(c->buf + c->buflen, 0, SHA256_BLOCK - c->buflen);
		sha256_compress(c->h, c->buf);
		c->buflen = 0;
	}
	memset(c->buf + c->buflen, 0, SHA256_BLOCK - 8 - c->buflen);
	store_be64(c->buf + SHA256_BLOCK - 8, nbits);
	sha256_compress(c->h, c->buf);

	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);

	/* The context may have held key material (HMAC); leave nothing behind. */
	secure_wipe(c, sizeof(*c));
}

void dsm_sha256(const void *data, size_t len, uint8_t out[DSM_SHA256_LEN])
{
	struct dsm_sha256 c;

	dsm_sha256_init(&c);
	dsm_sha256_update(&c, data, len);
	dsm_sha256_final(&c, out);
}

void dsm_hmac_sha256(const void *key, size_t keylen,
		     const struct dsm_iov_c *parts, int nparts,
		     uint8_t out[DSM_SHA256_LEN])
{
	uint8_t k[SHA256_BLOCK];
	uint8_t pad[SHA256_BLOCK];
	uint8_t inner[DSM_SHA256_LEN];
	struct dsm_sha256 c;
	int i;

	/* RFC 2104: keys longer than a block are replaced by their hash. */
	memset(k, 0, sizeof(k));
	if (keylen > SHA256_BLOCK)
		dsm_sha256(key, keylen, k);
	else if (keylen)
		memcpy(k, key, keylen);

	/* inner = H((K ^ ipad) || m) */
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	dsm_sha256_init(&c);
	dsm_sha256_update(&c, pad, sizeof(pad));
	for (i = 0; i < nparts; i++)
		dsm_sha256_update(&c, parts[i].base, parts[i].len);
	dsm_sha256_final(&c, inner);

	/* out = H((K ^ opad) || inner) */
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	dsm_sha256_init(&c);
	dsm_sha256_update(&c, pad, sizeof(pad));
	dsm_sha256_update(&c, inner, sizeof(inner));
	dsm_sha256_final(&c, out);

	secure_wipe(k, sizeof(k));
	secure_wipe(pad, sizeof(pad));
	secure_wipe(inner, sizeof(inner));
}

bool dsm_memeq_ct(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *pa = a;
	const volatile uint8_t *pb = b;
	uint8_t diff = 0;
	size_t i;

	/*
	 * Touch every byte regardless of where the first mismatch is, so the
	 * running time does not tell an attacker how much of a forged MAC
	 * was right.  The volatile reads keep the compiler from turning this
	 * back into an early-exit loop.
	 */
	for (i = 0; i < len; i++)
		diff |= pa[i] ^ pb[i];

	return diff == 0;
}
