/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * barnes.c - Barnes-Hut N-body simulation in the style of SPLASH-2 BARNES
 * (libdsm app suite).
 *
 * N bodies of mass 1/N start uniformly in the unit sphere, slowly rotating
 * (positions and velocities from a hash of the body's index).  Every time
 * step the bodies are put in an octree in shared memory, each cell gets the
 * mass and centre of mass of what is below it, and each body's gravitational
 * acceleration (G = 1, Plummer softening BARNES_EPS) is computed by walking
 * the tree: a cell whose size over its distance is below THETA (and which
 * does not contain the body) counts as one point mass, else it is opened.
 * Then the bodies move (v += a dt, x += v dt).
 *
 * Parallel structure, one time step, five phases each ending in a barrier:
 *
 *  1. Build.  The top BARNES_TOP levels of the tree are fixed: the root's
 *     bounding cube is split into 8^BARNES_TOP = 64 subtree cubes, whose
 *     root cells sit at fixed places in the cell array.  Each node (each
 *     thread, with -t) sorts its own bodies by subtree and, subtree by
 *     subtree, takes the subtree's lock and inserts them: descend, and where
 *     a slot already holds a body, allocate a cell, move that body into it
 *     and go on.  A subtree's cells fill pages of their own: first the rest
 *     of its root's page, then page-sized chunks that the inserting thread
 *     takes from its private pool (a range of the shared cell array), so
 *     allocation needs no lock besides the subtree's, and a page of cells
 *     is only ever written under one subtree's lock.
 *     SPLASH-2 locks single cells and descends without locks; here the
 *     descent reads child pointers that other nodes write, so each cell is
 *     only read and written under the lock of its subtree: one lock per
 *     subtree, taken once per subtree per thread per step.  (Locks belong
 *     to nodes, and a node's second request for a lock waits for its
 *     first: two threads of one node exclude each other too.)
 *  2. Centres of mass of the 64 subtrees, dealt round-robin to the threads
 *     of all nodes (a post-order walk of each subtree).
 *  3. Centres of mass of the top cells, by node 0.
 *  4. Forces: each node walks the (now read-only) tree for its own bodies.
 *  5. Update: each node moves its own bodies, publishes their bounding box
 *     in its slot, and empties the subtrees it summarized for the next build.
 *
 * Why it is data-race-free: between two barriers, every shared word is
 * written by one node only, or only under one lock that all its readers
 * hold too.  Cells below the top tree are read and written in phase 1 only
 * under their subtree's lock, in phase 2 by the node that summarizes that
 * subtree, afterwards only read.  Top cells: fixed child pointers, masses
 * written in phase 3 by node 0.  Subtree roots and their allocation cursors
 * are reset in phase 5, when nobody reads the tree.  A body's position is written only by its owner in
 * phase 5 and read by others only in phases 1 (a body moved into a new
 * cell) and 4.  The bounding-box slots are written in phase 5 (one per
 * node, all in one page: the only false sharing besides the cells, which
 * nodes inherently share) and read in phase 1.
 *
 * The check is bitwise.  The octree of a set of points, split until every
 * leaf holds one body, does not depend on the order of insertion: only the
 * cells' places in the array do.  The mass, centre of mass (children summed
 * in octant order) and forces (children walked in octant order) are
 * functions of the tree's shape, so node 0 can run the same simulation
 * sequentially in private memory, with the same functions, and must get the
 * same positions bit for bit.  To check the method as well, node 0 compares
 * its last step's Barnes-Hut accelerations of a sample of bodies with direct
 * summation: the largest error, relative to the sample's rms acceleration,
 * must stay below 0.25 * THETA^2 (monopole Barnes-Hut errors grow like
 * THETA^2; a correct tree gives 0.05 to 0.13 THETA^2 here, a lost subtree
 * or a cell summed twice gives errors of the order of 1).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/common/app.h"

