/* SPDX-License-Identifier: BSD-3-Clause */
/* interval.c - intervals, vector time and write notices (see interval.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/compiler.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/ft/ft.h"
#include "runtime/protocol/protocol.h"

int dsm_notices_push(struct dsm_notices *nv, uint32_t node, uint32_t page, uint64_t seq)
{
	if (nv->n == nv->cap) {
		size_t cap = nv->cap ? 2 * nv->cap : 64;
		struct dsm_notice *v = realloc(nv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		nv->v = v;
		nv->cap = cap;
	}
	nv->v[nv->n++] = (struct dsm_notice){ .node = node, .page = page, .seq = seq };
	return 0;
}

void dsm_notices_prune(struct dsm_notices *nv, const uint64_t *floor)
{
	size_t i, k = 0;

	for (i = 0; i < nv->n; i++)
		if (nv->v[i].seq >= floor[nv->v[i].node])
			nv->v[k++] = nv->v[i];
	nv->n = k;
	/* Give memory back once the record has shrunk well below it. */
	if (nv->cap > 1024 && k < nv->cap / 4) {
		struct dsm_notice *v = realloc(nv->v, (nv->cap / 2) * sizeof(*v));

		if (v) {
			nv->v = v;
			nv->cap /= 2;
		}
	}
}

void dsm_notices_free(struct dsm_notices *nv)
{
	free(nv->v);
	*nv = (struct dsm_notices){ 0 };
}

int dsm_notices_unseen(const struct dsm_notices *nv, const uint64_t *vc, int node,
		       struct dsm_notices *out)
{
	for (size_t i = 0; i < nv->n; i++) {
		const struct dsm_notice *x = &nv->v[i];

		if ((int)x->node != node && x->seq >= vc[x->node] &&
		    dsm_notices_push(out, x->node, x->page, x->seq) < 0)
			return -ENOMEM;
	}
	return 0;
}

int dsm_iv_init(struct dsm_rt *rt)
{
	struct dsm_intervals *iv = &rt->iv;

	pthread_mutex_init(&iv->op, NULL);
	pthread_mutex_init(&iv->lock, NULL);
	iv->notices = rt->proto->model == DSM_RELEASE;
	iv->gc_at = DSM_NOTICE_GC_MIN;
	return 0;
}

void dsm_iv_fini(struct dsm_rt *rt)
{
	struct dsm_intervals *iv = &rt->iv;

	dsm_notices_free(&iv->log);
	for (int n = 0; n < DSM_MAX_NODES; n++)
		dsm_notices_free(&iv->staged[n]);
}

static void merge_vc(uint64_t *into, const uint64_t *from, int n)
{
	for (int i = 0; i < n; i++)
		if (from[i] > into[i])
			into[i] = from[i];
}

/* Node 0: start a collection round: every node reports its vector time,
 * and the entry-wise minimum becomes everyone's floor.  iv.lock held. */
static void gc_start_locked(struct dsm_rt *rt)
{
	struct dsm_intervals *iv = &rt->iv;

	if (iv->gc_running)
		return;
	iv->gc_running = true;
	iv->gc_replies = 0;
	memcpy(iv->gc_min, iv->vc, sizeof(uint64_t) * (size_t)rt->nnodes);
	for (int n = 1; n < rt->nnodes; n++)
		dsm_rt_send(rt, n, DSM_MSG_GC_QUERY, 0, 0, 0, NULL, 0);
}

/* The log passed its bound: ask node 0 for a collection round.  iv.lock held. */
static void maybe_ask_gc_locked(struct dsm_rt *rt)
{
	struct dsm_intervals *iv = &rt->iv;

	if (iv->log.n < iv->gc_at || iv->gc_asked || rt->nnodes == 1)
		return;
	iv->gc_asked = true;
	if (rt->self == 0)
		gc_start_locked(rt);
	else
		dsm_rt_send(rt, 0, DSM_MSG_GC_REQ, 0, 0, 0, NULL, 0);
}

static void out_of_memory(struct dsm_rt *rt)
{
	dsm_rt_abort(rt, "out of memory for write notices");
}

