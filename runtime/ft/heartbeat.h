/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * heartbeat.h - failure detection for nodes that hang rather than die
 * (issue 10).
 *
 * A node that is killed closes its connections, and the transport reports
 * it at once.  A node that is stopped (SIGSTOP), swapping or cut off closes
 * nothing: its kernel may even keep answering TCP keep-alive probes.  So
 * every node's service thread (never an application thread, which may be
 * busy computing for any length of time) sends a small DSM_MSG_HEARTBEAT
 * to each peer it has sent nothing else to for a period, and ends the job
 * when a peer has sent nothing at all for DSM_FAILURE_TIMEOUT seconds.
 *
 * The hot paths only raise a flag per peer (dsm_hb_sent, dsm_hb_heard):
 * the clock is read by the service thread's tick, which turns the flags
 * into times.
 */
#ifndef DSM_FT_HEARTBEAT_H
#define DSM_FT_HEARTBEAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dsm.h"

struct dsm_rt;

struct dsm_heartbeat {
	/* Raised by any thread that sends to node n (dsm_rt_send*), lowered
	 * by the tick: something left for n, no heartbeat needed. */
	uint8_t sent[DSM_MAX_NODES];
	/* Raised by the service thread for every message delivered from n
	 * (dsm_msg_dispatch), lowered by the tick. */
	uint8_t heard[DSM_MAX_NODES];

	/* The rest is the service thread's (the tick's) own, but for the
	 * lock. */
	uint64_t period_ns;		/* a heartbeat after this much of our silence */
	uint64_t timeout_ns;		/* DSM_FAILURE_TIMEOUT */
	uint64_t first_ns;		/* ... plus DSM_CONNECT_TIMEOUT before a peer's first word */
	uint64_t last_sent[DSM_MAX_NODES];
	uint64_t last_heard[DSM_MAX_NODES];
	bool ever_heard[DSM_MAX_NODES];
	bool started;			/* the first tick ran */
	bool suspect;			/* a peer looked silent: poll once more, then judge */
	/* dsm_heartbeat_stop: no heartbeat may follow this node's BYE. */
	pthread_mutex_t lock;
	bool stopped;
};

/* Any thread, signal context included: a message is on its way to node. */
static inline void dsm_hb_sent(struct dsm_heartbeat *hb, int node)
{
	/* Read first: a store per message would bounce the line between
	 * the threads that send. */
	if (!__atomic_load_n(&hb->sent[node], __ATOMIC_RELAXED))
		__atomic_store_n(&hb->sent[node], 1, __ATOMIC_RELAXED);
}

/* The service thread, or a thread that delivers its own reply
 * (dsm_rt_wait_reply): a message from node was delivered. */
static inline void dsm_hb_heard(struct dsm_heartbeat *hb, int node)
{
	__atomic_store_n(&hb->heard[node], 1, __ATOMIC_RELAXED);
}

/*
 * Finalize thread, just before the BYE exchange: send no more heartbeats
 * (nothing may follow a BYE).  A peer is no longer watched once its own
 * BYE has arrived, so nodes that finish at their own pace are not taken
 * for hung ones.
 */
void dsm_heartbeat_stop(struct dsm_rt *rt);

#endif /* DSM_FT_HEARTBEAT_H */
