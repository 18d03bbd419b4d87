/* SPDX-License-Identifier: BSD-3-Clause */
/* lock.c - distributed locks with a manager per lock (see sync.h). */
#include <errno.h>
#include <stdlib.h>

#include "runtime/base/compiler.h"
#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/protocol/protocol.h"

static int manager_of(struct dsm_rt *rt, unsigned int lock_id)
{
	return (int)(lock_id % (unsigned int)rt->nnodes);
}

/* Wake the local thread whose token was granted.  sync.lock held. */
static void wake_waiter_locked(struct dsm_rt *rt, int src, unsigned int lock_id, uint64_t token)
{
	struct dsm_lock_waiter **pp = &rt->sync.waiters;

	for (; *pp; pp = &(*pp)->next) {
		struct dsm_lock_waiter *w = *pp;

		if (w->token == token) {
			*pp = w->next;
			rt->sync.held[lock_id] = true;
			__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
			dsm_futex_wake_all(&w->done);
			return;
		}
	}
	dsm_rt_protocol_error(rt, src, "a lock grant nobody here asked for", lock_id);
}

/* Manager: hand the lock to node (maybe this one).  sync.lock held. */
static void grant_locked(struct dsm_rt *rt, unsigned int lock_id, int node, uint64_t token)
{
	rt->sync.mgr[lock_id].holder = node;
	if (node == rt->self)
		wake_waiter_locked(rt, node, lock_id, token);
	else
		dsm_rt_send(rt, node, DSM_MSG_LOCK_GRANT, 0, lock_id, token, NULL, 0);
}

/* Manager: a request from node.  sync.lock held.  0 or -ENOMEM. */
static int request_locked(struct dsm_rt *rt, unsigned int lock_id, int node, uint64_t token)
{
	struct dsm_lock_mgr *m = &rt->sync.mgr[lock_id];
	struct dsm_lock_request *r;

	if (m->holder < 0) {
		grant_locked(rt, lock_id, node, token);
		return 0;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->node = node;
	r->token = token;
	r->next = NULL;
	if (m->tail)
		m->tail->next = r;
	else
		m->head = r;
	m->tail = r;
	return 0;
}

/* Manager: node released the lock; grant the next in FIFO order. */
static void release_locked(struct dsm_rt *rt, unsigned int lock_id, int node)
{
	struct dsm_lock_mgr *m = &rt->sync.mgr[lock_id];
	struct dsm_lock_request *r = m->head;

	if (m->holder != node)
		dsm_rt_protocol_error(rt, node, "a release of a lock it does not hold", lock_id);
	m->holder = -1;
	if (!r)
		return;
	m->head = r->next;
	if (!m->head)
		m->tail = NULL;
	grant_locked(rt, lock_id, r->node, r->token);
	free(r);
}

int dsm_sync_lock_acquire(struct dsm_rt *rt, unsigned int lock_id)
{
	struct dsm_lock_waiter w = { .done = 0 };
	int mgr = manager_of(rt, lock_id), ret = 0;

	if (lock_id >= DSM_MAX_LOCKS)
		return -EINVAL;
	pthread_mutex_lock(&rt->sync.lock);
	w.token = ++rt->sync.next_token;
	w.next = rt->sync.waiters;
	rt->sync.waiters = &w;
	if (mgr == rt->self)
		ret = request_locked(rt, lock_id, rt->self, w.token);
	else
		dsm_rt_send(rt, mgr, DSM_MSG_LOCK_ACQ, 0, lock_id, w.token, NULL, 0);
	if (ret < 0) {
		/* Not queued anywhere: unlink our waiter before it goes out of scope. */
		struct dsm_lock_waiter **pp = &rt->sync.waiters;

		while (*pp != &w)
			pp = &(*pp)->next;
		*pp = w.next;
	}
	pthread_mutex_unlock(&rt->sync.lock);
	if (ret < 0)
		return ret;
	dsm_wait_change(&w.done, 0, rt->spin_ns);
	dsm_count(rt->counters.lock_acquires, 1);
	rt->proto->acquire(rt);
	return 0;
}

int dsm_sync_lock_release(struct dsm_rt *rt, unsigned int lock_id)
{
	int mgr = manager_of(rt, lock_id);

	if (lock_id >= DSM_MAX_LOCKS)
		return -EINVAL;
	pthread_mutex_lock(&rt->sync.lock);
	if (!rt->sync.held[lock_id]) {
		pthread_mutex_unlock(&rt->sync.lock);
		return -DSM_ENOTHELD;
	}
	rt->sync.held[lock_id] = false;
	pthread_mutex_unlock(&rt->sync.lock);

	/* Publish this node's writes before the next holder can see the
	 * grant. */
	rt->proto->release(rt);

	pthread_mutex_lock(&rt->sync.lock);
	if (mgr == rt->self)
		release_locked(rt, lock_id, rt->self);
	else
		dsm_rt_send(rt, mgr, DSM_MSG_LOCK_REL, 0, lock_id, 0, NULL, 0);
	pthread_mutex_unlock(&rt->sync.lock);
	return 0;
}

/* Service thread: lock messages. */
void dsm_lock_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	unsigned int lock_id = (unsigned int)h->arg0;

	if (h->arg0 >= DSM_MAX_LOCKS || h->len)
		dsm_rt_protocol_error(rt, src, "a malformed lock message", h->arg0);
	if (h->type != DSM_MSG_LOCK_GRANT && manager_of(rt, lock_id) != rt->self)
		dsm_rt_protocol_error(rt, src, "a lock message for a lock not managed here", lock_id);
	pthread_mutex_lock(&rt->sync.lock);
	switch (h->type) {
	case DSM_MSG_LOCK_ACQ:
		if (request_locked(rt, lock_id, src, h->arg1) < 0)
			dsm_rt_abort(rt, "out of memory queueing a lock request");
		break;
	case DSM_MSG_LOCK_GRANT:
		if (manager_of(rt, lock_id) != src)
			dsm_rt_protocol_error(rt, src, "a lock grant from a non-manager", lock_id);
		wake_waiter_locked(rt, src, lock_id, h->arg1);
		break;
	case DSM_MSG_LOCK_REL:
		release_locked(rt, lock_id, src);
		break;
	}
	pthread_mutex_unlock(&rt->sync.lock);
}
