/* SPDX-License-Identifier: BSD-3-Clause */
/* lock.c - distributed locks: a token passed from holder to holder (see sync.h). */
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

/* Where every token starts, at init and after a restore: free at its
 * lock's manager, which is also the last node to have asked for it. */
void dsm_lock_init(struct dsm_rt *rt)
{
	for (unsigned int i = 0; i < DSM_MAX_LOCKS; i++) {
		struct dsm_lock_state *l = &rt->sync.locks[i];
		bool mine = manager_of(rt, i) == rt->self;

		l->token = mine ? DSM_TOKEN_FREE : DSM_TOKEN_AWAY;
		l->asking = 0;
		l->last = mine ? rt->self : -1;
	}
}

/* Wake the local thread whose token was granted; it takes the grant's
 * vector time and notices (moved into its waiter).  sync.lock held. */
static void wake_waiter_locked(struct dsm_rt *rt, int src, unsigned int lock_id, uint64_t token,
			       struct dsm_sync_info *grant)
{
	struct dsm_lock_waiter **pp = &rt->sync.waiters;

	for (; *pp; pp = &(*pp)->next) {
		struct dsm_lock_waiter *w = *pp;

		if (w->token != token)
			continue;
		if (w->lock != lock_id)
			break;
		*pp = w->next;
		rt->sync.locks[lock_id].token = DSM_TOKEN_HELD;
		rt->sync.locks[lock_id].asking--;
		memcpy(w->grant.vc, grant->vc, sizeof(grant->vc));
		w->grant.nv = grant->nv;
		grant->nv = (struct dsm_notices){ 0 };
		__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
		dsm_futex_wake_all(&w->done);
		return;
	}
	dsm_rt_protocol_error(rt, src, "a lock grant nobody here asked for", lock_id);
}

/*
 * This node has the token, free: pass it to node (maybe this one), for
 * the thread named by token.  The grant carries this node's vector time
 * at its last release of the lock and the notices of the intervals below
 * it that node had not seen when it asked (its vector time then: it has
 * only grown since, so at worst it gets some twice).  That release's
 * vector time covers every release of the lock before it, since each
 * holder took its predecessor's in, so the grant names all that happened
 * before the lock's last release and nothing later: lazy release
 * consistency as TreadMarks has it, the last releaser telling the
 * acquirer what to invalidate.  sync.lock held.
 */
static void pass_token_locked(struct dsm_rt *rt, unsigned int lock_id, int node, uint64_t token,
			      const uint64_t *node_vc)
{
	struct dsm_sync_info g = { .vc = { 0 } };
	const uint64_t *rel = dsm_sync_vc_row(rt->sync.rel_vc, rt->nnodes, lock_id);

	memcpy(g.vc, rel, sizeof(uint64_t) * (size_t)rt->nnodes);
	if (node == rt->self) {
		/* Nothing to learn from ourselves: an acquire with no notices. */
		wake_waiter_locked(rt, node, lock_id, token, &g);
		return;
	}
	if (dsm_iv_notices_between(rt, node_vc, rel, &g.nv) < 0)
		dsm_rt_abort(rt, "out of memory for a lock grant");
	rt->sync.locks[lock_id].token = DSM_TOKEN_AWAY;
	dsm_iv_send(rt, node, DSM_MSG_LOCK_GRANT, 0, lock_id, token, g.vc, &g.nv);
	dsm_notices_free(&g.nv);
}

/* The manager sent node's request here, this node being the last to ask
 * before it: pass the token now if it is here and free, else after this
 * node's turn (turns: this node's own requests, queued here as well).
 * sync.lock held.  0 or -ENOMEM. */
