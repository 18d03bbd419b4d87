/* SPDX-License-Identifier: BSD-3-Clause */
/* compiler.h - small helpers every libdsm file may use. */
#ifndef DSM_BASE_COMPILER_H
#define DSM_BASE_COMPILER_H

#include <stddef.h>

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define DSM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Tell the CPU we are spinning (saves power, yields to the sibling thread). */
#if defined(__x86_64__) || defined(__i386__)
#define dsm_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define dsm_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define dsm_cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/* Relaxed counters: statistics only, never used for synchronization. */
#define dsm_count(var, n) __atomic_fetch_add(&(var), (n), __ATOMIC_RELAXED)

#endif /* DSM_BASE_COMPILER_H */
