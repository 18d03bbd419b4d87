/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * heartbeat.c - the heartbeat module (heartbeat.h): DSM_MSG_HEARTBEAT,
 * and the service thread's tick, which sends heartbeats to the peers this
 * node has been silent to and ends the job when a peer has been silent
 * for DSM_FAILURE_TIMEOUT.
 *
 * Only the service thread sends heartbeats and judges silence: it answers
 * whatever the application does, so a node that computes for an hour
 * without a word of its own still beats, and a node whose process is
 * stopped does not.
 */
#include <stdint.h>

#include "runtime/base/clock.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"

/* However short the timeout, no more than 10 heartbeats a second. */
#define MIN_PERIOD_NS 100000000ull

static void hb_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			  const void *payload)
{
	(void)payload;
	if (h->len != 0)
		dsm_rt_protocol_error(rt, src, "a heartbeat with a payload", h->len);
	/* dsm_msg_dispatch has marked src as heard: that was the point.
	 * Release: after the transport's count of it (stats.c). */
	__atomic_fetch_add(&rt->counters.heartbeats_recv, 1, __ATOMIC_RELEASE);
}

static int hb_init(struct dsm_rt *rt)
{
	struct dsm_heartbeat *hb = &rt->hb;

	pthread_mutex_init(&hb->lock, NULL);
	hb->timeout_ns = (uint64_t)rt->cfg.failure_timeout_ms * 1000000ull;
	/* Five chances per timeout for a heartbeat to get through. */
	hb->period_ns = hb->timeout_ns / 5;
	if (hb->period_ns < MIN_PERIOD_NS)
		hb->period_ns = MIN_PERIOD_NS;
	/*
	 * A peer says its first word when its own service thread starts,
	 * once it is connected to every node, which may take it up to
	 * DSM_CONNECT_TIMEOUT longer than it took us: until then its silence
	 * is not yet a failure.
	 */
	hb->first_ns = hb->timeout_ns + (uint64_t)rt->cfg.connect_timeout_ms * 1000000ull;
	return 0;
}

static void hb_fini(struct dsm_rt *rt)
{
	pthread_mutex_destroy(&rt->hb.lock);
}

void dsm_heartbeat_stop(struct dsm_rt *rt)
{
	/* Under the lock the tick sends with: once this returns, no
	 * heartbeat can still be on its way out behind our BYE. */
	pthread_mutex_lock(&rt->hb.lock);
	rt->hb.stopped = true;
	pthread_mutex_unlock(&rt->hb.lock);
}

static void beat(struct dsm_rt *rt, int node)
{
	struct dsm_heartbeat *hb = &rt->hb;

	pthread_mutex_lock(&hb->lock);
	if (!hb->stopped) {
		dsm_rt_send(rt, node, DSM_MSG_HEARTBEAT, 0, 0, 0, NULL, 0);
		/* After the send, which the transport counts, and release:
		 * stats.c takes heartbeats out of msgs_sent and must never
		 * take out more than is in. */
		__atomic_fetch_add(&rt->counters.heartbeats, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&hb->lock);
}

static __attribute__((noreturn)) void silent_peer(struct dsm_rt *rt, int node)
{
	unsigned int s = rt->cfg.failure_timeout_ms / 1000;

	if (!rt->hb.ever_heard[node])
		dsm_rt_abort(rt, "node %d sent nothing in the %u s since this node connected "
			     "(DSM_CONNECT_TIMEOUT + DSM_FAILURE_TIMEOUT): it hung, stopped or is "
			     "cut off", node, rt->cfg.connect_timeout_ms / 1000 + s);
	dsm_rt_abort(rt, "node %d sent nothing for %u s (DSM_FAILURE_TIMEOUT): it hung, stopped "
		     "or is cut off", node, s);
}

static uint64_t hb_tick(struct dsm_rt *rt)
{
	struct dsm_heartbeat *hb = &rt->hb;
	uint64_t now = dsm_now_ns(), next = UINT64_MAX;
	int silent = -1;

	if (!hb->started) {
		/* The service thread runs, every peer is connected: the
		 * clocks start now (last_sent 0: beat at once, so that every
		 * peer hears us as early as it can). */
		hb->started = true;
		for (int n = 0; n < rt->nnodes; n++)
			hb->last_heard[n] = now;
	}
	for (int n = 0; n < rt->nnodes; n++) {
		uint64_t due;

		if (n == rt->self)
			continue;
		if (__atomic_load_n(&hb->sent[n], __ATOMIC_RELAXED) &&
		    __atomic_exchange_n(&hb->sent[n], 0, __ATOMIC_RELAXED))
			hb->last_sent[n] = now;
		/* atomic: a thread that waits for a reply delivers too */
		if (__atomic_load_n(&hb->heard[n], __ATOMIC_RELAXED) &&
		    __atomic_exchange_n(&hb->heard[n], 0, __ATOMIC_RELAXED)) {
			hb->last_heard[n] = now;
			hb->ever_heard[n] = true;
		}
		/* A peer that said BYE sends nothing more, rightly. */
		if (!__atomic_load_n(&rt->tp->bye_recv[n], __ATOMIC_ACQUIRE)) {
			due = hb->last_heard[n] + (hb->ever_heard[n] ? hb->timeout_ns : hb->first_ns);
			if (now >= due && silent < 0)
				silent = n;
			else if (due < next)
				next = due;
		}
		due = hb->last_sent[n] + hb->period_ns;
		if (now >= due) {
			beat(rt, n);
			hb->last_sent[n] = now;
			due = now + hb->period_ns;
		}
		if (due < next)
			next = due;
	}
	if (silent >= 0) {
		/*
		 * Our flags may be older than the peer's last message: this
		 * node may itself have been stopped or starved since the
		 * transport last ran, with the peer's heartbeats waiting in
		 * its sockets.  Ask to be called again at once: the service
		 * thread polls the transport without sleeping first, and only
		 * a peer still silent then is judged.
		 */
		if (!hb->suspect) {
			hb->suspect = true;
			return now;
		}
		silent_peer(rt, silent);
	}
	hb->suspect = false;
	return next == UINT64_MAX ? 0 : next;
}

const struct dsm_module dsm_heartbeat_module = {
	.name       = "heartbeat",
	.msg_first  = DSM_MSG_HEARTBEAT,
	.msg_last   = DSM_MSG_HEARTBEAT,
	.init       = hb_init,
	.fini       = hb_fini,
	.on_message = hb_on_message,
	.tick       = hb_tick,
};
