/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for runtime/protocol/diff.c and diff_avx2.c: the encoding of
 * simple patterns, the bound (tight, checked against every pattern of
 * small pages), round trips and byte exactness on random pages of 4 KiB
 * and 16 KiB (and odd sizes, against guard pages), two writers merging at
 * the home, identical encodings from both scanners, and malformed diffs
 * rejected with the page untouched.
 *
 * Exactness is the property the multiple-writer protocols depend on: a
 * run that carried one unchanged byte would overwrite another node's
 * concurrent write to that byte at the home (see diff.h).  So beyond the
 * round trip, every test checks each run byte against the twin, each byte
 * outside the runs, and compares the encoding with a byte-at-a-time
 * reference encoder.
 *
 * The tests that depend on the scanner loop over both (_i: 0 portable,
 * 1 avx2); the avx2 half prints a note and passes on a CPU without AVX2.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/protocol/diff.h"

/*
 * Every ck_assert() reports its location to the Check parent with a
 * write(2); the random loops make millions of checks, so they test first
 * and call Check only to fail.
 */
#define require(cond)							\
	do {								\
		if (!(cond))						\
			ck_abort_msg("Assertion '%s' failed", #cond);	\
	} while (0)
#define require_msg(cond, ...)						\
	do {								\
		if (!(cond))						\
			ck_abort_msg(__VA_ARGS__);			\
	} while (0)

#define PAGE	4096u
#define RUN	sizeof(struct dsm_diff_run)

static const char *const impl_names[] = { "portable", "avx2" };

/* Deterministic, so a failure reproduces. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
}

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint8_t *xalloc(size_t n)
{
	/* Page-aligned like the runtime's pages; +1 so n = 0 works. */
	void *p = aligned_alloc(PAGE, (n + PAGE) & ~(size_t)(PAGE - 1));

	ck_assert_ptr_nonnull(p);
	return p;
}

/*
 * Use scanner i for the rest of this (forked) test.  false, with a note,
 * if the CPU lacks it: the caller then passes without testing.
 */