void dsm_iv_release(struct dsm_rt *rt)
{
	struct dsm_intervals *iv = &rt->iv;
	const uint32_t *pages = NULL;
	size_t n = 0, i;

	pthread_mutex_lock(&iv->op);
	rt->proto->release(rt, &pages, &n);
	pthread_mutex_lock(&iv->lock);
	if (iv->notices) {
		uint64_t seq = iv->vc[rt->self];

		for (i = 0; i < n; i++)
			if (dsm_notices_push(&iv->log, (uint32_t)rt->self, pages[i], seq) < 0)
				out_of_memory(rt);
		dsm_count(rt->counters.write_notices, n);
		maybe_ask_gc_locked(rt);
	}
	iv->vc[rt->self]++;
	pthread_mutex_unlock(&iv->lock);
	pthread_mutex_unlock(&iv->op);
}

void dsm_iv_acquire(struct dsm_rt *rt, const struct dsm_sync_info *info)
{
	struct dsm_intervals *iv = &rt->iv;
	struct dsm_notices unseen = { 0 };

	pthread_mutex_lock(&iv->op);
	if (rt->proto->publish_at_acquire) {
		const uint32_t *pages;
		size_t n;

		rt->proto->release(rt, &pages, &n);
	}
	pthread_mutex_lock(&iv->lock);
	/*
	 * Invalidate while holding iv.lock, before the vector time moves:
	 * another thread of this node that learns of the same intervals
	 * through another lock must not find them seen and the pages not yet
	 * invalidated.
	 */
	if (info && iv->notices && dsm_notices_unseen(&info->nv, iv->vc, rt->self, &unseen) < 0)
		out_of_memory(rt);
	rt->proto->acquire(rt, unseen.v, unseen.n, info == NULL);
	if (unseen.n) {
		for (size_t i = 0; i < unseen.n; i++)
			if (dsm_notices_push(&iv->log, unseen.v[i].node, unseen.v[i].page,
					     unseen.v[i].seq) < 0)
				out_of_memory(rt);
		maybe_ask_gc_locked(rt);
	}
	if (info)
		merge_vc(iv->vc, info->vc, rt->nnodes);
	iv->vc[rt->self]++;
	pthread_mutex_unlock(&iv->lock);
	pthread_mutex_unlock(&iv->op);
	dsm_notices_free(&unseen);
}

void dsm_iv_barrier_done(struct dsm_rt *rt, const uint64_t *vc)
{
	struct dsm_intervals *iv = &rt->iv;

	pthread_mutex_lock(&iv->lock);
	merge_vc(iv->floor, iv->bar_vc, rt->nnodes);
	memcpy(iv->bar_vc, vc, sizeof(uint64_t) * (size_t)rt->nnodes);
	dsm_notices_prune(&iv->log, iv->floor);
	pthread_mutex_unlock(&iv->lock);
}

/* A consistent copy (iv.lock). */
void dsm_iv_vc(struct dsm_rt *rt, uint64_t *out)
{
	pthread_mutex_lock(&rt->iv.lock);
	memcpy(out, rt->iv.vc, sizeof(uint64_t) * (size_t)rt->nnodes);
	pthread_mutex_unlock(&rt->iv.lock);
}

/*
 * The notices and the vector time are taken under one hold of iv.lock.
 * A release message says "every interval below vc happened before me, and
 * here are the notices of those you may not have seen"; whoever takes it in
 * (node 0 at a barrier, then every node it releases) merges vc and from then
 * on treats every interval below it as seen, so a notice below vc that the
 * message lacks is never invalidated for.  Taken under two holds (collect,
 * then dsm_iv_vc, as lock releases and barrier arrivals once did), another
 * thread of this node could run in between: its release closes interval s
 * with notices, or its acquire takes in another node's notices, and the
 * vector time read afterwards covers them while the notices collected
 * before do not.  The lock's next holder then merged s as seen without
 * invalidating the pages s wrote, and later got s's notices from another
 * lock's record filtered out as seen (its vector time, at the request
 * or at the acquire, covered s): it kept a stale copy and, under the
 * lock, read an old counter and lost an update (t_counter, several
 * threads per node; t_lockvc).
 */
