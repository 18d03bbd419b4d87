/* SPDX-License-Identifier: BSD-3-Clause */
/* barrier.c - a centralized barrier at node 0 (see sync.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/compiler.h"
#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/protocol/protocol.h"

int dsm_sync_init(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;
	const char *delay;

	pthread_mutex_init(&s->lock, NULL);
	s->locks = calloc(DSM_MAX_LOCKS, sizeof(*s->locks));
	s->rel_vc = calloc((size_t)DSM_MAX_LOCKS * (size_t)rt->nnodes, sizeof(uint64_t));
	s->bar_arrive_vc = calloc((size_t)rt->nnodes * (size_t)rt->nnodes, sizeof(uint64_t));
	if (!s->locks || !s->rel_vc || !s->bar_arrive_vc) {
		dsm_sync_fini(rt);
		return -ENOMEM;
	}
	dsm_lock_init(rt);
	/* For libdsm's own tests only (t_lockvc): widen a race window. */
	if ((delay = getenv("DSM_TEST_RELEASE_DELAY_US")) != NULL)
		s->test_release_delay_us = (unsigned int)strtoul(delay, NULL, 10);
	return 0;
}

void dsm_sync_fini(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;

	dsm_lock_fini(rt);
	free(s->locks);
	free(s->rel_vc);
	free(s->bar_arrive_vc);
	dsm_notices_free(&s->bar_nv);
	dsm_notices_free(&s->bar_result.nv);
	s->locks = NULL;
	s->rel_vc = NULL;
	s->bar_arrive_vc = NULL;
}

/*
 * Node 0, all are in: send each node the merged vector time and the
 * arrivals' notices it has not seen; keep its own share in bar_result.
 * sync.lock held.
 */
static void release_all_locked(struct dsm_rt *rt, uint64_t epoch)
{
	struct dsm_sync *s = &rt->sync;

	for (int n = 0; n < rt->nnodes; n++) {
		struct dsm_notices nv = { 0 };

		if (dsm_notices_unseen(&s->bar_nv, &s->bar_arrive_vc[(size_t)n * rt->nnodes], n,
				       &nv) < 0)
			dsm_rt_abort(rt, "out of memory for a barrier's notices");
		if (n == 0) {
			memcpy(s->bar_result.vc, s->bar_vc, sizeof(s->bar_vc));
			s->bar_result.nv = nv;
			continue;
		}
		dsm_iv_send(rt, n, DSM_MSG_BARRIER_DONE, 0, epoch, 0, s->bar_vc, &nv);
		dsm_notices_free(&nv);
	}
	s->bar_nv.n = 0;
	memset(s->bar_vc, 0, sizeof(s->bar_vc));
}

/* Node 0: count an arrival with its vector time and notices; release
 * everyone when all are in.  sync.lock held. */
static void arrive_locked(struct dsm_rt *rt, int src, uint64_t epoch, const struct dsm_sync_info *a)
{
	struct dsm_sync *s = &rt->sync;
	uint32_t done = s->barrier_done;

	/* Every node waits for epoch e before entering e+1, so only these
	 * two epochs can be in flight.  Compared in 32 bits, like the futex
	 * word that holds the last one done, so 2^32 barriers wrap cleanly. */
	if ((uint32_t)epoch != done + 1 && (uint32_t)epoch != done + 2)
		dsm_rt_protocol_error(rt, src, "a barrier arrival for an unexpected epoch", epoch);
	for (int n = 0; n < rt->nnodes; n++) {
		if (a->vc[n] > s->bar_vc[n])
			s->bar_vc[n] = a->vc[n];
		s->bar_arrive_vc[(size_t)src * rt->nnodes + n] = a->vc[n];
	}
	for (size_t i = 0; i < a->nv.n; i++)
		if (dsm_notices_push(&s->bar_nv, a->nv.v[i].node, a->nv.v[i].page, a->nv.v[i].seq) < 0)
			dsm_rt_abort(rt, "out of memory for a barrier's notices");
	if (++s->arrived[epoch & 1] < rt->nnodes)
		return;
	if ((uint32_t)epoch != done + 1)
		dsm_rt_protocol_error(rt, src, "a barrier completing out of order", epoch);
	s->arrived[epoch & 1] = 0;
	release_all_locked(rt, epoch);
	__atomic_store_n(&s->barrier_done, (uint32_t)epoch, __ATOMIC_RELEASE);
	dsm_futex_wake_all(&s->barrier_done);
}

