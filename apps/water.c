/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * water.c - n-squared molecular dynamics in the style of SPLASH-2
 * WATER-NSQUARED (libdsm app suite).
 *
 * The model: a Lennard-Jones fluid, one site per "molecule" (not the
 * three-site water of SPLASH-2: the communication pattern is the same, the
 * chemistry is simpler), in reduced units (sigma = epsilon = mass = 1) at
 * density 0.8, in a cubic periodic box with the minimum-image convention and
 * a cutoff of 2.5 (or half the box, if smaller).  The molecules start on a
 * simple cubic lattice, jittered, with velocities of temperature about 1,
 * all from a hash of the molecule's index, so every run starts alike.  The
 * integrator is symplectic Euler: v += F dt, then x += v dt.
 *
 * The parallel structure is WATER-NSQUARED's:
 *
 *  - The molecules are dealt to the nodes in blocks of one page of the
 *    shared position array (so no two nodes write one page of it); within a
 *    node, among its threads (-t).
 *  - Force phase: every pair is computed once, by the owner of its first
 *    molecule, with the "half shell": molecule i meets i+1 .. i+n/2 (mod n;
 *    when n is even the pair at distance n/2 belongs to the lower index).
 *    That balances the pairs between the molecules, so a block partition
 *    balances the nodes.  Each thread adds the pair forces of both molecules
 *    into a PRIVATE force array; then the node merges its threads'
 *    contributions into the SHARED force array block by block, each block
 *    under its own lock (one lock per block of molecules, as WATER does),
 *    so the node takes every lock at most once per step and skips the
 *    blocks it did not touch.  Barrier.
 *  - Integration phase: each node reads the total force on its own molecules,
 *    moves them, and clears their force for the next step.  Barrier.
 *
 * Why it is data-race-free: positions are written only in the integration
 * phase, by their owner, and read by everyone only in the force phase, with
 * a barrier in between either way.  The shared force of a molecule is added
 * to only in the force phase and only under its block's lock, and read and
 * cleared only by its owner in the integration phase.  The per-node energy
 * slots are written by their node, and read by node 0 after the last
 * barrier.  (The energy slots of all nodes share one page: one write per
 * node per phase, the only false sharing.)
 *
 * The check: node 0 runs the same simulation sequentially in private memory
 * with the same pair function, but sums every molecule's force in one order,
 * while the parallel run adds the nodes' partial sums in whatever order the
 * locks are granted.  Floating-point addition is not associative, so the two
 * differ in the last bits, and the dynamics amplify that a little each step.
 * The check therefore allows a relative error of WATER_TOL (1e-9), far below
 * what a lost or doubled contribution or a stale position causes (1e-6 and
 * up): it compares every position (minimum image, relative to the box
 * length) and the final potential and kinetic energies, and prints the
 * largest error.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/common/app.h"

#define WATER_DEF_MOLS	8192
#define WATER_DEF_STEPS	15
#define WATER_MAX_MOLS	(1L << 20)
#define WATER_DENSITY	0.8
#define WATER_CUTOFF	2.5
#define WATER_DT	0.002
#define WATER_TOL	1e-9

/* A molecule's position, velocity or force: x, y, z and padding to 32 bytes. */
struct vec4 {
	double c[4];
};

/* Everything the threads of one node share (private memory). */
struct water {
	long n;			/* molecules */
	int steps;		/* time steps */
	int nthreads;		/* application threads on this node */
	double box, half;	/* box length and half of it */
	double rc2;		/* cutoff squared */
	long per_block;		/* molecules per block (and per lock) */
	long nblocks;
	long blo, bhi;		/* this node's blocks [blo, bhi) */
	long lo, hi;		/* this node's molecules [lo, hi) */
	struct vec4 *pos;	/* shared: positions */
	struct vec4 *force;	/* shared: total forces of the current step */
	double *energy;		/* shared: node k's potential [2k], kinetic [2k+1] */
	struct vec4 *vel;	/* private: this node's molecules' velocities */
	struct vec4 *pforce[APP_MAX_THREADS];	/* private: a thread's n forces */
	unsigned char *touched[APP_MAX_THREADS]; /* private: blocks a thread added to */
	double pe[APP_MAX_THREADS], ke[APP_MAX_THREADS]; /* threads' energy sums */
	double t0, t1;		/* timed region, taken by thread 0 */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n MOLECULES] [-s STEPS] [-t THREADS]\n"
		"  -n MOLECULES  number of molecules (2..%ld, default %d)\n"
		"  -s STEPS      time steps (>= 1, default %d)\n"
		"  -t THREADS    application threads per node (1..%d, default 1)\n",
		prog, WATER_MAX_MOLS, WATER_DEF_MOLS, WATER_DEF_STEPS,
		APP_MAX_THREADS);
}

