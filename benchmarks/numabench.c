/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * numabench.c - what DSM_NUMA's policies do for the threads of one node
 * spread over two NUMA domains.  Public API (and the kernel's move_pages
 * and getcpu) only.
 *
 *   DSM_BIND=numa DSM_NUMA=POLICY dsmrun -n 1 benchmarks/numabench own|swap
 *       [-i serial|parallel] [-p PAGES] [-f PHASES] [-t SECONDS]
 *
 * The node shares an array of PAGES pages (256) between two threads,
 * numbered 0 and 1 (dsm_bind_thread: one per domain).  -i serial (the
 * default): the node's main thread (application thread 0, bound to the
 * first domain) initializes the whole array, as a serial program does, so
 * first-touch places it all on the first domain.  -i parallel: each thread
 * initializes the half it works on first, so first-touch places each half
 * on its thread's domain.  Then the two threads run PHASES phases (6) of
 * SECONDS seconds (1.5) each, separated by a barrier of the node's
 * threads.  In a phase a thread sweeps its half of the array again and
 * again (a load and a store of every 8-byte word).  own: thread k always
 * works on half k.  swap: the halves swap every phase (thread k on half k
 * in even phases, on the other half in odd ones).
 *
 * Remote accesses are counted from where the pages are: at the start of
 * every phase, every 0.1 s of it and at its end, each thread asks
 * move_pages(2) (query mode) where each page of its half for that phase
 * lies; a page on another domain than the thread's is remote for it.
 * remote_pct is the share of those thread-page queries that found the
 * page remote: about the share of the working time a page was remote, so
 * a page that follows its user soon after a swap counts little.
 *
 * Output (one line):
 *   DSM_NUMA_BENCH variant=V init=I policy=P pages=N phases=F seconds=S
 *     sweeps=W ns_per_page=T remote_pct=R migrations=M replications=R2
 *     freezes=Z domains=D0,D1
 * ns_per_page is the threads' working time per page swept (the queries
 * are not timed).  Under an emulator (the guest of ../shared/tools/vm)
 * remote memory costs what local memory costs, so there the remote counts
 * are what matters, and the time shows the policies' own overhead.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dsm.h>

#include "benchmarks/bench_common.h"

#define QUERY_EVERY_S 0.1	/* where the pages are: asked this often */

static int variant_swap, init_parallel;
static size_t npages = 256, half;
static int phases = 6;
static double phase_s = 1.5;
static char *array;
static pthread_barrier_t bar;

struct worker {
	int index;
	int node;		/* the domain it runs on */
	uint64_t sweeps;	/* pages swept */
	double work_s;		/* time sweeping */
	uint64_t remote;	/* remote pages found by the queries */
	uint64_t counted;	/* pages the queries asked about */
};

static int my_node(void)
{
	unsigned int cpu = 0, node = 0;

	sched_yield();
	syscall(SYS_getcpu, &cpu, &node, NULL);
	return (int)node;
}

/* How many of the n pages from first are not on domain node.  Each page
 * is read first: the migrate policy's scanner closes pages to sample
 * them, and move_pages(2) does not see a closed page. */
static uint64_t remote_pages(char *first, size_t n, int node)
{
	size_t ps = dsm_page_size();
	uint64_t remote = 0;

	for (size_t i = 0; i < n; i++) {
		void *addr = first + i * ps;
		int status = -ENOENT;

		for (int tries = 0; tries < 20 && status == -ENOENT; tries++) {
			(void)*(volatile char *)addr;
			if (syscall(SYS_move_pages, 0, 1UL, &addr, NULL, &status, 0) < 0)
				status = -errno;
		}
		remote += status >= 0 && status != node;
	}
	return remote;
}

/* One query of where the pages of the half are, added to w's counts;
 * returns the time it took, which is not working time. */
static double query(struct worker *w, char *mine)
{
	double t0 = bench_now();

	w->remote += remote_pages(mine, half, w->node);
	w->counted += half;
	return bench_now() - t0;
}

