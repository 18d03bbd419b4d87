/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rt.h - the runtime of one node: every part, wired together at dsm_init.
 * Internal; each part keeps its own state in its own struct below.
 */
#ifndef DSM_CORE_RT_H
#define DSM_CORE_RT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"
#include "kernel-shim/mem/heap.h"
#include "runtime/alloc/alloc.h"
#include "runtime/base/config.h"
#include "runtime/core/module.h"
#include "runtime/directory/directory.h"
#include "runtime/ft/heartbeat.h"
#include "runtime/sync/interval.h"
#include "runtime/sync/sync.h"
#include "runtime/transport/transport.h"

/* The runtime's own messages (after the transport's, wire.h). */
enum dsm_msg_type {
	/* coherence: owned by the active protocol */
	DSM_MSG_READ_REQ = DSM_WT_RUNTIME, /* arg0 page, aux pages in the run (relaxed), arg1 their stride; requester -> home */
	DSM_MSG_WRITE_REQ,	/* arg0 page, aux pages in the run (sequential), arg1 their stride; requester -> home */
	DSM_MSG_RECALL,		/* arg0 page, aux prot to keep | a run's pages by place << 8, arg1 stride; home -> exclusive owner */
	DSM_MSG_RECALL_REPLY,	/* arg0 page, payload the page; for a run aux the pages, arg1 stride, payload their bytes; owner -> home */
	DSM_MSG_INV,		/* arg0 page, aux a write run's pages by place (0: arg0 alone), arg1 stride; home -> reader */
	DSM_MSG_INV_ACK,	/* as INV, the pages dropped; reader -> home */
	DSM_MSG_READ_REPLY,	/* arg0 page, payload the page(s) (empty: never written, zero), aux, arg1 as READ_REQ; home -> requester */
	DSM_MSG_WRITE_GRANT,	/* arg0 page, payload the page (empty: upgrade, or never written); for a run aux = pages | those with bytes << 8, arg1 stride; home -> requester */
	DSM_MSG_DIFFS,		/* payload {u32 page, u32 len, diff}...; writer -> home (relaxed.c) */
	DSM_MSG_DIFF_ACK,	/* arg0 diffs applied; home -> writer */
	DSM_MSG_HOME_REQ,	/* arg0 page, aux claimant, arg1 stride << 32 | pages to claim ahead; -> the page's manager (first-touch homes) */
	DSM_MSG_HOME_IS,	/* arg0 page, aux its home, payload u16 home + 1 (0: none) of each page from arg1 on; manager -> asker */
	DSM_MSG_PROTO_LAST = DSM_WT_RUNTIME + 23,
	/* synchronization */
	DSM_MSG_LOCK_ACQ,	/* arg0 lock, arg1 token; -> manager */
	DSM_MSG_LOCK_GRANT,	/* arg0 lock, arg1 token; the token's last holder -> acquirer */
	DSM_MSG_LOCK_FWD,	/* arg0 lock, aux acquirer, arg1 its token; manager -> the last to ask */
	DSM_MSG_BARRIER_ARRIVE,	/* arg0 epoch; -> node 0 */
	DSM_MSG_BARRIER_DONE,	/* arg0 epoch; node 0 -> all */
	/* sync messages carry the sender's vector time, then write notices
	 * (interval.h); notices that do not fit go ahead in these */
	DSM_MSG_NOTICES,	/* payload struct dsm_notice[] */
	DSM_MSG_GC_REQ,		/* a node's notice log is past its bound; -> node 0 */
	DSM_MSG_GC_QUERY,	/* node 0 -> all: send your vector time */
	DSM_MSG_GC_VC,		/* payload vector time; -> node 0 */
	DSM_MSG_GC_FLOOR,	/* payload the new floor; node 0 -> all */
	/* checkpoints (runtime/ft/ckpt.c) */
	DSM_MSG_CKPT,		/* aux what (marker, vote, decision), arg0 round, payload 2 x i64 */
	/* memory and bookkeeping */
	DSM_MSG_COLL_ALLOC,	/* arg0 sequence, arg1 address (0: out of heap), aux 1 if reused; node 0 -> all */
	DSM_MSG_FREE,		/* arg0 address; -> the arena's owner */
	DSM_MSG_STATS,		/* payload struct dsm_stats; -> node 0 at finalize */
	DSM_MSG_ABORT,		/* payload: why the sender ends the job; -> all */
	/* failure detection (runtime/ft/heartbeat.c) */
	DSM_MSG_HEARTBEAT,	/* empty; -> a peer this node has sent nothing else to lately */
	DSM_MSG_END,
};

_Static_assert((int)DSM_MSG_END <= (int)DSM_WT_MAX, "message types fit the wire's range");

/* Counters of the runtime (the transport keeps the traffic ones). */
struct dsm_counters {
	uint64_t read_faults, write_faults;
	uint64_t pages_fetched, pages_sent;
	uint64_t invalidations;
	uint64_t diffs_created, diffs_applied, diff_bytes;
	uint64_t lock_acquires, barriers;
	uint64_t numa_migrations;
	uint64_t twins, write_notices;
	uint64_t numa_replications, numa_freezes;	/* runtime/numa/migrate.c */
	uint64_t heartbeats, heartbeats_recv;		/* runtime/ft/heartbeat.c */
};

