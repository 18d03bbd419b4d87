/* SPDX-License-Identifier: BSD-3-Clause */
/* log.h - one line per event on stderr, filtered by DSM_LOG. */
#ifndef DSM_BASE_LOG_H
#define DSM_BASE_LOG_H

#include "runtime/base/compiler.h"

enum dsm_log_level { DSM_LOG_ERROR, DSM_LOG_WARN, DSM_LOG_INFO, DSM_LOG_DEBUG };

/* Set at dsm_init (before its threads start), by configuration parsing;
 * atomic (relaxed) loads and stores, since tests parse several nodes'
 * configurations in threads of one process. */
extern int dsm_log_level;
extern int dsm_log_node;

/* printf-style; prefixes "dsm[node N]: <level>: " and appends a newline.
 * Uses one write(2) per line so lines of concurrent threads never mix.
 * Not for signal context: see dsm_log_sigsafe(). */
void dsm_log(enum dsm_log_level level, const char *fmt, ...) DSM_PRINTF(2, 3);

#define dsm_err(...)   dsm_log(DSM_LOG_ERROR, __VA_ARGS__)
#define dsm_warn(...)  dsm_log(DSM_LOG_WARN, __VA_ARGS__)
#define dsm_info(...)  dsm_log(DSM_LOG_INFO, __VA_ARGS__)
#define dsm_debug(...) do { if (unlikely(dsm_log_level >= DSM_LOG_DEBUG)) dsm_log(DSM_LOG_DEBUG, __VA_ARGS__); } while (0)

/* Async-signal-safe: writes "dsm[node N]: fatal: <msg>: <errno text>\n"
 * with write(2) only (no malloc, no stdio).  err is a positive errno or 0. */
void dsm_log_sigsafe(const char *msg, int err);

/* Print one error line and end the process at once (_exit(1)): for states
 * the job cannot survive, such as a lost peer.  Any thread; not signal-safe. */
void dsm_die(const char *fmt, ...) DSM_PRINTF(1, 2) __attribute__((noreturn));

#endif /* DSM_BASE_LOG_H */
