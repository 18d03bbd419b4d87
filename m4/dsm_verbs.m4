# DSM_CHECK_VERBS: libibverbs + librdmacm through pkg-config.  HAVE_VERBS 0/1.
AC_DEFUN([DSM_CHECK_VERBS], [
  AC_ARG_WITH([verbs], [AS_HELP_STRING([--without-verbs], [do not build the RDMA transport])],
    [], [with_verbs=check])
  have_verbs=0
  AS_IF([test "x$with_verbs" != xno], [
    PKG_CHECK_MODULES([VERBS], [libibverbs librdmacm], [have_verbs=1],
      [AS_IF([test "x$with_verbs" = xyes], [AC_MSG_ERROR([--with-verbs: libibverbs/librdmacm not found])])])
  ])
  AC_DEFINE_UNQUOTED([HAVE_VERBS], [$have_verbs], [RDMA verbs and rdma_cm headers])
  AM_CONDITIONAL([HAVE_VERBS], [test $have_verbs = 1])
  AS_IF([test $have_verbs = 1], [dsm_verbs_summary=", rdma (libibverbs + librdmacm)"], [dsm_verbs_summary=""])
])
