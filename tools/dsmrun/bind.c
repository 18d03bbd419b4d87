/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bind.c - dsmrun --bind numa|core: each node started on this machine is
 * bound, before it execs, to the CPUs of one NUMA domain or one core,
 * round robin (node i to domain i mod D).  Its memory follows: the
 * kernel's default policy allocates on the domain of the CPU that first
 * touches a page, so a node bound to a domain keeps its pages (and its
 * read-only copies of other nodes' pages) there, and pages move between
 * domains through the protocol.  The binding is inherited across exec
 * by every thread the node starts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/dsmrun/bind.h"

#if HAVE_HWLOC
#include <hwloc.h>
#include <hwloc/glibc-sched.h>

int dsmrun_bind_sets(const char *what, int nnodes, cpu_set_t *sets, char (*lists)[64],
		     char *err, size_t errlen)
{
	hwloc_obj_type_t type = strcmp(what, "core") ? HWLOC_OBJ_NUMANODE : HWLOC_OBJ_CORE;
	hwloc_topology_t topo;
	hwloc_bitmap_t allowed, set;
	int nobj, nuse = 0, ret = -1;
	int use[1024];

	if (hwloc_topology_init(&topo) < 0 || hwloc_topology_load(topo) < 0) {
		snprintf(err, errlen, "--bind %s: hwloc cannot read this machine's topology: %s",
			 what, strerror(errno));
		return -1;
	}
	allowed = hwloc_bitmap_alloc();
	set = hwloc_bitmap_alloc();
	if (!allowed || !set) {
		snprintf(err, errlen, "--bind %s: out of memory", what);
		goto out;
	}
	/* Within what dsmrun itself may use (taskset, a batch system's cgroup). */
	if (hwloc_get_cpubind(topo, allowed, HWLOC_CPUBIND_PROCESS) < 0)
		hwloc_bitmap_copy(allowed, hwloc_topology_get_allowed_cpuset(topo));
	nobj = hwloc_get_nbobjs_by_type(topo, type);
	for (int i = 0; i < nobj && nuse < 1024; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(topo, type, (unsigned)i);

		if (o && o->cpuset && hwloc_bitmap_intersects(o->cpuset, allowed))
			use[nuse++] = i;
	}
	if (nuse == 0) {
		snprintf(err, errlen, "--bind %s: no %s holds a CPU dsmrun may use", what,
			 type == HWLOC_OBJ_CORE ? "core" : "NUMA domain");
		goto out;
	}
	for (int n = 0; n < nnodes; n++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(topo, type, (unsigned)use[n % nuse]);

		hwloc_bitmap_and(set, o->cpuset, allowed);
		CPU_ZERO(&sets[n]);
		hwloc_cpuset_to_glibc_sched_affinity(topo, set, &sets[n], sizeof(sets[n]));
		hwloc_bitmap_list_snprintf(lists[n], sizeof(lists[n]), set);
	}
	ret = 0;
out:
	hwloc_bitmap_free(set);
	hwloc_bitmap_free(allowed);
	hwloc_topology_destroy(topo);
	return ret;
}

#else /* !HAVE_HWLOC */

int dsmrun_bind_sets(const char *what, int nnodes, cpu_set_t *sets, char (*lists)[64],
		     char *err, size_t errlen)
{
	(void)nnodes, (void)sets, (void)lists;
	snprintf(err, errlen, "--bind %s: dsmrun was built without hwloc "
		 "(install libhwloc-dev and configure again)", what);
	return -1;
}

#endif /* HAVE_HWLOC */
