/* SPDX-License-Identifier: BSD-3-Clause */
/* log.c - logging to stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/log.h"

int dsm_log_level = DSM_LOG_WARN;
int dsm_log_node = -1;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static void vlog(const char *level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	int node = __atomic_load_n(&dsm_log_node, __ATOMIC_RELAXED);

	if (node >= 0)
		n = snprintf(line, sizeof(line), "dsm[node %d]: %s: ", node, level);
	else
		n = snprintf(line, sizeof(line), "dsm: %s: ", level);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line: lines of different threads and nodes stay whole. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void dsm_log(enum dsm_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > __atomic_load_n(&dsm_log_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vlog(level_names[level], fmt, ap);
	va_end(ap);
}

void dsm_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", fmt, ap);
	va_end(ap);
	_exit(1);
}

static size_t put(char *dst, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		dst[at++] = *s++;
	return at;
}

void dsm_log_sigsafe(const char *msg, int err)
{
	char line[512], num[16];
	size_t at = 0;
	int i = 0, v = __atomic_load_n(&dsm_log_node, __ATOMIC_RELAXED);

	at = put(line, at, sizeof(line) - 1, "dsm[node ");
	if (v < 0)
		v = 0;
	do
		num[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < 15);
	while (i)
		line[at++] = num[--i];
	at = put(line, at, sizeof(line) - 1, "]: fatal: ");
	at = put(line, at, sizeof(line) - 1, msg);
	if (err) {
		at = put(line, at, sizeof(line) - 1, ": ");
		/* strerror is not async-signal-safe in general; strerrorname_np
		 * returns a static string and is good enough here. */
		at = put(line, at, sizeof(line) - 1, strerrorname_np(err) ? strerrorname_np(err) : "?");
	}
	line[at++] = '\n';
	if (write(STDERR_FILENO, line, at) < 0)
		return;
}
