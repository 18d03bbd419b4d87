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
 *   app_parse_long  strict integer option parsing
 *   app_now()       CLOCK_MONOTONIC seconds
 *   app_team_*      -t THREADS application threads per node with a
 *                   node-wide barrier around the collective dsm_barrier
 *   app_all_ok()    collective: did every node's check pass?
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

#include <dsm.h>

#define APP_MAX_THREADS 64

/* dsm_init(argc, argv); on failure one line "NAME: dsm_init: why" and exit(1). */
void app_start(const char *name, int *argc, char ***argv);

/* Parse s as a decimal integer in [lo, hi] into *out; 0 or -1. */
int app_parse_long(const char *s, long lo, long hi, long *out);

/* Seconds on CLOCK_MONOTONIC. */
double app_now(void);

/* The consistency model's name as DSM_CONSISTENCY spells it. */
const char *app_model_name(void);

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
 * Collective (one thread per node): true on every node if ok is true on
 * every node.  Uses a small shared array allocated by app_start().
 */
bool app_all_ok(bool ok);

/*
 * Collective, the last call: node 0 prints the DSM_RESULT line (size is
 * printed as given), then dsm_finalize().  Returns the process's exit
 * status: 0 if passed and finalize succeeded, 1 otherwise.
 */
int app_finish(const char *name, const char *size, int threads, double seconds,
	       bool passed);

#endif /* DSM_APP_H */
