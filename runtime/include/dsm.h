/*
 * dsm.h - libdsm, a page-based distributed shared memory runtime.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * The public contract (see API.md / dsm(3)).  SPMD: the same program runs as
 * N processes ("nodes") started by dsmrun(1), srun or mpirun; every node sees
 * one shared heap at the same virtual address.  Every call is thread-safe
 * unless it says "collective": a collective is called by exactly one thread
 * per node, by every node, in the same order.
 *
 * Error codes are negative: -errno where errno says it, or -DSM_E* for
 * libdsm's own causes (above DSM_ERRNO_BASE, so they never collide with errno).
 */
#ifndef DSM_H
#define DSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSM_VERSION_MAJOR 0
#define DSM_VERSION_MINOR 1

/** Number of distinct lock ids: 0 <= lock_id < DSM_MAX_LOCKS. */
#define DSM_MAX_LOCKS 4096
/** Most nodes one job may have. */
#define DSM_MAX_NODES 64

/** libdsm's own error codes lie above this value (negated when returned). */
#define DSM_ERRNO_BASE 4096
enum {
	DSM_ENOTSUP = DSM_ERRNO_BASE + 1, /**< feature not supported (yet) in this build or model */
	DSM_ECONFIG,       /**< bad value in a DSM_* variable or --dsm-* option */
	DSM_EHEAP,         /**< shared heap address range unavailable */
	DSM_EPEERLOST,     /**< a peer node died or its connection broke */
	DSM_EAUTH,         /**< a peer failed authentication with the job's secret */
	DSM_EPROTO,        /**< malformed or unexpected message from a peer */
	DSM_ENOTHELD,      /**< lock released by a node that does not hold it */
	DSM_ETIMEDOUT,     /**< a peer could not be reached in time */
	DSM_ENOTINIT,      /**< dsm_init has not been called (or failed) */
	DSM_ESTALE_EPOCH,  /**< checkpoint epoch is stale or incomplete */
	DSM_ECORRUPT,      /**< checkpoint file is corrupt */
	DSM_ERR_MAX
};

/* ---------------------------------------------------------------- lifecycle */

/**
 * Join the job.  Collective.  Reads the DSM_* environment, consumes
 * --dsm-NAME=VALUE options from argv (NAME as in DSM_NAME, lower case,
 * '-' for '_'), maps the shared heap, connects to and authenticates every
 * other node, and returns when all are connected.  Started without a
 * launcher, the program runs as a job of one node.
 *
 * @return 0; -DSM_ECONFIG (bad variable), -DSM_EHEAP (heap range
 *         unavailable), -DSM_ETIMEDOUT (peer unreachable), -DSM_EAUTH,
 *         -DSM_EPROTO, -DSM_EPEERLOST, -DSM_ENOTSUP, -EALREADY (called
 *         twice), or another -errno.  One line on stderr names the cause.
 */
int dsm_init(int *argc, char ***argv);

/**
 * Leave the job.  Collective; implies dsm_barrier().  Prints or writes the
 * statistics if DSM_STATS asks for them.  A peer lost on the way ends the
 * process with a message naming it (it never returns an error for that).
 * @return 0, -DSM_ENOTINIT, or -errno when node 0 cannot write the
 *         DSM_STATS file (the job still ends cleanly).
 */
int dsm_finalize(void);

/** This node's id, 0 .. dsm_num_nodes()-1 (0 before dsm_init). */
int dsm_node_id(void);
/** Number of nodes in the job (1 before dsm_init). */
int dsm_num_nodes(void);
/** Message for any code returned by libdsm (negative or positive). */
const char *dsm_strerror(int code);

/* ------------------------------------------------------------ shared memory */

/**
 * Collective allocation: every node gets the same pointer, zeroed memory.
 * Out of shared heap: NULL with errno = ENOMEM on every node.
 */
void *dsm_alloc_collective(size_t size);
/** Allocate from this node's arena; no communication.  NULL + ENOMEM if full. */
void *dsm_malloc(size_t size);
/** dsm_malloc of nmemb*size zeroed bytes (NULL + ENOMEM on overflow). */
void *dsm_calloc(size_t nmemb, size_t size);
/** Free any dsm pointer, from any node.  NULL is ignored. */
void dsm_free(void *ptr);
/** The coherence unit in bytes (DSM_PAGE_SIZE). */
size_t dsm_page_size(void);
/** 1 if ptr lies in the shared heap, else 0. */
int dsm_is_shared(const void *ptr);
/**
 * The home node of the page holding ptr: the node that keeps its master copy.
 * Under sequential consistency, or with DSM_HOMES=static, page number modulo
 * the node count (unless DSM_HOME_BLOCK groups pages); under release and weak
 * consistency with first-touch homes (the default) the first node that
 * touched the page, and a page nobody touched yet becomes its manager's (so
 * the answer stays true).  @return 0..dsm_num_nodes()-1, or -EINVAL if ptr is
 * not in the shared heap.
 */
