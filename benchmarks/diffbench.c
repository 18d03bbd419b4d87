/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * diffbench.c - cost of page diffs (runtime/protocol/diff.c), and of their
 * floors.
 *
 * Run alone, no job or launcher: benchmarks/diffbench [-r R] [-s S]
 *
 * A release under the multiple-writer protocols diffs every page written
 * in the interval against its twin, so diff creation is on the release
 * path once per dirty page.  This measures, for one 4 KiB page and a range
 * of changed fractions, the time per page of
 *  - dsm_diff_create() with the AVX2 scanner and with the portable one,
 *  - dsm_diff_apply() of the resulting diff to a copy of the twin,
 * against two floors measured in the same run:
 *  - memcmp() of two equal pages: the cheapest full scan the C library
 *    has (it cannot stop early on equal pages);
 *  - memcpy() of one page: what making the twin costs at the first write.
 * Changed bytes are either clustered (one contiguous range at a random
 * offset) or scattered (distinct random bytes), so a fraction gives a
 * diff of one run or of many.
 *
 * Timing: a sample times a batch of calls (enough for about 20 us, so the
 * clock's resolution does not matter) and divides; a round takes S
 * samples and keeps their median; the table shows the median over R
 * rounds.  Rounds are interleaved: round r of every floor and every case
 * runs before round r + 1 of any, so a drift in the machine's state (CPU
 * frequency, a neighbour) reaches floors and cases alike and the ratios
 * stay honest.  Page, twin and diff stay in the cache between calls: this
 * is the cost of the work, not of the memory traffic of a cold page.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchmarks/bench_common.h"
#include "runtime/protocol/diff.h"

#define DB_PAGE		4096u
#define DB_DEF_ROUNDS	7
#define DB_DEF_SAMPLES	51
#define DB_SAMPLE_NS	20000.0	/* target duration of one sample's batch */

/* Keep the compiler from hoisting or dropping the calls of a batch. */
#define db_clobber() __asm__ __volatile__("" ::: "memory")

enum db_impl { IMPL_AVX2, IMPL_PORTABLE, IMPL_NR };
static const char *const impl_name[IMPL_NR] = { "avx2", "portable" };

/* What is timed: the floors, then per case create (x2) and apply. */
enum db_what { W_CREATE_AVX2, W_CREATE_PORTABLE, W_APPLY, W_NR };

enum db_floor { FL_MEMCMP, FL_MEMCPY, FL_NR };

struct db_case {
	const char *label;
	size_t changed;		/* bytes that differ from the twin */
	int scattered;		/* 0: one contiguous range */
	uint8_t *page;
	size_t len;		/* encoded diff length */
	size_t runs;
	uint8_t *diff;		/* its encoding, for apply */
};

/* One measured quantity over the rounds. */
struct db_acc {
	long iters;		/* calls per sample, from the calibration */
	double *rmed;		/* per round: median of its samples, ns per call */
};

static struct db_case cases[] = {
	{ .label = "identical", .changed = 0, .scattered = 0 },
	{ .label = "1 word (8 B)", .changed = 8, .scattered = 0 },
	{ .label = "1 word (8 B)", .changed = 8, .scattered = 1 },
	{ .label = "1% (41 B)", .changed = 41, .scattered = 0 },
	{ .label = "1% (41 B)", .changed = 41, .scattered = 1 },
	{ .label = "10% (410 B)", .changed = 410, .scattered = 0 },
	{ .label = "10% (410 B)", .changed = 410, .scattered = 1 },
	{ .label = "50% (2048 B)", .changed = 2048, .scattered = 0 },
	{ .label = "50% (2048 B)", .changed = 2048, .scattered = 1 },
	{ .label = "100% (4096 B)", .changed = 4096, .scattered = 0 },
};
#define DB_NCASES (sizeof(cases) / sizeof(cases[0]))

static int rounds = DB_DEF_ROUNDS, samples = DB_DEF_SAMPLES;
static uint8_t *twin, *twin_copy, *target, *out;
static double *buf;
static volatile long sink;
static int have_avx2;

static struct db_acc floor_acc[FL_NR];
static struct db_acc case_acc[DB_NCASES][W_NR];

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void *must(void *p)
{
	if (!p) {
		fprintf(stderr, "diffbench: out of memory\n");
		exit(1);
	}
	return p;
}

/* Page-aligned, like the runtime's pages and twins. */
static void *page_alloc(size_t n)
{
	return must(aligned_alloc(DB_PAGE, (n + DB_PAGE - 1) & ~(size_t)(DB_PAGE - 1)));
}

