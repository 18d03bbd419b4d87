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

static void free_lists(struct dsm_extent *ext, struct dsm_block **buckets, size_t nbuckets)
{
	while (ext) {
		struct dsm_extent *e = ext;

		ext = e->next;
		free(e);
	}
	for (size_t k = 0; buckets && k < nbuckets; k++)
		while (buckets[k]) {
			struct dsm_block *b = buckets[k];

			buckets[k] = b->next;
			free(b);
		}
	free(buckets);
}

void dsm_arena_fini(struct dsm_arena *a)
{
	free_lists(a->free, a->buckets, a->nbuckets);
	a->free = NULL;
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

/* Record layout: u64 top, u64 nextents, u64 nblocks, then {start, len}
 * per free range in order, then {ptr, size} per live block. */
int dsm_arena_save(struct dsm_arena *a, void **buf, size_t *len)
{
	uint64_t *v, n = 3;
	size_t next = 0, i = 3;

	pthread_mutex_lock(&a->lock);
	for (struct dsm_extent *e = a->free; e; e = e->next)
		next++;
	n += 2 * (next + a->nblocks);
	v = malloc(n * sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&a->lock);
		return -ENOMEM;
	}
	v[0] = a->top;
	v[1] = next;
	v[2] = a->nblocks;
	for (struct dsm_extent *e = a->free; e; e = e->next) {
		v[i++] = e->start;
		v[i++] = e->len;
	}
	for (size_t k = 0; k < a->nbuckets; k++)
		for (struct dsm_block *b = a->buckets[k]; b; b = b->next) {
			v[i++] = b->ptr;
			v[i++] = b->size;
		}
	pthread_mutex_unlock(&a->lock);
	*buf = v;
	*len = n * sizeof(*v);
	return 0;
}

static bool in_arena(const struct dsm_arena *a, uint64_t start, uint64_t len)
{
	return start >= a->base && start <= a->end && len <= a->end - start;
}

int dsm_arena_restore(struct dsm_arena *a, const void *buf, size_t len)
{
	struct dsm_arena n = { .base = a->base, .end = a->end, .page_size = a->page_size };
	struct dsm_extent **tail = &n.free;
	uint64_t h[3];
	const char *p = buf;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(h, p, sizeof(h));
	if (h[1] > len / 16 || h[2] > len / 16 || len != sizeof(h) + 16 * (h[1] + h[2]) ||
	    !in_arena(a, h[0], 0))
		return -EINVAL;
	n.top = h[0];
	n.nbuckets = INITIAL_BUCKETS;
	while (n.nbuckets < h[2] / 2)
		n.nbuckets *= 2;
	n.buckets = calloc(n.nbuckets, sizeof(*n.buckets));
	if (!n.buckets)
		return -ENOMEM;
	p += sizeof(h);
	for (uint64_t i = 0; i < h[1] + h[2]; i++, p += 16) {
		uint64_t r[2];

		memcpy(r, p, sizeof(r));
		if (!in_arena(a, r[0], r[1]) || r[0] + r[1] > n.top)
			goto bad;
		if (i < h[1]) {
			struct dsm_extent *e = malloc(sizeof(*e));

			if (!e)
				goto nomem;
			*e = (struct dsm_extent){ .start = r[0], .len = r[1] };
			*tail = e;
			tail = &e->next;
		} else {
			struct dsm_block *b = malloc(sizeof(*b));
			size_t k = bucket_of(&n, r[0]);

			if (!b)
				goto nomem;
			*b = (struct dsm_block){ .ptr = r[0], .size = r[1], .next = n.buckets[k] };
			n.buckets[k] = b;
			n.nblocks++;
			n.bytes_live += r[1];
		}
	}
	pthread_mutex_lock(&a->lock);
	free_lists(a->free, a->buckets, a->nbuckets);
	a->top = n.top;
	a->free = n.free;
	a->buckets = n.buckets;
	a->nbuckets = n.nbuckets;
	a->nblocks = n.nblocks;
	a->bytes_live = n.bytes_live;
	pthread_mutex_unlock(&a->lock);
	return 0;
bad:
	free_lists(n.free, n.buckets, n.nbuckets);
	return -EINVAL;
nomem:
	free_lists(n.free, n.buckets, n.nbuckets);
	return -ENOMEM;
}
