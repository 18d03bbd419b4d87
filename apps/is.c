/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * is.c - integer sort (ranking) in the style of the NAS Parallel Benchmarks
 * IS kernel (libdsm app suite).
 *
 * NAS IS ranks n integer keys in [0, MAXKEY): after ranking, rank[k] is the
 * number of keys <= k, so that a key k may be placed at rank[k - 1] (the
 * keys are sorted by placing them).  The keys come from the NAS linear
 * congruential generator x <- 5^13 x mod 2^46 (seed 314159265): each key
 * is MAXKEY/4 times the sum of four consecutive uniform numbers, which
 * gives a bell-shaped distribution.  The problem classes (S, W, A, B) and
 * their partial verification values are those of NPB 3.4 IS, so a run of
 * class S, W, A or B here checks the same five key ranks per iteration as
 * NAS does.  As in NAS, every iteration it = 1..10 first changes two keys
 * (key[it] = it, key[it + 10] = MAXKEY - it) so that each ranking differs,
 * one untimed iteration precedes the ten timed ones, and only the ranking
 * is timed.
 *
 * The ranking uses buckets (the key's top bits), as NAS IS does by default.
 * The keys are block-partitioned among the workers (nodes, and -t threads
 * within a node: worker w = node * THREADS + thread).  One iteration is:
 *
 *   1. per-worker bucket counts of its keys, published in the worker's own
 *      row of a shared array (rows are whole pages); the worker also sorts
 *      its keys by bucket in private memory (a stable counting sort);
 *   2. barrier;
 *   3. every worker reads all rows and computes in private memory where
 *      each bucket starts and where its own run of each bucket goes (after
 *      the runs of the workers before it), then copies its runs into the
 *      shared array of keys grouped by bucket: an all-to-all permutation,
 *      with false sharing where runs of different nodes meet in a page
 *      (inherent in the algorithm; the runs are copied whole, and from a
 *      staggered first bucket so that the workers do not all write the same
 *      bucket at once);
 *   4. barrier;
 *   5. each worker ranks the keys of a contiguous range of buckets that
 *      holds about n / workers keys (see first_bucket()): it counts each
 *      key value of the range in private memory and writes the running sum,
 *      which starts at the number of keys in the buckets before the range,
 *      into that range of the shared rank array;
 *   6. barrier; node 0 checks the five test ranks.
 *
 * Why it is data-race-free: every shared word has one writer between two
 * barriers (the owner of a key block, of a counts row, of a run of the
 * grouped keys, of a range of ranks), and every read of another worker's
 * data comes after the barrier that follows the write and before the next
 * write, which comes after at least one more barrier.  The test keys that
 * node 0 reads (between steps 2 and 4) were changed, if ever, before step
 * 2, and the ranks it reads (after step 6) are rewritten only after step 4
 * of the next iteration.
 *
 * Check, bit for bit: every node generates the same keys in private memory,
 * applies the same ten changes and ranks them sequentially (a histogram of
 * key values and its running sum); it compares its part of the shared rank
 * array with that, and its part of the keys grouped by bucket with a
 * sequential stable bucket sort of the keys.  The five NAS partial
 * verification ranks of every iteration must match too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/common/app.h"

#define IS_ITERATIONS	10	/* NAS MAX_ITERATIONS: also the offset of the second changed key */
#define IS_TESTS	5	/* partial verification keys per iteration */
#define IS_SEED		UINT64_C(314159265)
#define IS_MULT		UINT64_C(1220703125)	/* 5^13 */
#define IS_DEF_CLASS	'W'

/* A NAS problem class: sizes and the partial verification data of NPB 3.4. */
struct is_class {
	char name;
	int log2keys, log2maxkey, log2buckets;
	long test_index[IS_TESTS];	/* which keys are tested */
	long test_rank[IS_TESTS];	/* their ranks, before the per-iteration shift */
};

static const struct is_class is_classes[] = {
	{ 'S', 16, 11, 9, { 48427, 17148, 23627, 62548, 4431 },
	  { 0, 18, 346, 64917, 65463 } },
	{ 'W', 20, 16, 10, { 357773, 934767, 875723, 898999, 404505 },
	  { 1249, 11698, 1039987, 1043896, 1048018 } },
	{ 'A', 23, 19, 10, { 2112377, 662041, 5336171, 3642833, 4250760 },
	  { 104, 17523, 123928, 8288932, 8388264 } },
	{ 'B', 25, 21, 10, { 41869, 812306, 5102857, 18232239, 26860214 },
	  { 33422937, 10244, 59149, 33135281, 99 } },
};

/*
 * The rank NAS expects for test key i at iteration it: the two changed keys
 * move the tested keys' ranks by one per iteration, up or down depending on
 * the class and the key.
 */
static long expected_rank(const struct is_class *cls, int i, int it)
{
	long r = cls->test_rank[i];

	switch (cls->name) {
	case 'S':
		return i <= 2 ? r + it : r - it;
	case 'W':
		return i < 2 ? r + it - 2 : r - it;
	case 'A':
		return i <= 2 ? r + it - 1 : r - (it - 1);
	default:	/* 'B' */
		return i == 1 || i == 2 || i == 4 ? r + it : r - it;
	}
}

/* Everything the threads of one node share (private memory). */
struct is {
	const struct is_class *cls;
	long n;			/* keys */
	long max_key;		/* keys lie in [0, max_key) */
	long nbuckets;		/* buckets of 2^shift consecutive key values */
	int shift;
	int nthreads;		/* application threads on this node */
	int nworkers;		/* threads in the whole job */
	int32_t *keys;		/* shared: the keys, block-partitioned */
	int32_t *grouped;	/* shared: the keys grouped by bucket (NAS key_buff2) */
	int32_t *rank;		/* shared: rank[k] = keys <= k (NAS key_buff1) */
	int32_t *counts;	/* shared: worker w's bucket counts at counts + w * cstride */
	size_t cstride;		/* a whole number of pages, in int32_t */
	long test_key[IS_TESTS];	/* node 0: this iteration's test key values */
	int tests_passed, tests_failed;	/* node 0: partial verification */
	double t0, t1;		/* timed region, taken by thread 0 */
};

/* A worker's private part. */
struct is_worker {
	int w;			/* worker id */
	long lo, hi;		/* its keys [lo, hi) */
	long blo, bhi;		/* the buckets it ranks [blo, bhi) */
	long *cnt;		/* its keys per bucket */
	long *first;		/* where each bucket's run starts in buf */
	long *dest;		/* where it goes in the grouped array */
	long *start;		/* where each bucket starts in the grouped array; [nbuckets] = n */
	int32_t *buf;		/* its keys sorted by bucket */
	long *pop;		/* population of each key value of its buckets */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-c CLASS] [-t THREADS]\n"
		"  -c CLASS    NAS problem class: S (2^16 keys < 2^11), W (2^20 < 2^16),\n"
		"              A (2^23 < 2^19) or B (2^25 < 2^21); default %c\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, IS_DEF_CLASS, APP_MAX_THREADS);
}

