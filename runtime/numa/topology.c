/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * topology.c - the machine's NUMA domains from hwloc: their CPUs, memory
 * and distances, this process's CPU binding, and a CPU -> domain map that
 * the fault path reads in signal context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsm.h"
#include "runtime/base/log.h"
#include "runtime/numa/numa_int.h"

/* Distances: hwloc's latency matrix of the NUMA nodes, if the OS gave one
 * (Linux: the ACPI SLIT in /sys/devices/system/node/node*\/distance). */
static void load_distances(struct dsm_numa_topo *t)
{
	struct hwloc_distances_s *d = NULL;
	unsigned int nr = 1;

	if (hwloc_distances_get_by_type(t->topo, HWLOC_OBJ_NUMANODE, &nr, &d,
					HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) < 0 || nr == 0)
		return;
	t->dist = calloc((size_t)t->ndomains * (size_t)t->ndomains, sizeof(*t->dist));
	if (t->dist) {
		for (unsigned int i = 0; i < d->nbobjs; i++)
			for (unsigned int j = 0; j < d->nbobjs; j++) {
				unsigned int a = d->objs[i]->logical_index, b = d->objs[j]->logical_index;

				if ((int)a < t->ndomains && (int)b < t->ndomains)
					t->dist[a * (unsigned)t->ndomains + b] =
						d->values[i * d->nbobjs + j];
			}
	}
	hwloc_distances_release(t->topo, d);
}

int dsm_numa_topo_load(struct dsm_numa_topo *t)
{
	int last;

	memset(t, 0, sizeof(*t));
	t->bound = -1;
	if (hwloc_topology_init(&t->topo) < 0 || hwloc_topology_load(t->topo) < 0) {
		dsm_err("NUMA: hwloc cannot read this machine's topology: %s", strerror(errno));
		if (t->topo)
			hwloc_topology_destroy(t->topo);
		t->topo = NULL;
		return -DSM_ENOTSUP;
	}
	t->ndomains = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_NUMANODE);
	if (t->ndomains < 1)
		t->ndomains = 1;	/* hwloc always has one; be safe */
	t->dom = calloc((size_t)t->ndomains, sizeof(*t->dom));
	last = hwloc_bitmap_last(hwloc_topology_get_complete_cpuset(t->topo));
	t->ncpu = last < 0 ? 1 : last + 1;
	t->cpu_dom = malloc((size_t)t->ncpu * sizeof(*t->cpu_dom));
	t->allowed = hwloc_bitmap_alloc();
	if (!t->dom || !t->cpu_dom || !t->allowed) {
		dsm_numa_topo_free(t);
		return -ENOMEM;
	}
	for (int c = 0; c < t->ncpu; c++)
		t->cpu_dom[c] = -1;
	for (int i = 0; i < t->ndomains; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
		struct dsm_numa_domain *d = &t->dom[i];
		unsigned int cpu;

		if (!o) {
			d->cpuset = hwloc_topology_get_topology_cpuset(t->topo);
			d->nodeset = hwloc_topology_get_topology_nodeset(t->topo);
		} else {
			d->os_index = o->os_index;
			d->cpuset = o->cpuset;
			d->nodeset = o->nodeset;
			d->mem_bytes = o->attr ? o->attr->numanode.local_memory : 0;
		}
		hwloc_bitmap_list_snprintf(d->cpus, sizeof(d->cpus), d->cpuset);
		hwloc_bitmap_foreach_begin(cpu, d->cpuset)
			if ((int)cpu < t->ncpu)
				t->cpu_dom[cpu] = (int16_t)i;
		hwloc_bitmap_foreach_end();
	}
	load_distances(t);

	/* The launcher may have bound us (dsmrun --bind): which domain? */
	if (hwloc_get_cpubind(t->topo, t->allowed, HWLOC_CPUBIND_PROCESS) < 0)
		hwloc_bitmap_copy(t->allowed, hwloc_topology_get_allowed_cpuset(t->topo));
	hwloc_bitmap_list_snprintf(t->allowed_list, sizeof(t->allowed_list), t->allowed);
	for (int i = 0; i < t->ndomains; i++)
		if (!hwloc_bitmap_iszero(t->allowed) &&
		    hwloc_bitmap_isincluded(t->allowed, t->dom[i].cpuset))
			t->bound = i;
	return 0;
}

void dsm_numa_topo_free(struct dsm_numa_topo *t)
{
	if (t->allowed)
		hwloc_bitmap_free(t->allowed);
	free(t->dist);
	free(t->cpu_dom);
	free(t->dom);
	if (t->topo)
		hwloc_topology_destroy(t->topo);
	memset(t, 0, sizeof(*t));
	t->bound = -1;
}

int dsm_numa_topo_here(const struct dsm_numa_topo *t)
{
	int cpu = sched_getcpu();	/* vDSO or rdtscp: signal-safe */

	if (cpu < 0 || cpu >= t->ncpu)
		return -1;
	return t->cpu_dom[cpu];
}

uint64_t dsm_numa_topo_dist(const struct dsm_numa_topo *t, int a, int b)
{
	if (!t->dist || a < 0 || b < 0 || a >= t->ndomains || b >= t->ndomains)
		return 0;
	return t->dist[a * t->ndomains + b];
}

void dsm_numa_topo_describe(const struct dsm_numa_topo *t, char *buf, size_t len)
{
	size_t at = 0;

#define PUT(...) do { if (at < len) at += (size_t)snprintf(buf + at, len - at, __VA_ARGS__); } while (0)
	PUT("%d NUMA domain%s:", t->ndomains, t->ndomains == 1 ? "" : "s");
	for (int i = 0; i < t->ndomains; i++)
		PUT(" %u (CPUs %s, %llu MiB)", t->dom[i].os_index, t->dom[i].cpus,
		    (unsigned long long)(t->dom[i].mem_bytes >> 20));
	if (t->dist) {
		PUT("; distances");
		for (int i = 0; i < t->ndomains; i++) {
			PUT(i ? " /" : "");
			for (int j = 0; j < t->ndomains; j++)
				PUT(" %llu", (unsigned long long)t->dist[i * t->ndomains + j]);
		}
	}
	if (t->bound >= 0)
		PUT("; this node runs on domain %u (CPUs %s)", t->dom[t->bound].os_index,
		    t->allowed_list);
	else
		PUT("; this node runs on CPUs %s", t->allowed_list);
#undef PUT
}
