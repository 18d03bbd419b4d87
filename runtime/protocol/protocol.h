/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * protocol.h - consistency protocols (internal).
 *
 * The active protocol decides what a fault needs and answers the coherence
 * messages; sync calls its acquire/release hooks at every synchronization
 * point.  One file per model fills in the table.
 */
#ifndef DSM_PROTOCOL_H
#define DSM_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel-shim/fault/fault.h"
#include "runtime/core/rt.h"

struct dsm_protocol_ops {
	const char *name;
	dsm_consistency_t model;

	/* init thread, after the directory and heap exist, before the fault
	 * backend is installed.  0 or a negative code (logged). */
	int (*init)(struct dsm_rt *rt);
	/* finalize thread, after the service thread stopped. */
	void (*fini)(struct dsm_rt *rt);
	/*
	 * The faulting application thread, possibly in signal context (see
	 * kernel-shim/fault/sigsegv.c for what that allows).  Blocks until
	 * the page is accessible for the access, then returns 0.
	 */
	int (*fault)(struct dsm_rt *rt, size_t page, enum dsm_access access);
	/* Service thread: a message of type DSM_MSG_READ_REQ..PROTO_LAST.
	 * Must not block; ends the process on a malformed message. */
	void (*on_message)(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *hdr,
			   const void *payload);
	/*
	 * Application thread, at every acquire (lock acquire, barrier exit,
	 * dsm_acquire), with iv.op and iv.lock held (interval.c): make the
	 * writes named by the notices this node had not seen visible here
	 * (under release consistency: invalidate their pages).  all: a bare
	 * dsm_acquire(), which carries no notices, so every cached copy must
	 * go.  Must not wait for the network.
	 */
	void (*acquire)(struct dsm_rt *rt, const struct dsm_notice *unseen, size_t n, bool all);
	/*
	 * Application thread, at every release (lock release, barrier entry,
	 * dsm_release), with iv.op held: publish this node's writes and
	 * return the pages written since the last release (valid until the
	 * next one), for the interval's write notices.
	 */
	void (*release)(struct dsm_rt *rt, const uint32_t **written, size_t *n);
	/*
	 * Service thread, before it waits for messages: answer the deferred
	 * messages that are due.  Returns when the next one is due
	 * (dsm_now_ns() time), or 0 if none waits.
	 */
	uint64_t (*tick)(struct dsm_rt *rt);
	/* The node holding the master copy of page (dsm_home_node());
	 * application thread, may ask the network. */
	int (*home_of)(struct dsm_rt *rt, size_t page);
	/* Application thread: npages from first were freed and handed out
	 * again, zeroed by another node that has published the zeros: take
	 * away this node's copies.  NULL: nothing to do (sequential: the
	 * zeroing writes invalidated them). */
	void (*forget)(struct dsm_rt *rt, size_t first, size_t npages);
	/* Application thread: [addr, addr + size) was handed out by
	 * dsm_malloc (on this node) or dsm_alloc_collective (on every node),
	 * so its edges are known here.  NULL: nothing to do. */
	void (*allocated)(struct dsm_rt *rt, uintptr_t addr, size_t size);
	/* Weak consistency: an acquire is a release too (interval.c runs
	 * release before acquire). */
	bool publish_at_acquire;

	/*
	 * Checkpoints (runtime/ft/ckpt.c).  Application thread, every node
	 * inside the same checkpoint, rollback or restart, past its barrier,
	 * and no other thread of the job touching shared memory.
	 *
	 * ckpt_gather: every node at once: bring the current bytes of every
	 * page homed here into this node's memory (sequential: recall them
	 * from their owners).  NULL: the barrier did (relaxed: the diffs are
	 * home).  0 or a negative code (logged).
	 * ckpt_saves: after the gather: whether this node saves page, as its
	 * home and written at least once (else it is zero everywhere).
	 * ckpt_reset: forget every copy, owner, twin and home record; every
	 * page closed here and never written (the runtime zeroes memory and
	 * puts the saved pages back afterwards).
	 * ckpt_restored: page is homed here again and its saved bytes are in
	 * this node's memory: it counts as written.
	 * ckpt_save, ckpt_restore: the protocol's records in the node's file
	 * (relaxed: the first-touch homes this node hands out).  NULL: none.
	 */
	int (*ckpt_gather)(struct dsm_rt *rt);
	bool (*ckpt_saves)(struct dsm_rt *rt, size_t page);
	void (*ckpt_reset)(struct dsm_rt *rt);
	void (*ckpt_restored)(struct dsm_rt *rt, size_t page);
	int (*ckpt_save)(struct dsm_rt *rt, struct dsm_ckpt_out *out);
	int (*ckpt_restore)(struct dsm_rt *rt, const struct dsm_ckpt_in *in);
};

/* protocol.c, for ckpt_reset: close every page of the application's view
 * and return the directory (both tables) to its state at dsm_init. */
void dsm_protocol_reset_pages(struct dsm_rt *rt);

/*
 * Pages per block of the fixed map (dsm_dir_home): DSM_HOME_BLOCK; with
 * first-touch homes (relaxed models) the map only names each page's
 * manager, which hands out its home, and deals blocks 64 times as large so
 * that one answer can give the home of a whole run of pages.
 */
#define DSM_FT_MANAGER_BLOCK 64
unsigned int dsm_manager_block(const struct dsm_config *cfg);

/*
 * The protocol for a model, or NULL with one logged line saying the model
 * is not supported (yet) in this version.
 */
const struct dsm_protocol_ops *dsm_protocol_find(dsm_consistency_t model);

extern const struct dsm_protocol_ops dsm_sequential_ops;
extern const struct dsm_protocol_ops dsm_release_ops;
extern const struct dsm_protocol_ops dsm_weak_ops;

#endif /* DSM_PROTOCOL_H */