struct dsm_protocol_ops;
struct dsm_numa;

struct dsm_rt {
	struct dsm_config cfg;
	int self;
	int nnodes;
	struct dsm_heap heap;
	struct dsm_dir dir;
	struct dsm_fault fault;
	struct dsm_tp *tp;
	const struct dsm_protocol_ops *proto;
	struct dsm_sync sync;
	struct dsm_intervals iv;	/* vector time and write notices */
	struct dsm_alloc alloc;
	struct dsm_counters counters;
	struct dsm_heartbeat hb;	/* runtime/ft: who was heard from, and when */
	struct dsm_numa *numa;		/* runtime/numa: NULL when DSM_NUMA and DSM_BIND are off */
	struct dsm_registry reg;	/* message types -> modules (module.h) */
	size_t modules_up;		/* module.c: how many of its list are up */
	uint64_t spin_ns;		/* how long a waiting thread spins first */
	pthread_t service;
	bool service_running;
	bool stopping;			/* set by finalize before the service thread ends */
};

/* The one runtime of this process, NULL outside dsm_init..dsm_finalize. */
extern struct dsm_rt *dsm_rt;

/*
 * Send a runtime message to another node.  Any thread, signal context
 * included; never blocks on the network.  Failure means the peer is gone,
 * which the service thread reports and ends the process on, so callers do
 * not check.
 */
void dsm_rt_send(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, uint64_t arg0,
		 uint64_t arg1, const void *payload, size_t len);

/*
 * Send page (this node's runtime view of it) to node, with a header of
 * the given type: the receiving node finds the bytes already in its own
 * runtime view of the page when the message is delivered (payload points
 * there): the runtime copies nothing.  So a node is sent a page
 * only while its application's view of that page is closed: the bytes
 * land before its protocol sees the message.  As dsm_rt_send otherwise.
 */
void dsm_rt_send_page(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
		      uint64_t arg1);
/* As dsm_rt_send_page, for the npages pages from page on, in one message
 * (npages * page size at most dsm_rt_max_payload()). */
void dsm_rt_send_pages(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
		       size_t npages, uint64_t arg1);
/* As dsm_rt_send_pages, but the bytes are copied from src (a snapshot of
 * the pages) before it returns.  Only where dsm_rt_can_send_from says the
 * transport can (not verbs, which reads the bytes later). */
void dsm_rt_send_pages_from(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
			    size_t npages, uint64_t arg1, const void *src);
/* Whether dsm_rt_send_pages_from works here. */
static inline bool dsm_rt_can_send_from(const struct dsm_rt *rt)
{
	return rt->tp->ops->send_page_from != NULL;
}

/*
 * Fetch page from node's memory one-sided where the transport can (an RDMA
 * READ into this node's runtime view of the page), then have the service
 * thread deliver a message of the given type from node, as if node had
 * answered with dsm_rt_send_page: node's runtime takes no part and learns
 * nothing, so the protocol uses it only where node's copy is current
 * without its help.  npages pages from page on, in one read; the message
 * has the given aux.  Any thread, signal context included.  0; -ENOTSUP
 * (a transport without reads) or -EAGAIN (too many in flight): ask node
 * with a message instead.
 */
int dsm_rt_read_page(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
		     size_t npages);

/*
 * Wait until *word differs from val, a reply expected from node (any
 * thread but the service thread, signal context included; who says
 * where): over a transport that can (wait_peer), this thread reads node's
 * connection and delivers the reply itself, if the reply's type is safe
 * there (dsm_msg_fault_safe, dsm_msg_thread_safe).  Returns at once if
 * *word differs already.
 */
void dsm_rt_wait_reply(struct dsm_rt *rt, int node, uint32_t *word, uint32_t val,
		       enum dsm_waiter who);

/* A peer broke the protocol: one line naming it, then end the process. */
void dsm_rt_protocol_error(struct dsm_rt *rt, int src, const char *what, uint64_t arg)
	__attribute__((noreturn));

/*
 * End the job from this node: tell every other node why (DSM_MSG_ABORT, so
 * they name the cause rather than this node's exit), print the line, exit.
 * Any thread but signal context.
 */
void dsm_rt_abort(struct dsm_rt *rt, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* The merged counters of the runtime and the transport. */
void dsm_rt_stats(struct dsm_rt *rt, struct dsm_stats *out);

/* service.c: the largest payload of any runtime message. */
size_t dsm_rt_max_payload(const struct dsm_rt *rt);

/* service.c: the service thread. */
void dsm_service_params(struct dsm_rt *rt, struct dsm_tp_params *p);
int dsm_service_start(struct dsm_rt *rt);
void dsm_service_stop(struct dsm_rt *rt);

/* stats.c: gathering and reporting counters at finalize (the stats
 * module, module.h, receives the other nodes' counters). */
int dsm_stats_report(struct dsm_rt *rt);

#endif /* DSM_CORE_RT_H */