/*
 * A barrier is a release and an acquire for every node: arrive with this
 * node's vector time and the notices of its own intervals since the last
 * barrier, leave with everyone's.
 */
void dsm_sync_barrier(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;
	struct dsm_sync_info a = { .vc = { 0 } };
	uint64_t epoch;
	uint32_t seen;

	dsm_iv_release(rt);
	if (dsm_iv_collect(rt, &a.nv, a.vc) < 0)
		dsm_rt_abort(rt, "out of memory for write notices");
	pthread_mutex_lock(&s->lock);
	epoch = ++s->barrier_epoch;
	if (rt->self == 0)
		arrive_locked(rt, 0, epoch, &a);
	else
		dsm_iv_send(rt, 0, DSM_MSG_BARRIER_ARRIVE, 0, epoch, 0, a.vc, &a.nv);
	pthread_mutex_unlock(&s->lock);
	dsm_notices_free(&a.nv);
	/* The release comes from node 0: read it ourselves (service.c). */
	while ((seen = __atomic_load_n(&s->barrier_done, __ATOMIC_ACQUIRE)) != (uint32_t)epoch)
		dsm_rt_wait_reply(rt, 0, &s->barrier_done, seen, DSM_WAITER_THREAD);
	dsm_count(rt->counters.barriers, 1);
	/* bar_result is ours until we arrive at the next barrier. */
	dsm_iv_acquire(rt, &s->bar_result);
	dsm_iv_barrier_done(rt, s->bar_result.vc);
	dsm_notices_free(&s->bar_result.nv);
}

void dsm_sync_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			 const void *payload)
{
	struct dsm_sync *s = &rt->sync;
	struct dsm_sync_info info;

	switch (h->type) {
	case DSM_MSG_LOCK_ACQ:
	case DSM_MSG_LOCK_GRANT:
	case DSM_MSG_LOCK_FWD:
		dsm_lock_on_message(rt, src, h, payload);
		return;
	case DSM_MSG_BARRIER_ARRIVE:
		if (rt->self != 0)
			dsm_rt_protocol_error(rt, src, "a barrier arrival at a node other than 0", h->arg0);
		dsm_iv_parse(rt, src, h, payload, &info);
		pthread_mutex_lock(&s->lock);
		arrive_locked(rt, src, h->arg0, &info);
		pthread_mutex_unlock(&s->lock);
		dsm_notices_free(&info.nv);
		return;
	case DSM_MSG_BARRIER_DONE:
		if (src != 0 || (uint32_t)h->arg0 != s->barrier_done + 1)
			dsm_rt_protocol_error(rt, src, "an unexpected barrier release", h->arg0);
		dsm_iv_parse(rt, src, h, payload, &info);
		s->bar_result = info;
		__atomic_store_n(&s->barrier_done, (uint32_t)h->arg0, __ATOMIC_RELEASE);
		dsm_futex_wake_all(&s->barrier_done);
		return;
	}
}

static int sync_module_init(struct dsm_rt *rt)
{
	int ret = dsm_sync_init(rt);

	if (ret < 0) {
		dsm_err("out of memory for the lock and barrier tables of %d nodes", rt->nnodes);
		return ret;
	}
	/* What a thread waiting in dsm_lock_acquire or dsm_barrier waits
	 * for, and may deliver itself (dsm_rt_wait_reply): the handlers
	 * allocate and take sync.lock, never a page's or a fault's locks. */
	dsm_msg_thread_safe(rt, DSM_MSG_LOCK_GRANT);
	dsm_msg_thread_safe(rt, DSM_MSG_BARRIER_DONE);
	return 0;
}

static void sync_module_stats(struct dsm_rt *rt, struct dsm_stats *out)
{
	out->notices_held += dsm_sync_notices_held(rt);
}

/* Checkpoints: the locks (lock.c).  The barrier's own counters are not
 * state of the program: they keep counting across a rollback. */
static int sync_module_restore(struct dsm_rt *rt, struct dsm_ckpt_in *in)
{
	return dsm_lock_restore(rt, in);
}

const struct dsm_module dsm_sync_module = {
	.name       = "sync",
	.msg_first  = DSM_MSG_LOCK_ACQ,
	.msg_last   = DSM_MSG_BARRIER_DONE,
	.init       = sync_module_init,
	.fini       = dsm_sync_fini,
	.on_message = dsm_sync_on_message,
	.quiesce    = dsm_lock_quiesce,
	.save       = dsm_lock_save,
	.restore    = sync_module_restore,
	.stats      = sync_module_stats,
};
