/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * numa.c - the NUMA module: DSM_NUMA and DSM_BIND brought up at dsm_init,
 * the fault-path hook, and the topology in the statistics.  The ideas
 * live next door: topology.c (hwloc), placement.c (memory policy, moves,
 * costs, CPU sets), migrate.c (the page policy and its scanner).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/base/log.h"
#include "runtime/core/module.h"
#include "runtime/core/rt.h"
#include "runtime/numa/numa_int.h"

static const char *const mode_names[] = { "off", "first-touch", "interleave", "migrate" };
static const char *const bind_names[] = { "none", "numa", "core" };

/* This thread's DSM_BIND slot + 1, 0 while unbound.  initial-exec: read
 * in signal context, where the general-dynamic model may allocate. */
static __thread int dsm_numa_slot __attribute__((tls_model("initial-exec")));

/* Bind the calling thread to slot index's CPUs.  Signal-safe. */
static void bind_self(struct dsm_numa *n, int index)
{
	dsm_numa_slot = index + 1;
	sched_setaffinity(0, sizeof(cpu_set_t), &n->masks[index % n->nmasks]);
}

bool dsm_numa_fault(struct dsm_rt *rt, size_t page, enum dsm_access access)
{
	struct dsm_numa *n = rt->numa;

	/* DSM_BIND: a thread that was not numbered takes the next slot at
	 * its first fault, before its first page is placed. */
	if (n->nmasks && !dsm_numa_slot)
		bind_self(n, __atomic_fetch_add(&n->next_index, 1, __ATOMIC_RELAXED));
	if (n->placed)
		dsm_numa_touch_first(n, page);
	if (n->pages)
		return dsm_numa_migrate_fault(n, page, access, dsm_numa_topo_here(&n->topo));
	return false;
}

int dsm_numa_bind_thread(struct dsm_rt *rt, int index)
{
	struct dsm_numa *n = rt->numa;

	if (index < 0)
		return -EINVAL;
	if (!n || !n->nmasks)
		return 0;	/* DSM_BIND=none: the application binds, or nobody */
	bind_self(n, index);
	return 0;
}

static void numa_free(struct dsm_numa *n)
{
	if (n->pages)
		munmap(n->pages, n->npages * sizeof(*n->pages));
	free(n->touched);
	free(n->placed);
	free(n->masks);
	free(n->mask_lists);
	dsm_numa_topo_free(&n->topo);
	free(n);
}