/* Molecule i's starting position and velocity. */
static void initial_state(const struct water *w, long i, struct vec4 *p, struct vec4 *v)
{
	long side = (long)ceil(cbrt((double)w->n));
	double a = w->box / (double)side;
	double vmax = sqrt(3.0);	/* uniform in [-vmax, vmax]: variance 1 */

	p->c[0] = a * ((double)(i % side) + 0.5 + 0.1 * (app_hash01(i, 0) - 0.5));
	p->c[1] = a * ((double)(i / side % side) + 0.5 + 0.1 * (app_hash01(i, 1) - 0.5));
	p->c[2] = a * ((double)(i / side / side) + 0.5 + 0.1 * (app_hash01(i, 2) - 0.5));
	p->c[3] = 0;
	for (int d = 0; d < 3; d++)
		v->c[d] = vmax * (2 * app_hash01(i, 3 + d) - 1);
	v->c[3] = 0;
}

/* The partners of molecule i are i+1 .. i+partners(i) (mod n): the half shell. */
static long partners(long n, long i)
{
	return (n - 1) / 2 + (n % 2 == 0 && i < n / 2);
}

/* The periodic image of d nearest to 0, for |d| < box. */
static inline double min_image(double d, double box, double half)
{
	if (d > half)
		return d - box;
	if (d < -half)
		return d + box;
	return d;
}

/*
 * The Lennard-Jones interactions of molecules [lo, hi) with their half
 * shells: forces added into f (all n molecules), blocks touched marked
 * in touched (may be NULL), potential energy returned.  The parallel run and
 * the check both call this.
 */
static double pair_forces(const struct water *w, const struct vec4 *pos,
			  long lo, long hi, struct vec4 *f, unsigned char *touched)
{
	double pe = 0;
	long i, k, j;

	for (i = lo; i < hi; i++) {
		double xi = pos[i].c[0], yi = pos[i].c[1], zi = pos[i].c[2];
		double fx = 0, fy = 0, fz = 0;
		long np = partners(w->n, i);

		for (k = 1, j = i + 1; k <= np; k++, j++) {
			double dx, dy, dz, r2, inv2, inv6, ff;

			if (j == w->n)
				j = 0;
			dx = min_image(xi - pos[j].c[0], w->box, w->half);
			dy = min_image(yi - pos[j].c[1], w->box, w->half);
			dz = min_image(zi - pos[j].c[2], w->box, w->half);
			r2 = dx * dx + dy * dy + dz * dz;
			if (r2 >= w->rc2)
				continue;
			inv2 = 1.0 / r2;
			inv6 = inv2 * inv2 * inv2;
			ff = 24.0 * inv2 * inv6 * (2.0 * inv6 - 1.0);	/* |F| / r */
			pe += 4.0 * inv6 * (inv6 - 1.0);
			fx += ff * dx;
			fy += ff * dy;
			fz += ff * dz;
			f[j].c[0] -= ff * dx;
			f[j].c[1] -= ff * dy;
			f[j].c[2] -= ff * dz;
			if (touched)
				touched[j / w->per_block] = 1;
		}
		f[i].c[0] += fx;
		f[i].c[1] += fy;
		f[i].c[2] += fz;
		if (touched)
			touched[i / w->per_block] = 1;
	}
	return pe;
}

/*
 * Symplectic Euler for molecules [lo, hi): velocities v (from molecule lo
 * on), forces f; positions stay in [0, box).  Returns the kinetic energy
 * after the move.
 */
static double integrate(const struct water *w, struct vec4 *pos, struct vec4 *v,
			const struct vec4 *f, long lo, long hi)
{
	double ke = 0;
	long i;
	int d;

	for (i = lo; i < hi; i++) {
		double *x = pos[i].c, *vi = v[i - lo].c;
		const double *fi = f[i].c;

		for (d = 0; d < 3; d++) {
			vi[d] += fi[d] * WATER_DT;
			x[d] += vi[d] * WATER_DT;
			if (x[d] >= w->box)
				x[d] -= w->box;
			else if (x[d] < 0)
				x[d] += w->box;
			ke += 0.5 * vi[d] * vi[d];
		}
	}
	return ke;
}

/*
 * Add the node's threads' private forces of block b (threads in tid order)
 * into the shared forces, under the block's lock.  Blocks that no thread
 * touched are skipped: their private forces are all zero.
 */