static bool use_impl(int i)
{
	int ret = dsm_diff_select(impl_names[i]);

	if (ret == -ENOTSUP) {
		printf("check_diff: no %s scanner on this CPU or in this build: "
		       "skipping its half of this test\n", impl_names[i]);
		return false;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_str_eq(dsm_diff_impl(), impl_names[i]);
	return true;
}

/* Change byte k of page to a value that differs from twin's. */
static void change(uint8_t *page, const uint8_t *twin, size_t k)
{
	page[k] = (uint8_t)(twin[k] ^ (1 + rnd() % 255));
}

/* The obvious encoder, one byte at a time: what every scanner must produce. */
static size_t ref_create(const uint8_t *page, const uint8_t *twin, size_t size, uint8_t *out)
{
	size_t len = 0, k = 0;

	while (k < size) {
		struct dsm_diff_run run;
		size_t start;

		if (page[k] == twin[k]) {
			k++;
			continue;
		}
		for (start = k; k < size && page[k] != twin[k]; k++)
			;
		run.off = (uint32_t)start;
		run.len = (uint32_t)(k - start);
		memcpy(out + len, &run, RUN);
		memcpy(out + len + RUN, page + start, run.len);
		len += RUN + run.len;
	}
	return len;
}

/*
 * Check an encoding of page against twin: well-formed, maximal runs (never
 * adjacent), every byte in a run differs from the twin and is the page's
 * new value, every byte outside the runs equals the twin.  Returns the
 * number of runs.
 */
static size_t check_exact(const uint8_t *page, const uint8_t *twin, size_t size,
			  const uint8_t *diff, size_t len)
{
	size_t pos = 0, k = 0, runs = 0;

	while (pos < len) {
		struct dsm_diff_run run;

		require_msg(len - pos >= RUN, "truncated run header at %zu", pos);
		memcpy(&run, diff + pos, RUN);
		pos += RUN;
		require_msg(run.len >= 1 && run.off + (size_t)run.len <= size &&
			    len - pos >= run.len, "bad run %u+%u at %zu", run.off, run.len, pos);
		require_msg(runs == 0 ? run.off >= k : run.off > k,
			    "run at %u not after the previous one (ending at %zu)", run.off, k);
		for (; k < run.off; k++)
			require_msg(page[k] == twin[k],
				    "byte %zu differs from the twin but is in no run", k);
		for (; k < run.off + (size_t)run.len; k++) {
			require_msg(page[k] != twin[k],
				    "byte %zu is in a run but equals the twin (not exact)", k);
			require_msg(diff[pos + k - run.off] == page[k],
				    "run data for byte %zu is not the page's value", k);
		}
		pos += run.len;
		runs++;
	}
	for (; k < size; k++)
		require_msg(page[k] == twin[k], "byte %zu differs but is in no run", k);
	return runs;
}

/*
 * The whole contract for one pair: encode with the selected scanner, check
 * it against the reference and for exactness, stay within the bound, and
 * apply it to a copy of the twin.  Returns the encoded length.
 */
static size_t diff_roundtrip(const uint8_t *page, const uint8_t *twin, size_t size)
{
	size_t bound = dsm_diff_bound(size), len, ref_len;
	uint8_t *out = xalloc(bound), *ref = xalloc(bound), *copy = xalloc(size);

	len = dsm_diff_create(page, twin, size, out);
	ref_len = ref_create(page, twin, size, ref);
	require_msg(len <= bound, "diff of %zu bytes over the bound %zu", len, bound);
	check_exact(page, twin, size, out, len);
	require_msg(len == ref_len && memcmp(out, ref, len) == 0,
		    "%s encoding differs from the reference (%zu vs %zu bytes)",
		    dsm_diff_impl(), len, ref_len);

	memcpy(copy, twin, size);
	require(dsm_diff_apply(copy, size, out, len) == 0);
	require_msg(memcmp(copy, page, size) == 0, "twin + diff != page");

	free(copy);
	free(ref);
	free(out);
	return len;
}

/* ---------- simple patterns ---------- */

START_TEST(test_identical)
{
	static const size_t sizes[] = { PAGE, 4 * PAGE };
	uint8_t out[64];

	if (!use_impl(_i))
		return;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint8_t *page = xalloc(sizes[s]), *twin = xalloc(sizes[s]);

		rng_seed(s);
		for (size_t k = 0; k < sizes[s]; k++)
			page[k] = twin[k] = (uint8_t)rnd();
		ck_assert_uint_eq(dsm_diff_create(page, twin, sizes[s], out), 0);
		memset(page, 0, sizes[s]);
		memset(twin, 0, sizes[s]);
		ck_assert_uint_eq(dsm_diff_create(page, twin, sizes[s], out), 0);
		ck_assert_int_eq(dsm_diff_apply(page, sizes[s], out, 0), 0);
		free(page);
		free(twin);
	}
}
END_TEST

START_TEST(test_one_byte)
{
	/* First, last, middle, and both sides of every scanner boundary. */
	static const size_t offs[] = { 0, 1, 7, 8, 31, 32, 63, 64, 127, 128, 129,
				       2048, 2049, 4032, 4094, 4095 };
	uint8_t *page, *twin, *out;

	if (!use_impl(_i))
		return;
	page = xalloc(PAGE);
	twin = xalloc(PAGE);
	out = xalloc(dsm_diff_bound(PAGE));
	memset(twin, 0x5a, PAGE);
	for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
		struct dsm_diff_run run;
		size_t len;

		memcpy(page, twin, PAGE);
		page[offs[j]] = 0xa5;
		len = dsm_diff_create(page, twin, PAGE, out);
		ck_assert_uint_eq(len, RUN + 1);
		memcpy(&run, out, RUN);
		ck_assert_uint_eq(run.off, offs[j]);
		ck_assert_uint_eq(run.len, 1);
		ck_assert_uint_eq(out[RUN], 0xa5);
		diff_roundtrip(page, twin, PAGE);
	}
	free(out);
	free(twin);
	free(page);
}
END_TEST

START_TEST(test_full_page)
{
	static const size_t sizes[] = { PAGE, 4 * PAGE };

	if (!use_impl(_i))
		return;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t size = sizes[s];
		uint8_t *page = xalloc(size), *twin = xalloc(size), *out = xalloc(dsm_diff_bound(size));
		struct dsm_diff_run run;

		memset(twin, 0, size);
		memset(page, 0xff, size);
		ck_assert_uint_eq(dsm_diff_create(page, twin, size, out), RUN + size);
		memcpy(&run, out, RUN);
		ck_assert_uint_eq(run.off, 0);
		ck_assert_uint_eq(run.len, size);
		diff_roundtrip(page, twin, size);
		free(out);
		free(twin);
		free(page);
	}
}
END_TEST

