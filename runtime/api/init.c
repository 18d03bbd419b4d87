/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * init.c - dsm_init and dsm_finalize: bring the parts up in dependency
 * order (config, heap, directory, the modules of core/module.c, fault backend,
 * transport, service thread) and down in reverse.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel-shim/interpose/interpose.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/protocol/protocol.h"

struct dsm_rt *dsm_rt;
static pthread_mutex_t dsm_init_lock = PTHREAD_MUTEX_INITIALIZER;

/* The fault backend's callback: application thread, maybe signal context. */
static int dsm_rt_fault(void *ctx, void *addr, enum dsm_access access)
{
	struct dsm_rt *rt = ctx;

	return rt->proto->fault(rt, dsm_heap_page_of(&rt->heap, addr), access);
}

/* Refuse, with one line each, what this version cannot do yet. */
static int check_supported(const struct dsm_config *cfg)
{
	if (cfg->numa != DSM_NUMA_OFF) {
		/* TODO: NUMA placement (hwloc) is its own issue. */
		dsm_err("DSM_NUMA: page placement is not supported yet in this version; use DSM_NUMA=off");
		return -DSM_ENOTSUP;
	}
	if (cfg->restart) {
		/* TODO: checkpoint/restart is its own issue. */
		dsm_err("DSM_RESTART=1: checkpoint/restart is not supported yet in this version");
		return -DSM_ENOTSUP;
	}
	return 0;
}

static void teardown(struct dsm_rt *rt)
{
	dsm_service_stop(rt);
	if (rt->tp)
		rt->tp->ops->close(rt->tp);
	dsm_interpose_uninstall();
	dsm_fault_close(&rt->fault);
	dsm_modules_fini(rt);
	dsm_dir_fini(&rt->dir);
	dsm_heap_unmap(&rt->heap);
	free(rt);
}

int dsm_init(int *argc, char ***argv)
{
	struct dsm_fault_params fp;
	struct dsm_tp_params tpp;
	struct dsm_rt *rt;
	int ret;

	pthread_mutex_lock(&dsm_init_lock);
	if (dsm_rt) {
		pthread_mutex_unlock(&dsm_init_lock);
		return -EALREADY;
	}
	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		pthread_mutex_unlock(&dsm_init_lock);
		return -ENOMEM;
	}
	rt->heap.memfd = -1;

	ret = dsm_config_load(&rt->cfg, argc, argv);
	if (ret < 0)
		goto err_free;
	rt->self = rt->cfg.node_id;
	rt->nnodes = rt->cfg.num_nodes;
	dsm_log_node = rt->self;
	rt->spin_ns = rt->cfg.poll_ns;
	ret = check_supported(&rt->cfg);
	if (ret < 0)
		goto err_free;
	rt->proto = dsm_protocol_find(rt->cfg.consistency);
	if (!rt->proto) {
		ret = -DSM_ENOTSUP;
		goto err_free;
	}

	ret = dsm_heap_map(&rt->heap, rt->cfg.heap_base, rt->cfg.heap_size, rt->cfg.page_size);
	if (ret < 0)
		goto err_free;
	ret = dsm_dir_init(&rt->dir, rt->heap.npages, rt->nnodes, rt->self,
			   dsm_manager_block(&rt->cfg));
	if (ret < 0) {
		dsm_err("out of memory for the page directory of %zu pages", rt->heap.npages);
		goto err_teardown;
	}
	/* allocator, sync, intervals, stats, protocol (core/module.c) */
	ret = dsm_modules_init(rt);
	if (ret < 0)
		goto err_teardown;

	fp.heap = &rt->heap;
	fp.handler = dsm_rt_fault;
	fp.ctx = rt;
	ret = dsm_fault_open(rt->cfg.fault_backend, &fp, &rt->fault);
	if (ret < 0)
		goto err_teardown;
	dsm_interpose_install(&rt->heap);

	dsm_service_params(rt, &tpp);
	ret = dsm_tp_open(&tpp, &rt->tp);
	if (ret < 0)
		goto err_teardown;
	/* Pages travel from and into the runtime's view only. */
	ret = rt->tp->ops->register_mem(rt->tp, rt->heap.rt, rt->heap.size);
	if (ret < 0)
		goto err_teardown;
	if (rt->nnodes > 1) {
		ret = dsm_service_start(rt);
		if (ret < 0)
			goto err_teardown;
	}
	dsm_rt = rt;
	pthread_mutex_unlock(&dsm_init_lock);

	/* Everyone connected and ready before anyone touches shared memory. */
	dsm_sync_barrier(rt);
	dsm_info("node %d of %d up: %s consistency, %s transport, %zu-byte pages, %zu MiB heap at %p",
		 rt->self, rt->nnodes, rt->proto->name, rt->tp->ops->name, rt->heap.page_size,
		 rt->heap.size >> 20, (void *)rt->heap.app);
	return 0;

err_teardown:
	teardown(rt);
	pthread_mutex_unlock(&dsm_init_lock);
	return ret;
err_free:
	free(rt);
	pthread_mutex_unlock(&dsm_init_lock);
	return ret;
}

int dsm_finalize(void)
{
	struct dsm_rt *rt = dsm_rt;
	int ret;

	if (!rt)
		return -DSM_ENOTINIT;
	dsm_sync_barrier(rt);
	ret = dsm_stats_report(rt);
	/* BYE to everyone and theirs from everyone: after this no message
	 * is in flight and closing is not mistaken for a death. */
	if (rt->nnodes > 1)
		rt->tp->ops->shutdown(rt->tp, 10000);
	pthread_mutex_lock(&dsm_init_lock);
	dsm_rt = NULL;
	teardown(rt);
	pthread_mutex_unlock(&dsm_init_lock);
	return ret < 0 ? ret : 0;
}
