/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fft.c - 1-D complex FFT by the six-step method (libdsm app suite,
 * after the SPLASH-2 FFT kernel).
 *
 * n = 2^m complex points (m even), r = sqrt(n).  The data x[j] are viewed as
 * an r x r matrix A[j1][j2] = x[r*j1 + j2], row-major.  With w = e^(-2 pi i/n)
 * and w_r = w^r, the DFT splits as
 *
 *   X[k1 + r*k2] = sum_j2 w_r^(j2*k2) * w^(j2*k1) * sum_j1 w_r^(j1*k1) * A[j1][j2]
 *
 * which the six steps compute with row operations only:
 *
 *   1. transpose   B = A^T                  (B[j2][j1] = A[j1][j2])
 *   2. r-point FFT of every row of B        (B[j2][k1])
 *   3. twiddle     B[j2][k1] *= w^(j2*k1)
 *   4. transpose   A = B^T                  (A[k1][j2])
 *   5. r-point FFT of every row of A        (A[k1][k2])
 *   6. transpose   B = A^T                  (B[k2][k1] = X[k1 + r*k2])
 *
 * so the result is in B in natural order, row-major like the input.
 *
 * Partitioning: every node owns a block of rows of both matrices and is the
 * only one to write them.  The row FFTs and the twiddles touch own rows only
 * (no communication); each transpose writes own rows of the destination and
 * reads a column block of every other node's rows of the source: that is
 * the all-to-all communication, and it is the only communication.  Nodes
 * visit the other nodes' blocks in a staggered order (node p starts with
 * node p+1) so that they do not all ask the same node for pages at once.
 * A node's block starts on a page boundary (blocks are whole groups of
 * rows that fill pages), so two nodes never write into the same page.
 * With -t THREADS a node's rows are split again among its threads.
 *
 * Why it is data-race-free: between two barriers a shared row is written by
 * its owner only, and nobody reads a matrix while it is being written.
 * Each transpose is fenced by barriers: the matrix it reads was completed
 * before the barrier in front of it, and the matrix it writes is read by no
 * one (the previous transpose read it, before that barrier) until the
 * barrier behind it.  The row FFTs and twiddles between a transpose and the
 * next barrier touch only rows their node has just written.  So every read
 * of another node's data is ordered after its write by a barrier, and the
 * program gives the same answer under sequential, release and weak
 * consistency.
 *
 * Check (tolerance, not bit for bit: the six-step and the radix-2 reference
 * round differently): every node computes the n-point FFT of the same input
 * in private memory with a plain iterative radix-2 FFT and compares its own
 * rows of the result: max |X - X_ref| / max |X_ref| must be below 1e-12
 * (the rounding error is about 1e-15 and grows like log n; a coherence
 * error is of the order of 1).  Then the inverse transform is run in
 * parallel (untimed) on the result and every node compares its own rows of
 * IFFT(FFT(x)) / n with x, relative to max |x|, with the same tolerance.
 * Only the forward transform is timed.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "apps/common/app.h"

#define FFT_DEF_LOG2N	20
#define FFT_MAX_LOG2N	24
#define FFT_TOLERANCE	1e-12

struct cplx {
	double re, im;
};

/* Everything the threads of one node share (private memory). */
struct fft {
	int m;			/* n = 2^m points, m even */
	long n, r;		/* r = sqrt(n): rows and columns of the matrices */
	int nthreads;		/* application threads on this node */
	struct cplx *x, *y;	/* shared: the two r x r matrices */
	long row_lo, row_hi;	/* this node's rows [row_lo, row_hi) */
	struct cplx *roots;	/* w_r^k for k < r/2 (private) */
	struct cplx *twid;	/* w^(i*k) for this node's rows i, all k (private) */
	double t0, t1;		/* timed region, taken by thread 0 */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-m LOG2N] [-t THREADS]\n"
		"  -m LOG2N    transform 2^LOG2N complex points (even, 2..%d, default %d)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, FFT_MAX_LOG2N, FFT_DEF_LOG2N, APP_MAX_THREADS);
}

/*
 * Input point j: a deterministic pseudo-random value in [-1, 1)^2 that any
 * node can compute for any j (a splitmix64 hash of j), so that the nodes
 * initialize their own rows and each can rebuild the whole input for the
 * check without communication.
 */
