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

/*
 * Threads of this process asleep in dsm_wait_change, counted per bucket
 * of words (futex.c).  A wake-up call with nobody asleep costs a system
 * call, 1 to 3 us on small virtual machines, and most replies find their
 * waiter awake: it spins, or it delivered the reply itself
 * (dsm_rt_wait_reply).  So the waker skips the call while nobody sleeps
 * on a word of its word's bucket (buckets, so that a thread asleep in a
 * barrier does not cost every page's wake-up a call).  A sleeper counts
 * itself before the kernel reads the word, and the waker reads the count
 * after its store to the word (both sequentially consistent): either the
 * waker sees the sleeper, or the kernel sees the new word and does not
 * put the sleeper to sleep.
 */
#define DSM_FUTEX_BUCKETS 64
extern int dsm_futex_sleepers[DSM_FUTEX_BUCKETS];

static inline int *dsm_futex_bucket(const uint32_t *word)
{
	return &dsm_futex_sleepers[((uintptr_t)word / sizeof(*word)) % DSM_FUTEX_BUCKETS];
}

static inline void dsm_futex_wait(uint32_t *word, uint32_t val)
{
	int *sleepers = dsm_futex_bucket(word);

	__atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
	__atomic_fetch_sub(sleepers, 1, __ATOMIC_RELAXED);
}

/* After a store to *word: wake every thread asleep on it. */
static inline void dsm_futex_wake_all(uint32_t *word)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(dsm_futex_bucket(word), __ATOMIC_RELAXED) == 0)
		return;
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