/* Make c->page: the twin with c->changed bytes changed, as c says. */
static void case_setup(struct db_case *c)
{
	size_t k, at;

	c->page = page_alloc(DB_PAGE);
	c->diff = page_alloc(dsm_diff_bound(DB_PAGE));
	memcpy(c->page, twin, DB_PAGE);
	if (!c->scattered) {
		at = c->changed == 8 ? (rnd() % (DB_PAGE / 8)) * 8 :
					rnd() % (DB_PAGE - c->changed + 1);
		for (k = at; k < at + c->changed; k++)
			c->page[k] = (uint8_t)(twin[k] ^ (1 + rnd() % 255));
	} else {
		/* Distinct positions: the first c->changed of a shuffled page. */
		static uint16_t pos[DB_PAGE];

		for (k = 0; k < DB_PAGE; k++)
			pos[k] = (uint16_t)k;
		for (k = DB_PAGE - 1; k > 0; k--) {
			size_t j = rnd() % (k + 1);
			uint16_t t = pos[k];

			pos[k] = pos[j];
			pos[j] = t;
		}
		for (k = 0; k < c->changed; k++)
			c->page[pos[k]] = (uint8_t)(twin[pos[k]] ^ (1 + rnd() % 255));
	}
	dsm_diff_select("portable");
	c->len = dsm_diff_create(c->page, twin, DB_PAGE, c->diff);
	for (k = 0, c->runs = 0; k < c->len; c->runs++) {
		struct dsm_diff_run run;

		memcpy(&run, c->diff + k, sizeof(run));
		k += sizeof(run) + run.len;
	}
}

/* ------------------------------------------------------------ timing */

/* n calls of quantity (fl >= 0: a floor; else case c, what w). */
static void run_batch(int fl, struct db_case *c, enum db_what w, long n)
{
	long i, acc = 0;

	for (i = 0; i < n; i++) {
		if (fl == FL_MEMCMP)
			acc += memcmp(twin_copy, twin, DB_PAGE);
		else if (fl == FL_MEMCPY)
			memcpy(target, twin, DB_PAGE);
		else if (w == W_APPLY)
			acc += dsm_diff_apply(target, DB_PAGE, c->diff, c->len);
		else
			acc += (long)dsm_diff_create(c->page, twin, DB_PAGE, out);
		db_clobber();
	}
	sink = acc;
}

static void select_for(int fl, enum db_what w)
{
	if (fl < 0 && w != W_APPLY)
		dsm_diff_select(impl_name[w == W_CREATE_AVX2 ? IMPL_AVX2 : IMPL_PORTABLE]);
}

/* Choose a batch size giving samples of about DB_SAMPLE_NS. */
static long calibrate(int fl, struct db_case *c, enum db_what w)
{
	long n = 1;

	select_for(fl, w);
	for (;;) {
		uint64_t t0 = bench_now_ns();

		run_batch(fl, c, w, n);
		if (bench_now_ns() - t0 >= DB_SAMPLE_NS / 4 || n >= 1L << 24)
			break;
		n *= 2;
	}
	return n * 4;
}

/* One round of one quantity: S samples, their median into a->rmed[r]. */
static void measure(struct db_acc *a, int r, int fl, struct db_case *c, enum db_what w)
{
	int k;

	select_for(fl, w);
	run_batch(fl, c, w, a->iters / 8 + 1);	/* warm up */
	for (k = 0; k < samples; k++) {
		uint64_t t0 = bench_now_ns();

		run_batch(fl, c, w, a->iters);
		buf[k] = (double)(bench_now_ns() - t0) / (double)a->iters;
	}
	a->rmed[r] = bench_median(buf, samples);
}

static double result(struct db_acc *a)
{
	return bench_median(a->rmed, rounds);
}

/* ------------------------------------------------------------- main */

