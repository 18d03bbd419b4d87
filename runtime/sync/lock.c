/* SPDX-License-Identifier: BSD-3-Clause */
/* lock.c - distributed locks with a manager per lock (see sync.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/compiler.h"
#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/ft/ft.h"
#include "runtime/protocol/protocol.h"

static int manager_of(struct dsm_rt *rt, unsigned int lock_id)
{
	return (int)(lock_id % (unsigned int)rt->nnodes);
}

/* Wake the local thread whose token was granted; it takes the grant's
 * vector time and notices (moved into its waiter).  sync.lock held. */
static void wake_waiter_locked(struct dsm_rt *rt, int src, unsigned int lock_id, uint64_t token,
			       struct dsm_sync_info *grant)
{
	struct dsm_lock_waiter **pp = &rt->sync.waiters;

	for (; *pp; pp = &(*pp)->next) {
		struct dsm_lock_waiter *w = *pp;

		if (w->token == token) {
			*pp = w->next;
			rt->sync.held[lock_id] = true;
			memcpy(w->grant.vc, grant->vc, sizeof(grant->vc));
			w->grant.nv = grant->nv;
			grant->nv = (struct dsm_notices){ 0 };
			__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
			dsm_futex_wake_all(&w->done);
			return;
		}
	}
	dsm_rt_protocol_error(rt, src, "a lock grant nobody here asked for", lock_id);
}

/*
 * Manager: hand the lock to node (maybe this one), with the lock's vector
 * time and the notices of its record that node has not seen (its vector
 * time when it asked: it has only grown since, so at worst it gets some
 * twice).  sync.lock held.
 */
static void grant_locked(struct dsm_rt *rt, unsigned int lock_id, int node, uint64_t token,
			 const uint64_t *node_vc)
{
	struct dsm_lock_mgr *m = &rt->sync.mgr[lock_id];
	struct dsm_sync_info g = { .vc = { 0 } };

	m->holder = node;
	memcpy(g.vc, dsm_sync_vc_row(rt->sync.lock_vc, rt->nnodes, lock_id),
	       sizeof(uint64_t) * (size_t)rt->nnodes);
	if (dsm_notices_unseen(&m->nv, node_vc, node, &g.nv) < 0)
		dsm_rt_abort(rt, "out of memory for a lock grant");
	if (node == rt->self)
		wake_waiter_locked(rt, node, lock_id, token, &g);
	else
		dsm_iv_send(rt, node, DSM_MSG_LOCK_GRANT, 0, lock_id, token, g.vc, &g.nv);
	dsm_notices_free(&g.nv);
}

/* Manager: a request from node with its vector time.  sync.lock held.
 * 0 or -ENOMEM. */
