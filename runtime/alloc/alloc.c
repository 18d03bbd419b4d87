/* SPDX-License-Identifier: BSD-3-Clause */
/* alloc.c - shared-heap allocation across nodes (see alloc.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/ft/ft.h"
#include "runtime/protocol/protocol.h"

int dsm_alloc_init(struct dsm_rt *rt)
{
	struct dsm_alloc *al = &rt->alloc;
	size_t ps = rt->heap.page_size;
	uintptr_t base = (uintptr_t)rt->heap.app;
	int ret;

	memset(al, 0, sizeof(*al));
	pthread_mutex_init(&al->lock, NULL);
	al->coll_base = base;
	al->coll_size = (rt->heap.size / 2) & ~(ps - 1);
	al->arenas_base = base + al->coll_size;
	al->arena_size = ((rt->heap.size - al->coll_size) / (size_t)rt->nnodes) & ~(ps - 1);
	ret = dsm_arena_init(&al->mine, al->arenas_base + (uintptr_t)rt->self * al->arena_size,
			     al->arena_size, ps);
	if (ret == 0 && rt->self == 0)
		ret = dsm_arena_init(&al->coll, al->coll_base, al->coll_size, ps);
	return ret;
}

void dsm_alloc_fini(struct dsm_rt *rt)
{
	struct dsm_alloc *al = &rt->alloc;

	dsm_arena_fini(&al->mine);
	if (rt->self == 0)
		dsm_arena_fini(&al->coll);
	while (al->head) {
		struct dsm_coll_result *r = al->head;

		al->head = r->next;
		free(r);
	}
	free(al->coll_log);
	al->coll_log = NULL;
}

/* The node that manages ptr's block, and its arena if that is this node. */
static int owner_of(struct dsm_rt *rt, uintptr_t p, struct dsm_arena **arena_p)
{
	struct dsm_alloc *al = &rt->alloc;
	int owner;

	if (p < al->arenas_base) {
		owner = 0;
		*arena_p = &al->coll;
	} else {
		owner = (int)((p - al->arenas_base) / al->arena_size);
		if (owner >= rt->nnodes)	/* the slack past the last arena */
			return -1;
		*arena_p = &al->mine;
	}
	if (owner != rt->self)
		*arena_p = NULL;
	return owner;
}

/*
 * Reused memory may hold old data, here or in other nodes' copies: zero it
 * through the application's view, so the coherence protocol carries the
 * zeros to whoever reads the block next.
 */
static void zero_block(uintptr_t p, size_t size)
{
	memset((void *)p, 0, size);
}

/* Tell the protocol where a block begins and ends (protocol.h). */
static void note_allocated(struct dsm_rt *rt, uintptr_t p, size_t size)
{
	if (p && size && rt->proto->allocated)
		rt->proto->allocated(rt, p, size);
}

void *dsm_alloc_local(struct dsm_rt *rt, size_t size, bool zero)
{
	bool fresh = false;
	uintptr_t p = dsm_arena_alloc(&rt->alloc.mine, size, &fresh);

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	if (zero && !fresh)
		zero_block(p, size);
	note_allocated(rt, p, size);
	return (void *)p;
}

/* Remember call seq's result (the log grows with the calls: one thread). */
static void log_collective(struct dsm_rt *rt, uint64_t seq, uintptr_t p, size_t size)
{
	struct dsm_alloc *al = &rt->alloc;

	if (seq > al->coll_log_cap) {
		size_t cap = al->coll_log_cap ? 2 * al->coll_log_cap : 64;
		struct dsm_coll_done *v = realloc(al->coll_log, cap * sizeof(*v));

		if (!v)
			dsm_rt_abort(rt, "out of memory recording a collective allocation");
		al->coll_log = v;
		al->coll_log_cap = cap;
	}
	al->coll_log[seq - 1] = (struct dsm_coll_done){ p, size };
}

/* A restarted program's start-up: the block this call returned before. */
static void *replay_collective(struct dsm_rt *rt, uint64_t seq, size_t size)
{
	const struct dsm_coll_done *d = &rt->alloc.coll_log[seq - 1];

	if (d->size != size) {
		dsm_err("dsm_alloc_collective(%zu): call %llu of the restarted program asks for "
			"another size than the checkpointed run did (%llu bytes): a restarted "
			"program must allocate as it did before its checkpoints", size,
			(unsigned long long)seq, (unsigned long long)d->size);
		errno = EINVAL;
		return NULL;
	}
	if (!d->addr) {
		errno = ENOMEM;
		return NULL;
	}
	note_allocated(rt, d->addr, size);
	return (void *)(uintptr_t)d->addr;
}

