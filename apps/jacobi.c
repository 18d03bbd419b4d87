/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * jacobi.c - 2-D Jacobi relaxation on a shared grid (libdsm app suite).
 *
 * The model for the SPLASH-2-style apps in apps/:
 *
 *  - SPMD over dsm.h only: every node runs main(), allocates the shared data
 *    collectively, works on a block of it and synchronizes with barriers.
 *  - Data-race-free: between two barriers a shared word is written by at most
 *    one node and nobody reads it while it may be written, so the program
 *    gives the same answer under every consistency model (sequential,
 *    release, weak) without change.
 *  - -t THREADS application threads per node; exactly one of them (thread 0)
 *    makes the collective dsm_barrier() call, fenced by a pthread barrier on
 *    each side so that every thread's writes precede it and no thread reads
 *    before it returns (app_team_barrier in apps/common/app.h).
 *  - Self-checking, bit for bit: every node recomputes its own rows
 *    sequentially in private memory and compares; any mismatch makes every
 *    node exit non-zero.
 *  - Only the parallel part is timed (initial barrier to last barrier), with
 *    CLOCK_MONOTONIC, and node 0 prints one human line and one line
 *    "DSM_RESULT key=value ..." for scripts (dsm-bench parses it; here
 *    size=SIZExITERS).
 *
 * Resumable (--checkpoint-every N): a checkpoint every N sweeps, with the
 * next sweep's number in shared memory, where a checkpoint saves it; run
 * again with DSM_RESTART=1 (dsmrun --restart) and the same arguments, the
 * program allocates as before (the allocations are replayed), finds the
 * grids and the sweep number restored and goes on from there, to the same
 * bits as a run without failures (the check says so, and node 0 prints a
 * checksum of the whole grid to compare runs by).
 *
 * The grid is SIZE x SIZE doubles with fixed boundary rows and columns; two
 * grids are swapped each iteration.  Rows are block-partitioned among nodes
 * (and within a node among its threads).  Each row starts on a page boundary
 * (the row stride is rounded up to whole coherence units) so that two nodes
 * never write into the same page: with a single-writer protocol a shared
 * page would ping-pong every iteration and measure false sharing, not the
 * algorithm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "apps/common/app.h"

#define JACOBI_DEF_SIZE		2048
#define JACOBI_DEF_ITERS	100

/* What a restarted run needs besides the grids (shared memory). */
struct jacobi_shared {
	long next_it;			/* the sweep a restart resumes at */
};

/* Everything the threads of one node share (private memory). */
struct jacobi {
	int n;			/* grid is n x n, n >= 3 */
	int iters;		/* relaxation sweeps */
	int nthreads;		/* application threads on this node */
	size_t stride;		/* doubles from one row to the next */
	double *grid[2];	/* shared: grid[it & 1] is read at sweep it */
	int row_lo, row_hi;	/* this node's rows [row_lo, row_hi) */
	double t0, t1;		/* timed region, taken by thread 0 */
	long ckpt_every;	/* --checkpoint-every: sweeps between checkpoints, 0: none */
	int start_it;		/* the first sweep (after a restart: the saved one) */
	struct jacobi_shared *sh;
	bool ckpt_failed;
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n SIZE] [-i ITERS] [-t THREADS] [--checkpoint-every N]\n"
		"  -n SIZE     grid is SIZE x SIZE doubles (>= 3, default %d)\n"
		"  -i ITERS    relaxation sweeps (>= 0, default %d)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n"
		"  --checkpoint-every N, -c N\n"
		"              dsm_checkpoint() every N sweeps; with DSM_RESTART=1\n"
		"              (dsmrun --restart) resume from the last one\n",
		prog, JACOBI_DEF_SIZE, JACOBI_DEF_ITERS, APP_MAX_THREADS);
}

/*
 * Initial value of cell (i, j): a harmonic function on the boundary (so the
 * relaxation has a smooth solution to go to) and a deterministic pattern in
 * the interior (so that every cell changes from the first sweep on and a
 * wrong neighbour shows up in the check at once).
 */
static double initial_value(int n, int i, int j)
{
	double x = (double)j / (n - 1), y = (double)i / (n - 1);

	if (i == 0 || j == 0 || i == n - 1 || j == n - 1)
		return x * x - y * y + 1.0;
	return (double)((i * 31 + j * 17) % 97) / 97.0;
}

/*
 * One cell of one sweep.  The parallel and the sequential code both call this
 * very function, so they do the same floating-point operations in the same
 * order and must agree bit for bit.  (A sum times a constant gives the
 * compiler no multiply-add to contract.)
 */
