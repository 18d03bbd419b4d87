/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sor.c - red-black successive over-relaxation on a 2-D grid (libdsm app
 * suite; the conventions are jacobi.c's and apps/common/app.h's).
 *
 * usage: sor [-n SIZE] [-i ITERS] [-t THREADS] [--checkpoint-every N]
 *
 * The grid is SIZE x SIZE doubles with fixed boundary rows and columns.  A
 * cell (i, j) is red when i + j is even and black otherwise; an iteration
 * updates every red interior cell from its four black neighbours, then
 * every black one from its four (new) red neighbours, in place:
 *
 *	v <- v + OMEGA * (average of the four neighbours - v),  OMEGA = 1.5
 *
 * As in the TreadMarks version, the red and the black cells live in two
 * separate shared arrays, each SIZE rows of (SIZE + 1) / 2 cells, cell (i, j)
 * at [i][j / 2] of its colour's array.  So a half-sweep writes one array and
 * only reads the other: between two barriers no page is both written by one
 * node and read by another, and no coherence unit ping-pongs.  Each row of
 * each array starts on a page boundary, and rows are block-partitioned among
 * the nodes (and within a node among its threads), so every page has one
 * writer.
 *
 * Data-race-free: a half-sweep writes cells of one colour in this node's
 * rows and reads the other colour (this node's rows and the edge rows of
 * its neighbours), which nobody writes until the next barrier.
 *
 * The check is bit for bit, as in jacobi: every node recomputes its own rows
 * in private memory with the very same half-sweep function.  Cells of one
 * colour do not depend on each other, so the order in which they are updated
 * does not change a single bit.  Row i after k iterations depends on rows
 * i-2k .. i+2k of the start (each half-sweep reaches one row further), so
 * only that band is simulated.
 *
 * Resumable (--checkpoint-every N), as jacobi is: a checkpoint every N
 * iterations (after the black half-sweep), with the next iteration's number
 * in shared memory; run again with DSM_RESTART=1 (dsmrun --restart) and the
 * same arguments, it finds both colours' arrays and the iteration number
 * restored and goes on from there, to the same bits as a run without
 * failures (node 0 prints a checksum of the whole grid to compare runs by).
 *
 * DSM_RESULT size is SIZExITERS, as jacobi prints it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "apps/common/app.h"

#define SOR_DEF_SIZE	2048
#define SOR_DEF_ITERS	100
/* The over-relaxation factor: half_sweep() relies on its being 1.5. */
#define SOR_OMEGA	1.5

enum { RED, BLACK };

/* What a restarted run needs besides the grid (shared memory). */
struct sor_shared {
	long next_it;		/* the iteration a restart resumes at */
};

/* Everything the threads of one node share (private memory). */
struct sor {
	long n;			/* grid is n x n, n >= 3 */
	long iters;		/* red + black sweeps */
	int nthreads;		/* application threads on this node */
	size_t stride;		/* doubles from one row of a colour to the next */
	double *cell[2];	/* shared: cell[RED], cell[BLACK] */
	long row_lo, row_hi;	/* this node's rows [row_lo, row_hi) */
	double t0, t1;		/* timed region, taken by thread 0 */
	long ckpt_every;	/* --checkpoint-every: iterations between checkpoints, 0: none */
	long start_it;		/* the first iteration (after a restart: the saved one) */
	struct sor_shared *sh;
	bool ckpt_failed;
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n SIZE] [-i ITERS] [-t THREADS] [--checkpoint-every N]\n"
		"  -n SIZE     grid is SIZE x SIZE doubles (>= 3, default %d)\n"
		"  -i ITERS    iterations, each a red and a black sweep (>= 0, default %d)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n"
		"  --checkpoint-every N, -c N\n"
		"              dsm_checkpoint() every N iterations; with DSM_RESTART=1\n"
		"              (dsmrun --restart) resume from the last one\n",
		prog, SOR_DEF_SIZE, SOR_DEF_ITERS, APP_MAX_THREADS);
}

/* Cell (i, j)'s colour. */
static int colour(long i, long j)
{
	return (int)((i + j) & 1);
}

/*
 * Initial value of cell (i, j): a harmonic function on the boundary and a
 * deterministic pattern inside, so that every cell changes from the first
 * sweep on and a wrong neighbour shows in the check at once.
 */
static double initial_value(long n, long i, long j)
{
	double x = (double)j / (double)(n - 1), y = (double)i / (double)(n - 1);

	if (i == 0 || j == 0 || i == n - 1 || j == n - 1)
		return x * x - y * y + 1.0;
	return (double)((i * 31 + j * 17) % 97) / 97.0;
}

