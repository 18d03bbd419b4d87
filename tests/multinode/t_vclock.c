/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_vclock - vector time: it only grows, follows locks and barriers.
 *
 * usage: t_vclock [ROUNDS]
 *
 * Checks, on every node, under every consistency model (vector time is
 * kept under all three):
 *  - no entry of dsm_vclock ever decreases between two calls;
 *  - lock: the holder of lock 1 leaves its vector time, read just before
 *    its release, in a shared slot; the next holder's vector time is at
 *    least that entry by entry, and beyond it in the releaser's entry (the
 *    release closed an interval of the releaser that happens before);
 *  - barrier: every node leaves its vector time before the barrier in a
 *    shared row; after the barrier every node's entries are at least every
 *    row's, and beyond row k in entry k.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_vclock";

static int me, nodes;
static uint64_t last[DSM_MAX_NODES];	/* this node's previous reading */

/* Read the vector time and check that it did not go back. */
static void now(uint64_t *vc, const char *where)
{
	int rc = dsm_vclock(vc, DSM_MAX_NODES);

	if (rc != nodes)
		fail("dsm_vclock = %d, expected %d", rc, nodes);
	for (int k = 0; k < nodes; k++) {
		if (vc[k] < last[k])
			fail("%s: entry %d went back from %llu to %llu", where, k,
			     (unsigned long long)last[k], (unsigned long long)vc[k]);
		last[k] = vc[k];
	}
}

/* vc >= before entry by entry, and vc[strict] > before[strict]. */
static void check_after(const uint64_t *vc, const uint64_t *before, int strict, const char *what)
{
	for (int k = 0; k < nodes; k++)
		if (vc[k] < before[k] || (k == strict && vc[k] == before[k]))
			fail("%s: entry %d is %llu, must be %s %llu", what, k,
			     (unsigned long long)vc[k], k == strict ? "above" : "at least",
			     (unsigned long long)before[k]);
}

int main(int argc, char **argv)
{
	unsigned rounds = 20, r;
	uint64_t vc[DSM_MAX_NODES], before[DSM_MAX_NODES];
	struct slot { uint64_t holder, vc[DSM_MAX_NODES]; } *slot;
	uint64_t *rows;
	int rc;

	t_start(&argc, &argv);
	if (argc > 1)
		rounds = parse_uint(argv[1], "round count", 1000000);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	slot = dsm_alloc_collective(sizeof(*slot));
	rows = dsm_alloc_collective(sizeof(uint64_t) * DSM_MAX_NODES * (size_t)nodes);
	if (!slot || !rows)
		fail("dsm_alloc_collective: %s", strerror(errno));
	now(vc, "start");
	if (me == 0)
		slot->holder = UINT64_MAX;	/* nobody released lock 1 yet */
	dsm_barrier();

	for (r = 0; r < rounds; r++) {
		/* Lock: what the last holder left must happen before us. */
		if ((rc = dsm_lock_acquire(1)) < 0)
			fail("dsm_lock_acquire: %s", dsm_strerror(rc));
		now(vc, "after lock acquire");
		if (slot->holder != UINT64_MAX) {
			if (slot->holder >= (uint64_t)nodes)
				fail("lock 1's slot names node %llu", (unsigned long long)slot->holder);
			check_after(vc, slot->vc, (int)slot->holder,
				    "vector time after acquiring lock 1 against its releaser's");
		}
		now(vc, "before lock release");
		slot->holder = (uint64_t)me;
		memcpy(slot->vc, vc, sizeof(vc));
		if ((rc = dsm_lock_release(1)) < 0)
			fail("dsm_lock_release: %s", dsm_strerror(rc));
		now(before, "after lock release");
		check_after(before, vc, me, "own vector time across a release");

		/* Barrier: everyone's time before it happens before everyone after. */
		now(vc, "before barrier");
		memcpy(&rows[(size_t)me * DSM_MAX_NODES], vc, sizeof(vc));
		dsm_barrier();
		now(vc, "after barrier");
		for (int k = 0; k < nodes; k++)
			check_after(vc, &rows[(size_t)k * DSM_MAX_NODES], k,
				    "vector time after a barrier against a node's before it");
		/* Nobody overwrites a row before everyone has read it. */
		dsm_barrier();
	}
	now(vc, "end");
	if (vc[me] < 4 * rounds)
		fail("own entry is %llu after %u rounds of 4 sync operations or more",
		     (unsigned long long)vc[me], rounds);
	dsm_finalize();
	return 0;
}
