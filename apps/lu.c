/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lu.c - blocked LU factorization without pivoting, SPLASH-2 LU style
 * (libdsm app suite; the conventions are jacobi.c's and apps/common/app.h's).
 *
 * usage: lu [-n N] [-b B] [-t THREADS]
 *
 * The N x N matrix is cut into B x B blocks (the last row and column of
 * blocks may be smaller), each stored contiguously and starting on a page
 * boundary, so that a block is a unit of ownership as in SPLASH-2's
 * "contiguous blocks" LU.  Blocks are dealt to the nodes in a 2-D scatter:
 * the nodes form a PR x PC grid and block (I, J) belongs to node
 * (I mod PR) * PC + (J mod PC); within a node, the blocks of each phase are
 * dealt round-robin to its threads.  Step K of the factorization:
 *
 *   1. the owner of the diagonal block (K, K) factors it in place (L unit
 *      lower triangular, U upper);                                  barrier
 *   2. the owners of the perimeter blocks update them from the diagonal
 *      block: (I, K) <- (I, K) U_KK^-1 below it and (K, J) <- L_KK^-1 (K, J)
 *      to its right;                                                barrier
 *   3. the owners of the interior blocks update them from the perimeter:
 *      (I, J) <- (I, J) - (I, K) (K, J) for I, J > K.
 *
 * So the diagonal and perimeter blocks are written by their owners and read
 * by everyone only after a barrier.  Step 3 needs no barrier behind it (as
 * in SPLASH-2): the blocks that step K+1 factors and divides were updated
 * last by their own owner, so a pthread barrier among the node's threads
 * suffices.  Data-race-free: in every phase a block is written by its owner
 * only, and the blocks read in it are written by nobody.
 *
 * The matrix is diagonally dominant and built so that the factorization is
 * exact: A = L0 U0 with
 *
 *	U0[k][k] = D, a power of two >= 64 N;	U0[k][j] = v_k w_j  (j > k)
 *	L0[i][i] = 1;				L0[i][k] = s_i t_k / D  (k < i)
 *
 * where s, t, v, w are small nonzero integers (-3..3) drawn from a hash of
 * the index.  Then every entry of A, every product L[i][k] U[k][j] and every
 * partial sum met during the elimination is a multiple of 1/D below 2D in
 * magnitude, hence exact in a double; the divisions are by D, also exact.
 * So the computed factors are exactly L0 and U0, whatever the order of the
 * operations and whether multiply-adds are fused, and the check compares
 * every node's own blocks with L0 and U0 bit for bit, in O(N^2 / nodes):
 * any difference is a coherence error, not rounding.  (Every term is
 * nonzero, so a stale copy of any block gives a wrong answer.)  A's
 * off-diagonal row sums stay below 11 N, and its diagonal entries are
 * within 2 of D >= 64 N.  The separable form makes A cheap to generate:
 * A[i][j] = (s_i w_j / D) P(min(i, j)) + (v_i w_j, D or s_i t_j for j above,
 * on or below the diagonal) with P(m) = sum over k < m of t_k v_k.
 *
 * DSM_RESULT size is N.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "apps/common/app.h"

#define LU_DEF_N	1024
#define LU_DEF_B	32	/* 32 x 32 doubles: 8 KiB, two 4K pages */
#define LU_MAX_N	(1 << 16)	/* D <= 2^22: every value exact (see above) */
#define LU_MAX_B	1024

/* The matrix's generators (private, the same on every node). */
struct lu_gen {
	int8_t *s, *t, *v, *w;	/* n each, in -3..-1, 1..3 */
	int64_t *p;		/* p[m] = sum over k < m of t_k v_k, n + 1 of them */
	double d;		/* U0's diagonal, a power of two */
};