/* Every other byte: size / 2 runs of one byte, 4.5 x size in all. */
START_TEST(test_alternate_bytes)
{
	static const size_t sizes[] = { PAGE, 4 * PAGE };

	if (!use_impl(_i))
		return;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t phase = 0; phase < 2; phase++) {
			size_t size = sizes[s], len;
			uint8_t *page = xalloc(size), *twin = xalloc(size);
			uint8_t *out = xalloc(dsm_diff_bound(size));

			memset(twin, 0, size);
			memset(page, 0, size);
			for (size_t k = phase; k < size; k += 2)
				page[k] = 1;
			len = dsm_diff_create(page, twin, size, out);
			ck_assert_uint_eq(len, size / 2 * (RUN + 1));
			ck_assert_uint_le(len, dsm_diff_bound(size));
			ck_assert_uint_eq(check_exact(page, twin, size, out, len), size / 2);
			diff_roundtrip(page, twin, size);
			free(out);
			free(twin);
			free(page);
		}
	}
}
END_TEST

/*
 * dsm_diff_bound() is the largest encoding: reached on a 4 KiB page (one-byte
 * runs with one two-byte run), and never exceeded by any of the 2^n patterns
 * of changed bytes on pages of n <= 12 bytes, whose maximum it equals.
 */
START_TEST(test_bound)
{
	uint8_t *page, *twin, *out;

	if (!use_impl(_i))
		return;
	page = xalloc(PAGE);
	twin = xalloc(PAGE);
	out = xalloc(dsm_diff_bound(PAGE));
	ck_assert_uint_eq(dsm_diff_bound(0), 0);
	ck_assert_uint_eq(dsm_diff_bound(PAGE), PAGE / 2 * 9 + 1);

	memset(twin, 0, PAGE);
	memset(page, 0, PAGE);
	for (size_t k = 0; k < PAGE; k += 2)
		page[k] = 1;
	page[PAGE - 1] = 1;		/* the last run is two bytes long */
	ck_assert_uint_eq(dsm_diff_create(page, twin, PAGE, out), dsm_diff_bound(PAGE));
	diff_roundtrip(page, twin, PAGE);

	for (size_t n = 1; n <= 12; n++) {
		size_t max = 0;

		for (uint32_t pat = 0; pat < 1u << n; pat++) {
			size_t len;

			for (size_t k = 0; k < n; k++) {
				twin[k] = 7;
				page[k] = pat >> k & 1 ? 9 : 7;
			}
			len = diff_roundtrip(page, twin, n);
			if (len > max)
				max = len;
		}
		ck_assert_uint_eq(max, dsm_diff_bound(n));
	}
	free(out);
	free(twin);
	free(page);
}
END_TEST

/* ---------- random pages ---------- */

enum pattern {
	PAT_SPARSE,	/* a few single bytes anywhere */
	PAT_DENSE,	/* each byte with probability 1/8 .. 7/8 */
	PAT_CLUSTERS,	/* a few ranges of 1 .. 300 bytes */
	PAT_WORDS,	/* some bytes of some 8-byte words: the merge case */
	PAT_NR
};

/* Make page a copy of twin with a random set of bytes changed. */
static void mutate(uint8_t *page, const uint8_t *twin, size_t size, enum pattern pat)
{
	size_t k, n;

	memcpy(page, twin, size);
	switch (pat) {
	case PAT_SPARSE:
		for (n = rnd() % 20; n; n--)
			change(page, twin, rnd() % size);
		break;
	case PAT_DENSE: {
		unsigned int p = 1 + rnd() % 7;

		for (k = 0; k < size; k++)
			if (rnd() % 8 < p)
				change(page, twin, k);
		break;
	}
	case PAT_CLUSTERS:
		for (n = 1 + rnd() % 8; n; n--) {
			size_t at = rnd() % size, len = 1 + rnd() % 300;

			for (k = at; k < at + len && k < size; k++)
				change(page, twin, k);
		}
		break;
	case PAT_WORDS:
		for (n = size >= 8 ? 1 + rnd() % 64 : 0; n; n--) {
			size_t w = (rnd() % (size / 8)) * 8;
			unsigned int bytes = (unsigned int)rnd();

			for (k = 0; k < 8; k++)
				if (bytes >> k & 1)
					change(page, twin, w + k);
		}
		break;
	default:
		break;
	}
}

