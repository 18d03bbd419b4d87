/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tsp.c - branch and bound travelling salesman with a shared work queue,
 * in the style of the TreadMarks TSP (libdsm app suite).
 *
 * The instance: CITIES random points in a 1000 x 1000 square (from a hash
 * of the seed), distances rounded to integers, so it is symmetric and every
 * node can build it in private memory.  Tours start and end at city 0.
 *
 * The search: a partial tour is a path from city 0.  Its lower bound is its
 * length plus, for every city still to be entered (each unvisited city, and
 * city 0 at the end), the shortest edge at that city; a partial tour whose
 * bound is not below the best tour known is dropped.  Children are tried
 * nearest city first, so good tours come early.
 *
 * The parallel structure: all of it lives in one shared block under one
 * lock (TSP_LOCK): a stack of partial tours (the work queue), the count of
 * outstanding work, and the best tour so far with its length.  A worker
 * (each thread of each node) loops on one critical section that
 *
 *   - retires the partial tour it worked on last: pushes the children it
 *     made of it (if it was shorter than SPLIT cities) or nothing (if it
 *     searched it to the end itself), and adds (children - 1) to the
 *     outstanding count;
 *   - publishes its best tour, if it found one better than the shared one;
 *   - copies the shared best length into its private bound;
 *   - pops the next partial tour, if any.
 *
 * Then, out of the lock, it expands the partial tour into children, or
 * searches it depth-first in private memory with its private bound.  A
 * private bound may be stale (another worker found better meanwhile): that
 * only prunes less.  One lock operation per partial tour keeps the
 * synchronization cheap: under weak consistency every lock operation drops
 * the node's cached pages.
 *
 * Termination: the outstanding count is the number of partial tours on the
 * stack or being worked on, and it changes only under the lock.  A worker
 * that finds the stack empty and the count zero is done: no one holds work
 * that could make more.  A worker that finds the stack empty but the count
 * not zero releases the lock, sleeps a little (backing off up to 2 ms), and
 * tries again, acquiring the lock each time: it never spins on shared
 * memory.  (Locks belong to nodes and are not reentrant, so the threads of
 * one node exclude each other like any two nodes.)
 *
 * Why it is data-race-free: the shared block is read and written only
 * under TSP_LOCK, except by node 0 before the first barrier (the root
 * partial tour) and after the last barrier (the result).
 *
 * The check: node 0 solves the instance sequentially in private memory with
 * the same depth-first search from the root, and the lengths must be equal
 * (integers, so bitwise); the shared best tour must visit every city once,
 * start at city 0, and have exactly that length.  (Different runs may find
 * different optimal tours when several tie; the length is unique.)
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/common/app.h"

#define TSP_DEF_CITIES	19
#define TSP_DEF_SPLIT	3
#define TSP_DEF_SEED	2
#define TSP_MAX_CITIES	24	/* visited sets are 32-bit masks */
#define TSP_MAX_SPLIT	6
#define TSP_LOCK	0

/* A partial tour: path[0 .. len-1], path[0] == 0. */
struct tsp_item {
	int32_t cost;		/* length of the path */
	int32_t len;		/* cities on the path */
	uint32_t visited;	/* bit c: city c is on the path */
	uint8_t path[TSP_MAX_CITIES];
};

/* The shared block: every field under TSP_LOCK. */
struct tsp_shared {
	int32_t best;			/* best tour length, INT32_MAX if none */
	uint8_t best_tour[TSP_MAX_CITIES];
	long top;			/* partial tours on the stack */
	long outstanding;		/* on the stack or being worked on */
	long processed;			/* partial tours popped, for the report */
	struct tsp_item stack[];	/* cap entries */
};

/* The instance, in each node's private memory. */
struct tsp_inst {
	int n;
	int32_t d[TSP_MAX_CITIES][TSP_MAX_CITIES];
	int32_t minedge[TSP_MAX_CITIES];	/* shortest edge at each city */
	uint8_t near[TSP_MAX_CITIES][TSP_MAX_CITIES - 1]; /* others, nearest first */
};