/*
 * The NAS generator in integers: x * a mod 2^46 with 64-bit arithmetic,
 * splitting both factors at bit 23 as NAS randlc does in doubles.  Exact,
 * so the keys are those of NAS.
 */
static uint64_t mul46(uint64_t a, uint64_t x)
{
	const uint64_t m23 = (UINT64_C(1) << 23) - 1, m46 = (UINT64_C(1) << 46) - 1;
	uint64_t a1 = a >> 23, a2 = a & m23, x1 = x >> 23, x2 = x & m23;
	uint64_t z = (a1 * x2 + a2 * x1) & m23;

	return ((z << 23) + a2 * x2) & m46;
}

/* a^e mod 2^46: to jump the generator ahead to a worker's first key. */
static uint64_t pow46(uint64_t a, uint64_t e)
{
	uint64_t r = 1;

	for (; e; e >>= 1) {
		if (e & 1)
			r = mul46(r, a);
		a = mul46(a, a);
	}
	return r;
}

/* Keys [lo, hi) into out[0 .. hi-lo): four uniform numbers per key. */
static void make_keys(const struct is *s, int32_t *out, long lo, long hi)
{
	uint64_t x = mul46(pow46(IS_MULT, 4 * (uint64_t)lo), IS_SEED);
	double k = (double)(s->max_key / 4);
	long i;
	int j;

	for (i = lo; i < hi; i++) {
		double sum = 0.0;

		for (j = 0; j < 4; j++) {
			x = mul46(IS_MULT, x);
			sum += (double)x * 0x1p-46;
		}
		out[i - lo] = (int32_t)(k * sum);
	}
}

/* The two keys that iteration it changes (NAS rank(), first lines). */
static void change_keys(const struct is *s, int32_t *keys, long lo, long hi,
			int it)
{
	long i = it, j = it + IS_ITERATIONS;

	if (i >= lo && i < hi)
		keys[i - lo] = it;
	if (j >= lo && j < hi)
		keys[j - lo] = (int32_t)(s->max_key - it);
}

