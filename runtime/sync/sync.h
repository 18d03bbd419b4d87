/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sync.h - distributed locks and barriers.
 *
 * Locks: a lock is a token that passes from holder to holder.  Lock i is
 * managed by node i % N, which remembers only the last node to ask for it
 * and forwards each request there, to be served after that node's turn:
 * requests are served in the order the manager received them (FIFO), a
 * handoff costs the request and the grant (and the forward, when the
 * manager is neither party), and a node that asks again for a token it
 * still has (nobody asked since) sends nothing.  Ownership is per node:
 * any thread of the holding node may release it, a node that does not
 * hold it gets -DSM_ENOTHELD.
 * Barriers: centralized at node 0, which releases everyone once all nodes
 * have arrived at the same epoch.
 * Every lock and barrier message carries vector time and write notices
 * (interval.h): a grant carries what happened before the lock's last
 * release and the next holder had not seen when it asked.
 */
#ifndef DSM_SYNC_H
#define DSM_SYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dsm.h"
#include "runtime/sync/interval.h"
#include "runtime/transport/wire.h"

struct dsm_rt;

/* A thread waiting for a lock grant; lives on that thread's stack. */
struct dsm_lock_waiter {
	uint32_t done;			/* 0 -> 1 when granted; futex word */
	unsigned int lock;		/* the lock it waits for */
	uint64_t token;			/* names this waiter in the grant */
	struct dsm_lock_waiter *next;	/* in dsm_sync.waiters */
	struct dsm_sync_info grant;	/* what the grant carried */
};

/* A request to serve after this node's turn with the lock. */
struct dsm_lock_request {
	int node;
	uint64_t token;
	struct dsm_lock_request *next;
	uint64_t vc[DSM_MAX_NODES];	/* the requester's vector time */
};

/* Where a lock's token is, as this node sees it. */
enum dsm_token {
	DSM_TOKEN_AWAY,		/* at another node, or on its way here */
	DSM_TOKEN_FREE,		/* here, nobody holds it and nobody asked since */
	DSM_TOKEN_HELD,		/* here, held by this node */
	DSM_TOKEN_RELEASING,	/* here, its release under way */
};

/* This node's side of a lock. */
struct dsm_lock_state {
	enum dsm_token token;
	unsigned int asking;			/* our requests not granted yet */
	int last;				/* manager: the last node to ask (-1 elsewhere) */
	struct dsm_lock_request *head, *tail;	/* FIFO: who gets the token after us */
};

struct dsm_sync {
	pthread_mutex_t lock;		/* guards everything below */
	struct dsm_lock_state *locks;	/* DSM_MAX_LOCKS entries */
	uint64_t *rel_vc;		/* DSM_MAX_LOCKS rows of N (dsm_sync_vc_row()):
					 * our vector time at our last release of the
					 * lock, what a grant from here carries */
	struct dsm_lock_waiter *waiters;	/* this node's threads awaiting grants */
	uint64_t next_token;
	unsigned int test_release_delay_us;	/* DSM_TEST_RELEASE_DELAY_US (lock.c) */

	/* barrier */
	uint64_t barrier_epoch;		/* barriers this node has entered */
	uint32_t barrier_done;		/* last epoch released (low 32 bits; futex word) */
	int arrived[2];			/* node 0: arrivals for epoch parity */
	uint64_t bar_vc[DSM_MAX_NODES];	/* node 0: merged vector time of the arrivals */
	uint64_t *bar_arrive_vc;	/* node 0: N x N, each arrival's vector time */
	struct dsm_notices bar_nv;	/* node 0: the arrivals' notices */
	struct dsm_sync_info bar_result; /* what the barrier's release carried */
};

int dsm_sync_init(struct dsm_rt *rt);
void dsm_sync_fini(struct dsm_rt *rt);

int dsm_sync_lock_acquire(struct dsm_rt *rt, unsigned int lock_id);
int dsm_sync_lock_release(struct dsm_rt *rt, unsigned int lock_id);
void dsm_sync_barrier(struct dsm_rt *rt);

/* Service thread: DSM_MSG_LOCK_* and DSM_MSG_BARRIER_*. */
void dsm_sync_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			 const void *payload);
/* Service thread: DSM_MSG_LOCK_* (lock.c). */
void dsm_lock_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			 const void *payload);
/* Lock lock_id's row of a DSM_MAX_LOCKS x N table of vector times. */
static inline uint64_t *dsm_sync_vc_row(uint64_t *table, int nnodes, unsigned int lock_id)
{
	return table + (size_t)lock_id * (size_t)nnodes;
}

/* The write notices kept by this node's sync state and log (a gauge). */
uint64_t dsm_sync_notices_held(struct dsm_rt *rt);
/* lock.c: every token at its manager (init); the queues freed (fini). */
void dsm_lock_init(struct dsm_rt *rt);
void dsm_lock_fini(struct dsm_rt *rt);
/* lock.c, checkpoints: -EBUSY (logged) if this node holds or waits for a
 * lock; where the tokens are, saved and restored. */
struct dsm_ckpt_out;
struct dsm_ckpt_in;
int dsm_lock_quiesce(struct dsm_rt *rt);
int dsm_lock_save(struct dsm_rt *rt, struct dsm_ckpt_out *out);
int dsm_lock_restore(struct dsm_rt *rt, const struct dsm_ckpt_in *in);

#endif /* DSM_SYNC_H */
