/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_waiter - a thread waiting in dsm_barrier or dsm_lock_acquire reads its
 * answer itself.
 *
 * usage: t_waiter [ROUNDS]
 *
 * Over tcp, a node's application thread that waits for node 0's barrier
 * release, or for a lock grant from the lock's manager on another node,
 * borrows that peer's connection and delivers the answer in its own
 * thread (dsm(7), Polling), saving a wake-up of the service thread.  The
 * program touches no shared memory, so no page fault's reply can be
 * counted: every message in msgs_by_waiter is a barrier release or a lock
 * grant.  Phase 1: ROUNDS barriers (100); every node but 0 must count some
 * of node 0's releases as delivered by itself.  Phase 2: each node takes
 * and gives back ROUNDS locks that the next node manages, each one it has
 * not taken before (while they last: a node takes back a lock's token that
 * nobody asked for meanwhile without a message, sync.h), so that each
 * grant comes from the manager; every node must count some of the grants
 * so.  The nodes take their turns one at a time, the others waiting in a
 * barrier: when all of them loop at once, node m's request for the lock
 * that node k manages travels on the same connection as k's grant to m,
 * and a request is not the waiter's to deliver, so under a slow build
 * (TSan) every loan could end at a request, and the count would say
 * nothing about the path.  Phase 3: all nodes take and give back one lock
 * ROUNDS times at once, without the count, so that the loans that end at
 * a request, and the token's forwarding from node to node, are exercised
 * too (the correctness of mutual exclusion is t_counter's and t_lockvc's;
 * this program checks the path).  Over other transports nothing is
 * required of the counter, and the program only runs the phases.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_waiter";

static uint64_t by_waiter(void)
{
	struct dsm_stats st;

	if (dsm_get_stats(&st) < 0)
		fail("dsm_get_stats failed");
	return st.msgs_by_waiter;
}

/* Take and give back, ROUNDS times, lock first, then the next lock of
 * the same manager (stride nodes), and so on, from first again when the
 * lock ids run out; stride 0: always first. */
static void lock_rounds(unsigned first, unsigned stride, unsigned rounds)
{
	unsigned lock = first;

	for (unsigned r = 0; r < rounds; r++, lock += stride) {
		if (lock >= DSM_MAX_LOCKS)
			lock = first;
		if (dsm_lock_acquire(lock) < 0)
			fail("dsm_lock_acquire(%u) failed", lock);
		if (dsm_lock_release(lock) < 0)
			fail("dsm_lock_release(%u) failed", lock);
	}
}

int main(int argc, char **argv)
{
	unsigned rounds = 100, me, nodes, lock;
	const char *tp = getenv("DSM_TRANSPORT");
	int tcp = !tp || !strcmp(tp, "tcp");
	uint64_t before, after;

	t_start(&argc, &argv);
	if (argc > 1)
		rounds = parse_uint(argv[1], "ROUNDS", 100000);
	me = (unsigned)dsm_node_id();
	nodes = (unsigned)dsm_num_nodes();

	dsm_barrier();
	before = by_waiter();
	for (unsigned r = 0; r < rounds; r++)
		dsm_barrier();
	after = by_waiter();
	if (tcp && nodes > 1 && me != 0 && after == before)
		fail("none of %u barrier releases was delivered by the waiting thread", rounds);

	/* Lock ids are managed round robin (id mod nodes): the next node's. */
	lock = (me + 1) % nodes;
	for (unsigned k = 0; k < nodes; k++) {
		if (k == me) {
			before = by_waiter();
			lock_rounds(lock, nodes, rounds);
			after = by_waiter();
			if (tcp && nodes > 1 && after == before)
				fail("none of %u grants of locks %u, %u, ... (managed by node %u) was "
				     "delivered by the waiting thread", rounds, lock, lock + nodes,
				     lock % nodes);
		}
		dsm_barrier();
	}
	lock_rounds(0, 0, rounds);
	dsm_barrier();
	if (dsm_finalize() < 0)
		fail("dsm_finalize failed");
	return 0;
}
