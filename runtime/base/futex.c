/* SPDX-License-Identifier: BSD-3-Clause */
/* futex.c - the process's counts of threads asleep on futex words (futex.h). */
#include "runtime/base/futex.h"

int dsm_futex_sleepers[DSM_FUTEX_BUCKETS];