static int migrate_setup(struct dsm_numa *n)
{
	struct dsm_rt *rt = n->rt;

	if (n->topo.ndomains > DSM_NUMA_MAX_DOMAINS) {
		dsm_err("DSM_NUMA=migrate: this machine has %d NUMA domains, the policy tracks "
			"at most %d", n->topo.ndomains, DSM_NUMA_MAX_DOMAINS);
		return -DSM_ENOTSUP;
	}
	if (n->topo.ndomains < 2) {
		dsm_info("DSM_NUMA=migrate: one NUMA domain, nothing to migrate");
		return 0;
	}
	n->npages = rt->heap.npages;
	/* Sparse: only pages this node touches take memory. */
	n->pages = mmap(NULL, n->npages * sizeof(*n->pages), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	n->touched = calloc((n->npages + 63) / 64, sizeof(uint64_t));
	if (n->pages == MAP_FAILED || !n->touched) {
		if (n->pages == MAP_FAILED)
			n->pages = NULL;
		dsm_err("DSM_NUMA=migrate: out of memory for the state of %zu pages", n->npages);
		return -ENOMEM;
	}
	n->period_ns = (uint64_t)rt->cfg.numa_period_ms * 1000000ull;
	n->sample = rt->cfg.numa_sample;
	dsm_numa_measure_costs(n);
	/* A sample stands for at most a quarter of a move's worth of uses:
	 * no page moves on fewer than 4 samples (migrate.c). */
	n->max_weight = n->min_accesses / 4 ? n->min_accesses / 4 : 1;
	dsm_info("DSM_NUMA=migrate: a page move costs %llu ns, a remote use %llu ns more: "
		 "a page moves after %u uses from elsewhere (a sample counts 1 to %u); scanning "
		 "every %u ms, at most %u pages sampled per scan",
		 (unsigned long long)n->move_cost_ns, (unsigned long long)n->access_penalty_ns,
		 n->min_accesses, n->max_weight, rt->cfg.numa_period_ms, n->sample);
	return dsm_numa_scanner_start(n);
}

static int numa_init(struct dsm_rt *rt)
{
	const struct dsm_config *cfg = &rt->cfg;
	bool needed = cfg->numa != DSM_NUMA_OFF || cfg->bind != DSM_BIND_NONE;
	struct dsm_numa *n;
	char line[1024];
	int ret;

	/* Otherwise the topology is only for DSM_LOG=info and node 0's JSON:
	 * skip hwloc's few milliseconds unless someone reads them. */
	if (!needed && cfg->log_level < DSM_LOG_INFO &&
	    !(cfg->stats == DSM_STATS_FILE && rt->self == 0))
		return 0;
	if (cfg->numa == DSM_NUMA_MIGRATE && !strcmp(cfg->transport, "rdma")) {
		dsm_err("DSM_NUMA=migrate: not with DSM_TRANSPORT=rdma (the heap is pinned for "
			"RDMA, so its pages cannot move); use first-touch or interleave");
		return -DSM_ENOTSUP;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->rt = rt;
	n->mode = cfg->numa;
	n->bind_mode = cfg->bind;
	n->kpage = (size_t)sysconf(_SC_PAGESIZE);
	n->sub_pages = rt->heap.page_size / n->kpage;
	ret = dsm_numa_topo_load(&n->topo);
	if (ret < 0) {
		free(n);
		return needed ? ret : 0;	/* only informative: go on without */
	}
	dsm_numa_topo_describe(&n->topo, line, sizeof(line));
	dsm_info("NUMA: %s", line);

	if (n->bind_mode != DSM_BIND_NONE) {
		ret = dsm_numa_bind_setup(n);
		if (ret < 0)
			goto err;
		/* The thread calling dsm_init is application thread 0. */
		bind_self(n, __atomic_fetch_add(&n->next_index, 1, __ATOMIC_RELAXED));
		dsm_info("DSM_BIND=%s: application threads dealt round robin over %d CPU set%s, "
			 "the first %s", bind_names[n->bind_mode], n->nmasks,
			 n->nmasks == 1 ? "" : "s", n->mask_lists[0]);
	}
	if (n->mode != DSM_NUMA_OFF) {
		ret = dsm_numa_place_heap(n);
		if (ret < 0)
			goto err;
	}
	if ((n->mode == DSM_NUMA_FIRST_TOUCH || n->mode == DSM_NUMA_MIGRATE) &&
	    n->topo.ndomains > 1 &&
	    !(n->placed = calloc((rt->heap.npages + 63) / 64, sizeof(uint64_t)))) {
		ret = -ENOMEM;
		goto err;
	}
	if (n->mode == DSM_NUMA_MIGRATE) {
		ret = migrate_setup(n);
		if (ret < 0)
			goto err;
	}
	rt->numa = n;
	return 0;

err:
	numa_free(n);
	return ret;
}

void dsm_numa_stop(struct dsm_rt *rt)
{
	if (rt->numa)
		dsm_numa_scanner_stop(rt->numa);
}

static void numa_fini(struct dsm_rt *rt)
{
	struct dsm_numa *n = rt->numa;

	if (!n)
		return;
	dsm_numa_scanner_stop(n);
	rt->numa = NULL;
	numa_free(n);
}

/* Any thread: the policy's counters (kept in rt->counters, so that they
 * outlive the module's state). */
static void numa_stats(struct dsm_rt *rt, struct dsm_stats *out)
{
	out->numa_replications = __atomic_load_n(&rt->counters.numa_replications, __ATOMIC_RELAXED);
	out->numa_freezes = __atomic_load_n(&rt->counters.numa_freezes, __ATOMIC_RELAXED);
}

void dsm_numa_json(struct dsm_rt *rt, FILE *f)
{
	struct dsm_numa *n = rt->numa;
	const struct dsm_numa_topo *t;

	if (!n)
		return;
	t = &n->topo;
	fprintf(f, ", \"numa\": {\"policy\": \"%s\", \"bind\": \"%s\", \"domains\": [",
		mode_names[n->mode], bind_names[n->bind_mode]);
	for (int i = 0; i < t->ndomains; i++)
		fprintf(f, "%s%u", i ? ", " : "", t->dom[i].os_index);
	fprintf(f, "], \"domain_cpus\": [");
	for (int i = 0; i < t->ndomains; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", t->dom[i].cpus);
	fprintf(f, "], \"domain_mem_mib\": [");
	for (int i = 0; i < t->ndomains; i++)
		fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)(t->dom[i].mem_bytes >> 20));
	fprintf(f, "], \"distances\": [");
	for (int i = 0; t->dist && i < t->ndomains; i++) {
		fprintf(f, "%s[", i ? ", " : "");
		for (int j = 0; j < t->ndomains; j++)
			fprintf(f, "%s%llu", j ? ", " : "",
				(unsigned long long)t->dist[i * t->ndomains + j]);
		fprintf(f, "]");
	}
	fprintf(f, "], \"node_cpus\": \"%s\", \"node_domain\": [", t->allowed_list);
	if (t->bound >= 0)
		fprintf(f, "%u", t->dom[t->bound].os_index);
	fprintf(f, "]");
	if (n->pages)
		fprintf(f, ", \"move_cost_ns\": [%llu], \"access_penalty_ns\": [%llu], "
			"\"min_accesses\": [%u]",
			(unsigned long long)__atomic_load_n(&n->move_cost_ns, __ATOMIC_RELAXED),
			(unsigned long long)n->access_penalty_ns,
			__atomic_load_n(&n->min_accesses, __ATOMIC_RELAXED));
	fprintf(f, "}");
}

/* One module of runtime/core/module.c's list; the fault hook, the stop
 * before the fault backend closes and the JSON are direct calls (numa.h). */
const struct dsm_module dsm_numa_module = {
	.name  = "numa",
	.init  = numa_init,
	.fini  = numa_fini,
	.stats = numa_stats,
};
