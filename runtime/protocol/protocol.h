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
	/* Application thread, at every acquire (lock acquire, barrier exit,
	 * dsm_acquire) and release (lock release, barrier entry,
	 * dsm_release). */
	void (*acquire)(struct dsm_rt *rt);
	void (*release)(struct dsm_rt *rt);
	/*
	 * Service thread, before it waits for messages: answer the deferred
	 * messages that are due.  Returns when the next one is due
	 * (dsm_now_ns() time), or 0 if none waits.
	 */
	uint64_t (*tick)(struct dsm_rt *rt);
};

/*
 * The protocol for a model, or NULL with one logged line saying the model
 * is not supported (yet) in this version.
 */
const struct dsm_protocol_ops *dsm_protocol_find(dsm_consistency_t model);

extern const struct dsm_protocol_ops dsm_sequential_ops;

#endif /* DSM_PROTOCOL_H */