#define BARNES_DEF_BODIES	16384
#define BARNES_DEF_STEPS	4
#define BARNES_DEF_THETA	0.5
#define BARNES_MAX_BODIES	(1L << 20)
#define BARNES_TOP		2	/* levels of the fixed top tree */
#define BARNES_NSUB		64	/* 8^BARNES_TOP subtrees, one lock each */
#define BARNES_NUPPER		9	/* top cells above the subtree roots: 1 + 8 */
#define BARNES_MAX_DEPTH	64	/* deeper means two bodies (almost) coincide */
#define BARNES_EPS		0.025
#define BARNES_DT		0.01
#define BARNES_SAMPLE		256	/* bodies checked against direct summation */

/* A body's position and mass (shared); 32 bytes, a page holds whole ones. */
struct body {
	double pos[3], m;
};

/* An octree cell.  Index 0 is the root, so child 0 can mean "empty". */
struct cell {
	int32_t child[8];	/* 0: empty; > 0: a cell; < 0: body -child-1 */
	double mass;
	double cx, cy, cz;	/* centre of mass */
};

/*
 * A tree: its arrays (shared or private), its root cube, and where its
 * cells lie.  stride is a page's worth of cells.  Cells 0 .. BARNES_NUPPER-1
 * are the top levels above the subtree roots.  Subtree s has the page that
 * starts at cell sub0 + s * stride: its root, then a cell that is not one
 * (its child[0] and child[1] are the subtree's allocation cursor, the next
 * free cell and the end of the chunk it lies in), then its first cells.
 * (Packed, the 64 roots would share 2 pages that every insertion writes.)
 * The threads' pools of chunks follow.
 */
struct tree {
	struct cell *cells;
	struct body *bodies;
	double ctr[3], half;
	long sub0, stride;
};

/* The cell layout for stride (>= 3) cells per page; returns the first pool cell. */
static long tree_layout(struct tree *t, long stride)
{
	t->stride = stride;
	t->sub0 = (BARNES_NUPPER + stride - 1) / stride * stride;
	return t->sub0 + BARNES_NSUB * stride;
}

static inline int32_t sub_root(const struct tree *t, int s)
{
	return (int32_t)(t->sub0 + s * t->stride);
}

/* Subtree s's allocation cursor: [0] next free cell, [1] end of its chunk. */
static inline int32_t *sub_cursor(const struct tree *t, int s)
{
	return t->cells[sub_root(t, s) + 1].child;
}

/* Where a thread takes chunks of cells: [next, end) of the cell array. */
struct pool {
	long next, end;
};

/* A bounding box: min x, y, z then max x, y, z. */
struct box {
	double lo[3], hi[3];
};

/* Everything the threads of one node share (private memory). */
struct barnes {
	long n;			/* bodies */
	int steps;
	double theta2;		/* THETA squared */
	int nthreads;
	long lo, hi;		/* this node's bodies [lo, hi) */
	long stride;		/* cells per page */
	long pool0, pool_cap;	/* first pool cell; cells per thread's pool */
	struct body *bodies;	/* shared */
	struct cell *cells;	/* shared: top tree, subtree pages, one pool per thread */
	struct box *boxes;	/* shared: node k's bounding box */
	double *vel, *acc;	/* private: 3 per body of this node */
	struct box tbox[APP_MAX_THREADS];	/* threads' bounding boxes */
	double t0, t1;		/* timed region, taken by thread 0 */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n BODIES] [-s STEPS] [-a THETA] [-t THREADS]\n"
		"  -n BODIES   number of bodies (2..%ld, default %d)\n"
		"  -s STEPS    time steps (>= 1, default %d)\n"
		"  -a THETA    opening angle (0 < THETA <= 1, default %g)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, BARNES_MAX_BODIES, BARNES_DEF_BODIES, BARNES_DEF_STEPS,
		BARNES_DEF_THETA, APP_MAX_THREADS);
}