static int request_locked(struct dsm_rt *rt, unsigned int lock_id, int node, uint64_t token,
			  const uint64_t *node_vc)
{
	struct dsm_lock_mgr *m = &rt->sync.mgr[lock_id];
	struct dsm_lock_request *r;

	if (m->holder < 0) {
		grant_locked(rt, lock_id, node, token, node_vc);
		return 0;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->node = node;
	r->token = token;
	r->next = NULL;
	memcpy(r->vc, node_vc, sizeof(uint64_t) * (size_t)rt->nnodes);
	if (m->tail)
		m->tail->next = r;
	else
		m->head = r;
	m->tail = r;
	return 0;
}

/*
 * Manager: take what a release carried into the lock's record: the
 * notices the record does not have yet (seq at or above the record's own
 * vector time), and the releaser's vector time.  Notices below the floor
 * are known everywhere and go every 4096 new ones.  sync.lock
 * held.
 */
static void record_locked(struct dsm_rt *rt, unsigned int lock_id, const struct dsm_sync_info *rel)
{
	struct dsm_lock_mgr *m = &rt->sync.mgr[lock_id];
	uint64_t *vc = dsm_sync_vc_row(rt->sync.lock_vc, rt->nnodes, lock_id);
	uint64_t floor[DSM_MAX_NODES];

	for (size_t i = 0; i < rel->nv.n; i++) {
		const struct dsm_notice *x = &rel->nv.v[i];

		if (x->seq >= vc[x->node] &&
		    dsm_notices_push(&m->nv, x->node, x->page, x->seq) < 0)
			dsm_rt_abort(rt, "out of memory for a lock's record");
	}
	for (int n = 0; n < rt->nnodes; n++)
		if (rel->vc[n] > vc[n])
			vc[n] = rel->vc[n];
	if (m->nv.n > m->pruned_n + 4096) {
		dsm_iv_floor(rt, floor);
		dsm_notices_prune(&m->nv, floor);
		m->pruned_n = m->nv.n;
	}
}

/* Manager: node released the lock; grant the next in FIFO order.
 * sync.lock held. */
static void release_locked(struct dsm_rt *rt, unsigned int lock_id, int node,
			   const struct dsm_sync_info *rel)
{
	struct dsm_lock_mgr *m = &rt->sync.mgr[lock_id];
	struct dsm_lock_request *r = m->head;

	if (m->holder != node)
		dsm_rt_protocol_error(rt, node, "a release of a lock it does not hold", lock_id);
	record_locked(rt, lock_id, rel);
	m->holder = -1;
	if (!r)
		return;
	m->head = r->next;
	if (!m->head)
		m->tail = NULL;
	grant_locked(rt, lock_id, r->node, r->token, r->vc);
	free(r);
}

int dsm_sync_lock_acquire(struct dsm_rt *rt, unsigned int lock_id)
{
	struct dsm_lock_waiter w = { .done = 0 };
	int mgr = manager_of(rt, lock_id), ret = 0;
	uint64_t vc[DSM_MAX_NODES];

	if (lock_id >= DSM_MAX_LOCKS)
		return -EINVAL;
	dsm_iv_vc(rt, vc);
	pthread_mutex_lock(&rt->sync.lock);
	w.token = ++rt->sync.next_token;
	w.next = rt->sync.waiters;
	rt->sync.waiters = &w;
	if (mgr == rt->self)
		ret = request_locked(rt, lock_id, rt->self, w.token, vc);
	else
		dsm_iv_send(rt, mgr, DSM_MSG_LOCK_ACQ, 0, lock_id, w.token, vc, NULL);
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
	/* The grant comes from the manager: read it ourselves (service.c).
	 * done goes from 0 to 1 once, so one wait covers it. */
	dsm_rt_wait_reply(rt, mgr, &w.done, 0, DSM_WAITER_THREAD);
	dsm_count(rt->counters.lock_acquires, 1);
	/* What the lock's record has now, our release need not send again.
	 * Only the holder touches it, and we hold the lock. */
	memcpy(dsm_sync_vc_row(rt->sync.held_vc, rt->nnodes, lock_id), w.grant.vc,
	       sizeof(uint64_t) * (size_t)rt->nnodes);
	dsm_iv_acquire(rt, &w.grant);
	dsm_notices_free(&w.grant.nv);
	return 0;
}

int dsm_sync_lock_release(struct dsm_rt *rt, unsigned int lock_id)
{
	int mgr = manager_of(rt, lock_id);
	struct dsm_sync_info rel = { .vc = { 0 } };

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
	 * grant; then tell the manager what the next holder must see. */
	dsm_iv_release(rt);
	/* The notices and the vector time they are complete for, at once
	 * (another thread of this node may release or acquire meanwhile). */
	if (dsm_iv_collect(rt, dsm_sync_vc_row(rt->sync.held_vc, rt->nnodes, lock_id), false,
			   &rel.nv, rel.vc) < 0)
		dsm_rt_abort(rt, "out of memory for write notices");
	/*
	 * DSM_TEST_RELEASE_DELAY_US, for libdsm's own tests: give this
	 * node's other threads time to release and acquire other locks
	 * while this release is under way (t_lockvc).
	 */
	if (rt->sync.test_release_delay_us)
		usleep(rt->sync.test_release_delay_us);

	pthread_mutex_lock(&rt->sync.lock);
	if (mgr == rt->self)
		release_locked(rt, lock_id, rt->self, &rel);
	else
		dsm_iv_send(rt, mgr, DSM_MSG_LOCK_REL, 0, lock_id, 0, rel.vc, &rel.nv);
	pthread_mutex_unlock(&rt->sync.lock);
	dsm_notices_free(&rel.nv);
	return 0;
}

uint64_t dsm_sync_notices_held(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->bar_nv.n;
	for (int i = 0; i < DSM_MAX_LOCKS; i++)
		n += s->mgr[i].nv.n;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&rt->iv.lock);
	n += rt->iv.log.n;
	pthread_mutex_unlock(&rt->iv.lock);
	return n;
}

void dsm_lock_fini(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;

	for (int i = 0; s->mgr && i < DSM_MAX_LOCKS; i++) {
		while (s->mgr[i].head) {
			struct dsm_lock_request *r = s->mgr[i].head;

			s->mgr[i].head = r->next;
			free(r);
		}
		dsm_notices_free(&s->mgr[i].nv);
	}
}

/*
 * Checkpoints.  A checkpoint is taken with no lock held anywhere (the
 * state of a holder's critical section is not saved consistently with
 * its data), so what remains of a lock is what its manager keeps for the
 * next holder: the lock's vector time and its releasers' notices.
 */
