/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_counter - lock-protected shared counters, several threads per node.
 *
 * usage: t_counter [THREADS [ITERATIONS]]
 *
 * Every thread of every node increments shared counters ITERATIONS times,
 * each increment under one of a few global locks (ids spread over the whole
 * range, the last one included).  A lost update shows up as a short total;
 * two holders of one lock at once show up in the per-lock "owner" word,
 * which the holder sets on entry and checks just before it leaves.
 *
 * Valid under every consistency model: the program is data-race free.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_counter";

/* Spread over the id space: 0, a neighbour, a middle one and the last one. */
static const unsigned lock_ids[] = { 0, 1, 7, 1023, DSM_MAX_LOCKS - 1 };
#define NLOCKS (sizeof(lock_ids) / sizeof(lock_ids[0]))

/*
 * Where lock j's words live.  Locks 0 and 1 share a page on purpose (two
 * locks, one page: a write under one lock must not be lost to a write
 * under the other); the others get a page each.
 */
struct slot {
	volatile uint64_t *counter;
	volatile uint64_t *owner;	/* global thread id + 1 of the holder, or 0 */
};

static struct slot slots[NLOCKS];
static unsigned nthreads = 2;
static unsigned iterations = 200;

/*
 * "Locks are global, reentrant per node is not required": a dsm lock
 * excludes nodes, and whether a second thread of the holding node waits
 * or is let through is not specified.  So threads of one node first take a
 * local mutex per lock; the dsm lock then orders the nodes.  This is how
 * TreadMarks-style programs use node locks from several threads.
 */
static pthread_mutex_t local_mutex[NLOCKS];

/* Which lock a thread uses at step it: rotate so every lock is contended. */
static unsigned lock_of(unsigned tid, unsigned it)
{
	return (it + tid) % NLOCKS;
}

static void *worker(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	uint64_t me = (uint64_t)dsm_node_id() * nthreads + tid + 1;
	unsigned it;
	int rc;

	for (it = 0; it < iterations; it++) {
		unsigned j = lock_of(tid, it);
		struct slot *s = &slots[j];
		uint64_t v;

		pthread_mutex_lock(&local_mutex[j]);
		rc = dsm_lock_acquire(lock_ids[j]);
		if (rc)
			fail("dsm_lock_acquire(%u): %s", lock_ids[j], dsm_strerror(rc));
		if (*s->owner != 0)
			fail("lock %u acquired while thread %llu still holds it",
			     lock_ids[j], (unsigned long long)*s->owner - 1);
		*s->owner = me;

		/*
		 * Read, give the others a chance to run, then write: widens
		 * the window in which a broken lock loses an update.
		 */
		v = *s->counter;
		if ((it & 7) == 0)
			sched_yield();
		*s->counter = v + 1;

		if (*s->owner != me)
			fail("lock %u: owner word changed to %llu while held",
			     lock_ids[j], (unsigned long long)*s->owner);
		*s->owner = 0;
		rc = dsm_lock_release(lock_ids[j]);
		if (rc)
			fail("dsm_lock_release(%u): %s", lock_ids[j], dsm_strerror(rc));
		pthread_mutex_unlock(&local_mutex[j]);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t expect[NLOCKS] = { 0 }, total = 0, want_total;
	unsigned t, it, j;
	size_t ps;
	char *base;
	int rc, nodes;

	t_start(&argc, &argv);
	if (argc > 1)
		nthreads = parse_uint(argv[1], "thread count", 1000000);
	if (argc > 2)
		iterations = parse_uint(argv[2], "iteration count", 1000000);
	if (nthreads > 64)
		fail("at most 64 threads");
	nodes = dsm_num_nodes();
	ps = dsm_page_size();

	/* Pages: [0] locks 0 and 1, [1..] one per remaining lock. */
	base = dsm_alloc_collective(NLOCKS * ps);
	if (!base)
		fail("dsm_alloc_collective(%zu): %s", NLOCKS * ps, strerror(errno));
	for (j = 0; j < NLOCKS; j++) {
		char *p = j < 2 ? base + j * 64 : base + (j - 1) * ps;

		slots[j].counter = (volatile uint64_t *)p;
		slots[j].owner = (volatile uint64_t *)(p + 8);
		pthread_mutex_init(&local_mutex[j], NULL);
	}
	dsm_barrier();

	t_run_threads(nthreads, worker);

	dsm_barrier();

	/* Every node does the same increments, so the expectation is N times one node's. */
	for (t = 0; t < nthreads; t++)
		for (it = 0; it < iterations; it++)
			expect[lock_of(t, it)] += (uint64_t)nodes;
	for (j = 0; j < NLOCKS; j++) {
		uint64_t got = *slots[j].counter;

		if (got != expect[j])
			fail("counter of lock %u is %llu, expected %llu",
			     lock_ids[j], (unsigned long long)got,
			     (unsigned long long)expect[j]);
		if (*slots[j].owner != 0)
			fail("lock %u: owner word still %llu after the barrier",
			     lock_ids[j], (unsigned long long)*slots[j].owner);
		total += got;
	}
	want_total = (uint64_t)nodes * nthreads * iterations;
	if (total != want_total)
		fail("total %llu, expected N*T*K = %llu",
		     (unsigned long long)total, (unsigned long long)want_total);

	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