static uint64_t mix64(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static struct cplx input_point(long j)
{
	uint64_t h = mix64((uint64_t)j);
	struct cplx c;

	/* 26 random bits each: exact in a double. */
	c.re = (double)(h >> 38) / (double)(1 << 25) - 1.0;
	c.im = (double)((h >> 12) & ((1 << 26) - 1)) / (double)(1 << 25) - 1.0;
	return c;
}

/* e^(-2 pi i e / len); e is reduced mod len first, for accuracy. */
static struct cplx unit_root(long e, long len)
{
	double a = -2.0 * M_PI * (double)(e % len) / (double)len;
	struct cplx c = { cos(a), sin(a) };

	return c;
}

/* roots[k] = e^(-2 pi i k / len), k < len/2: the table fft_inplace uses. */
static struct cplx *make_roots(long len)
{
	long k, half = len / 2 > 0 ? len / 2 : 1;
	struct cplx *roots = malloc(sizeof(*roots) * (size_t)half);

	if (!roots)
		return NULL;
	for (k = 0; k < half; k++)
		roots[k] = unit_root(k, len);
	return roots;
}

/*
 * In-place iterative radix-2 FFT of a[0..len) (len a power of two), with
 * roots from make_roots(len); sign = -1 forward, +1 inverse (unscaled).
 * Used both for the rows of the six-step and for the reference.
 */
static void fft_inplace(struct cplx *a, long len, const struct cplx *roots,
			int sign)
{
	long i, j, k, half, bit;

	/* Bit-reversal permutation. */
	for (i = 1, j = 0; i < len; i++) {
		for (bit = len >> 1; j & bit; bit >>= 1)
			j ^= bit;
		j |= bit;
		if (i < j) {
			struct cplx t = a[i];

			a[i] = a[j];
			a[j] = t;
		}
	}
	for (half = 1; half < len; half <<= 1) {
		long step = len / (2 * half);

		for (i = 0; i < len; i += 2 * half) {
			for (k = 0; k < half; k++) {
				struct cplx w = roots[k * step];
				struct cplx *u = &a[i + k], *v = &a[i + k + half];
				double wim = sign < 0 ? w.im : -w.im;
				double tre = v->re * w.re - v->im * wim;
				double tim = v->re * wim + v->im * w.re;

				v->re = u->re - tre;
				v->im = u->im - tim;
				u->re += tre;
				u->im += tim;
			}
		}
	}
}

/*
 * Node q's rows [*lo, *hi): a block of whole page groups (as many rows as
 * fill a page, or one row if a row is a page or more), so that no page
 * holds rows of two nodes.  Small matrices leave some nodes without rows.
 */
static void node_rows(const struct fft *f, int q, long *lo, long *hi)
{
	long rowbytes = f->r * (long)sizeof(struct cplx);
	long page = (long)dsm_page_size();
	long g = rowbytes >= page ? 1 : page / rowbytes;
	long glo, ghi;

	if (g > f->r)
		g = f->r;
	app_block_range(f->r / g, dsm_num_nodes(), q, &glo, &ghi);
	*lo = glo * g;
	*hi = ghi * g;
}

/*
 * dst rows [lo, hi) = those rows of the transpose of src: dst[i][j] =
 * src[j][i] for every j.  The source is read one node's block of rows at a
 * time, starting with the next node's (staggered), in tiles so that both
 * matrices are walked a cache line at a time.
 */
static void transpose_rows(const struct fft *f, struct cplx *dst,
			   const struct cplx *src, long lo, long hi)
{
	const long tile = 16;
	int me = dsm_node_id(), nnodes = dsm_num_nodes(), s;
	long r = f->r;

	for (s = 1; s <= nnodes; s++) {
		long qlo, qhi, ii, jj, i, j;

		node_rows(f, (me + s) % nnodes, &qlo, &qhi);
		for (jj = qlo; jj < qhi; jj += tile) {
			long jend = jj + tile < qhi ? jj + tile : qhi;

			for (ii = lo; ii < hi; ii += tile) {
				long iend = ii + tile < hi ? ii + tile : hi;

				for (j = jj; j < jend; j++)
					for (i = ii; i < iend; i++)
						dst[i * r + j] = src[j * r + i];
			}
		}
	}
}

/* Row FFTs of rows [lo, hi) of a, then (if twiddle) the twiddle factors. */
static void fft_rows(const struct fft *f, struct cplx *a, long lo, long hi,
		     int sign, bool twiddle)
{
	long r = f->r, i, k;

	for (i = lo; i < hi; i++) {
		struct cplx *row = a + i * r;
		const struct cplx *tw = f->twid + (i - f->row_lo) * r;

		fft_inplace(row, r, f->roots, sign);
		if (!twiddle)
			continue;
		for (k = 0; k < r; k++) {
			double wim = sign < 0 ? tw[k].im : -tw[k].im;
			double re = row[k].re * tw[k].re - row[k].im * wim;

			row[k].im = row[k].re * wim + row[k].im * tw[k].re;
			row[k].re = re;
		}
	}
}

/*
 * The six steps on this thread's rows [lo, hi): the input is in a, the
 * result ends in b, and a is overwritten.  Every node's writes to a must be
 * complete before the call (a barrier); at return the result is complete
 * (the last step ends with a barrier).
 */
static void fft_six_step(struct fft *f, struct app_team *team, int tid,
			 struct cplx *a, struct cplx *b, long lo, long hi,
			 int sign)
{
	transpose_rows(f, b, a, lo, hi);	/* 1 */
	fft_rows(f, b, lo, hi, sign, true);	/* 2, 3: own rows only */
	app_team_barrier(team, tid);		/* b complete; a free */
	transpose_rows(f, a, b, lo, hi);	/* 4 */
	fft_rows(f, a, lo, hi, sign, false);	/* 5 */
	app_team_barrier(team, tid);		/* a complete; b free */
	transpose_rows(f, b, a, lo, hi);	/* 6 */
	app_team_barrier(team, tid);		/* the result b is complete */
}

/* What the node's threads do in a team run. */
enum fft_phase { FFT_FORWARD, FFT_INVERSE };

struct fft_run {
	struct fft *f;
	enum fft_phase phase;
};

static void *fft_thread(struct app_team *team, int tid, void *arg)
{
	struct fft_run *run = arg;
	struct fft *f = run->f;
	long lo, hi, i, k, r = f->r;

	/* This thread's share of the node's rows. */
	app_block_range(f->row_hi - f->row_lo, f->nthreads, tid, &lo, &hi);
	lo += f->row_lo;
	hi += f->row_lo;

	if (run->phase == FFT_INVERSE) {
		/* The forward result is in y: transform it back into x. */
		fft_six_step(f, team, tid, f->y, f->x, lo, hi, +1);
		return NULL;
	}

	/*
	 * Setup: each node writes its own rows of the input (first touch:
	 * under a single-writer protocol it then owns those pages) and its
	 * own rows of the twiddle factors (private).
	 */
	for (i = lo; i < hi; i++) {
		for (k = 0; k < r; k++) {
			f->x[i * r + k] = input_point(i * r + k);
			f->twid[(i - f->row_lo) * r + k] = unit_root(i * k, f->n);
		}
	}
	app_team_barrier(team, tid);
	if (tid == 0)
		f->t0 = app_now();
	fft_six_step(f, team, tid, f->x, f->y, lo, hi, -1);
	if (tid == 0)
		f->t1 = app_now();
	return NULL;
}

static double cabs_diff(struct cplx a, struct cplx b)
{
	return hypot(a.re - b.re, a.im - b.im);
}

/*
 * The reference: input and its forward FFT computed sequentially in
 * private memory by a plain radix-2 FFT of all n points.  *in_max and
 * *out_max are the largest magnitudes of the input and of its transform,
 * the scales of the two relative errors.
 */
static struct cplx *reference(const struct fft *f, struct cplx **input,
			      double *in_max, double *out_max)
{
	struct cplx *in = malloc(sizeof(*in) * (size_t)f->n);
	struct cplx *out = malloc(sizeof(*out) * (size_t)f->n);
	struct cplx *roots = make_roots(f->n);
	long j;

	if (!in || !out || !roots) {
		fprintf(stderr, "fft: node %d: out of memory for the check\n",
			dsm_node_id());
		exit(1);
	}
	*in_max = *out_max = 0.0;
	for (j = 0; j < f->n; j++) {
		in[j] = out[j] = input_point(j);
		*in_max = fmax(*in_max, hypot(in[j].re, in[j].im));
	}
	fft_inplace(out, f->n, roots, -1);
	for (j = 0; j < f->n; j++)
		*out_max = fmax(*out_max, hypot(out[j].re, out[j].im));
	free(roots);
	*input = in;
	return out;
}

/*
 * Largest |got[j] * scale - want[j]| over this node's rows (the result is in
 * natural order, so row i holds points i*r .. i*r + r-1), divided by norm.
 * Call after the barrier that completes got.
 */
static double node_error(const struct fft *f, const struct cplx *got,
			 const struct cplx *want, double scale, double norm)
{
	double err = 0.0;
	long j;

	for (j = f->row_lo * f->r; j < f->row_hi * f->r; j++) {
		struct cplx g = { got[j].re * scale, got[j].im * scale };

		/* fmax would drop a NaN: a NaN must fail the check. */
		double e = cabs_diff(g, want[j]);

		if (!(e <= err))
			err = e;
	}
	return norm > 0.0 ? err / norm : err;
}

/* -m LOG2N: an even number in [2, FFT_MAX_LOG2N] into *(int *)to; 0 or -1. */
static int parse_log2n(const char *arg, void *to)
{
	long v;

	if (app_parse_long(arg, 2, FFT_MAX_LOG2N, &v) || v % 2)
		return -1;
	*(int *)to = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct fft f = { .m = FFT_DEF_LOG2N, .nthreads = 1 };
	struct app_team team;
	struct fft_run run = { .f = &f };
	struct cplx *ref, *input;
	double *errs;	/* shared: node k's two relative errors */
	double in_max, out_max, err_fwd = 0.0, err_inv = 0.0;
	int me, nnodes, k, ret;
	bool ok;
	char size[32];
	const struct app_opt opts[] = {
		{ 'm', .parse = parse_log2n, .to = &f.m },
		{ 't', .i = &f.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("fft", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	if (app_parse_args(argc, argv, "m:t:h", opts))
		return app_usage_error(usage, argv[0]);

	f.n = 1L << f.m;
	f.r = 1L << (f.m / 2);
	f.x = dsm_alloc_collective(sizeof(struct cplx) * (size_t)f.n);
	f.y = dsm_alloc_collective(sizeof(struct cplx) * (size_t)f.n);
	errs = dsm_alloc_collective(sizeof(double) * 2 * (size_t)nnodes);
	if (!f.x || !f.y || !errs)
		return app_alloc_failed("fft", "2 x %zu bytes of shared heap (DSM_HEAP_SIZE)",
					sizeof(struct cplx) * (size_t)f.n);
	node_rows(&f, me, &f.row_lo, &f.row_hi);
	f.roots = make_roots(f.r);
	f.twid = malloc(sizeof(struct cplx) * (size_t)((f.row_hi - f.row_lo) * f.r + 1));
	if (!f.roots || !f.twid) {
		/* A node that exits takes the job down with a message. */
		fprintf(stderr, "fft: node %d: out of memory\n", me);
		exit(1);
	}

	run.phase = FFT_FORWARD;
	ret = app_team_run(&team, f.nthreads, fft_thread, &run);
	if (ret)
		exit(1);

	/* The forward result y is complete: check our rows of it. */
	ref = reference(&f, &input, &in_max, &out_max);
	err_fwd = node_error(&f, f.y, ref, 1.0, out_max);

	/* The round trip (untimed): x = IFFT(y) must give back the input. */
	run.phase = FFT_INVERSE;
	ret = app_team_run(&team, f.nthreads, fft_thread, &run);
	if (ret)
		exit(1);
	err_inv = node_error(&f, f.x, input, 1.0 / (double)f.n, in_max);

	ok = err_fwd < FFT_TOLERANCE && err_inv < FFT_TOLERANCE;
	if (!ok)
		fprintf(stderr, "fft: node %d: rows %ld..%ld: relative error %.3g forward, %.3g round trip (tolerance %g)\n",
			me, f.row_lo, f.row_hi - 1, err_fwd, err_inv, FFT_TOLERANCE);
	errs[2 * me] = err_fwd;
	errs[2 * me + 1] = err_inv;
	dsm_barrier();
	for (k = 0; k < nnodes; k++) {
		if (!(errs[2 * k] <= err_fwd))
			err_fwd = errs[2 * k];
		if (!(errs[2 * k + 1] <= err_inv))
			err_inv = errs[2 * k + 1];
	}
	ok = app_all_ok(ok);

	if (me == 0)
		printf("fft: %ld points (%ldx%ld), %d node%s x %d thread%s, %s consistency: %.6f s, max relative error %.2e forward, %.2e round trip, check %s\n",
		       f.n, f.r, f.r, nnodes, nnodes == 1 ? "" : "s",
		       f.nthreads, f.nthreads == 1 ? "" : "s", app_model_name(),
		       f.t1 - f.t0, err_fwd, err_inv, ok ? "passed" : "FAILED");
	snprintf(size, sizeof(size), "%ld", f.n);
	free(ref);
	free(input);
	free(f.roots);
	free(f.twid);
	return app_finish("fft", size, f.nthreads, f.t1 - f.t0, ok);
}
