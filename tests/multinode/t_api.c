/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_api - API errors, messages and statistics.
 *
 * usage: t_api
 *
 * Checks, on every node:
 *  - before dsm_init: id 0 of 1 node, and the calls that say so answer
 *    -DSM_ENOTINIT;
 *  - a second dsm_init answers -EALREADY;
 *  - bad lock ids give -EINVAL, releasing a lock not held -DSM_ENOTHELD
 *    (an error, not a hang);
 *  - dsm_rollback before any checkpoint answers -DSM_ESTALE_EPOCH and
 *    dsm_restored_epoch() is 0 without DSM_RESTART (tests/ckpt checks
 *    checkpoints themselves); dsm_vclock returns the node count and
 *    -EINVAL for bad arguments;
 *  - dsm_strerror gives a non-empty message, distinct from the others, for
 *    every DSM_E* code and for the -errno codes the API returns;
 *  - dsm_consistency() matches DSM_CONSISTENCY;
 *  - dsm_get_stats counters grow as expected: a read of a page homed on
 *    another node raises read_faults and pages_fetched, a write to one
 *    raises write_faults, lock acquires and barriers are counted, and with
 *    more than one node messages and bytes went both ways.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_api";

static int me, nodes;

static void expect_rc(int got, int want, const char *call)
{
	if (got != want)
		fail("%s returned %d (%s), expected %d (%s)", call, got,
		     dsm_strerror(got), want, dsm_strerror(want));
}

static void test_before_init(void)
{
	struct dsm_stats st;

	if (dsm_node_id() != 0 || dsm_num_nodes() != 1)
		fail("before dsm_init: node %d of %d, expected 0 of 1",
		     dsm_node_id(), dsm_num_nodes());
	expect_rc(dsm_get_stats(&st), -DSM_ENOTINIT, "dsm_get_stats before dsm_init");
	expect_rc(dsm_lock_acquire(0), -DSM_ENOTINIT, "dsm_lock_acquire before dsm_init");
	expect_rc(dsm_lock_release(0), -DSM_ENOTINIT, "dsm_lock_release before dsm_init");
}

static void test_locks(void)
{
	expect_rc(dsm_lock_acquire(DSM_MAX_LOCKS), -EINVAL, "dsm_lock_acquire(DSM_MAX_LOCKS)");
	expect_rc(dsm_lock_acquire(~0u), -EINVAL, "dsm_lock_acquire(UINT_MAX)");
	expect_rc(dsm_lock_release(DSM_MAX_LOCKS), -EINVAL, "dsm_lock_release(DSM_MAX_LOCKS)");

	/* Every node its own lock: no node holds it yet, so releasing is an error. */
	expect_rc(dsm_lock_release(100 + me), -DSM_ENOTHELD, "dsm_lock_release(never acquired)");
	expect_rc(dsm_lock_acquire(100 + me), 0, "dsm_lock_acquire");
	expect_rc(dsm_lock_release(100 + me), 0, "dsm_lock_release");
	expect_rc(dsm_lock_release(100 + me), -DSM_ENOTHELD, "dsm_lock_release(released twice)");
	dsm_barrier();

	/*
	 * A lock held by another node: releasing it here is an error, and
	 * must not take the lock away from its holder.
	 */
	if (nodes > 1) {
		if (me == 0)
			expect_rc(dsm_lock_acquire(99), 0, "dsm_lock_acquire(99)");
		dsm_barrier();
		if (me != 0)
			expect_rc(dsm_lock_release(99), -DSM_ENOTHELD,
				  "dsm_lock_release(held by node 0)");
		dsm_barrier();
		if (me == 0)
			expect_rc(dsm_lock_release(99), 0,
				  "dsm_lock_release(99) by its holder");
		dsm_barrier();
	}
}

/*
 * Checkpoints: only what needs no files (tests/ckpt has the rest).
 * dsm_vclock works (t_vclock checks its semantics): here only its calling
 * convention.
 */
