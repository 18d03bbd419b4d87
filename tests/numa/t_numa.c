/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_numa.c - the libdsm program behind tests/numa/check_numa*.sh: one
 * NUMA behaviour per run, checked here, one "PASS: ..." or "FAIL: ..."
 * line per check (exit 1 on any FAIL).  Where pages live comes from the
 * kernel, through move_pages(2)'s query mode; which domain a thread runs
 * on from getcpu(2).
 *
 *   t_numa affinity           print this node's CPUs, and those of a thread
 *                             numbered 1 (dsm_bind_thread)
 *   t_numa first-touch N      threads 0 and 1 each write their half of N
 *                             pages: each half must be on its writer's domain
 *   t_numa interleave N       one thread writes N pages: both domains hold some
 *   t_numa migrate            a page written on one domain, then used only by
 *                             a thread of the other, must move there, once
 *   t_numa freeze             two threads on two domains take turns on a page:
 *                             after 3 migrations it must freeze and stay
 *   t_numa takeover           a page used by one domain's thread for 3 s, then
 *                             by the other's only, in stretches of 1.2 s: it
 *                             must follow each stretch within 1.2 s, 3 times,
 *                             and not freeze
 *   t_numa replicate          2 nodes, one per domain: node 1 reads node 0's
 *                             page: its read-only copy is a replica on its domain
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dsm.h>

static int failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: node %d: ", ok ? "PASS" : "FAIL", dsm_node_id());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The NUMA node this thread runs on now. */
static int my_node(void)
{
	unsigned int cpu = 0, node = 0;

	sched_yield();
	if (syscall(SYS_getcpu, &cpu, &node, NULL) < 0)
		return -1;
	return (int)node;
}

/*
 * The NUMA node holding the frame of addr, or -errno.  The page is touched
 * first: under DSM_NUMA=migrate the scanner closes pages now and then to
 * sample their use, and move_pages(2) does not find a closed page (ENOENT);
 * the read reopens it, so retry a few times in case the scanner was quick.
 */
static int page_node(void *addr)
{
	int status = -1;

	for (int tries = 0; tries < 20; tries++) {
		(void)*(volatile char *)addr;
		if (syscall(SYS_move_pages, 0, 1UL, &addr, NULL, &status, 0) < 0)
			return -errno;
		if (status != -ENOENT)
			break;
	}
	return status;
}

static struct dsm_stats stats(void)
{
	struct dsm_stats s;

	memset(&s, 0, sizeof(s));
	dsm_get_stats(&s);
	return s;
}

static void cpus_line(const char *who)
{
	char line[256];
	FILE *f = fopen("/proc/thread-self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Cpus_allowed_list:", 18))
			printf("node %d %s cpus %s", dsm_node_id(), who, line + 18 + strspn(line + 18, " \t"));
	if (f)
		fclose(f);
	fflush(stdout);
}

/* ------------------------------------------------------------ threads */

struct worker {
	int index;		/* dsm_bind_thread number */
	int node;		/* where it ran */
	char *base;		/* pages to write */
	size_t npages;
	volatile int *go;	/* private to this process */
	volatile int *stop;
	int phase;		/* run while *go == phase */
};

static void *affinity_thread(void *arg)
{
	(void)arg;
	dsm_bind_thread(1);
	cpus_line("thread1");
	return NULL;
}

static void *write_half(void *arg)
{
	struct worker *w = arg;
	size_t ps = dsm_page_size();

	dsm_bind_thread(w->index);
	w->node = my_node();
	for (size_t i = 0; i < w->npages; i++)
		memset(w->base + i * ps, w->index + 1, ps);
	return NULL;
}

/* Touch page p whenever *go says it is our turn, until *stop. */
static void *turns(void *arg)
{
	struct worker *w = arg;
	volatile uint64_t *p = (volatile uint64_t *)w->base;

	dsm_bind_thread(w->index);
	w->node = my_node();
	while (!*w->stop) {
		if (*w->go != w->index) {
			usleep(1000);
			continue;
		}
		for (int i = 0; i < 512; i++)
			p[i] += 1;
		usleep(200);
	}
	return NULL;
}

/* Threads 0 and 1 running turns() on page a, until turns_stop(). */
static void turns_start(struct worker w[2], pthread_t t[2], char *a, volatile int *go,
			volatile int *stop)
{
	for (int k = 0; k < 2; k++) {
		w[k] = (struct worker){ .index = k, .base = a, .go = go, .stop = stop };
		pthread_create(&t[k], NULL, turns, &w[k]);
	}
}