static int forward_locked(struct dsm_rt *rt, unsigned int lock_id, int node, uint64_t token,
			  const uint64_t *node_vc)
{
	struct dsm_lock_state *l = &rt->sync.locks[lock_id];
	struct dsm_lock_request *r;

	if (l->token == DSM_TOKEN_FREE) {
		/* A free token has nobody queued behind it (release). */
		pass_token_locked(rt, lock_id, node, token, node_vc);
		return 0;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->node = node;
	r->token = token;
	r->next = NULL;
	memcpy(r->vc, node_vc, sizeof(uint64_t) * (size_t)rt->nnodes);
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	return 0;
}

/*
 * Manager: node asks for the lock.  The token's queue is distributed:
 * the manager only remembers the last node to ask, and sends it the
 * request, to be served after it (forward_locked).  Requests are so
 * served in the order in which the manager received them (FIFO).
 * Returns the node the grant will come from, or -ENOMEM.  sync.lock held.
 */
static int request_locked(struct dsm_rt *rt, unsigned int lock_id, int node, uint64_t token,
			  const uint64_t *node_vc)
{
	struct dsm_lock_state *l = &rt->sync.locks[lock_id];
	int prev = l->last;
	int ret = 0;

	if (prev == rt->self)
		ret = forward_locked(rt, lock_id, node, token, node_vc);
	else
		dsm_iv_send(rt, prev, DSM_MSG_LOCK_FWD, (uint32_t)node, lock_id, token, node_vc,
			    NULL);
	if (ret < 0)
		return ret;
	l->last = node;
	return prev;
}

int dsm_sync_lock_acquire(struct dsm_rt *rt, unsigned int lock_id)
{
	struct dsm_lock_waiter w = { .done = 0, .lock = lock_id };
	int mgr = manager_of(rt, lock_id), from = mgr;
	struct dsm_lock_state *l;
	uint64_t vc[DSM_MAX_NODES];

	if (lock_id >= DSM_MAX_LOCKS)
		return -EINVAL;
	dsm_iv_vc(rt, vc);
	pthread_mutex_lock(&rt->sync.lock);
	l = &rt->sync.locks[lock_id];
	if (l->token == DSM_TOKEN_FREE) {
		/* This node released it last and nobody asked since: take it
		 * back without a message. */
		l->token = DSM_TOKEN_HELD;
		pthread_mutex_unlock(&rt->sync.lock);
		memcpy(w.grant.vc, vc, sizeof(vc));
		goto granted;
	}
	w.token = ++rt->sync.next_token;
	w.next = rt->sync.waiters;
	rt->sync.waiters = &w;
	l->asking++;
	if (mgr == rt->self)
		from = request_locked(rt, lock_id, rt->self, w.token, vc);
	else
		dsm_iv_send(rt, mgr, DSM_MSG_LOCK_ACQ, 0, lock_id, w.token, vc, NULL);
	if (from < 0) {
		/* Not queued anywhere: unlink our waiter before it goes out of scope. */
		struct dsm_lock_waiter **pp = &rt->sync.waiters;

		while (*pp != &w)
			pp = &(*pp)->next;
		*pp = w.next;
		l->asking--;
	}
	pthread_mutex_unlock(&rt->sync.lock);
	if (from < 0)
		return from;
	/*
	 * The grant comes from the last node to ask before us: read it
	 * ourselves (service.c) from the connection it will come on if we
	 * know it (we manage the lock), else from the manager's, which is
	 * right when the token was there.  done goes from 0 to 1 once, so
	 * one wait covers it.
	 */
	dsm_rt_wait_reply(rt, from, &w.done, 0, DSM_WAITER_THREAD);
granted:
	dsm_count(rt->counters.lock_acquires, 1);
	dsm_iv_acquire(rt, &w.grant);
	dsm_notices_free(&w.grant.nv);
	return 0;
}

int dsm_sync_lock_release(struct dsm_rt *rt, unsigned int lock_id)
{
	struct dsm_lock_state *l;
	struct dsm_lock_request *r;

	if (lock_id >= DSM_MAX_LOCKS)
		return -EINVAL;
	pthread_mutex_lock(&rt->sync.lock);
	l = &rt->sync.locks[lock_id];
	if (l->token != DSM_TOKEN_HELD) {
		pthread_mutex_unlock(&rt->sync.lock);
		return -DSM_ENOTHELD;
	}
	/* Still here, not free: a request that comes meanwhile queues. */
	l->token = DSM_TOKEN_RELEASING;
	pthread_mutex_unlock(&rt->sync.lock);

	/* Publish this node's writes before the next holder can see the
	 * grant (its notices name them). */
	dsm_iv_release(rt);
	/*
	 * DSM_TEST_RELEASE_DELAY_US, for libdsm's own tests: give this
	 * node's other threads time to release and acquire other locks
	 * while this release is under way (t_lockvc).
	 */
	if (rt->sync.test_release_delay_us)
		usleep(rt->sync.test_release_delay_us);

	pthread_mutex_lock(&rt->sync.lock);
	/* Our interval is closed: what a grant from here will carry. */
	dsm_iv_vc(rt, dsm_sync_vc_row(rt->sync.rel_vc, rt->nnodes, lock_id));
	if ((r = l->head) != NULL) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
		pass_token_locked(rt, lock_id, r->node, r->token, r->vc);
		free(r);
	} else {
		l->token = DSM_TOKEN_FREE;
	}
	pthread_mutex_unlock(&rt->sync.lock);
	return 0;
}

