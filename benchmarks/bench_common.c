/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_common.c - what the benchmarks share (see bench_common.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "benchmarks/bench_common.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_quantile(double *v, int n, double q)
{
	int k;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	k = (int)ceil(q * n) - 1;
	if (k < 0)
		k = 0;
	return v[k];
}

int bench_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int bench_parse_int(const char *s, long lo, long hi, int *out)
{
	long v;

	if (bench_parse_long(s, lo, hi, &v))
		return -1;
	*out = (int)v;
	return 0;
}

const char *bench_model_name(dsm_consistency_t m)
{
	switch (m) {
	case DSM_SEQUENTIAL:
		return "sequential";
	case DSM_RELEASE:
		return "release";
	case DSM_WEAK:
		return "weak";
	}
	return "unknown";
}

/* send or recv until len bytes have moved. */
static int move_all(int fd, char *p, size_t len, int out)
{
	while (len) {
		ssize_t n = out ? send(fd, p, len, 0) : recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bench_send_all(int fd, const void *buf, size_t len)
{
	return move_all(fd, (char *)buf, len, 1);
}

int bench_recv_all(int fd, void *buf, size_t len)
{
	return move_all(fd, buf, len, 0);
}
