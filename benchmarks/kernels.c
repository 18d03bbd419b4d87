/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kernels.c - two small kernels that show what a consistency model costs:
 * false sharing and lock-heavy updates.  Public API only.
 *
 * Run on any number of nodes (the figures are for 4):
 *   dsmrun -n 4 benchmarks/kernels falseshare [-p PAGES] [-r ROUNDS] [-w WRITES]
 *   dsmrun -n 4 benchmarks/kernels locks [-l LOCKS] [-k CS] [-b RECBYTES]
 *
 * falseshare: PAGES shared pages (default 16), ROUNDS rounds (200).  In a
 *   round every node writes its own interleaved 8-byte words of every page
 *   (node k of N owns the words w with w % 2N == k + N * (round % 2)),
 *   WRITES times over all the pages (4; the last pass stores the round's
 *   value), then a barrier, then reads two words of every other node's
 *   slots on every page and checks them.  The slots alternate between two
 *   sets from round to round, so a round's writes never race with the
 *   reads of the round before: one barrier per round keeps the kernel
 *   data-race-free, and so correct under every model.  Every page is
 *   written by every node in every round: under sequential consistency
 *   the pages move from writer to writer at every pass; the multiple-
 *   writer protocols merge the nodes' diffs at the home.
 *
 * locks: LOCKS locks (default 64), each protecting a record of RECBYTES
 *   bytes (256: 16 records to a 4 KiB page, so several locks' records
 *   share a page).  Every node runs CS critical sections (2000) on
 *   pseudo-random locks drawn from a generator seeded with its id; each
 *   increments the record's counter and adds a value that depends on the
 *   node and the step to its checksum.  After a barrier node 0 replays
 *   every node's generator and checks every record's counter and checksum
 *   (so the total of the counters is N * CS).
 *
 * Every page's home is fixed before the timed region (dsm_home_node()
 * pins an untouched page to its manager under first-touch homes too), so
 * that runs are repeatable and homes are spread over the nodes.
 *
 * Output, from node 0:
 *   DSM_KERNEL kernel=NAME nodes=N model=MODEL seconds=S
 *   DSM_KERNEL_STATS msgs=.. bytes=.. read_faults=.. write_faults=..
 *     pages_fetched=.. twins=.. diffs=.. diff_bytes=.. notices=.. (one line)
 * seconds is node 0's time from a barrier before the timed region to one
 * after it; the counters are the sums over the nodes of each node's
 * dsm_get_stats() difference over the same region (msgs and bytes: sent,
 * so each message counts once), taken before the nodes exchange them
 * through shared memory.  Exit status 1 on a wrong value.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dsm.h>

#include "benchmarks/bench_common.h"

#define K_DEF_PAGES	16
#define K_DEF_ROUNDS	200
#define K_DEF_WRITES	4
#define K_DEF_LOCKS	64
#define K_DEF_CS	2000
#define K_DEF_RECBYTES	256
#define K_MAX_REPORTS	5	/* wrong values printed per node */

/* The counters a kernel reports, as each node publishes them. */
enum k_stat {
	KS_MSGS, KS_BYTES, KS_READ_FAULTS, KS_WRITE_FAULTS, KS_FETCHED,
	KS_TWINS, KS_DIFFS, KS_DIFF_BYTES, KS_NOTICES, KS_INVALIDATIONS,
	KS_LOCKS, KS_BARRIERS, KS_NR
};

static const char *const k_stat_name[KS_NR] = {
	[KS_MSGS] = "msgs", [KS_BYTES] = "bytes",
	[KS_READ_FAULTS] = "read_faults", [KS_WRITE_FAULTS] = "write_faults",
	[KS_FETCHED] = "pages_fetched", [KS_TWINS] = "twins",
	[KS_DIFFS] = "diffs", [KS_DIFF_BYTES] = "diff_bytes",
	[KS_NOTICES] = "notices", [KS_INVALIDATIONS] = "invalidations",
	[KS_LOCKS] = "lock_acquires", [KS_BARRIERS] = "barriers",
};

