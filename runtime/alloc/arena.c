/* SPDX-License-Identifier: BSD-3-Clause */
/* arena.c - first-fit range allocator with coalescing (see arena.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc/arena.h"

#define INITIAL_BUCKETS 1024

static uintptr_t align_up(uintptr_t v, size_t a)
{
	return (v + a - 1) & ~(uintptr_t)(a - 1);
}

static size_t bucket_of(const struct dsm_arena *a, uintptr_t ptr)
{
	return (size_t)(((uint64_t)ptr >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (a->nbuckets - 1);
}

int dsm_arena_init(struct dsm_arena *a, uintptr_t base, size_t size, size_t page_size)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->base = a->top = base;
	a->end = base + size;
	a->page_size = page_size;
	a->nbuckets = INITIAL_BUCKETS;
	a->buckets = calloc(a->nbuckets, sizeof(*a->buckets));
	return a->buckets ? 0 : -ENOMEM;
}

void dsm_arena_fini(struct dsm_arena *a)
{
	for (size_t i = 0; a->buckets && i < a->nbuckets; i++) {
		while (a->buckets[i]) {
			struct dsm_block *b = a->buckets[i];

			a->buckets[i] = b->next;
			free(b);
		}
	}
	while (a->free) {
		struct dsm_extent *e = a->free;

		a->free = e->next;
		free(e);
	}
	free(a->buckets);
	a->buckets = NULL;
	pthread_mutex_destroy(&a->lock);
}

static void grow_buckets(struct dsm_arena *a)
{
	size_t old = a->nbuckets;
	struct dsm_block **ob = a->buckets, **nb = calloc(old * 2, sizeof(*nb));

	if (!nb)
		return;		/* longer chains, still correct */
	a->buckets = nb;
	a->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		while (ob[i]) {
			struct dsm_block *b = ob[i];
			size_t k = bucket_of(a, b->ptr);

			ob[i] = b->next;
			b->next = nb[k];
			nb[k] = b;
		}
	}
	free(ob);
}

/* Give [start, start+len) back to the free list, merging neighbours. */
static int insert_free(struct dsm_arena *a, uintptr_t start, size_t len)
{
	struct dsm_extent **pp = &a->free, *prev = NULL, *e;

	if (!len)
		return 0;
	while (*pp && (*pp)->start < start) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (prev && prev->start + prev->len == start) {
		prev->len += len;
		e = prev->next;
		if (e && prev->start + prev->len == e->start) {
			prev->len += e->len;
			prev->next = e->next;
			free(e);
		}
		return 0;
	}
	e = *pp;
	if (e && start + len == e->start) {
		e->start = start;
		e->len += len;
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->start = start;
	e->len = len;
	e->next = *pp;
	*pp = e;
	return 0;
}

/* Carve [at, at+size) out of extent *pp, which contains it. */
static int carve(struct dsm_arena *a, struct dsm_extent **pp, uintptr_t at, size_t size)
{
	struct dsm_extent *e = *pp;
	uintptr_t end = e->start + e->len;

	if (at == e->start) {
		e->start += size;
		e->len -= size;
		if (!e->len) {
			*pp = e->next;
			free(e);
		}
		return 0;
	}
	e->len = at - e->start;		/* left part stays in place */
	if (at + size < end) {
		struct dsm_extent *r = malloc(sizeof(*r));

		if (!r) {
			e->len = end - e->start;	/* undo */
			return -ENOMEM;
		}
		r->start = at + size;
		r->len = end - r->start;
		r->next = e->next;
		e->next = r;
	}
	return 0;
}

uintptr_t dsm_arena_alloc(struct dsm_arena *a, size_t size, bool *fresh_p)
{
	size_t align = size >= a->page_size ? a->page_size : DSM_ARENA_MIN_ALIGN;
	struct dsm_extent **pp;
	struct dsm_block *b;
	uintptr_t at = 0;
	bool fresh = false;

	if (size == 0)
		size = 1;
	if (size > a->end - a->base)
		return 0;
	size = align_up(size, DSM_ARENA_MIN_ALIGN);
	b = malloc(sizeof(*b));
	if (!b)
		return 0;
	pthread_mutex_lock(&a->lock);
	for (pp = &a->free; *pp; pp = &(*pp)->next) {
		uintptr_t s = align_up((*pp)->start, align);

		if (s + size <= (*pp)->start + (*pp)->len) {
			if (carve(a, pp, s, size) == 0)
				at = s;
			break;
		}
	}
	if (!at && a->free) {
		/*
		 * A freed range that ends at the high-water mark continues into
		 * the never-used space: a block may straddle both (not fresh).
		 */
		struct dsm_extent *last = a->free, **lp = &a->free;

		while (last->next) {
			lp = &last->next;
			last = last->next;
		}
		if (last->start + last->len == a->top) {
			uintptr_t s = align_up(last->start, align);

			if (s < a->end && size <= a->end - s) {
				if (s == last->start) {
					*lp = NULL;
					free(last);
				} else {
					last->len = s - last->start;
				}
				at = s;
				a->top = s + size;
			}
		}
	}
	if (!at) {
		uintptr_t s = align_up(a->top, align);

		if (s <= a->end && size <= a->end - s) {
			insert_free(a, a->top, s - a->top);	/* the alignment gap */
			at = s;
			a->top = s + size;
			fresh = true;
		}
	}
	if (!at) {
		pthread_mutex_unlock(&a->lock);
		free(b);
		return 0;
	}
	b->ptr = at;
	b->size = size;
	if (++a->nblocks > 2 * a->nbuckets)
		grow_buckets(a);
	b->next = a->buckets[bucket_of(a, at)];
	a->buckets[bucket_of(a, at)] = b;
	a->bytes_live += size;
	pthread_mutex_unlock(&a->lock);
	if (fresh_p)
		*fresh_p = fresh;
	return at;
}

int dsm_arena_free(struct dsm_arena *a, uintptr_t ptr)
{
	struct dsm_block **pp, *b;
	int ret = -EINVAL;

	pthread_mutex_lock(&a->lock);
	for (pp = &a->buckets[bucket_of(a, ptr)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->ptr != ptr)
			continue;
		b = *pp;
		*pp = b->next;
		a->nblocks--;
		a->bytes_live -= b->size;
		ret = insert_free(a, b->ptr, b->size);
		free(b);
		break;
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

size_t dsm_arena_block_size(struct dsm_arena *a, uintptr_t ptr)
{
	size_t size = 0;

	pthread_mutex_lock(&a->lock);
	for (struct dsm_block *b = a->buckets[bucket_of(a, ptr)]; b; b = b->next)
		if (b->ptr == ptr) {
			size = b->size;
			break;
		}
	pthread_mutex_unlock(&a->lock);
	return size;
}
