# DSM_CHECK_UFFD: does linux/userfaultfd.h compile here?  (The runtime checks
# again that the kernel lets us use it.)  Defines HAVE_UFFD to 0 or 1.
AC_DEFUN([DSM_CHECK_UFFD], [
  AC_ARG_ENABLE([uffd], [AS_HELP_STRING([--disable-uffd], [do not build the userfaultfd fault backend])],
    [], [enable_uffd=yes])
  have_uffd=0
  AS_IF([test "x$enable_uffd" != xno], [
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <linux/userfaultfd.h>
#include <sys/ioctl.h>]], [[struct uffdio_writeprotect wp; (void)wp; return UFFDIO_REGISTER_MODE_WP + UFFD_FEATURE_MINOR_SHMEM;]])],
      [have_uffd=1])
  ])
  AC_DEFINE_UNQUOTED([HAVE_UFFD], [$have_uffd], [userfaultfd headers with write-protect and minor faults])
  AS_IF([test $have_uffd = 1], [dsm_uffd_summary=", userfaultfd"], [dsm_uffd_summary=""])
])
