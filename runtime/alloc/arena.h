/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * arena.h - an address-range allocator for one arena of the shared heap.
 *
 * The bookkeeping lives in this process's private memory, never in the
 * shared heap, so allocating never faults on shared pages.  Memory above
 * the high-water mark has never been handed out and is known to be zero
 * on every node; memory reused from the free list is not.
 */
#ifndef DSM_ALLOC_ARENA_H
#define DSM_ALLOC_ARENA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSM_ARENA_MIN_ALIGN 16

struct dsm_extent {
	uintptr_t start;
	size_t len;
	struct dsm_extent *next;	/* sorted by start, never adjacent (coalesced) */
};

struct dsm_block {
	uintptr_t ptr;
	size_t size;
	struct dsm_block *next;		/* hash chain */
};

struct dsm_arena {
	pthread_mutex_t lock;		/* guards everything below */
	uintptr_t base;
	uintptr_t end;
	uintptr_t top;			/* high-water mark: [top, end) never handed out */
	size_t page_size;		/* blocks of at least this size are aligned to it */
	struct dsm_extent *free;	/* freed ranges below top */
	struct dsm_block **buckets;	/* live blocks by address */
	size_t nbuckets;
	size_t nblocks;
	size_t bytes_live;
};

int dsm_arena_init(struct dsm_arena *a, uintptr_t base, size_t size, size_t page_size);
void dsm_arena_fini(struct dsm_arena *a);

/*
 * Allocate size bytes (0 counts as 1): aligned to page_size when size >=
 * page_size, else to DSM_ARENA_MIN_ALIGN.  Returns the address, or 0 when
 * the arena has no room (or bookkeeping memory ran out).  *fresh_p tells
 * whether the block was never handed out before (so it is still zero).
 * Any thread.
 */
uintptr_t dsm_arena_alloc(struct dsm_arena *a, size_t size, bool *fresh_p);

/* Free the block starting at ptr.  0, or -EINVAL if no live block starts
 * there (a double free, or a pointer into the middle of a block). */
int dsm_arena_free(struct dsm_arena *a, uintptr_t ptr);

/* The size of the live block at ptr, or 0. */
size_t dsm_arena_block_size(struct dsm_arena *a, uintptr_t ptr);

/*
 * Checkpoints: the arena's state (high-water mark, free ranges, live
 * blocks) as one flat buffer (*buf, malloc'd, *len bytes), and back.
 * save: 0 or -ENOMEM.  restore: 0, -EINVAL (a record that does not fit
 * this arena: nothing changed) or -ENOMEM.
 */
int dsm_arena_save(struct dsm_arena *a, void **buf, size_t *len);
int dsm_arena_restore(struct dsm_arena *a, const void *buf, size_t len);

#endif /* DSM_ALLOC_ARENA_H */