static void test_ckpt_vclock(void)
{
	uint64_t vc[DSM_MAX_NODES], one = ~0ull;

	expect_rc(dsm_rollback(), -DSM_ESTALE_EPOCH, "dsm_rollback before any checkpoint");
	expect_rc(dsm_restored_epoch(), 0, "dsm_restored_epoch");
	expect_rc(dsm_vclock(vc, DSM_MAX_NODES), nodes, "dsm_vclock(vc, DSM_MAX_NODES)");
	expect_rc(dsm_vclock(&one, 1), nodes, "dsm_vclock(vc, 1)");
	expect_rc(dsm_vclock(NULL, 1), -EINVAL, "dsm_vclock(NULL, 1)");
	expect_rc(dsm_vclock(vc, -1), -EINVAL, "dsm_vclock(vc, -1)");
	if (one == ~0ull)
		fail("dsm_vclock(vc, 1) did not fill its one entry");
	dsm_barrier();
}

static void test_strerror(void)
{
	static const int errnos[] = { -ENOMEM, -EINVAL, -EALREADY };
	enum { NCODES = DSM_ERR_MAX - DSM_ENOTSUP + 3 };
	int codes[NCODES];
	char msg[NCODES][256];	/* copies: the answer may live in a reused buffer */
	int n = 0, i, j;

	for (i = DSM_ENOTSUP; i < DSM_ERR_MAX; i++)
		codes[n++] = -i;
	for (i = 0; i < 3; i++)
		codes[n++] = errnos[i];

	for (i = 0; i < n; i++) {
		const char *m = dsm_strerror(codes[i]);

		if (!m || !*m)
			fail("dsm_strerror(%d) is %s", codes[i], m ? "empty" : "NULL");
		snprintf(msg[i], sizeof(msg[i]), "%s", m);
		for (j = 0; j < i; j++)
			if (!strcmp(msg[i], msg[j]))
				fail("dsm_strerror(%d) and dsm_strerror(%d) are both \"%s\"",
				     codes[i], codes[j], msg[i]);
	}
}

static void test_consistency(void)
{
	const char *env = getenv("DSM_CONSISTENCY");
	dsm_consistency_t want;

	if (!env || !*env)
		/*
		 * API.md names release as the default, but sequential is the
		 * only model of this first version and the default for now.
		 */
		want = DSM_SEQUENTIAL;
	else if (!strcmp(env, "sequential"))
		want = DSM_SEQUENTIAL;
	else if (!strcmp(env, "release"))
		want = DSM_RELEASE;
	else if (!strcmp(env, "weak"))
		want = DSM_WEAK;
	else
		fail("dsm_init accepted DSM_CONSISTENCY=%s", env);
	if (dsm_consistency() != want)
		fail("dsm_consistency() = %d with DSM_CONSISTENCY=%s, expected %d",
		     (int)dsm_consistency(), env ? env : "(unset)", (int)want);
}

static void get_stats(struct dsm_stats *st)
{
	int rc = dsm_get_stats(st);

	if (rc)
		fail("dsm_get_stats: %s", dsm_strerror(rc));
}

#define GREW(a, b, field, by)						\
	do {								\
		if ((b).field < (a).field + (by))			\
			fail("stats: %s went from %llu to %llu, expected "	\
			     "at least +%d (%s)", #field,			\
			     (unsigned long long)(a).field,		\
			     (unsigned long long)(b).field, (by), why);	\
	} while (0)