static void turns_stop(pthread_t t[2], volatile int *stop)
{
	*stop = 1;
	for (int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
}

/* ------------------------------------------------------------ cases */

static void run_first_touch(size_t npages)
{
	size_t ps = dsm_page_size(), half = npages / 2, ok[2] = { 0, 0 };
	char *a = dsm_alloc_collective(npages * ps);
	struct worker w[2];
	pthread_t t[2];

	for (int k = 0; k < 2; k++) {
		w[k] = (struct worker){ .index = k, .base = a + k * half * ps, .npages = half };
		pthread_create(&t[k], NULL, write_half, &w[k]);
		pthread_join(t[k], NULL);	/* one after the other: no race for a CPU */
	}
	check(w[0].node != w[1].node, "threads 0 and 1 ran on domains %d and %d", w[0].node,
	      w[1].node);
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < half; i++)
			ok[k] += page_node(a + (k * half + i) * ps) == w[k].node;
	for (int k = 0; k < 2; k++)
		check(ok[k] == half, "first-touch: %zu of %zu pages written by thread %d are on "
		      "its domain %d", ok[k], half, k, w[k].node);
}

static void run_interleave(size_t npages)
{
	size_t ps = dsm_page_size(), on[64] = { 0 };
	char *a = dsm_alloc_collective(npages * ps);
	int nodes = 0;

	memset(a, 7, npages * ps);
	for (size_t i = 0; i < npages; i++) {
		int n = page_node(a + i * ps);

		if (n >= 0 && n < 64)
			on[n]++;
	}
	for (int n = 0; n < 64; n++)
		if (on[n]) {
			nodes++;
			printf("node %d: interleave: %zu of %zu pages on domain %d\n", dsm_node_id(),
			       on[n], npages, n);
		}
	check(nodes >= 2 && on[0] >= npages / 4 && on[1] >= npages / 4,
	      "interleave: pages spread over %d domains (%zu on 0, %zu on 1)", nodes, on[0], on[1]);
}

/* Wait until numa_migrations reaches want, or timeout seconds. */
static int wait_migrations(uint64_t want, double timeout)
{
	double end = now_s() + timeout;

	while (stats().numa_migrations < want && now_s() < end)
		usleep(5000);
	return stats().numa_migrations >= want;
}

static void run_migrate(int rounds)
{
	size_t ps = dsm_page_size();
	char *a = dsm_alloc_collective(ps);
	volatile int go = -1, stop = 0;
	struct worker w[2];
	pthread_t t[2];
	int owner = 0, home;
	double t0;

	turns_start(w, t, a, &go, &stop);
	/* Thread 0 touches it first: it lives on thread 0's domain. */
	go = 0;
	usleep(100000);
	home = page_node(a);
	check(home == w[0].node, "the page is on the domain of the thread that touched it "
	      "first (%d; thread 0 on %d, thread 1 on %d)", home, w[0].node, w[1].node);
	for (int r = 1; r <= rounds; r++) {
		owner = r % 2;
		t0 = now_s();
		go = owner;
		if (!wait_migrations((uint64_t)r, 60)) {
			check(0, "migration %d: thread %d used the page for %.1f s, it did not move "
			      "(numa_migrations %llu)", r, owner, now_s() - t0,
			      (unsigned long long)stats().numa_migrations);
			break;
		}
		usleep(20000);	/* the move is done before the counter; let the query see it */
		check(page_node(a) == w[owner].node, "migration %d: the page moved to domain %d "
		      "of its only user in %.2f s", r, page_node(a), now_s() - t0);
	}
	if (rounds >= 3) {
		struct dsm_stats s = stats();
		int where = page_node(a);

		check(s.numa_freezes == 1, "after 3 migrations the page is frozen (numa_freezes %llu)",
		      (unsigned long long)s.numa_freezes);
		/* The other thread now uses it: frozen, it must stay. */
		go = !owner;
		t0 = now_s();
		while (now_s() - t0 < 1.0)
			usleep(10000);
		s = stats();
		check(s.numa_migrations == 3 && page_node(a) == where,
		      "frozen: used only from domain %d for 1 s, the page stayed on %d "
		      "(numa_migrations %llu)", w[!owner].node, page_node(a),
		      (unsigned long long)s.numa_migrations);
	} else {
		usleep(300000);
		check(stats().numa_migrations == (uint64_t)rounds && stats().numa_freezes == 0,
		      "numa_migrations %llu, numa_freezes %llu: exactly %d and 0",
		      (unsigned long long)stats().numa_migrations,
		      (unsigned long long)stats().numa_freezes, rounds);
	}
	turns_stop(t, &stop);
}

