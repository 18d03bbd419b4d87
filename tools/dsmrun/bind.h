/* SPDX-License-Identifier: BSD-3-Clause */
/* bind.h - dsmrun --bind: which CPUs each node started here runs on. */
#ifndef DSMRUN_BIND_H
#define DSMRUN_BIND_H

#include <sched.h>
#include <stddef.h>

/*
 * The CPU set of each of nnodes local nodes for --bind=what ("numa": the
 * CPUs of a NUMA domain; "core": one core's), dealt round robin over the
 * domains or cores that hold CPUs dsmrun itself may use, in hwloc's
 * order.  sets[i] is node i's; lists[i] its CPU list, for messages.
 * Returns 0, or -1 after writing the reason into err.
 */
int dsmrun_bind_sets(const char *what, int nnodes, cpu_set_t *sets, char (*lists)[64],
		     char *err, size_t errlen);

#endif /* DSMRUN_BIND_H */