/* Everything the threads of one node share (private memory). */
struct lu {
	long n, b;		/* matrix order, block size */
	long nb;		/* blocks per row and column */
	int nthreads;		/* application threads on this node */
	int me, pr, pc;		/* this node; the PR x PC node grid */
	size_t bstride;		/* doubles from one block to the next */
	double *blocks;		/* shared: block (I, J) at (I * nb + J) * bstride */
	struct lu_gen gen;
	double t0, t1;		/* timed region, taken by thread 0 */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n N] [-b B] [-t THREADS]\n"
		"  -n N        the matrix is N x N doubles (1..%d, default %d)\n"
		"  -b B        blocks are B x B (1..%d, default %d)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, LU_MAX_N, LU_DEF_N, LU_MAX_B, LU_DEF_B, APP_MAX_THREADS);
}

/* A small nonzero integer, -3..-1 or 1..3, from a hash of (which, i). */
static int8_t small_int(unsigned which, long i)
{
	uint64_t h = (uint64_t)i * 0x9e3779b97f4a7c15u + which * 0xd1b54a32d192ed03u;
	int v;

	h ^= h >> 32;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 29;
	v = (int)(h % 6);	/* 0..5 */
	return (int8_t)(v < 3 ? v - 3 : v - 2);
}

static int gen_init(struct lu_gen *g, long n)
{
	long i;

	g->s = malloc((size_t)n);
	g->t = malloc((size_t)n);
	g->v = malloc((size_t)n);
	g->w = malloc((size_t)n);
	g->p = malloc(sizeof(int64_t) * (size_t)(n + 1));
	if (!g->s || !g->t || !g->v || !g->w || !g->p)
		return -1;
	for (i = 0; i < n; i++) {
		g->s[i] = small_int(0, i);
		g->t[i] = small_int(1, i);
		g->v[i] = small_int(2, i);
		g->w[i] = small_int(3, i);
	}
	g->p[0] = 0;
	for (i = 0; i < n; i++)
		g->p[i + 1] = g->p[i] + g->t[i] * g->v[i];
	for (g->d = 64.0; g->d < 64.0 * (double)n; g->d *= 2.0)
		;
	return 0;
}

static void gen_free(struct lu_gen *g)
{
	free(g->s);
	free(g->t);
	free(g->v);
	free(g->w);
	free(g->p);
}

/* A[i][j] (exact: see the top of the file). */
static double a_entry(const struct lu_gen *g, long i, long j)
{
	double x = (double)(g->s[i] * g->w[j] * g->p[i < j ? i : j]) / g->d;

	if (j > i)
		return x + g->v[i] * g->w[j];
	if (j == i)
		return x + g->d;
	return x + g->s[i] * g->t[j];
}

/* What the factorization must leave at (i, j): L0 below the diagonal, U0 on and above. */
static double lu_entry(const struct lu_gen *g, long i, long j)
{
	if (j > i)
		return g->v[i] * g->w[j];
	if (j == i)
		return g->d;
	return (double)(g->s[i] * g->t[j]) / g->d;
}

static int owner(const struct lu *lu, long bi, long bj)
{
	return (int)(bi % lu->pr) * lu->pc + (int)(bj % lu->pc);
}

static double *block(const struct lu *lu, long bi, long bj)
{
	return lu->blocks + (size_t)(bi * lu->nb + bj) * lu->bstride;
}

/* Rows (or columns) in block row (column) bi. */
static long bsize(const struct lu *lu, long bi)
{
	long left = lu->n - bi * lu->b;

	return left < lu->b ? left : lu->b;
}

/*
 * The block kernels.  Blocks are row-major with ld doubles per row.
 *
 * lu0: factor the nk x nk diagonal block in place.
 */
static void lu0(double *d, long nk, long ld)
{
	long i, j, k;

	for (k = 0; k < nk; k++)
		for (i = k + 1; i < nk; i++) {
			double l = d[i * ld + k] /= d[k * ld + k];

			for (j = k + 1; j < nk; j++)
				d[i * ld + j] -= l * d[k * ld + j];
		}
}

/* bdiv: a <- a U^-1 for the ni x nk block a below the diagonal block d. */
static void bdiv(double *a, const double *d, long ni, long nk, long ld)
{
	long r, j, k;

	for (r = 0; r < ni; r++)
		for (k = 0; k < nk; k++) {
			double x = a[r * ld + k] /= d[k * ld + k];

			for (j = k + 1; j < nk; j++)
				a[r * ld + j] -= x * d[k * ld + j];
		}
}

