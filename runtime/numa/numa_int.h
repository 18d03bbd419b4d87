/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * numa_int.h - state shared by runtime/numa's files (topology.c,
 * placement.c, migrate.c, numa.c).  Internal to runtime/numa.
 */
#ifndef DSM_NUMA_NUMA_INT_H
#define DSM_NUMA_NUMA_INT_H

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "runtime/numa/numa.h"

/* Domains tracked per page by the migration policy (the topology itself
 * may list more; migrate refuses machines with more at dsm_init). */
#define DSM_NUMA_MAX_DOMAINS 16

/* ------------------------------------------------------------ topology.c */

struct dsm_numa_domain {
	unsigned int os_index;		/* the kernel's node number (move_pages, mbind) */
	hwloc_const_bitmap_t cpuset;	/* owned by the topology */
	hwloc_const_bitmap_t nodeset;
	uint64_t mem_bytes;		/* local memory, 0 if hwloc did not say */
	char cpus[96];			/* CPU list, "0-3,8": logs and JSON */
};

struct dsm_numa_topo {
	hwloc_topology_t topo;
	int ndomains;
	struct dsm_numa_domain *dom;	/* ndomains, by hwloc logical index */
	uint64_t *dist;			/* ndomains^2 relative latencies (10 = local), or NULL */
	int ncpu;			/* entries of cpu_dom */
	int16_t *cpu_dom;		/* OS CPU number -> domain index, -1: unknown */
	hwloc_bitmap_t allowed;		/* this process's CPU binding at dsm_init */
	int bound;			/* the domain holding every allowed CPU, or -1 */
	char allowed_list[96];
};

int dsm_numa_topo_load(struct dsm_numa_topo *t);
void dsm_numa_topo_free(struct dsm_numa_topo *t);
/* Domain index of the CPU this thread runs on now, or -1.  Signal-safe. */
int dsm_numa_topo_here(const struct dsm_numa_topo *t);
/* Distance from domain a to b (10 = local), or 0 if unknown. */
uint64_t dsm_numa_topo_dist(const struct dsm_numa_topo *t, int a, int b);
/* One line for DSM_LOG=info. */
void dsm_numa_topo_describe(const struct dsm_numa_topo *t, char *buf, size_t len);

/* ----------------------------------------------------------- placement.c */

/* Where a page's frames are and how to move them (move_pages(2)). */
int dsm_numa_place_heap(struct dsm_numa *n);
/* Domain index of page's first frame, or a negative errno (-ENOENT:
 * not in memory).  Scanner thread. */
int dsm_numa_page_domain(struct dsm_numa *n, size_t page);
/* Move page's frames to domain dom.  0 or a negative errno. */
int dsm_numa_move_page(struct dsm_numa *n, size_t page, int dom);
/* Move count pages, pages[i] to domain doms[i], in one batch; res[i]: 0
 * or a negative errno. */
void dsm_numa_move_pages(struct dsm_numa *n, const size_t *pages, const int *doms, int *res,
			 size_t count);
/* Time a page move between two domains and a remote page's extra cost;
 * sets move_cost_ns, access_penalty_ns, min_accesses. */
void dsm_numa_measure_costs(struct dsm_numa *n);
/* The uses from elsewhere that pay for a move costing move_cost_ns. */
uint32_t dsm_numa_min_accesses(const struct dsm_numa *n, uint64_t move_cost_ns);
/* count pages moved in ns: the price of a move follows (running mean). */
void dsm_numa_observe_moves(struct dsm_numa *n, uint64_t ns, size_t count);
/* Fault path, signal-safe: allocate page's frames on this thread's domain. */
void dsm_numa_touch_first(struct dsm_numa *n, size_t page);
/* DSM_BIND: the CPU masks threads are dealt round robin.  0 or -ENOMEM. */
int dsm_numa_bind_setup(struct dsm_numa *n);

/* ------------------------------------------------------------- migrate.c */

/* One page's evidence, written by faulting threads (relaxed atomics)
 * and read by the scanner. */
