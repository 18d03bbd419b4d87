/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the acceptor's side of the connection handshake
 * (runtime/transport/bootstrap.c): the parser fed byte by byte, and
 * dsm_boot_accept() on a real listener with strangers on it.  The same
 * accept loop serves node 0's bootstrap port and every node's TCP data
 * listener, so this covers both.
 *
 * The bound (bootstrap.h): handshakes run side by side, each for at most
 * DSM_BOOT_HANDSHAKE_MS, and at most DSM_BOOT_MAX_PENDING at once.  So a
 * real node that comes after 64 silent strangers must be accepted in far
 * less than one handshake deadline.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/config.h"
#include "runtime/transport/bootstrap.h"

#define SECRET_A "000102030405060708090a0b0c0d0e0f" "f0e1d2c3b4a5968778695a4b3c2d1e0f"
#define SECRET_B "100102030405060708090a0b0c0d0e0f" "f0e1d2c3b4a5968778695a4b3c2d1e0f"

struct var {
	const char *name;
	const char *val;
};

static const char *table_get(const char *name, void *ctx)
{
	for (const struct var *v = ctx; v->name; v++)
		if (!strcmp(v->name, name))
			return v->val;
	return NULL;
}

static void make_cfg(struct dsm_config *cfg, const char *id, const char *secret)
{
	const struct var vars[] = {
		{ "DSM_NODE_ID", id }, { "DSM_NUM_NODES", "2" },
		{ "DSM_ROOT_ADDR", "127.0.0.1:1" }, { "DSM_JOB_SECRET", secret },
		{ "DSM_LOG", "error" }, { NULL, NULL },
	};

	ck_assert_int_eq(dsm_config_parse(cfg, table_get, (void *)vars), 0);
}

static void make_boot(struct dsm_boot *b, const struct dsm_config *cfg, int self,
		      unsigned int timeout_ms)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->self = self;
	b->nnodes = 2;
	b->deadline_ns = dsm_now_ns() + timeout_ms * 1000000ull;
	for (int i = 0; i < DSM_MAX_NODES; i++)
		b->fd[i] = -1;
}

/* ---------- the parser, without sockets ---------- */

/* Feed len bytes as the fuzz target does; the last advance's result. */
static int feed(const struct dsm_boot *b, struct dsm_boot_hs *hs, const void *data, size_t len,
		const int *fds, const char **why)
{
	const char *p = data;
	int ret = 0;

	while (len && ret == 0) {
		size_t want, n;
		void *buf;

		dsm_boot_hs_want(hs, &buf, &want);
		n = len < want ? len : want;
		memcpy(buf, p, n);
		ret = dsm_boot_hs_advance(b, hs, n, 1, 1, fds, why);
		p += n;
		len -= n;
	}
	return ret;
}

static void hello_frame(const struct dsm_config *cfg, uint16_t src, uint32_t dst, void *out)
{
	struct {
		struct dsm_wire_hdr h;
		struct dsm_hello hello;
	} f;

	memset(&f, 0, sizeof(f));
	f.h = (struct dsm_wire_hdr){ .magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION,
				     .type = DSM_WT_HELLO, .src = src, .len = sizeof(f.hello) };
	f.hello.dst = dst;
	dsm_config_settings(cfg, &f.hello.settings);
	memcpy(out, &f, sizeof(f));
}

START_TEST(test_parser_hello_then_bad_auth)
{
	struct dsm_config cfg;
	struct dsm_boot b;
	struct dsm_boot_hs hs;
	int fds[DSM_MAX_NODES];
	char frame[sizeof(struct dsm_wire_hdr) + sizeof(struct dsm_hello)];
	struct {
		struct dsm_wire_hdr h;
		uint8_t mac[DSM_SHA256_LEN];
	} auth;
	const char *why = NULL;

	memset(fds, -1, sizeof(fds));
	make_cfg(&cfg, "0", SECRET_A);
	make_boot(&b, &cfg, 0, 10000);
	dsm_boot_hs_init(&hs, -1, 0);
	hello_frame(&cfg, 1, 0, frame);
	/* One byte at a time: a split frame is the same frame. */
	for (size_t i = 0; i < sizeof(frame); i++)
		ck_assert_int_eq(feed(&b, &hs, frame + i, 1, fds, &why), 0);
	ck_assert_int_eq(hs.state, DSM_HS_AUTH_HDR);
	ck_assert_uint_eq(hs.out_len, sizeof(hs.out));
	ck_assert_int_eq(hs.out.hdr.type, DSM_WT_HELLO);
	ck_assert_int_eq(hs.src, 1);

	memset(&auth, 0x5a, sizeof(auth));
	auth.h = (struct dsm_wire_hdr){ .magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION,
					.type = DSM_WT_AUTH, .src = 1, .len = DSM_SHA256_LEN };
	ck_assert_int_eq(feed(&b, &hs, &auth, sizeof(auth), fds, &why), -EACCES);
	ck_assert_ptr_nonnull(strstr(why, "secret"));
}
END_TEST