static inline double relax(const double *up, const double *row,
			   const double *down, int j)
{
	return 0.25 * ((up[j] + down[j]) + (row[j - 1] + row[j + 1]));
}

/*
 * Sweep grid rows [lo, hi) of src into dst; the grid's boundary rows and
 * columns are left alone.  dst and src hold grid rows from row0 on (0 for
 * the shared grids, the first row of the band for the check).
 */
static void sweep_rows(double *dst, const double *src, size_t stride, int n,
		       int row0, int lo, int hi)
{
	int i, j;

	if (lo < 1)
		lo = 1;
	if (hi > n - 1)
		hi = n - 1;
	for (i = lo; i < hi; i++) {
		const double *up = src + (size_t)(i - 1 - row0) * stride;
		const double *row = src + (size_t)(i - row0) * stride;
		const double *down = src + (size_t)(i + 1 - row0) * stride;
		double *out = dst + (size_t)(i - row0) * stride;

		for (j = 1; j < n - 1; j++)
			out[j] = relax(up, row, down, j);
	}
}

/* Fill rows [lo, hi) of both grids with the initial values. */
static void init_rows(struct jacobi *jb, int lo, int hi)
{
	int i, j;

	for (i = lo; i < hi; i++) {
		double *r0 = jb->grid[0] + (size_t)i * jb->stride;
		double *r1 = jb->grid[1] + (size_t)i * jb->stride;

		for (j = 0; j < jb->n; j++)
			r0[j] = r1[j] = initial_value(jb->n, i, j);
	}
}

static void *jacobi_thread_main(struct app_team *team, int tid, void *arg)
{
	struct jacobi *jb = arg;
	long tlo, thi;
	int lo, hi, it;

	/* This thread's share of the node's rows. */
	app_block_range(jb->row_hi - jb->row_lo, jb->nthreads, tid, &tlo, &thi);
	lo = jb->row_lo + (int)tlo;
	hi = jb->row_lo + (int)thi;

	/*
	 * Each node writes its own rows first (first touch): under a
	 * single-writer protocol that makes it the owner of those pages
	 * before the clock starts.
	 */
	if (jb->start_it == 0)
		init_rows(jb, lo, hi);		/* else restored by the restart */
	app_team_barrier(team, tid);
	if (tid == 0)
		jb->t0 = app_now();

	for (it = jb->start_it; it < jb->iters; it++) {
		sweep_rows(jb->grid[(it + 1) & 1], jb->grid[it & 1],
			   jb->stride, jb->n, 0, lo, hi);
		/* Neighbours read our edge rows in the next sweep. */
		if (!app_checkpoint_due(jb->ckpt_every, it + 1, jb->iters))
			app_team_barrier(team, tid);
		else if (!app_team_checkpoint(team, tid, "jacobi", &jb->sh->next_it, it + 1))
			jb->ckpt_failed = true;
	}

	if (tid == 0)
		jb->t1 = app_now();
	return NULL;
}

/*
 * Recompute rows [lo, hi) after iters sweeps in private memory and compare
 * them with the shared result (which must be readable: call after the last
 * barrier).  Row i after k sweeps depends only on rows i-k .. i+k of the
 * start, so only that band is simulated: its outermost rows go stale one row
 * per sweep, and after iters sweeps the staleness has not reached [lo, hi).
 * This keeps the check's cost at this node's share plus 2*iters rows.
 *
 * Returns the number of cells that differ (0: check passed), or -1 if out
 * of memory.
 */
static long check_rows(struct jacobi *jb, int lo, int hi)
{
	int n = jb->n, iters = jb->iters;
	int blo = lo - iters < 0 ? 0 : lo - iters;
	int bhi = hi + iters > n ? n : hi + iters;
	int rows = bhi - blo, i, j, it;
	const double *res = jb->grid[iters & 1];
	double *band[2];
	long bad = 0;

	if (lo >= hi)
		return 0;
	band[0] = malloc(sizeof(double) * (size_t)rows * n);
	band[1] = malloc(sizeof(double) * (size_t)rows * n);
	if (!band[0] || !band[1]) {
		free(band[0]);
		free(band[1]);
		return -1;
	}
	for (i = blo; i < bhi; i++)
		for (j = 0; j < n; j++)
			band[0][(size_t)(i - blo) * n + j] =
				band[1][(size_t)(i - blo) * n + j] =
					initial_value(n, i, j);

	/*
	 * The band's first and last rows stay fixed: either they are the
	 * grid's boundary, or they are the stale edge discussed above.
	 */
	for (it = 0; it < iters; it++)
		sweep_rows(band[(it + 1) & 1], band[it & 1], n, n, blo,
			   blo + 1, bhi - 1);

	for (i = lo; i < hi; i++) {
		const double *want = band[iters & 1] + (size_t)(i - blo) * n;
		const double *got = res + (size_t)i * jb->stride;

		/* Bit for bit: compare representations, not values. */
		if (memcmp(want, got, sizeof(double) * n) == 0)
			continue;
		for (j = 0; j < n; j++) {
			if (memcmp(&want[j], &got[j], sizeof(double)) == 0)
				continue;
			if (bad < 5)
				fprintf(stderr,
					"jacobi: node %d: cell (%d,%d) = %.17g, expected %.17g\n",
					dsm_node_id(), i, j, got[j], want[j]);
			bad++;
		}
	}
	free(band[0]);
	free(band[1]);
	return bad;
}

