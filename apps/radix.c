/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * radix.c - parallel radix sort of integer keys (libdsm app suite, after
 * the SPLASH-2 radix kernel).
 *
 * n unsigned keys in [0, MAXKEY) are sorted by least-significant-digit
 * radix sort with digits of log2(RADIX) bits: one pass per digit, each a
 * stable counting sort from one shared key array into the other.  The keys
 * are block-partitioned among the workers (nodes, and -t threads within a
 * node: worker w = node * THREADS + thread).  A pass is:
 *
 *   1. local histogram: each worker counts the digits of its block of keys
 *      and publishes the counts in its own row of the shared histogram
 *      array (rows are whole pages, so the rows never share a page);
 *   2. barrier;
 *   3. global prefix sum: every worker reads all rows and computes, in
 *      private memory, where its keys of each digit go: after all keys of
 *      smaller digits, and after the keys of that digit of the workers
 *      before it (this keeps the sort stable);
 *   4. permutation: each worker writes its keys into the destination array
 *      at those places;
 *   5. barrier; the arrays swap roles.
 *
 * The permutation is all-to-all and has heavy false sharing by design:
 * within each digit's bucket of the destination lie one run of keys per
 * worker, about n / (workers * RADIX) keys each (1024 keys, one 4 KiB
 * page, with the default sizes on 4 nodes; 64 with SPLASH-2's), so nearly
 * every page of the destination holds parts of two or more runs and is
 * written by two or more nodes in every pass.  This is the point of the
 * kernel as a DSM benchmark: under sequential consistency such a page
 * moves from writer to writer, under release and weak consistency the
 * writers' diffs are merged.  To keep the cost at one page move per writer
 * rather than one per key, a worker first sorts its block by digit in
 * private memory and then copies each run with one memcpy (SPLASH-2 writes
 * key by key), visiting the buckets in a staggered order (worker w starts
 * at bucket w * RADIX / workers) so that the workers do not all write the
 * same bucket at once.
 *
 * Why it is data-race-free: each histogram row has one writer, and it is
 * read only between the barrier that follows its write and the barrier
 * that ends the pass (the next write is after that).  In the permutation
 * the prefix sums give every worker disjoint ranges of the destination,
 * which nobody reads before the barrier that ends the pass; the source is
 * only read.  Different workers' ranges share pages but never bytes, which
 * release and weak consistency merge and sequential consistency serializes.
 *
 * Check, bit for bit: every node generates the same keys in private memory
 * (key i is a hash of i, so any node can make any key), sorts them without
 * radix sort (by counting key values if MAXKEY <= 2^24, else with qsort)
 * and compares its block of the sorted shared array with memcmp.  Equal to
 * a sequential sort of the input means sorted and a permutation of the
 * input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/common/app.h"

#define RADIX_DEF_KEYS		(1L << 22)
#define RADIX_MAX_KEYS		(1L << 27)
#define RADIX_DEF_LOG2RADIX	10
#define RADIX_MAX_RADIX		(1L << 16)
#define RADIX_DEF_MAXKEY	(1L << 20)
#define RADIX_MAX_MAXKEY	(1L << 32)
#define RADIX_COUNT_MAX		(1L << 24)	/* the check counts key values up to here */

/* Everything the threads of one node share (private memory). */
struct radix {
	long n;			/* number of keys */
	long radix;		/* buckets per digit: 2^log2radix */
	int log2radix;
	long max_key;		/* keys lie in [0, max_key) */
	int passes;		/* digits of a key */
	int nthreads;		/* application threads on this node */
	int nworkers;		/* threads in the whole job */
	uint32_t *keys[2];	/* shared: pass p sorts keys[p & 1] into keys[!(p & 1)] */
	uint32_t *hist;		/* shared: worker w's counts at hist + w * hstride */
	size_t hstride;		/* a whole number of pages, in uint32_t */
	double t0, t1;		/* timed region, taken by thread 0 */
};

/* A worker's private arrays for one pass. */
struct radix_local {
	uint32_t *cnt;		/* keys of the block per digit */
	long *first;		/* where each digit's run starts in buf */
	long *dest;		/* where it goes in the destination array */
	long *total;		/* keys of the whole array per digit */
	uint32_t *buf;		/* the block sorted by digit */
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n KEYS] [-r RADIX] [-m MAXKEY] [-t THREADS]\n"
		"  -n KEYS     keys to sort (1..%ld, default %ld)\n"
		"  -r RADIX    buckets per digit, a power of two (2..%ld, default %ld)\n"
		"  -m MAXKEY   keys are in [0, MAXKEY) (1..%ld, default %ld)\n"
		"  -t THREADS  application threads per node (1..%d, default 1)\n",
		prog, RADIX_MAX_KEYS, RADIX_DEF_KEYS, RADIX_MAX_RADIX,
		1L << RADIX_DEF_LOG2RADIX, RADIX_MAX_MAXKEY, RADIX_DEF_MAXKEY,
		APP_MAX_THREADS);
}