START_TEST(test_parser_rejects_early)
{
	struct dsm_config cfg;
	struct dsm_boot b;
	struct dsm_boot_hs hs;
	int fds[DSM_MAX_NODES];
	char frame[sizeof(struct dsm_wire_hdr) + sizeof(struct dsm_hello)];
	const char *why = NULL;
	struct dsm_wire_hdr *h = (void *)frame;

	memset(fds, -1, sizeof(fds));
	make_cfg(&cfg, "0", SECRET_A);
	make_boot(&b, &cfg, 0, 10000);

	/* Garbage: refused after its first 32 bytes, no reply. */
	memset(frame, 'G', sizeof(frame));
	dsm_boot_hs_init(&hs, -1, 0);
	ck_assert_int_eq(feed(&b, &hs, frame, sizeof(frame), fds, &why), -EACCES);
	ck_assert_uint_eq(hs.got, sizeof(*h));
	ck_assert_uint_eq(hs.out_len, 0);

	/* A node id outside [lo, hi], one connected already, a wrong type,
	 * a wrong length, a HELLO meant for another node. */
	hello_frame(&cfg, 5, 0, frame);
	dsm_boot_hs_init(&hs, -1, 0);
	ck_assert_int_eq(feed(&b, &hs, frame, sizeof(frame), fds, &why), -EACCES);
	hello_frame(&cfg, 1, 0, frame);
	fds[1] = 99;
	dsm_boot_hs_init(&hs, -1, 0);
	ck_assert_int_eq(feed(&b, &hs, frame, sizeof(frame), fds, &why), -EACCES);
	fds[1] = -1;
	h->type = DSM_WT_AUTH;
	dsm_boot_hs_init(&hs, -1, 0);
	ck_assert_int_eq(feed(&b, &hs, frame, sizeof(frame), fds, &why), -EACCES);
	hello_frame(&cfg, 1, 0, frame);
	h->len -= 1;
	dsm_boot_hs_init(&hs, -1, 0);
	ck_assert_int_eq(feed(&b, &hs, frame, sizeof(frame), fds, &why), -EACCES);
	hello_frame(&cfg, 1, 7, frame);
	dsm_boot_hs_init(&hs, -1, 0);
	ck_assert_int_eq(feed(&b, &hs, frame, sizeof(frame), fds, &why), -EACCES);
	ck_assert_uint_eq(hs.out_len, 0);
}
END_TEST

/* ---------- dsm_boot_accept with strangers ---------- */

struct initiator {
	char addr[80];
	const char *secret;
	int ret;
};

/* The real node 1: connect, then the initiator's handshake. */
static void *initiator_main(void *arg)
{
	struct initiator *in = arg;
	struct dsm_config cfg;
	struct dsm_boot b;
	int fd;

	make_cfg(&cfg, "1", in->secret);
	make_boot(&b, &cfg, 1, 10000);
	fd = dsm_boot_connect(&b, in->addr);
	in->ret = fd < 0 ? fd : dsm_boot_handshake_initiator(&b, fd, 0, in->addr);
	if (fd >= 0 && in->ret < 0)
		close(fd);
	/* fd stays open on success: the acceptor owns its end */
	return NULL;
}

