# dsm_libfuzzer.m4 - clang with libFuzzer, for the fuzz targets in tests/fuzz.
# SPDX-License-Identifier: BSD-3-Clause
#
# DSM_CHECK_LIBFUZZER: look for clang (or $CLANG) and check that it links a
# -fsanitize=fuzzer,address,undefined program.  The library itself is
# built with $CC whatever it is; the fuzz targets are built with $CLANG by
# rules in tests/fuzz/Makefile.inc.  Sets HAVE_LIBFUZZER (automake
# conditional) and dsm_libfuzzer_summary; without it `make check` skips
# the fuzz run (77) and says why.
AC_DEFUN([DSM_CHECK_LIBFUZZER], [
AC_ARG_VAR([CLANG], [clang with libFuzzer, for the fuzz targets (tests/fuzz)])
AC_CHECK_PROGS([CLANG], [clang clang-16 clang-15 clang-14])
dsm_have_libfuzzer=no
AS_IF([test -n "$CLANG"], [
  AC_MSG_CHECKING([whether $CLANG -fsanitize=fuzzer works])
  cat > conftest-fuzz.c <<_DSM_EOF
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return n && d[[0]] == 1; }
_DSM_EOF
  AS_IF([$CLANG -fsanitize=fuzzer,address,undefined conftest-fuzz.c -o conftest-fuzz >&AS_MESSAGE_LOG_FD 2>&1],
    [dsm_have_libfuzzer=yes])
  rm -f conftest-fuzz.c conftest-fuzz
  AC_MSG_RESULT([$dsm_have_libfuzzer])
])
AS_IF([test "x$dsm_have_libfuzzer" = xyes],
  [dsm_libfuzzer_summary="yes ($CLANG)"],
  [dsm_libfuzzer_summary="no (apt-get install clang)"])
AM_CONDITIONAL([HAVE_LIBFUZZER], [test "x$dsm_have_libfuzzer" = xyes])
])
