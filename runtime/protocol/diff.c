/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * diff.c - page diffs (see diff.h): the encoder every scanner shares, the
 * portable scanner, applying a diff, and the choice of scanner.
 *
 * A scanner compares page and twin a chunk of 64 bytes at a time.  Most
 * chunks of a page written in one interval are unchanged, so the scanners
 * test a whole chunk (or more) for equality first and look at single bytes
 * only where something differs.  There they build a 64-bit mask of the
 * differing bytes and give it to the encoder, which finds the run
 * boundaries as the bit transitions of the mask.  Runs are maximal, and
 * they depend only on which bytes differ, so every scanner yields the
 * same encoding.
 *
 * The portable scanner loads 8 bytes at a time through memcpy (no
 * alignment or aliasing assumptions) and turns each word of XORed bytes
 * into 8 mask bits without a branch.  diff_avx2.c compares 32 bytes per
 * instruction.  The best one this CPU runs is chosen at the first use.
 */
#include <errno.h>
#include <string.h>

#include "runtime/base/compiler.h"
#include "runtime/protocol/diff.h"

#define DSM_DIFF_CHUNK	64	/* bytes per mask */
#define DSM_DIFF_BLOCK	128	/* bytes the portable scanner tests for equality at once */

size_t dsm_diff_bound(size_t page_size)
{
	size_t runs = (page_size + 1) / 2;

	if (page_size == 0)
		return 0;
	/*
	 * k runs hold at least k data bytes and need k - 1 unchanged bytes
	 * between them, so k <= (size + 1) / 2, and their data is at most
	 * size - (k - 1) bytes: 8k + size - k + 1, largest at the largest k.
	 */
	return sizeof(struct dsm_diff_run) * runs + page_size - runs + 1;
}

/* ------------------------------------------------------------ encoder */

void dsm_diff_enc_init(struct dsm_diff_enc *e, const void *page, size_t page_size, void *out)
{
	e->out = out;
	e->page = page;
	e->size = page_size;
	e->cap = dsm_diff_bound(page_size);
	e->len = 0;
	e->start = 0;
	e->open = false;
}

/*
 * memcpy(), in pieces of 2 KiB when dst is a little above src modulo 4096.
 * A run's data lands 8 bytes (its header) past where the run starts in
 * the output, so for a run at page offset 0 and a page-aligned out, dst -
 * src is 8 modulo 4096.  glibc 2.36 copies more than 2 KiB with REP MOVSB,
 * and on the AMD EPYC where diffbench ran, 4 KiB took 1140 ns at a
 * distance of 8 (about 100 at 16 and 24, 42 elsewhere); raising
 * glibc.cpu.x86_rep_movsb_threshold in GLIBC_TUNABLES made it go away.
 * Pieces of 2 KiB take glibc's vector loop instead: 110 ns for 4 KiB at
 * distances 8 to 24 (loads that seem to alias the stores just made, 4K
 * aliasing), the same as REP MOVSB at 16 and 24.  Other distances keep
 * the single call.
 */
#define DSM_DIFF_COPY_PIECE 2048

static void dsm_diff_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t dist = ((uintptr_t)dst - (uintptr_t)src) & 4095;

	if (n > DSM_DIFF_COPY_PIECE && dist >= 1 && dist < 32) {
		while (n > DSM_DIFF_COPY_PIECE) {
			memcpy(dst, src, DSM_DIFF_COPY_PIECE);
			dst += DSM_DIFF_COPY_PIECE;
			src += DSM_DIFF_COPY_PIECE;
			n -= DSM_DIFF_COPY_PIECE;
		}
	}
	memcpy(dst, src, n);
}

/*
 * Copy exactly n >= 1 bytes: short copies as two overlapping fixed-size
 * moves, which the compiler inlines, instead of a call per run.  Applying
 * a diff must not store outside its runs: what follows a run's data in
 * the diff is the next run's header, and the page bytes between runs may
 * hold other writers' changes.
 */
static inline void dsm_diff_copy_exact(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (n > 16) {
		dsm_diff_copy(dst, src, n);
	} else if (n >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + n - 8, src + n - 8, 8);
	} else if (n >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + n - 4, src + n - 4, 4);
	} else if (n >= 2) {
		memcpy(dst, src, 2);
		memcpy(dst + n - 2, src + n - 2, 2);
	} else {
		*dst = *src;
	}
}

