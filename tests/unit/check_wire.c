/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for runtime/transport/wire.c (header validation) and
 * runtime/transport/auth.c (the handshake MACs and nonces).
 *
 * The handshake test mirrors dsm_boot_handshake_initiator() and
 * dsm_boot_hs_advance() in runtime/transport/bootstrap.c argument
 * for argument: if either side changes the order of roles, nonces or ids,
 * the MACs stop agreeing and this test says so before a job does.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "runtime/base/config.h"
#include "runtime/base/hmac.h"
#include "runtime/transport/auth.h"
#include "runtime/transport/wire.h"

/* ---------- dsm_wire_check ---------- */

static struct dsm_wire_hdr good_hdr(void)
{
	struct dsm_wire_hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = DSM_WIRE_MAGIC;
	h.version = DSM_WIRE_VERSION;
	h.type = DSM_WT_RUNTIME;
	h.src = 3;
	h.len = 4096;
	h.aux = 0xffffffffu;
	h.arg0 = ~0ull;
	h.arg1 = 12345;
	return h;
}

START_TEST(test_wire_layout)
{
	/* The header is part of the protocol: its size and magic are fixed. */
	ck_assert_uint_eq(sizeof(struct dsm_wire_hdr), 32);
	ck_assert_mem_eq((const void *)&(uint32_t){ DSM_WIRE_MAGIC },
			 __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? "DSM1" : "1MSD", 4);
}
END_TEST

START_TEST(test_wire_good)
{
	struct dsm_wire_hdr h = good_hdr();

	ck_assert_ptr_null(dsm_wire_check(&h, 3, 4096));
	/* peer < 0: the sender is not known yet (before HELLO), any src goes */
	ck_assert_ptr_null(dsm_wire_check(&h, -1, 4096));
	h.src = 63;
	ck_assert_ptr_null(dsm_wire_check(&h, -1, 4096));
	ck_assert_ptr_null(dsm_wire_check(&h, 63, 4096));
	/* len up to max_len inclusive; an empty payload always fits */
	h.len = 0;
	ck_assert_ptr_null(dsm_wire_check(&h, 63, 0));
}
END_TEST

START_TEST(test_wire_bad_magic_version)
{
	struct dsm_wire_hdr h = good_hdr();

	h.magic = 0;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));
	h.magic = __builtin_bswap32(DSM_WIRE_MAGIC);	/* a byte-swapped peer */
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));
	h.magic = DSM_WIRE_MAGIC ^ 0x80000000u;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));

	h = good_hdr();
	h.version = 0;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));
	h.version = DSM_WIRE_VERSION + 1;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));
	h.version = 0xff;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));

	/* The message names the problem. */
	h = good_hdr();
	h.magic = 1;
	ck_assert_ptr_nonnull(strstr(dsm_wire_check(&h, 3, 4096), "magic"));
	h = good_hdr();
	h.version = 9;
	ck_assert_ptr_nonnull(strstr(dsm_wire_check(&h, 3, 4096), "version"));
}
END_TEST

START_TEST(test_wire_src_mismatch)
{
	struct dsm_wire_hdr h = good_hdr();

	ck_assert_ptr_nonnull(dsm_wire_check(&h, 2, 4096));
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 4, 4096));
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 0, 4096));
	h.src = 0;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));
	ck_assert_ptr_null(dsm_wire_check(&h, 0, 4096));
	h.src = 0xffff;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 63, 4096));
}
END_TEST

/* Every type byte: only the setup range and the runtime range are known. */
START_TEST(test_wire_types)
{
	struct dsm_wire_hdr h = good_hdr();

	for (int t = 0; t < 256; t++) {
		bool known = (t >= DSM_WT_HELLO && t <= DSM_WT_PAGE) ||
			     (t >= DSM_WT_RUNTIME && t < DSM_WT_MAX);
		const char *why;

		h.type = (uint8_t)t;
		why = dsm_wire_check(&h, 3, 4096);
		if (known)
			ck_assert_msg(why == NULL, "type %d rejected: %s", t, why);
		else
			ck_assert_msg(why != NULL, "type %d accepted", t);
	}
	ck_assert_int_eq(DSM_WT_HELLO, 1);
	ck_assert_int_eq(DSM_WT_BYE, 5);
	ck_assert_int_eq(DSM_WT_RUNTIME, 16);
	ck_assert_int_eq(DSM_WT_MAX, 64);
}
END_TEST