int dsm_home_node(const void *ptr);
/**
 * Bind the calling thread as this node's application thread number index,
 * as DSM_BIND says (dsm(7)): with DSM_BIND=numa to the CPUs of NUMA domain
 * index modulo the domains this node may use, with DSM_BIND=core to one
 * core likewise; with DSM_BIND=none (the default) it does nothing.  Threads
 * that do not call it are numbered in the order of their first access to
 * the shared heap (the thread that called dsm_init is number 0).
 * @return 0, -EINVAL (index < 0), -DSM_ENOTINIT.
 */
int dsm_bind_thread(int index);

/* ---------------------------------------------------------- synchronization */

/** Collective barrier: acquire + release for everyone. */
void dsm_barrier(void);
/**
 * Acquire global lock lock_id (FIFO grant order).
 * @return 0, -EINVAL (lock_id >= DSM_MAX_LOCKS), -ENOMEM, -DSM_ENOTINIT.
 */
int dsm_lock_acquire(unsigned lock_id);
/**
 * Release global lock lock_id.
 * @return 0, -EINVAL, -DSM_ENOTHELD (this node does not hold it), -DSM_ENOTINIT.
 */
int dsm_lock_release(unsigned lock_id);
/** Fence: see writes released before it. */
void dsm_acquire(void);
/** Fence: publish this node's writes. */
void dsm_release(void);

/* -------------------------------------------------------------- consistency */

typedef enum { DSM_SEQUENTIAL, DSM_RELEASE, DSM_WEAK } dsm_consistency_t;
/** The model chosen by DSM_CONSISTENCY for this run. */
dsm_consistency_t dsm_consistency(void);

/* ---------------------------------------------------------------- causality */

/**
 * Copy this node's vector time into out[0..n-1].
 * Entry i counts the intervals of node i that happen before now (an
 * interval ends at every acquire and release); it only grows, and lock
 * grants and barriers carry it, so after an acquire it is at least the
 * releaser's at the release.
 * @return dsm_num_nodes() (entries beyond n are not copied), or a negative
 * code (-EINVAL, -DSM_ENOTINIT).
 */
int dsm_vclock(uint64_t *out, int n);

/* ---------------------------------------------------- checkpoint / rollback */

/** Collective; consistent global checkpoint.  @return its epoch (>= 1) or a negative code. */
int dsm_checkpoint(void);
/** Collective; shared heap and locks return to the last checkpoint.  @return 0 or a negative code. */
int dsm_rollback(void);
/** Epoch restored at dsm_init (DSM_RESTART=1), else 0. */
int dsm_restored_epoch(void);

/* --------------------------------------------------------------- statistics */

struct dsm_stats {
	uint64_t read_faults, write_faults;      /* faults handled by the runtime */
	uint64_t pages_fetched, pages_sent;      /* whole pages moved over the network */
	uint64_t invalidations;                  /* copies invalidated on this node */
	uint64_t diffs_created, diffs_applied, diff_bytes;
	uint64_t msgs_sent, msgs_recv, bytes_sent, bytes_recv;
	uint64_t lock_acquires, barriers;
	uint64_t numa_migrations;
	uint64_t twins;                          /* twins made (first write to a page in an interval) */
	uint64_t write_notices;                  /* write notices this node created */
	uint64_t notices_held;                   /* gauge, not a counter: write notices this
	                                          * node keeps now (its log, the records of
	                                          * the locks it manages); stays bounded */
	uint64_t numa_replications;              /* DSM_NUMA=migrate: read-only protocol copies
	                                          * kept on their readers' domain (dsm(7)) */
	uint64_t numa_freezes;                   /* DSM_NUMA=migrate: pages frozen in place
	                                          * after migrating too often */
	uint64_t heartbeats;                     /* heartbeats this node sent (DSM_FAILURE_TIMEOUT);
	                                          * not in msgs_sent/msgs_recv, bytes_* */
	uint64_t msgs_by_waiter;                 /* of msgs_recv: delivered by the thread that
	                                          * waited for them, not the service thread
	                                          * (tcp; dsm(7), Polling) */
	uint64_t ckpt_ns;                        /* time spent in dsm_checkpoint (ns) */
	uint64_t ckpt_bytes;                     /* bytes of checkpoint files this node wrote */
};
/** This node's counters since dsm_init.  @return 0, -EINVAL (NULL), -DSM_ENOTINIT. */
int dsm_get_stats(struct dsm_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* DSM_H */
