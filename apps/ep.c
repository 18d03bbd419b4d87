/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ep.c - NAS EP, the "embarrassingly parallel" kernel (libdsm app suite; the
 * conventions are jacobi.c's and apps/common/app.h's).
 *
 * usage: ep [-m M | -c CLASS] [-t THREADS]
 *
 * 2^M pairs of uniform deviates in (0, 1) come from the NAS linear
 * congruential generator x <- 5^13 x mod 2^46, seeded with 271828183, in
 * order.  Each pair (x1, x2), mapped to (-1, 1)^2, that falls inside the unit
 * circle (t = x1^2 + x2^2 <= 1) gives a pair of independent Gaussian deviates
 * X = x1 sqrt(-2 ln t / t), Y = x2 sqrt(-2 ln t / t) (the Marsaglia polar
 * method); the results are the sums of all X and of all Y, and the counts of
 * pairs by the annulus l <= max(|X|, |Y|) < l + 1 they fall in, l = 0..9.
 * The classes are M = 24 (S), 25 (W), 28 (A), 30 (B), 32 (C), 36 (D) and 40
 * (E).  These are the sums of NPB 2.x-3.3 (NPB 3.4 changed them to sums of
 * squares).
 *
 * The pairs are cut into batches of 2^16 (fewer if M < 16), each started at
 * its own seed S A^(2 * 2^16 * k) (jumped to by repeated squaring, as NAS
 * does), and the batches are block-partitioned among the nodes, and within a
 * node among its threads.  Each thread sums its batches privately; the
 * node's thread 0 adds its threads' results up in thread order, adds the
 * node's total to the shared totals under a lock, and publishes it in the
 * node's slot of a shared array.  After a barrier, every node checks:
 *
 *  - the merge: the shared counts equal the sum of the slots exactly, and
 *    the shared sums equal the slots' sum up to the reordering of the
 *    additions (relative 1e-12), so no update under the lock was lost;
 *  - the result: for the class sizes, against NAS's verification values
 *    (the sums to a relative 1e-8 as NAS checks them, the number of Gaussian
 *    pairs exactly); for any other M, node 0
 *    computes the sequential result in private memory (every batch in order
 *    into one running sum, the serial NAS program) and compares: the counts
 *    exactly, the sums to 1e-8 (they differ only in the order of the
 *    additions).
 *
 * Only the generation and the merge are timed.  DSM_RESULT size is the
 * number of pairs, 2^M.
 */
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "apps/common/app.h"

#define EP_DEF_M	24	/* class S */
#define EP_MAX_M	40	/* class E */
#define EP_MK		16	/* a batch is 2^EP_MK pairs (at most) */
#define EP_NQ		10	/* annuli counted */
#define EP_SEED		271828183u
#define EP_MULT		1220703125u	/* 5^13 */
#define EP_MASK46	((UINT64_C(1) << 46) - 1)
#define EP_LOCK		0

/* One thread's, one node's or the whole job's results. */
struct ep_sums {
	double sx, sy;		/* sums of the X and of the Y deviates */
	int64_t q[EP_NQ];	/* pairs by annulus */
};

/* Everything the threads of one node share (private memory). */
struct ep {
	int m;			/* 2^m pairs */
	int mk;			/* a batch is 2^mk pairs */
	int nthreads;		/* application threads on this node */
	long batch_lo, batch_hi;	/* this node's batches [batch_lo, batch_hi) */
	struct ep_sums *total;	/* shared: the job's totals, under EP_LOCK */
	struct ep_sums *slot;	/* shared: slot[k] is node k's total */
	struct ep_sums mine[APP_MAX_THREADS];	/* each thread's own */
	double t0, t1;		/* timed region, taken by thread 0 */
};

/*
 * NAS's classes and verification values: the sums of NPB 2.x-3.3 EP, and the
 * number of Gaussian pairs that NPB 3.4 added to them (its definition of the
 * count did not change).
 */
