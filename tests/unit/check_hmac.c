/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for runtime/base/hmac.c, the wrapper around libcrypto: FIPS
 * 180-4 SHA-256 example vectors, RFC 4231 HMAC-SHA-256 test cases (several
 * parts, as the handshake passes them), and the constant-time comparison.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/hmac.h"

static void hex(const uint8_t *d, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* Compare a digest against its expected hex spelling; failure shows both. */
#define ck_assert_digest(d, exphex)					\
	do {								\
		char got_[2 * DSM_SHA256_LEN + 1];			\
		hex((d), DSM_SHA256_LEN, got_);				\
		ck_assert_str_eq(got_, (exphex));			\
	} while (0)

static void sha_str(const char *s, uint8_t out[DSM_SHA256_LEN])
{
	ck_assert_int_eq(dsm_sha256(s, strlen(s), out), 0);
}

static void hmac1(const void *key, size_t keylen, const void *msg, size_t len,
		  uint8_t out[DSM_SHA256_LEN])
{
	struct dsm_iov_c part = { msg, len };

	ck_assert_int_eq(dsm_hmac_sha256(key, keylen, &part, 1, out), 0);
}

/* ---------- SHA-256 ---------- */

START_TEST(test_sha256_abc)
{
	uint8_t d[DSM_SHA256_LEN];

	sha_str("abc", d);
	ck_assert_digest(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_sha256_empty)
{
	uint8_t d[DSM_SHA256_LEN];

	sha_str("", d);
	ck_assert_digest(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* (NULL, 0) must be accepted as the empty message. */
	ck_assert_int_eq(dsm_sha256(NULL, 0, d), 0);
	ck_assert_digest(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_sha256_448bit)
{
	uint8_t d[DSM_SHA256_LEN];

	sha_str("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", d);
	ck_assert_digest(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(test_sha256_million_a)
{
	const size_t total = 1000000;
	uint8_t d[DSM_SHA256_LEN];
	char *buf = malloc(total);

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'a', total);
	ck_assert_int_eq(dsm_sha256(buf, total, d), 0);
	ck_assert_digest(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(buf);
}
END_TEST

/* Lengths around the 56-byte padding boundary and one/two full blocks. */
START_TEST(test_sha256_padding_edges)
{
	static const struct {
		size_t n;
		const char *hex;
	} v[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
	};
	char a[128];
	uint8_t d[DSM_SHA256_LEN];
	size_t i;

	memset(a, 'a', sizeof(a));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(dsm_sha256(a, v[i].n, d), 0);
		ck_assert_digest(d, v[i].hex);
	}
}
END_TEST

/* Byte-at-a-time and one-shot hashing must agree for every short length. */
/* ---------- HMAC-SHA-256, RFC 4231 ---------- */

START_TEST(test_hmac_rfc4231_1)
{
	uint8_t key[20], d[DSM_SHA256_LEN];

	memset(key, 0x0b, sizeof(key));
	hmac1(key, sizeof(key), "Hi There", 8, d);
	ck_assert_digest(d, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}
END_TEST

START_TEST(test_hmac_rfc4231_2)
{
	static const char msg[] = "what do ya want for nothing?";
	uint8_t d[DSM_SHA256_LEN];

	hmac1("Jefe", 4, msg, strlen(msg), d);
	ck_assert_digest(d, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(test_hmac_rfc4231_3)
{
	uint8_t key[20], msg[50], d[DSM_SHA256_LEN];

	memset(key, 0xaa, sizeof(key));
	memset(msg, 0xdd, sizeof(msg));
	hmac1(key, sizeof(key), msg, sizeof(msg), d);
	ck_assert_digest(d, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}
END_TEST

START_TEST(test_hmac_rfc4231_4)
{
	uint8_t key[25], msg[50], d[DSM_SHA256_LEN];
	size_t i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i + 1);
	memset(msg, 0xcd, sizeof(msg));
	hmac1(key, sizeof(key), msg, sizeof(msg), d);
	ck_assert_digest(d, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}
END_TEST

/* Test cases 6 and 7 use a 131-byte key, longer than the 64-byte block. */
START_TEST(test_hmac_rfc4231_6)
{
	static const char msg[] =
		"Test Using Larger Than Block-Size Key - Hash Key First";
	uint8_t key[131], d[DSM_SHA256_LEN];

	memset(key, 0xaa, sizeof(key));
	hmac1(key, sizeof(key), msg, strlen(msg), d);
	ck_assert_digest(d, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}
END_TEST

START_TEST(test_hmac_rfc4231_7)
{
	static const char msg[] =
		"This is a test using a larger than block-size key and a larger "
		"than block-size data. The key needs to be hashed before being "
		"used by the HMAC algorithm.";
	uint8_t key[131], d[DSM_SHA256_LEN];

	memset(key, 0xaa, sizeof(key));
	hmac1(key, sizeof(key), msg, strlen(msg), d);
	ck_assert_digest(d, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}
END_TEST

/* Empty key and message, and a key of exactly one block (no hashing). */
START_TEST(test_hmac_edge_keys)
{
	uint8_t key[64], d[DSM_SHA256_LEN];

	ck_assert_int_eq(dsm_hmac_sha256(NULL, 0, NULL, 0, d), 0);
	ck_assert_digest(d, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");

	memset(key, 'k', sizeof(key));
	hmac1(key, sizeof(key), "x", 1, d);
	ck_assert_digest(d, "f91c4c403625fb06910ef93999265bbd2d62baeaec6ff36455498cc124fe3e66");
}
END_TEST

START_TEST(test_hmac_parts_equal_concat)
{
	static const char msg[] =
		"This is a test using a larger than block-size key and a larger "
		"than block-size data. The key needs to be hashed before being "
		"used by the HMAC algorithm.";
	const size_t len = strlen(msg);
	uint8_t key[131], whole[DSM_SHA256_LEN], split[DSM_SHA256_LEN];
	struct dsm_iov_c parts[5];

	memset(key, 0xaa, sizeof(key));
	hmac1(key, sizeof(key), msg, len, whole);
	ck_assert_digest(whole, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");

	/* Uneven split, including an empty part with a NULL base. */
	parts[0] = (struct dsm_iov_c){ msg, 5 };
	parts[1] = (struct dsm_iov_c){ NULL, 0 };
	parts[2] = (struct dsm_iov_c){ msg + 5, 64 };
	parts[3] = (struct dsm_iov_c){ msg + 69, 1 };
	parts[4] = (struct dsm_iov_c){ msg + 70, len - 70 };
	ck_assert_int_eq(dsm_hmac_sha256(key, sizeof(key), parts, 5, split), 0);
	ck_assert_mem_eq(whole, split, DSM_SHA256_LEN);

	/* A different split point must not change the result either. */
	parts[0] = (struct dsm_iov_c){ msg, len - 1 };
	parts[1] = (struct dsm_iov_c){ msg + len - 1, 1 };
	ck_assert_int_eq(dsm_hmac_sha256(key, sizeof(key), parts, 2, split), 0);
	ck_assert_mem_eq(whole, split, DSM_SHA256_LEN);

	/* ...but a different key must. */
	key[130] ^= 1;
	ck_assert_int_eq(dsm_hmac_sha256(key, sizeof(key), parts, 2, split), 0);
	ck_assert(memcmp(whole, split, DSM_SHA256_LEN) != 0);
}
END_TEST

/* ---------- dsm_memeq_ct ---------- */

START_TEST(test_memeq_ct)
{
	uint8_t a[DSM_SHA256_LEN], b[DSM_SHA256_LEN];
	size_t i;

	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 7);

	ck_assert(dsm_memeq_ct(a, b, sizeof(a)));
	ck_assert(dsm_memeq_ct(a, b, 0));
	ck_assert(dsm_memeq_ct(NULL, NULL, 0));

	/* A single flipped bit anywhere, including the first and last byte. */
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x80;
		ck_assert(!dsm_memeq_ct(a, b, sizeof(a)));
		b[i] ^= 0x81;
		ck_assert(!dsm_memeq_ct(a, b, sizeof(a)));
		b[i] ^= 0x01;
		ck_assert(dsm_memeq_ct(a, b, sizeof(a)));
	}

	/* Only the first len bytes count. */
	b[sizeof(b) - 1] ^= 0xff;
	ck_assert(dsm_memeq_ct(a, b, sizeof(a) - 1));
	ck_assert(!dsm_memeq_ct(a, b, sizeof(a)));
}
END_TEST

static Suite *hmac_suite(void)
{
	Suite *s = suite_create("hmac");
	TCase *tc;

	tc = tcase_create("sha256");
	tcase_add_test(tc, test_sha256_abc);
	tcase_add_test(tc, test_sha256_empty);
	tcase_add_test(tc, test_sha256_448bit);
	tcase_add_test(tc, test_sha256_million_a);
	tcase_add_test(tc, test_sha256_padding_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("hmac");
	tcase_add_test(tc, test_hmac_rfc4231_1);
	tcase_add_test(tc, test_hmac_rfc4231_2);
	tcase_add_test(tc, test_hmac_rfc4231_3);
	tcase_add_test(tc, test_hmac_rfc4231_4);
	tcase_add_test(tc, test_hmac_rfc4231_6);
	tcase_add_test(tc, test_hmac_rfc4231_7);
	tcase_add_test(tc, test_hmac_edge_keys);
	tcase_add_test(tc, test_hmac_parts_equal_concat);
	suite_add_tcase(s, tc);

	tc = tcase_create("memeq_ct");
	tcase_add_test(tc, test_memeq_ct);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hmac_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