int dsm_iv_collect(struct dsm_rt *rt, struct dsm_notices *out, uint64_t *vc)
{
	struct dsm_intervals *iv = &rt->iv;
	int ret = 0;

	pthread_mutex_lock(&iv->lock);
	memcpy(vc, iv->vc, sizeof(uint64_t) * (size_t)rt->nnodes);
	for (size_t i = 0; iv->notices && i < iv->log.n && ret == 0; i++) {
		const struct dsm_notice *x = &iv->log.v[i];

		if ((int)x->node == rt->self && x->seq >= iv->arrived_seq &&
		    x->seq >= iv->floor[x->node])
			ret = dsm_notices_push(out, x->node, x->page, x->seq);
	}
	if (iv->notices)
		iv->arrived_seq = iv->vc[rt->self];
	pthread_mutex_unlock(&iv->lock);
	return ret;
}

int dsm_iv_notices_between(struct dsm_rt *rt, const uint64_t *since, const uint64_t *until,
			   struct dsm_notices *out)
{
	struct dsm_intervals *iv = &rt->iv;
	int ret = 0;

	pthread_mutex_lock(&iv->lock);
	for (size_t i = 0; iv->notices && i < iv->log.n && ret == 0; i++) {
		const struct dsm_notice *x = &iv->log.v[i];

		if (x->seq >= since[x->node] && x->seq >= iv->floor[x->node] &&
		    x->seq < until[x->node])
			ret = dsm_notices_push(out, x->node, x->page, x->seq);
	}
	pthread_mutex_unlock(&iv->lock);
	return ret;
}

void dsm_iv_send(struct dsm_rt *rt, int dst, uint8_t type, uint32_t aux, uint64_t arg0,
		 uint64_t arg1, const uint64_t *vc, const struct dsm_notices *nv)
{
	size_t vbytes = sizeof(uint64_t) * (size_t)rt->nnodes;
	size_t max = dsm_rt_max_payload(rt);
	size_t per_msg = max / sizeof(struct dsm_notice);
	size_t room = (max - vbytes) / sizeof(struct dsm_notice);
	size_t n = nv ? nv->n : 0, i = 0, len;
	char small[1024], *buf = small;	/* a vector time and a few notices: no malloc */

	/* Whatever does not fit in the message itself goes first. */
	while (n - i > room) {
		size_t k = n - i - room < per_msg ? n - i - room : per_msg;

		dsm_rt_send(rt, dst, DSM_MSG_NOTICES, 0, 0, 0, &nv->v[i],
			    k * sizeof(struct dsm_notice));
		i += k;
	}
	len = vbytes + (n - i) * sizeof(struct dsm_notice);
	if (len > sizeof(small) && !(buf = malloc(len)))
		out_of_memory(rt);
	memcpy(buf, vc, vbytes);
	if (n > i)
		memcpy(buf + vbytes, &nv->v[i], (n - i) * sizeof(struct dsm_notice));
	dsm_rt_send(rt, dst, type, aux, arg0, arg1, buf, len);
	if (buf != small)
		free(buf);
}

/* Check received notices and append them to out.  Service thread. */
static void take_notices(struct dsm_rt *rt, int src, const void *p, size_t len,
			 struct dsm_notices *out)
{
	size_t n = len / sizeof(struct dsm_notice);

	if (len % sizeof(struct dsm_notice))
		dsm_rt_protocol_error(rt, src, "a notice list of a bad length", len);
	/* A bound on what one peer may make us hold. */
	if (out->n + n > ((size_t)1 << 26))
		dsm_rt_protocol_error(rt, src, "too many write notices", out->n + n);
	for (size_t i = 0; i < n; i++) {
		struct dsm_notice x;

		memcpy(&x, (const char *)p + i * sizeof(x), sizeof(x));
		if (x.node >= (uint32_t)rt->nnodes || x.page >= rt->dir.npages)
			dsm_rt_protocol_error(rt, src, "a write notice out of range", x.page);
		if (dsm_notices_push(out, x.node, x.page, x.seq) < 0)
			out_of_memory(rt);
	}
}

