/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * transport.h - how nodes reach each other (internal, not installed).
 *
 * A transport connects every pair of nodes of the job, authenticates each
 * peer with the job's secret, and moves framed messages (wire.h).  Messages
 * between one pair of nodes arrive in the order they were sent: the
 * coherence protocol relies on it (a reply overtaken by a later
 * invalidation would leave a stale copy).
 */
#ifndef DSM_TRANSPORT_H
#define DSM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/config.h"
#include "runtime/transport/wire.h"

#define DSM_TP_CAP_SEND  0x1	/* two-sided messages (required of every transport) */
#define DSM_TP_CAP_RDMA  0x2	/* send_page moves the page one-sided (RDMA WRITE) */
#define DSM_TP_CAP_READ  0x4	/* read_page: one-sided reads of a peer's region */

struct dsm_tp;

/* Traffic counters, kept by the transport, read by dsm_get_stats. */
struct dsm_tp_counters {
	uint64_t msgs_sent, msgs_recv, bytes_sent, bytes_recv;
	uint64_t msgs_by_waiter;	/* of msgs_recv: delivered by wait_peer's caller */
};

/*
 * Where an application thread waits for a reply (wait_peer), which says
 * which messages it may deliver itself.
 */
enum dsm_waiter {
	DSM_WAITER_FAULT = 1,	/* in the fault path: signal context, other threads
				 * in the middle of anything */
	DSM_WAITER_THREAD = 2,	/* in a lock or barrier call: an ordinary thread that
				 * holds none of the runtime's locks */
};

struct dsm_tp_params {
	const struct dsm_config *cfg;
	size_t max_payload;		/* largest payload the runtime sends */
	/*
	 * Service thread: one message of a runtime type arrived from src.
	 * payload (hdr->len bytes) is valid only during the call.  Must not
	 * block.
	 */
	void (*deliver)(void *ctx, int src, const struct dsm_wire_hdr *hdr, const void *payload);
	/*
	 * Service thread: the connection to node broke without an orderly
	 * BYE.  why is one phrase.  Typically ends the process.
	 */
	void (*peer_lost)(void *ctx, int node, const char *why);
	/*
	 * Any thread: may a message of this type be delivered by an
	 * application thread that waits for a reply (wait_peer), where it
	 * waits (enum dsm_waiter)?  NULL: none may.
	 */
	bool (*waiter_safe)(void *ctx, uint8_t type, enum dsm_waiter who);
	void *ctx;
};

struct dsm_tp_ops {
	const char *name;
	unsigned int caps;		/* DSM_TP_CAP_* */

