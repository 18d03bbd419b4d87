/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fault_fixture.h - what the fault backends' tests share: a heap of their
 * own at a fixed address, a recording fault handler standing in for the
 * protocol, and a few helpers.  Linked (fault_fixture.c) into
 * tests/conformance/check_fault_backends (the contract of fault.h, run for
 * every backend), tests/unit/check_fault (the heap, choosing a backend,
 * what only sigsegv does) and tests/unit/check_uffd (what only userfaultfd
 * does).
 *
 * Everything here runs in Check's forked child: map the heap and open a
 * backend in checked fixtures (STYLE.md section 6).
 */
#ifndef DSM_TESTS_FAULT_FIXTURE_H
#define DSM_TESTS_FAULT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"
#include "kernel-shim/mem/heap.h"

/* Where the test heaps go: 0x200000000000, or DSM_TEST_HEAP_BASE (the
 * ThreadSanitizer run of scripts/sanitize.sh needs TSan's application
 * range). */
uintptr_t test_heap_base(void);
#define HEAP_BASE	test_heap_base()
#define HEAP_SIZE	(1u << 20)
#define PAGE		4096u
#define NPAGES		(HEAP_SIZE / PAGE)

/* The large heap: every other page READ is more VMAs than the default
 * vm.max_map_count (65530) would allow with mprotect. */
#define BIG_SIZE	(512ul << 20)
#define BIG_NPAGES	(BIG_SIZE / PAGE)

extern struct dsm_heap heap;
extern struct dsm_fault fault;
extern bool fault_open;		/* heap_teardown() closes fault */

/*
 * What test_handler saw.  It runs in signal context, possibly in several
 * threads at once: only atomics, no locks of libc.
 */
#define MAXREC 64
struct rec {
	size_t page;
	void *addr;
	enum dsm_access access;
};
extern struct rec recs[MAXREC];			/* the first MAXREC faults, in order */
extern int page_faults[NPAGES][3];		/* by page (of the small heap) and enum dsm_access */
extern uint8_t *page_prot;			/* what the handler granted last, per page */
extern int prot_lock;				/* spinlock around page_prot + protect */

/*
 * The "protocol" of these tests: grant READ on a read fault and RW on a
 * write (or unknown) fault, never less than already granted, under
 * prot_lock, as the sequential protocol does under its page lock (a read
 * grant landing after a write grant would make the writer fault forever).
 * ctx is the struct dsm_fault.
 */
int test_handler(void *ctx, void *addr, enum dsm_access access);

/* Make test_handler return err (negative) from the next fault on. */
void fail_handler(int err);

/*
 * Set the protection of pages and what the handler believes of them, as
 * the protocol would (a thread where no handler runs on these pages, or
 * under prot_lock).  The stores are done before the next access to the
 * heap: that access runs the handler, which reads them, but the compiler
 * sees only a volatile load and may sink plain stores past it (a memset
 * here once let the handler grant RW from stale state).
 */
void set_prot(size_t page, size_t npages, enum dsm_prot prot);
/* Only what the handler believes: every page NONE (after a reopen). */
void forget_grants(void);
void prot_lock_take(void);
void prot_lock_give(void);

/* Faults so far; after the heap access before it, never hoisted above it. */
int faults(void);

/* The CPU reports read/write on x86-64; elsewhere the backend may not know. */
void assert_access(enum dsm_access got, enum dsm_access want);

/* Open the backend called name (NULL: the best this host has) on heap. */
void open_backend(const char *name);

/* Checked fixtures: map heap (HEAP_SIZE or BIG_SIZE at HEAP_BASE), no
 * backend; the teardown closes the backend if open and unmaps. */
void heap_setup(void);
void big_heap_setup(void);
void heap_teardown(void);

/* True if sig has its default disposition (no handler installed). */
bool signal_is_default(int sig);

/* vm.max_map_count (65530 if unreadable). */
long max_map_count(void);
/* Every other page from 0 READ: as many distinct protections as pages/2. */
void protect_alternating(size_t npages);

/* CLOCK_MONOTONIC, in seconds. */
double now_s(void);

#endif /* DSM_TESTS_FAULT_FIXTURE_H */