void dsm_iv_parse(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h, const void *payload,
		  struct dsm_sync_info *out)
{
	size_t vbytes = sizeof(uint64_t) * (size_t)rt->nnodes;

	if (h->len < vbytes)
		dsm_rt_protocol_error(rt, src, "a sync message without a vector time", h->len);
	memcpy(out->vc, payload, vbytes);
	out->nv = rt->iv.staged[src];
	rt->iv.staged[src] = (struct dsm_notices){ 0 };
	take_notices(rt, src, (const char *)payload + vbytes, h->len - vbytes, &out->nv);
}

static void check_vc_len(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	if (h->len != sizeof(uint64_t) * (size_t)rt->nnodes)
		dsm_rt_protocol_error(rt, src, "a collection message of a bad length", h->len);
}

/* Node 0: a collection round's floor is in; every node (this one too) prunes. */
static void gc_finish_locked(struct dsm_rt *rt)
{
	struct dsm_intervals *iv = &rt->iv;

	iv->gc_running = false;
	for (int n = 1; n < rt->nnodes; n++)
		dsm_rt_send(rt, n, DSM_MSG_GC_FLOOR, 0, 0, 0, iv->gc_min,
			    sizeof(uint64_t) * (size_t)rt->nnodes);
}

/* The floor of a collection round.  iv.lock held. */
static void gc_apply_locked(struct dsm_rt *rt, const uint64_t *floor)
{
	struct dsm_intervals *iv = &rt->iv;

	merge_vc(iv->floor, floor, rt->nnodes);
	/* Never above this node's own vector time: a round that began before
	 * a rollback (runtime/ft) counted intervals the rollback undid, whose
	 * numbers are being used again. */
	for (int n = 0; n < rt->nnodes; n++)
		if (iv->floor[n] > iv->vc[n])
			iv->floor[n] = iv->vc[n];
	dsm_notices_prune(&iv->log, iv->floor);
	iv->gc_asked = false;
	iv->gc_at = 2 * iv->log.n > DSM_NOTICE_GC_MIN ? 2 * iv->log.n : DSM_NOTICE_GC_MIN;
}

void dsm_iv_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
		       const void *payload)
{
	struct dsm_intervals *iv = &rt->iv;
	uint64_t vc[DSM_MAX_NODES];

	switch (h->type) {
	case DSM_MSG_NOTICES:
		take_notices(rt, src, payload, h->len, &iv->staged[src]);
		return;
	case DSM_MSG_GC_REQ:
		if (rt->self != 0)
			dsm_rt_protocol_error(rt, src, "a collection request at a node other than 0", 0);
		pthread_mutex_lock(&iv->lock);
		gc_start_locked(rt);
		pthread_mutex_unlock(&iv->lock);
		return;
	case DSM_MSG_GC_QUERY:
		if (src != 0)
			dsm_rt_protocol_error(rt, src, "a collection query from a node other than 0", 0);
		dsm_iv_vc(rt, vc);
		dsm_rt_send(rt, 0, DSM_MSG_GC_VC, 0, 0, 0, vc, sizeof(uint64_t) * (size_t)rt->nnodes);
		return;
	case DSM_MSG_GC_VC:
		check_vc_len(rt, src, h);
		memcpy(vc, payload, h->len);
		pthread_mutex_lock(&iv->lock);
		if (rt->self != 0 || !iv->gc_running)
			dsm_rt_protocol_error(rt, src, "an unexpected collection reply", 0);
		for (int n = 0; n < rt->nnodes; n++)
			if (vc[n] < iv->gc_min[n])
				iv->gc_min[n] = vc[n];
		if (++iv->gc_replies == rt->nnodes - 1) {
			gc_finish_locked(rt);
			gc_apply_locked(rt, iv->gc_min);
		}
		pthread_mutex_unlock(&iv->lock);
		return;
	case DSM_MSG_GC_FLOOR:
		check_vc_len(rt, src, h);
		if (src != 0)
			dsm_rt_protocol_error(rt, src, "a collection floor from a node other than 0", 0);
		memcpy(vc, payload, h->len);
		pthread_mutex_lock(&iv->lock);
		gc_apply_locked(rt, vc);
		pthread_mutex_unlock(&iv->lock);
		return;
	}
}