/* Random twin: zeros (fresh pages) or random bytes. */
static void random_twin(uint8_t *twin, size_t size)
{
	bool zero = rnd() % 2;

	for (size_t k = 0; k < size; k++)
		twin[k] = zero ? 0 : (uint8_t)rnd();
}

START_TEST(test_random_pages)
{
	static const size_t sizes[] = { PAGE, 4 * PAGE };

	if (!use_impl(_i))
		return;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t size = sizes[s];
		uint8_t *page = xalloc(size), *twin = xalloc(size);

		rng_seed(1000 + s);
		for (int iter = 0; iter < 400; iter++) {
			random_twin(twin, size);
			mutate(page, twin, size, (enum pattern)(iter % PAT_NR));
			diff_roundtrip(page, twin, size);
		}
		free(twin);
		free(page);
	}
}
END_TEST

/* Sizes that are not a multiple of 64 or 128 reach each scanner's tail. */
START_TEST(test_odd_sizes)
{
	uint8_t *page, *twin;

	if (!use_impl(_i))
		return;
	page = xalloc(PAGE);
	twin = xalloc(PAGE);
	rng_seed(77);
	for (size_t size = 1; size <= 300; size++) {
		for (int iter = 0; iter < 8; iter++) {
			random_twin(twin, size);
			mutate(page, twin, size, (enum pattern)(iter % PAT_NR));
			diff_roundtrip(page, twin, size);
		}
	}
	free(twin);
	free(page);
}
END_TEST

/*
 * Memory that ends where an inaccessible page begins: a scanner or the
 * encoder that reads past the page or twin, or writes past the bound,
 * dies with SIGSEGV.
 */
static uint8_t *guarded(size_t n, void **map_p, size_t *map_len_p)
{
	size_t span = (n + PAGE - 1) / PAGE * PAGE + PAGE;
	uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert(m != MAP_FAILED);
	ck_assert_int_eq(mprotect(m + span - PAGE, PAGE, PROT_NONE), 0);
	*map_p = m;
	*map_len_p = span;
	return m + span - PAGE - n;
}

START_TEST(test_no_overrun)
{
	if (!use_impl(_i))
		return;
	rng_seed(99);
	for (size_t size = 1; size <= 2 * PAGE + 3; size += size < 300 ? 1 : 509) {
		void *mp, *mt, *mo;
		size_t lp, lt, lo, bound = dsm_diff_bound(size);
		uint8_t *page = guarded(size, &mp, &lp), *twin = guarded(size, &mt, &lt);
		uint8_t *out = guarded(bound, &mo, &lo);

		for (int iter = 0; iter < 5; iter++) {
			size_t len;

			random_twin(twin, size);
			mutate(page, twin, size, (enum pattern)(iter % PAT_NR));
			len = dsm_diff_create(page, twin, size, out);
			check_exact(page, twin, size, out, len);
		}
		/* The worst case fills out to its last byte. */
		memset(twin, 0, size);
		memset(page, 0, size);
		for (size_t k = 0; k < size; k += 2)
			page[k] = 1;
		if (size % 2 == 0)
			page[size - 1] = 1;
		ck_assert_uint_eq(dsm_diff_create(page, twin, size, out), bound);
		check_exact(page, twin, size, out, bound);
		munmap(mo, lo);
		munmap(mt, lt);
		munmap(mp, lp);
	}
}
END_TEST

/*
 * Two nodes write different bytes of one page, interleaved inside the same
 * words, in copies of one twin; the home applies both diffs to its copy,
 * in either order, and must end with both writes.
 */
