/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * matmul.c - dense matrix multiply C = A x B, row-block partitioned (libdsm
 * app suite; the conventions are jacobi.c's and apps/common/app.h's).
 *
 * usage: matmul [-n N] [-t THREADS]
 *
 * A, B and C are N x N doubles in the shared heap.  Node k owns a block of
 * rows of A, B and C (within a node, each thread a block of the node's
 * rows): it fills its rows of A and B and zeroes its rows of C before the
 * clock starts (first touch, so that it is the pages' owner), then computes
 * its rows of C, reading its own rows of A and every row of B.  B is the
 * only data that crosses nodes: each node fetches all of it once.
 *
 * The product runs in panels of MM_PANEL rows of B (i-k-j order inside a
 * panel), so that the panel stays in cache while every row of the thread's
 * block of C passes over it.  Each row of each matrix starts on a page
 * boundary, so a page has one writer.
 *
 * Data-race-free: between the two barriers a node writes its rows of C only
 * and reads A and B, which nobody writes.
 *
 * The check is bit for bit: every node recomputes its rows of C in private
 * memory from A and B generated afresh (not read from the shared heap) and
 * compares them with the shared ones.  The entries of A and B are small
 * integers (from -8 to 8, never 0), so every product and every partial sum
 * is an integer far below 2^53 and exact: the result does not depend on the
 * order of the additions or on fused multiply-adds, and any difference is a
 * coherence error, not rounding.
 *
 * DSM_RESULT size is N.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "apps/common/app.h"

#define MM_DEF_N	1024
#define MM_MAX_N	(1 << 16)
/* Rows of B per panel: 64 rows of 1024 doubles are 512 KiB. */
#define MM_PANEL	64

/* Everything the threads of one node share (private memory). */
struct matmul {
	long n;			/* the matrices are n x n */
	int nthreads;		/* application threads on this node */
	size_t stride;		/* doubles from one row to the next */
	double *a, *b, *c;	/* shared */
	long row_lo, row_hi;	/* this node's rows [row_lo, row_hi) */
	double t0, t1;		/* timed region, taken by thread 0 */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n N] [-t THREADS]\n"
		"  -n N        the matrices are N x N doubles (1..%d, default %d)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, MM_MAX_N, MM_DEF_N, APP_MAX_THREADS);
}

/*
 * Entry (i, j) of matrix m (0: A, 1: B): a hash of (m, i, j) mapped to
 * -8..-1, 1..8.  Irregular, so that a row or page read from the wrong place
 * or at the wrong time does not happen to hold the right numbers.
 */
static double entry(int m, long i, long j)
{
	uint64_t h = ((uint64_t)i * 0x9e3779b97f4a7c15u) ^
		     ((uint64_t)j * 0xc2b2ae3d27d4eb4fu) ^ ((uint64_t)m << 61);
	int v;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 29;
	v = (int)(h & 15);	/* 0..15 */
	return v < 8 ? v - 8 : v - 7;
}

/* Rows [lo, hi) of matrix m into dst (row lo first, stride doubles apart). */
static void fill_rows(double *dst, size_t stride, int m, long n, long lo, long hi)
{
	long i, j;

	for (i = lo; i < hi; i++)
		for (j = 0; j < n; j++)
			dst[(size_t)(i - lo) * stride + j] = entry(m, i, j);
}

/*
 * c[r] += a[r][k0..k1) x b[k0..k1) for r in [0, rows): c, a and b point at
 * the first row each, b at row k0 of B; the strides are in doubles.
 */
static void multiply_panel(double *c, size_t cs, const double *a, size_t as,
			   const double *b, size_t bs, long rows, long n,
			   long k0, long k1)
{
	long r, k, j;

	for (r = 0; r < rows; r++) {
		double *crow = c + (size_t)r * cs;

		for (k = k0; k < k1; k++) {
			double aik = a[(size_t)r * as + k];
			const double *brow = b + (size_t)(k - k0) * bs;

			for (j = 0; j < n; j++)
				crow[j] += aik * brow[j];
		}
	}
}

static void *matmul_thread_main(struct app_team *team, int tid, void *arg)
{
	struct matmul *mm = arg;
	size_t s = mm->stride;
	long lo, hi, i, k0;

	/* This thread's share of the node's rows. */
	app_block_range(mm->row_hi - mm->row_lo, mm->nthreads, tid, &lo, &hi);
	lo += mm->row_lo;
	hi += mm->row_lo;

	/* First touch: each node owns its rows' pages before the clock starts. */
	fill_rows(mm->a + (size_t)lo * s, s, 0, mm->n, lo, hi);
	fill_rows(mm->b + (size_t)lo * s, s, 1, mm->n, lo, hi);
	for (i = lo; i < hi; i++)
		memset(mm->c + (size_t)i * s, 0, sizeof(double) * (size_t)mm->n);
	app_team_barrier(team, tid);
	if (tid == 0)
		mm->t0 = app_now();

	for (k0 = 0; k0 < mm->n; k0 += MM_PANEL) {
		long k1 = k0 + MM_PANEL < mm->n ? k0 + MM_PANEL : mm->n;

		multiply_panel(mm->c + (size_t)lo * s, s, mm->a + (size_t)lo * s, s,
			       mm->b + (size_t)k0 * s, s, hi - lo, mm->n, k0, k1);
	}
	app_team_barrier(team, tid);

	if (tid == 0)
		mm->t1 = app_now();
	return NULL;
}

