/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * app.h - what every app of the suite does the same way (public API only).
 *
 * The apps are SPMD programs over dsm.h: every node runs main(), allocates
 * shared data collectively, works on its part and synchronizes with
 * barriers and locks only, so that each one is data-race-free and gives the
 * same answer under sequential, release and weak consistency.  This file
 * holds the plumbing they share so that each app's source is its algorithm:
 *
 *   app_start()     dsm_init, or one line and exit 1
 *   app_parse_args  the options, by a table (app_parse_long: one integer)
 *   app_usage_error bad arguments: node 0 prints the usage, exit status 2
 *   app_alloc_failed  a collective allocation failed: one line, exit status 1
 *   app_now()       CLOCK_MONOTONIC seconds
 *   app_team_*      -t THREADS application threads per node with a
 *                   node-wide barrier around the collective dsm_barrier
 *   app_check_report  this node's check: one line if it failed
 *   app_all_ok()    collective: did every node's check pass?
 *   app_take_checkpoint_every, app_resume_point, app_checkpoint_due,
 *   app_team_checkpoint
 *                   resumable apps (--checkpoint-every N, DSM_RESTART=1)
 *   app_fnv1a, app_checksum
 *                   collective: node 0 prints a checksum of the result
 *   app_finish()    node 0 prints the DSM_RESULT line; dsm_finalize; exit code
 *
 * The machine-readable line (node 0, stdout) is
 *   DSM_RESULT app=NAME nodes=N model=MODEL size=SIZE threads=T seconds=S check=passed|failed
 * with SIZE a token without spaces (for example 512x512 or 1048576).
 */
#ifndef DSM_APP_H
#define DSM_APP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dsm.h>

#define APP_MAX_THREADS 64

/*
 * dsm_init(argc, argv); on failure one line "NAME: dsm_init: why" and
 * exit(1).  Every node sees the same argv, so only node 0 lets getopt()
 * complain (opterr).
 */
void app_start(const char *name, int *argc, char ***argv);

/* Parse s as a decimal integer in [lo, hi] into *out; 0 or -1. */
int app_parse_long(const char *s, long lo, long hi, long *out);

/*
 * One option of app_parse_args(): its letter and where its argument goes,
 * one of a long or an int in [lo, hi] (app_parse_long) or whatever
 * parse(arg, to) makes of it (0, or -1 if it is bad).  A letter of 0 ends
 * the table.
 */
struct app_opt {
	int letter;
	long *l;
	int *i;
	long lo, hi;
	int (*parse)(const char *arg, void *to);
	void *to;
};

/*
 * Parse argv (after app_start) with getopt(optstring), each option by its
 * entry in opts.  An option without an entry (such as an "h" in optstring)
 * or a bad value does not stop the parsing: every option is looked at.
 * Returns 0, or -1 if any option or value was bad or an operand is left.
 */
int app_parse_args(int argc, char **argv, const char *optstring,
		   const struct app_opt *opts);

/*
 * Collective, for bad arguments (the same on every node, so every node
 * takes this path and finalizing stays balanced): node 0 calls usage(prog),
 * then dsm_finalize().  Returns the process's exit status, 2.
 */
int app_usage_error(void (*usage)(const char *prog), const char *prog);

/*
 * Collective, when dsm_alloc_collective() failed (it fails on every node
 * alike, so all of them get here): one line
 *   NAME: node N: cannot allocate WHAT: strerror(errno)
 * with WHAT formatted from fmt, then dsm_finalize().  Returns the process's
 * exit status, 1.
 */