/* Step 1: count this worker's keys per bucket and sort them by bucket. */
static void bucket_sort_block(const struct is *s, struct is_worker *wk)
{
	long i, b, pos;

	memset(wk->cnt, 0, sizeof(*wk->cnt) * (size_t)s->nbuckets);
	for (i = wk->lo; i < wk->hi; i++)
		wk->cnt[s->keys[i] >> s->shift]++;
	for (b = 0, pos = 0; b < s->nbuckets; b++) {
		wk->first[b] = pos;
		pos += wk->cnt[b];
	}
	/* dest serves as the write cursor here; step 3 overwrites it. */
	memcpy(wk->dest, wk->first, sizeof(*wk->dest) * (size_t)s->nbuckets);
	for (i = wk->lo; i < wk->hi; i++) {
		int32_t k = s->keys[i];

		wk->buf[wk->dest[k >> s->shift]++] = k;
	}
}

/*
 * Step 3: from every worker's counts, where each bucket starts and where
 * this worker's run of it goes; then copy the runs, from a staggered first
 * bucket.
 */
static void distribute(const struct is *s, struct is_worker *wk)
{
	long b, pos, i, first_b = s->nbuckets * wk->w / s->nworkers;
	int v;

	memset(wk->start, 0, sizeof(*wk->start) * (size_t)s->nbuckets);
	memset(wk->dest, 0, sizeof(*wk->dest) * (size_t)s->nbuckets);
	for (v = 0; v < s->nworkers; v++) {
		const int32_t *row = s->counts + (size_t)v * s->cstride;

		for (b = 0; b < s->nbuckets; b++) {
			wk->start[b] += row[b];
			if (v < wk->w)
				wk->dest[b] += row[b];
		}
	}
	/* start[b] holds bucket b's size: turn the sizes into offsets. */
	for (b = 0, pos = 0; b < s->nbuckets; b++) {
		long size = wk->start[b];

		wk->start[b] = pos;
		wk->dest[b] += pos;
		pos += size;
	}
	wk->start[s->nbuckets] = pos;
	for (i = 0; i < s->nbuckets; i++) {
		b = (first_b + i) % s->nbuckets;
		if (wk->cnt[b])
			memcpy(s->grouped + wk->dest[b], wk->buf + wk->first[b],
			       sizeof(*wk->buf) * (size_t)wk->cnt[b]);
	}
}

/*
 * The first bucket of worker v's range: the first bucket that starts at or
 * after key n * v / workers of the grouped array.  Every worker computes
 * the same start[], so the ranges tile [0, nbuckets), each holding about
 * n / workers keys: with bell-shaped keys, equal numbers of buckets would
 * give the middle workers most of the keys (NAS balances with a dynamic
 * schedule over buckets instead).
 */
static long first_bucket(const struct is *s, const struct is_worker *wk, int v)
{
	long target, b;

	if (v >= s->nworkers)
		return s->nbuckets;
	target = s->n * v / s->nworkers;
	for (b = 0; b < s->nbuckets && wk->start[b] < target; b++)
		;
	return b;
}

/*
 * Step 5: rank the keys of this worker's buckets.  Key values
 * [blo << shift, bhi << shift) occur only in those buckets, which occupy
 * grouped[start[blo] .. start[bhi]).
 */
static void rank_buckets(const struct is *s, struct is_worker *wk)
{
	long klo = wk->blo << s->shift, khi = wk->bhi << s->shift, i, k, sum;

	memset(wk->pop, 0, sizeof(*wk->pop) * (size_t)(khi - klo));
	for (i = wk->start[wk->blo]; i < wk->start[wk->bhi]; i++)
		wk->pop[s->grouped[i] - klo]++;
	for (k = klo, sum = wk->start[wk->blo]; k < khi; k++) {
		sum += wk->pop[k - klo];
		s->rank[k] = (int32_t)sum;
	}
}

/* Node 0 at the end of an iteration: NAS's partial verification. */
static void partial_verify(struct is *s, int it)
{
	int i;

	for (i = 0; i < IS_TESTS; i++) {
		long k = s->test_key[i];

		/* NAS tests only keys in this range (k - 1 must be a key). */
		if (k <= 0 || k > s->n - 1)
			continue;
		if (s->rank[k - 1] == expected_rank(s->cls, i, it)) {
			s->tests_passed++;
			continue;
		}
		s->tests_failed++;
		fprintf(stderr, "is: iteration %d, test key %d: rank %ld, expected %ld\n",
			it, i, (long)s->rank[k - 1], expected_rank(s->cls, i, it));
	}
}

