/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_common.h - what every multi-node test program shares: one way to fail
 * (one line naming the program and node, exit 1), to start, and to read
 * its numeric arguments.  Each program defines prog[] with its own name.
 */
#ifndef T_COMMON_H
#define T_COMMON_H

extern const char prog[];

/* Print "PROG: node N: <message>" on stderr and exit 1. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* dsm_init(argc, argv), or "PROG: dsm_init: why" on stderr and exit 1. */
void t_start(int *argc, char ***argv);

/* Run fn in n threads, each given its index (0 .. n-1) as (void *)(uintptr_t),
 * and wait for all of them; fail() if one cannot start. */
void t_run_threads(unsigned n, void *(*fn)(void *));

/* CLOCK_MONOTONIC, in seconds: deadlines and waits of the programs. */
double t_now(void);

/* A decimal argument from 1 to max, or fail() naming what it was for. */
unsigned parse_uint(const char *s, const char *what, unsigned long max);

#endif /* T_COMMON_H */
