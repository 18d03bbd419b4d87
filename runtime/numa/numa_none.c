/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * numa_none.c - runtime/numa in a build without hwloc: DSM_NUMA=off and
 * DSM_BIND=none work (nothing to do), anything else is a clear error.
 */
#include <errno.h>

#include "runtime/base/log.h"
#include "runtime/core/module.h"
#include "runtime/core/rt.h"
#include "runtime/numa/numa.h"

static int numa_init(struct dsm_rt *rt)
{
	if (rt->cfg.numa != DSM_NUMA_OFF) {
		dsm_err("DSM_NUMA: libdsm was built without hwloc, so only DSM_NUMA=off works "
			"(install libhwloc-dev and configure again)");
		return -DSM_ENOTSUP;
	}
	if (rt->cfg.bind != DSM_BIND_NONE) {
		dsm_err("DSM_BIND: libdsm was built without hwloc, so only DSM_BIND=none works "
			"(install libhwloc-dev and configure again)");
		return -DSM_ENOTSUP;
	}
	return 0;
}

void dsm_numa_stop(struct dsm_rt *rt)
{
	(void)rt;
}

bool dsm_numa_fault(struct dsm_rt *rt, size_t page, enum dsm_access access)
{
	(void)rt, (void)page, (void)access;
	return false;
}

int dsm_numa_bind_thread(struct dsm_rt *rt, int index)
{
	(void)rt;
	return index < 0 ? -EINVAL : 0;
}

void dsm_numa_json(struct dsm_rt *rt, FILE *f)
{
	(void)rt, (void)f;
}

static void numa_stats(struct dsm_rt *rt, struct dsm_stats *out)
{
	(void)rt;
	out->numa_replications = 0;
	out->numa_freezes = 0;
}

const struct dsm_module dsm_numa_module = {
	.name  = "numa",
	.init  = numa_init,
	.stats = numa_stats,
};