/*
 * Half-sweep: update the cells of colour c in grid rows [lo, hi) (the
 * boundary is left alone).  dst is colour c's array, src the other colour's;
 * both hold grid rows from row0 on, stride doubles apart.  The parallel run
 * and the check both call this very function, so they do the same
 * floating-point operations in the same order.  With a = sum / 4, the update
 * v + 1.5 (a - v) is computed as a + 0.5 (a - v): every product is by a
 * power of two and so exact, and a multiply-add the compiler may fuse in one
 * copy of the loop and not in another rounds to the same bits.
 */
static void half_sweep(double *dst, const double *src, size_t stride, long n,
		       long row0, long lo, long hi, int c)
{
	long i, j;

	if (lo < 1)
		lo = 1;
	if (hi > n - 1)
		hi = n - 1;
	for (i = lo; i < hi; i++) {
		const double *up = src + (size_t)(i - 1 - row0) * stride;
		const double *row = src + (size_t)(i - row0) * stride;
		const double *down = src + (size_t)(i + 1 - row0) * stride;
		double *out = dst + (size_t)(i - row0) * stride;

		/* The first interior cell of colour c in row i. */
		for (j = colour(i, 1) == c ? 1 : 2; j < n - 1; j += 2) {
			/* (i, j -/+ 1) are at [(j -/+ 1) / 2], (i -/+ 1, j) at [j / 2]. */
			double a = 0.25 * ((up[j >> 1] + down[j >> 1]) +
					   (row[(j - 1) >> 1] + row[(j + 1) >> 1]));

			out[j >> 1] = a + 0.5 * (a - out[j >> 1]);
		}
	}
}

/* Fill rows [lo, hi) of both colours (rows from row0 on) with the start. */
static void init_rows(double *const cell[2], size_t stride, long n, long row0,
		      long lo, long hi)
{
	long i, j;

	for (i = lo; i < hi; i++)
		for (j = 0; j < n; j++)
			cell[colour(i, j)][(size_t)(i - row0) * stride + (j >> 1)] =
				initial_value(n, i, j);
}

static void *sor_thread_main(struct app_team *team, int tid, void *arg)
{
	struct sor *sr = arg;
	long lo, hi, it;

	/* This thread's share of the node's rows. */
	app_block_range(sr->row_hi - sr->row_lo, sr->nthreads, tid, &lo, &hi);
	lo += sr->row_lo;
	hi += sr->row_lo;

	/* First touch: each node owns its rows' pages before the clock starts. */
	if (sr->start_it == 0)
		init_rows(sr->cell, sr->stride, sr->n, 0, lo, hi);	/* else restored */
	app_team_barrier(team, tid);
	if (tid == 0)
		sr->t0 = app_now();

	for (it = sr->start_it; it < sr->iters; it++) {
		half_sweep(sr->cell[RED], sr->cell[BLACK], sr->stride, sr->n, 0,
			   lo, hi, RED);
		/* Neighbours read our edge rows' red cells next. */
		app_team_barrier(team, tid);
		half_sweep(sr->cell[BLACK], sr->cell[RED], sr->stride, sr->n, 0,
			   lo, hi, BLACK);
		if (!app_checkpoint_due(sr->ckpt_every, it + 1, sr->iters))
			app_team_barrier(team, tid);
		else if (!app_team_checkpoint(team, tid, "sor", &sr->sh->next_it, it + 1))
			sr->ckpt_failed = true;
	}

	if (tid == 0)
		sr->t1 = app_now();
	return NULL;
}

/*
 * Recompute rows [lo, hi) in private memory and compare them with the shared
 * result (after the last barrier).  The band simulated is [lo, hi) widened
 * by 2 * iters rows on each side: its outermost rows stay fixed and go stale
 * one row per half-sweep, which does not reach [lo, hi) in 2 * iters
 * half-sweeps.  Returns the number of cells that differ, or -1 if out of
 * memory.
 */
