/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * registry.c - message types to handlers, and the service thread's ticks
 * (module.h).  Depends on nothing above core: the table is filled by
 * module.c at dsm_init and only read afterwards, by the service thread.
 */
#include <errno.h>

#include "runtime/base/log.h"
#include "runtime/core/rt.h"

int dsm_msg_register(struct dsm_rt *rt, const char *owner, unsigned int first, unsigned int last,
		     dsm_msg_fn fn)
{
	struct dsm_registry *r = &rt->reg;

	if (first < DSM_WT_RUNTIME || last > DSM_WT_MAX || first > last) {
		dsm_err("module %s: message types %u..%u are outside the runtime's range", owner,
			first, last);
		return -EINVAL;
	}
	for (unsigned int t = first; t <= last; t++)
		if (r->on[t]) {
			dsm_err("module %s: message type %u already belongs to module %s", owner, t,
				r->owner[t]);
			return -EEXIST;
		}
	for (unsigned int t = first; t <= last; t++) {
		r->on[t] = fn;
		r->owner[t] = owner;
	}
	return 0;
}

void dsm_msg_fault_safe(struct dsm_rt *rt, unsigned int type)
{
	if (type <= DSM_WT_MAX)
		rt->reg.waiter_safe[type] |= DSM_WAITER_FAULT | DSM_WAITER_THREAD;
}

void dsm_msg_thread_safe(struct dsm_rt *rt, unsigned int type)
{
	if (type <= DSM_WT_MAX)
		rt->reg.waiter_safe[type] |= DSM_WAITER_THREAD;
}

bool dsm_msg_is_waiter_safe(void *ctx, uint8_t type, enum dsm_waiter who)
{
	const struct dsm_rt *rt = ctx;

	return type <= DSM_WT_MAX && (rt->reg.waiter_safe[type] & who);
}

int dsm_tick_register(struct dsm_rt *rt, dsm_tick_fn fn)
{
	struct dsm_registry *r = &rt->reg;

	if (r->nticks == DSM_REG_MAX_TICKS)
		return -ENOSPC;
	r->tick[r->nticks++] = fn;
	return 0;
}

void dsm_gauges_run(struct dsm_rt *rt, struct dsm_stats *out)
{
	for (int i = 0; i < rt->reg.ngauges; i++)
		rt->reg.gauge[i](rt, out);
}

void dsm_msg_dispatch(void *ctx, int src, const struct dsm_wire_hdr *h, const void *payload)
{
	struct dsm_rt *rt = ctx;
	dsm_msg_fn fn = h->type <= DSM_WT_MAX ? rt->reg.on[h->type] : NULL;

	if (!fn)
		dsm_rt_protocol_error(rt, src, "an unknown message type", h->type);
	/* Any message shows that src is alive, not only its heartbeats. */
	dsm_hb_heard(&rt->hb, src);
	fn(rt, src, h, payload);
}

uint64_t dsm_ticks_run(struct dsm_rt *rt)
{
	uint64_t next = 0;

	for (int i = 0; i < rt->reg.nticks; i++) {
		uint64_t t = rt->reg.tick[i](rt);

		if (t && (!next || t < next))
			next = t;
	}
	return next;
}