static const struct ep_class {
	char name;
	int m;
	double sx, sy;
	int64_t gc;
} ep_classes[] = {
	{ 'S', 24, -3.247834652034740e+3, -6.958407078382297e+3, INT64_C(13176389) },
	{ 'W', 25, -2.863319731645753e+3, -6.320053679109499e+3, INT64_C(26354769) },
	{ 'A', 28, -4.295875165629892e+3, -1.580732573678431e+4, INT64_C(210832767) },
	{ 'B', 30, 4.033815542441498e+4, -2.660669192809235e+4, INT64_C(843345606) },
	{ 'C', 32, 4.764367927995374e+4, -8.084072988043731e+4, INT64_C(3373275903) },
	{ 'D', 36, 1.982481200946593e+5, -1.020596636361769e+5, INT64_C(53972171957) },
	{ 'E', 40, -5.319717441530e+05, -3.688834557731e+05, INT64_C(863554308186) },
};
#define EP_NCLASSES ((int)(sizeof(ep_classes) / sizeof(ep_classes[0])))

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-m M | -c CLASS] [-t THREADS]\n"
		"  -m M        2^M pairs of random numbers (1..%d, default %d)\n"
		"  -c CLASS    NAS class: S (M=24), W (25), A (28), B (30), C (32), D (36), E (40)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, EP_MAX_M, EP_DEF_M, APP_MAX_THREADS);
}

static const struct ep_class *class_of_m(int m)
{
	int i;

	for (i = 0; i < EP_NCLASSES; i++)
		if (ep_classes[i].m == m)
			return &ep_classes[i];
	return NULL;
}

/* a^e mod 2^46 (the product of two 46-bit numbers wraps mod 2^64 first). */
static uint64_t lcg_pow(uint64_t a, uint64_t e)
{
	uint64_t r = 1;

	for (; e; e >>= 1) {
		if (e & 1)
			r = (r * a) & EP_MASK46;
		a = (a * a) & EP_MASK46;
	}
	return r;
}

/*
 * Add batch k's pairs to *acc, in order.  A batch is 2^mk pairs, 2^(mk+1)
 * numbers of the sequence from seed S A^(2^(mk+1) k): the same numbers NAS
 * generates, whatever the batch size.
 */
static void ep_batch(int mk, long k, struct ep_sums *acc)
{
	uint64_t x = (EP_SEED * lcg_pow(lcg_pow(EP_MULT, UINT64_C(2) << mk), (uint64_t)k)) &
		     EP_MASK46;
	long i, pairs = 1L << mk;

	for (i = 0; i < pairs; i++) {
		double x1, x2, t1, t2, t3, t4;
		int l;

		/* A uniform deviate is x 2^-46, exactly as NAS's randlc. */
		x = (x * EP_MULT) & EP_MASK46;
		x1 = 2.0 * ((double)x * 0x1p-46) - 1.0;
		x = (x * EP_MULT) & EP_MASK46;
		x2 = 2.0 * ((double)x * 0x1p-46) - 1.0;
		t1 = x1 * x1 + x2 * x2;
		if (t1 > 1.0)
			continue;
		/* x is odd, never 2^45, so x1 != 0 and t1 > 0. */
		t2 = sqrt(-2.0 * log(t1) / t1);
		t3 = x1 * t2;
		t4 = x2 * t2;
		l = (int)fmax(fabs(t3), fabs(t4));
		/*
		 * 10 or more needs t1 < e^-50, both x1 and x2 within about
		 * 2^-36 of 0: one pair in 2^70 or so.  NAS does not guard it;
		 * count it in the last annulus rather than write out of bounds.
		 */
		if (l >= EP_NQ)
			l = EP_NQ - 1;
		acc->q[l]++;
		acc->sx += t3;
		acc->sy += t4;
	}
}