static int stranger(const char *addr, const struct dsm_boot *b)
{
	int fd = dsm_boot_connect(b, addr);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* A stranger that reads our HELLO and answers with a MAC under another secret. */
static int forger(const char *addr, const struct dsm_boot *b0)
{
	struct dsm_config cfg;
	char frame[sizeof(struct dsm_wire_hdr) + sizeof(struct dsm_hello)];
	struct {
		struct dsm_wire_hdr h;
		uint8_t mac[DSM_SHA256_LEN];
	} auth;
	int fd = stranger(addr, b0);

	make_cfg(&cfg, "1", SECRET_B);
	hello_frame(&cfg, 1, 0, frame);
	ck_assert_int_eq(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	memset(&auth, 0, sizeof(auth));
	auth.h = (struct dsm_wire_hdr){ .magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION,
					.type = DSM_WT_AUTH, .src = 1, .len = DSM_SHA256_LEN };
	ck_assert_int_eq(write(fd, &auth, sizeof(auth)), (ssize_t)sizeof(auth));
	return fd;
}

/*
 * Bytes the acceptor sent before it closed (a reset counts: closing with
 * unread garbage sends one); -1 if it still holds the connection.
 */
static ssize_t drained_until_close(int fd)
{
	char buf[4096];
	ssize_t n, total = 0;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += n;
	return n == 0 || errno == ECONNRESET ? total : -1;
}

START_TEST(test_accept_despite_strangers)
{
	struct dsm_config cfg;
	struct dsm_boot b;
	struct initiator in = { .secret = SECRET_A };
	int fds[DSM_MAX_NODES], silent[64], lfd, partial, garbage, forged, ret;
	char frame[sizeof(struct dsm_wire_hdr) + sizeof(struct dsm_hello)];
	pthread_t th;
	uint64_t t0;

	memset(fds, -1, sizeof(fds));
	make_cfg(&cfg, "0", SECRET_A);
	make_boot(&b, &cfg, 0, 20000);
	lfd = dsm_boot_listen("127.0.0.1", "0", false);
	ck_assert_int_ge(lfd, 0);
	dsm_boot_listener_addr(lfd, in.addr, sizeof(in.addr));

	/* Strangers first in the backlog: 64 silent (twice the cap), one
	 * that stops half-way through its HELLO, garbage, a forged MAC. */
	for (int i = 0; i < 64; i++)
		silent[i] = stranger(in.addr, &b);
	partial = stranger(in.addr, &b);
	hello_frame(&cfg, 1, 0, frame);
	ck_assert_int_eq(write(partial, frame, 50), 50);
	garbage = stranger(in.addr, &b);
	memset(frame, 0xee, sizeof(frame));
	ck_assert_int_eq(write(garbage, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	forged = forger(in.addr, &b);

	t0 = dsm_now_ns();
	ck_assert_int_eq(pthread_create(&th, NULL, initiator_main, &in), 0);
	ret = dsm_boot_accept(&b, lfd, 1, 1, fds);
	pthread_join(th, NULL);
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(in.ret, 0);
	ck_assert_int_ge(fds[1], 0);
	/* Nobody waited for a stranger's deadline. */
	ck_assert_msg(dsm_now_ns() - t0 < DSM_BOOT_HANDSHAKE_MS * 1000000ull / 2,
		      "node 1 waited %llu ms behind strangers",
		      (unsigned long long)((dsm_now_ns() - t0) / 1000000));
	/* Garbage got no answer; the forger got our HELLO and then was closed. */
	ck_assert_int_eq(drained_until_close(garbage), 0);
	ck_assert_int_eq(drained_until_close(forged),
			 (ssize_t)(sizeof(struct dsm_wire_hdr) + sizeof(struct dsm_hello)));
	/* Everything still pending is closed when accept returns. */
	ck_assert_int_ge(drained_until_close(partial), 0);
	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(drained_until_close(silent[i]), 0);
		close(silent[i]);
	}
	close(partial);
	close(garbage);
	close(forged);
	close(fds[1]);
	close(lfd);
}
END_TEST

/* A silent stranger is dropped at its deadline, and the job's own deadline still holds. */
START_TEST(test_accept_deadlines)
{
	struct dsm_config cfg;
	struct dsm_boot b;
	int fds[DSM_MAX_NODES], lfd, s;
	char addr[80];
	uint64_t t0 = dsm_now_ns();

	memset(fds, -1, sizeof(fds));
	make_cfg(&cfg, "0", SECRET_A);
	make_boot(&b, &cfg, 0, DSM_BOOT_HANDSHAKE_MS + 1500);
	lfd = dsm_boot_listen("127.0.0.1", "0", false);
	ck_assert_int_ge(lfd, 0);
	dsm_boot_listener_addr(lfd, addr, sizeof(addr));
	s = stranger(addr, &b);
	ck_assert_int_eq(dsm_boot_accept(&b, lfd, 1, 1, fds), -DSM_ETIMEDOUT);
	ck_assert_uint_ge(dsm_now_ns() - t0, (DSM_BOOT_HANDSHAKE_MS + 1000) * 1000000ull);
	ck_assert_int_eq(drained_until_close(s), 0);
	close(s);
	close(lfd);
}
END_TEST

static Suite *handshake_suite(void)
{
	Suite *s = suite_create("handshake");
	TCase *tc = tcase_create("parser");

	tcase_add_test(tc, test_parser_hello_then_bad_auth);
	tcase_add_test(tc, test_parser_rejects_early);
	suite_add_tcase(s, tc);
	tc = tcase_create("accept");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_accept_despite_strangers);
	tcase_add_test(tc, test_accept_deadlines);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(handshake_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