/* One worker's private state. */
struct tsp_worker {
	const struct tsp_inst *in;
	struct tsp_item cur;		/* the partial tour being worked on */
	bool have;
	struct tsp_item kids[TSP_MAX_CITIES];	/* children of cur to push */
	int nkids;
	int32_t best;			/* private bound: best length known */
	uint8_t tour[TSP_MAX_CITIES];	/* a tour of length best, if improved */
	bool improved;			/* tour not yet published */
};

/* Everything the threads of one node share (private memory). */
struct tsp {
	struct tsp_inst in;
	int split;
	int nthreads;
	long cap;			/* stack entries */
	struct tsp_shared *sh;		/* shared */
	double start[APP_MAX_THREADS];	/* when each thread began to work */
	double t0, t1;			/* timed region: first start, thread 0's end */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n CITIES] [-d SPLIT] [-r SEED] [-t THREADS]\n"
		"  -n CITIES   cities (3..%d, default %d)\n"
		"  -d SPLIT    partial tours shorter than SPLIT cities are split into\n"
		"              children on the shared queue, longer ones are searched\n"
		"              by one worker (2..%d, default %d)\n"
		"  -r SEED     instance number (default %d)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, TSP_MAX_CITIES, TSP_DEF_CITIES, TSP_MAX_SPLIT, TSP_DEF_SPLIT,
		TSP_DEF_SEED, APP_MAX_THREADS);
}

/* The instance of seed: n random points, rounded Euclidean distances. */
static void make_instance(struct tsp_inst *in, int n, long seed)
{
	double x[TSP_MAX_CITIES], y[TSP_MAX_CITIES];
	int i, j, k;

	in->n = n;
	for (i = 0; i < n; i++) {
		x[i] = 1000 * app_hash01((uint64_t)seed, 2 * (uint64_t)i);
		y[i] = 1000 * app_hash01((uint64_t)seed, 2 * (uint64_t)i + 1);
	}
	for (i = 0; i < n; i++) {
		in->minedge[i] = INT32_MAX;
		for (j = 0; j < n; j++) {
			in->d[i][j] = (int32_t)lround(hypot(x[i] - x[j], y[i] - y[j]));
			if (j != i && in->d[i][j] < in->minedge[i])
				in->minedge[i] = in->d[i][j];
		}
	}
	/* Insertion sort of the other cities by distance, ties by number. */
	for (i = 0; i < n; i++) {
		int m = 0;

		for (j = 0; j < n; j++) {
			if (j == i)
				continue;
			for (k = m; k > 0 && in->d[i][in->near[i][k - 1]] > in->d[i][j]; k--)
				in->near[i][k] = in->near[i][k - 1];
			in->near[i][k] = (uint8_t)j;
			m++;
		}
	}
}

/* Sum of the shortest edges at the cities not in visited. */
static int32_t rest_bound(const struct tsp_inst *in, uint32_t visited)
{
	int32_t r = 0;

	for (int c = 0; c < in->n; c++)
		if (!(visited & 1u << c))
			r += in->minedge[c];
	return r;
}

/*
 * Depth-first branch and bound below path[0 .. len-1] (length cost, cities
 * visited, rest = rest_bound(visited)), in private memory.  Improves
 * w->best and w->tour.
 */
static void dfs(struct tsp_worker *w, uint8_t *path, int len, int32_t cost,
		uint32_t visited, int32_t rest)
{
	const struct tsp_inst *in = w->in;
	int last = path[len - 1];

	if (cost + rest + in->minedge[0] >= w->best)
		return;
	if (len == in->n) {
		int32_t total = cost + in->d[last][0];

		if (total < w->best) {
			w->best = total;
			memcpy(w->tour, path, (size_t)in->n);
			w->improved = true;
		}
		return;
	}
	for (int k = 0; k < in->n - 1; k++) {
		int c = in->near[last][k];

		if (visited & 1u << c)
			continue;
		path[len] = (uint8_t)c;
		dfs(w, path, len + 1, cost + in->d[last][c], visited | 1u << c,
		    rest - in->minedge[c]);
	}
}