struct k_run {
	int me, nodes;
	long errors;		/* wrong values seen by this node */
	struct dsm_stats st0;	/* at the start of the timed region */
	double t0;
};

/* Pin the homes of [p, p + len) before anything touches it (see the top). */
static void pin_homes(const char *p, size_t len)
{
	size_t ps = dsm_page_size();

	for (size_t off = 0; off < len; off += ps)
		dsm_home_node(p + off);
}

/* Collective: the timed region starts after a barrier. */
static void region_begin(struct k_run *k)
{
	dsm_barrier();
	dsm_get_stats(&k->st0);
	k->t0 = bench_now();
}

/*
 * Collective: end the timed region with a barrier, take this node's
 * counter differences first, then gather them through shared memory and
 * have node 0 print the two lines.
 */
static void region_end(struct k_run *k, const char *kernel)
{
	struct dsm_stats st;
	uint64_t mine[KS_NR], sum[KS_NR] = { 0 };
	uint64_t *all;
	double secs;

	dsm_barrier();
	secs = bench_now() - k->t0;
	dsm_get_stats(&st);
	mine[KS_MSGS] = st.msgs_recv - k->st0.msgs_recv;
	mine[KS_BYTES] = st.bytes_recv - k->st0.bytes_recv;
	mine[KS_READ_FAULTS] = st.read_faults - k->st0.read_faults;
	mine[KS_WRITE_FAULTS] = st.write_faults - k->st0.write_faults;
	mine[KS_FETCHED] = st.pages_fetched - k->st0.pages_fetched;
	mine[KS_TWINS] = st.twins - k->st0.twins;
	mine[KS_DIFFS] = st.diffs_created - k->st0.diffs_created;
	mine[KS_DIFF_BYTES] = st.diff_bytes - k->st0.diff_bytes;
	mine[KS_NOTICES] = st.write_notices - k->st0.write_notices;
	mine[KS_INVALIDATIONS] = st.invalidations - k->st0.invalidations;
	mine[KS_LOCKS] = st.lock_acquires - k->st0.lock_acquires;
	mine[KS_BARRIERS] = st.barriers - k->st0.barriers;

	all = dsm_alloc_collective((size_t)k->nodes * KS_NR * sizeof(uint64_t));
	if (!all) {
		fprintf(stderr, "kernels: node %d: no shared memory for the counters\n", k->me);
		k->errors++;
		return;
	}
	memcpy(all + (size_t)k->me * KS_NR, mine, sizeof(mine));
	dsm_barrier();
	if (k->me != 0)
		return;
	for (int n = 0; n < k->nodes; n++)
		for (int i = 0; i < KS_NR; i++)
			sum[i] += all[(size_t)n * KS_NR + i];
	printf("DSM_KERNEL kernel=%s nodes=%d model=%s seconds=%.6f\n", kernel, k->nodes,
	       bench_model_name(dsm_consistency()), secs);
	printf("DSM_KERNEL_STATS");
	for (int i = 0; i < KS_NR; i++)
		printf(" %s=%" PRIu64, k_stat_name[i], sum[i]);
	printf("\n");
	fflush(stdout);
}

