/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_threads - several application threads per node faulting on the same
 * pages at the same time.
 *
 * usage: t_threads [THREADS [PAGES [ROUNDS]]]
 *
 * G = N * THREADS threads in all.  In round r, word i of a PAGES-page region
 * belongs to global thread (i / 8 + r) % G (blocks of 8 words, i.e. one
 * cache line), so the threads of one node write distinct words of the same
 * pages at the same moment, and so do the other nodes.  Then every thread
 * of every node reads back the whole region, starting on the same page at
 * the same time (concurrent read faults on one page from several threads),
 * which includes the words written by the other nodes.
 *
 * Between phases the threads of a node meet at a pthread barrier, and
 * exactly one of them (thread 0) calls dsm_barrier (a collective is called
 * by exactly one thread per node), then they meet again.
 *
 * A second region is written only by node 0 before the rounds and read by
 * all threads of all nodes, first all at once (read faults from several
 * threads on pages no one on this node has touched yet: the node must
 * fetch each page exactly once), then in every round.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_threads";

#define BLOCK_WORDS 8

static unsigned nthreads = 2, pages = 4, rounds = 3;
static int me, nodes;
static size_t nwords;
static volatile uint64_t *region;	/* written by everybody */
static volatile uint64_t *ro;		/* written by node 0 once */
static pthread_barrier_t local_bar;

static unsigned owner_of(size_t i, unsigned r)
{
	return (unsigned)((i / BLOCK_WORDS + r) % ((size_t)nodes * nthreads));
}

static uint64_t value(unsigned r, size_t i, unsigned owner)
{
	return ((uint64_t)r << 56) ^ ((uint64_t)owner << 40) ^ (i * 0x9e3779b97f4a7c15ull >> 24);
}

static uint64_t ro_value(size_t i)
{
	return ~(uint64_t)i * 0xff51afd7ed558ccdull;
}

/*
 * All threads of this node meet; thread 0 alone then joins the other nodes
 * at dsm_barrier, and the threads meet once more so that nobody runs ahead
 * of the global barrier.
 */
static void all_barrier(unsigned tid)
{
	pthread_barrier_wait(&local_bar);
	if (tid == 0)
		dsm_barrier();
	pthread_barrier_wait(&local_bar);
}

static struct dsm_stats before_ro;	/* this node's counters before the first read of ro */

/*
 * All threads of this node read node 0's pages at the same moment, on a
 * node that holds no copy: concurrent faults on one page must make one
 * request, so the node fetches each page exactly once (two requests from
 * one node for one page would also end the job with a protocol error at the
 * home).  Only pages whose home is node 0 count: node 0 is then home and
 * owner, so no third node recalls them, and no other node's traffic makes
 * this node fetch anything (pages_fetched also counts the recalls a node
 * makes as home); the phase ends with a barrier before anyone goes on.
 */
static void first_read_of_ro(unsigned tid)
{
	size_t ps = dsm_page_size(), words = ps / sizeof(uint64_t), i, pg;
	unsigned counted = 0;
	struct dsm_stats after;

	pthread_barrier_wait(&local_bar);
	for (pg = 0; pg < pages; pg++) {
		if (dsm_home_node((const void *)&ro[pg * words]) != 0)
			continue;
		counted++;
		for (i = pg * words; i < (pg + 1) * words; i++)
			if (ro[i] != ro_value(i))
				fail("thread %u: node 0's word %zu is %#llx before the rounds", tid, i,
				     (unsigned long long)ro[i]);
	}
	pthread_barrier_wait(&local_bar);
	if (tid == 0 && me != 0) {
		if (dsm_get_stats(&after))
			fail("dsm_get_stats failed");
		if (after.pages_fetched - before_ro.pages_fetched != counted)
			fail("%u threads reading %u fresh pages at once fetched %llu pages, "
			     "expected exactly %u (one request per page per node)", nthreads,
			     counted, (unsigned long long)(after.pages_fetched -
							   before_ro.pages_fetched), counted);
	}
	all_barrier(tid);
}

static void *worker(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	unsigned g = (unsigned)me * nthreads + tid;
	unsigned r;
	size_t i;

	first_read_of_ro(tid);
	for (r = 1; r <= rounds; r++) {
		for (i = 0; i < nwords; i++)
			if (owner_of(i, r) == g)
				region[i] = value(r, i, g);
		all_barrier(tid);

		for (i = 0; i < nwords; i++) {
			unsigned o = owner_of(i, r);
			uint64_t got = region[i];

			if (got != value(r, i, o))
				fail("thread %u, round %u: word %zu (page %zu, written by "
				     "node %u thread %u) is %#llx, expected %#llx",
				     tid, r, i, i * sizeof(uint64_t) / dsm_page_size(),
				     o / nthreads, o % nthreads,
				     (unsigned long long)got,
				     (unsigned long long)value(r, i, o));
		}
		for (i = 0; i < nwords; i++)
			if (ro[i] != ro_value(i))
				fail("thread %u, round %u: node 0's word %zu is %#llx, "
				     "expected %#llx", tid, r, i,
				     (unsigned long long)ro[i],
				     (unsigned long long)ro_value(i));
		/* Checks of round r finish before anyone writes round r+1. */
		all_barrier(tid);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t ps, i;
	char *base;
	int rc;

	t_start(&argc, &argv);
	if (argc > 1)
		nthreads = parse_uint(argv[1], "thread count", 100000);
	if (argc > 2)
		pages = parse_uint(argv[2], "page count", 100000);
	if (argc > 3)
		rounds = parse_uint(argv[3], "round count", 100000);
	if (nthreads > 64)
		fail("at most 64 threads");
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();
	nwords = pages * ps / sizeof(uint64_t);

	base = dsm_alloc_collective(2 * pages * ps);
	if (!base)
		fail("dsm_alloc_collective: %s", strerror(errno));
	region = (volatile uint64_t *)base;
	ro = (volatile uint64_t *)(base + pages * ps);
	if (me == 0)
		for (i = 0; i < nwords; i++)
			ro[i] = ro_value(i);
	dsm_barrier();
	if (dsm_get_stats(&before_ro))
		fail("dsm_get_stats failed");

	rc = pthread_barrier_init(&local_bar, NULL, nthreads);
	if (rc)
		fail("pthread_barrier_init: %s", strerror(rc));
	t_run_threads(nthreads, worker);

	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