START_TEST(test_merge)
{
	static const size_t sizes[] = { PAGE, 4 * PAGE };

	if (!use_impl(_i))
		return;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t size = sizes[s], bound = dsm_diff_bound(size);
		uint8_t *twin = xalloc(size), *a = xalloc(size), *b = xalloc(size);
		uint8_t *want = xalloc(size), *home = xalloc(size);
		uint8_t *da = xalloc(bound), *db = xalloc(bound);

		rng_seed(2000 + s);
		for (int iter = 0; iter < 200; iter++) {
			size_t la, lb;

			random_twin(twin, size);
			memcpy(a, twin, size);
			memcpy(b, twin, size);
			memcpy(want, twin, size);
			/*
			 * Each byte goes to node a, node b or neither; whole
			 * stretches of words at a time, or byte by byte.
			 */
			for (size_t k = 0; k < size; k++) {
				unsigned int who = iter % 3 == 0 ? (unsigned int)(k % 2) :
						   (unsigned int)(rnd() % 3);

				if (who == 0)
					change(a, twin, k), want[k] = a[k];
				else if (who == 1)
					change(b, twin, k), want[k] = b[k];
			}
			la = dsm_diff_create(a, twin, size, da);
			lb = dsm_diff_create(b, twin, size, db);
			check_exact(a, twin, size, da, la);
			check_exact(b, twin, size, db, lb);

			memcpy(home, twin, size);
			require(dsm_diff_apply(home, size, da, la) == 0);
			require(dsm_diff_apply(home, size, db, lb) == 0);
			require_msg(memcmp(home, want, size) == 0, "a then b lost a write");

			memcpy(home, twin, size);
			require(dsm_diff_apply(home, size, db, lb) == 0);
			require(dsm_diff_apply(home, size, da, la) == 0);
			require_msg(memcmp(home, want, size) == 0, "b then a lost a write");
		}
		free(db);
		free(da);
		free(home);
		free(want);
		free(b);
		free(a);
		free(twin);
	}
}
END_TEST

/* ---------- the two scanners agree ---------- */

START_TEST(test_impls_identical)
{
	static const size_t sizes[] = { PAGE, 4 * PAGE, 4 * PAGE + 100, 1000 };
	size_t max = 4 * PAGE + 100, bound = dsm_diff_bound(max);
	uint8_t *page, *twin, *d0, *d1;

	if (dsm_diff_select("avx2") == -ENOTSUP) {
		printf("check_diff: no avx2 scanner on this CPU or in this build: "
		       "nothing to compare the portable one with\n");
		return;
	}
	page = xalloc(max);
	twin = xalloc(max);
	d0 = xalloc(bound);
	d1 = xalloc(bound);
	rng_seed(3000);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t size = sizes[s];

		for (int iter = 0; iter < 400; iter++) {
			size_t l0, l1;

			random_twin(twin, size);
			mutate(page, twin, size, (enum pattern)(iter % PAT_NR));
			/* Different junk in the two buffers past the encodings. */
			memset(d0, 0x00, bound);
			memset(d1, 0xff, bound);
			require(dsm_diff_select("portable") == 0);
			l0 = dsm_diff_create(page, twin, size, d0);
			require(dsm_diff_select("avx2") == 0);
			l1 = dsm_diff_create(page, twin, size, d1);
			require_msg(l0 == l1 && memcmp(d0, d1, l0) == 0,
				    "size %zu iteration %d: portable and avx2 encodings differ (%zu vs %zu bytes)",
				    size, iter, l0, l1);
		}
	}
	free(d1);
	free(d0);
	free(twin);
	free(page);
}
END_TEST

START_TEST(test_select)
{
	ck_assert_int_eq(dsm_diff_select("sse9"), -EINVAL);
	ck_assert_int_eq(dsm_diff_select(""), -EINVAL);
	ck_assert_int_eq(dsm_diff_select("portable"), 0);
	ck_assert_str_eq(dsm_diff_impl(), "portable");
#if HAVE_AVX2
	__builtin_cpu_init();
	ck_assert_int_eq(dsm_diff_select("avx2"), __builtin_cpu_supports("avx2") ? 0 : -ENOTSUP);
#else
	ck_assert_int_eq(dsm_diff_select("avx2"), -ENOTSUP);
#endif
}
END_TEST

/* The default, before any dsm_diff_select(): the best this CPU runs. */
START_TEST(test_default_impl)
{
	const char *name = dsm_diff_impl();

#if HAVE_AVX2
	__builtin_cpu_init();
	ck_assert_str_eq(name, __builtin_cpu_supports("avx2") ? "avx2" : "portable");
#else
	ck_assert_str_eq(name, "portable");
#endif
}
END_TEST

/* ---------- malformed diffs ---------- */

/* Build a diff from (off, len) pairs, data bytes 0xee; returns its length. */
static size_t build(uint8_t *out, const uint32_t (*runs)[2], size_t nruns)
{
	size_t len = 0;

	for (size_t r = 0; r < nruns; r++) {
		struct dsm_diff_run run = { .off = runs[r][0], .len = runs[r][1] };

		memcpy(out + len, &run, RUN);
		len += RUN;
		/* Cap the data: the test cases only need it to be present. */
		memset(out + len, 0xee, run.len < 64 ? run.len : 64);
		len += run.len < 64 ? run.len : 64;
	}
	return len;
}