static void report(struct k_run *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct k_run *k, const char *fmt, ...)
{
	va_list ap;

	if (k->errors++ >= K_MAX_REPORTS)
		return;
	fprintf(stderr, "kernels: node %d: ", k->me);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------ falseshare */

/* The value a node leaves in word w of page p in round r. */
static uint64_t fs_value(long r, long p, size_t w)
{
	return ((uint64_t)(r + 1) << 40) | ((uint64_t)p << 20) | (uint64_t)w;
}

/* Word i of node j's slot set q (0 or 1) on a page of N nodes. */
static size_t fs_word(int nodes, int j, int q, size_t i)
{
	return (size_t)j + (size_t)q * (size_t)nodes + 2 * (size_t)nodes * i;
}

static int falseshare(struct k_run *k, int argc, char **argv)
{
	long pages = K_DEF_PAGES, rounds = K_DEF_ROUNDS, writes = K_DEF_WRITES;
	size_t ps = dsm_page_size(), words = ps / sizeof(uint64_t), slots;
	char *heap;
	int opt, bad = 0;

	while ((opt = getopt(argc, argv, "p:r:w:")) != -1) {
		switch (opt) {
		case 'p':
			bad |= bench_parse_long(optarg, 1, 1 << 20, &pages);
			break;
		case 'r':
			bad |= bench_parse_long(optarg, 1, 1000000000, &rounds);
			break;
		case 'w':
			bad |= bench_parse_long(optarg, 1, 1000000, &writes);
			break;
		default:
			bad = 1;
		}
	}
	slots = words / (2 * (size_t)k->nodes);
	if (bad || optind != argc || slots < 2) {
		if (k->me == 0)
			fprintf(stderr, "usage: kernels falseshare [-p PAGES] [-r ROUNDS] [-w WRITES]%s\n",
				slots < 2 ? " (too many nodes for this page size)" : "");
		return 2;
	}
	heap = dsm_alloc_collective((size_t)pages * ps);
	if (!heap) {
		fprintf(stderr, "kernels: node %d: cannot allocate %ld pages\n", k->me, pages);
		return 1;
	}
	pin_homes(heap, (size_t)pages * ps);

	region_begin(k);
	for (long r = 0; r < rounds; r++) {
		int q = (int)(r % 2);

		for (long x = 0; x < writes; x++) {
			uint64_t back = (uint64_t)(writes - 1 - x);

			for (long p = 0; p < pages; p++) {
				volatile uint64_t *pg = (uint64_t *)(heap + (size_t)p * ps);

				for (size_t i = 0; i < slots; i++) {
					size_t w = fs_word(k->nodes, k->me, q, i);

					pg[w] = fs_value(r, p, w) - back;
				}
			}
		}
		dsm_barrier();
		for (long p = 0; p < pages; p++) {
			volatile uint64_t *pg = (uint64_t *)(heap + (size_t)p * ps);

			for (int j = 0; j < k->nodes; j++) {
				if (j == k->me)
					continue;
				for (size_t c = 0; c < 2; c++) {
					size_t i = ((size_t)(r + p) + c * (slots / 2)) % slots;
					size_t w = fs_word(k->nodes, j, q, i);
					uint64_t got = pg[w];

					if (got != fs_value(r, p, w))
						report(k, "falseshare: round %ld page %ld word %zu (node %d's): got %#" PRIx64 ", want %#" PRIx64,
						       r, p, w, j, got, fs_value(r, p, w));
				}
			}
		}
	}
	region_end(k, "falseshare");
	return 0;
}

/* ----------------------------------------------------------------- locks */

struct lk_rec {
	uint64_t count;
	uint64_t sum;
};

/* xorshift64*: a node's lock sequence, the same when node 0 replays it. */
static uint64_t lk_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static struct lk_rec *lk_rec_at(char *recs, unsigned long id, long recbytes)
{
	return (struct lk_rec *)(recs + id * (size_t)recbytes);
}

static uint64_t lk_seed(int node)
{
	return 0x9e3779b97f4a7c15ull * (uint64_t)(node + 1);
}

/* What node's step i adds to the checksum. */
static uint64_t lk_add(int node, long i)
{
	return ((uint64_t)(node + 1) << 32) + (uint64_t)i * 2654435761u + 1;
}

static int locks(struct k_run *k, int argc, char **argv)
{
	long nlocks = K_DEF_LOCKS, cs = K_DEF_CS, recbytes = K_DEF_RECBYTES;
	char *recs;
	int opt, bad = 0;
	uint64_t s;

	while ((opt = getopt(argc, argv, "l:k:b:")) != -1) {
		switch (opt) {
		case 'l':
			bad |= bench_parse_long(optarg, 1, DSM_MAX_LOCKS, &nlocks);
			break;
		case 'k':
			bad |= bench_parse_long(optarg, 1, 1000000000, &cs);
			break;
		case 'b':
			bad |= bench_parse_long(optarg, (long)sizeof(struct lk_rec), 1 << 20, &recbytes);
			break;
		default:
			bad = 1;
		}
	}
	if (bad || optind != argc || recbytes % 8) {
		if (k->me == 0)
			fprintf(stderr, "usage: kernels locks [-l LOCKS] [-k CS] [-b RECBYTES (multiple of 8, >= %zu)]\n",
				sizeof(struct lk_rec));
		return 2;
	}
	recs = dsm_alloc_collective((size_t)nlocks * (size_t)recbytes);
	if (!recs) {
		fprintf(stderr, "kernels: node %d: cannot allocate %ld records\n", k->me, nlocks);
		return 1;
	}
	pin_homes(recs, (size_t)nlocks * (size_t)recbytes);

	region_begin(k);
	s = lk_seed(k->me);
	for (long i = 0; i < cs; i++) {
		unsigned id = (unsigned)(lk_next(&s) % (uint64_t)nlocks);
		volatile struct lk_rec *rec = lk_rec_at(recs, id, recbytes);
		int ret = dsm_lock_acquire(id);

		if (ret < 0) {
			report(k, "locks: acquire %u: %s", id, dsm_strerror(ret));
			break;
		}
		rec->count++;
		rec->sum += lk_add(k->me, i);
		ret = dsm_lock_release(id);
		if (ret < 0) {
			report(k, "locks: release %u: %s", id, dsm_strerror(ret));
			break;
		}
	}
	region_end(k, "locks");

	/* region_end ended with a barrier: every critical section is visible. */
	if (k->me == 0) {
		struct lk_rec *want = calloc((size_t)nlocks, sizeof(*want));
		uint64_t total = 0;

		if (!want) {
			report(k, "locks: out of memory for the check");
			return 0;
		}
		for (int n = 0; n < k->nodes; n++) {
			s = lk_seed(n);
			for (long i = 0; i < cs; i++) {
				uint64_t id = lk_next(&s) % (uint64_t)nlocks;

				want[id].count++;
				want[id].sum += lk_add(n, i);
			}
		}
		for (long id = 0; id < nlocks; id++) {
			const struct lk_rec *rec = lk_rec_at(recs, (unsigned long)id, recbytes);

			total += rec->count;
			if (rec->count != want[id].count || rec->sum != want[id].sum)
				report(k, "locks: record %ld: count %" PRIu64 " sum %#" PRIx64 ", want count %" PRIu64 " sum %#" PRIx64,
				       id, rec->count, rec->sum, want[id].count, want[id].sum);
		}
		if (total != (uint64_t)k->nodes * (uint64_t)cs)
			report(k, "locks: the counters add up to %" PRIu64 ", want %d x %ld = %" PRIu64,
			       total, k->nodes, cs, (uint64_t)k->nodes * (uint64_t)cs);
		free(want);
	}
	return 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	struct k_run k = { 0 };
	int ret, status;

	ret = dsm_init(&argc, &argv);
	if (ret < 0) {
		fprintf(stderr, "kernels: dsm_init: %s\n", dsm_strerror(ret));
		return 1;
	}
	k.me = dsm_node_id();
	k.nodes = dsm_num_nodes();
	opterr = k.me == 0;	/* every node sees the same argv: one complains */

	if (argc >= 2 && !strcmp(argv[1], "falseshare")) {
		status = falseshare(&k, argc - 1, argv + 1);
	} else if (argc >= 2 && !strcmp(argv[1], "locks")) {
		status = locks(&k, argc - 1, argv + 1);
	} else {
		if (k.me == 0)
			fprintf(stderr, "usage: dsmrun -n 4 %s falseshare|locks [OPTIONS]\n", argv[0]);
		status = 2;
	}
	if (k.errors) {
		fprintf(stderr, "kernels: node %d: FAILED: %ld wrong values or failed calls\n",
			k.me, k.errors);
		status = 1;
	}
	ret = dsm_finalize();
	if (ret < 0) {
		fprintf(stderr, "kernels: node %d: dsm_finalize: %s\n", k.me, dsm_strerror(ret));
		status = status ? status : 1;
	}
	return status;
}
