/* SPDX-License-Identifier: BSD-3-Clause */
/* alloc.c - shared-heap allocation across nodes (see alloc.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
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

void *dsm_alloc_collective_rt(struct dsm_rt *rt, size_t size)
{
	struct dsm_alloc *al = &rt->alloc;
	uint64_t seq = ++al->coll_calls;	/* collective: one thread per node */
	struct dsm_coll_result *r;
	bool reused = false;
	uintptr_t p;

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

const struct dsm_module dsm_alloc_module = {
	.name       = "alloc",
	.msg_first  = DSM_MSG_COLL_ALLOC,
	.msg_last   = DSM_MSG_FREE,
	.init       = alloc_module_init,
	.fini       = dsm_alloc_fini,
	.on_message = alloc_module_on_message,
};