uint64_t dsm_sync_notices_held(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->bar_nv.n;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&rt->iv.lock);
	n += rt->iv.log.n;
	pthread_mutex_unlock(&rt->iv.lock);
	return n;
}

static void drop_requests(struct dsm_lock_state *l)
{
	while (l->head) {
		struct dsm_lock_request *r = l->head;

		l->head = r->next;
		free(r);
	}
	l->tail = NULL;
}

void dsm_lock_fini(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;

	for (int i = 0; s->locks && i < DSM_MAX_LOCKS; i++)
		drop_requests(&s->locks[i]);
}

/*
 * Checkpoints.  A checkpoint is taken with no lock held or asked for
 * anywhere (the state of a holder's critical section is not saved
 * consistently with its data), and after every message sent before it
 * has arrived, so what remains of a lock is where its token is and, where
 * it is, the vector time of the release that a grant from there carries;
 * the notices a grant takes are in the logs of the intervals (interval.c).
 */
int dsm_lock_quiesce(struct dsm_rt *rt)
{
	struct dsm_sync *s = &rt->sync;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < DSM_MAX_LOCKS && ret == 0; i++) {
		if (s->locks[i].token == DSM_TOKEN_HELD || s->locks[i].token == DSM_TOKEN_RELEASING) {
			dsm_err("dsm_checkpoint/dsm_rollback: node %d holds lock %u: checkpoints "
				"and rollbacks need every lock free", rt->self, i);
			ret = -EBUSY;
		} else if (s->locks[i].head) {
			dsm_err("dsm_checkpoint/dsm_rollback: lock %u has waiters: checkpoints "
				"and rollbacks need every lock free", i);
			ret = -EBUSY;
		}
	}
	if (ret == 0 && s->waiters) {
		dsm_err("dsm_checkpoint/dsm_rollback: node %d waits for lock %u: checkpoints "
			"and rollbacks need every lock free", rt->self, s->waiters->lock);
		ret = -EBUSY;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/*
 * Record "sync.tokens": {u32 lock, i32 last, u64 rel_vc[N]} for each lock
 * that is not as it starts.  For a lock managed here, last is the last
 * node to have asked for it (the token is here if that is this node); for
 * another's, -1 says its token is here.  rel_vc is this node's vector
 * time at its last release of the lock, which a grant from here carries
 * (zero where the token is not here).
 */
static size_t token_rec_len(struct dsm_rt *rt)
{
	return 8 + sizeof(uint64_t) * (size_t)rt->nnodes;
}

int dsm_lock_save(struct dsm_rt *rt, struct dsm_ckpt_out *out)
{
	struct dsm_sync *s = &rt->sync;
	size_t vbytes = sizeof(uint64_t) * (size_t)rt->nnodes, rlen = token_rec_len(rt), len = 0;
	char *buf = NULL;
	int ret;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < DSM_MAX_LOCKS; i++) {
		const struct dsm_lock_state *l = &s->locks[i];
		const uint64_t *rel = dsm_sync_vc_row(s->rel_vc, rt->nnodes, i);
		bool mine = manager_of(rt, i) == rt->self, here = l->token != DSM_TOKEN_AWAY;
		int32_t last = mine ? l->last : -1;
		bool moved = mine ? last != rt->self : here;

		for (int n = 0; here && n < rt->nnodes; n++)
			moved |= rel[n] != 0;
		if (!moved)
			continue;
		if (!buf && !(buf = calloc(DSM_MAX_LOCKS, rlen))) {
			pthread_mutex_unlock(&s->lock);
			return -ENOMEM;
		}
		memcpy(buf + len, &i, 4);
		memcpy(buf + len + 4, &last, 4);
		if (here)
			memcpy(buf + len + 8, rel, vbytes);
		len += rlen;
	}
	pthread_mutex_unlock(&s->lock);
	ret = dsm_ckpt_put(out, "sync.tokens", buf, len);
	free(buf);
	return ret;
}

