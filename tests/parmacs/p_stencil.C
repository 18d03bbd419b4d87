/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * p_stencil.C - a barrier-phased Jacobi stencil in SPLASH-3 style:
 * CREATE with the function and P starts all P workers, BARINIT takes the
 * count.  The grids are G_MALLOC'd and their boundary set before CREATE;
 * every iteration computes the new grid from the old one between two
 * barriers.
 *
 * usage: p_stencil [P [N [ITERS]]]   P workers, N x N grid (default 4 64 10)
 *
 * After WAIT_FOR_END every node recomputes the grid sequentially in
 * private memory, with the same arithmetic in the same order, and
 * compares it bit for bit; node 0 prints one "p_stencil: ok" line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MAIN_ENV

struct GlobalMemory {
	LOCKDEC(idlock)
	BARDEC(bar)
	long id;
	double *grid[2];	/* G_MALLOC'd before CREATE */
};

static struct GlobalMemory *Global;
static long P, N, ITERS;

static void SlaveStart(void);

/* The fixed boundary: hot top row, cold elsewhere, a ramp on the left. */
static double boundary(long i, long j)
{
	if (i == 0)
		return 100.0;
	if (j == 0)
		return (double)i / (double)N * 50.0;
	return 0.0;
}

static void sweep(const double *old, double *new, long lo, long hi)
{
	long i, j;

	for (i = lo; i < hi; i++)
		for (j = 1; j < N - 1; j++)
			new[i * N + j] = 0.25 * (old[(i - 1) * N + j] + old[(i + 1) * N + j] +
						 old[i * N + j - 1] + old[i * N + j + 1]);
}

int main(int argc, char *argv[])
{
	double *ref[2];
	long i, j, t, k;

	P = argc > 1 ? atol(argv[1]) : 4;
	N = argc > 2 ? atol(argv[2]) : 64;
	ITERS = argc > 3 ? atol(argv[3]) : 10;
	if (P < 1 || N < 3 || ITERS < 1) {
		fprintf(stderr, "usage: p_stencil [P [N [ITERS]]]\n");
		exit(2);
	}
	MAIN_INITENV(,1000000)

	Global = (struct GlobalMemory *) G_MALLOC(sizeof(struct GlobalMemory));
	LOCKINIT(Global->idlock)
	BARINIT(Global->bar, P)
	Global->id = 0;
	for (k = 0; k < 2; k++) {
		Global->grid[k] = (double *) G_MALLOC(N * N * sizeof(double));
		for (i = 0; i < N; i++)
			for (j = 0; j < N; j++)
				Global->grid[k][i * N + j] =
					(i == 0 || j == 0 || i == N - 1 || j == N - 1) ? boundary(i, j) : 0.0;
	}

	CREATE(SlaveStart, P)
	WAIT_FOR_END(P)

	/* The same computation on one processor, in private memory. */
	for (k = 0; k < 2; k++) {
		ref[k] = malloc(N * N * sizeof(double));
		if (!ref[k])
			exit(1);
		for (i = 0; i < N; i++)
			for (j = 0; j < N; j++)
				ref[k][i * N + j] =
					(i == 0 || j == 0 || i == N - 1 || j == N - 1) ? boundary(i, j) : 0.0;
	}
	for (t = 0; t < ITERS; t++)
		sweep(ref[t & 1], ref[(t + 1) & 1], 1, N - 1);
	if (memcmp(ref[ITERS & 1], Global->grid[ITERS & 1], N * N * sizeof(double)) != 0) {
		for (i = 0; i < N * N; i++)
			if (ref[ITERS & 1][i] != Global->grid[ITERS & 1][i])
				break;
		fprintf(stderr, "p_stencil: grid differs at (%ld,%ld): %g, expected %g\n",
			i / N, i % N, Global->grid[ITERS & 1][i], ref[ITERS & 1][i]);
		exit(1);
	}
	printf("p_stencil: ok P=%ld nodes=%d N=%ld iterations=%ld center=%.6f\n", P,
	       dsm_num_nodes(), N, ITERS, ref[ITERS & 1][(N / 2) * N + N / 2]);
	MAIN_END
}

static void SlaveStart(void)
{
	long MyNum, lo, hi, rows = N - 2, t;

	LOCK(Global->idlock)
	MyNum = Global->id;
	Global->id++;
	UNLOCK(Global->idlock)

	/* Rows 1 .. N-2, in P nearly equal bands. */
	lo = 1 + MyNum * rows / P;
	hi = 1 + (MyNum + 1) * rows / P;
	BARRIER(Global->bar, P)
	for (t = 0; t < ITERS; t++) {
		sweep(Global->grid[t & 1], Global->grid[(t + 1) & 1], lo, hi);
		BARRIER(Global->bar, P)
	}
}
