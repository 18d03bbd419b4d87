/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * heap.h - the shared heap: one memfd mapped twice (ARCHITECTURE.md,
 * "Two views of one memfd").  The application's view sits at the same fixed
 * virtual address on every node and carries the page protections; the
 * runtime's view, anywhere in the address space, is always writable, so
 * the runtime fills and reads pages without ever lifting a protection and an
 * application thread never sees a page half-written.
 */
#ifndef DSM_SHIM_HEAP_H
#define DSM_SHIM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dsm_heap {
	char *app;		/* application's view, at the fixed base */
	char *rt;		/* runtime's view: always PROT_READ|PROT_WRITE */
	size_t size;		/* bytes, a multiple of page_size */
	size_t page_size;	/* the coherence unit */
	unsigned int page_shift;
	size_t npages;
	int memfd;
};

/*
 * Create the memfd and both views.  The application's view starts
 * PROT_NONE: every first access faults into the runtime.  Returns 0, or
 * -DSM_EHEAP after logging which range could not be mapped and why.
 */
int dsm_heap_map(struct dsm_heap *heap, uintptr_t base, size_t size, size_t page_size);
void dsm_heap_unmap(struct dsm_heap *heap);

static inline bool dsm_heap_contains(const struct dsm_heap *heap, const void *p)
{
	return (uintptr_t)p - (uintptr_t)heap->app < heap->size;
}

static inline size_t dsm_heap_page_of(const struct dsm_heap *heap, const void *p)
{
	return ((uintptr_t)p - (uintptr_t)heap->app) >> heap->page_shift;
}

static inline char *dsm_heap_app_page(const struct dsm_heap *heap, size_t page)
{
	return heap->app + (page << heap->page_shift);
}

static inline char *dsm_heap_rt_page(const struct dsm_heap *heap, size_t page)
{
	return heap->rt + (page << heap->page_shift);
}

#endif /* DSM_SHIM_HEAP_H */