void *dsm_alloc_collective_rt(struct dsm_rt *rt, size_t size)
{
	struct dsm_alloc *al = &rt->alloc;
	uint64_t seq = ++al->coll_calls;	/* collective: one thread per node */
	struct dsm_coll_result *r;
	bool reused = false;
	uintptr_t p;

	if (seq <= al->replay_until)
		return replay_collective(rt, seq, size);
	if (rt->self == 0) {
		bool fresh = false;

		p = dsm_arena_alloc(&al->coll, size, &fresh);
		reused = p && !fresh;
		if (reused) {
			/*
			 * Under release and weak consistency the zeros reach
			 * the homes only at a release, and the other nodes'
			 * copies of the block's pages are stale: publish now,
			 * and they drop their copies when they get the block.
			 */
			zero_block(p, size);
			dsm_iv_release(rt);
		}
		for (int n = 1; n < rt->nnodes; n++)
			dsm_rt_send(rt, n, DSM_MSG_COLL_ALLOC, reused, seq, p, NULL, 0);
	} else {
		uint32_t seen;

		for (;;) {
			pthread_mutex_lock(&al->lock);
			seen = al->coll_arrived;
			r = al->head;
			if (r) {
				al->head = r->next;
				if (!al->head)
					al->tail = NULL;
			}
			pthread_mutex_unlock(&al->lock);
			if (r)
				break;
			dsm_wait_change(&al->coll_arrived, seen, rt->spin_ns);
		}
		if (r->seq != seq)
			dsm_rt_protocol_error(rt, 0, "a collective allocation out of order "
					      "(do all nodes call dsm_alloc_collective in the same order?)",
					      r->seq);
		p = r->addr;
		reused = r->reused;
		free(r);
		if (reused && rt->proto->forget)
			rt->proto->forget(rt, dsm_heap_page_of(&rt->heap, (void *)p),
					  dsm_heap_page_of(&rt->heap, (char *)p + size - 1) -
					  dsm_heap_page_of(&rt->heap, (void *)p) + 1);
	}
	log_collective(rt, seq, p, size);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	note_allocated(rt, p, size);
	return (void *)p;
}

static void free_here(struct dsm_rt *rt, struct dsm_arena *arena, uintptr_t p, int from)
{
	if (dsm_arena_free(arena, p) < 0)
		dsm_err("dsm_free(%p) from node %d: not the start of an allocated block "
			"(double free, or a pointer into a block)", (void *)p, from);
}

void dsm_alloc_free(struct dsm_rt *rt, void *ptr)
{
	struct dsm_arena *arena = NULL;
	uintptr_t p = (uintptr_t)ptr;
	int owner;

	if (!ptr)
		return;
	if (!dsm_heap_contains(&rt->heap, ptr)) {
		dsm_err("dsm_free(%p): not a pointer into the shared heap", ptr);
		return;
	}
	owner = owner_of(rt, p, &arena);
	if (owner < 0) {
		dsm_err("dsm_free(%p): not an allocated block", ptr);
		return;
	}
	if (owner == rt->self)
		free_here(rt, arena, p, rt->self);
	else
		dsm_rt_send(rt, owner, DSM_MSG_FREE, 0, p, 0, NULL, 0);
}

void dsm_alloc_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	struct dsm_alloc *al = &rt->alloc;
	struct dsm_arena *arena = NULL;

	if (h->len)
		dsm_rt_protocol_error(rt, src, "a malformed allocation message", h->len);
	if (h->type == DSM_MSG_FREE) {
		if (!dsm_heap_contains(&rt->heap, (void *)(uintptr_t)h->arg0) ||
		    owner_of(rt, h->arg0, &arena) != rt->self)
			dsm_rt_protocol_error(rt, src, "a free of memory not managed here", h->arg0);
		free_here(rt, arena, h->arg0, src);
		return;
	}
	/* DSM_MSG_COLL_ALLOC */
	if (src != 0 || (h->arg1 && !dsm_heap_contains(&rt->heap, (void *)(uintptr_t)h->arg1)))
		dsm_rt_protocol_error(rt, src, "a bad collective allocation", h->arg1);
	struct dsm_coll_result *r = malloc(sizeof(*r));

	if (!r)
		dsm_rt_abort(rt, "out of memory recording a collective allocation");
	r->seq = h->arg0;
	r->addr = h->arg1;
	r->reused = h->aux != 0;
	r->next = NULL;
	pthread_mutex_lock(&al->lock);
	if (al->tail)
		al->tail->next = r;
	else
		al->head = r;
	al->tail = r;
	__atomic_store_n(&al->coll_arrived, al->coll_arrived + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&al->lock);
	dsm_futex_wake_all(&al->coll_arrived);
}

