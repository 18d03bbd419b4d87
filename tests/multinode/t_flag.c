/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_flag - publish a buffer with a plain store (sequential consistency only).
 *
 * usage: t_flag [PAGES [ROUNDS]]
 *
 * In round r the writer (node r % N) fills a buffer of PAGES pages with a
 * pattern that depends on r, then stores r into a volatile flag: no lock,
 * no barrier, no fence.  Every other node spins on the flag and, as soon as
 * it reads r, must see the whole buffer of round r.  Under sequential
 * consistency this is guaranteed ("a flag spin-loop works", API.md); under
 * release or weak it is a data race, so the program exits 77 there.
 *
 * Rounds are chained with plain stores too: each node, once done with round
 * r, stores r into its own ack word, and the writer of round r+1 waits for
 * every ack before it overwrites the buffer.  Only one dsm_barrier, at the
 * end, so the test really exercises synchronization through memory.
 *
 * Exit 0 on success, 77 when not under sequential consistency, 1 with one
 * line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_flag";

/* A spin that has not seen its value after this long is a failure, not a hang. */
#define SPIN_LIMIT_SEC 60.0

/* Value of word i in round r: differs between rounds and between words. */
static uint64_t pattern(unsigned r, size_t i)
{
	return ((uint64_t)r << 40) ^ (i * 0x9e3779b97f4a7c15ull) ^ 0x5a5a;
}

/*
 * Spin until *word == want.  Yield now and then: the machine may have fewer
 * cores than the job has nodes, and the writer needs CPU to make progress.
 */
static void spin_until(volatile uint64_t *word, uint64_t want, const char *what)
{
	double deadline = t_now() + SPIN_LIMIT_SEC;
	unsigned long n = 0;

	while (*word != want) {
		if (*word > want)
			fail("%s is %llu while waiting for %llu", what,
			     (unsigned long long)*word, (unsigned long long)want);
		if ((++n & 63) == 0) {
			sched_yield();
			if (t_now() > deadline)
				fail("%s still %llu after %.0f s waiting for %llu",
				     what, (unsigned long long)*word, SPIN_LIMIT_SEC,
				     (unsigned long long)want);
		}
	}
}

int main(int argc, char **argv)
{
	unsigned pages = 64, rounds = 6, r;
	volatile uint64_t *flag, *ack, *buf;
	size_t ps, nwords, i;
	int rc, me, nodes, n;
	char *ctl;

	t_start(&argc, &argv);
	if (dsm_consistency() != DSM_SEQUENTIAL) {
		/* Finalize first so no node sees the others vanish mid-job. */
		if (dsm_node_id() == 0)
			printf("%s: skipped: a plain-store flag is only synchronization "
			       "under sequential consistency\n", prog);
		dsm_finalize();
		return 77;
	}
	if (argc > 1)
		pages = parse_uint(argv[1], "page count", 1000000);
	if (argc > 2)
		rounds = parse_uint(argv[2], "round count", 1000000);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();
	nwords = pages * ps / sizeof(uint64_t);

	/* Control page (flag, then one ack word per node), then the buffer. */
	ctl = dsm_alloc_collective((pages + 1) * ps);
	if (!ctl)
		fail("dsm_alloc_collective: %s", strerror(errno));
	flag = (volatile uint64_t *)ctl;
	ack = (volatile uint64_t *)ctl + 8;
	buf = (volatile uint64_t *)(ctl + ps);
	dsm_barrier();

	for (r = 1; r <= rounds; r++) {
		int writer = (int)(r % (unsigned)nodes);

		if (me == writer) {
			char what[32];

			/* Nobody may still be checking round r-1. */
			for (n = 0; n < nodes; n++) {
				snprintf(what, sizeof(what), "ack of node %d", n);
				spin_until(&ack[n], r - 1, what);
			}
			for (i = 0; i < nwords; i++)
				buf[i] = pattern(r, i);
			*flag = r;		/* the plain store that publishes */
		} else {
			spin_until(flag, r, "flag");
			for (i = 0; i < nwords; i++) {
				uint64_t got = buf[i];

				if (got != pattern(r, i))
					fail("round %u: saw flag %u but word %zu (page %zu) is "
					     "%#llx, expected %#llx", r, r, i,
					     i * sizeof(uint64_t) / ps,
					     (unsigned long long)got,
					     (unsigned long long)pattern(r, i));
			}
		}
		ack[me] = r;
	}

	dsm_barrier();
	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