/* One ranking (NAS rank(it)); ends with a barrier. */
static void rank_iteration(struct is *s, struct is_worker *wk,
			   struct app_team *team, int tid, int it)
{
	int i;

	change_keys(s, s->keys + wk->lo, wk->lo, wk->hi, it);
	bucket_sort_block(s, wk);
	for (i = 0; i < s->nbuckets; i++)
		s->counts[(size_t)wk->w * s->cstride + i] = (int32_t)wk->cnt[i];
	/* Counts published; the keys do not change again this iteration. */
	app_team_barrier(team, tid);
	if (wk->w == 0)
		for (i = 0; i < IS_TESTS; i++)
			s->test_key[i] = s->keys[s->cls->test_index[i]];
	distribute(s, wk);
	/* The keys are grouped by bucket. */
	app_team_barrier(team, tid);
	wk->blo = first_bucket(s, wk, wk->w);
	wk->bhi = first_bucket(s, wk, wk->w + 1);
	rank_buckets(s, wk);
	/* The ranks are complete. */
	app_team_barrier(team, tid);
	if (wk->w == 0)
		partial_verify(s, it);
}

static void *is_thread(struct app_team *team, int tid, void *arg)
{
	struct is *s = arg;
	struct is_worker wk = { .w = dsm_node_id() * s->nthreads + tid };
	size_t nb = (size_t)s->nbuckets;
	int it;

	app_block_range(s->n, s->nworkers, wk.w, &wk.lo, &wk.hi);
	wk.cnt = malloc(sizeof(*wk.cnt) * nb);
	wk.first = malloc(sizeof(*wk.first) * nb);
	wk.dest = malloc(sizeof(*wk.dest) * nb);
	wk.start = malloc(sizeof(*wk.start) * (nb + 1));
	wk.buf = malloc(sizeof(*wk.buf) * (size_t)(wk.hi - wk.lo + 1));
	wk.pop = malloc(sizeof(*wk.pop) * (size_t)s->max_key);
	if (!wk.cnt || !wk.first || !wk.dest || !wk.start || !wk.buf || !wk.pop) {
		/* A node that exits takes the job down with a message. */
		fprintf(stderr, "is: node %d: out of memory\n", dsm_node_id());
		exit(1);
	}

	/* Each worker generates its own block of keys (first touch). */
	make_keys(s, s->keys + wk.lo, wk.lo, wk.hi);
	app_team_barrier(team, tid);

	/* One untimed iteration, as in NAS, then the timed ones. */
	rank_iteration(s, &wk, team, tid, 1);
	if (tid == 0)
		s->t0 = app_now();
	for (it = 1; it <= IS_ITERATIONS; it++)
		rank_iteration(s, &wk, team, tid, it);
	if (tid == 0)
		s->t1 = app_now();

	free(wk.cnt);
	free(wk.first);
	free(wk.dest);
	free(wk.start);
	free(wk.buf);
	free(wk.pop);
	return NULL;
}

/*
 * The full verification (after the last barrier): rank the final keys
 * sequentially in private memory and compare this node's part of the
 * shared ranks and of the grouped keys.  Returns the number of words that
 * differ.
 */
static long full_verify(const struct is *s)
{
	int32_t *keys = malloc(sizeof(*keys) * (size_t)s->n);
	int32_t *grouped = malloc(sizeof(*grouped) * (size_t)s->n);
	int32_t *rank = malloc(sizeof(*rank) * (size_t)s->max_key);
	long *pos = calloc((size_t)s->nbuckets + 1, sizeof(*pos));
	long i, k, b, lo, hi, bad = 0;
	int it, me = dsm_node_id();

	if (!keys || !grouped || !rank || !pos) {
		fprintf(stderr, "is: node %d: out of memory for the check\n", me);
		exit(1);
	}
	make_keys(s, keys, 0, s->n);
	for (it = 1; it <= IS_ITERATIONS; it++)
		change_keys(s, keys, 0, s->n, it);

	/* Ranks: a histogram of key values and its running sum. */
	memset(rank, 0, sizeof(*rank) * (size_t)s->max_key);
	for (i = 0; i < s->n; i++)
		rank[keys[i]]++;
	for (k = 1; k < s->max_key; k++)
		rank[k] += rank[k - 1];
	/* Grouped: a stable counting sort by bucket. */
	for (i = 0; i < s->n; i++)
		pos[(keys[i] >> s->shift) + 1]++;
	for (b = 1; b <= s->nbuckets; b++)
		pos[b] += pos[b - 1];
	for (i = 0; i < s->n; i++)
		grouped[pos[keys[i] >> s->shift]++] = keys[i];

	app_block_range(s->max_key, dsm_num_nodes(), me, &lo, &hi);
	for (k = lo; k < hi; k++) {
		if (s->rank[k] == rank[k])
			continue;
		if (bad++ < 5)
			fprintf(stderr, "is: node %d: rank of key %ld is %ld, expected %ld\n",
				me, k, (long)s->rank[k], (long)rank[k]);
	}
	app_block_range(s->n, dsm_num_nodes(), me, &lo, &hi);
	if (memcmp(s->grouped + lo, grouped + lo, sizeof(*grouped) * (size_t)(hi - lo))) {
		for (i = lo; i < hi; i++) {
			if (s->grouped[i] == grouped[i])
				continue;
			if (bad++ < 5)
				fprintf(stderr, "is: node %d: grouped key %ld is %ld, expected %ld\n",
					me, i, (long)s->grouped[i], (long)grouped[i]);
		}
	}
	free(keys);
	free(grouped);
	free(rank);
	free(pos);
	return bad;
}

