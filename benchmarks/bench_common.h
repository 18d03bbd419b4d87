/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_common.h - what the benchmarks (microbench, kernels, diffbench)
 * share: the clock, medians and quantiles of samples, option integers and
 * the consistency model's name.
 *
 * Nothing here calls into libdsm, so that diffbench, which links the
 * internal library for the diff code alone, pulls in no more of it.
 */
#ifndef DSM_BENCH_COMMON_H
#define DSM_BENCH_COMMON_H

#include <stdint.h>
#include <time.h>

#include <dsm.h>

/* CLOCK_MONOTONIC in nanoseconds; inline, to keep timed regions tight. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in seconds. */
static inline double bench_now(void)
{
	return (double)bench_now_ns() * 1e-9;
}

/* Sorts v in place; the median, for an even n the mean of the middle two. */
double bench_median(double *v, int n);

/* Sorts v in place; the nearest-rank q-quantile (0 < q <= 1). */
double bench_quantile(double *v, int n, double q);

/* Parse s as a decimal integer in [lo, hi] into *out; 0 or -1. */
int bench_parse_long(const char *s, long lo, long hi, long *out);

/* The same into an int ([lo, hi] within int's range). */
int bench_parse_int(const char *s, long lo, long hi, int *out);

/* Model m's name as DSM_CONSISTENCY spells it. */
const char *bench_model_name(dsm_consistency_t m);

/* The whole of len bytes over a connected socket.  0, or -1 (errno). */
int bench_send_all(int fd, const void *buf, size_t len);
int bench_recv_all(int fd, void *buf, size_t len);

#endif /* DSM_BENCH_COMMON_H */