/*
 * Work on w->cur out of the lock: split it into children (those whose bound
 * is below the private bound), or search it to the end.
 */
static void process(struct tsp_worker *w, int split)
{
	const struct tsp_inst *in = w->in;
	struct tsp_item *it = &w->cur;
	int32_t rest = rest_bound(in, it->visited);
	int last = it->path[it->len - 1];

	w->nkids = 0;
	if (it->len >= split || it->len == in->n) {
		uint8_t path[TSP_MAX_CITIES];

		memcpy(path, it->path, (size_t)it->len);
		dfs(w, path, it->len, it->cost, it->visited, rest);
		return;
	}
	/* Farthest child first, so the nearest ends up on top of the stack. */
	for (int k = in->n - 2; k >= 0; k--) {
		int c = in->near[last][k];
		struct tsp_item *kid = &w->kids[w->nkids];

		if (it->visited & 1u << c)
			continue;
		kid->cost = it->cost + in->d[last][c];
		if (kid->cost + rest - in->minedge[c] + in->minedge[0] >= w->best)
			continue;
		memcpy(kid->path, it->path, (size_t)it->len);
		kid->path[it->len] = (uint8_t)c;
		kid->len = it->len + 1;
		kid->visited = it->visited | 1u << c;
		w->nkids++;
	}
}

/*
 * The worker's critical section (see the top of the file).  Returns true
 * when all the work is done.
 */
static bool sync_queue(struct tsp *ts, struct tsp_worker *w)
{
	struct tsp_shared *sh = ts->sh;
	bool done;

	dsm_lock_acquire(TSP_LOCK);
	if (w->have) {
		if (sh->top + w->nkids > ts->cap) {
			/* Cannot happen: cap counts every partial tour up to split. */
			fprintf(stderr, "tsp: node %d: work queue overflow\n", dsm_node_id());
			exit(1);
		}
		memcpy(&sh->stack[sh->top], w->kids, sizeof(w->kids[0]) * (size_t)w->nkids);
		sh->top += w->nkids;
		sh->outstanding += w->nkids - 1;
		w->have = false;
	}
	if (w->improved && w->best < sh->best) {
		sh->best = w->best;
		memcpy(sh->best_tour, w->tour, sizeof(sh->best_tour));
	}
	w->improved = false;
	if (sh->best < w->best)
		w->best = sh->best;
	if (sh->top > 0) {
		w->cur = sh->stack[--sh->top];
		w->have = true;
		sh->processed++;
	}
	done = !w->have && sh->outstanding == 0;
	dsm_lock_release(TSP_LOCK);
	return done;
}

static void *tsp_thread(struct app_team *team, int tid, void *arg)
{
	struct tsp *ts = arg;
	struct tsp_worker w = { .in = &ts->in, .best = INT32_MAX };
	useconds_t backoff = 0;

	/* Setup: node 0 puts the root, the path "0", on the queue. */
	if (dsm_node_id() == 0 && tid == 0) {
		ts->sh->best = INT32_MAX;
		ts->sh->stack[0].len = 1;
		ts->sh->stack[0].visited = 1;
		ts->sh->top = 1;
		ts->sh->outstanding = 1;
	}
	app_team_barrier(team, tid);
	/*
	 * Every thread notes when it starts: the others may do all the work
	 * before a preempted thread 0 even looks at the clock.
	 */
	ts->start[tid] = app_now();

	while (!sync_queue(ts, &w)) {
		if (!w.have) {
			/* Others still hold work that may make more: wait, ask again. */
			backoff = backoff ? (backoff < 1000 ? 2 * backoff : 2000) : 50;
			usleep(backoff);
			continue;
		}
		backoff = 0;
		process(&w, ts->split);
	}
	app_team_barrier(team, tid);
	if (tid == 0)
		ts->t1 = app_now();
	return NULL;
}

