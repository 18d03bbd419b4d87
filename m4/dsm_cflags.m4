# AX_DSM_CFLAGS: warnings that every libdsm file is built with.
AC_DEFUN([AX_DSM_CFLAGS], [
  DSM_CFLAGS="-Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes -Wshadow -fno-strict-aliasing"
  AC_SUBST([DSM_CFLAGS])
])
