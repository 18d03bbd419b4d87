/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * directory.h - the page directory.
 *
 * Two tables:
 *   - every node keeps a small local entry per page of the heap: the
 *     protection its application view has, and the request it has in
 *     flight (so concurrent faults of several threads make one request);
 *   - the home of a page keeps the page's directory entry: who holds it
 *     exclusively, who holds read copies, the transaction in progress and
 *     the requests queued behind it.
 * Both are guarded by the same striped mutex (dsm_dir_lock()), so a home
 * node's local faults and its service thread see one consistent state.
 */
#ifndef DSM_DIRECTORY_H
#define DSM_DIRECTORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSM_DIR_STRIPES 1024

/* This node's view of one page. */
struct dsm_page_local {
	uint8_t prot;		/* enum dsm_prot of the application view; changed only
				 * under the page's stripe lock, together with mprotect */
	uint8_t want;		/* enum dsm_prot requested and not yet granted, or 0;
				 * set by the faulting thread, cleared by the grant */
	uint16_t flags;		/* protocol-specific (relaxed.c: twin, dirty, ...) */
	uint16_t home1;		/* relaxed models with first-touch homes: the
				 * page's home + 1 once known here, else 0 */
	uint32_t seq;		/* bumped on every grant: faulting threads futex-wait on it */
	uint64_t hold_until_ns;	/* recalls and invalidations of this page wait until then:
				 * set far at a grant, brought near once a faulting thread
				 * has used the page (see sequential.c, "hold") */
};

/* The home's entry for one of its pages. */
struct dsm_dir_entry {
	int16_t owner;		/* node holding the only, writable copy; -1: the home's
				 * memory is current and copyset lists the readers */
	int16_t txn_node;	/* requester of the transaction in progress */
	uint8_t busy;		/* a transaction is in progress */
	uint8_t txn_mode;	/* enum dsm_prot it asked for */
	int16_t pending;	/* recall replies and invalidation acks still awaited */
	uint64_t version;	/* write grants so far (exclusive ownership epochs); 64 bits
				 * because 0 means "never written, zero everywhere" and a
				 * hot page must never wrap back to it */
	uint64_t copyset;	/* nodes with a valid copy (bit i = node i) */
	uint64_t wait_read;	/* nodes whose read request waits for the transaction */
	uint64_t wait_write;	/* nodes whose write request waits */
	uint16_t ft_home1;	/* relaxed models with first-touch homes: the home
				 * this node (the page's manager) gave the page + 1,
				 * or 0 while no node has touched it */
	uint16_t run;		/* sequential consistency: the write run (its slot
				 * + 1) the transaction is part of, or 0 */
};

struct dsm_dir {
	size_t npages;
	int nnodes;
	int self;
	unsigned int home_block;	/* pages per block of the block-cyclic home map */
	struct dsm_page_local *local;	/* npages entries */
	struct dsm_dir_entry *home;	/* entries for the pages homed here */
	size_t nhome;
	pthread_mutex_t stripes[DSM_DIR_STRIPES];
};

/* 0 or -ENOMEM.  Every page starts invalid everywhere, owned by nobody:
 * the home's (zero) memory is current. */
int dsm_dir_init(struct dsm_dir *dir, size_t npages, int nnodes, int self, unsigned int home_block);
void dsm_dir_fini(struct dsm_dir *dir);

/* Block-cyclic: blocks of home_block pages dealt round-robin to nodes. */
static inline int dsm_dir_home(const struct dsm_dir *dir, size_t page)
{
	return (int)((page / dir->home_block) % (size_t)dir->nnodes);
}

/* The home entry of a page homed at this node.  Caller holds the page's lock. */
static inline struct dsm_dir_entry *dsm_dir_entry_locked(struct dsm_dir *dir, size_t page)
{
	size_t block = page / dir->home_block;

	return &dir->home[(block / (size_t)dir->nnodes) * dir->home_block + page % dir->home_block];
}

static inline pthread_mutex_t *dsm_dir_lock_of(struct dsm_dir *dir, size_t page)
{
	return &dir->stripes[page % DSM_DIR_STRIPES];
}

static inline void dsm_dir_lock(struct dsm_dir *dir, size_t page)
{
	pthread_mutex_lock(dsm_dir_lock_of(dir, page));
}

/* 0 when taken, else nonzero (held, by another thread or by this one). */
static inline int dsm_dir_trylock(struct dsm_dir *dir, size_t page)
{
	return pthread_mutex_trylock(dsm_dir_lock_of(dir, page));
}

static inline void dsm_dir_unlock(struct dsm_dir *dir, size_t page)
{
	pthread_mutex_unlock(dsm_dir_lock_of(dir, page));
}

/*
 * Take the next queued request of a page (fair: round-robin from the last
 * requester).  Caller holds the lock.  Returns false if none waits.
 */
bool dsm_dir_next_waiter_locked(struct dsm_dir *dir, struct dsm_dir_entry *e, int *node_p,
				bool *write_p);

#endif /* DSM_DIRECTORY_H */