/*
 * Recompute rows [lo, hi) of C in private memory, from A and B generated
 * afresh one panel of B at a time, and compare them with the shared C
 * (after the last barrier).  Returns the number of entries that differ, or
 * -1 if out of memory.
 */
static long check_rows(const struct matmul *mm, long lo, long hi)
{
	long n = mm->n, rows = hi - lo, i, j, k0, bad = 0;
	double *a, *b, *c;

	if (lo >= hi)
		return 0;
	a = malloc(sizeof(double) * (size_t)rows * (size_t)n);
	b = malloc(sizeof(double) * MM_PANEL * (size_t)n);
	c = calloc((size_t)rows * (size_t)n, sizeof(double));
	if (!a || !b || !c) {
		free(a);
		free(b);
		free(c);
		return -1;
	}
	fill_rows(a, (size_t)n, 0, n, lo, hi);
	for (k0 = 0; k0 < n; k0 += MM_PANEL) {
		long k1 = k0 + MM_PANEL < n ? k0 + MM_PANEL : n;

		fill_rows(b, (size_t)n, 1, n, k0, k1);
		multiply_panel(c, (size_t)n, a, (size_t)n, b, (size_t)n, rows, n, k0, k1);
	}

	for (i = lo; i < hi; i++) {
		const double *want = c + (size_t)(i - lo) * n;
		const double *got = mm->c + (size_t)i * mm->stride;

		/* Bit for bit: compare representations, not values. */
		if (memcmp(want, got, sizeof(double) * (size_t)n) == 0)
			continue;
		for (j = 0; j < n; j++) {
			if (memcmp(&want[j], &got[j], sizeof(double)) == 0)
				continue;
			if (bad < 5)
				fprintf(stderr, "matmul: node %d: C(%ld,%ld) = %.17g, expected %.17g\n",
					dsm_node_id(), i, j, got[j], want[j]);
			bad++;
		}
	}
	free(a);
	free(b);
	free(c);
	return bad;
}

int main(int argc, char **argv)
{
	struct matmul mm = { .nthreads = 1 };
	struct app_team team;
	long n = MM_DEF_N, bad;
	size_t page, rowbytes, bytes;
	int me, nnodes;
	char size[32];
	bool passed;
	const struct app_opt opts[] = {
		{ 'n', .l = &n, .lo = 1, .hi = MM_MAX_N },
		{ 't', .i = &mm.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("matmul", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	if (app_parse_args(argc, argv, "n:t:h", opts))
		return app_usage_error(usage, argv[0]);
	mm.n = n;

	page = dsm_page_size();
	rowbytes = (size_t)n * sizeof(double);
	rowbytes = (rowbytes + page - 1) / page * page;
	mm.stride = rowbytes / sizeof(double);
	bytes = rowbytes * (size_t)n;
	mm.a = dsm_alloc_collective(bytes);
	mm.b = dsm_alloc_collective(bytes);
	mm.c = dsm_alloc_collective(bytes);
	if (!mm.a || !mm.b || !mm.c)
		return app_alloc_failed("matmul", "3 x %zu bytes of shared heap", bytes);
	app_block_range(n, nnodes, me, &mm.row_lo, &mm.row_hi);

	if (app_team_run(&team, mm.nthreads, matmul_thread_main, &mm))
		return 1;

	bad = check_rows(&mm, mm.row_lo, mm.row_hi);
	passed = app_all_ok(app_check_report("matmul", bad,
					     "entries of rows %ld..%ld differ from the sequential result",
					     mm.row_lo, mm.row_hi - 1));

	if (me == 0)
		printf("matmul: %ldx%ld matrices, %d node%s x %d thread%s, %s consistency: %.6f s (%.1f Mflop/s), check %s\n",
		       n, n, nnodes, nnodes == 1 ? "" : "s", mm.nthreads,
		       mm.nthreads == 1 ? "" : "s", app_model_name(), mm.t1 - mm.t0,
		       mm.t1 > mm.t0 ? 2.0 * n * n * n / (mm.t1 - mm.t0) * 1e-6 : 0.0,
		       passed ? "passed" : "FAILED");
	snprintf(size, sizeof(size), "%ld", n);
	return app_finish("matmul", size, mm.nthreads, mm.t1 - mm.t0, passed);
}