	/*
	 * Init thread; blocks until every peer is connected and authenticated
	 * or cfg->connect_timeout_ms passes.  Returns 0 and sets *tp_p, or a
	 * negative code after logging one line (-DSM_ETIMEDOUT, -DSM_EAUTH,
	 * -DSM_EPROTO, -DSM_ENOTSUP, -errno).
	 */
	int (*open)(const struct dsm_tp_params *params, struct dsm_tp **tp_p);
	/*
	 * Finalize thread, after the service thread has stopped: free
	 * everything.  Orderly shutdown is shutdown() below.
	 */
	void (*close)(struct dsm_tp *tp);
	/*
	 * Any thread, including signal context: queue one message to node
	 * (never this node).  hdr->type, aux, arg0, arg1 are the caller's;
	 * the transport fills magic, version, src and len.  Never blocks on
	 * the network: what the kernel does not take at once is queued and
	 * sent by the service thread.  0, or -DSM_EPEERLOST.
	 */
	int (*send)(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
		    const void *payload, size_t len);
	/*
	 * Init thread, after open, before any send_page: the region pages
	 * are sent from and placed into (the heap's runtime view).  Every
	 * node registers a region of the same length.  0 or a negative code
	 * after one log line.
	 */
	int (*register_mem)(struct dsm_tp *tp, void *base, size_t len);
	/*
	 * As send, but the payload is len bytes at page, inside the
	 * registered region: the receiving transport places them at the
	 * same offset of its own registered region, with no intermediate
	 * copy (TCP receives straight there; verbs does an RDMA WRITE then a
	 * SEND of the header on the same queue pair), and then delivers the
	 * header with payload pointing at the placed bytes.  Ordered with
	 * send: per pair of nodes, one stream.  0, or -DSM_EPEERLOST.
	 */
	int (*send_page)(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			 const void *page, size_t len);
	/*
	 * Optional.  As send_page, but the len bytes are copied from src
	 * (any memory) before the call returns; page only says where they go
	 * at the receiver.  The caller sends a snapshot it took under its
	 * own rules (relaxed.c: a home's page that its threads may still be
	 * writing).  NULL where the bytes are read after the call returns
	 * (verbs: the adapter reads the registered page).
	 */
	int (*send_page_from)(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			      const void *page, const void *src, size_t len);
	/*
	 * Optional, with DSM_TP_CAP_READ.  Any thread, signal context
	 * included; never blocks.  Copy len bytes at page's offset of node's
	 * registered region into page (inside ours), one-sided: node's CPU
	 * takes no part and its runtime learns nothing.  When they are in
	 * place the service thread delivers hdr (type, aux, arg0, arg1 the
	 * caller's) as if node had sent it, with payload pointing at page
	 * and len bytes long.  The read is ordered with nothing else on the
	 * pair: the caller only uses it where node's memory is current
	 * without node's help.  0; -EAGAIN when too many reads are in flight
	 * to node (ask node instead); -DSM_EPEERLOST.
	 */
	int (*read_page)(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr, void *page,
			 size_t len);
	/*
	 * Service thread only: deliver what has arrived, flush queued
	 * output.  Busy-polls for cfg->poll_ns, then blocks up to timeout_ms
	 * (-1: until something happens or wake() is called).  Returns the
	 * number of messages delivered, or a negative code.
	 */
	int (*progress)(struct dsm_tp *tp, int timeout_ms);
	/* Any thread: make a blocked progress() return soon. */
	void (*wake)(struct dsm_tp *tp);
	/*
	 * Optional.  An application thread (signal context included) waits
	 * up to budget_ns for *word to differ from val, a reply from node
	 * that the deliver callback will flag there: meanwhile it reads
	 * node's connection itself and delivers what it may (waiter_safe),
	 * saving the service thread's wake-up.  0 when *word changed;
	 * -ETIMEDOUT when budget_ns passed and nothing came that only the
	 * service thread may deliver (the caller may wait_peer again);
	 * -EAGAIN otherwise (the caller waits as usual: the service thread
	 * delivers the rest).
	 */
	int (*wait_peer)(struct dsm_tp *tp, int node, const uint32_t *word, uint32_t val,
			 uint64_t budget_ns, enum dsm_waiter who);
	/*
	 * Finalize thread, service thread still running: send BYE to every
	 * peer and wait (up to timeout_ms) until every peer's BYE arrived, so
	 * that the connections' closing is not mistaken for a death.
	 * 0 or -DSM_ETIMEDOUT.
	 */
	int (*shutdown)(struct dsm_tp *tp, int timeout_ms);
	/*
	 * Any thread but signal context, before the process ends or the
	 * transport closes: push queued output out for up to timeout_ms.
	 */
	void (*flush)(struct dsm_tp *tp, int timeout_ms);
};

struct dsm_tp {
	const struct dsm_tp_ops *ops;
	struct dsm_tp_params params;
	int self;
	int nnodes;
	struct dsm_tp_counters counters;
	/* set by register_mem */
	char *mem_base;
	size_t mem_len;
	/* set (atomically) by the service thread when node i's BYE arrived */
	bool bye_recv[DSM_MAX_NODES];
	bool bye_sent;			/* dsm_tp_shutdown_bye started (atomic) */
};

/* The common part of a transport's open: ops, params, this node, the count. */
static inline void dsm_tp_init(struct dsm_tp *tp, const struct dsm_tp_ops *ops,
			       const struct dsm_tp_params *params)
{
	tp->ops = ops;
	tp->params = *params;
	tp->self = params->cfg->node_id;
	tp->nnodes = params->cfg->num_nodes;
}

/*
 * The shutdown op as every transport does it: BYE (through ops->send) to
 * every peer, then wait until every peer's BYE has arrived (bye_recv).
 */
int dsm_tp_shutdown_bye(struct dsm_tp *tp, int timeout_ms);

/*
 * Open the transport named cfg->transport (after checking its ops table,
 * dsm_tp_check_ops).  As ops->open.
 */
int dsm_tp_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p);

/*
 * An ops table is complete: a name, every op above, DSM_TP_CAP_SEND in
 * caps and no unknown cap bit.  NULL, or a static string naming what is
 * missing.
 */
const char *dsm_tp_check_ops(const struct dsm_tp_ops *ops);

/* The transports built into this library, in order; NULL-terminated. */
extern const struct dsm_tp_ops *const dsm_transports[];

static inline int dsm_tp_send(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			      const void *payload, size_t len)
{
	return tp->ops->send(tp, node, hdr, payload, len);
}

static inline int dsm_tp_send_page(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
				   const void *page, size_t len)
{
	return tp->ops->send_page(tp, node, hdr, page, len);
}

extern const struct dsm_tp_ops dsm_loop_ops;	/* in-process, for tests */
extern const struct dsm_tp_ops dsm_tcp_ops;
extern const struct dsm_tp_ops dsm_rdma_ops;

#endif /* DSM_TRANSPORT_H */
