/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_lockfifo - a lock is granted in the order it was asked for (FIFO),
 * across nodes and across the threads of one node.
 *
 * usage: t_lockfifo [GAP_MS]
 *
 * Node 0 takes lock L, whose manager is the last node (so that, with two
 * nodes or more, the token is away from its manager and every request is
 * forwarded, sync.h), and holds it.  Then S = nodes + 2 threads ask for L,
 * one every GAP_MS (100) milliseconds, in slots 1 .. S: slot s is a thread
 * of node s mod nodes, so node 0 asks again while it holds L, and nodes
 * ask more than once, while their own earlier request still waits.  Node
 * 0 gives L back after slot S has asked.  Under the lock each thread
 * appends its slot to a list in shared memory; the list must read 1 .. S.
 * The gap only orders the requests: each must reach the manager before
 * the next one is made, which takes well under a millisecond here.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_lockfifo";

#define MAX_SLOTS (DSM_MAX_NODES + 2)

struct shared {
	unsigned n;			/* slots appended so far */
	unsigned order[MAX_SLOTS];	/* in the order they held the lock */
};

static struct shared *sh;
static unsigned lock_id, gap_ms, me, nodes;
static double t0;			/* just after the barrier */

static void sleep_until(double t)
{
	double d = t - t_now();

	if (d > 0) {
		struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };

		nanosleep(&ts, NULL);
	}
}

/* One slot's thread: ask at its time, then append the slot. */
static void *slot_thread(void *arg)
{
	unsigned s = (unsigned)(uintptr_t)arg;

	sleep_until(t0 + s * gap_ms / 1000.0);
	if (dsm_lock_acquire(lock_id) < 0)
		fail("slot %u: dsm_lock_acquire(%u) failed", s, lock_id);
	if (sh->n >= MAX_SLOTS)
		fail("slot %u: the list is full: the lock was held more often than asked for", s);
	sh->order[sh->n++] = s;
	if (dsm_lock_release(lock_id) < 0)
		fail("slot %u: dsm_lock_release(%u) failed", s, lock_id);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_SLOTS];
	unsigned slots, mine = 0;

	t_start(&argc, &argv);
	gap_ms = argc > 1 ? parse_uint(argv[1], "GAP_MS", 10000) : 100;
	me = (unsigned)dsm_node_id();
	nodes = (unsigned)dsm_num_nodes();
	slots = nodes + 2;
	lock_id = nodes - 1;	/* managed by node nodes - 1 */
	sh = dsm_alloc_collective(sizeof(*sh));
	if (!sh)
		fail("dsm_alloc_collective failed");
	if (me == 0 && dsm_lock_acquire(lock_id) < 0)
		fail("dsm_lock_acquire(%u) failed", lock_id);
	dsm_barrier();

	t0 = t_now();
	for (unsigned s = 1; s <= slots; s++) {
		if (s % nodes != me)
			continue;
		if (pthread_create(&th[mine++], NULL, slot_thread, (void *)(uintptr_t)s))
			fail("pthread_create failed");
	}
	if (me == 0) {
		sleep_until(t0 + (slots + 1) * gap_ms / 1000.0);
		if (dsm_lock_release(lock_id) < 0)
			fail("dsm_lock_release(%u) failed", lock_id);
	}
	for (unsigned i = 0; i < mine; i++)
		pthread_join(th[i], NULL);
	dsm_barrier();

	if (me == 0 && sh->n != slots)
		fail("%u slots held lock %u, not %u", sh->n, lock_id, slots);
	for (unsigned i = 0; me == 0 && i < slots; i++)
		if (sh->order[i] != i + 1)
			fail("lock %u's holder number %u was slot %u, not %u (asked in that order, "
			     "%u ms apart)", lock_id, i + 1, sh->order[i], i + 1, gap_ms);
	dsm_barrier();
	if (dsm_finalize() < 0)
		fail("dsm_finalize failed");
	return 0;
}