static void sums_add(struct ep_sums *to, const struct ep_sums *from)
{
	int l;

	to->sx += from->sx;
	to->sy += from->sy;
	for (l = 0; l < EP_NQ; l++)
		to->q[l] += from->q[l];
}

static void *ep_thread_main(struct app_team *team, int tid, void *arg)
{
	struct ep *ep = arg;
	struct ep_sums *acc = &ep->mine[tid];
	long lo, hi, k;

	/* This thread's share of the node's batches. */
	app_block_range(ep->batch_hi - ep->batch_lo, ep->nthreads, tid, &lo, &hi);
	lo += ep->batch_lo;
	hi += ep->batch_lo;
	memset(acc, 0, sizeof(*acc));

	app_team_barrier(team, tid);
	if (tid == 0)
		ep->t0 = app_now();

	for (k = lo; k < hi; k++)
		ep_batch(ep->mk, k, acc);

	/* The node's threads are done: thread 0 merges for the node. */
	pthread_barrier_wait(&team->pbar);
	if (tid == 0) {
		struct ep_sums node = { 0 };
		int i, ret;

		for (i = 0; i < ep->nthreads; i++)
			sums_add(&node, &ep->mine[i]);
		ret = dsm_lock_acquire(EP_LOCK);
		if (ret < 0) {
			/* Cannot happen with a valid lock id; the check would fail. */
			fprintf(stderr, "ep: node %d: dsm_lock_acquire: %s\n",
				dsm_node_id(), dsm_strerror(ret));
		} else {
			sums_add(ep->total, &node);
			dsm_lock_release(EP_LOCK);
		}
		ep->slot[dsm_node_id()] = node;
	}
	app_team_barrier(team, tid);

	if (tid == 0)
		ep->t1 = app_now();
	return NULL;
}

/* |got - want| <= eps * max(|want|, 1) */
static bool close_to(double got, double want, double eps)
{
	return fabs(got - want) <= eps * fmax(fabs(want), 1.0);
}

/*
 * The merge under the lock (every node): the totals against the sum of the
 * nodes' slots.  Returns true if it checks out.
 */
static bool check_merge(const struct ep *ep, int nnodes)
{
	struct ep_sums sum = { 0 };
	bool ok = true;
	int k, l;

	for (k = 0; k < nnodes; k++)
		sums_add(&sum, &ep->slot[k]);
	for (l = 0; l < EP_NQ; l++)
		if (sum.q[l] != ep->total->q[l]) {
			fprintf(stderr, "ep: node %d: annulus %d: total %" PRId64 " pairs, the nodes' slots add up to %" PRId64 "\n",
				dsm_node_id(), l, ep->total->q[l], sum.q[l]);
			ok = false;
		}
	if (!close_to(ep->total->sx, sum.sx, 1e-12) ||
	    !close_to(ep->total->sy, sum.sy, 1e-12)) {
		fprintf(stderr, "ep: node %d: total sums (%.15e, %.15e), the nodes' slots add up to (%.15e, %.15e)\n",
			dsm_node_id(), ep->total->sx, ep->total->sy, sum.sx, sum.sy);
		ok = false;
	}
	return ok;
}

/*
 * The result (node 0): against NAS's values for a class, else against the
 * sequential computation.  Returns true if it checks out.
 */