struct dsm_numa_page {
	uint16_t hits[DSM_NUMA_MAX_DOMAINS];	/* estimated uses per domain, halved whenever
						 * they add up to the evidence window */
	uint16_t reads;			/* of them, reads ... */
	uint16_t writes;		/* ... and writes */
	uint16_t seen;			/* bit per domain that used the page since the
					 * scanner last looked (faulting threads set, the
					 * scanner takes) */
	uint8_t sampled;		/* 1: the scanner closed the page's view to sample it;
					 * cleared by the first fault (under the page's lock) */
	uint8_t flags;			/* DSM_NUMA_PG_*: scanner only */
	uint8_t moves;			/* migrations since window_start: scanner only */
	uint8_t loc1;			/* domain + 1 its frame was last seen on, 0: not
					 * known: scanner only, saves a query per period */
	uint8_t ilog;			/* log2 of the sampling interval, in periods: scanner only */
	uint8_t remote_looks;		/* looks that saw a remote use since the last move */
	uint8_t streak;			/* looks in a row that saw streak_dom1 - 1 only, */
	uint8_t streak_dom1;		/* a domain other than the page's: scanner only */
	uint32_t next_sample;		/* when the page is next closed (ms, wraps): scanner only */
	uint32_t closed_us;		/* when it was last closed (µs, wraps): the fault
					 * path's use-rate estimate */
	uint32_t window_start;		/* when the freeze window began (ms, wraps) */
	uint32_t frozen_until;		/* FROZEN: when it thaws (ms, wraps) */
};

#define DSM_NUMA_PG_FROZEN	0x1	/* migrated too often: stays put until frozen_until */
#define DSM_NUMA_PG_REPLICA	0x2	/* this node's read-only protocol copy, placed and counted */

/* The rules, apart from the scanner and the kernel (the unit tests call
 * them).  target: the domain the evidence says a page on domain loc (-1:
 * not known) should move to, or -1 (cost, recency, dominance).  look:
 * take in a look at the page's uses since the last one (seen: a bit per
 * domain), the page being on domain loc: its sampling interval and its
 * run of looks.  age: halve its counts once they fill the evidence
 * window.  Scanner thread. */
int dsm_numa_target(const struct dsm_numa *n, const struct dsm_numa_page *pg, int loc);
void dsm_numa_look(const struct dsm_numa *n, struct dsm_numa_page *pg, int loc, uint16_t seen);
void dsm_numa_age(const struct dsm_numa *n, struct dsm_numa_page *pg);

int dsm_numa_scanner_start(struct dsm_numa *n);
void dsm_numa_scanner_stop(struct dsm_numa *n);
/* Fault path: see dsm_numa_fault. */
bool dsm_numa_migrate_fault(struct dsm_numa *n, size_t page, enum dsm_access access, int dom);

/* ---------------------------------------------------------------- numa.c */

struct dsm_numa {
	struct dsm_rt *rt;
	int mode;			/* enum dsm_numa_mode */
	struct dsm_numa_topo topo;

	/* placement */
	uint64_t *placed;		/* first-touch, migrate: bit per page already touched
					 * by its first faulting thread */
	size_t sub_pages;		/* kernel pages per DSM page */
	size_t kpage;			/* the kernel's page size */

	/* DSM_BIND */
	int bind_mode;			/* 0 none, 1 numa, 2 core */
	int nmasks;
	cpu_set_t *masks;		/* CPUs of each binding slot, allowed ones only */
	char (*mask_lists)[96];
	int next_index;			/* next slot for a thread's first fault */

	/* costs, measured at init and kept up to date by the moves (migrate) */
	uint64_t move_cost_ns;		/* moving one DSM page between two domains */
	uint64_t access_penalty_ns;	/* one pass over a page from a remote domain, extra */
	uint32_t min_accesses;		/* accesses from elsewhere that pay for a move */

	/* migrate */
	struct dsm_numa_page *pages;	/* npages, sparse (MAP_NORESERVE) */
	uint64_t *touched;		/* bit per page that ever faulted here */
	size_t npages;
	uint64_t period_ns;		/* DSM_NUMA_PERIOD_MS */
	uint32_t sample;		/* DSM_NUMA_SAMPLE: pages closed per period, at most */
	uint32_t max_weight;		/* most uses one sample may stand for */
	uint32_t epoch;			/* scan periods so far */
	uint32_t now_ms;		/* when this scan began (ms, wraps) */
	size_t cursor;			/* next page to sample */
	pthread_t scanner;
	bool scanner_running;
	uint32_t stop;			/* futex word: 1 asks the scanner to end */
};

#endif /* DSM_NUMA_NUMA_INT_H */