int app_alloc_failed(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Seconds on CLOCK_MONOTONIC. */
double app_now(void);

/* The consistency model's name as DSM_CONSISTENCY spells it. */
const char *app_model_name(void);

/*
 * splitmix64: a deterministic hash of (i, k) to a double in [0, 1), for
 * inputs that every node (and the check) generates alike.
 */
double app_hash01(uint64_t i, uint64_t k);

/* Block partition of [0, total) into nparts: part k gets [*lo, *hi). */
void app_block_range(long total, int nparts, int k, long *lo, long *hi);

/*
 * A node's application threads.  app_team_run() starts nthreads threads
 * running fn(team, tid, arg) (tid 0 is the calling thread) and joins them;
 * 0 or an errno value (logged).
 */
struct app_team {
	int nthreads;
	pthread_barrier_t pbar;
	void *arg;
	void *(*fn)(struct app_team *team, int tid, void *arg);
};

int app_team_run(struct app_team *team, int nthreads,
		 void *(*fn)(struct app_team *team, int tid, void *arg), void *arg);

/*
 * The node-wide barrier: every thread of the node, then one dsm_barrier()
 * (collective: one thread per node), then every thread again.  The first
 * pthread barrier orders all the node's writes before the DSM release; the
 * second keeps every thread from reading before the DSM acquire.
 */
void app_team_barrier(struct app_team *team, int tid);

/*
 * This node's part of the check, bad the number of values that differ or
 * -1 if the check ran out of memory: for bad < 0 one line
 *   NAME: node N: out of memory for the check
 * for bad > 0 one line
 *   NAME: node N: BAD WHAT
 * with WHAT formatted from fmt.  Returns bad == 0 (for app_all_ok()).
 */
bool app_check_report(const char *name, long bad, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Collective (one thread per node): true on every node if ok is true on
 * every node.  Uses a small shared array allocated by app_start().
 */
bool app_all_ok(bool ok);

/*
 * Resumable apps (jacobi.c and sor.c): --checkpoint-every N takes a
 * checkpoint every N steps with the step to resume at in shared memory
 * (*resume, written by node 0 before each checkpoint); run again with
 * DSM_RESTART=1 (dsmrun --restart) and the same arguments, the app
 * allocates as before, finds its data and *resume restored, skips its
 * initialization and goes on from step *resume, to the same bits as a run
 * without failures.
 *
 * app_take_checkpoint_every() takes "--checkpoint-every N" (or "=N") out
 * of argv, into *every (getopt does short options only; the apps take
 * -c N too).  0, or -1 for a bad value.
 */
int app_take_checkpoint_every(int *argc, char **argv, long *every);

/*
 * After the collective allocations: the step to start at, 0, or after a
 * restart *resume (shared, restored), and node 0 prints
 *   NAME: restarted from checkpoint epoch E at UNIT N
 */
long app_resume_point(const char *name, const long *resume, const char *unit);

/* Is a checkpoint due before step next of total (every 0: never)? */
bool app_checkpoint_due(long every, long next, long total);

/*
 * In place of app_team_barrier() before step next: every thread of the
 * node, then thread 0 (node 0's: first *resume = next) calls the
 * collective dsm_checkpoint(), a barrier too, then every thread again.
 * If the checkpoint fails thread 0 prints one line
 *   NAME: node N: dsm_checkpoint before step NEXT: why
 * and gets false; true otherwise.
 */
bool app_team_checkpoint(struct app_team *team, int tid, const char *name,
			 long *resume, long next);

/* 64-bit FNV-1a: h (APP_FNV1A_BASIS to begin with) on over len bytes at p. */
#define APP_FNV1A_BASIS 0xcbf29ce484222325ull
uint64_t app_fnv1a(uint64_t h, const void *p, size_t len);

/*
 * Collective (one thread per node): the FNV-1a of every node's mine, in
 * node order, which node 0 prints as
 *   NAME: checksum %016x
 * to compare runs by (a restarted one with one without failures).
 */
uint64_t app_checksum(const char *name, uint64_t mine);

/*
 * Collective, the last call: node 0 prints the DSM_RESULT line (size is
 * printed as given), then dsm_finalize().  Returns the process's exit
 * status: 0 if passed and finalize succeeded, 1 otherwise.
 */
int app_finish(const char *name, const char *size, int threads, double seconds,
	       bool passed);

#endif /* DSM_APP_H */
