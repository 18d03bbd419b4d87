/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_longrun - protocol memory stays bounded over long runs.
 *
 * usage: t_longrun [HANDOFFS] [BARRIERS]
 *
 * Lock phase: the nodes pass lock 0 around HANDOFFS times (default
 * 100000), in turn (node k takes its turn when the shared counter modulo
 * N is k), each holder incrementing the counter: every release under
 * release consistency leaves a write notice, and without barriers only
 * the collection rounds (interval.h) keep the logs from growing with the
 * run.  Barrier phase: BARRIERS barriers (default
 * 10000), every node writing its own word of a shared page in between.
 *
 * Every 1000 steps each node samples notices_held (dsm_get_stats): its
 * peak must stay below a bound that is far under what an uncollected run
 * keeps (one notice per release, so HANDOFFS in every holder's log), and
 * the counter must come out exact.
 *
 * Only release consistency keeps notices: under the other models the
 * program still runs the phases and checks the counter.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_longrun";

/* Collection starts when a log holds DSM_NOTICE_GC_MIN (16384) notices;
 * the log and the notices in flight stay within a few times that. */
#define HELD_BOUND 60000

static uint64_t peak;

static void sample(void)
{
	struct dsm_stats s;

	dsm_get_stats(&s);
	if (s.notices_held > peak)
		peak = s.notices_held;
}

int main(int argc, char **argv)
{
	unsigned handoffs = 100000, barriers = 10000, i, mine = 0;
	volatile uint64_t *counter, *words;
	int me, nodes;
	uint64_t c;

	t_start(&argc, &argv);
	if (argc > 1)
		handoffs = parse_uint(argv[1], "handoff count", 100000000);
	if (argc > 2)
		barriers = parse_uint(argv[2], "barrier count", 100000000);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	counter = dsm_alloc_collective(dsm_page_size());
	words = dsm_alloc_collective(dsm_page_size());
	if (!counter || !words)
		fail("dsm_alloc_collective: %s", strerror(errno));
	dsm_barrier();

	for (;;) {
		dsm_lock_acquire(0);
		c = *counter;
		if (c < handoffs && c % (uint64_t)nodes == (uint64_t)me) {
			*counter = c + 1;
			mine++;
		}
		dsm_lock_release(0);
		if (c >= handoffs)
			break;
		if (mine % 1000 == 0)
			sample();
	}
	sample();
	dsm_barrier();
	if (*counter != handoffs)
		fail("counter is %llu after %u handoffs", (unsigned long long)*counter, handoffs);
	if (mine < handoffs / (unsigned)nodes)
		fail("this node took %u turns of %u", mine, handoffs / (unsigned)nodes);

	for (i = 0; i < barriers; i++) {
		/* Two rows, so that writing round i+1 does not race with the
		 * slower nodes still reading round i. */
		volatile uint64_t *row = words + (i & 1) * (unsigned)nodes;

		row[me] = i;
		dsm_barrier();
		for (int k = 0; k < nodes; k++)
			if (row[k] != i)
				fail("barrier %u: node %d's word is %llu", i, k,
				     (unsigned long long)row[k]);
		if (i % 1000 == 0)
			sample();
	}
	sample();
	if (dsm_consistency() == DSM_RELEASE && peak > HELD_BOUND)
		fail("held %llu write notices at the peak (bound %u): protocol memory grows "
		     "with the run", (unsigned long long)peak, HELD_BOUND);
	printf("%s: node %d: %u handoffs, %u barriers, at most %llu notices held\n", prog, me,
	       handoffs, barriers, (unsigned long long)peak);
	dsm_finalize();
	return 0;
}