/*
 * Encode the run [start, end) at out + len: its header, then its data
 * copied from the page; returns the new length.  A run of up to 16 bytes
 * is copied with one 16-byte load and store where both the page and out
 * have the room: the bytes stored past the run are overwritten by the
 * next run or lie past the returned length.
 */
static inline size_t dsm_diff_enc_run(const struct dsm_diff_enc *e, size_t len, size_t start,
				      size_t end)
{
	struct dsm_diff_run run = {
		.off = (uint32_t)start,
		.len = (uint32_t)(end - start),
	};
	uint8_t *o = e->out + len;

	memcpy(o, &run, sizeof(run));
	o += sizeof(run);
	if (likely(run.len <= 16 && start + 16 <= e->size &&
		   len + sizeof(run) + 16 <= e->cap))
		memcpy(o, e->page + start, 16);
	else
		dsm_diff_copy(o, e->page + start, run.len);
	return len + sizeof(run) + run.len;
}

/*
 * Bit k of t is set where byte base + k differs and byte base + k - 1 did
 * not, or the other way round (byte base - 1 "differs" iff a run is open):
 * each is a run's first byte or the byte after its last.  They alternate,
 * so after the end of a run left open by the last chunk they come in
 * pairs, start and end, and an odd one out leaves a run open.  The state
 * lives in locals meanwhile, as the stores into out could alias it.
 */
void dsm_diff_enc_mask(struct dsm_diff_enc *e, size_t base, uint64_t m, unsigned int width)
{
	uint64_t valid = width >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << width) - 1;
	uint64_t t = (m ^ ((m << 1) | (uint64_t)e->open)) & valid;
	size_t len = e->len, start;

	if (!t)
		return;
	if (e->open) {
		len = dsm_diff_enc_run(e, len, e->start, base + (size_t)__builtin_ctzll(t));
		t &= t - 1;
	}
	while (t) {
		start = base + (size_t)__builtin_ctzll(t);
		t &= t - 1;
		if (!t) {
			e->start = start;
			e->len = len;
			e->open = true;
			return;
		}
		len = dsm_diff_enc_run(e, len, start, base + (size_t)__builtin_ctzll(t));
		t &= t - 1;
	}
	e->len = len;
	e->open = false;
}

void dsm_diff_enc_tail(struct dsm_diff_enc *e, size_t base, const void *twin)
{
	const uint8_t *t = twin;

	while (base < e->size) {
		size_t n = e->size - base < DSM_DIFF_CHUNK ? e->size - base : DSM_DIFF_CHUNK;
		uint64_t m = 0;
		size_t k;

		for (k = 0; k < n; k++)
			m |= (uint64_t)(e->page[base + k] != t[base + k]) << k;
		dsm_diff_enc_mask(e, base, m, (unsigned int)n);
		base += n;
	}
}

size_t dsm_diff_enc_finish(struct dsm_diff_enc *e)
{
	if (e->open) {
		e->len = dsm_diff_enc_run(e, e->len, e->start, e->size);
		e->open = false;
	}
	return e->len;
}

/* --------------------------------------------------- portable scanner */

static inline uint64_t dsm_diff_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Bit k set iff byte k (in memory order) of x is non-zero.  Adding 0x7f
 * to the low 7 bits of a byte carries into its top bit iff they are not
 * all zero; or-ing in the byte itself covers the top bit.  The multiply
 * then gathers the 8 flags (at bits 0, 8, ..., 56) into the top byte,
 * byte k's flag at bit 56 + k; no two partial products meet in one bit.
 */
