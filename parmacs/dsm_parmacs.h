/*
 * dsm_parmacs.h - the support library behind c.m4.dsm, the PARMACS macros
 * for SPLASH-2 and SPLASH-3 programs on libdsm.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * A PARMACS program never calls these functions itself: the macros of
 * c.m4.dsm expand to them (see dsm-parmacs(7) for the mapping).  They are
 * public only because the expanded program is compiled by the user.
 *
 * The lock, barrier and pause variables that LOCKDEC, BARDEC, GSDEC, ...
 * declare usually sit inside a structure allocated with G_MALLOC, i.e. in
 * the shared heap, where every node reads them.  So they hold only small
 * integers that mean the same thing on every node (a libdsm lock id), never
 * process-local state such as a pthread mutex.
 *
 * Every function either succeeds or ends the process with one line on
 * stderr naming the macro that failed and exit status 1: PARMACS programs
 * have no way to handle an error from LOCK or CREATE.
 */
#ifndef DSM_PARMACS_H
#define DSM_PARMACS_H

#include <stddef.h>

#include <dsm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* LOCKDEC: a libdsm lock id plus one; 0 means LOCKINIT has not run. */
struct dsm_parmacs_lock {
	unsigned id1;
};

/* ALOCKDEC: n consecutive lock ids from base (plus one, as above). */
struct dsm_parmacs_alock {
	unsigned base1;
	unsigned n;
};

/* BARDEC: every barrier maps onto the one libdsm barrier, so a barrier
 * variable only records that BARINIT ran. */
struct dsm_parmacs_bar {
	unsigned inited;
};

/* GSDEC: a lock, the next subscript GETSUB hands out, and how many
 * workers have been told that there are no more. */
struct dsm_parmacs_gs {
	struct dsm_parmacs_lock lock;
	long next;
	long done;
};

/* PAUSEDEC: a flag guarded by a lock; WAITPAUSE polls it under the lock. */
struct dsm_parmacs_pause {
	struct dsm_parmacs_lock lock;
	int flag;
};

/* SEMDEC: a counting semaphore, a count guarded by a lock. */
struct dsm_parmacs_sem {
	struct dsm_parmacs_lock lock;
	long count;
};

/* MAIN_INITENV: dsm_init (configuration from the DSM_* environment only),
 * and dsm_finalize when the program ends. */
void dsm_parmacs_init(void);

/* G_MALLOC and G_FREE (and the NU_ variants). */
void *dsm_parmacs_malloc(size_t size, const char *what);
void dsm_parmacs_free(void *ptr);

/* CREATE(fn): SPLASH-2, one call per extra worker. */
void dsm_parmacs_create1(void (*fn)(void));
/* CREATE(fn, n): SPLASH-3, n workers in all; the macro then calls fn(). */
void dsm_parmacs_createn(void (*fn)(void), long n);
/* WAIT_FOR_END(n). */
void dsm_parmacs_wait_for_end(long n);

/* CLOCK: microseconds of a monotonic clock. */
unsigned long dsm_parmacs_clock(void);
/* GET_PID: the worker's number in CREATE order (0 is the main thread of
 * node 0); 0 outside CREATE ... WAIT_FOR_END. */
long dsm_parmacs_worker_id(void);

void dsm_parmacs_lock_init(struct dsm_parmacs_lock *l, const char *what);
void dsm_parmacs_lock(struct dsm_parmacs_lock *l, const char *what);
void dsm_parmacs_unlock(struct dsm_parmacs_lock *l, const char *what);

void dsm_parmacs_alock_init(struct dsm_parmacs_alock *a, long n, const char *what);
void dsm_parmacs_alock(struct dsm_parmacs_alock *a, long i, const char *what);
void dsm_parmacs_aulock(struct dsm_parmacs_alock *a, long i, const char *what);

void dsm_parmacs_bar_init(struct dsm_parmacs_bar *b);
void dsm_parmacs_barrier(struct dsm_parmacs_bar *b, long n, const char *what);

void dsm_parmacs_gs_init(struct dsm_parmacs_gs *gs, const char *what);
/* GETSUB(gs, sub, max, n): sub = the next subscript while it is <= max,
 * else -1; once n workers have had their -1, the next round starts at 0. */
long dsm_parmacs_getsub(struct dsm_parmacs_gs *gs, long max, long n, const char *what);

void dsm_parmacs_pause_init(struct dsm_parmacs_pause *p, const char *what);
void dsm_parmacs_pause_set(struct dsm_parmacs_pause *p, int flag, const char *what);
void dsm_parmacs_pause_wait(struct dsm_parmacs_pause *p, const char *what);

void dsm_parmacs_sem_init(struct dsm_parmacs_sem *s, long count, const char *what);
void dsm_parmacs_sem_p(struct dsm_parmacs_sem *s, const char *what);
void dsm_parmacs_sem_v(struct dsm_parmacs_sem *s, const char *what);

/* Ends the process with "dsm_parmacs: node N: MSG" on stderr, status 1. */
void dsm_parmacs_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#ifdef __cplusplus
}
#endif

#endif /* DSM_PARMACS_H */
