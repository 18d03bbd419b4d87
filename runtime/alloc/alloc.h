/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * alloc.h - shared-heap allocation.
 *
 * The heap is cut in two: the lower half serves dsm_alloc_collective and is
 * managed by node 0, which decides every collective allocation and tells
 * the others the address (so all nodes get the same pointer however their
 * calls interleave with frees); the upper half is cut into one arena per
 * node, from which dsm_malloc allocates without talking to anyone.  Any
 * node may free any block: the free goes to the arena's owner.
 */
#ifndef DSM_ALLOC_H
#define DSM_ALLOC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/alloc/arena.h"
#include "runtime/transport/wire.h"

struct dsm_rt;

/* A collective allocation's address, told by node 0, not yet consumed. */
struct dsm_coll_result {
	uint64_t seq;
	uintptr_t addr;
	bool reused;		/* node 0 zeroed memory that was in use before */
	struct dsm_coll_result *next;
};

struct dsm_alloc {
	uintptr_t coll_base, coll_size;		/* lower half */
	uintptr_t arenas_base, arena_size;	/* upper half: node i's arena at base + i*size */
	struct dsm_arena coll;			/* node 0 only */
	struct dsm_arena mine;			/* this node's arena */

	pthread_mutex_t lock;			/* guards the queue below */
	uint64_t coll_calls;			/* collective calls made here */
	/* Every collective call's result, for a restarted program (DSM_RESTART)
	 * that runs its start-up again: its first replay_until calls return
	 * the blocks they returned before the checkpoint. */
	struct dsm_coll_done { uint64_t addr, size; } *coll_log;
	size_t coll_log_cap;
	uint64_t replay_until;
	struct dsm_coll_result *head, *tail;	/* results from node 0, in order */
	uint32_t coll_arrived;			/* futex word: bumped per result */
};

int dsm_alloc_init(struct dsm_rt *rt);
void dsm_alloc_fini(struct dsm_rt *rt);

void *dsm_alloc_local(struct dsm_rt *rt, size_t size, bool zero);
void *dsm_alloc_collective_rt(struct dsm_rt *rt, size_t size);
void dsm_alloc_free(struct dsm_rt *rt, void *ptr);

/* Service thread: DSM_MSG_COLL_ALLOC and DSM_MSG_FREE. */
void dsm_alloc_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h);

#endif /* DSM_ALLOC_H */
