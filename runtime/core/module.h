/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * module.h - the runtime's modules and its message-handler registry.
 *
 * The runtime of a node is a list of modules (module.c, the one place that
 * names them all), brought up in list order at dsm_init and down in reverse
 * at dsm_finalize.  Each module owns its state and a range of the runtime's
 * message types (rt.h); while it is up, the registry sends every message of
 * its range to its handler.  The service thread knows only the registry, so
 * nothing below module.c calls up into the parts that use it: alloc, sync
 * and the protocols send through core/service.c, and core/service.c
 * delivers back through the registry's table, not by name.
 *
 * Checkpoints (runtime/ft/ckpt.c) walk the same list: every module quiesces,
 * saves its part of the node's state and restores it, in list order.
 *
 * A new module (NUMA placement, say) is one new file that fills in a
 * struct dsm_module, one line in module.c's list, and a range of types in
 * rt.h's enum dsm_msg_type.
 */
#ifndef DSM_CORE_MODULE_H
#define DSM_CORE_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm.h"
#include "runtime/transport/transport.h"
#include "runtime/transport/wire.h"

struct dsm_rt;
struct dsm_ckpt_out;
struct dsm_ckpt_in;

/* Service thread: a message of a registered type.  Must not block; ends
 * the process on a malformed message (dsm_rt_protocol_error). */
typedef void (*dsm_msg_fn)(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			   const void *payload);
/* Service thread, before it waits for messages: do what is due; return
 * when to be called again (dsm_now_ns() time), or 0 for "not before the
 * next message". */
typedef uint64_t (*dsm_tick_fn)(struct dsm_rt *rt);

#define DSM_REG_MAX_TICKS 8

/* Lives in struct dsm_rt; filled while the modules come up, read-only after. */
struct dsm_registry {
	dsm_msg_fn on[DSM_WT_MAX + 1];		/* by message type; NULL: nobody's */
	const char *owner[DSM_WT_MAX + 1];	/* the module that registered it */
	uint8_t waiter_safe[DSM_WT_MAX + 1];	/* enum dsm_waiter bits: may be delivered
						 * by an application thread waiting there */
	dsm_tick_fn tick[DSM_REG_MAX_TICKS];
	int nticks;
	void (*gauge[DSM_REG_MAX_TICKS])(struct dsm_rt *rt, struct dsm_stats *out);
	int ngauges;
};

struct dsm_module {
	const char *name;
	/* Message types [msg_first, msg_last] go to on_message (both 0: none). */
	uint8_t msg_first, msg_last;
	/* init thread, in list order, after the heap and directory exist and
	 * before the fault backend and transport open.  0 or a negative code,
	 * with one line logged. */
	int (*init)(struct dsm_rt *rt);
	/* finalize thread, after the service thread stopped; only for a
	 * module whose init ran (even if it failed). */
	void (*fini)(struct dsm_rt *rt);
	dsm_msg_fn on_message;
	/* Service thread, as dsm_tick_fn; NULL: nothing to do. */
	dsm_tick_fn tick;
	/* Application thread, inside the checkpoint's first barrier: every
	 * node is in dsm_checkpoint/dsm_rollback; finish what is in flight.
	 * 0 or a negative code (the node votes no). */
	int (*quiesce)(struct dsm_rt *rt);
	/* Application thread, quiesced: append this module's state to the
	 * node's checkpoint file; restore it from a verified file (at
	 * restart, or rollback).  NULL: nothing to save. */
	int (*save)(struct dsm_rt *rt, struct dsm_ckpt_out *out);
	int (*restore)(struct dsm_rt *rt, struct dsm_ckpt_in *in);
	/* Any thread: fill in this module's gauges of struct dsm_stats. */
	void (*stats)(struct dsm_rt *rt, struct dsm_stats *out);
};

/* registry.c: route types [first, last] to fn.  0, or -EEXIST (logged) if
 * another module has one of them. */
int dsm_msg_register(struct dsm_rt *rt, const char *owner, unsigned int first, unsigned int last,
		     dsm_msg_fn fn);
/*
 * registry.c: messages of type may also be delivered by an application
 * thread that waits for a reply in the fault path (signal context, and
 * at the same time as the service thread delivers others): their handler
 * takes only page locks, makes only signal-safe calls and keeps no state
 * of the service thread's own.  Module init only.
 */
void dsm_msg_fault_safe(struct dsm_rt *rt, unsigned int type);
/*
 * registry.c: messages of type may be delivered by an application thread
 * that waits for a reply in a lock or barrier call (not signal context,
 * holding none of the runtime's locks) at the same time as the service
 * thread delivers others: their handler may allocate and take any of the
 * runtime's locks, but keeps no state of the service thread's own.
 * Fault-safe types are thread-safe too.  Module init only.
 */
void dsm_msg_thread_safe(struct dsm_rt *rt, unsigned int type);
/* registry.c: the transport's waiter_safe callback (ctx is the rt). */
bool dsm_msg_is_waiter_safe(void *ctx, uint8_t type, enum dsm_waiter who);

/* registry.c: add a service-thread tick.  0 or -ENOSPC. */
int dsm_tick_register(struct dsm_rt *rt, dsm_tick_fn fn);
/* registry.c: fill in every registered module's gauges (stats.c). */
void dsm_gauges_run(struct dsm_rt *rt, struct dsm_stats *out);
/* registry.c: the transport's deliver callback (ctx is the rt). */
void dsm_msg_dispatch(void *ctx, int src, const struct dsm_wire_hdr *h, const void *payload);
/* registry.c: run every tick; the earliest next time, or 0. */
uint64_t dsm_ticks_run(struct dsm_rt *rt);

/* module.c: the list, walked.  init stops at the first failure (the
 * modules up so far are still taken down by fini). */
int dsm_modules_init(struct dsm_rt *rt);
void dsm_modules_fini(struct dsm_rt *rt);
int dsm_modules_quiesce(struct dsm_rt *rt);
int dsm_modules_save(struct dsm_rt *rt, struct dsm_ckpt_out *out);
int dsm_modules_restore(struct dsm_rt *rt, struct dsm_ckpt_in *in);

/* The modules, in the order of module.c's list. */
extern const struct dsm_module dsm_ckpt_module;
extern const struct dsm_module dsm_alloc_module;
extern const struct dsm_module dsm_sync_module;
extern const struct dsm_module dsm_iv_module;
extern const struct dsm_module dsm_stats_module;
extern const struct dsm_module dsm_protocol_module;
extern const struct dsm_module dsm_numa_module;
extern const struct dsm_module dsm_heartbeat_module;

#endif /* DSM_CORE_MODULE_H */
