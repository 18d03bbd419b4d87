/* SPDX-License-Identifier: BSD-3-Clause */
/* api.c - the public functions of dsm.h that are thin over the runtime. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/ft/ft.h"
#include "runtime/numa/numa.h"
#include "runtime/protocol/protocol.h"

int dsm_node_id(void)
{
	return dsm_rt ? dsm_rt->self : 0;
}

int dsm_num_nodes(void)
{
	return dsm_rt ? dsm_rt->nnodes : 1;
}

dsm_consistency_t dsm_consistency(void)
{
	return dsm_rt ? dsm_rt->cfg.consistency : DSM_SEQUENTIAL;
}

size_t dsm_page_size(void)
{
	return dsm_rt ? dsm_rt->heap.page_size : 0;
}

int dsm_is_shared(const void *ptr)
{
	return dsm_rt && dsm_heap_contains(&dsm_rt->heap, ptr);
}

int dsm_home_node(const void *ptr)
{
	if (!dsm_rt || !dsm_heap_contains(&dsm_rt->heap, ptr))
		return -EINVAL;
	return dsm_rt->proto->home_of(dsm_rt, dsm_heap_page_of(&dsm_rt->heap, ptr));
}

int dsm_bind_thread(int index)
{
	if (!dsm_rt)
		return -DSM_ENOTINIT;
	return dsm_numa_bind_thread(dsm_rt, index);
}

void *dsm_alloc_collective(size_t size)
{
	if (!dsm_rt) {
		errno = ENOMEM;
		return NULL;
	}
	return dsm_alloc_collective_rt(dsm_rt, size);
}

void *dsm_malloc(size_t size)
{
	if (!dsm_rt) {
		errno = ENOMEM;
		return NULL;
	}
	return dsm_alloc_local(dsm_rt, size, false);
}

void *dsm_calloc(size_t nmemb, size_t size)
{
	size_t total;

	if (!dsm_rt || __builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return dsm_alloc_local(dsm_rt, total, true);
}

void dsm_free(void *ptr)
{
	if (dsm_rt)
		dsm_alloc_free(dsm_rt, ptr);
}

void dsm_barrier(void)
{
	if (dsm_rt)
		dsm_sync_barrier(dsm_rt);
}

/*
 * A bad lock id or a release without holding the lock is the program's
 * bug: besides the code (API.md), one line that says which call and why,
 * since programs often ignore what these return.
 */
int dsm_lock_acquire(unsigned lock_id)
{
	if (!dsm_rt)
		return -DSM_ENOTINIT;
	if (lock_id >= DSM_MAX_LOCKS) {
		dsm_err("dsm_lock_acquire(%u): lock id out of range (0 to %d, DSM_MAX_LOCKS - 1)",
			lock_id, DSM_MAX_LOCKS - 1);
		return -EINVAL;
	}
	return dsm_sync_lock_acquire(dsm_rt, lock_id);
}

int dsm_lock_release(unsigned lock_id)
{
	int ret;

	if (!dsm_rt)
		return -DSM_ENOTINIT;
	if (lock_id >= DSM_MAX_LOCKS) {
		dsm_err("dsm_lock_release(%u): lock id out of range (0 to %d, DSM_MAX_LOCKS - 1)",
			lock_id, DSM_MAX_LOCKS - 1);
		return -EINVAL;
	}
	ret = dsm_sync_lock_release(dsm_rt, lock_id);
	if (ret == -DSM_ENOTHELD)
		dsm_err("dsm_lock_release(%u): node %d does not hold this lock", lock_id,
			dsm_rt->self);
	return ret;
}

void dsm_acquire(void)
{
	if (dsm_rt)
		dsm_iv_acquire(dsm_rt, NULL);
}

void dsm_release(void)
{
	if (dsm_rt)
		dsm_iv_release(dsm_rt);
}

int dsm_get_stats(struct dsm_stats *out)
{
	if (!out)
		return -EINVAL;
	if (!dsm_rt)
		return -DSM_ENOTINIT;
	dsm_rt_stats(dsm_rt, out);
	return 0;
}

int dsm_vclock(uint64_t *out, int n)
{
	uint64_t vc[DSM_MAX_NODES];

	if (!out || n < 0)
		return -EINVAL;
	if (!dsm_rt)
		return -DSM_ENOTINIT;
	dsm_iv_vc(dsm_rt, vc);
	memcpy(out, vc, sizeof(uint64_t) * (size_t)(n < dsm_rt->nnodes ? n : dsm_rt->nnodes));
	return dsm_rt->nnodes;
}

/*
 * Checkpoints (runtime/ft): collective, called by one thread per node
 * while the node's other threads leave shared memory alone, with no lock
 * held.
 */
int dsm_checkpoint(void)
{
	if (!dsm_rt)
		return -DSM_ENOTINIT;
	return dsm_ckpt_take(dsm_rt);
}

int dsm_rollback(void)
{
	if (!dsm_rt)
		return -DSM_ENOTINIT;
	return dsm_ckpt_rollback(dsm_rt);
}

int dsm_restored_epoch(void)
{
	return dsm_rt ? dsm_ckpt_restored_epoch() : 0;
}