/* bmodd: a <- L^-1 a for the nk x nj block a right of the diagonal block d. */
static void bmodd(double *a, const double *d, long nk, long nj, long ld)
{
	long i, j, k;

	for (k = 0; k < nk; k++)
		for (i = k + 1; i < nk; i++) {
			double l = d[i * ld + k];

			for (j = 0; j < nj; j++)
				a[i * ld + j] -= l * a[k * ld + j];
		}
}

/* bmod: c <- c - a bm, c ni x nj, a ni x nk, bm nk x nj. */
static void bmod(double *c, const double *a, const double *bm, long ni, long nk,
		 long nj, long ld)
{
	long i, j, k;

	for (i = 0; i < ni; i++)
		for (k = 0; k < nk; k++) {
			double x = a[i * ld + k];

			for (j = 0; j < nj; j++)
				c[i * ld + j] -= x * bm[k * ld + j];
		}
}

/*
 * Is block (bi, bj) this thread's?  The node's blocks are dealt round-robin
 * to its threads in the order they are asked about, *deal counting them:
 * every thread of the node asks about the same blocks in the same order.
 */
static bool mine(const struct lu *lu, long bi, long bj, int tid,
		 unsigned long *deal)
{
	if (owner(lu, bi, bj) != lu->me)
		return false;
	return (*deal)++ % (unsigned long)lu->nthreads == (unsigned long)tid;
}

static void *lu_thread_main(struct app_team *team, int tid, void *arg)
{
	struct lu *lu = arg;
	long nb = lu->nb, ld = lu->b, bi, bj, bk, i, j;
	unsigned long deal = 0;

	/* First touch: each node fills (and so owns) its blocks. */
	for (bi = 0; bi < nb; bi++)
		for (bj = 0; bj < nb; bj++) {
			double *blk = block(lu, bi, bj);

			if (!mine(lu, bi, bj, tid, &deal))
				continue;
			for (i = 0; i < bsize(lu, bi); i++)
				for (j = 0; j < bsize(lu, bj); j++)
					blk[i * ld + j] = a_entry(&lu->gen, bi * lu->b + i,
								  bj * lu->b + j);
		}
	app_team_barrier(team, tid);
	if (tid == 0)
		lu->t0 = app_now();

	for (bk = 0; bk < nb; bk++) {
		const double *diag = block(lu, bk, bk);
		long nk = bsize(lu, bk);

		/* 1. The diagonal block, by thread 0 of its owner. */
		if (tid == 0 && owner(lu, bk, bk) == lu->me)
			lu0(block(lu, bk, bk), nk, ld);
		app_team_barrier(team, tid);

		/* 2. The perimeter: the column below and the row right of it. */
		for (bi = bk + 1; bi < nb; bi++)
			if (mine(lu, bi, bk, tid, &deal))
				bdiv(block(lu, bi, bk), diag, bsize(lu, bi), nk, ld);
		for (bj = bk + 1; bj < nb; bj++)
			if (mine(lu, bk, bj, tid, &deal))
				bmodd(block(lu, bk, bj), diag, nk, bsize(lu, bj), ld);
		app_team_barrier(team, tid);

		/* 3. The interior. */
		for (bi = bk + 1; bi < nb; bi++) {
			if (bi % lu->pr != lu->me / lu->pc)
				continue;	/* no block of this row is ours */
			for (bj = bk + 1; bj < nb; bj++)
				if (mine(lu, bi, bj, tid, &deal))
					bmod(block(lu, bi, bj), block(lu, bi, bk),
					     block(lu, bk, bj), bsize(lu, bi), nk,
					     bsize(lu, bj), ld);
		}
		/* The node's threads only: see the top of the file. */
		pthread_barrier_wait(&team->pbar);
	}
	/* Everyone's last interior updates, before the clock stops and the check. */
	app_team_barrier(team, tid);

	if (tid == 0)
		lu->t1 = app_now();
	return NULL;
}