/*
 * Key i: a splitmix64 hash of i reduced to [0, max_key), so that every node
 * initializes its own block and can rebuild all keys for the check.
 */
static uint32_t key_at(const struct radix *rs, long i)
{
	uint64_t z = (uint64_t)i + UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (uint32_t)(z % (uint64_t)rs->max_key);
}

/*
 * Step 1: count the digits of src[lo, hi) and sort the block by digit into
 * loc->buf (stable: a counting sort), in private memory.
 */
static void local_sort(const struct radix *rs, struct radix_local *loc,
		       const uint32_t *src, long lo, long hi, int shift)
{
	uint32_t mask = (uint32_t)rs->radix - 1;
	long i, d, pos;

	memset(loc->cnt, 0, sizeof(*loc->cnt) * (size_t)rs->radix);
	for (i = lo; i < hi; i++)
		loc->cnt[(src[i] >> shift) & mask]++;
	for (d = 0, pos = 0; d < rs->radix; d++) {
		loc->first[d] = pos;
		pos += loc->cnt[d];
	}
	/* dest serves as the write cursor here; step 3 overwrites it. */
	memcpy(loc->dest, loc->first, sizeof(*loc->dest) * (size_t)rs->radix);
	for (i = lo; i < hi; i++) {
		uint32_t k = src[i];

		loc->buf[loc->dest[(k >> shift) & mask]++] = k;
	}
}

/*
 * Step 3: the global prefix sum, from every worker's published counts.
 * The keys of digit d from worker w go to
 *   sum over d' < d of all workers' counts of d'
 *   + sum over v < w of worker v's count of d.
 */
static void prefix_sum(const struct radix *rs, struct radix_local *loc, int w)
{
	long d, pos;
	int v;

	memset(loc->total, 0, sizeof(*loc->total) * (size_t)rs->radix);
	memset(loc->dest, 0, sizeof(*loc->dest) * (size_t)rs->radix);
	for (v = 0; v < rs->nworkers; v++) {
		const uint32_t *row = rs->hist + (size_t)v * rs->hstride;

		for (d = 0; d < rs->radix; d++) {
			loc->total[d] += row[d];
			if (v < w)
				loc->dest[d] += row[d];
		}
	}
	for (d = 0, pos = 0; d < rs->radix; d++) {
		loc->dest[d] += pos;
		pos += loc->total[d];
	}
}

/* Step 4: copy each digit's run into place, from a staggered first bucket. */
static void permute(const struct radix *rs, const struct radix_local *loc,
		    uint32_t *dst, int w)
{
	long start = rs->radix * w / rs->nworkers, i;

	for (i = 0; i < rs->radix; i++) {
		long d = (start + i) % rs->radix;

		if (loc->cnt[d])
			memcpy(dst + loc->dest[d], loc->buf + loc->first[d],
			       sizeof(*dst) * loc->cnt[d]);
	}
}

