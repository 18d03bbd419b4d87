/* SPDX-License-Identifier: BSD-3-Clause */
/* futex.c - the process's count of threads asleep on a futex word (futex.h). */
#include "runtime/base/futex.h"

int dsm_futex_sleepers;
