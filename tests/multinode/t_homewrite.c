/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_homewrite - a home's thread writes a page while another node fetches
 * it; the write must reach that node at the next barrier.
 *
 * usage: t_homewrite [ROUNDS]
 *
 * Under release consistency a home sends a page that its own threads can
 * still write without a fault, and closes it after the reply (relaxed.c,
 * close_late): a write that lands between the copy and the close is found
 * by comparing the page with the copy sent.  Each round, node 0 (home of
 * every page here: it touched them first) runs a thread that stores an
 * increasing count into a fresh page as fast as it can; node 1 reads that
 * page once (a fetch); node 0's main thread stops the writer as soon as
 * its pages_sent counter moves, that is within microseconds of the reply,
 * so the writer's last store tends to land in that window.  Node 0 then
 * writes the last count into a table, a barrier, and node 1 must read the
 * same count in the page.  Without the comparison the last store of a
 * round made in the window would need no notice, node 1 would keep its
 * copy, and the round would fail (tried: 5 runs of 100 rounds, 5 failed).
 * Nodes beyond 2 only take part in the barriers.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_homewrite";

static volatile uint64_t *word;	/* the round's page, first word */
static int stop;			/* atomic */
static uint64_t last;		/* the writer's last count */

static void *writer(void *arg)
{
	uint64_t v = (uint64_t)(uintptr_t)arg;

	do
		*word = ++v;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED));
	last = v;
	return NULL;
}

static uint64_t pages_sent(void)
{
	struct dsm_stats st;

	if (dsm_get_stats(&st) < 0)
		fail("dsm_get_stats failed");
	return st.pages_sent;
}

int main(int argc, char **argv)
{
	unsigned rounds = 200, me, nodes, *order;
	size_t ps;
	char *pages;
	uint64_t *table;

	t_start(&argc, &argv);
	if (argc > 1)
		rounds = parse_uint(argv[1], "ROUNDS", 100000);
	me = (unsigned)dsm_node_id();
	nodes = (unsigned)dsm_num_nodes();
	ps = (size_t)dsm_page_size();
	/* Two pages apart, visited in a shuffled order: no fetch run
	 * brings a round's page before its round. */
	pages = dsm_alloc_collective(2 * rounds * ps);
	table = dsm_alloc_collective(rounds * sizeof(*table));
	order = malloc(rounds * sizeof(*order));
	if (!pages || !table || !order)
		fail("out of memory for %u rounds", rounds);
	for (unsigned r = 0; r < rounds; r++)
		order[r] = r;
	srand(1);
	for (unsigned r = rounds - 1; r > 0; r--) {
		unsigned j = (unsigned)rand() % (r + 1), t = order[r];

		order[r] = order[j];
		order[j] = t;
	}
	if (me == 0) {
		for (unsigned r = 0; r < rounds; r++)
			pages[2 * r * ps] = 1;
		table[0] = 0;
	}
	dsm_barrier();
	if (nodes < 2 || me > 1) {
		for (unsigned r = 0; r < rounds; r++)
			dsm_barrier();
		goto out;
	}
	if (dsm_home_node(pages) != 0)
		fail("the pages' home is node %d, not node 0, which touched them first",
		     dsm_home_node(pages));
	for (unsigned r = 0; r < rounds; r++) {
		unsigned k = order[r];
		volatile uint64_t *p = (volatile uint64_t *)(pages + 2 * k * ps);

		if (me == 0) {
			uint64_t sent = pages_sent();
			double give_up = t_now() + 0.05;
			pthread_t t;

			word = p;
			__atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
			if (pthread_create(&t, NULL, writer, (void *)(uintptr_t)(k * 1000000000ull)))
				fail("cannot start the writer thread");
			/* Stop the writer when the page has gone out (or,
			 * if node 1 had it already, after a while). */
			while (pages_sent() == sent && t_now() < give_up)
				sched_yield();
			__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
			pthread_join(t, NULL);
			table[k] = last;
		} else {
			(void)*p;	/* fetch it while the writer runs */
		}
		dsm_barrier();
		if (me == 1 && *p != table[k])
			fail("round %u: page %u holds %llu after the barrier, but its home wrote "
			     "%llu last", r, k, (unsigned long long)*p, (unsigned long long)table[k]);
	}
out:
	dsm_barrier();
	free(order);
	if (dsm_finalize() < 0)
		fail("dsm_finalize failed");
	return 0;
}