/*
 * A page another domain takes over, after a long use by its first one,
 * follows it within 1.2 s; and stretches longer than half the freeze
 * window (640 ms at the default period) are followed, not frozen (the
 * old window, 4 (min_accesses + 16) scan periods, lasted 2 to 12 s in the
 * guest, long enough to hold 3 moves 1.2 s apart).  The evidence rules
 * themselves are unit tests (check_numa_unit's "rules").
 */
static void run_takeover(void)
{
	const double limit = 1.2, stretch = 1.2;
	size_t ps = dsm_page_size();
	char *a = dsm_alloc_collective(ps);
	volatile int go = -1, stop = 0;
	struct worker w[2];
	pthread_t t[2];
	double t0;

	turns_start(w, t, a, &go, &stop);
	go = 0;
	usleep(3000000);
	check(page_node(a) == w[0].node && stats().numa_migrations == 0,
	      "used by thread 0 only for 3 s, the page stayed on its domain %d (%d, "
	      "numa_migrations %llu)", w[0].node, page_node(a),
	      (unsigned long long)stats().numa_migrations);
	for (int r = 1; r <= 3; r++) {
		int owner = r % 2;
		double took;

		t0 = now_s();
		go = owner;
		wait_migrations((uint64_t)r, 10);
		took = now_s() - t0;
		usleep(20000);	/* the move is done before the counter; let the query see it */
		check(stats().numa_migrations >= (uint64_t)r && took <= limit &&
		      page_node(a) == w[owner].node,
		      "takeover %d: thread %d's domain %d alone used the page; it moved there in "
		      "%.2f s (at most %.1f s; numa_migrations %llu, on %d)", r, owner,
		      w[owner].node, took, limit, (unsigned long long)stats().numa_migrations,
		      page_node(a));
		while (now_s() - t0 < stretch)
			usleep(10000);
	}
	check(stats().numa_migrations == 3 && stats().numa_freezes == 0,
	      "stretches of %.1f s: 3 migrations, no freeze (numa_migrations %llu, "
	      "numa_freezes %llu)", stretch, (unsigned long long)stats().numa_migrations,
	      (unsigned long long)stats().numa_freezes);
	turns_stop(t, &stop);
}

static void run_replicate(void)
{
	size_t ps = dsm_page_size();
	volatile uint64_t *a = dsm_alloc_collective(ps);
	uint64_t sum = 0;
	double t0;

	if (dsm_num_nodes() != 2) {
		check(0, "replicate needs 2 nodes");
		return;
	}
	if (dsm_node_id() == 0)
		for (int i = 0; i < 512; i++)
			a[i] = (uint64_t)i;
	dsm_barrier();
	if (dsm_node_id() == 1) {
		t0 = now_s();
		while (stats().numa_replications < 1 && now_s() - t0 < 60) {
			for (int i = 0; i < 512; i++)
				sum += a[i];
			usleep(500);
		}
		check(sum % 130816 == 0, "node 1 read node 0's values");
		check(stats().numa_replications >= 1, "node 1 keeps a read-only replica of node 0's "
		      "page after %.2f s (numa_replications %llu)", now_s() - t0,
		      (unsigned long long)stats().numa_replications);
		check(page_node((void *)a) == my_node(), "node 1's replica is on its domain %d (%d)",
		      my_node(), page_node((void *)a));
	} else {
		check(page_node((void *)a) == my_node(), "node 0's page is on its domain %d (%d)",
		      my_node(), page_node((void *)a));
	}
	dsm_barrier();
	check(stats().numa_migrations == 0, "no migration: a replica instead (numa_migrations %llu)",
	      (unsigned long long)stats().numa_migrations);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
	int ret;

	ret = dsm_init(&argc, &argv);
	if (ret < 0)
		return 1;
	if (n < 2 || n > 4096)
		n = 64;
	if (!strcmp(what, "affinity")) {
		pthread_t t;

		cpus_line("main");
		pthread_create(&t, NULL, affinity_thread, NULL);
		pthread_join(t, NULL);
	} else if (!strcmp(what, "first-touch")) {
		run_first_touch(n);
	} else if (!strcmp(what, "interleave")) {
		run_interleave(n);
	} else if (!strcmp(what, "migrate")) {
		run_migrate(1);
	} else if (!strcmp(what, "freeze")) {
		run_migrate(3);
	} else if (!strcmp(what, "takeover")) {
		run_takeover();
	} else if (!strcmp(what, "replicate")) {
		run_replicate();
	} else {
		fprintf(stderr, "t_numa: unknown case '%s'\n", what);
		failures++;
	}
	if (dsm_finalize() < 0)
		failures++;
	return failures ? 1 : 0;
}
