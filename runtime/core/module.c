/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * module.c - the list of the runtime's modules (module.h), in the order
 * they come up: the allocator, locks and barriers, vector time and write
 * notices, counters, the consistency protocol, then what is built on all
 * of them, and failure detection.  This file and api/init.c are the only
 * ones that name them all.
 */
#include <errno.h>

#include "runtime/base/compiler.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"

/* The core's own message: a node ends the job and says why. */
static void on_abort(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h, const void *payload)
{
	const char *why = payload;

	(void)rt;
	if (h->len == 0 || h->len > 256 || why[h->len - 1] != '\0')
		why = "(no reason given)";
	/* The others had the same message from src: no need to forward. */
	dsm_die("node %d ended the job: %s", src, why);
}

static const struct dsm_module dsm_core_module = {
	.name       = "core",
	.msg_first  = DSM_MSG_ABORT,
	.msg_last   = DSM_MSG_ABORT,
	.on_message = on_abort,
};

static const struct dsm_module *const dsm_modules[] = {
	&dsm_core_module,
	&dsm_ckpt_module,
	&dsm_alloc_module,
	&dsm_sync_module,
	&dsm_iv_module,
	&dsm_stats_module,
	&dsm_protocol_module,
	&dsm_numa_module,
	&dsm_heartbeat_module,
};

int dsm_modules_init(struct dsm_rt *rt)
{
	for (size_t i = 0; i < ARRAY_SIZE(dsm_modules); i++) {
		const struct dsm_module *m = dsm_modules[i];
		int ret = 0;

		rt->modules_up = i + 1;		/* fini even if init fails half-way */
		if (m->init)
			ret = m->init(rt);
		if (ret == 0 && m->on_message)
			ret = dsm_msg_register(rt, m->name, m->msg_first, m->msg_last,
					       m->on_message);
		if (ret == 0 && m->tick)
			ret = dsm_tick_register(rt, m->tick);
		if (ret == 0 && m->stats) {
			if (rt->reg.ngauges == DSM_REG_MAX_TICKS)
				ret = -ENOSPC;
			else
				rt->reg.gauge[rt->reg.ngauges++] = m->stats;
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

void dsm_modules_fini(struct dsm_rt *rt)
{
	for (size_t i = rt->modules_up; i-- > 0;)
		if (dsm_modules[i]->fini)
			dsm_modules[i]->fini(rt);
	rt->modules_up = 0;
}

int dsm_modules_quiesce(struct dsm_rt *rt)
{
	for (size_t i = 0; i < ARRAY_SIZE(dsm_modules); i++) {
		int ret = dsm_modules[i]->quiesce ? dsm_modules[i]->quiesce(rt) : 0;

		if (ret < 0)
			return ret;
	}
	return 0;
}

int dsm_modules_save(struct dsm_rt *rt, struct dsm_ckpt_out *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(dsm_modules); i++) {
		int ret = dsm_modules[i]->save ? dsm_modules[i]->save(rt, out) : 0;

		if (ret < 0)
			return ret;
	}
	return 0;
}

int dsm_modules_restore(struct dsm_rt *rt, struct dsm_ckpt_in *in)
{
	for (size_t i = 0; i < ARRAY_SIZE(dsm_modules); i++) {
		int ret = dsm_modules[i]->restore ? dsm_modules[i]->restore(rt, in) : 0;

		if (ret < 0)
			return ret;
	}
	return 0;
}