/* FNV-1a over the bits of rows [lo, hi) of the result. */
static uint64_t checksum_rows(const struct jacobi *jb, int lo, int hi)
{
	uint64_t h = APP_FNV1A_BASIS;

	for (int i = lo; i < hi; i++)
		h = app_fnv1a(h, jb->grid[jb->iters & 1] + (size_t)i * jb->stride,
			      (size_t)jb->n * sizeof(double));
	return h;
}

int main(int argc, char **argv)
{
	struct jacobi jb = { .nthreads = 1 };
	struct app_team team;
	long n = JACOBI_DEF_SIZE, iters = JACOBI_DEF_ITERS, lo, hi;
	size_t page, rowbytes, gridbytes;
	int me, nnodes;
	char size[64];
	bool passed;
	long bad;
	const struct app_opt opts[] = {
		{ 'n', .l = &n, .lo = 3, .hi = 1 << 20 },
		{ 'i', .l = &iters, .lo = 0, .hi = 1 << 30 },
		{ 't', .i = &jb.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 'c', .l = &jb.ckpt_every, .lo = 1, .hi = 1 << 30 },
		{ 0 }
	};

	app_start("jacobi", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	/* dsm_init has taken its --dsm-* options out of argv already. */
	if (app_take_checkpoint_every(&argc, argv, &jb.ckpt_every) < 0 ||
	    app_parse_args(argc, argv, "n:i:t:c:h", opts))
		return app_usage_error(usage, argv[0]);
	jb.n = (int)n;
	jb.iters = (int)iters;

	page = dsm_page_size();
	rowbytes = (size_t)jb.n * sizeof(double);
	rowbytes = (rowbytes + page - 1) / page * page;
	jb.stride = rowbytes / sizeof(double);
	gridbytes = rowbytes * (size_t)jb.n;
	jb.grid[0] = dsm_alloc_collective(gridbytes);
	jb.grid[1] = dsm_alloc_collective(gridbytes);
	if (!jb.grid[0] || !jb.grid[1])
		return app_alloc_failed("jacobi", "2 x %zu bytes of shared heap", gridbytes);
	jb.sh = dsm_alloc_collective(sizeof(*jb.sh));
	if (!jb.sh)
		return app_alloc_failed("jacobi", "%zu bytes of shared heap", sizeof(*jb.sh));
	/* Restarted: the grids are as the last checkpoint left them. */
	jb.start_it = (int)app_resume_point("jacobi", &jb.sh->next_it, "sweep");
	app_block_range(jb.n, nnodes, me, &lo, &hi);
	jb.row_lo = (int)lo;
	jb.row_hi = (int)hi;

	/* The main thread is thread 0: it makes the collective calls. */
	if (app_team_run(&team, jb.nthreads, jacobi_thread_main, &jb))
		return 1;

	/* After the last barrier every node's rows are final: check ours. */
	bad = check_rows(&jb, jb.row_lo, jb.row_hi);
	passed = app_all_ok(app_check_report("jacobi", bad,
					     "cells of rows %d..%d differ from the sequential result",
					     jb.row_lo, jb.row_hi - 1) && !jb.ckpt_failed);
	if (jb.ckpt_every)
		app_checksum("jacobi", checksum_rows(&jb, jb.row_lo, jb.row_hi));

	if (me == 0)
		printf("jacobi: %dx%d grid, %d iterations, %d node%s x %d thread%s, %s consistency: %.6f s, check %s\n",
		       jb.n, jb.n, jb.iters, nnodes, nnodes == 1 ? "" : "s",
		       jb.nthreads, jb.nthreads == 1 ? "" : "s", app_model_name(),
		       jb.t1 - jb.t0, passed ? "passed" : "FAILED");
	snprintf(size, sizeof(size), "%dx%d", jb.n, jb.iters);
	return app_finish("jacobi", size, jb.nthreads, jb.t1 - jb.t0, passed);
}