static void sweep(char *mine)
{
	size_t ps = dsm_page_size();

	for (size_t i = 0; i < half; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(mine + i * ps);

		for (size_t k = 0; k < ps / sizeof(uint64_t); k++)
			p[k] += 1;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t ps = dsm_page_size();

	dsm_bind_thread(w->index);
	w->node = my_node();
	if (init_parallel)
		memset(array + (size_t)w->index * half * ps, 1, half * ps);
	for (int ph = 0; ph < phases; ph++) {
		int h = variant_swap && (ph % 2) ? !w->index : w->index;
		char *mine = array + (size_t)h * half * ps;
		double t0, end, next_query, untimed;

		pthread_barrier_wait(&bar);
		query(w, mine);
		t0 = bench_now();
		end = t0 + phase_s;
		next_query = t0 + QUERY_EVERY_S;
		untimed = 0;
		do {
			sweep(mine);
			w->sweeps += half;
			if (bench_now() >= next_query) {
				double q = query(w, mine);

				untimed += q;
				end += q;
				next_query = bench_now() + QUERY_EVERY_S;
			}
		} while (bench_now() < end);
		w->work_s += bench_now() - t0 - untimed;
		query(w, mine);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: numabench own|swap [-i serial|parallel] [-p PAGES] [-f PHASES] "
		"[-t SECONDS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct worker w[2];
	struct dsm_stats s;
	pthread_t t[2];
	const char *policy = getenv("DSM_NUMA") ? getenv("DSM_NUMA") : "off";
	uint64_t sweeps = 0, remote = 0, counted = 0;
	double work = 0;
	long v;
	int opt;

	if (dsm_init(&argc, &argv) < 0)
		return 1;
	if (argc < 2 || (strcmp(argv[1], "own") && strcmp(argv[1], "swap")))
		usage();
	variant_swap = !strcmp(argv[1], "swap");
	optind = 2;
	while ((opt = getopt(argc, argv, "i:p:f:t:")) != -1) {
		switch (opt) {
		case 'i':
			if (strcmp(optarg, "serial") && strcmp(optarg, "parallel"))
				usage();
			init_parallel = !strcmp(optarg, "parallel");
			break;
		case 'p':
			if (bench_parse_long(optarg, 2, 1 << 20, &v) < 0)
				usage();
			npages = (size_t)v & ~(size_t)1;
			break;
		case 'f':
			if (bench_parse_int(optarg, 1, 1000, &phases) < 0)
				usage();
			break;
		case 't':
			phase_s = atof(optarg);
			if (phase_s <= 0)
				usage();
			break;
		default:
			usage();
		}
	}
	half = npages / 2;
	array = dsm_alloc_collective(npages * dsm_page_size());
	if (!array) {
		fprintf(stderr, "numabench: out of shared heap for %zu pages\n", npages);
		return 1;
	}
	/* -i serial: by the main thread (application thread 0); -i parallel:
	 * each worker its own half, before its first phase. */
	if (!init_parallel)
		memset(array, 1, npages * dsm_page_size());
	pthread_barrier_init(&bar, NULL, 2);
	for (int k = 0; k < 2; k++) {
		w[k] = (struct worker){ .index = k };
		pthread_create(&t[k], NULL, worker_main, &w[k]);
	}
	for (int k = 0; k < 2; k++) {
		pthread_join(t[k], NULL);
		sweeps += w[k].sweeps;
		work += w[k].work_s;
		remote += w[k].remote;
		counted += w[k].counted;
	}
	dsm_get_stats(&s);
	printf("DSM_NUMA_BENCH variant=%s init=%s policy=%s pages=%zu phases=%d seconds=%.2f sweeps=%llu "
	       "ns_per_page=%.1f remote_pct=%.1f migrations=%llu replications=%llu freezes=%llu "
	       "domains=%d,%d\n",
	       argv[1], init_parallel ? "parallel" : "serial", policy, npages, phases, work / 2, (unsigned long long)sweeps,
	       work * 1e9 / (double)(sweeps ? sweeps : 1),
	       100.0 * (double)remote / (double)(counted ? counted : 1),
	       (unsigned long long)s.numa_migrations, (unsigned long long)s.numa_replications,
	       (unsigned long long)s.numa_freezes, w[0].node, w[1].node);
	fflush(stdout);
	return dsm_finalize() < 0;
}