START_TEST(test_wire_oversize)
{
	struct dsm_wire_hdr h = good_hdr();

	h.len = 4097;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));
	h.len = 0xffffffffu;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 4096));
	ck_assert_ptr_null(dsm_wire_check(&h, 3, 0xffffffffu));
	h.len = 1;
	ck_assert_ptr_nonnull(dsm_wire_check(&h, 3, 0));
}
END_TEST

/* ---------- dsm_wire_check_stream, dsm_wire_check_page (tcp.c) ---------- */

START_TEST(test_wire_stream)
{
	struct dsm_wire_hdr h = good_hdr(), in;

	/* runtime messages up to max_payload; setup messages refused */
	ck_assert_ptr_null(dsm_wire_check_stream(&h, 3, 4096, 0));
	h.len = 4097;
	ck_assert_ptr_nonnull(dsm_wire_check_stream(&h, 3, 4096, 0));
	h.len = 0;
	h.type = DSM_WT_BYE;
	ck_assert_ptr_null(dsm_wire_check_stream(&h, 3, 4096, 0));
	for (int t = DSM_WT_HELLO; t <= DSM_WT_TABLE; t++) {
		h.type = (uint8_t)t;
		ck_assert_ptr_nonnull(dsm_wire_check_stream(&h, 3, 4096, 1 << 20));
	}
	/* pages: inside the registered memory only, never before it */
	h.type = DSM_WT_PAGE;
	h.len = 32 + 4096;
	h.arg0 = 8192;
	ck_assert_ptr_nonnull(dsm_wire_check_stream(&h, 3, 4096, 0));
	ck_assert_ptr_null(dsm_wire_check_stream(&h, 3, 4096, 3 * 4096));
	h.arg0 = 8193;
	ck_assert_ptr_nonnull(dsm_wire_check_stream(&h, 3, 4096, 3 * 4096));
	h.arg0 = ~0ull - 10;
	ck_assert_ptr_nonnull(dsm_wire_check_stream(&h, 3, 4096, 3 * 4096));
	h.arg0 = 0;
	h.len = 32;
	ck_assert_ptr_nonnull(dsm_wire_check_stream(&h, 3, 4096, 3 * 4096));
	h.len = 32 + 4097;
	ck_assert_ptr_nonnull(dsm_wire_check_stream(&h, 3, 4096, 3 * 4096));

	/* the inner header matches the frame and is a runtime message */
	h.len = 32 + 100;
	in = good_hdr();
	in.len = 100;
	ck_assert_ptr_null(dsm_wire_check_page(&in, &h, 3, 4096));
	in.len = 99;
	ck_assert_ptr_nonnull(dsm_wire_check_page(&in, &h, 3, 4096));
	in.len = 100;
	in.type = DSM_WT_BYE;
	ck_assert_ptr_nonnull(dsm_wire_check_page(&in, &h, 3, 4096));
}
END_TEST

/* ---------- dsm_auth_mac ---------- */

struct auth_case {
	uint8_t secret[DSM_SECRET_LEN];
	uint8_t n1[DSM_NONCE_LEN];
	uint8_t n2[DSM_NONCE_LEN];
};

static void auth_case_init(struct auth_case *c)
{
	for (int i = 0; i < DSM_SECRET_LEN; i++)
		c->secret[i] = (uint8_t)(0x11 * i + 1);
	for (int i = 0; i < DSM_NONCE_LEN; i++) {
		c->n1[i] = (uint8_t)(i * 7 + 3);
		c->n2[i] = (uint8_t)(0xa5 ^ (i * 13));
	}
}

#define MAC_DIFFERS(a, b) ck_assert(memcmp((a), (b), DSM_SHA256_LEN) != 0)