static long check_rows(const struct sor *sr, long lo, long hi)
{
	long n = sr->n, w = (n + 1) / 2, margin = 2 * sr->iters;
	long blo = lo - margin < 0 ? 0 : lo - margin;
	long bhi = hi + margin > n ? n : hi + margin;
	long i, j, it, bad = 0;
	double *band[2];

	if (lo >= hi)
		return 0;
	band[RED] = calloc((size_t)(bhi - blo) * (size_t)w, sizeof(double));
	band[BLACK] = calloc((size_t)(bhi - blo) * (size_t)w, sizeof(double));
	if (!band[RED] || !band[BLACK]) {
		free(band[RED]);
		free(band[BLACK]);
		return -1;
	}
	init_rows(band, (size_t)w, n, blo, blo, bhi);
	for (it = 0; it < sr->iters; it++) {
		half_sweep(band[RED], band[BLACK], (size_t)w, n, blo, blo + 1,
			   bhi - 1, RED);
		half_sweep(band[BLACK], band[RED], (size_t)w, n, blo, blo + 1,
			   bhi - 1, BLACK);
	}

	for (i = lo; i < hi; i++) {
		for (j = 0; j < n; j++) {
			int c = colour(i, j);
			const double *want = &band[c][(size_t)(i - blo) * w + (j >> 1)];
			const double *got = &sr->cell[c][(size_t)i * sr->stride + (j >> 1)];

			/* Bit for bit: compare representations, not values. */
			if (memcmp(want, got, sizeof(double)) == 0)
				continue;
			if (bad < 5)
				fprintf(stderr,
					"sor: node %d: cell (%ld,%ld) = %.17g, expected %.17g\n",
					dsm_node_id(), i, j, *got, *want);
			bad++;
		}
	}
	free(band[RED]);
	free(band[BLACK]);
	return bad;
}

/* FNV-1a over the bits of rows [lo, hi) of the result, red then black. */
static uint64_t checksum_rows(const struct sor *sr, long lo, long hi)
{
	uint64_t h = APP_FNV1A_BASIS;

	for (long i = lo; i < hi; i++)
		for (int c = RED; c <= BLACK; c++)
			h = app_fnv1a(h, sr->cell[c] + (size_t)i * sr->stride,
				      (size_t)((sr->n + 1) / 2) * sizeof(double));
	return h;
}

int main(int argc, char **argv)
{
	struct sor sr = { .nthreads = 1 };
	struct app_team team;
	long n = SOR_DEF_SIZE, iters = SOR_DEF_ITERS, bad;
	size_t page, rowbytes, bytes;
	int me, nnodes;
	char size[64];
	bool passed;
	const struct app_opt opts[] = {
		{ 'n', .l = &n, .lo = 3, .hi = 1 << 20 },
		{ 'i', .l = &iters, .lo = 0, .hi = 1 << 30 },
		{ 't', .i = &sr.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 'c', .l = &sr.ckpt_every, .lo = 1, .hi = 1 << 30 },
		{ 0 }
	};

	app_start("sor", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	/* dsm_init has taken its --dsm-* options out of argv already. */
	if (app_take_checkpoint_every(&argc, argv, &sr.ckpt_every) < 0 ||
	    app_parse_args(argc, argv, "n:i:t:c:h", opts))
		return app_usage_error(usage, argv[0]);
	sr.n = n;
	sr.iters = iters;

	page = dsm_page_size();
	rowbytes = (size_t)((n + 1) / 2) * sizeof(double);
	rowbytes = (rowbytes + page - 1) / page * page;
	sr.stride = rowbytes / sizeof(double);
	bytes = rowbytes * (size_t)n;
	sr.cell[RED] = dsm_alloc_collective(bytes);
	sr.cell[BLACK] = dsm_alloc_collective(bytes);
	if (!sr.cell[RED] || !sr.cell[BLACK])
		return app_alloc_failed("sor", "2 x %zu bytes of shared heap", bytes);
	sr.sh = dsm_alloc_collective(sizeof(*sr.sh));
	if (!sr.sh)
		return app_alloc_failed("sor", "%zu bytes of shared heap", sizeof(*sr.sh));
	/* Restarted: the grid is as the last checkpoint left it. */
	sr.start_it = app_resume_point("sor", &sr.sh->next_it, "iteration");
	app_block_range(n, nnodes, me, &sr.row_lo, &sr.row_hi);

	if (app_team_run(&team, sr.nthreads, sor_thread_main, &sr))
		return 1;

	/* After the last barrier every node's rows are final: check ours. */
	bad = check_rows(&sr, sr.row_lo, sr.row_hi);
	passed = app_all_ok(app_check_report("sor", bad,
					     "cells of rows %ld..%ld differ from the sequential result",
					     sr.row_lo, sr.row_hi - 1) && !sr.ckpt_failed);
	if (sr.ckpt_every)
		app_checksum("sor", checksum_rows(&sr, sr.row_lo, sr.row_hi));

	if (me == 0)
		printf("sor: %ldx%ld grid, %ld iterations (omega %g), %d node%s x %d thread%s, %s consistency: %.6f s, check %s\n",
		       n, n, iters, SOR_OMEGA, nnodes, nnodes == 1 ? "" : "s",
		       sr.nthreads, sr.nthreads == 1 ? "" : "s", app_model_name(),
		       sr.t1 - sr.t0, passed ? "passed" : "FAILED");
	snprintf(size, sizeof(size), "%ldx%ld", n, iters);
	return app_finish("sor", size, sr.nthreads, sr.t1 - sr.t0, passed);
}
