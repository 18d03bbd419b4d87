/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * interval.h - intervals, vector time and write notices.
 *
 * A node's execution is cut into intervals at every release and every
 * acquire.  vc[i] counts the intervals of node i that happen before now on
 * this node (its own entry: the intervals it has closed).  Every sync
 * message carries the sender's vector time; the receiver takes the
 * entry-wise maximum, so vector time only grows and follows causality
 * through locks and barriers (API.md, "Causality").
 *
 * Under release consistency an interval that wrote pages also leaves a
 * write notice per page: (node, interval, page).  Notices travel with lock
 * grants, from the releaser's log to the next holder (lock.c), and with
 * barrier arrivals and releases through node 0.  At an acquire a node
 * invalidates exactly the pages named by notices it had not seen (seq >=
 * vc[node]): later faults fetch them from their homes, which applied the
 * diffs before the releases completed (relaxed.c).  This is lazy release
 * consistency (Keleher, Cox and Zwaenepoel, ISCA 1992) with the
 * home-based data path of HLRC (Zhou, Iftode and Li, OSDI 1996).
 *
 * Bounded memory: every node knows every interval below the floor vector,
 * so notices below it are dropped from every node's log.  The floor rises
 * at barriers (to the vector time of the barrier before: a thread of a
 * node may still be waiting for the last barrier's release while another
 * thread takes a lock) and by a collection round through node 0 when a log
 * grows past a bound without barriers.
 *
 * Locks, in the order they are taken: op (one sync operation's protocol
 * work at a time; may wait for the network), then lock (short; the service
 * thread takes it too), then page locks.
 */
#ifndef DSM_SYNC_INTERVAL_H
#define DSM_SYNC_INTERVAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm.h"
#include "runtime/transport/wire.h"

struct dsm_rt;

/* A write notice: node's interval seq wrote page.  Also the wire format. */
struct dsm_notice {
	uint32_t node;
	uint32_t page;
	uint64_t seq;
};

_Static_assert(sizeof(struct dsm_notice) == 16, "a notice is 16 bytes on the wire");

struct dsm_notices {
	struct dsm_notice *v;
	size_t n, cap;
};

int dsm_notices_push(struct dsm_notices *nv, uint32_t node, uint32_t page, uint64_t seq);
/* Drop the notices below floor (seq < floor[node]). */
void dsm_notices_prune(struct dsm_notices *nv, const uint64_t *floor);
void dsm_notices_free(struct dsm_notices *nv);

/* A vector time and the notices that come with it, as a sync message has them. */
struct dsm_sync_info {
	uint64_t vc[DSM_MAX_NODES];
	struct dsm_notices nv;
};

/* When a node's log passes this many notices without a barrier, it asks
 * node 0 for a collection round. */
#define DSM_NOTICE_GC_MIN 16384

struct dsm_intervals {
	pthread_mutex_t op;		/* one acquire or release at a time (outer lock) */
	pthread_mutex_t lock;		/* guards everything below */
	bool notices;			/* the protocol uses write notices */
	uint64_t vc[DSM_MAX_NODES];	/* this node's vector time */
	uint64_t floor[DSM_MAX_NODES];	/* every node knows every interval below */
	uint64_t bar_vc[DSM_MAX_NODES];	/* the last barrier's vector time: the next floor */
	uint64_t arrived_seq;		/* own intervals below it went to the last barrier */
	struct dsm_notices log;		/* notices this node knows, above the floor */
	size_t gc_at;			/* log size that asks for a collection round */
	bool gc_asked;
	/* node 0: the collection round in progress */
	uint64_t gc_min[DSM_MAX_NODES];
	int gc_replies;
	bool gc_running;
	/* service thread only: notices received ahead of the message they belong to */
	struct dsm_notices staged[DSM_MAX_NODES];
};

int dsm_iv_init(struct dsm_rt *rt);
void dsm_iv_fini(struct dsm_rt *rt);

/* A release: the protocol publishes this node's writes, then the interval
 * closes (with a notice per page written, when notices are on). */
void dsm_iv_release(struct dsm_rt *rt);

/*
 * An acquire: take in the vector time and notices of the sync message
 * (info NULL: a bare dsm_acquire(), which has none and so makes the
 * protocol drop every cached copy), let the protocol invalidate what they
 * name, then open a new interval.
 */
void dsm_iv_acquire(struct dsm_rt *rt, const struct dsm_sync_info *info);

/* After a barrier's acquire: the barrier's vector time, known to every
 * node once every node has left it, raises the floor at the next one. */
void dsm_iv_barrier_done(struct dsm_rt *rt, const uint64_t *vc);

/* This node's vector time. */
void dsm_iv_vc(struct dsm_rt *rt, uint64_t *out);

/*
 * The notices a barrier arrival carries: this node's own notices not yet
 * sent to a barrier.  And, in vc, this node's vector time as of the same
 * instant: the message must carry exactly the vector time its notices
 * are complete for (see dsm_iv_collect).  0 or -ENOMEM.
 */
int dsm_iv_collect(struct dsm_rt *rt, struct dsm_notices *out, uint64_t *vc);

/*
 * The notices of the log of intervals that a node with vector time since
 * had not seen and that happened before until (since[i] <= seq <
 * until[i], and above the floor), appended to out: what a lock's grant
 * carries, until being the vector time of the releaser's release.  Every
 * notice of an interval below this node's vector time stays in the log
 * until the floor passes it, so until may be a vector time taken earlier.
 * 0 or -ENOMEM.
 */
int dsm_iv_notices_between(struct dsm_rt *rt, const uint64_t *since, const uint64_t *until,
			   struct dsm_notices *out);

/* Keep from nv (appending to out) the notices a node with vector time vc
 * has not seen, except its own. */
int dsm_notices_unseen(const struct dsm_notices *nv, const uint64_t *vc, int node,
		       struct dsm_notices *out);

/*
 * Send a sync message with a vector time and notices: as many notices as
 * fit ride in the message itself after the vector time, the rest go ahead
 * of it in DSM_MSG_NOTICES messages.  The caller keeps one node's
 * sequences from interleaving (sync.lock).
 */
void dsm_iv_send(struct dsm_rt *rt, int dst, uint8_t type, uint32_t aux, uint64_t arg0,
		 uint64_t arg1, const uint64_t *vc, const struct dsm_notices *nv);

/* Service thread: the vector time and notices of a received sync message
 * (with those staged ahead of it); ends the job if malformed. */
void dsm_iv_parse(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h, const void *payload,
		  struct dsm_sync_info *out);

/* Service thread: DSM_MSG_NOTICES and the DSM_MSG_GC_* messages. */
void dsm_iv_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
		       const void *payload);

#endif /* DSM_SYNC_INTERVAL_H */
