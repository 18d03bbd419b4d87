/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * relaxed.h - the home-based multiple-writer data path that release and
 * weak consistency share (relaxed.c); each model's file fills in the ops
 * table with its own acquire and release policy.
 */
#ifndef DSM_PROTOCOL_RELAXED_H
#define DSM_PROTOCOL_RELAXED_H

#include "runtime/protocol/protocol.h"

int dsm_rx_init(struct dsm_rt *rt, bool weak);
void dsm_rx_fini(struct dsm_rt *rt);
int dsm_rx_fault(struct dsm_rt *rt, size_t page, enum dsm_access access);
void dsm_rx_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
		       const void *payload);
uint64_t dsm_rx_tick(struct dsm_rt *rt);
int dsm_rx_home_of(struct dsm_rt *rt, size_t page);

/* iv.op held: write-protect the pages written since the last publish,
 * send their diffs home and wait for every acknowledgement; *written lists
 * those pages until the next publish. */
void dsm_rx_publish(struct dsm_rt *rt, const uint32_t **written, size_t *n);
/* iv.op held: take away the cached copies of these pages. */
void dsm_rx_invalidate(struct dsm_rt *rt, const struct dsm_notice *unseen, size_t n);
/* iv.op held: take away every cached copy. */
void dsm_rx_drop_all(struct dsm_rt *rt);
void dsm_rx_next_epoch(struct dsm_rt *rt);
/* The forget op (protocol.h); takes iv.op. */
void dsm_rx_forget(struct dsm_rt *rt, size_t first, size_t npages);
/* The allocated op (protocol.h): an allocation's edges, for claim-ahead. */
void dsm_rx_allocated(struct dsm_rt *rt, uintptr_t addr, size_t size);

/* Checkpoints (protocol.h's ckpt_* ops). */
bool dsm_rx_ckpt_saves(struct dsm_rt *rt, size_t page);
void dsm_rx_ckpt_reset(struct dsm_rt *rt);
void dsm_rx_ckpt_restored(struct dsm_rt *rt, size_t page);
int dsm_rx_ckpt_save(struct dsm_rt *rt, struct dsm_ckpt_out *out);
int dsm_rx_ckpt_restore(struct dsm_rt *rt, const struct dsm_ckpt_in *in);

#endif /* DSM_PROTOCOL_RELAXED_H */
