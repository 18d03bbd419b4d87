/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_multiwriter - several nodes write one page at once, byte by byte.
 *
 * usage: t_multiwriter [ROUNDS] [WRITES]
 *
 * All nodes share one page.  In each round node k writes the bytes i with
 * i % N == k, so neighbouring bytes of every 8-byte word belong to
 * different nodes, WRITES times over (default 20) with the round's value,
 * then everyone meets at a barrier and checks every byte of the page.
 * Under release and weak consistency the writers' diffs must merge at the
 * page's home byte for byte: a diff that carried one unchanged byte would
 * put back a stale value over another node's write.
 *
 * No ping-pong: under the relaxed models each node fetches the page at
 * most once per round (after the barrier that invalidated it; twice under
 * weak consistency, which drops it at both barriers), however
 * many writes the round has, and makes at most one twin per round; the
 * node counters (dsm_get_stats) must show it.  Under sequential
 * consistency the page moves between the writers, as it must.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_multiwriter";

static unsigned char value(unsigned round, size_t i)
{
	return (unsigned char)(round * 37 + i * 11 + 1);
}

int main(int argc, char **argv)
{
	unsigned rounds = 10, writes = 20, r, w;
	struct dsm_stats s0, s1;
	volatile unsigned char *page;
	size_t ps, i;
	int me, nodes;

	t_start(&argc, &argv);
	if (argc > 1)
		rounds = parse_uint(argv[1], "round count", 1000000);
	if (argc > 2)
		writes = parse_uint(argv[2], "writes per round", 1000000);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();
	page = dsm_alloc_collective(ps);
	if (!page)
		fail("dsm_alloc_collective: %s", strerror(errno));
	dsm_barrier();
	dsm_get_stats(&s0);

	for (r = 0; r < rounds; r++) {
		for (w = 0; w < writes; w++)
			for (i = (size_t)me; i < ps; i += (size_t)nodes)
				page[i] = value(r, i);
		dsm_barrier();
		for (i = 0; i < ps; i++)
			if (page[i] != value(r, i))
				fail("round %u: byte %zu (node %zu's) is %u, expected %u: a write "
				     "was lost in the merge", r, i, i % (size_t)nodes, page[i],
				     value(r, i));
		dsm_barrier();
	}

	dsm_get_stats(&s1);
	if (dsm_consistency() != DSM_SEQUENTIAL) {
		uint64_t fetched = s1.pages_fetched - s0.pages_fetched;
		uint64_t twins = s1.twins - s0.twins;
		/* Weak consistency also drops the copy at the round's second
		 * barrier, so the next round's first write fetches it again. */
		uint64_t max_fetched = dsm_consistency() == DSM_WEAK ? 2 * rounds + 1 : rounds + 1;

		if (fetched > max_fetched)
			fail("fetched the page %llu times in %u rounds: it ping-pongs",
			     (unsigned long long)fetched, rounds);
		if (twins > rounds)
			fail("made %llu twins in %u rounds: more than one per interval",
			     (unsigned long long)twins, rounds);
		if (nodes > 1 && dsm_home_node((void *)page) != me && twins == 0)
			fail("a writer that is not the page's home made no twin");
	}
	if (me == 0)
		printf("%s: %u rounds x %u writes, node 0 fetched the page %llu times, "
		       "%llu twins, %llu diffs\n", prog, rounds, writes,
		       (unsigned long long)(s1.pages_fetched - s0.pages_fetched),
		       (unsigned long long)(s1.twins - s0.twins),
		       (unsigned long long)(s1.diffs_created - s0.diffs_created));
	dsm_finalize();
	return 0;
}
