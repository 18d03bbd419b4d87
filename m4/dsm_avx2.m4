# DSM_CHECK_AVX2: can the compiler build single functions for AVX2 (target
# attribute + intrinsics) and ask the CPU at run time (__builtin_cpu_supports)?
# The page-diff scanner of runtime/protocol/diff_avx2.c needs both; the
# runtime checks the CPU again before it uses it.  Defines HAVE_AVX2 to 0 or 1.
AC_DEFUN([DSM_CHECK_AVX2], [
  AC_ARG_ENABLE([avx2], [AS_HELP_STRING([--disable-avx2], [build only the portable page-diff scanner])],
    [], [enable_avx2=check])
  have_avx2=0
  AS_IF([test "x$enable_avx2" != xno], [
    AC_MSG_CHECKING([whether $CC builds AVX2 functions with target("avx2")])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <immintrin.h>
__attribute__((target("avx2"))) static int neq(const void *a, const void *b)
{
	__m256i x = _mm256_loadu_si256((const __m256i *)a);
	__m256i y = _mm256_loadu_si256((const __m256i *)b);
	__m256i d = _mm256_xor_si256(x, y);

	return _mm256_movemask_epi8(_mm256_cmpeq_epi8(x, y)) + _mm256_testz_si256(d, d);
}]], [[static char a[32], b[32];
__builtin_cpu_init();
return __builtin_cpu_supports("avx2") ? neq(a, b) : 0;]])],
      [have_avx2=1], [])
    AS_IF([test $have_avx2 = 1], [AC_MSG_RESULT([yes])], [AC_MSG_RESULT([no])])
    AS_IF([test "x$enable_avx2" = xyes && test $have_avx2 = 0],
      [AC_MSG_ERROR([--enable-avx2: $CC cannot build AVX2 functions])])
  ])
  AC_DEFINE_UNQUOTED([HAVE_AVX2], [$have_avx2], [compiler builds target("avx2") functions and __builtin_cpu_supports])
  AS_IF([test $have_avx2 = 1], [dsm_avx2_summary="avx2 (if the CPU has it), portable"], [dsm_avx2_summary="portable"])
])