static void merge_block(struct water *w, long b)
{
	long i, lo = b * w->per_block, hi = lo + w->per_block;
	int t, used = 0;

	for (t = 0; t < w->nthreads; t++)
		used |= w->touched[t][b];
	if (!used)
		return;
	if (hi > w->n)
		hi = w->n;
	dsm_lock_acquire((unsigned)(b % DSM_MAX_LOCKS));
	for (i = lo; i < hi; i++) {
		double fx = 0, fy = 0, fz = 0;

		for (t = 0; t < w->nthreads; t++) {
			fx += w->pforce[t][i].c[0];
			fy += w->pforce[t][i].c[1];
			fz += w->pforce[t][i].c[2];
		}
		w->force[i].c[0] += fx;
		w->force[i].c[1] += fy;
		w->force[i].c[2] += fz;
	}
	dsm_lock_release((unsigned)(b % DSM_MAX_LOCKS));
}

static void *water_thread(struct app_team *team, int tid, void *arg)
{
	struct water *w = arg;
	long lo, hi, i, k;
	int s, t;

	/* This thread's share of the node's molecules. */
	app_block_range(w->hi - w->lo, w->nthreads, tid, &lo, &hi);
	lo += w->lo;
	hi += w->lo;

	/* Setup: each node places its own molecules (first touch). */
	for (i = lo; i < hi; i++)
		initial_state(w, i, &w->pos[i], &w->vel[i - w->lo]);
	app_team_barrier(team, tid);
	if (tid == 0)
		w->t0 = app_now();

	for (s = 0; s < w->steps; s++) {
		/* Force phase: private accumulation, then one locked merge per block. */
		memset(w->pforce[tid], 0, sizeof(struct vec4) * (size_t)w->n);
		memset(w->touched[tid], 0, (size_t)w->nblocks);
		w->pe[tid] = pair_forces(w, w->pos, lo, hi, w->pforce[tid],
					 w->touched[tid]);
		/* Every thread's private forces are complete past this point. */
		pthread_barrier_wait(&team->pbar);
		if (tid == 0) {
			double pe = 0;

			for (t = 0; t < w->nthreads; t++)
				pe += w->pe[t];
			w->energy[2 * dsm_node_id()] = pe;
		}
		/*
		 * Thread t merges every nthreads-th block, starting at the
		 * node's own blocks so that the nodes start on different locks.
		 */
		for (k = tid; k < w->nblocks; k += w->nthreads)
			merge_block(w, (w->blo + k) % w->nblocks);
		app_team_barrier(team, tid);

		/* Integration phase: own molecules only. */
		w->ke[tid] = integrate(w, w->pos, &w->vel[lo - w->lo], w->force,
				       lo, hi);
		memset(&w->force[lo], 0, sizeof(struct vec4) * (size_t)(hi - lo));
		pthread_barrier_wait(&team->pbar);
		if (tid == 0) {
			double ke = 0;

			for (t = 0; t < w->nthreads; t++)
				ke += w->ke[t];
			w->energy[2 * dsm_node_id() + 1] = ke;
		}
		app_team_barrier(team, tid);
	}
	if (tid == 0)
		w->t1 = app_now();
	return NULL;
}

/* Largest |a - b| / |b| (|a - b| if b == 0). */
static double rel_err(double a, double b)
{
	double d = fabs(a - b);

	return b != 0 ? d / fabs(b) : d;
}

/*
 * Node 0, after the last barrier: run the simulation sequentially in
 * private memory and compare positions and energies with the shared result.
 * Prints the errors; true if within WATER_TOL.  pe and ke: the parallel
 * run's total energies.
 */
