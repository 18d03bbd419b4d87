/* SPDX-License-Identifier: BSD-3-Clause */
/* clock.h - monotonic time in nanoseconds (vDSO: async-signal-safe). */
#ifndef DSM_BASE_CLOCK_H
#define DSM_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t dsm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* DSM_BASE_CLOCK_H */
