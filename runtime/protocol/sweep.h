/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sweep.h - the evidence of a sweep, shared by the protocols that fetch
 * pages in runs (internal).
 *
 * A node that reads its way through a home's pages at a stride s has
 * copies of page - s, page - 2s, ... and lacks page + s: a fault then asks
 * for the pages ahead too (relaxed.c's and sequential.c's
 * plan_run_locked; under sequential consistency a write sweep likewise,
 * by the pages it owns).  Only copies that arrived lately count: copies
 * kept from an earlier phase line up with a sweep by chance.  "Lately" is
 * counted in epochs, which end at each acquire: each protocol stamps a
 * page with the epoch its copy arrived in (dsm_sweep_stamp) and asks its
 * age (dsm_sweep_age).  Hints: read and written without locks.
 */
#ifndef DSM_PROTOCOL_SWEEP_H
#define DSM_PROTOCOL_SWEEP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dsm_rt;

/* What the protocol says of page q: done by the sweep (like) or still to
 * come (ahead); arg is the protocol's (the home of the sweep's pages). */
typedef bool (*dsm_sweep_fn)(struct dsm_rt *rt, size_t q, int arg);

/* How many pages page - s, page - 2s, ... like() says the sweep has done
 * (at most cap), if ahead() says page + s is still to come; else 0. */
static inline size_t dsm_sweep_row(struct dsm_rt *rt, size_t npages, size_t page, size_t s,
				   size_t cap, dsm_sweep_fn like, dsm_sweep_fn ahead, int arg)
{
	size_t k = 0;

	if (page + s >= npages || !ahead(rt, page + s, arg))
		return 0;
	while (k < cap && page >= s * (k + 1) && like(rt, page - s * (k + 1), arg))
		k++;
	return k;
}

/* A page's stamp: DSM_SWEEP_HAD | the epoch its copy arrived in, mod 2^15;
 * 0 for a page no copy of which ever arrived. */
#define DSM_SWEEP_HAD 0x8000u

static inline uint16_t dsm_sweep_stamp(uint32_t epoch)
{
	return (uint16_t)(DSM_SWEEP_HAD | (epoch & (DSM_SWEEP_HAD - 1)));
}

/* Epochs since the copy stamped so arrived, or UINT_MAX if none did. */
static inline unsigned dsm_sweep_age(uint16_t stamp, uint32_t epoch)
{
	if (!(stamp & DSM_SWEEP_HAD))
		return UINT_MAX;
	return (epoch - stamp) & (DSM_SWEEP_HAD - 1);
}

#endif /* DSM_PROTOCOL_SWEEP_H */
