/* SPDX-License-Identifier: BSD-3-Clause */
/* heap.c - the memfd behind the shared heap and its two views. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dsm.h"
#include "kernel-shim/mem/heap.h"
#include "runtime/base/log.h"

int dsm_heap_map(struct dsm_heap *heap, uintptr_t base, size_t size, size_t page_size)
{
	void *app, *rt;
	int fd, err;

	memset(heap, 0, sizeof(*heap));
	heap->memfd = -1;
	fd = memfd_create("dsm-heap", MFD_CLOEXEC);
	if (fd < 0) {
		err = errno;
		dsm_err("shared heap: memfd_create failed: %s", strerror(err));
		return -DSM_EHEAP;
	}
	/* Sparse: pages take memory only once written. */
	if (ftruncate(fd, (off_t)size) < 0) {
		err = errno;
		dsm_err("shared heap: cannot size the memfd to %zu bytes: %s", size, strerror(err));
		goto err_close;
	}
	/*
	 * Same virtual address on every node, so a pointer means the same
	 * thing everywhere.  MAP_FIXED_NOREPLACE fails instead of clobbering
	 * an existing mapping; kernels before 4.17 ignore the flag and may
	 * return another address, which we treat as the same failure.
	 */
	app = mmap((void *)base, size, PROT_NONE, MAP_SHARED | MAP_FIXED_NOREPLACE | MAP_NORESERVE,
		   fd, 0);
	if (app == MAP_FAILED || app != (void *)base) {
		err = app == MAP_FAILED ? errno : EEXIST;
		if (app != MAP_FAILED)
			munmap(app, size);
		dsm_err("shared heap: cannot map %zu bytes at the fixed address %#lx: %s "
			"(set DSM_HEAP_BASE to a free range or lower DSM_HEAP_SIZE)",
			size, (unsigned long)base, strerror(err));
		goto err_close;
	}
	rt = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (rt == MAP_FAILED) {
		err = errno;
		dsm_err("shared heap: cannot map the runtime's view (%zu bytes): %s",
			size, strerror(err));
		munmap(app, size);
		goto err_close;
	}
	heap->app = app;
	heap->rt = rt;
	heap->size = size;
	heap->page_size = page_size;
	heap->page_shift = (unsigned int)__builtin_ctzl(page_size);
	heap->npages = size / page_size;
	heap->memfd = fd;
	return 0;

err_close:
	close(fd);
	return -DSM_EHEAP;
}

void dsm_heap_unmap(struct dsm_heap *heap)
{
	if (heap->app)
		munmap(heap->app, heap->size);
	if (heap->rt)
		munmap(heap->rt, heap->size);
	if (heap->memfd >= 0)
		close(heap->memfd);
	memset(heap, 0, sizeof(*heap));
	heap->memfd = -1;
}