static void *radix_thread(struct app_team *team, int tid, void *arg)
{
	struct radix *rs = arg;
	int w = dsm_node_id() * rs->nthreads + tid, pass;
	size_t nr = (size_t)rs->radix;
	struct radix_local loc;
	long lo, hi, i;

	app_block_range(rs->n, rs->nworkers, w, &lo, &hi);
	loc.cnt = malloc(sizeof(*loc.cnt) * nr);
	loc.first = malloc(sizeof(*loc.first) * nr);
	loc.dest = malloc(sizeof(*loc.dest) * nr);
	loc.total = malloc(sizeof(*loc.total) * nr);
	loc.buf = malloc(sizeof(*loc.buf) * (size_t)(hi - lo + 1));
	if (!loc.cnt || !loc.first || !loc.dest || !loc.total || !loc.buf) {
		/* A node that exits takes the job down with a message. */
		fprintf(stderr, "radix: node %d: out of memory\n", dsm_node_id());
		exit(1);
	}

	/* Each worker writes its own block of keys (first touch). */
	for (i = lo; i < hi; i++)
		rs->keys[0][i] = key_at(rs, i);
	app_team_barrier(team, tid);
	if (tid == 0)
		rs->t0 = app_now();

	for (pass = 0; pass < rs->passes; pass++) {
		const uint32_t *src = rs->keys[pass & 1];
		uint32_t *dst = rs->keys[!(pass & 1)];

		local_sort(rs, &loc, src, lo, hi, pass * rs->log2radix);
		memcpy(rs->hist + (size_t)w * rs->hstride, loc.cnt,
		       sizeof(*loc.cnt) * nr);
		/* Every worker's counts are published. */
		app_team_barrier(team, tid);
		prefix_sum(rs, &loc, w);
		permute(rs, &loc, dst, w);
		/* The destination is complete; the counts may be rewritten. */
		app_team_barrier(team, tid);
	}

	if (tid == 0)
		rs->t1 = app_now();
	free(loc.cnt);
	free(loc.first);
	free(loc.dest);
	free(loc.total);
	free(loc.buf);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * want[0 .. hi-lo) = keys lo..hi-1 of the sorted input, computed in private
 * memory without radix sorting: when the key range is small, by counting
 * each key value and expanding the counts (O(n + MAXKEY)); otherwise by
 * qsort of all keys.
 */
static void sorted_block(const struct radix *rs, uint32_t *want, long lo,
			 long hi)
{
	uint32_t *all, *count;
	long i, v, pos, end;

	if (rs->max_key <= RADIX_COUNT_MAX) {
		count = calloc((size_t)rs->max_key, sizeof(*count));
		if (!count)
			goto oom;
		for (i = 0; i < rs->n; i++)
			count[key_at(rs, i)]++;
		for (v = 0, pos = 0; v < rs->max_key && pos < hi; v++)
			for (end = pos + count[v]; pos < end; pos++)
				if (pos >= lo && pos < hi)
					want[pos - lo] = (uint32_t)v;
		free(count);
		return;
	}
	all = malloc(sizeof(*all) * (size_t)rs->n);
	if (!all)
		goto oom;
	for (i = 0; i < rs->n; i++)
		all[i] = key_at(rs, i);
	qsort(all, (size_t)rs->n, sizeof(*all), cmp_u32);
	memcpy(want, all + lo, sizeof(*want) * (size_t)(hi - lo));
	free(all);
	return;
oom:
	fprintf(stderr, "radix: node %d: out of memory for the check\n",
		dsm_node_id());
	exit(1);
}

/*
 * Compare this node's block of the sorted shared array with the same
 * block of a sequential sort.  Returns the number of keys that differ;
 * call after the last barrier.
 */
static long check_block(const struct radix *rs)
{
	const uint32_t *res = rs->keys[rs->passes & 1];
	long lo, hi, i, bad = 0;
	uint32_t *want;

	app_block_range(rs->n, dsm_num_nodes(), dsm_node_id(), &lo, &hi);
	want = malloc(sizeof(*want) * (size_t)(hi - lo + 1));
	if (!want) {
		fprintf(stderr, "radix: node %d: out of memory for the check\n",
			dsm_node_id());
		exit(1);
	}
	sorted_block(rs, want, lo, hi);
	if (memcmp(want, res + lo, sizeof(*want) * (size_t)(hi - lo))) {
		for (i = lo; i < hi; i++) {
			if (want[i - lo] == res[i])
				continue;
			if (bad < 5)
				fprintf(stderr, "radix: node %d: key %ld is %u, expected %u\n",
					dsm_node_id(), i, res[i], want[i - lo]);
			bad++;
		}
	}
	free(want);
	return bad;
}

/* Parse a power of two in [lo, hi] into *out and its log into *log2. */
static int parse_pow2(const char *s, long lo, long hi, long *out, int *log2)
{
	long v;
	int b;

	if (app_parse_long(s, lo, hi, &v) || (v & (v - 1)))
		return -1;
	for (b = 0; (1L << b) < v; b++)
		;
	*out = v;
	*log2 = b;
	return 0;
}

/* -r RADIX: into the struct radix at to, with its log. */
static int parse_radix(const char *arg, void *to)
{
	struct radix *rs = to;

	return parse_pow2(arg, 2, RADIX_MAX_RADIX, &rs->radix, &rs->log2radix);
}

int main(int argc, char **argv)
{
	struct radix rs = { .n = RADIX_DEF_KEYS,
			    .radix = 1L << RADIX_DEF_LOG2RADIX,
			    .log2radix = RADIX_DEF_LOG2RADIX,
			    .max_key = RADIX_DEF_MAXKEY, .nthreads = 1 };
	struct app_team team;
	int me, nnodes, bits;
	bool ok;
	size_t page, keybytes;
	char size[32];
	long bad;
	const struct app_opt opts[] = {
		{ 'n', .l = &rs.n, .lo = 1, .hi = RADIX_MAX_KEYS },
		{ 'r', .parse = parse_radix, .to = &rs },
		{ 'm', .l = &rs.max_key, .lo = 1, .hi = RADIX_MAX_MAXKEY },
		{ 't', .i = &rs.nthreads, .lo = 1, .hi = APP_MAX_THREADS },
		{ 0 }
	};

	app_start("radix", &argc, &argv);
	me = dsm_node_id();
	nnodes = dsm_num_nodes();

	if (app_parse_args(argc, argv, "n:r:m:t:h", opts))
		return app_usage_error(usage, argv[0]);

	/* Digits: enough to cover the bits of max_key - 1. */
	for (bits = 0; (1L << bits) < rs.max_key; bits++)
		;
	rs.passes = (bits + rs.log2radix - 1) / rs.log2radix;
	rs.nworkers = nnodes * rs.nthreads;
	page = dsm_page_size();
	rs.hstride = (sizeof(uint32_t) * (size_t)rs.radix + page - 1) / page * page /
		     sizeof(uint32_t);
	keybytes = sizeof(uint32_t) * (size_t)rs.n;
	rs.keys[0] = dsm_alloc_collective(keybytes);
	rs.keys[1] = dsm_alloc_collective(keybytes);
	rs.hist = dsm_alloc_collective(sizeof(uint32_t) * rs.hstride *
				       (size_t)rs.nworkers);
	if (!rs.keys[0] || !rs.keys[1] || !rs.hist)
		return app_alloc_failed("radix", "2 x %zu bytes of shared heap (DSM_HEAP_SIZE)",
					keybytes);

	if (app_team_run(&team, rs.nthreads, radix_thread, &rs))
		exit(1);

	/* After the last barrier the sorted array is complete: check it. */
	bad = check_block(&rs);
	ok = app_all_ok(app_check_report("radix", bad,
					 "of its keys differ from a sequential sort"));
	if (me == 0)
		printf("radix: %ld keys in [0, %ld), radix %ld (%d pass%s), %d node%s x %d thread%s, %s consistency: %.6f s, check %s\n",
		       rs.n, rs.max_key, rs.radix, rs.passes,
		       rs.passes == 1 ? "" : "es", nnodes, nnodes == 1 ? "" : "s",
		       rs.nthreads, rs.nthreads == 1 ? "" : "s", app_model_name(),
		       rs.t1 - rs.t0, ok ? "passed" : "FAILED");
	snprintf(size, sizeof(size), "%ld", rs.n);
	return app_finish("radix", size, rs.nthreads, rs.t1 - rs.t0, ok);
}
