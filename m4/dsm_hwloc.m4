# DSM_CHECK_HWLOC: hwloc through pkg-config.  HAVE_HWLOC 0/1.
AC_DEFUN([DSM_CHECK_HWLOC], [
  AC_ARG_WITH([hwloc], [AS_HELP_STRING([--without-hwloc], [no NUMA placement])],
    [], [with_hwloc=check])
  have_hwloc=0
  AS_IF([test "x$with_hwloc" != xno], [
    PKG_CHECK_MODULES([HWLOC], [hwloc], [have_hwloc=1],
      [AS_IF([test "x$with_hwloc" = xyes], [AC_MSG_ERROR([--with-hwloc: hwloc not found])])])
  ])
  AC_DEFINE_UNQUOTED([HAVE_HWLOC], [$have_hwloc], [hwloc])
  AM_CONDITIONAL([HAVE_HWLOC], [test $have_hwloc = 1])
  AS_IF([test $have_hwloc = 1], [dsm_hwloc_summary="hwloc (DSM_NUMA, DSM_BIND, dsmrun --bind)"], [dsm_hwloc_summary="no"])
])
