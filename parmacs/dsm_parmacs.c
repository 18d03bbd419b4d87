/*
 * dsm_parmacs.c - the run-time half of c.m4.dsm: PARMACS (SPLASH-2,
 * SPLASH-3) programs on libdsm's SPMD nodes.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * PARMACS assumes one process that runs sequentially until CREATE forks
 * workers that share its memory.  libdsm starts N processes instead, each
 * running main.  The mapping (dsm-parmacs(7) is the user's version):
 *
 * - Every node runs the sequential part (before the first CREATE and after
 *   WAIT_FOR_END) the same way, so allocations there are collective
 *   (dsm_alloc_collective, same order everywhere) and lock ids come from a
 *   per-process counter that advances the same way everywhere.  Only node
 *   0's stdout is kept in the sequential part.
 * - Worker k of P (the main thread of node 0 is worker 0) runs on node
 *   k mod N; on node n the main thread is worker n, since the program calls
 *   the worker function itself after CREATE, and workers k >= N are
 *   threads.  So every node needs a worker: P >= N.
 * - A BARRIER is a local barrier among the node's workers, the last of
 *   which takes part in the one libdsm barrier for the node (a collective
 *   is called by exactly one thread per node, dsm(3)).
 *
 * Threads: the phase changes (first CREATE, WAIT_FOR_END) happen on the
 * main thread while it is the node's only thread, and pthread_create and
 * pthread_join order them against the workers, so the phase and the CREATE
 * bookkeeping need no lock; only the main thread reads or writes the
 * CREATE bookkeeping while workers run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsm_parmacs.h"

/*
 * Lock ids: the sequential part hands them out upwards from 0 with a
 * private counter (every node gives the same variable the same id, with
 * no message), a worker downwards from the top with a counter in the
 * shared heap under RESERVED_LOCK (a worker's LOCKINIT is seen by the
 * other nodes only through the variable it writes).  They must not meet.
 */
#define RESERVED_LOCK	(DSM_MAX_LOCKS - 1)

struct pm_shared {
	unsigned par_used;	/* ids handed out by workers, under RESERVED_LOCK;
				 * the last is RESERVED_LOCK - par_used */
};

enum pm_phase {
	PM_SEQUENTIAL,		/* before the first CREATE, after WAIT_FOR_END */
	PM_PARALLEL,		/* from the first CREATE to WAIT_FOR_END */
};

struct pm_worker {
	void (*fn)(void);
	long k;
};

static struct {
	int inited;		/* MAIN_INITENV done: 0 -> 1, main thread */
	int finalized;		/* dsm_finalize called: 0 -> 1, main thread */
	int dying;		/* fatal(): skip dsm_finalize at exit */
	int me, nnodes;
	pthread_t main_thread;
	enum pm_phase phase;	/* main thread, only while it runs alone */
	int creating;		/* SPLASH-2 CREATE seen, worker count not final:
				 * main thread only */
	long ncreated;		/* SPLASH-2 CREATE calls in this phase: main only */
	long nworkers;		/* workers in this phase, 0 while unknown */
	unsigned seq_next;	/* next sequential lock id: main thread */
	struct pm_shared *shared;
	pthread_t *threads;	/* this node's worker threads: main thread */
	size_t nthreads, cap;
	int out_saved;		/* nodes != 0: the real stdout, or -1 */
	int out_null;		/* nodes != 0: /dev/null, or -1 */
} pm = { .out_saved = -1, .out_null = -1 };

static __thread long pm_worker_id;	/* k of the calling thread */

/* The node's local barrier (see dsm_parmacs_barrier). */
static pthread_mutex_t bar_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bar_cv = PTHREAD_COND_INITIALIZER;
static long bar_arrived;		/* under bar_mu */
static unsigned long bar_gen;		/* under bar_mu: barriers completed */

static int is_main(void)
{
	return pm.inited && pthread_equal(pthread_self(), pm.main_thread);
}

void dsm_parmacs_fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dsm_parmacs: node %d: ", dsm_node_id());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/*
	 * One node alone: it must not wait in dsm_finalize for nodes that
	 * are elsewhere; they learn that it is gone and end the job.
	 */
	pm.dying = 1;
	exit(1);
}

/*
 * An error that every node meets at the same point of the same code on its
 * main thread, with no worker threads running: node 0 says it once and
 * every node leaves the job cleanly (at_exit's dsm_finalize).
 */