static void test_stats(void)
{
	struct dsm_stats s0, s1, s2;
	volatile uint64_t *pages;
	const char *why;
	size_t ps = dsm_page_size();
	int k, other, w_other;
	uint64_t sum = 0;
	bool first_touch;

	expect_rc(dsm_get_stats(NULL), -EINVAL, "dsm_get_stats(NULL)");

	/*
	 * 2N pages, each written first by its own home node: the fixed map's
	 * (page index modulo N), or under first-touch homes (release and weak
	 * by default) node k % N makes itself page k's home by writing it.
	 */
	first_touch = dsm_consistency() != DSM_SEQUENTIAL &&
		      !(getenv("DSM_HOMES") && !strcmp(getenv("DSM_HOMES"), "static"));
	pages = dsm_alloc_collective(2 * nodes * ps);
	if (!pages)
		fail("dsm_alloc_collective: %s", strerror(errno));
	for (k = 0; k < 2 * nodes; k++)
		if (first_touch ? k % nodes == me : dsm_home_node((char *)pages + k * ps) == me)
			pages[k * ps / 8] = 1000 + k;
	dsm_barrier();

	get_stats(&s0);
	/*
	 * Read one page homed elsewhere that this node has never touched, and
	 * write another one (for N == 1 they are simply this node's pages).
	 */
	other = w_other = -1;
	for (k = 0; k < 2 * nodes; k++) {
		if (dsm_home_node((char *)pages + k * ps) == (me + 1) % nodes) {
			if (other < 0)
				other = k;
			else if (w_other < 0)
				w_other = k;
		}
	}
	if (other < 0 || w_other < 0)
		fail("no two pages homed on node %d among %d", (me + 1) % nodes, 2 * nodes);
	sum += pages[other * ps / 8];
	if (sum != 1000u + other)
		fail("page %d (home %d) reads %llu, expected %d", other,
		     (me + 1) % nodes, (unsigned long long)sum, 1000 + other);
	get_stats(&s1);
	if (nodes > 1) {
		why = "a read of a page homed on another node";
		GREW(s0, s1, read_faults, 1);
		GREW(s0, s1, pages_fetched, 1);
	}

	pages[w_other * ps / 8 + 1 + me] = 7;
	get_stats(&s2);
	if (nodes > 1) {
		why = "a write to a page homed on another node";
		GREW(s1, s2, write_faults, 1);
	}

	why = "3 lock acquires and 2 barriers";
	get_stats(&s0);
	for (k = 0; k < 3; k++) {
		expect_rc(dsm_lock_acquire(200 + k), 0, "dsm_lock_acquire");
		expect_rc(dsm_lock_release(200 + k), 0, "dsm_lock_release");
	}
	dsm_barrier();
	dsm_barrier();
	get_stats(&s1);
	GREW(s0, s1, lock_acquires, 3);
	GREW(s0, s1, barriers, 2);

	if (nodes > 1) {
		why = "traffic with other nodes";
		if (!s1.msgs_sent || !s1.msgs_recv || !s1.bytes_sent || !s1.bytes_recv)
			fail("stats: msgs_sent %llu msgs_recv %llu bytes_sent %llu "
			     "bytes_recv %llu, expected all non-zero on %d nodes",
			     (unsigned long long)s1.msgs_sent,
			     (unsigned long long)s1.msgs_recv,
			     (unsigned long long)s1.bytes_sent,
			     (unsigned long long)s1.bytes_recv, nodes);
		if (s1.bytes_sent < s1.msgs_sent || s1.bytes_recv < s1.msgs_recv)
			fail("stats: fewer bytes than messages (sent %llu/%llu, "
			     "received %llu/%llu)",
			     (unsigned long long)s1.bytes_sent,
			     (unsigned long long)s1.msgs_sent,
			     (unsigned long long)s1.bytes_recv,
			     (unsigned long long)s1.msgs_recv);
		/* The barriers alone are messages: the counters moved. */
		GREW(s0, s1, msgs_sent, 1);
		GREW(s0, s1, msgs_recv, 1);
	}
	dsm_barrier();
}

int main(int argc, char **argv)
{
	int rc;

	test_before_init();

	t_start(&argc, &argv);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	if (me < 0 || me >= nodes || nodes < 1 || nodes > DSM_MAX_NODES)
		fail("dsm_node_id() = %d, dsm_num_nodes() = %d", me, nodes);
	expect_rc(dsm_init(&argc, &argv), -EALREADY, "a second dsm_init");

	test_consistency();
	test_strerror();
	test_locks();
	test_ckpt_vclock();
	test_stats();

	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
