/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * numa.h - NUMA topology, page placement and page migration (DSM_NUMA,
 * DSM_BIND): the narrow interface the rest of the runtime sees.
 *
 * It is one module of runtime/core/module.h (dsm_numa_module: init at
 * dsm_init after the heap and the directory exist and before the fault
 * backend opens and the transport registers the heap; fini; a gauge for
 * the numa_* counters), plus three direct hooks:
 *   - dsm_numa_fault(): every fault in the heap, before the protocol;
 *   - dsm_numa_stop(): dsm_finalize's teardown, before the fault backend
 *     closes (the scanner changes protections; module fini comes later);
 *   - dsm_numa_json(): node 0's object in the DSM_STATS JSON file.
 * init loads the hwloc topology, binds the calling thread (DSM_BIND),
 * places the heap's memfd (first-touch, interleave), measures the cost
 * of a page move and starts the migration scanner (migrate).
 * rt->numa is NULL when there is nothing to do (DSM_NUMA=off, DSM_BIND=none
 * and no one asked for the topology): callers test it first, so that the
 * fault path costs nothing more.
 */
#ifndef DSM_NUMA_NUMA_H
#define DSM_NUMA_NUMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kernel-shim/fault/fault.h"

struct dsm_rt;
struct dsm_numa;

/* Stop the migration scanner.  Finalize thread, before the fault backend
 * closes; idempotent. */
void dsm_numa_stop(struct dsm_rt *rt);

/*
 * The faulting application thread, signal context (no malloc, no stdio):
 * count the access for the domain of the CPU it runs on, place a page on
 * its first touch (first-touch, migrate), bind the thread at its first
 * fault (DSM_BIND).  True if the fault was the scanner's sampling and is
 * resolved (the instruction restarts); false: the protocol handles it.
 */
bool dsm_numa_fault(struct dsm_rt *rt, size_t page, enum dsm_access access);

/* Bind the calling thread as application thread number index (DSM_BIND).
 * 0; -EINVAL; -DSM_ENOTSUP without hwloc. */
int dsm_numa_bind_thread(struct dsm_rt *rt, int index);

/* Append `, "numa": {...}` (the topology, policy and costs) to the JSON
 * object being written.  Every value is a string or an array, so that
 * readers that add up a node's numeric counters are not misled. */
void dsm_numa_json(struct dsm_rt *rt, FILE *f);

#endif /* DSM_NUMA_NUMA_H */