static void __attribute__((format(printf, 1, 2), noreturn)) fatal_all(const char *fmt, ...)
{
	va_list ap;

	if (dsm_node_id() == 0) {
		fputs("dsm_parmacs: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pm.phase = PM_SEQUENTIAL;
	exit(1);
}

static void need_init(const char *what)
{
	if (!pm.inited)
		dsm_parmacs_fatal("%s before MAIN_INITENV", what);
}

/* Where this node's stdout goes: the real one, or /dev/null. */
static void stdout_to(int fd)
{
	if (fd < 0)
		return;
	/* What the program printed so far belongs to the old target. */
	fflush(stdout);
	if (dup2(fd, STDOUT_FILENO) < 0)
		dsm_parmacs_fatal("cannot redirect stdout: %s", strerror(errno));
}

/*
 * At exit (return from main, MAIN_END, exit): leave the job if this is a
 * clean end, the main thread in the sequential part.  From a worker, or in
 * the middle of the parallel part, other threads may still use libdsm, and
 * dsm_finalize would wait for nodes that are not ending: the process just
 * ends, and the other nodes report it lost.
 */
static void at_exit(int status, void *arg)
{
	(void)status;
	(void)arg;
	if (!pm.inited || pm.finalized || pm.dying)
		return;
	if (!is_main() || pm.phase != PM_SEQUENTIAL)
		return;
	pm.finalized = 1;
	fflush(stdout);
	dsm_finalize();
}

void dsm_parmacs_init(void)
{
	const char *out = getenv("PARMACS_OUTPUT");
	int ret;

	if (pm.inited)
		dsm_parmacs_fatal("MAIN_INITENV called twice");
	if (out && strcmp(out, "node0") && strcmp(out, "all")) {
		fprintf(stderr, "dsm_parmacs: PARMACS_OUTPUT=%s: expected node0 or all\n", out);
		exit(1);
	}
	/*
	 * No argc/argv: SPLASH mains differ in how they name them, and many
	 * parse their options before MAIN_INITENV.  dsmrun passes the
	 * configuration in the environment.
	 */
	ret = dsm_init(NULL, NULL);
	if (ret < 0)
		exit(1);	/* dsm_init said why on stderr */
	pm.me = dsm_node_id();
	pm.nnodes = dsm_num_nodes();
	pm.main_thread = pthread_self();
	pm.inited = 1;
	if (on_exit(at_exit, NULL) != 0)
		dsm_parmacs_fatal("on_exit failed");
	pm.shared = dsm_alloc_collective(sizeof(*pm.shared));
	if (!pm.shared)
		fatal_all("MAIN_INITENV: out of shared heap");

	/* The sequential part prints the same on every node: keep node 0's. */
	if (pm.me != 0 && !(out && !strcmp(out, "all"))) {
		pm.out_saved = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		pm.out_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (pm.out_saved < 0 || pm.out_null < 0)
			dsm_parmacs_fatal("MAIN_INITENV: cannot set up stdout: %s", strerror(errno));
		stdout_to(pm.out_null);
	}
}

/*
 * The main thread's first PARMACS call after its SPLASH-2 CREATE calls
 * (usually in the worker function it calls itself) fixes the number of
 * workers; before it, the program cannot have started worker n on node n.
 */
static void settle(void)
{
	if (!is_main() || !pm.creating)
		return;
	pm.creating = 0;
	pm.nworkers = pm.ncreated + 1;
	if (pm.nworkers < pm.nnodes)
		fatal_all("CREATE started %ld worker(s) (the main thread included) on %d nodes: "
			  "every node needs a worker; run on at most %ld node(s)",
			  pm.nworkers, pm.nnodes, pm.nworkers);
}

/* Workers this node runs when there are n in all (k mod N == me, k < n). */
static long local_workers(long n)
{
	return n > pm.me ? (n - pm.me - 1) / pm.nnodes + 1 : 0;
}

/* ------------------------------------------------------------- allocation */

void *dsm_parmacs_malloc(size_t size, const char *what)
{
	void *p;

	need_init(what);
	settle();
	if (pm.phase == PM_SEQUENTIAL && is_main()) {
		/* Every node runs this call, in the same order. */
		p = dsm_alloc_collective(size);
		if (!p)
			fatal_all("%s: out of shared heap for %zu bytes (raise DSM_HEAP_SIZE)",
				  what, size);
	} else {
		/* One worker: its node's arena, valid everywhere. */
		p = dsm_malloc(size);
		if (!p)
			dsm_parmacs_fatal("%s: out of this node's shared arena for %zu bytes "
					  "(raise DSM_HEAP_SIZE)", what, size);
	}
	return p;
}

void dsm_parmacs_free(void *ptr)
{
	/*
	 * In the sequential part every node would free the block, and one
	 * node could reuse it while another still initializes it; PARMACS's
	 * own G_FREE does nothing, so neither do we there.
	 */
	if (pm.inited && pm.phase == PM_PARALLEL)
		dsm_free(ptr);
}

/* ---------------------------------------------------------------- workers */

static void *worker_main(void *arg)
{
	struct pm_worker w = *(struct pm_worker *)arg;

	free(arg);
	pm_worker_id = w.k;
	w.fn();
	return NULL;
}

static void spawn(void (*fn)(void), long k)
{
	struct pm_worker *w = malloc(sizeof(*w));
	int err;

	if (pm.nthreads == pm.cap) {
		size_t cap = pm.cap ? 2 * pm.cap : 8;
		pthread_t *t = realloc(pm.threads, cap * sizeof(*t));

		if (!t)
			dsm_parmacs_fatal("CREATE: out of memory");
		pm.threads = t;
		pm.cap = cap;
	}
	if (!w)
		dsm_parmacs_fatal("CREATE: out of memory");
	w->fn = fn;
	w->k = k;
	err = pthread_create(&pm.threads[pm.nthreads], NULL, worker_main, w);
	if (err)
		dsm_parmacs_fatal("CREATE: worker %ld: pthread_create: %s", k, strerror(err));
	pm.nthreads++;
}

/*
 * The first CREATE of a parallel part.  The barrier orders every node's
 * sequential part (identical writes to the shared heap included) before
 * any worker starts: without it a worker could take an id from a counter
 * that a slower node has yet to set to 0.
 */
static void begin_parallel(void)
{
	stdout_to(pm.out_saved);
	dsm_barrier();
	pm.phase = PM_PARALLEL;
	pm.ncreated = 0;
	pm.nworkers = 0;
	pm_worker_id = pm.me;
}

static void check_create(const char *what)
{
	need_init(what);
	if (!is_main())
		dsm_parmacs_fatal("%s from a worker: only the main thread may create workers", what);
}

void dsm_parmacs_create1(void (*fn)(void))
{
	long k;

	check_create("CREATE");
	if (pm.phase == PM_SEQUENTIAL) {
		begin_parallel();
		pm.creating = 1;
	} else if (!pm.creating) {
		dsm_parmacs_fatal("CREATE after the workers started: call every CREATE "
				  "before the main thread works or synchronizes");
	}
	k = ++pm.ncreated;
	/* Workers 1 .. N-1 are the other nodes' main threads. */
	if (k >= pm.nnodes && k % pm.nnodes == pm.me)
		spawn(fn, k);
}

void dsm_parmacs_createn(void (*fn)(void), long n)
{
	check_create("CREATE");
	if (pm.phase != PM_SEQUENTIAL)
		dsm_parmacs_fatal("CREATE(fn, n) before the WAIT_FOR_END of the previous CREATE");
	if (n < pm.nnodes)
		fatal_all("CREATE(fn, %ld) on %d nodes: every node needs a worker; "
			  "run on at most %ld node(s)", n, pm.nnodes, n < 1 ? 1 : n);
	begin_parallel();
	pm.nworkers = n;
	for (long k = pm.me + pm.nnodes; k < n; k += pm.nnodes)
		spawn(fn, k);
	/* The macro now calls fn() itself: this thread is worker me. */
}

void dsm_parmacs_wait_for_end(long n)
{
	(void)n;	/* SPLASH-2 passes P-1, SPLASH-3 P: we know better */
	need_init("WAIT_FOR_END");
	if (!is_main())
		dsm_parmacs_fatal("WAIT_FOR_END from a worker");
	settle();
	if (pm.phase == PM_SEQUENTIAL) {
		if (pm.nnodes > 1)
			fatal_all("WAIT_FOR_END without CREATE on %d nodes: the program ran one "
				  "worker, on every node; run it on 1 node or with more workers",
				  pm.nnodes);
		return;
	}
	for (size_t i = 0; i < pm.nthreads; i++)
		pthread_join(pm.threads[i], NULL);
	pm.nthreads = 0;
	/* Every node's workers are done, and their writes visible here. */
	dsm_barrier();
	pm.phase = PM_SEQUENTIAL;
	pm_worker_id = 0;
	stdout_to(pm.out_null);
}

long dsm_parmacs_worker_id(void)
{
	settle();
	return pm_worker_id;
}

unsigned long dsm_parmacs_clock(void)
{
	struct timespec ts;

	settle();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000000UL + (unsigned long)ts.tv_nsec / 1000UL;
}

/* ------------------------------------------------------------------ locks */

static void acquire(unsigned id, const char *what)
{
	int ret = dsm_lock_acquire(id);

	if (ret < 0)
		dsm_parmacs_fatal("%s: %s", what, dsm_strerror(ret));
}

static void release(unsigned id, const char *what)
{
	int ret = dsm_lock_release(id);

	if (ret < 0)
		dsm_parmacs_fatal("%s: %s", what, dsm_strerror(ret));
}

/* n consecutive lock ids; returns the first. */
static unsigned alloc_ids(long n, const char *what)
{
	unsigned base;

	need_init(what);
	settle();
	if (n < 1)
		dsm_parmacs_fatal("%s: %ld locks", what, n);
	if (pm.phase == PM_SEQUENTIAL && is_main()) {
		/* par_used changes only in the parallel part, before a barrier. */
		unsigned top = RESERVED_LOCK - pm.shared->par_used;

		if ((unsigned long)n > top - pm.seq_next)
			fatal_all("%s: out of lock ids (%u in use, %ld more asked for, "
				  "libdsm has %d)", what, pm.seq_next + pm.shared->par_used + 1,
				  n, DSM_MAX_LOCKS);
		base = pm.seq_next;
		pm.seq_next += (unsigned)n;
		return base;
	}
	acquire(RESERVED_LOCK, what);
	base = RESERVED_LOCK - pm.shared->par_used;	/* one past the free range */
	if ((unsigned long)n > base - pm.seq_next)
		dsm_parmacs_fatal("%s: out of lock ids (%u in use, %ld more asked for, "
				  "libdsm has %d)", what, pm.seq_next + pm.shared->par_used + 1,
				  n, DSM_MAX_LOCKS);
	pm.shared->par_used += (unsigned)n;
	base -= (unsigned)n;
	release(RESERVED_LOCK, what);
	return base;
}

void dsm_parmacs_lock_init(struct dsm_parmacs_lock *l, const char *what)
{
	l->id1 = alloc_ids(1, what) + 1;
}

static unsigned lock_id(const struct dsm_parmacs_lock *l, const char *what)
{
	unsigned id1 = l->id1;

	if (id1 == 0)
		dsm_parmacs_fatal("%s: the lock was not initialized (LOCKINIT)", what);
	return id1 - 1;
}

void dsm_parmacs_lock(struct dsm_parmacs_lock *l, const char *what)
{
	settle();
	acquire(lock_id(l, what), what);
}

void dsm_parmacs_unlock(struct dsm_parmacs_lock *l, const char *what)
{
	settle();
	release(lock_id(l, what), what);
}

void dsm_parmacs_alock_init(struct dsm_parmacs_alock *a, long n, const char *what)
{
	unsigned base = alloc_ids(n, what);

	a->base1 = base + 1;
	a->n = (unsigned)n;
}

static unsigned alock_id(const struct dsm_parmacs_alock *a, long i, const char *what)
{
	unsigned base1 = a->base1, n = a->n;

	if (base1 == 0)
		dsm_parmacs_fatal("%s: the lock array was not initialized (ALOCKINIT)", what);
	if (i < 0 || (unsigned long)i >= n)
		dsm_parmacs_fatal("%s: index %ld outside the %u locks of ALOCKINIT", what, i, n);
	return base1 - 1 + (unsigned)i;
}

void dsm_parmacs_alock(struct dsm_parmacs_alock *a, long i, const char *what)
{
	settle();
	acquire(alock_id(a, i, what), what);
}

void dsm_parmacs_aulock(struct dsm_parmacs_alock *a, long i, const char *what)
{
	settle();
	release(alock_id(a, i, what), what);
}

/* --------------------------------------------------------------- barriers */

void dsm_parmacs_bar_init(struct dsm_parmacs_bar *b)
{
	need_init("BARINIT");
	b->inited = 1;
}

/*
 * BARRIER(b, n): all n workers meet.  Every worker passes the same
 * barriers in the same order (PARMACS has no subsets: BAREXCLUDE does
 * nothing), so one local barrier per node serves every barrier variable.
 * The node's share of the n workers comes from n and the placement, not
 * from the threads started so far: a SPLASH-2 worker may reach its first
 * barrier while the main thread is still calling CREATE.
 */
void dsm_parmacs_barrier(struct dsm_parmacs_bar *b, long n, const char *what)
{
	unsigned long gen;
	long local;

	(void)b;
	need_init(what);
	settle();
	if (pm.phase == PM_SEQUENTIAL) {
		if (!is_main())
			dsm_parmacs_fatal("%s: from a thread CREATE did not start", what);
		dsm_barrier();
		return;
	}
	if (is_main() && pm.nworkers && n != pm.nworkers)
		dsm_parmacs_fatal("%s: %ld workers, but CREATE started %ld: a barrier "
				  "includes every worker", what, n, pm.nworkers);
	local = local_workers(n);
	if (local < 1 || pm_worker_id >= n)
		dsm_parmacs_fatal("%s: %ld workers, but this is worker %ld", what, n, pm_worker_id);

	pthread_mutex_lock(&bar_mu);
	gen = bar_gen;
	if (++bar_arrived < local) {
		while (gen == bar_gen)
			pthread_cond_wait(&bar_cv, &bar_mu);
		pthread_mutex_unlock(&bar_mu);
		return;
	}
	bar_arrived = 0;
	pthread_mutex_unlock(&bar_mu);
	/*
	 * The node's other workers wrote before they arrived (bar_mu orders
	 * that before this call), so this release publishes their writes
	 * too, and they read nothing shared until the broadcast, which comes
	 * after the acquire.
	 */
	dsm_barrier();
	pthread_mutex_lock(&bar_mu);
	bar_gen++;
	pthread_cond_broadcast(&bar_cv);
	pthread_mutex_unlock(&bar_mu);
}

/* ----------------------------------------- GETSUB, pauses and semaphores */

void dsm_parmacs_gs_init(struct dsm_parmacs_gs *gs, const char *what)
{
	dsm_parmacs_lock_init(&gs->lock, what);
	gs->next = 0;
	gs->done = 0;
}

/*
 * The Argonne macros' GETSUB: every worker asks until it gets -1, and the
 * counter starts again only when all n have (c.m4.null resets at the first
 * -1, which is only right with one worker).
 */
long dsm_parmacs_getsub(struct dsm_parmacs_gs *gs, long max, long n, const char *what)
{
	long sub;

	dsm_parmacs_lock(&gs->lock, what);
	if (gs->next <= max) {
		sub = gs->next++;
	} else {
		sub = -1;
		if (++gs->done >= n) {
			gs->next = 0;
			gs->done = 0;
		}
	}
	dsm_parmacs_unlock(&gs->lock, what);
	return sub;
}

/* Between two polls of a flag: doubling from 20 us to 1 ms. */
static void backoff(long *us)
{
	struct timespec ts = { 0, *us * 1000L };

	nanosleep(&ts, NULL);
	if (*us < 1000)
		*us *= 2;
}

void dsm_parmacs_pause_init(struct dsm_parmacs_pause *p, const char *what)
{
	dsm_parmacs_lock_init(&p->lock, what);
	p->flag = 0;
}

void dsm_parmacs_pause_set(struct dsm_parmacs_pause *p, int flag, const char *what)
{
	dsm_parmacs_lock(&p->lock, what);
	p->flag = flag;
	dsm_parmacs_unlock(&p->lock, what);
}

/*
 * WAITPAUSE polls the flag under its lock rather than spinning on it: the
 * lock acquire is what makes the setter's writes visible under release
 * and weak consistency.
 */
void dsm_parmacs_pause_wait(struct dsm_parmacs_pause *p, const char *what)
{
	long us = 20;

	for (;;) {
		int flag;

		dsm_parmacs_lock(&p->lock, what);
		flag = p->flag;
		dsm_parmacs_unlock(&p->lock, what);
		if (flag)
			return;
		backoff(&us);
	}
}

void dsm_parmacs_sem_init(struct dsm_parmacs_sem *s, long count, const char *what)
{
	dsm_parmacs_lock_init(&s->lock, what);
	s->count = count;
}

void dsm_parmacs_sem_p(struct dsm_parmacs_sem *s, const char *what)
{
	long us = 20;

	for (;;) {
		dsm_parmacs_lock(&s->lock, what);
		if (s->count > 0) {
			s->count--;
			dsm_parmacs_unlock(&s->lock, what);
			return;
		}
		dsm_parmacs_unlock(&s->lock, what);
		backoff(&us);
	}
}

void dsm_parmacs_sem_v(struct dsm_parmacs_sem *s, const char *what)
{
	dsm_parmacs_lock(&s->lock, what);
	s->count++;
	dsm_parmacs_unlock(&s->lock, what);
}
