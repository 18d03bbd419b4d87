/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * init.c - dsm_init and dsm_finalize: bring the parts up in dependency
 * order (config, heap, directory, the modules of core/module.c, fault backend,
 * transport, service thread) and down in reverse.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel-shim/interpose/interpose.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/ft/ft.h"
#include "runtime/numa/numa.h"
#include "runtime/protocol/protocol.h"

struct dsm_rt *dsm_rt;
static pthread_mutex_t dsm_init_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Tell dsmrun that this node is a libdsm program that called dsm_init:
 * one byte (the node's id, informative only) into the pipe DSM_READY_FD
 * names, then close it.  dsmrun thereby tells a program that is not a
 * libdsm program (or never starts a job) from a slow one, instead of
 * waiting for it or calling it a success.  Only a pipe is written to: a
 * program may have closed the descriptor and reused its number.  Once per
 * process; called with dsm_init_lock held, before anything can fail.
 */
static void report_init(void)
{
	static bool done;
	const char *v = getenv("DSM_READY_FD");
	const char *id = getenv("DSM_NODE_ID");
	uint64_t fd;
	struct stat st;
	unsigned char b;

	if (done || !v)
		return;
	done = true;
	if (dsm_config_parse_uint(v, INT_MAX, &fd) < 0 || fstat((int)fd, &st) < 0 ||
	    !S_ISFIFO(st.st_mode))
		return;
	b = (unsigned char)(id ? atoi(id) : 0);
	if (write((int)fd, &b, 1) < 0) {
		/* dsmrun gone: it will not miss the byte. */
	}
	close((int)fd);
}

/* The fault backend's callback: application thread, maybe signal context. */
static int dsm_rt_fault(void *ctx, void *addr, enum dsm_access access)
{
	struct dsm_rt *rt = ctx;
	size_t page = dsm_heap_page_of(&rt->heap, addr);

	/* NUMA first: it counts the access, and a fault its scanner caused
	 * by closing the page to sample it ends there (runtime/numa). */
	if (rt->numa && dsm_numa_fault(rt, page, access))
		return 0;
	return rt->proto->fault(rt, page, access);
}

/*
 * DSM_STATS=PATH: node 0 writes PATH.tmp.PID in PATH's directory at
 * dsm_finalize and renames it.  A directory that is missing or not
 * writable would only show after the whole run; say so now instead.
 */
static int check_stats_path(const struct dsm_config *cfg, int self)
{
	char dir[sizeof(cfg->stats_path)];
	char *slash;

	if (cfg->stats != DSM_STATS_FILE || self != 0)
		return 0;
	snprintf(dir, sizeof(dir), "%s", cfg->stats_path);
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';		/* "/file": the root directory */
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) < 0) {
		dsm_err("DSM_STATS=%s: node 0 cannot write the statistics in %s: %s",
			cfg->stats_path, dir, strerror(errno));
		return -DSM_ECONFIG;
	}
	return 0;
}

static void teardown(struct dsm_rt *rt)
{
	dsm_service_stop(rt);
	/* The NUMA scanner changes protections: stop it while the fault
	 * backend is still there (its module's fini comes later). */
	dsm_numa_stop(rt);
	if (rt->tp)
		rt->tp->ops->close(rt->tp);
	dsm_interpose_uninstall();
	dsm_fault_close(&rt->fault);
	dsm_modules_fini(rt);
	dsm_dir_fini(&rt->dir);
	dsm_heap_unmap(&rt->heap);
	free(rt);
}

/*
 * Every node together, once the job is up: BYE to everyone and theirs
 * from everyone, so that after this no message is in flight and closing
 * is not mistaken for a death; then down.
 */
static void leave(struct dsm_rt *rt)
{
	/* BYE to everyone and theirs from everyone: after this no message
	 * is in flight and closing is not mistaken for a death.  No
	 * heartbeat may follow our BYE; a peer's BYE ends our watch on it. */
	if (rt->nnodes > 1) {
		dsm_heartbeat_stop(rt);
		rt->tp->ops->shutdown(rt->tp, 10000);
	}
	pthread_mutex_lock(&dsm_init_lock);
	dsm_rt = NULL;
	teardown(rt);
	pthread_mutex_unlock(&dsm_init_lock);
}

int dsm_init(int *argc, char ***argv)
{
	struct dsm_fault_params fp;
	struct dsm_tp_params tpp;
	struct dsm_rt *rt;
	int ret;

	pthread_mutex_lock(&dsm_init_lock);
	report_init();
	if (dsm_rt) {
		pthread_mutex_unlock(&dsm_init_lock);
		dsm_err("dsm_init: called again; libdsm is already initialized (call dsm_finalize first)");
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
	__atomic_store_n(&dsm_log_node, rt->self, __ATOMIC_RELAXED);
	rt->spin_ns = rt->cfg.poll_ns;
	ret = check_stats_path(&rt->cfg, rt->self);
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
		dsm_err("out of memory for the page directory of %zu pages (DSM_HEAP_SIZE %zu MiB "
			"in %zu-byte pages): lower DSM_HEAP_SIZE or raise DSM_PAGE_SIZE",
			rt->heap.npages, rt->heap.size >> 20, rt->heap.page_size);
		goto err_teardown;
	}
	/* allocator, sync, intervals, stats, protocol, ... (core/module.c) */
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
	/* DSM_RESTART=1: the newest checkpoint every node can verify,
	 * restored by all at once (no usable one: every node fails). */
	if (rt->cfg.restart) {
		ret = dsm_ckpt_restart(rt);
		if (ret < 0) {
			leave(rt);
			return ret;
		}
	}
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

	if (!rt) {
		dsm_err("dsm_finalize: libdsm is not initialized (dsm_init was not called, "
			"failed, or dsm_finalize was called already)");
		return -DSM_ENOTINIT;
	}
	dsm_sync_barrier(rt);
	ret = dsm_stats_report(rt);
	leave(rt);
	return ret < 0 ? ret : 0;
}