int dsm_lock_quiesce(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < DSM_MAX_LOCKS && ret == 0; i++) {
		if (s->held[i]) {
			dsm_err("dsm_checkpoint/dsm_rollback: node %d holds lock %u: checkpoints "
				"and rollbacks need every lock free", rt->self, i);
			ret = -EBUSY;
		} else if (s->mgr[i].head) {
			dsm_err("dsm_checkpoint/dsm_rollback: lock %u has waiters: checkpoints "
				"and rollbacks need every lock free", i);
			ret = -EBUSY;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Record "sync.locks": per lock managed here that has a history,
 * {u32 lock, u32 notices, u64 vc[N], struct dsm_notice[notices]}. */
int dsm_lock_save(struct dsm_rt *rt, struct dsm_ckpt_out *out)
{
	struct dsm_sync *s = &rt->sync;
	size_t vbytes = sizeof(uint64_t) * (size_t)rt->nnodes, len = 0, cap = 0;
	char *buf = NULL;
	int ret;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = (unsigned int)rt->self; i < DSM_MAX_LOCKS;
	     i += (unsigned int)rt->nnodes) {
		const uint64_t *vc = dsm_sync_vc_row(s->lock_vc, rt->nnodes, i);
		const struct dsm_notices *nv = &s->mgr[i].nv;
		size_t need = 8 + vbytes + nv->n * sizeof(struct dsm_notice);
		uint32_t hdr[2] = { i, (uint32_t)nv->n };
		bool used = nv->n > 0;

		for (int n = 0; n < rt->nnodes; n++)
			used |= vc[n] != 0;
		if (!used)
			continue;
		if (len + need > cap) {
			char *nb = realloc(buf, cap = 2 * (len + need));

			if (!nb) {
				pthread_mutex_unlock(&s->lock);
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		memcpy(buf + len, hdr, 8);
		memcpy(buf + len + 8, vc, vbytes);
		if (nv->n)
			memcpy(buf + len + 8 + vbytes, nv->v, nv->n * sizeof(struct dsm_notice));
		len += need;
	}
	pthread_mutex_unlock(&s->lock);
	ret = dsm_ckpt_put(out, "sync.locks", buf, len);
	free(buf);
	return ret;
}

int dsm_lock_restore(struct dsm_rt *rt, const struct dsm_ckpt_in *in)
{
	struct dsm_sync *s = &rt->sync;
	size_t vbytes = sizeof(uint64_t) * (size_t)rt->nnodes, len = 0, at = 0;
	const char *rec = dsm_ckpt_get(in, "sync.locks", &len);
	int ret = rec ? 0 : -EINVAL;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < DSM_MAX_LOCKS; i++) {
		s->mgr[i].nv.n = 0;
		s->mgr[i].pruned_n = 0;
		s->held[i] = false;
	}
	memset(s->lock_vc, 0, (size_t)DSM_MAX_LOCKS * vbytes);
	while (ret == 0 && at < len) {
		uint32_t hdr[2];
		struct dsm_lock_mgr *m;

		if (len - at < 8 + vbytes) {
			ret = -EINVAL;
			break;
		}
		memcpy(hdr, rec + at, 8);
		if (hdr[0] >= DSM_MAX_LOCKS || manager_of(rt, hdr[0]) != rt->self ||
		    hdr[1] > (len - at - 8 - vbytes) / sizeof(struct dsm_notice)) {
			ret = -EINVAL;
			break;
		}
		m = &s->mgr[hdr[0]];
		memcpy(dsm_sync_vc_row(s->lock_vc, rt->nnodes, hdr[0]), rec + at + 8, vbytes);
		at += 8 + vbytes;
		for (uint32_t k = 0; k < hdr[1] && ret == 0; k++, at += sizeof(struct dsm_notice)) {
			struct dsm_notice x;

			memcpy(&x, rec + at, sizeof(x));
			ret = dsm_notices_push(&m->nv, x.node, x.page, x.seq);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		dsm_err("checkpoint: the locks' record is %s", ret == -ENOMEM ?
			"too large for memory" : "missing or malformed");
	return ret;
}

/* Service thread: lock messages. */
void dsm_lock_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			 const void *payload)
{
	unsigned int lock_id = (unsigned int)h->arg0;
	struct dsm_sync_info info;

	if (h->arg0 >= DSM_MAX_LOCKS)
		dsm_rt_protocol_error(rt, src, "a malformed lock message", h->arg0);
	if (h->type != DSM_MSG_LOCK_GRANT && manager_of(rt, lock_id) != rt->self)
		dsm_rt_protocol_error(rt, src, "a lock message for a lock not managed here", lock_id);
	if (h->type == DSM_MSG_LOCK_GRANT && manager_of(rt, lock_id) != src)
		dsm_rt_protocol_error(rt, src, "a lock grant from a non-manager", lock_id);
	dsm_iv_parse(rt, src, h, payload, &info);
	pthread_mutex_lock(&rt->sync.lock);
	switch (h->type) {
	case DSM_MSG_LOCK_ACQ:
		if (request_locked(rt, lock_id, src, h->arg1, info.vc) < 0)
			dsm_rt_abort(rt, "out of memory queueing a lock request");
		break;
	case DSM_MSG_LOCK_GRANT:
		wake_waiter_locked(rt, src, lock_id, h->arg1, &info);
		break;
	case DSM_MSG_LOCK_REL:
		release_locked(rt, lock_id, src, &info);
		break;
	}
	pthread_mutex_unlock(&rt->sync.lock);
	dsm_notices_free(&info.nv);
}