static inline uint64_t dsm_diff_word_mask(uint64_t x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	x = ((x & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | x;
	x = (x >> 7) & 0x0101010101010101ull;
	return (x * 0x0102040810204080ull) >> 56;
}

/* Mask of the bytes of p[0, 64) that differ from t[0, 64). */
static inline uint64_t dsm_diff_mask64(const uint8_t *p, const uint8_t *t)
{
	uint64_t m = 0;
	unsigned int k;

#pragma GCC unroll 8
	for (k = 0; k < 8; k++)
		m |= dsm_diff_word_mask(dsm_diff_load64(p + 8 * k) ^
					dsm_diff_load64(t + 8 * k)) << (8 * k);
	return m;
}

static size_t dsm_diff_create_portable(const void *page, const void *twin, size_t page_size,
				       void *out)
{
	const uint8_t *p = page, *t = twin;
	struct dsm_diff_enc e;
	size_t base;

	dsm_diff_enc_init(&e, page, page_size, out);
	for (base = 0; base + DSM_DIFF_BLOCK <= page_size; base += DSM_DIFF_BLOCK) {
		uint64_t any = 0;
		unsigned int k;

		/* Whole block unchanged? */
#pragma GCC unroll 16
		for (k = 0; k < DSM_DIFF_BLOCK / 8; k++)
			any |= dsm_diff_load64(p + base + 8 * k) ^ dsm_diff_load64(t + base + 8 * k);
		if (likely(!any)) {
			if (e.open)
				dsm_diff_enc_mask(&e, base, 0, DSM_DIFF_CHUNK);
			continue;
		}
		for (k = 0; k < DSM_DIFF_BLOCK; k += DSM_DIFF_CHUNK)
			dsm_diff_enc_chunk(&e, base + k, dsm_diff_mask64(p + base + k, t + base + k));
	}
	for (; base + DSM_DIFF_CHUNK <= page_size; base += DSM_DIFF_CHUNK)
		dsm_diff_enc_chunk(&e, base, dsm_diff_mask64(p + base, t + base));
	dsm_diff_enc_tail(&e, base, twin);
	return dsm_diff_enc_finish(&e);
}

static bool dsm_diff_portable_supported(void)
{
	return true;
}

static const struct dsm_diff_ops dsm_diff_portable_ops = {
	.name      = "portable",
	.supported = dsm_diff_portable_supported,
	.create    = dsm_diff_create_portable,
};

/* -------------------------------------------------------------- apply */

int dsm_diff_apply(void *page, size_t page_size, const void *diff, size_t len)
{
	const uint8_t *d = diff;
	uint64_t prev_end = 0;
	size_t pos = 0;

	/* Validate all of it first: a rejected diff must leave page as it was. */
	while (pos < len) {
		struct dsm_diff_run run;

		if (len - pos < sizeof(run))
			return -EINVAL;		/* truncated header */
		memcpy(&run, d + pos, sizeof(run));
		pos += sizeof(run);
		if (run.len == 0 || run.off < prev_end ||
		    (uint64_t)run.off + run.len > page_size || len - pos < run.len)
			return -EINVAL;
		prev_end = (uint64_t)run.off + run.len;
		pos += run.len;
	}

	for (pos = 0; pos < len; ) {
		struct dsm_diff_run run;

		memcpy(&run, d + pos, sizeof(run));
		pos += sizeof(run);
		dsm_diff_copy_exact((uint8_t *)page + run.off, d + pos, run.len);
		pos += run.len;
	}
	return 0;
}

/* ------------------------------------------------- choosing a scanner */

/* Best first: the first one this CPU supports is the default. */
static const struct dsm_diff_ops *const dsm_diff_impls[] = {
	&dsm_diff_avx2_ops,
	&dsm_diff_portable_ops,
};

/* NULL until the first use picks the default; dsm_diff_select() replaces it. */
static const struct dsm_diff_ops *dsm_diff_cur;

static const struct dsm_diff_ops *dsm_diff_ops_get(void)
{
	const struct dsm_diff_ops *ops = __atomic_load_n(&dsm_diff_cur, __ATOMIC_ACQUIRE);
	const struct dsm_diff_ops *expected = NULL;
	size_t i;

	if (likely(ops))
		return ops;
	for (i = 0; i < ARRAY_SIZE(dsm_diff_impls); i++) {
		ops = dsm_diff_impls[i];
		if (ops->supported())
			break;
	}
	/* Threads racing here pick the same; a dsm_diff_select() in between wins. */
	if (!__atomic_compare_exchange_n(&dsm_diff_cur, &expected, ops, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		ops = expected;
	return ops;
}

size_t dsm_diff_create(const void *page, const void *twin, size_t page_size, void *out)
{
	return dsm_diff_ops_get()->create(page, twin, page_size, out);
}

const char *dsm_diff_impl(void)
{
	return dsm_diff_ops_get()->name;
}

int dsm_diff_select(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dsm_diff_impls); i++) {
		const struct dsm_diff_ops *ops = dsm_diff_impls[i];

		if (strcmp(ops->name, name) != 0)
			continue;
		if (!ops->supported())
			return -ENOTSUP;
		__atomic_store_n(&dsm_diff_cur, ops, __ATOMIC_RELEASE);
		return 0;
	}
	return -EINVAL;
}