START_TEST(test_auth_mac_deterministic)
{
	struct auth_case c;
	uint8_t m1[DSM_SHA256_LEN], m2[DSM_SHA256_LEN], zero[DSM_SHA256_LEN] = { 0 };

	auth_case_init(&c);
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n1, c.n2, 1, 2, m1);
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n1, c.n2, 1, 2, m2);
	ck_assert_mem_eq(m1, m2, DSM_SHA256_LEN);
	MAC_DIFFERS(m1, zero);
}
END_TEST

/*
 * The MAC is HMAC-SHA-256(secret, label | role | peer nonce | own nonce |
 * self | peer), auth.h.  Recompute it from those bytes laid end to end, so
 * a change of the wire format (which would split mixed-version jobs) is
 * a visible change here.
 */
START_TEST(test_auth_mac_layout)
{
	static const char label[] = "libdsm-auth-v1";
	struct auth_case c;
	uint8_t buf[sizeof(label) + 1 + 2 * DSM_NONCE_LEN + 8], *p = buf;
	uint8_t got[DSM_SHA256_LEN], want[DSM_SHA256_LEN];
	uint32_t self = 5, peer = 9;
	struct dsm_iov_c part = { buf, sizeof(buf) };

	auth_case_init(&c);
	memcpy(p, label, sizeof(label));	/* with its NUL */
	p += sizeof(label);
	*p++ = 'I';
	memcpy(p, c.n1, DSM_NONCE_LEN);
	p += DSM_NONCE_LEN;
	memcpy(p, c.n2, DSM_NONCE_LEN);
	p += DSM_NONCE_LEN;
	memcpy(p, &self, 4);
	p += 4;
	memcpy(p, &peer, 4);
	p += 4;
	ck_assert_uint_eq((size_t)(p - buf), sizeof(buf));
	dsm_hmac_sha256(c.secret, DSM_SECRET_LEN, &part, 1, want);

	dsm_auth_mac(c.secret, DSM_AUTH_INITIATOR, c.n1, c.n2, self, peer, got);
	ck_assert_mem_eq(got, want, DSM_SHA256_LEN);
}
END_TEST

START_TEST(test_auth_mac_binds_everything)
{
	struct auth_case c, d;
	uint8_t base[DSM_SHA256_LEN], m[DSM_SHA256_LEN];

	auth_case_init(&c);
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n1, c.n2, 1, 2, base);

	/* the role: an acceptor's MAC never passes as an initiator's */
	dsm_auth_mac(c.secret, DSM_AUTH_INITIATOR, c.n1, c.n2, 1, 2, m);
	MAC_DIFFERS(base, m);

	/* either nonce, in any single bit */
	for (int bit = 0; bit < 8 * DSM_NONCE_LEN; bit += 37) {
		d = c;
		d.n1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		dsm_auth_mac(d.secret, DSM_AUTH_ACCEPTOR, d.n1, d.n2, 1, 2, m);
		MAC_DIFFERS(base, m);
		d = c;
		d.n2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		dsm_auth_mac(d.secret, DSM_AUTH_ACCEPTOR, d.n1, d.n2, 1, 2, m);
		MAC_DIFFERS(base, m);
	}
	/* the nonces' order: peer's then own */
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n2, c.n1, 1, 2, m);
	MAC_DIFFERS(base, m);

	/* either id, and their order */
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n1, c.n2, 0, 2, m);
	MAC_DIFFERS(base, m);
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n1, c.n2, 1, 3, m);
	MAC_DIFFERS(base, m);
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n1, c.n2, 2, 1, m);
	MAC_DIFFERS(base, m);
	dsm_auth_mac(c.secret, DSM_AUTH_ACCEPTOR, c.n1, c.n2, 1 + (1u << 16), 2, m);
	MAC_DIFFERS(base, m);

	/* the secret, in its first and last byte */
	d = c;
	d.secret[0] ^= 1;
	dsm_auth_mac(d.secret, DSM_AUTH_ACCEPTOR, d.n1, d.n2, 1, 2, m);
	MAC_DIFFERS(base, m);
	d = c;
	d.secret[DSM_SECRET_LEN - 1] ^= 0x80;
	dsm_auth_mac(d.secret, DSM_AUTH_ACCEPTOR, d.n1, d.n2, 1, 2, m);
	MAC_DIFFERS(base, m);
}
END_TEST