int dsm_lock_restore(struct dsm_rt *rt, const struct dsm_ckpt_in *in)
{
	struct dsm_sync *s = &rt->sync;
	size_t vbytes = sizeof(uint64_t) * (size_t)rt->nnodes, rlen = token_rec_len(rt), len = 0;
	const char *rec = dsm_ckpt_get(in, "sync.tokens", &len);
	int ret = rec && len % rlen == 0 ? 0 : -EINVAL;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < DSM_MAX_LOCKS; i++)
		drop_requests(&s->locks[i]);
	dsm_lock_init(rt);
	memset(s->rel_vc, 0, (size_t)DSM_MAX_LOCKS * vbytes);
	for (size_t at = 0; ret == 0 && at < len; at += rlen) {
		struct dsm_lock_state *l;
		uint32_t lock;
		int32_t last;
		bool mine;

		memcpy(&lock, rec + at, 4);
		memcpy(&last, rec + at + 4, 4);
		if (lock >= DSM_MAX_LOCKS) {
			ret = -EINVAL;
			break;
		}
		l = &s->locks[lock];
		mine = manager_of(rt, lock) == rt->self;
		if (mine && last >= 0 && last < rt->nnodes) {
			l->last = last;
			l->token = last == rt->self ? DSM_TOKEN_FREE : DSM_TOKEN_AWAY;
		} else if (!mine && last == -1) {
			l->token = DSM_TOKEN_FREE;
		} else {
			ret = -EINVAL;
			break;
		}
		if (l->token == DSM_TOKEN_FREE)
			memcpy(dsm_sync_vc_row(s->rel_vc, rt->nnodes, lock), rec + at + 8, vbytes);
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		dsm_err("checkpoint: the locks' record (sync.tokens) is missing or malformed");
	return ret;
}

/* Service thread: lock messages. */
void dsm_lock_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			 const void *payload)
{
	unsigned int lock_id = (unsigned int)h->arg0;
	struct dsm_sync_info info;
	int ret = 0;

	if (h->arg0 >= DSM_MAX_LOCKS)
		dsm_rt_protocol_error(rt, src, "a malformed lock message", h->arg0);
	if (h->type == DSM_MSG_LOCK_ACQ && manager_of(rt, lock_id) != rt->self)
		dsm_rt_protocol_error(rt, src, "a lock request for a lock not managed here", lock_id);
	if (h->type == DSM_MSG_LOCK_FWD &&
	    (manager_of(rt, lock_id) != src || h->aux >= (uint32_t)rt->nnodes))
		dsm_rt_protocol_error(rt, src, "a forwarded lock request not from its manager",
				      lock_id);
	dsm_iv_parse(rt, src, h, payload, &info);
	pthread_mutex_lock(&rt->sync.lock);
	switch (h->type) {
	case DSM_MSG_LOCK_ACQ:
		ret = request_locked(rt, lock_id, src, h->arg1, info.vc);
		break;
	case DSM_MSG_LOCK_GRANT:
		wake_waiter_locked(rt, src, lock_id, h->arg1, &info);
		break;
	case DSM_MSG_LOCK_FWD:
		/* We are the last to have asked: we have the token or wait for it. */
		if (rt->sync.locks[lock_id].token == DSM_TOKEN_AWAY &&
		    !rt->sync.locks[lock_id].asking)
			dsm_rt_protocol_error(rt, src, "a lock request forwarded to a node that "
					      "neither has the lock nor asked for it", lock_id);
		ret = forward_locked(rt, lock_id, (int)h->aux, h->arg1, info.vc);
		break;
	}
	pthread_mutex_unlock(&rt->sync.lock);
	if (ret < 0)
		dsm_rt_abort(rt, "out of memory queueing a lock request");
	dsm_notices_free(&info.nv);
}