static void print_table(void)
{
	double mc = result(&floor_acc[FL_MEMCMP]), cp = result(&floor_acc[FL_MEMCPY]);
	size_t i;

	printf("libdsm diffbench: page %u B, %d rounds x %d samples, default scanner %s\n"
	       "(ns per page: median over rounds of each round's median; hot cache)\n\n",
	       DB_PAGE, rounds, samples, dsm_diff_impl());
	printf("floor                                   ns/page\n");
	printf("memcmp, equal pages (full scan)      %10.1f\n", mc);
	printf("memcpy (twin creation)               %10.1f\n\n", cp);

	printf("%-14s %-9s %6s %6s | %9s %7s | %9s %7s | %9s %7s\n",
	       "changed", "layout", "runs", "bytes",
	       "avx2 ns", "/memcmp", "port. ns", "/memcmp", "apply ns", "/memcpy");
	for (i = 0; i < DB_NCASES; i++) {
		const struct db_case *c = &cases[i];
		double ca = have_avx2 ? result(&case_acc[i][W_CREATE_AVX2]) : 0;
		double cpo = result(&case_acc[i][W_CREATE_PORTABLE]);
		double ap = result(&case_acc[i][W_APPLY]);
		char a_ns[16], a_x[16];

		if (have_avx2) {
			snprintf(a_ns, sizeof(a_ns), "%.1f", ca);
			snprintf(a_x, sizeof(a_x), "%.2f", ca / mc);
		} else {
			snprintf(a_ns, sizeof(a_ns), "n/a");
			snprintf(a_x, sizeof(a_x), "n/a");
		}
		printf("%-14s %-9s %6zu %6zu | %9s %7s | %9.1f %7.2f | %9.1f %7.2f\n",
		       c->label, c->changed == DB_PAGE || c->changed == 0 ? "-" :
		       c->scattered ? "scattered" : "clustered",
		       c->runs, c->len, a_ns, a_x, cpo, cpo / mc, ap, ap / cp);
	}
	printf("\nruns, bytes: the diff's runs and encoded length (8-byte header per run).\n"
	       "/memcmp: create / the memcmp floor; /memcpy: apply / the memcpy floor.\n");
	if (!have_avx2)
		printf("avx2: n/a, this CPU (or this build) has no AVX2 scanner.\n");
}

int main(int argc, char **argv)
{
	int opt, bad = 0, r, fl;
	size_t i, k;
	enum db_what w;

	while ((opt = getopt(argc, argv, "r:s:h")) != -1) {
		switch (opt) {
		case 'r':
			bad |= bench_parse_int(optarg, 1, 1000, &rounds);
			break;
		case 's':
			bad |= bench_parse_int(optarg, 1, 100000, &samples);
			break;
		default:
			bad = 1;
			break;
		}
	}
	if (bad || optind != argc) {
		fprintf(stderr,
			"usage: %s [-r ROUNDS] [-s SAMPLES]\n"
			"  -r ROUNDS   rounds; the median over rounds is reported (default %d)\n"
			"  -s SAMPLES  samples per round (default %d)\n",
			argv[0], DB_DEF_ROUNDS, DB_DEF_SAMPLES);
		return 2;
	}

	have_avx2 = dsm_diff_select("avx2") == 0;
	dsm_diff_select(have_avx2 ? "avx2" : "portable");	/* the default, for the header */

	twin = page_alloc(DB_PAGE);
	twin_copy = page_alloc(DB_PAGE);
	target = page_alloc(DB_PAGE);
	out = page_alloc(dsm_diff_bound(DB_PAGE));
	buf = must(calloc((size_t)samples, sizeof(*buf)));
	for (k = 0; k < DB_PAGE; k++)
		twin[k] = (uint8_t)rnd();
	memcpy(twin_copy, twin, DB_PAGE);
	memcpy(target, twin, DB_PAGE);
	for (i = 0; i < DB_NCASES; i++)
		case_setup(&cases[i]);

	for (fl = 0; fl < FL_NR; fl++) {
		floor_acc[fl].iters = calibrate(fl, NULL, 0);
		floor_acc[fl].rmed = must(calloc((size_t)rounds, sizeof(double)));
	}
	for (i = 0; i < DB_NCASES; i++)
		for (w = 0; w < W_NR; w++) {
			if (w == W_CREATE_AVX2 && !have_avx2)
				continue;
			case_acc[i][w].iters = calibrate(-1, &cases[i], w);
			case_acc[i][w].rmed = must(calloc((size_t)rounds, sizeof(double)));
		}

	for (r = 0; r < rounds; r++) {
		for (fl = 0; fl < FL_NR; fl++)
			measure(&floor_acc[fl], r, fl, NULL, 0);
		for (i = 0; i < DB_NCASES; i++)
			for (w = 0; w < W_NR; w++)
				if (case_acc[i][w].rmed)
					measure(&case_acc[i][w], r, -1, &cases[i], w);
	}
	dsm_diff_select(have_avx2 ? "avx2" : "portable");

	/* Applying each diff to the twin must give the page back. */
	for (i = 0; i < DB_NCASES; i++) {
		memcpy(target, twin, DB_PAGE);
		if (dsm_diff_apply(target, DB_PAGE, cases[i].diff, cases[i].len) != 0 ||
		    memcmp(target, cases[i].page, DB_PAGE) != 0) {
			fprintf(stderr, "diffbench: case %zu: twin + diff != page\n", i);
			return 1;
		}
	}
	print_table();
	return 0;
}