static bool check(const struct water *w, double pe, double ke)
{
	struct vec4 *pos = malloc(sizeof(struct vec4) * (size_t)w->n);
	struct vec4 *v = malloc(sizeof(struct vec4) * (size_t)w->n);
	struct vec4 *f = malloc(sizeof(struct vec4) * (size_t)w->n);
	double spe = 0, ske = 0, perr = 0, eerr;
	long i;
	int s;

	if (!pos || !v || !f) {
		fprintf(stderr, "water: out of memory for the check\n");
		free(pos);
		free(v);
		free(f);
		return false;
	}
	for (i = 0; i < w->n; i++)
		initial_state(w, i, &pos[i], &v[i]);
	for (s = 0; s < w->steps; s++) {
		memset(f, 0, sizeof(struct vec4) * (size_t)w->n);
		spe = pair_forces(w, pos, 0, w->n, f, NULL);
		ske = integrate(w, pos, v, f, 0, w->n);
	}
	for (i = 0; i < w->n; i++) {
		double e = 0;

		for (int d = 0; d < 3; d++)
			e = fmax(e, fabs(min_image(w->pos[i].c[d] - pos[i].c[d], w->box,
						   w->half)));
		e /= w->box;
		if (!(e <= perr))	/* also catches NaN */
			perr = e;
	}
	eerr = fmax(rel_err(pe, spe), rel_err(ke, ske));
	if (isnan(eerr))
		eerr = INFINITY;
	printf("water: check against a sequential run: max position error %.3g box lengths, "
	       "max energy relative error %.3g (tolerance %g)\n", perr, eerr, WATER_TOL);
	free(pos);
	free(v);
	free(f);
	return perr <= WATER_TOL && eerr <= WATER_TOL;
}

int main(int argc, char **argv)
{
	struct water w = { .n = WATER_DEF_MOLS, .steps = WATER_DEF_STEPS,
			   .nthreads = 1 };
	struct app_team team;
	long npages;
	int me, nnodes, t;
	bool ok = true;
	char size[64];
	const struct app_opt opts[] = {
		{ 'n', .l = &w.n, .lo = 2, .hi = WATER_MAX_MOLS },
		{ 's', .i = &w.steps, .lo = 1, .hi = 1L << 30 },
		{ 't', .i = &w.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("water", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	if (app_parse_args(argc, argv, "n:s:t:", opts))
		return app_usage_error(usage, argv[0]);

	w.box = cbrt((double)w.n / WATER_DENSITY);
	w.half = w.box / 2;
	w.rc2 = fmin(WATER_CUTOFF, w.half) * fmin(WATER_CUTOFF, w.half);
	w.per_block = (long)(dsm_page_size() / sizeof(struct vec4));
	w.nblocks = (w.n + w.per_block - 1) / w.per_block;
	npages = w.nblocks;
	w.pos = dsm_alloc_collective(sizeof(struct vec4) * (size_t)(npages * w.per_block));
	w.force = dsm_alloc_collective(sizeof(struct vec4) * (size_t)(npages * w.per_block));
	w.energy = dsm_alloc_collective(sizeof(double) * 2 * (size_t)nnodes);
	if (!w.pos || !w.force || !w.energy)
		return app_alloc_failed("water", "the shared arrays");
	/* Whole blocks per node: no two nodes write one page of pos or force. */
	app_block_range(w.nblocks, nnodes, me, &w.blo, &w.bhi);
	w.lo = w.blo * w.per_block;
	w.hi = w.bhi * w.per_block < w.n ? w.bhi * w.per_block : w.n;
	if (w.lo > w.hi)
		w.lo = w.hi;
	w.vel = malloc(sizeof(struct vec4) * (size_t)(w.hi - w.lo + 1));
	for (t = 0; t < w.nthreads; t++) {
		w.pforce[t] = malloc(sizeof(struct vec4) * (size_t)w.n);
		w.touched[t] = malloc((size_t)w.nblocks);
		if (!w.pforce[t] || !w.touched[t])
			break;
	}
	if (!w.vel || t < w.nthreads) {
		fprintf(stderr, "water: node %d: out of memory\n", me);
		exit(1);
	}

	if (app_team_run(&team, w.nthreads, water_thread, &w))
		exit(1);

	/* After the last barrier: node 0 sums the energies and checks. */
	if (me == 0) {
		double pe = 0, ke = 0;
		int k;

		for (k = 0; k < nnodes; k++) {
			pe += w.energy[2 * k];
			ke += w.energy[2 * k + 1];
		}
		printf("water: %ld molecules, %d steps, %d node%s x %d thread%s, %s consistency: "
		       "%.6f s, potential %.10g, kinetic %.10g\n",
		       w.n, w.steps, nnodes, nnodes == 1 ? "" : "s", w.nthreads,
		       w.nthreads == 1 ? "" : "s", app_model_name(), w.t1 - w.t0,
		       pe, ke);
		ok = check(&w, pe, ke);
		fflush(stdout);
	}
	ok = app_all_ok(ok);
	for (t = 0; t < w.nthreads; t++) {
		free(w.pforce[t]);
		free(w.touched[t]);
	}
	free(w.vel);
	snprintf(size, sizeof(size), "%ldx%d", w.n, w.steps);
	return app_finish("water", size, w.nthreads, w.t1 - w.t0, ok);
}
