/* SPDX-License-Identifier: BSD-3-Clause */
/* futex.h - wait for a 32-bit word to change: async-signal-safe, so the
 * fault path may block on it (pthread condition variables are not). */
#ifndef DSM_BASE_FUTEX_H
#define DSM_BASE_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/compiler.h"

static inline void dsm_futex_wait(uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static inline void dsm_futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/*
 * Wait until *word != val.  Spins for up to spin_ns first: a cross-CPU
 * wake-up costs ~20 us on small machines, more than a loopback round trip
 * with busy polling, so a short spin pays when the answer is near.
 */
static inline void dsm_wait_change(uint32_t *word, uint32_t val, uint64_t spin_ns)
{
	if (spin_ns) {
		uint64_t end = dsm_now_ns() + spin_ns;

		do {
			if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != val)
				return;
			dsm_cpu_relax();
		} while (dsm_now_ns() < end);
	}
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == val)
		dsm_futex_wait(word, val);
}

#endif /* DSM_BASE_FUTEX_H */