/*
 * One handshake between initiator node I and acceptor node A, with the
 * exact calls of bootstrap.c:
 *
 *   acceptor sends   mac(ACCEPTOR,  theirs=Ni, mine=Na, self=A, src=I)
 *   initiator checks mac(ACCEPTOR,  mine=Ni, theirs=Na, peer=A, self=I)
 *   initiator sends  mac(INITIATOR, theirs=Na, mine=Ni, self=I, peer=A)
 *   acceptor checks  mac(INITIATOR, mine=Na, theirs=Ni, src=I, self=A)
 */
struct side {
	uint32_t self;
	uint8_t nonce[DSM_NONCE_LEN];
	uint8_t secret[DSM_SECRET_LEN];
};

static void acceptor_reply(const struct side *a, const uint8_t ni[DSM_NONCE_LEN], uint32_t src,
			   uint8_t out[DSM_SHA256_LEN])
{
	dsm_auth_mac(a->secret, DSM_AUTH_ACCEPTOR, ni, a->nonce, a->self, src, out);
}

static void initiator_expect(const struct side *i, const uint8_t na[DSM_NONCE_LEN], uint32_t peer,
			     uint8_t out[DSM_SHA256_LEN])
{
	dsm_auth_mac(i->secret, DSM_AUTH_ACCEPTOR, i->nonce, na, peer, i->self, out);
}

static void initiator_auth(const struct side *i, const uint8_t na[DSM_NONCE_LEN], uint32_t peer,
			   uint8_t out[DSM_SHA256_LEN])
{
	dsm_auth_mac(i->secret, DSM_AUTH_INITIATOR, na, i->nonce, i->self, peer, out);
}

static void acceptor_expect(const struct side *a, const uint8_t ni[DSM_NONCE_LEN], uint32_t src,
			    uint8_t out[DSM_SHA256_LEN])
{
	dsm_auth_mac(a->secret, DSM_AUTH_INITIATOR, a->nonce, ni, src, a->self, out);
}

static void sides_init(struct side *ini, struct side *acc, uint32_t ini_id, uint32_t acc_id)
{
	memset(ini, 0, sizeof(*ini));
	memset(acc, 0, sizeof(*acc));
	ini->self = ini_id;
	acc->self = acc_id;
	for (int k = 0; k < DSM_SECRET_LEN; k++)
		ini->secret[k] = acc->secret[k] = (uint8_t)(k * 29 + 5);
	ck_assert_int_eq(dsm_auth_nonce(ini->nonce), 0);
	ck_assert_int_eq(dsm_auth_nonce(acc->nonce), 0);
}

START_TEST(test_auth_handshake_agrees)
{
	static const uint32_t pairs[][2] = { { 1, 0 }, { 0, 1 }, { 3, 7 }, { 63, 62 } };

	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		struct side ini, acc;
		uint8_t sent[DSM_SHA256_LEN], want[DSM_SHA256_LEN];
		uint8_t auth[DSM_SHA256_LEN], check[DSM_SHA256_LEN];

		sides_init(&ini, &acc, pairs[k][0], pairs[k][1]);

		acceptor_reply(&acc, ini.nonce, ini.self, sent);
		initiator_expect(&ini, acc.nonce, acc.self, want);
		ck_assert_msg(!memcmp(sent, want, DSM_SHA256_LEN),
			      "%u->%u: initiator rejects an honest acceptor", ini.self, acc.self);

		initiator_auth(&ini, acc.nonce, acc.self, auth);
		acceptor_expect(&acc, ini.nonce, ini.self, check);
		ck_assert_msg(!memcmp(auth, check, DSM_SHA256_LEN),
			      "%u->%u: acceptor rejects an honest initiator", ini.self, acc.self);

		/* The two directions' MACs differ: reflecting one never works. */
		MAC_DIFFERS(sent, auth);
	}
}
END_TEST