/*
 * Checkpoints: vector time goes back with the data (dsm_vclock() after a
 * rollback is what it was at the checkpoint), with the floor and the log
 * of notices.  Every copy is dropped at a rollback, so notices of
 * intervals the rollback undid, wherever they were, name nothing stale.
 */
struct iv_saved {
	uint64_t vc[DSM_MAX_NODES];
	uint64_t floor[DSM_MAX_NODES];
	uint64_t bar_vc[DSM_MAX_NODES];
	uint64_t arrived_seq;
};

static int iv_save(struct dsm_rt *rt, struct dsm_ckpt_out *out)
{
	struct dsm_intervals *iv = &rt->iv;
	struct iv_saved sv;
	struct dsm_notices log = { 0 };
	int ret = 0;

	pthread_mutex_lock(&iv->lock);
	memcpy(sv.vc, iv->vc, sizeof(sv.vc));
	memcpy(sv.floor, iv->floor, sizeof(sv.floor));
	memcpy(sv.bar_vc, iv->bar_vc, sizeof(sv.bar_vc));
	sv.arrived_seq = iv->arrived_seq;
	for (size_t i = 0; i < iv->log.n && ret == 0; i++)
		ret = dsm_notices_push(&log, iv->log.v[i].node, iv->log.v[i].page,
				       iv->log.v[i].seq);
	pthread_mutex_unlock(&iv->lock);
	if (ret == 0)
		ret = dsm_ckpt_put(out, "iv.state", &sv, sizeof(sv));
	if (ret == 0)
		ret = dsm_ckpt_put(out, "iv.log", log.v, log.n * sizeof(*log.v));
	dsm_notices_free(&log);
	return ret;
}

static int iv_restore(struct dsm_rt *rt, struct dsm_ckpt_in *in)
{
	struct dsm_intervals *iv = &rt->iv;
	size_t slen = 0, llen = 0;
	const void *sv = dsm_ckpt_get(in, "iv.state", &slen);
	const char *lv = dsm_ckpt_get(in, "iv.log", &llen);
	struct dsm_notices log = { 0 };
	struct iv_saved st;

	if (!sv || slen != sizeof(st) || !lv || llen % sizeof(struct dsm_notice)) {
		dsm_err("checkpoint: the vector time record is missing or malformed");
		return -EINVAL;
	}
	memcpy(&st, sv, sizeof(st));
	for (size_t at = 0; at < llen; at += sizeof(struct dsm_notice)) {
		struct dsm_notice x;

		memcpy(&x, lv + at, sizeof(x));
		if (x.node >= (uint32_t)rt->nnodes || x.page >= rt->dir.npages ||
		    dsm_notices_push(&log, x.node, x.page, x.seq) < 0) {
			dsm_notices_free(&log);
			dsm_err("checkpoint: the record of write notices is malformed or too large");
			return -EINVAL;
		}
	}
	pthread_mutex_lock(&iv->lock);
	memcpy(iv->vc, st.vc, sizeof(st.vc));
	memcpy(iv->floor, st.floor, sizeof(st.floor));
	memcpy(iv->bar_vc, st.bar_vc, sizeof(st.bar_vc));
	iv->arrived_seq = st.arrived_seq;
	dsm_notices_free(&iv->log);
	iv->log = log;
	iv->gc_asked = false;
	iv->gc_at = DSM_NOTICE_GC_MIN;
	pthread_mutex_unlock(&iv->lock);
	return 0;
}

const struct dsm_module dsm_iv_module = {
	.name       = "intervals",
	.msg_first  = DSM_MSG_NOTICES,
	.msg_last   = DSM_MSG_GC_FLOOR,
	.init       = dsm_iv_init,
	.fini       = dsm_iv_fini,
	.on_message = dsm_iv_on_message,
	.save       = iv_save,
	.restore    = iv_restore,
};
