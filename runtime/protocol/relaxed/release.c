/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * release.c - release consistency: home-based lazy release consistency.
 *
 * A release publishes this node's diffs (relaxed.c) and closes the
 * interval with a write notice per page written (interval.c); an acquire
 * invalidates exactly the pages that the notices it had not seen name.
 * A bare dsm_acquire() comes with no notices, so it drops every cached
 * copy: it sees every write published anywhere before it.
 */
#include "runtime/protocol/relaxed/relaxed.h"

static int release_init(struct dsm_rt *rt)
{
	return dsm_rx_init(rt, false);
}

static void release_acquire(struct dsm_rt *rt, const struct dsm_notice *unseen, size_t n,
			    bool all)
{
	dsm_rx_next_epoch(rt);
	if (all)
		dsm_rx_drop_all(rt);
	else
		dsm_rx_invalidate(rt, unseen, n);
}

const struct dsm_protocol_ops dsm_release_ops = {
	.name       = "release",
	.model      = DSM_RELEASE,
	.init       = release_init,
	.fini       = dsm_rx_fini,
	.fault      = dsm_rx_fault,
	.on_message = dsm_rx_on_message,
	.acquire    = release_acquire,
	.release    = dsm_rx_publish,
	.tick       = dsm_rx_tick,
	.home_of    = dsm_rx_home_of,
	.forget     = dsm_rx_forget,
	.allocated  = dsm_rx_allocated,
	.ckpt_saves    = dsm_rx_ckpt_saves,
	.ckpt_reset    = dsm_rx_ckpt_reset,
	.ckpt_restored = dsm_rx_ckpt_restored,
	.ckpt_save     = dsm_rx_ckpt_save,
	.ckpt_restore  = dsm_rx_ckpt_restore,
};