static bool check_result(const struct ep *ep)
{
	const struct ep_class *cl = class_of_m(ep->m);
	const struct ep_sums *got = ep->total;
	struct ep_sums want = { 0 };
	bool ok = true;
	long k;
	int l;

	if (cl) {
		int64_t gc = 0;

		for (l = 0; l < EP_NQ; l++)
			gc += got->q[l];
		if (close_to(got->sx, cl->sx, 1e-8) && close_to(got->sy, cl->sy, 1e-8) &&
		    gc == cl->gc)
			return true;
		fprintf(stderr, "ep: sums (%.15e, %.15e) of %" PRId64 " Gaussian pairs, NAS class %c says (%.15e, %.15e) of %" PRId64 "\n",
			got->sx, got->sy, gc, cl->name, cl->sx, cl->sy, cl->gc);
		return false;
	}
	for (k = 0; k < 1L << (ep->m - ep->mk); k++)
		ep_batch(ep->mk, k, &want);
	for (l = 0; l < EP_NQ; l++)
		if (got->q[l] != want.q[l]) {
			fprintf(stderr, "ep: annulus %d: %" PRId64 " pairs, sequentially %" PRId64 "\n",
				l, got->q[l], want.q[l]);
			ok = false;
		}
	if (!close_to(got->sx, want.sx, 1e-8) || !close_to(got->sy, want.sy, 1e-8)) {
		fprintf(stderr, "ep: sums (%.15e, %.15e), sequentially (%.15e, %.15e)\n",
			got->sx, got->sy, want.sx, want.sy);
		ok = false;
	}
	return ok;
}

/* -c CLASS: the class's M into *(long *)to; 0, or -1 for no such class. */
static int parse_class(const char *arg, void *to)
{
	int i;

	for (i = 0; i < EP_NCLASSES; i++)
		if (arg[0] == ep_classes[i].name && !arg[1]) {
			*(long *)to = ep_classes[i].m;
			return 0;
		}
	return -1;
}

int main(int argc, char **argv)
{
	struct ep ep = { .nthreads = 1 };
	struct app_team team;
	const struct ep_class *cl;
	long m = EP_DEF_M, nbatches;
	int me, nnodes, i;
	int64_t gc = 0;
	char size[32];
	bool ok;
	const struct app_opt opts[] = {
		{ 'm', .l = &m, .lo = 1, .hi = EP_MAX_M },
		{ 'c', .parse = parse_class, .to = &m },
		{ 't', .i = &ep.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("ep", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	if (app_parse_args(argc, argv, "m:c:t:h", opts))
		return app_usage_error(usage, argv[0]);

	ep.m = (int)m;
	ep.mk = ep.m < EP_MK ? ep.m : EP_MK;
	nbatches = 1L << (ep.m - ep.mk);
	app_block_range(nbatches, nnodes, me, &ep.batch_lo, &ep.batch_hi);
	ep.total = dsm_alloc_collective(sizeof(struct ep_sums));
	ep.slot = dsm_alloc_collective(sizeof(struct ep_sums) * (size_t)nnodes);
	if (!ep.total || !ep.slot)
		return app_alloc_failed("ep", "the shared totals");

	if (app_team_run(&team, ep.nthreads, ep_thread_main, &ep))
		return 1;

	/* After the last barrier the totals and every slot are final. */
	ok = check_merge(&ep, nnodes);
	if (me == 0)
		ok = check_result(&ep) && ok;
	ok = app_all_ok(ok);

	cl = class_of_m(ep.m);
	if (me == 0) {
		for (i = 0; i < EP_NQ; i++)
			gc += ep.total->q[i];
		printf("ep: 2^%d pairs (class %c), %d node%s x %d thread%s, %s consistency: %.6f s (%.2f Mop/s), %" PRId64 " Gaussian pairs, sums %.15e %.15e, check %s\n",
		       ep.m, cl ? cl->name : 'U', nnodes, nnodes == 1 ? "" : "s",
		       ep.nthreads, ep.nthreads == 1 ? "" : "s", app_model_name(),
		       ep.t1 - ep.t0,
		       ep.t1 > ep.t0 ? ldexp(1.0, ep.m + 1) / (ep.t1 - ep.t0) * 1e-6 : 0.0,
		       gc, ep.total->sx, ep.total->sy, ok ? "passed" : "FAILED");
	}
	snprintf(size, sizeof(size), "%ld", 1L << ep.m);
	return app_finish("ep", size, ep.nthreads, ep.t1 - ep.t0, ok);
}
