/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_lockvc - a lock release carries the notices its vector time covers,
 * while other threads of the node release and acquire other locks.
 *
 * usage: t_lockvc [ROUNDS]
 *
 * Two threads per node, two locks, a counter on a page of its own under
 * each: thread 0 of every node increments counter 0 under lock 0 ROUNDS
 * times, thread 1 counter 1 under lock 1.  check_multinode runs it with
 * DSM_TEST_RELEASE_DELAY_US, which holds every lock release after it
 * collected its write notices and before it goes to the lock's manager,
 * so that the node's other thread releases or acquires the other lock
 * meanwhile.
 *
 * What it caught (release consistency): a lock release took its notices
 * and, separately, the node's vector time.  Thread 1's release in between
 * closed an interval that wrote counter 1's page: the vector time that
 * lock 0 carried covered that interval, its notices did not.  The next
 * holder of lock 0 merged the interval as seen without invalidating the
 * page; when it then took lock 1, whose grant did name the page, the
 * notice was filtered out as already seen: it incremented a stale copy
 * and an update was lost.  (Without the delay, t_counter lost an update
 * that way about one run in three under AddressSanitizer.)
 *
 * Valid under every consistency model: the program is data-race free.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_lockvc";

#define NTHREADS 2

static volatile uint64_t *counter[NTHREADS];
static unsigned rounds = 100;

static void *worker(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	int rc;

	for (unsigned it = 0; it < rounds; it++) {
		uint64_t v;

		rc = dsm_lock_acquire(tid);
		if (rc)
			fail("dsm_lock_acquire(%u): %s", tid, dsm_strerror(rc));
		v = *counter[tid];
		*counter[tid] = v + 1;
		rc = dsm_lock_release(tid);
		if (rc)
			fail("dsm_lock_release(%u): %s", tid, dsm_strerror(rc));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t want;
	size_t ps;
	char *base;
	unsigned t;
	int rc;

	t_start(&argc, &argv);
	if (argc > 1)
		rounds = parse_uint(argv[1], "round count", 1000000);
	ps = dsm_page_size();
	base = dsm_alloc_collective(NTHREADS * ps);
	if (!base)
		fail("dsm_alloc_collective(%zu): %s", NTHREADS * ps, strerror(errno));
	for (t = 0; t < NTHREADS; t++)
		counter[t] = (volatile uint64_t *)(base + t * ps);
	dsm_barrier();

	t_run_threads(NTHREADS, worker);

	dsm_barrier();

	want = (uint64_t)dsm_num_nodes() * rounds;
	for (t = 0; t < NTHREADS; t++)
		if (*counter[t] != want)
			fail("counter %u is %llu, expected %llu (nodes x rounds)", t,
			     (unsigned long long)*counter[t], (unsigned long long)want);

	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