START_TEST(test_auth_handshake_rejects)
{
	struct side ini, acc, other;
	uint8_t sent[DSM_SHA256_LEN], want[DSM_SHA256_LEN];
	uint8_t auth[DSM_SHA256_LEN], check[DSM_SHA256_LEN];

	/* A stranger with another secret fails both checks. */
	sides_init(&ini, &acc, 2, 0);
	acc.secret[7] ^= 0x40;
	acceptor_reply(&acc, ini.nonce, ini.self, sent);
	initiator_expect(&ini, acc.nonce, acc.self, want);
	MAC_DIFFERS(sent, want);
	initiator_auth(&ini, acc.nonce, acc.self, auth);
	acceptor_expect(&acc, ini.nonce, ini.self, check);
	MAC_DIFFERS(auth, check);

	/* A MAC made for node 1 does not pass at node 3. */
	sides_init(&ini, &acc, 2, 1);
	acceptor_reply(&acc, ini.nonce, ini.self, sent);
	initiator_expect(&ini, acc.nonce, 3, want);
	MAC_DIFFERS(sent, want);

	/* A reply replayed from an earlier session (other nonces) fails. */
	sides_init(&ini, &acc, 2, 1);
	other = acc;
	ck_assert_int_eq(dsm_auth_nonce(other.nonce), 0);
	acceptor_reply(&other, ini.nonce, ini.self, sent);
	initiator_expect(&ini, acc.nonce, acc.self, want);
	MAC_DIFFERS(sent, want);

	/*
	 * Reflection: the acceptor's own reply sent back as the initiator's
	 * AUTH fails, and so does the initiator's AUTH offered as a reply.
	 */
	sides_init(&ini, &acc, 2, 1);
	acceptor_reply(&acc, ini.nonce, ini.self, sent);
	acceptor_expect(&acc, ini.nonce, ini.self, check);
	MAC_DIFFERS(sent, check);
	initiator_auth(&ini, acc.nonce, acc.self, auth);
	initiator_expect(&ini, acc.nonce, acc.self, want);
	MAC_DIFFERS(auth, want);
}
END_TEST

/* ---------- dsm_auth_nonce ---------- */

START_TEST(test_auth_nonce)
{
	uint8_t a[DSM_NONCE_LEN], b[DSM_NONCE_LEN], seen[16][DSM_NONCE_LEN];
	int same_a = 0, same_b = 0;

	memset(a, 0xcc, sizeof(a));
	memset(b, 0xcc, sizeof(b));
	ck_assert_int_eq(dsm_auth_nonce(a), 0);
	ck_assert_int_eq(dsm_auth_nonce(b), 0);
	ck_assert(memcmp(a, b, DSM_NONCE_LEN) != 0);

	/* Every byte written: few can keep the fill by chance (1 in 256 each). */
	for (int i = 0; i < DSM_NONCE_LEN; i++) {
		same_a += a[i] == 0xcc;
		same_b += b[i] == 0xcc;
	}
	ck_assert_int_lt(same_a, 6);
	ck_assert_int_lt(same_b, 6);

	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(dsm_auth_nonce(seen[i]), 0);
		for (int j = 0; j < i; j++)
			ck_assert(memcmp(seen[i], seen[j], DSM_NONCE_LEN) != 0);
	}
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("wire");
	tcase_add_test(tc, test_wire_layout);
	tcase_add_test(tc, test_wire_good);
	tcase_add_test(tc, test_wire_bad_magic_version);
	tcase_add_test(tc, test_wire_src_mismatch);
	tcase_add_test(tc, test_wire_types);
	tcase_add_test(tc, test_wire_oversize);
	tcase_add_test(tc, test_wire_stream);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_add_test(tc, test_auth_mac_deterministic);
	tcase_add_test(tc, test_auth_mac_layout);
	tcase_add_test(tc, test_auth_mac_binds_everything);
	tcase_add_test(tc, test_auth_handshake_agrees);
	tcase_add_test(tc, test_auth_handshake_rejects);
	tcase_add_test(tc, test_auth_nonce);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