/* -a THETA: a number in (0, 1] into *(double *)to; 0 or -1. */
static int parse_theta(const char *s, void *to)
{
	double *out = to;
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

/* Body i's start: uniform in the unit sphere, rotating about z, plus noise. */
static void initial_state(long n, long i, struct body *b, double v[3])
{
	uint64_t k = 0;
	double x, y, z;

	do {
		x = 2 * app_hash01(i, k++) - 1;
		y = 2 * app_hash01(i, k++) - 1;
		z = 2 * app_hash01(i, k++) - 1;
	} while (x * x + y * y + z * z > 1);
	b->pos[0] = x;
	b->pos[1] = y;
	b->pos[2] = z;
	b->m = 1.0 / (double)n;
	v[0] = -0.3 * y + 0.05 * (2 * app_hash01(i, 1000) - 1);
	v[1] = 0.3 * x + 0.05 * (2 * app_hash01(i, 1001) - 1);
	v[2] = 0.05 * (2 * app_hash01(i, 1002) - 1);
}

static void box_empty(struct box *bx)
{
	for (int d = 0; d < 3; d++) {
		bx->lo[d] = INFINITY;
		bx->hi[d] = -INFINITY;
	}
}

static void box_add(struct box *bx, const double p[3])
{
	for (int d = 0; d < 3; d++) {
		if (p[d] < bx->lo[d])
			bx->lo[d] = p[d];
		if (p[d] > bx->hi[d])
			bx->hi[d] = p[d];
	}
}

/* dst becomes the smallest box holding dst and src (either may be empty). */
static void box_merge(struct box *dst, const struct box *src)
{
	for (int d = 0; d < 3; d++) {
		if (src->lo[d] < dst->lo[d])
			dst->lo[d] = src->lo[d];
		if (src->hi[d] > dst->hi[d])
			dst->hi[d] = src->hi[d];
	}
}

/* The root cube around a bounding box (min and max are exact: any order). */
static void tree_root(struct tree *t, const struct box *bx)
{
	double h = 0;

	for (int d = 0; d < 3; d++) {
		t->ctr[d] = 0.5 * (bx->lo[d] + bx->hi[d]);
		if (bx->hi[d] - bx->lo[d] > h)
			h = bx->hi[d] - bx->lo[d];
	}
	t->half = 0.5 * h * (1 + 1e-9) + 1e-12;
}

static inline int octant(const struct body *b, const double c[3])
{
	return (b->pos[0] >= c[0]) | (b->pos[1] >= c[1]) << 1 | (b->pos[2] >= c[2]) << 2;
}

/* Centre of octant o of the cube (c, half). */
static inline void child_center(const double c[3], double half, int o, double out[3])
{
	for (int d = 0; d < 3; d++)
		out[d] = (o >> d & 1) ? c[d] + 0.5 * half : c[d] - 0.5 * half;
}

/* Cell index of the top cell at level l (0..BARNES_TOP), number p in it. */
static int32_t top_cell(const struct tree *t, int l, int p)
{
	static const int32_t first[BARNES_TOP] = { 0, 1 };

	return l == BARNES_TOP ? sub_root(t, p) : first[l] + p;
}

/* Set the fixed child pointers of the top tree (the subtree roots stay empty). */
static void top_tree_init(struct tree *t)
{
	for (int l = 0; l < BARNES_TOP; l++)
		for (int p = 0; p < (1 << 3 * l); p++)
			for (int o = 0; o < 8; o++)
				t->cells[top_cell(t, l, p)].child[o] =
					top_cell(t, l + 1, 8 * p + o);
}

/*
 * The subtree of body b, with its root cube (ctr, *half): the octants of
 * the first BARNES_TOP levels, as base-8 digits.
 */
static int subtree_of(const struct tree *t, const struct body *b, double ctr[3],
		      double *half)
{
	double h = t->half, c[3] = { t->ctr[0], t->ctr[1], t->ctr[2] };
	int s = 0;

	for (int l = 0; l < BARNES_TOP; l++) {
		int o = octant(b, c);

		s = 8 * s + o;
		child_center(c, h, o, c);
		h *= 0.5;
	}
	memcpy(ctr, c, sizeof(c));
	*half = h;
	return s;
}

/*
 * A fresh cell for subtree s (the caller holds its lock): from the
 * subtree's current chunk, or from a new chunk out of the caller's pool.
 * The run ends if the pool is exhausted.
 */
static int32_t cell_alloc(struct tree *t, struct pool *pool, int s)
{
	int32_t *cur = sub_cursor(t, s), c;

	if (cur[0] == cur[1]) {
		if (pool->next + t->stride > pool->end) {
			fprintf(stderr, "barnes: node %d: cell pool exhausted\n",
				dsm_node_id());
			exit(1);
		}
		cur[0] = (int32_t)pool->next;
		cur[1] = (int32_t)(pool->next + t->stride);
		pool->next += t->stride;
	}
	c = cur[0]++;
	memset(t->cells[c].child, 0, sizeof(t->cells[c].child));
	return c;
}

/*
 * Insert body b into subtree s whose root cube is (ctr, half).  In the
 * parallel run the caller holds the subtree's lock.
 */
static void insert(struct tree *t, struct pool *pool, int s, const double ctr[3],
		   double half, long b)
{
	int32_t c = sub_root(t, s);
	const struct body *body = &t->bodies[b];
	double cc[3] = { ctr[0], ctr[1], ctr[2] };
	int depth;

	for (depth = BARNES_TOP; depth < BARNES_MAX_DEPTH; depth++) {
		int o = octant(body, cc);
		int32_t ch = t->cells[c].child[o];

		if (ch == 0) {
			t->cells[c].child[o] = (int32_t)(-b - 1);
			return;
		}
		child_center(cc, half, o, cc);
		half *= 0.5;
		if (ch < 0) {
			/* A body is there: push it one level down into a new cell. */
			int32_t nc = cell_alloc(t, pool, s);
			int32_t other = -ch - 1;

			t->cells[nc].child[octant(&t->bodies[other], cc)] = ch;
			t->cells[c].child[o] = nc;
			ch = nc;
		}
		c = ch;
	}
	fprintf(stderr, "barnes: node %d: tree deeper than %d levels (coinciding bodies?)\n",
		dsm_node_id(), BARNES_MAX_DEPTH);
	exit(1);
}

/* Mass and centre of mass of cell c from its children's, in octant order. */
static void summarize(struct tree *t, int32_t c)
{
	struct cell *cl = &t->cells[c];
	double m = 0, sx = 0, sy = 0, sz = 0;

	for (int o = 0; o < 8; o++) {
		int32_t ch = cl->child[o];

		if (ch > 0) {
			const struct cell *k = &t->cells[ch];

			m += k->mass;
			sx += k->mass * k->cx;
			sy += k->mass * k->cy;
			sz += k->mass * k->cz;
		} else if (ch < 0) {
			const struct body *k = &t->bodies[-ch - 1];

			m += k->m;
			sx += k->m * k->pos[0];
			sy += k->m * k->pos[1];
			sz += k->m * k->pos[2];
		}
	}
	cl->mass = m;
	cl->cx = m > 0 ? sx / m : 0;
	cl->cy = m > 0 ? sy / m : 0;
	cl->cz = m > 0 ? sz / m : 0;
}

/* Post-order: every cell below and including c. */
static void summarize_subtree(struct tree *t, int32_t c)
{
	for (int o = 0; o < 8; o++)
		if (t->cells[c].child[o] > 0)
			summarize_subtree(t, t->cells[c].child[o]);
	summarize(t, c);
}

/* The top cells, bottom-up, once the subtree roots are summarized. */
static void summarize_top(struct tree *t)
{
	for (int l = BARNES_TOP - 1; l >= 0; l--)
		for (int p = 0; p < (1 << 3 * l); p++)
			summarize(t, top_cell(t, l, p));
}

/* Acceleration on p from a point mass m at offset (dx, dy, dz), softened. */
static inline void interact(double m, double dx, double dy, double dz, double acc[3])
{
	double r2 = dx * dx + dy * dy + dz * dz + BARNES_EPS * BARNES_EPS;
	double inv = 1.0 / sqrt(r2);
	double f = m * inv * inv * inv;

	acc[0] += f * dx;
	acc[1] += f * dy;
	acc[2] += f * dz;
}

/* The Barnes-Hut walk below cell c (cube ctr, half) for body self at p. */
static void walk(const struct tree *t, int32_t c, const double ctr[3], double half,
		 const struct body *p, long self, double theta2, double acc[3])
{
	const struct cell *cl = &t->cells[c];
	double dx, dy, dz, side = 2 * half;
	int inside;

	if (cl->mass == 0)
		return;
	dx = cl->cx - p->pos[0];
	dy = cl->cy - p->pos[1];
	dz = cl->cz - p->pos[2];
	inside = fabs(p->pos[0] - ctr[0]) <= half && fabs(p->pos[1] - ctr[1]) <= half &&
		 fabs(p->pos[2] - ctr[2]) <= half;
	if (!inside && side * side < theta2 * (dx * dx + dy * dy + dz * dz)) {
		interact(cl->mass, dx, dy, dz, acc);
		return;
	}
	for (int o = 0; o < 8; o++) {
		int32_t ch = cl->child[o];

		if (ch > 0) {
			double cc[3];

			child_center(ctr, half, o, cc);
			walk(t, ch, cc, 0.5 * half, p, self, theta2, acc);
		} else if (ch < 0 && -ch - 1 != self) {
			const struct body *k = &t->bodies[-ch - 1];

			interact(k->m, k->pos[0] - p->pos[0], k->pos[1] - p->pos[1],
				 k->pos[2] - p->pos[2], acc);
		}
	}
}

static void body_accel(const struct tree *t, long i, double theta2, double acc[3])
{
	acc[0] = acc[1] = acc[2] = 0;
	walk(t, 0, t->ctr, t->half, &t->bodies[i], i, theta2, acc);
}

/* Kick and drift bodies [lo, hi); v and a hold 3 per body from body lo on. */
static void move_bodies(struct body *bodies, double *v, const double *a,
			long lo, long hi, struct box *bx)
{
	for (long i = lo; i < hi; i++) {
		double *x = bodies[i].pos;
		double *vi = v + 3 * (i - lo);
		const double *ai = a + 3 * (i - lo);

		for (int d = 0; d < 3; d++) {
			vi[d] += ai[d] * BARNES_DT;
			x[d] += vi[d] * BARNES_DT;
		}
		box_add(bx, x);
	}
}

/* Empty the subtrees that worker w of nw summarizes. */
static void reset_subtrees(struct tree *t, int w, int nw)
{
	for (int s = w; s < BARNES_NSUB; s += nw) {
		int32_t *cur = sub_cursor(t, s);

		memset(t->cells[sub_root(t, s)].child, 0, sizeof(t->cells[0].child));
		cur[0] = sub_root(t, s) + 2;
		cur[1] = (int32_t)(sub_root(t, s) + t->stride);
	}
}

/*
 * Phase 1 for bodies [lo, hi): group them by subtree (counting sort, so
 * each group keeps body order), then insert each group, under its
 * subtree's lock if locked (the sequential check has no one to exclude),
 * starting at a subtree that depends on the worker so that the workers do
 * not all queue for the same lock.
 */
static void build(struct tree *t, struct pool *pool, long lo, long hi, int worker,
		  int nworkers, bool locked, long *order, int *sub)
{
	long start[BARNES_NSUB + 1] = { 0 }, fill[BARNES_NSUB];
	double ctr[3], half;
	long i;
	int k, s;

	for (i = lo; i < hi; i++) {
		sub[i - lo] = subtree_of(t, &t->bodies[i], ctr, &half);
		start[sub[i - lo] + 1]++;
	}
	for (s = 0; s < BARNES_NSUB; s++) {
		start[s + 1] += start[s];
		fill[s] = start[s];
	}
	for (i = lo; i < hi; i++)
		order[fill[sub[i - lo]]++] = i;

	for (k = 0; k < BARNES_NSUB; k++) {
		s = (k + worker * BARNES_NSUB / nworkers) % BARNES_NSUB;
		if (start[s] == start[s + 1])
			continue;
		subtree_of(t, &t->bodies[order[start[s]]], ctr, &half);
		if (locked)
			dsm_lock_acquire((unsigned)s);
		for (i = start[s]; i < start[s + 1]; i++)
			insert(t, pool, s, ctr, half, order[i]);
		if (locked)
			dsm_lock_release((unsigned)s);
	}
}

/*
 * Every thread of the node has its bounding box in tbox: thread 0 merges
 * them into the node's shared box, then the node-wide barrier publishes it.
 */
static void publish_box(struct barnes *bs, struct app_team *team, int tid)
{
	int me = dsm_node_id(), k;

	pthread_barrier_wait(&team->pbar);
	if (tid == 0) {
		box_empty(&bs->boxes[me]);
		for (k = 0; k < bs->nthreads; k++)
			box_merge(&bs->boxes[me], &bs->tbox[k]);
	}
	app_team_barrier(team, tid);
}

static void *barnes_thread(struct app_team *team, int tid, void *arg)
{
	struct barnes *bs = arg;
	int me = dsm_node_id(), nnodes = dsm_num_nodes();
	int worker = me * bs->nthreads + tid, nworkers = nnodes * bs->nthreads;
	struct tree t = { .cells = bs->cells, .bodies = bs->bodies };
	struct pool pool;
	long lo, hi, i, *order;
	int *sub, s, k;

	tree_layout(&t, bs->stride);
	app_block_range(bs->hi - bs->lo, bs->nthreads, tid, &lo, &hi);
	lo += bs->lo;
	hi += bs->lo;
	order = malloc(sizeof(long) * (size_t)(hi - lo + 1));
	sub = malloc(sizeof(int) * (size_t)(hi - lo + 1));
	if (!order || !sub) {
		fprintf(stderr, "barnes: node %d: out of memory\n", me);
		exit(1);
	}

	/*
	 * Setup: each node places its own bodies and readies the subtrees it
	 * will summarize; node 0 links the top tree.
	 */
	box_empty(&bs->tbox[tid]);
	for (i = lo; i < hi; i++) {
		initial_state(bs->n, i, &bs->bodies[i], bs->vel + 3 * (i - bs->lo));
		box_add(&bs->tbox[tid], bs->bodies[i].pos);
	}
	if (worker == 0)
		top_tree_init(&t);
	reset_subtrees(&t, worker, nworkers);
	publish_box(bs, team, tid);
	if (tid == 0)
		bs->t0 = app_now();

	for (s = 0; s < bs->steps; s++) {
		struct box all;

		/* 1. Build. */
		box_empty(&all);
		for (k = 0; k < nnodes; k++)
			box_merge(&all, &bs->boxes[k]);
		tree_root(&t, &all);
		pool.next = bs->pool0 + worker * bs->pool_cap;
		pool.end = pool.next + bs->pool_cap;
		build(&t, &pool, lo, hi, worker, nworkers, true, order, sub);
		app_team_barrier(team, tid);

		/* 2. Subtree masses. */
		for (k = worker; k < BARNES_NSUB; k += nworkers)
			summarize_subtree(&t, sub_root(&t, k));
		app_team_barrier(team, tid);

		/* 3. Top masses. */
		if (worker == 0)
			summarize_top(&t);
		app_team_barrier(team, tid);

		/* 4. Forces on own bodies. */
		for (i = lo; i < hi; i++)
			body_accel(&t, i, bs->theta2, bs->acc + 3 * (i - bs->lo));
		app_team_barrier(team, tid);

		/* 5. Move own bodies; empty own subtrees for the next build. */
		box_empty(&bs->tbox[tid]);
		move_bodies(bs->bodies, bs->vel + 3 * (lo - bs->lo),
			    bs->acc + 3 * (lo - bs->lo), lo, hi, &bs->tbox[tid]);
		reset_subtrees(&t, worker, nworkers);
		publish_box(bs, team, tid);
	}
	if (tid == 0)
		bs->t1 = app_now();
	free(order);
	free(sub);
	return NULL;
}

/*
 * The method itself: the Barnes-Hut accelerations a (3 per body) of a
 * sample of bodies against direct summation over the tree's bodies.  The
 * error of body i is |a_i - direct_i| over the sample's rms |direct|: near
 * the centre of the sphere the forces cancel, so errors relative to each
 * body's own acceleration would measure nothing but that.  Returns the
 * largest error.
 */
static double direct_check(const struct tree *t, long n, const double *a)
{
	long nsample = n < BARNES_SAMPLE ? n : BARNES_SAMPLE, j, k, i;
	double (*dir)[3] = calloc((size_t)nsample, sizeof(*dir));
	double sum2 = 0, maxd = 0, e;

	if (!dir) {
		fprintf(stderr, "barnes: out of memory for the check\n");
		exit(1);
	}
	for (j = 0; j < nsample; j++) {
		const struct body *p = &t->bodies[j * n / nsample];

		for (k = 0; k < n; k++)
			if (k != j * n / nsample)
				interact(t->bodies[k].m, t->bodies[k].pos[0] - p->pos[0],
					 t->bodies[k].pos[1] - p->pos[1],
					 t->bodies[k].pos[2] - p->pos[2], dir[j]);
		sum2 += dir[j][0] * dir[j][0] + dir[j][1] * dir[j][1] + dir[j][2] * dir[j][2];
	}
	for (j = 0; j < nsample; j++) {
		double d2 = 0;

		i = j * n / nsample;
		for (int c = 0; c < 3; c++)
			d2 += (a[3 * i + c] - dir[j][c]) * (a[3 * i + c] - dir[j][c]);
		if (!(d2 <= maxd))	/* also NaN */
			maxd = d2;
	}
	free(dir);
	e = sqrt(maxd / (sum2 / (double)nsample));
	return isnan(e) ? INFINITY : e;
}

/*
 * Node 0, after the last barrier: the same simulation sequentially in
 * private memory (one worker, bodies inserted in index order), compared bit
 * for bit; then the last step's accelerations of a sample of bodies against
 * direct summation.  Prints the results; true if both pass.
 */
static bool check(const struct barnes *bs)
{
	long n = bs->n, i, j, bad = 0, pool0;
	struct tree t;
	struct pool pool;
	double *v = malloc(sizeof(double) * 3 * (size_t)n);
	double *a = malloc(sizeof(double) * 3 * (size_t)n);
	long *order = malloc(sizeof(long) * (size_t)n);
	int *sub = malloc(sizeof(int) * (size_t)n);
	double maxerr = 0, tol = 0.25 * bs->theta2;
	int s;

	pool0 = tree_layout(&t, bs->stride);
	t.bodies = malloc(sizeof(struct body) * (size_t)n);
	t.cells = calloc((size_t)(pool0 + bs->pool_cap), sizeof(struct cell));
	if (!v || !a || !order || !sub || !t.bodies || !t.cells) {
		fprintf(stderr, "barnes: out of memory for the check\n");
		exit(1);
	}
	top_tree_init(&t);
	for (i = 0; i < n; i++)
		initial_state(n, i, &t.bodies[i], v + 3 * i);
	for (s = 0; s < bs->steps; s++) {
		struct box all, scratch;

		box_empty(&all);
		box_empty(&scratch);
		for (i = 0; i < n; i++)
			box_add(&all, t.bodies[i].pos);
		tree_root(&t, &all);
		reset_subtrees(&t, 0, 1);
		pool.next = pool0;
		pool.end = pool0 + bs->pool_cap;
		build(&t, &pool, 0, n, 0, 1, false, order, sub);
		for (j = 0; j < BARNES_NSUB; j++)
			summarize_subtree(&t, sub_root(&t, (int)j));
		summarize_top(&t);
		for (i = 0; i < n; i++)
			body_accel(&t, i, bs->theta2, a + 3 * i);
		if (s == bs->steps - 1)
			maxerr = direct_check(&t, n, a);
		move_bodies(t.bodies, v, a, 0, n, &scratch);
	}
	for (i = 0; i < n; i++) {
		if (memcmp(&t.bodies[i], &bs->bodies[i], sizeof(struct body)) == 0)
			continue;
		if (bad < 5)
			fprintf(stderr, "barnes: body %ld at (%.17g, %.17g, %.17g), expected (%.17g, %.17g, %.17g)\n",
				i, bs->bodies[i].pos[0], bs->bodies[i].pos[1], bs->bodies[i].pos[2],
				t.bodies[i].pos[0], t.bodies[i].pos[1], t.bodies[i].pos[2]);
		bad++;
	}
	printf("barnes: check: %ld of %ld bodies differ from a sequential run (bitwise); "
	       "Barnes-Hut vs direct summation: max error %.3g of the rms acceleration (tolerance %.3g)\n",
	       bad, n, maxerr, tol);
	free(v);
	free(a);
	free(order);
	free(sub);
	free(t.bodies);
	free(t.cells);
	return bad == 0 && maxerr <= tol;
}

int main(int argc, char **argv)
{
	struct barnes bs = { .n = BARNES_DEF_BODIES, .steps = BARNES_DEF_STEPS,
			     .nthreads = 1 };
	struct app_team team;
	struct tree layout;
	double theta = BARNES_DEF_THETA;
	long per_page, nchunks, clo, chi, ncells;
	int me, nnodes;
	bool ok = true;
	char size[64];
	const struct app_opt opts[] = {
		{ 'n', .l = &bs.n, .lo = 2, .hi = BARNES_MAX_BODIES },
		{ 's', .i = &bs.steps, .lo = 1, .hi = 1L << 30 },
		{ 'a', .parse = parse_theta, .to = &theta },
		{ 't', .i = &bs.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("barnes", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	if (app_parse_args(argc, argv, "n:s:a:t:", opts))
		return app_usage_error(usage, argv[0]);
	bs.theta2 = theta * theta;

	/*
	 * Bodies are dealt in whole pages (no two nodes write one page).  A
	 * thread's pool holds as many cells as the whole tree could need short
	 * of (nearly) coinciding bodies (a uniform tree has about n/2 cells,
	 * each one thread may have to allocate), plus room for chains of
	 * splits down to the depth limit and a partly used chunk per subtree.
	 * Pages of it that are never used are never touched.
	 */
	per_page = (long)(dsm_page_size() / sizeof(struct body));
	nchunks = (bs.n + per_page - 1) / per_page;
	app_block_range(nchunks, nnodes, me, &clo, &chi);
	bs.lo = clo * per_page < bs.n ? clo * per_page : bs.n;
	bs.hi = chi * per_page < bs.n ? chi * per_page : bs.n;
	bs.stride = (long)(dsm_page_size() / sizeof(struct cell));
	bs.pool0 = tree_layout(&layout, bs.stride);
	bs.pool_cap = bs.n + 64 * BARNES_MAX_DEPTH + BARNES_NSUB * bs.stride;
	bs.pool_cap = (bs.pool_cap + bs.stride - 1) / bs.stride * bs.stride;
	ncells = bs.pool0 + bs.pool_cap * nnodes * bs.nthreads;
	if (ncells > INT32_MAX) {
		/* The same on every node: all of them end here. */
		if (me == 0)
			fprintf(stderr, "barnes: %ld cells do not fit 32-bit cell numbers\n",
				ncells);
		dsm_finalize();
		return 1;
	}
	bs.bodies = dsm_alloc_collective(sizeof(struct body) * (size_t)(nchunks * per_page));
	bs.cells = dsm_alloc_collective(sizeof(struct cell) * (size_t)ncells);
	bs.boxes = dsm_alloc_collective(sizeof(struct box) * (size_t)nnodes);
	if (!bs.bodies || !bs.cells || !bs.boxes)
		return app_alloc_failed("barnes", "the shared arrays (%ld cells)", ncells);
	bs.vel = malloc(sizeof(double) * 3 * (size_t)(bs.hi - bs.lo + 1));
	bs.acc = malloc(sizeof(double) * 3 * (size_t)(bs.hi - bs.lo + 1));
	if (!bs.vel || !bs.acc) {
		fprintf(stderr, "barnes: node %d: out of memory\n", me);
		exit(1);
	}

	if (app_team_run(&team, bs.nthreads, barnes_thread, &bs))
		exit(1);

	/* After the last barrier every body's position is readable. */
	if (me == 0) {
		double r2 = 0;

		for (long i = 0; i < bs.n; i++)
			for (int d = 0; d < 3; d++)
				r2 += bs.bodies[i].pos[d] * bs.bodies[i].pos[d];
		printf("barnes: %ld bodies, %d steps, theta %g, %d node%s x %d thread%s, %s consistency: "
		       "%.6f s, rms radius %.10g\n",
		       bs.n, bs.steps, theta, nnodes, nnodes == 1 ? "" : "s", bs.nthreads,
		       bs.nthreads == 1 ? "" : "s", app_model_name(), bs.t1 - bs.t0,
		       sqrt(r2 / (double)bs.n));
		ok = check(&bs);
		fflush(stdout);
	}
	ok = app_all_ok(ok);
	free(bs.vel);
	free(bs.acc);
	snprintf(size, sizeof(size), "%ldx%d", bs.n, bs.steps);
	return app_finish("barnes", size, bs.nthreads, bs.t1 - bs.t0, ok);
}