static int alloc_module_init(struct dsm_rt *rt)
{
	int ret = dsm_alloc_init(rt);

	if (ret < 0)
		dsm_err("out of memory for the allocator's tables");
	return ret;
}

static void alloc_module_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
				    const void *payload)
{
	(void)payload;
	dsm_alloc_on_message(rt, src, h);
}

/*
 * Checkpoints: this node's arena, node 0's collective one, and the log of
 * collective calls (every node's sequence must match node 0's again).
 * Frees sent to other nodes arrived before the save (the checkpoint's
 * markers), so the arenas are complete.
 */
static int save_arena(struct dsm_arena *a, const char *name, struct dsm_ckpt_out *out)
{
	void *buf;
	size_t len;
	int ret = dsm_arena_save(a, &buf, &len);

	if (ret == 0) {
		ret = dsm_ckpt_put(out, name, buf, len);
		free(buf);
	}
	return ret;
}

static int alloc_module_save(struct dsm_rt *rt, struct dsm_ckpt_out *out)
{
	int ret = save_arena(&rt->alloc.mine, "alloc.mine", out);

	if (ret == 0 && rt->self == 0)
		ret = save_arena(&rt->alloc.coll, "alloc.coll", out);
	if (ret == 0)
		ret = dsm_ckpt_put(out, "alloc.calls", rt->alloc.coll_log,
				   rt->alloc.coll_calls * sizeof(*rt->alloc.coll_log));
	return ret;
}

static int restore_arena(struct dsm_arena *a, const char *name, const struct dsm_ckpt_in *in)
{
	size_t len = 0;
	const void *rec = dsm_ckpt_get(in, name, &len);
	int ret = rec ? dsm_arena_restore(a, rec, len) : -EINVAL;

	if (ret < 0)
		dsm_err("checkpoint: the allocator's record %s is %s", name,
			!rec ? "missing" : ret == -ENOMEM ? "too large for memory" :
			"not one of this heap");
	return ret;
}

/*
 * A rollback continues the program where the checkpoint was: its next
 * collective call is the checkpoint's next one.  A restart runs the
 * program from main() again: its first calls replay the logged ones.
 */
static int alloc_module_restore(struct dsm_rt *rt, struct dsm_ckpt_in *in)
{
	struct dsm_alloc *al = &rt->alloc;
	const void *calls;
	size_t len = 0, n;
	int ret = restore_arena(&al->mine, "alloc.mine", in);

	if (ret == 0 && rt->self == 0)
		ret = restore_arena(&al->coll, "alloc.coll", in);
	if (ret < 0)
		return ret;
	calls = dsm_ckpt_get(in, "alloc.calls", &len);
	if (!calls || len % sizeof(*al->coll_log)) {
		dsm_err("checkpoint: the allocator's record alloc.calls is missing");
		return -EINVAL;
	}
	n = len / sizeof(*al->coll_log);
	if (n > al->coll_log_cap) {
		struct dsm_coll_done *v = realloc(al->coll_log, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		al->coll_log = v;
		al->coll_log_cap = n;
	}
	if (n)
		memcpy(al->coll_log, calls, len);
	al->coll_calls = in->restart ? 0 : n;
	al->replay_until = in->restart ? n : 0;
	return 0;
}

const struct dsm_module dsm_alloc_module = {
	.name       = "alloc",
	.msg_first  = DSM_MSG_COLL_ALLOC,
	.msg_last   = DSM_MSG_FREE,
	.init       = alloc_module_init,
	.fini       = dsm_alloc_fini,
	.on_message = alloc_module_on_message,
	.save       = alloc_module_save,
	.restore    = alloc_module_restore,
};
