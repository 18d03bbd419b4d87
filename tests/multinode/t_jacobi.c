/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_jacobi - 2-D Jacobi iteration on a shared grid, checked bit for bit.
 *
 * usage: t_jacobi [ROWS [COLS [ITERATIONS]]]
 *
 * Two ROWS x COLS grids of doubles live in the shared heap.  The interior
 * rows are split into contiguous blocks, one per node; every iteration each
 * node computes its rows of the next grid from the current one, then all
 * nodes meet at a barrier and the grids swap roles.  Neighbouring blocks
 * share pages (a row is not a page), so both reads of other nodes' rows and
 * false sharing on the rows being written are exercised.
 *
 * At the end every node repeats the computation in private memory and
 * compares both shared grids with memcmp: the same expression evaluated in
 * the same order gives the same bits, so any difference is a coherence bug,
 * not rounding.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_jacobi";

/* Initial value of cell (r, c): fixed boundary, irregular interior. */
static double initial(unsigned r, unsigned c, unsigned rows, unsigned cols)
{
	if (r == 0)
		return 1.0 + c * 0.125;
	if (r == rows - 1)
		return -2.0;
	if (c == 0)
		return 0.5 * r;
	if (c == cols - 1)
		return 3.0;
	return (double)((r * 7919u + c * 104729u) % 1000u) / 997.0;
}

/*
 * One Jacobi sweep of rows [lo, hi) from src into dst.  The single place the
 * arithmetic is written, used for both the shared and the private run, so
 * the two cannot drift apart.
 */
static void sweep(double *dst, const double *src, unsigned cols,
		  unsigned lo, unsigned hi)
{
	unsigned r, c;

	for (r = lo; r < hi; r++)
		for (c = 1; c < cols - 1; c++)
			dst[r * cols + c] = 0.25 * (src[(r - 1) * cols + c] +
						    src[(r + 1) * cols + c] +
						    src[r * cols + c - 1] +
						    src[r * cols + c + 1]);
}

/*
 * This node's block [lo, hi) of the interior rows 1 .. interior: blocks as
 * even as possible, the first nodes get one row more.  May be empty.
 */
static void my_rows(unsigned interior, unsigned me, unsigned nodes,
		    unsigned *lo, unsigned *hi)
{
	unsigned q = interior / nodes, rem = interior % nodes;

	*lo = 1 + q * me + (me < rem ? me : rem);
	*hi = *lo + q + (me < rem ? 1 : 0);
}

int main(int argc, char **argv)
{
	unsigned rows = 42, cols = 72, iters = 12, r, c, it, lo, hi;
	double *g[2], *p[2];
	size_t bytes;
	int rc, me, nodes, k;

	t_start(&argc, &argv);
	if (argc > 1)
		rows = parse_uint(argv[1], "row count", 100000);
	if (argc > 2)
		cols = parse_uint(argv[2], "column count", 100000);
	if (argc > 3)
		iters = parse_uint(argv[3], "iteration count", 100000);
	if (rows < 3 || cols < 3)
		fail("grid must be at least 3x3");
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	bytes = (size_t)rows * cols * sizeof(double);

	for (k = 0; k < 2; k++) {
		g[k] = dsm_alloc_collective(bytes);
		p[k] = malloc(bytes);
		if (!g[k] || !p[k])
			fail("out of memory for a %ux%u grid", rows, cols);
	}

	/* Node 0 sets up both shared grids (boundaries must be in both). */
	if (me == 0)
		for (r = 0; r < rows; r++)
			for (c = 0; c < cols; c++)
				g[0][r * cols + c] = g[1][r * cols + c] =
					initial(r, c, rows, cols);
	dsm_barrier();

	my_rows(rows - 2, (unsigned)me, (unsigned)nodes, &lo, &hi);

	for (it = 0; it < iters; it++) {
		sweep(g[(it + 1) % 2], g[it % 2], cols, lo, hi);
		dsm_barrier();
	}

	/* The same thing in private memory, on one node's worth of CPU. */
	for (r = 0; r < rows; r++)
		for (c = 0; c < cols; c++)
			p[0][r * cols + c] = p[1][r * cols + c] = initial(r, c, rows, cols);
	for (it = 0; it < iters; it++)
		sweep(p[(it + 1) % 2], p[it % 2], cols, 1, rows - 1);

	for (k = 0; k < 2; k++) {
		if (memcmp(g[k], p[k], bytes) == 0)
			continue;
		for (r = 0; r < rows; r++)
			for (c = 0; c < cols; c++)
				if (memcmp(&g[k][r * cols + c], &p[k][r * cols + c],
					   sizeof(double)))
					fail("grid %d differs from the sequential run at "
					     "row %u col %u: %.17g, expected %.17g "
					     "(%d nodes, %u iterations)", k, r, c,
					     g[k][r * cols + c], p[k][r * cols + c],
					     nodes, iters);
	}
	for (k = 0; k < 2; k++)
		free(p[k]);

	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