/* -c CLASS: its letter into *(char *)to, '?' if it is not one letter. */
static int parse_class(const char *arg, void *to)
{
	*(char *)to = arg[0] && !arg[1] ? arg[0] : '?';
	return 0;
}

int main(int argc, char **argv)
{
	struct is s = { .nthreads = 1 };
	struct app_team team;
	char cls = IS_DEF_CLASS, size[32];
	int me, nnodes;
	bool bad_args, ok;
	size_t page, keybytes;
	unsigned c;
	long bad;
	const struct app_opt opts[] = {
		{ 'c', .parse = parse_class, .to = &cls },
		{ 't', .i = &s.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("is", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	bad_args = app_parse_args(argc, argv, "c:t:h", opts) != 0;
	for (c = 0; c < sizeof(is_classes) / sizeof(is_classes[0]); c++)
		if (is_classes[c].name == cls)
			s.cls = &is_classes[c];
	if (bad_args || !s.cls)
		return app_usage_error(usage, argv[0]);

	s.n = 1L << s.cls->log2keys;
	s.max_key = 1L << s.cls->log2maxkey;
	s.nbuckets = 1L << s.cls->log2buckets;
	s.shift = s.cls->log2maxkey - s.cls->log2buckets;
	s.nworkers = nnodes * s.nthreads;
	page = dsm_page_size();
	s.cstride = (sizeof(int32_t) * (size_t)s.nbuckets + page - 1) / page * page /
		    sizeof(int32_t);
	keybytes = sizeof(int32_t) * (size_t)s.n;
	s.keys = dsm_alloc_collective(keybytes);
	s.grouped = dsm_alloc_collective(keybytes);
	s.rank = dsm_alloc_collective(sizeof(int32_t) * (size_t)s.max_key);
	s.counts = dsm_alloc_collective(sizeof(int32_t) * s.cstride * (size_t)s.nworkers);
	if (!s.keys || !s.grouped || !s.rank || !s.counts)
		return app_alloc_failed("is", "2 x %zu bytes of shared heap (DSM_HEAP_SIZE)",
					keybytes);

	if (app_team_run(&team, s.nthreads, is_thread, &s))
		exit(1);

	/* After the last barrier the ranks are final: verify them. */
	bad = full_verify(&s);
	ok = app_all_ok(app_check_report("is", bad,
					 "ranks or grouped keys differ from the sequential ranking") &&
			s.tests_failed == 0);
	if (me == 0)
		printf("is: class %c, %ld keys in [0, %ld), %ld buckets, %d iterations, %d node%s x %d thread%s, %s consistency: %.6f s (%.2f Mkeys/s), partial verification %d/%d, check %s\n",
		       s.cls->name, s.n, s.max_key, s.nbuckets, IS_ITERATIONS,
		       nnodes, nnodes == 1 ? "" : "s", s.nthreads,
		       s.nthreads == 1 ? "" : "s", app_model_name(), s.t1 - s.t0,
		       1e-6 * (double)s.n * IS_ITERATIONS / (s.t1 - s.t0),
		       s.tests_passed, s.tests_passed + s.tests_failed,
		       ok ? "passed" : "FAILED");
	snprintf(size, sizeof(size), "%ld", s.n);
	return app_finish("is", size, s.nthreads, s.t1 - s.t0, ok);
}