/*
 * Compare this node's blocks with L0 and U0, bit for bit (after the last
 * barrier).  Returns the number of entries that differ.
 */
static long check_blocks(const struct lu *lu)
{
	long bi, bj, i, j, bad = 0;

	for (bi = 0; bi < lu->nb; bi++)
		for (bj = 0; bj < lu->nb; bj++) {
			const double *blk = block(lu, bi, bj);

			if (owner(lu, bi, bj) != lu->me)
				continue;
			for (i = 0; i < bsize(lu, bi); i++)
				for (j = 0; j < bsize(lu, bj); j++) {
					long gi = bi * lu->b + i, gj = bj * lu->b + j;
					double want = lu_entry(&lu->gen, gi, gj);
					const double *got = &blk[i * lu->b + j];

					if (memcmp(&want, got, sizeof(double)) == 0)
						continue;
					if (bad < 5)
						fprintf(stderr, "lu: node %d: %s(%ld,%ld) = %.17g, expected %.17g\n",
							lu->me, gj < gi ? "L" : "U", gi, gj, *got, want);
					bad++;
				}
		}
	return bad;
}

int main(int argc, char **argv)
{
	struct lu lu = { .nthreads = 1 };
	struct app_team team;
	long n = LU_DEF_N, b = LU_DEF_B, bad;
	size_t page, bytes;
	int nnodes;
	char size[32];
	bool passed;
	const struct app_opt opts[] = {
		{ 'n', .l = &n, .lo = 1, .hi = LU_MAX_N },
		{ 'b', .l = &b, .lo = 1, .hi = LU_MAX_B },
		{ 't', .i = &lu.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("lu", &argc, &argv);
	lu.me = dsm_node_id();
	nnodes = dsm_num_nodes();

	if (app_parse_args(argc, argv, "n:b:t:h", opts))
		return app_usage_error(usage, argv[0]);
	lu.n = n;
	lu.b = b < n ? b : n;
	lu.nb = (n + lu.b - 1) / lu.b;
	/* The squarest node grid: PR the largest divisor with PR * PR <= nodes. */
	for (lu.pr = 1; (lu.pr + 1) * (lu.pr + 1) <= nnodes; lu.pr++)
		;
	while (nnodes % lu.pr)
		lu.pr--;
	lu.pc = nnodes / lu.pr;

	if (gen_init(&lu.gen, n) < 0) {
		/* Private memory: the node stops, and dsmrun ends the job. */
		fprintf(stderr, "lu: node %d: out of memory\n", lu.me);
		return 1;
	}
	page = dsm_page_size();
	bytes = (size_t)(lu.b * lu.b) * sizeof(double);
	bytes = (bytes + page - 1) / page * page;
	lu.bstride = bytes / sizeof(double);
	lu.blocks = dsm_alloc_collective(bytes * (size_t)(lu.nb * lu.nb));
	if (!lu.blocks)
		return app_alloc_failed("lu", "%ld x %zu bytes of shared heap", lu.nb * lu.nb,
					bytes);

	if (app_team_run(&team, lu.nthreads, lu_thread_main, &lu))
		return 1;

	bad = check_blocks(&lu);
	passed = app_all_ok(app_check_report("lu", bad,
					     "entries of its blocks differ from the exact factors"));
	gen_free(&lu.gen);

	if (lu.me == 0)
		printf("lu: %ldx%ld matrix, %ldx%ld blocks, %d node%s (%dx%d) x %d thread%s, %s consistency: %.6f s (%.1f Mflop/s), check %s\n",
		       n, n, lu.b, lu.b, nnodes, nnodes == 1 ? "" : "s", lu.pr, lu.pc,
		       lu.nthreads, lu.nthreads == 1 ? "" : "s", app_model_name(),
		       lu.t1 - lu.t0,
		       lu.t1 > lu.t0 ? 2.0 / 3.0 * n * n * n / (lu.t1 - lu.t0) * 1e-6 : 0.0,
		       passed ? "passed" : "FAILED");
	snprintf(size, sizeof(size), "%ld", n);
	return app_finish("lu", size, lu.nthreads, lu.t1 - lu.t0, passed);
}
