/* SPDX-License-Identifier: BSD-3-Clause */
/* t_common.c - see t_common.h. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dsm.h>

#include "t_common.h"

void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: node %d: ", prog, dsm_node_id());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void t_start(int *argc, char ***argv)
{
	int rc = dsm_init(argc, argv);

	if (rc) {
		fprintf(stderr, "%s: dsm_init: %s\n", prog, dsm_strerror(rc));
		exit(1);
	}
}

void t_run_threads(unsigned n, void *(*fn)(void *))
{
	pthread_t *th = calloc(n, sizeof(*th));
	int rc;

	if (!th)
		fail("out of memory for %u threads", n);
	for (unsigned t = 0; t < n; t++) {
		rc = pthread_create(&th[t], NULL, fn, (void *)(uintptr_t)t);
		if (rc)
			fail("pthread_create: %s", strerror(rc));
	}
	for (unsigned t = 0; t < n; t++)
		pthread_join(th[t], NULL);
	free(th);
}

double t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

unsigned parse_uint(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		fail("bad %s '%s'", what, s);
	return (unsigned)v;
}
