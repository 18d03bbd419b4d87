/* SPDX-License-Identifier: BSD-3-Clause */
/* barrier.c - a centralized barrier at node 0 (see sync.h). */
#include <errno.h>
#include <stdlib.h>

#include "runtime/base/compiler.h"
#include "runtime/base/futex.h"
#include "runtime/core/rt.h"
#include "runtime/protocol/protocol.h"

int dsm_sync_init(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;

	pthread_mutex_init(&s->lock, NULL);
	s->mgr = calloc(DSM_MAX_LOCKS, sizeof(*s->mgr));
	s->held = calloc(DSM_MAX_LOCKS, sizeof(*s->held));
	if (!s->mgr || !s->held) {
		dsm_sync_fini(rt);
		return -ENOMEM;
	}
	for (int i = 0; i < DSM_MAX_LOCKS; i++)
		s->mgr[i].holder = -1;
	return 0;
}

void dsm_sync_fini(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;

	if (s->mgr) {
		for (int i = 0; i < DSM_MAX_LOCKS; i++) {
			while (s->mgr[i].head) {
				struct dsm_lock_request *r = s->mgr[i].head;

				s->mgr[i].head = r->next;
				free(r);
			}
		}
	}
	free(s->mgr);
	free(s->held);
	s->mgr = NULL;
	s->held = NULL;
}

/* Node 0: count an arrival; release everyone when all are in.
 * sync.lock held. */
static void arrive_locked(struct dsm_rt *rt, int src, uint64_t epoch)
{
	struct dsm_sync *s = &rt->sync;
	uint32_t done = s->barrier_done;

	/* Every node waits for epoch e before entering e+1, so only these
	 * two epochs can be in flight.  Compared in 32 bits, like the futex
	 * word that holds the last one done, so 2^32 barriers wrap cleanly. */
	if ((uint32_t)epoch != done + 1 && (uint32_t)epoch != done + 2)
		dsm_rt_protocol_error(rt, src, "a barrier arrival for an unexpected epoch", epoch);
	if (++s->arrived[epoch & 1] < rt->nnodes)
		return;
	if ((uint32_t)epoch != done + 1)
		dsm_rt_protocol_error(rt, src, "a barrier completing out of order", epoch);
	s->arrived[epoch & 1] = 0;
	for (int n = 1; n < rt->nnodes; n++)
		dsm_rt_send(rt, n, DSM_MSG_BARRIER_DONE, 0, epoch, 0, NULL, 0);
	__atomic_store_n(&s->barrier_done, (uint32_t)epoch, __ATOMIC_RELEASE);
	dsm_futex_wake_all(&s->barrier_done);
}

void dsm_sync_barrier(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;
	uint64_t epoch;
	uint32_t seen;

	rt->proto->release(rt);
	pthread_mutex_lock(&s->lock);
	epoch = ++s->barrier_epoch;
	if (rt->self == 0)
		arrive_locked(rt, 0, epoch);
	else
		dsm_rt_send(rt, 0, DSM_MSG_BARRIER_ARRIVE, 0, epoch, 0, NULL, 0);
	pthread_mutex_unlock(&s->lock);
	while ((seen = __atomic_load_n(&s->barrier_done, __ATOMIC_ACQUIRE)) != (uint32_t)epoch)
		dsm_wait_change(&s->barrier_done, seen, rt->spin_ns);
	dsm_count(rt->counters.barriers, 1);
	rt->proto->acquire(rt);
}

void dsm_sync_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	struct dsm_sync *s = &rt->sync;

	switch (h->type) {
	case DSM_MSG_LOCK_ACQ:
	case DSM_MSG_LOCK_GRANT:
	case DSM_MSG_LOCK_REL:
		dsm_lock_on_message(rt, src, h);
		return;
	case DSM_MSG_BARRIER_ARRIVE:
		if (rt->self != 0 || h->len)
			dsm_rt_protocol_error(rt, src, "a barrier arrival at a node other than 0", h->arg0);
		pthread_mutex_lock(&s->lock);
		arrive_locked(rt, src, h->arg0);
		pthread_mutex_unlock(&s->lock);
		return;
	case DSM_MSG_BARRIER_DONE:
		if (src != 0 || (uint32_t)h->arg0 != s->barrier_done + 1)
			dsm_rt_protocol_error(rt, src, "an unexpected barrier release", h->arg0);
		__atomic_store_n(&s->barrier_done, (uint32_t)h->arg0, __ATOMIC_RELEASE);
		dsm_futex_wake_all(&s->barrier_done);
		return;
	}
}
