/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * weak.c - weak consistency: every synchronization point is a full fence.
 *
 * At every lock acquire and release, barrier and fence the node publishes
 * all its pending diffs to their homes and drops every cached page it is
 * not the home of (self-downgrade and self-invalidation, as in ArgoDSM).
 * No write notices are kept or sent: between synchronization points
 * nothing is exchanged but the fetches of pages that faults ask for.
 */
#include "runtime/protocol/relaxed/relaxed.h"

static int weak_init(struct dsm_rt *rt)
{
	return dsm_rx_init(rt, true);
}

/* The notices are empty under weak consistency (interval.c keeps none). */
static void weak_acquire(struct dsm_rt *rt, const struct dsm_notice *unseen, size_t n, bool all)
{
	(void)unseen;
	(void)n;
	(void)all;
	dsm_rx_next_epoch(rt);
	dsm_rx_drop_all(rt);
}

static void weak_release(struct dsm_rt *rt, const uint32_t **written, size_t *n)
{
	dsm_rx_publish(rt, written, n);
	dsm_rx_drop_all(rt);
}

const struct dsm_protocol_ops dsm_weak_ops = {
	.name       = "weak",
	.model      = DSM_WEAK,
	.init       = weak_init,
	.fini       = dsm_rx_fini,
	.fault      = dsm_rx_fault,
	.on_message = dsm_rx_on_message,
	.acquire    = weak_acquire,
	.release    = weak_release,
	.tick       = dsm_rx_tick,
	.home_of    = dsm_rx_home_of,
	.forget     = dsm_rx_forget,
	.allocated  = dsm_rx_allocated,
	.ckpt_saves    = dsm_rx_ckpt_saves,
	.ckpt_reset    = dsm_rx_ckpt_reset,
	.ckpt_restored = dsm_rx_ckpt_restored,
	.ckpt_save     = dsm_rx_ckpt_save,
	.ckpt_restore  = dsm_rx_ckpt_restore,
	.publish_at_acquire = true,
};
