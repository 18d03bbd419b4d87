/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * diff_avx2.c - the AVX2 page-diff scanner (see diff.h and diff.c).
 *
 * The library is built for the baseline x86-64, so only the functions
 * here are compiled for AVX2, through the target attribute, and diff.c
 * calls them only after __builtin_cpu_supports("avx2") said yes (which
 * also checks that the kernel saves the YMM registers).
 *
 * Per 128 bytes: four 32-byte loads from each side, XOR, OR together and
 * one VPTEST tell whether anything changed, the common case being no.
 * Only then does VPCMPEQB + VPMOVMSKB turn each 32-byte half-chunk into
 * 32 mask bits (inverted: set where the bytes differ); two of them make
 * the 64-bit chunk mask that the shared encoder in diff.c turns into runs,
 * so the encoding is the portable scanner's, byte for byte.
 *
 * Without compiler support (configure's DSM_CHECK_AVX2) the ops report
 * the CPU unsupported and diff.c never calls create.
 */
#include "runtime/protocol/diff.h"

#if HAVE_AVX2
#include <immintrin.h>

#include "runtime/base/compiler.h"

#define DSM_DIFF_AVX2_BLOCK 128	/* bytes tested for equality at once */

/* Mask of the bytes of p[0, 64) that differ from t[0, 64). */
__attribute__((target("avx2")))
static inline uint64_t dsm_diff_avx2_mask64(__m256i p0, __m256i p1, __m256i t0, __m256i t1)
{
	uint32_t eq0 = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(p0, t0));
	uint32_t eq1 = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(p1, t1));

	return ~((uint64_t)eq0 | (uint64_t)eq1 << 32);
}

__attribute__((target("avx2")))
static size_t dsm_diff_create_avx2(const void *page, const void *twin, size_t page_size,
				   void *out)
{
	const uint8_t *p = page, *t = twin;
	struct dsm_diff_enc e;
	size_t base;

	dsm_diff_enc_init(&e, page, page_size, out);
	for (base = 0; base + DSM_DIFF_AVX2_BLOCK <= page_size; base += DSM_DIFF_AVX2_BLOCK) {
		__m256i p0 = _mm256_loadu_si256((const __m256i *)(p + base));
		__m256i p1 = _mm256_loadu_si256((const __m256i *)(p + base + 32));
		__m256i p2 = _mm256_loadu_si256((const __m256i *)(p + base + 64));
		__m256i p3 = _mm256_loadu_si256((const __m256i *)(p + base + 96));
		__m256i t0 = _mm256_loadu_si256((const __m256i *)(t + base));
		__m256i t1 = _mm256_loadu_si256((const __m256i *)(t + base + 32));
		__m256i t2 = _mm256_loadu_si256((const __m256i *)(t + base + 64));
		__m256i t3 = _mm256_loadu_si256((const __m256i *)(t + base + 96));
		__m256i x = _mm256_or_si256(
			_mm256_or_si256(_mm256_xor_si256(p0, t0), _mm256_xor_si256(p1, t1)),
			_mm256_or_si256(_mm256_xor_si256(p2, t2), _mm256_xor_si256(p3, t3)));

		if (likely(_mm256_testz_si256(x, x))) {
			if (e.open)
				dsm_diff_enc_mask(&e, base, 0, 64);
			continue;
		}
		dsm_diff_enc_chunk(&e, base, dsm_diff_avx2_mask64(p0, p1, t0, t1));
		dsm_diff_enc_chunk(&e, base + 64, dsm_diff_avx2_mask64(p2, p3, t2, t3));
	}
	if (base + 64 <= page_size) {
		__m256i p0 = _mm256_loadu_si256((const __m256i *)(p + base));
		__m256i p1 = _mm256_loadu_si256((const __m256i *)(p + base + 32));
		__m256i t0 = _mm256_loadu_si256((const __m256i *)(t + base));
		__m256i t1 = _mm256_loadu_si256((const __m256i *)(t + base + 32));

		dsm_diff_enc_chunk(&e, base, dsm_diff_avx2_mask64(p0, p1, t0, t1));
		base += 64;
	}
	dsm_diff_enc_tail(&e, base, twin);
	return dsm_diff_enc_finish(&e);
}

static bool dsm_diff_avx2_supported(void)
{
	/* Needed if this runs before libgcc's constructor did it. */
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

const struct dsm_diff_ops dsm_diff_avx2_ops = {
	.name      = "avx2",
	.supported = dsm_diff_avx2_supported,
	.create    = dsm_diff_create_avx2,
};

#else /* !HAVE_AVX2 */

static bool dsm_diff_avx2_supported(void)
{
	return false;
}

/* Never called: dsm_diff_select() and the default choice check supported. */
static size_t dsm_diff_create_avx2(const void *page, const void *twin, size_t page_size,
				   void *out)
{
	return 0;
}

const struct dsm_diff_ops dsm_diff_avx2_ops = {
	.name      = "avx2",
	.supported = dsm_diff_avx2_supported,
	.create    = dsm_diff_create_avx2,
};

#endif /* HAVE_AVX2 */