/* apply must fail with -EINVAL and leave every byte of the page as it was. */
static void expect_rejected(const uint8_t *diff, size_t len, const char *what)
{
	uint8_t *page = xalloc(PAGE), *orig = xalloc(PAGE);

	for (size_t k = 0; k < PAGE; k++)
		orig[k] = (uint8_t)(k * 13);
	memcpy(page, orig, PAGE);
	ck_assert_msg(dsm_diff_apply(page, PAGE, diff, len) == -EINVAL, "%s: not rejected", what);
	ck_assert_msg(memcmp(page, orig, PAGE) == 0, "%s: page modified", what);
	free(orig);
	free(page);
}

START_TEST(test_malformed)
{
	/* Each starts with a valid run, so a half-applied diff would show. */
	static const uint32_t ok_then_zero[][2] = { { 0, 4 }, { 100, 0 } };
	static const uint32_t ok_then_past_end[][2] = { { 0, 4 }, { PAGE - 2, 3 } };
	static const uint32_t ok_then_far[][2] = { { 0, 4 }, { 0xfffffff0u, 32 } };
	static const uint32_t ok_then_wrap[][2] = { { 0, 4 }, { 8, 0xfffffffcu } };
	static const uint32_t overlapping[][2] = { { 0, 4 }, { 10, 8 }, { 12, 4 } };
	static const uint32_t out_of_order[][2] = { { 0, 4 }, { 200, 4 }, { 100, 4 } };
	static const uint32_t repeated[][2] = { { 0, 4 }, { 0, 4 } };
	static const uint32_t ok[][2] = { { 0, 4 }, { 8, 2 } };
	uint8_t diff[1024];
	size_t len;

	len = build(diff, ok, 2);
	expect_rejected(diff, len - 2 - RUN + 3, "truncated header");
	expect_rejected(diff, 3, "truncated first header");
	expect_rejected(diff, len - 1, "truncated data");
	expect_rejected(diff, RUN + 4 + RUN, "header without data");

	len = build(diff, ok_then_zero, 2);
	expect_rejected(diff, len, "zero length");
	len = build(diff, ok_then_past_end, 2);
	expect_rejected(diff, len, "off + len > page");
	len = build(diff, ok_then_far, 2);
	expect_rejected(diff, len, "off far past the page");
	len = build(diff, ok_then_wrap, 2);
	expect_rejected(diff, len, "off + len wraps 32 bits");
	len = build(diff, overlapping, 3);
	expect_rejected(diff, len, "overlapping runs");
	len = build(diff, out_of_order, 3);
	expect_rejected(diff, len, "runs out of order");
	len = build(diff, repeated, 2);
	expect_rejected(diff, len, "run repeated");
}
END_TEST

/* What apply accepts: runs that touch, a run ending at the last byte. */
START_TEST(test_apply_edges)
{
	static const uint32_t touching[][2] = { { 0, 4 }, { 4, 4 }, { PAGE - 1, 1 } };
	uint8_t *page = xalloc(PAGE), diff[256];
	size_t len = build(diff, touching, 3);

	memset(page, 0, PAGE);
	ck_assert_int_eq(dsm_diff_apply(page, PAGE, diff, len), 0);
	for (size_t k = 0; k < PAGE; k++)
		require_msg(page[k] == (k < 8 || k == PAGE - 1 ? 0xee : 0), "byte %zu", k);
	free(page);
}
END_TEST

static Suite *diff_suite(void)
{
	Suite *s = suite_create("diff");
	TCase *tc;

	tc = tcase_create("patterns");
	tcase_add_loop_test(tc, test_identical, 0, 2);
	tcase_add_loop_test(tc, test_one_byte, 0, 2);
	tcase_add_loop_test(tc, test_full_page, 0, 2);
	tcase_add_loop_test(tc, test_alternate_bytes, 0, 2);
	tcase_add_loop_test(tc, test_bound, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_loop_test(tc, test_random_pages, 0, 2);
	tcase_add_loop_test(tc, test_odd_sizes, 0, 2);
	tcase_add_loop_test(tc, test_no_overrun, 0, 2);
	tcase_add_loop_test(tc, test_merge, 0, 2);
	tcase_add_test(tc, test_impls_identical);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("select");
	tcase_add_test(tc, test_default_impl);
	tcase_add_test(tc, test_select);
	suite_add_tcase(s, tc);

	tc = tcase_create("apply");
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_apply_edges);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(diff_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