/*
 * Node 0, after the last barrier: solve sequentially in private memory;
 * the shared result must have the same length and be a valid tour of it.
 */
static bool check(const struct tsp *ts)
{
	const struct tsp_inst *in = &ts->in;
	const struct tsp_shared *sh = ts->sh;
	struct tsp_worker w = { .in = in, .best = INT32_MAX };
	uint8_t path[TSP_MAX_CITIES] = { 0 };
	uint32_t seen = 0;
	int32_t len = 0;
	bool valid = sh->best_tour[0] == 0;
	int i;

	dfs(&w, path, 1, 0, 1, rest_bound(in, 1));
	for (i = 0; i < in->n && valid; i++) {
		int c = sh->best_tour[i];

		valid = c < in->n && !(seen & 1u << c);
		seen |= 1u << c;
	}
	for (i = 0; i < in->n && valid; i++)
		len += in->d[sh->best_tour[i]][sh->best_tour[(i + 1) % in->n]];
	valid = valid && len == sh->best;
	printf("tsp: check: sequential optimum %d, parallel %d; the parallel tour is %s\n",
	       w.best, sh->best, valid ? "a valid tour of that length" :
	       "NOT a permutation from city 0 of that length");
	return valid && w.best == sh->best;
}

/* Partial tours of up to split cities: a bound on the queue's length. */
static long queue_cap(int n, int split)
{
	long total = 0, level = 1;

	for (int len = 1; len <= split && len <= n; len++) {
		total += level;
		level *= n - len;
	}
	return total;
}

int main(int argc, char **argv)
{
	struct tsp ts = { .split = TSP_DEF_SPLIT, .nthreads = 1 };
	struct app_team team;
	long n = TSP_DEF_CITIES, seed = TSP_DEF_SEED;
	int me, i;
	bool ok = true;
	char size[64];
	const struct app_opt opts[] = {
		{ 'n', .l = &n, .lo = 3, .hi = TSP_MAX_CITIES },
		{ 'd', .i = &ts.split, .lo = 2, .hi = TSP_MAX_SPLIT },
		{ 'r', .l = &seed, .lo = 0, .hi = LONG_MAX },
		{ 't', .i = &ts.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("tsp", &argc, &argv);
	me = dsm_node_id();

	if (app_parse_args(argc, argv, "n:d:r:t:", opts))
		return app_usage_error(usage, argv[0]);

	make_instance(&ts.in, (int)n, seed);
	ts.cap = queue_cap((int)n, ts.split);
	ts.sh = dsm_alloc_collective(sizeof(struct tsp_shared) +
				     sizeof(struct tsp_item) * (size_t)ts.cap);
	if (!ts.sh)
		return app_alloc_failed("tsp", "a queue of %ld partial tours", ts.cap);

	if (app_team_run(&team, ts.nthreads, tsp_thread, &ts))
		exit(1);
	ts.t0 = ts.start[0];
	for (i = 1; i < ts.nthreads; i++)
		if (ts.start[i] < ts.t0)
			ts.t0 = ts.start[i];

	/* After the last barrier: the result is readable. */
	if (me == 0) {
		printf("tsp: %ld cities (seed %ld), split at %d, %d node%s x %d thread%s, %s consistency: "
		       "%.6f s, %ld partial tours from the queue, best tour %d:",
		       n, seed, ts.split, dsm_num_nodes(), dsm_num_nodes() == 1 ? "" : "s",
		       ts.nthreads, ts.nthreads == 1 ? "" : "s", app_model_name(),
		       ts.t1 - ts.t0, ts.sh->processed, ts.sh->best);
		for (i = 0; i < n; i++)
			printf(" %d", ts.sh->best_tour[i]);
		printf("\n");
		ok = check(&ts);
		fflush(stdout);
	}
	ok = app_all_ok(ok);
	snprintf(size, sizeof(size), "%ld", n);
	return app_finish("tsp", size, ts.nthreads, ts.t1 - ts.t0, ok);
}
