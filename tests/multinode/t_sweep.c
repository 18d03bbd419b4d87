/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_sweep - sweeps through a home's pages at a stride: fetch runs and
 * claim-ahead (relaxed.c).
 *
 * usage: t_sweep PAGES ROUNDS
 *
 * One region per stride s in 1, 2, 3, 4, 7 and 16, of PAGES * s pages.
 * Each round a writer (round mod N) writes a word pattern into every
 * page of every region (the first round, node 0 initializes them all and
 * so becomes their home under first-touch homes); after a barrier the
 * other nodes, one at a time, read every s-th page of region s and check
 * three words of each, which would catch a page of a strided run placed
 * at the wrong address or a stale one.
 *
 * Under release and weak consistency a sweep must travel in runs: a
 * reader that is not the pages' home receives fewer messages than 3 per
 * longest run's worth of pages read (8 pages, or fewer large ones: at
 * most 3/8 of the pages, against one per page without runs), plus one per
 * manager block the sweep enters, for its homes; pages read before and
 * lost to the home's rewrite come back in whole runs (at the end: one
 * reply received per run's worth, plus one); and with first-touch
 * homes node 0's first initialization sends fewer home requests than an
 * eighth of the pages (one per page without claim-ahead).  Then lu's
 * pattern: a column of 2-page blocks FAR_STRIDE pages apart (more than
 * the strides a fault scans, STRIDE_MAX in relaxed.c), read again after
 * its home rewrote it, comes back in runs down the column, under 3
 * replies per longest run's worth of blocks, plus 4 (one per block
 * without them).
 *
 * Under sequential consistency the data is checked, and on 2 nodes node
 * 1's second read of region 1 must come in read runs (sequential.c):
 * fewer messages than 3/4 of the pages, against one per page without
 * them (node 0 homes and owns every other page; node 1's own take a
 * recall each).  Then node 1 writes region 1, of which both nodes hold
 * copies: the pages homed at node 0 must come in write runs, one grant
 * for several; node 1 receives fewer messages than 3/4 of the pages,
 * against one per page without them (a grant for each of node 0's, an
 * acknowledgement of node 0's invalidation for each of its own).  The
 * readers check the data after each write.
 *
 * Over tcp, a faulting thread reads its replies itself: each reader must
 * count some in msgs_by_waiter.
 *
 * T_SWEEP_VERBOSE=1 prints each sweep's message count on stderr.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_sweep";

static const unsigned strides[] = { 1, 2, 3, 4, 7, 16 };
#define NSTRIDES (sizeof(strides) / sizeof(strides[0]))

static size_t ps;

/* The far sweep's stride: above relaxed.c's STRIDE_MAX (16), below a
 * manager block, so that a run does not end for a home not known. */
#define FAR_STRIDE 40

/* Pages per manager block with first-touch homes at the default
 * DSM_HOME_BLOCK (DSM_FT_MANAGER_BLOCK in protocol.h). */
#define MANAGER_BLOCK 64

/* The longest fetch run: 8 pages, and one message of at most 64 KiB
 * (relaxed.c's run_max, dsm_rt_max_payload), so 4 of 16K pages. */
static size_t run_cap(void)
{
	size_t n = 65536 / ps;

	return n > 8 ? 8 : n ? n : 1;
}

static uint64_t word(unsigned round, size_t page, size_t at)
{
	return ((uint64_t)round << 48) ^ ((uint64_t)page << 16) ^ at ^ 0x5a5a;
}

static void write_page(char *p, unsigned round, size_t page)
{
	size_t last = ps / sizeof(uint64_t) - 1;

	((uint64_t *)p)[0] = word(round, page, 0);
	((uint64_t *)p)[last / 2] = word(round, page, last / 2);
	((uint64_t *)p)[last] = word(round, page, last);
}

static void check_page(const char *p, unsigned round, size_t page, unsigned stride)
{
	size_t last = ps / sizeof(uint64_t) - 1, at[3] = { 0, last / 2, last };

	for (int i = 0; i < 3; i++) {
		uint64_t got = ((const uint64_t *)p)[at[i]];

		if (got != word(round, page, at[i]))
			fail("round %u, stride %u: page %zu word %zu is %#llx, expected %#llx", round,
			     stride, page, at[i], (unsigned long long)got,
			     (unsigned long long)word(round, page, at[i]));
	}
}

static uint64_t stat_of(int sent)
{
	struct dsm_stats s;

	if (dsm_get_stats(&s) < 0)
		fail("dsm_get_stats failed");
	return sent ? s.msgs_sent : s.msgs_recv;
}

int main(int argc, char **argv)
{
	const char *model, *homes;
	unsigned pages, rounds;
	size_t total = 0, base[NSTRIDES], far;
	int me, nodes, relaxed, first_touch;
	char *heap;

	t_start(&argc, &argv);
	if (argc != 3)
		fail("usage: t_sweep PAGES ROUNDS");
	pages = parse_uint(argv[1], "PAGES", 4096);
	rounds = parse_uint(argv[2], "ROUNDS", 1000);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();
	model = getenv("DSM_CONSISTENCY");
	homes = getenv("DSM_HOMES");
	relaxed = model && (!strcmp(model, "release") || !strcmp(model, "weak"));
	first_touch = relaxed && (!homes || strcmp(homes, "static") != 0);

	for (size_t i = 0; i < NSTRIDES; i++) {
		base[i] = total;
		total += (size_t)pages * strides[i];
	}
	far = total;
	total += (size_t)pages * FAR_STRIDE;
	heap = dsm_alloc_collective(total * ps);
	if (!heap)
		fail("dsm_alloc_collective of %zu pages failed", total);

	for (unsigned r = 0; r < rounds; r++) {
		int writer = (int)(r % (unsigned)nodes);

		if (me == writer) {
			uint64_t before = stat_of(1);

			for (size_t q = 0; q < total; q++)
				write_page(heap + q * ps, r, q);
			if (r == 0 && first_touch && nodes > 1 &&
			    stat_of(1) - before >= total / 8)
				fail("initializing %zu pages sent %llu messages: no claim-ahead", total,
				     (unsigned long long)(stat_of(1) - before));
		}
		dsm_barrier();
		for (int reader = 0; reader < nodes; reader++) {
			if (reader == me && reader != writer) {
				for (size_t i = 0; i < NSTRIDES; i++) {
					uint64_t before = stat_of(0), got;

					for (size_t k = 0; k < pages; k++) {
						size_t q = base[i] + k * strides[i];

						check_page(heap + q * ps, r, q, strides[i]);
					}
					got = stat_of(0) - before;
					if (getenv("T_SWEEP_VERBOSE"))
						fprintf(stderr, "node %d round %u stride %u: %llu messages\n", me, r, strides[i], (unsigned long long)got);
					/* Node 0 homes every page (first touch) or
					 * some (static map): only a reader homing
					 * none of them is held to the bound.  A run
					 * ends where the next page's manager block
					 * (MANAGER_BLOCK pages) begins, whose homes
					 * this node learns with one more answer. */
					if (relaxed && first_touch && me != 0 &&
					    got >= 3 * pages / run_cap() +
						   pages * strides[i] / MANAGER_BLOCK)
						fail("round %u, stride %u: reading %u pages took %llu "
						     "messages: no fetch runs",
						     r, strides[i], pages, (unsigned long long)got);
				}
			}
			dsm_barrier();
		}
	}
	/*
	 * History: as an iterative program's boundary rows, the pages of
	 * region 1 (stride 1) are read by everyone, rewritten by their home
	 * (node 0) and read again two barriers later.  The copies lost to
	 * the home's notices (under weak, to the barrier) come back in whole
	 * runs from the first page on, not 1, 1, 2, 4, ...: at most one reply
	 * per run's worth of pages, plus one.
	 */
	for (int pass = 0; pass < 2; pass++) {
		if (me == 0)
			for (size_t k = 0; k < pages; k++)
				write_page(heap + (base[0] + k) * ps, rounds + (unsigned)pass,
					   base[0] + k);
		dsm_barrier();
		if (me != 0) {
			uint64_t before = stat_of(0), got;

			for (size_t k = 0; k < pages; k++)
				check_page(heap + (base[0] + k) * ps, rounds + (unsigned)pass,
					   base[0] + k, 1);
			got = stat_of(0) - before;
			if (getenv("T_SWEEP_VERBOSE"))
				fprintf(stderr, "node %d history pass %d: %llu messages\n", me, pass,
					(unsigned long long)got);
			/* Sequential consistency, 2 nodes: see the top. */
			if (!relaxed && nodes == 2 && pass == 1 && got >= 3 * (uint64_t)pages / 4)
				fail("sequential consistency: reading %u pages took %llu messages: "
				     "no read runs", pages, (unsigned long long)got);
			if (relaxed && first_touch && pass == 1 && got > pages / run_cap() + 1)
				fail("reading %u pages again took %llu messages: no runs from "
				     "history", pages, (unsigned long long)got);
		}
		dsm_barrier();
	}

	/*
	 * Write runs (sequential consistency): node 1 writes region 1, whose
	 * pages both nodes hold copies of; then everyone else reads it back.
	 */
	if (nodes > 1) {
		if (me == 1) {
			uint64_t before = stat_of(0), got;

			for (size_t k = 0; k < pages; k++)
				write_page(heap + (base[0] + k) * ps, rounds + 4, base[0] + k);
			got = stat_of(0) - before;
			if (getenv("T_SWEEP_VERBOSE"))
				fprintf(stderr, "node 1 write pass: %llu messages\n",
					(unsigned long long)got);
			if (!relaxed && nodes == 2 && got >= 3 * (uint64_t)pages / 4)
				fail("sequential consistency: writing %u pages took %llu messages: "
				     "no write runs", pages, (unsigned long long)got);
		}
		dsm_barrier();
		if (me != 1)
			for (size_t k = 0; k < pages; k++)
				check_page(heap + (base[0] + k) * ps, rounds + 4, base[0] + k, 1);
		dsm_barrier();
	}

	/*
	 * Far: node 0 rewrites a column of 2-page blocks, FAR_STRIDE pages
	 * apart, twice; the others read it after each.  The first pass
	 * teaches them the homes; in the second, every copy was lost to the
	 * rewrite and comes back in runs down the column (far_evidence).
	 */
	for (int pass = 0; pass < 2; pass++) {
		if (me == 0)
			for (size_t k = 0; k < 2 * (size_t)pages; k++) {
				size_t q = far + k / 2 * FAR_STRIDE + k % 2;

				write_page(heap + q * ps, rounds + 2 + (unsigned)pass, q);
			}
		dsm_barrier();
		if (me != 0) {
			uint64_t before = stat_of(0), got;

			for (size_t k = 0; k < 2 * (size_t)pages; k++) {
				size_t q = far + k / 2 * FAR_STRIDE + k % 2;

				check_page(heap + q * ps, rounds + 2 + (unsigned)pass, q, FAR_STRIDE);
			}
			got = stat_of(0) - before;
			if (getenv("T_SWEEP_VERBOSE"))
				fprintf(stderr, "node %d far pass %d: %llu messages\n", me, pass,
					(unsigned long long)got);
			if (relaxed && first_touch && pass == 1 && got > 3 * pages / run_cap() + 4)
				fail("reading a column of %u blocks %d pages apart took %llu "
				     "messages: no runs down it", pages, FAR_STRIDE,
				     (unsigned long long)got);
		}
		dsm_barrier();
	}

	/* Over tcp a faulting thread reads its own replies (dsm(7),
	 * Polling): a reader must have had some delivered so. */
	if (nodes > 1 && me != 0 && (!getenv("DSM_TRANSPORT") ||
				     !strcmp(getenv("DSM_TRANSPORT"), "tcp"))) {
		struct dsm_stats st;

		if (dsm_get_stats(&st) < 0)
			fail("dsm_get_stats failed");
		if (!st.msgs_by_waiter)
			fail("no reply was delivered by the faulting thread itself "
			     "(%llu messages received)", (unsigned long long)st.msgs_recv);
	}
	if (dsm_finalize() < 0)
		fail("dsm_finalize failed");
	return 0;
}
