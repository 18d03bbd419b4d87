/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migrate.c - DSM_NUMA=migrate: the NUMA multiprocessor page policy.
 *
 * Evidence.  Every fault in the heap counts one access of the page for
 * the domain of the CPU the faulting thread runs on (read or write).
 * Faults alone go quiet once a page is open, so the scanner samples:
 * every period (DSM_NUMA_PERIOD_MS) it closes up to DSM_NUMA_SAMPLE open
 * pages of the application's view (PROT_NONE, round robin over the pages
 * this node has touched), under the page's directory lock and without
 * changing what the protocol believes (dsm_page_local.prot).  The next
 * access to such a page faults; dsm_numa_migrate_fault() counts it for
 * the faulting CPU's domain and reopens the page as the protocol had it,
 * and the protocol never sees the fault.  So each period a page that is
 * in use scores one access for a domain using it.  Counts halve every
 * decay window, so the evidence is recent.
 *
 * Decisions, each period, for pages with enough evidence:
 *   - cost: a page moves only if its accesses from domains other than
 *     the one holding it reach min_accesses, the measured cost of a move
 *     divided by the measured extra cost of a remote use (placement.c);
 *   - migrate: to the domain with at least 3/4 of the accesses, with
 *     move_pages(2).  A page used evenly by several domains stays;
 *   - replicate: one process has one page table for all its threads,
 *     so a page of the heap is one frame for every thread of a node: a
 *     per-domain copy inside one node cannot be mapped at the same
 *     address.  The real per-domain replicas are the protocol's read-only
 *     copies, one per node, when nodes are bound one per domain (dsmrun
 *     --bind numa).  So for a read-mostly page that this node holds as a
 *     read-only copy of another node's page, the policy prefers that
 *     replica to migration: it makes sure the copy's frame is on the
 *     domain of its readers here (moving it if it is not), marks it and
 *     counts numa_replications once per copy (a copy invalidated and
 *     fetched again counts again); such a page is never migrated;
 *   - freeze: a page migrated DSM_NUMA_FREEZE_MOVES times within the
 *     freeze window stays where it is (numa_freezes), neither sampled nor
 *     moved, for twice the window; then it thaws with fresh counts.
 */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/numa/numa_int.h"

#define DSM_NUMA_FREEZE_MOVES 3		/* migrations within a window that freeze a page */
#define DSM_NUMA_MAX_CANDIDATES 1024	/* pages decided per period */

/* Periods between halvings of the counts: a page in use every period
 * reaches about twice this, which must exceed min_accesses. */
static uint32_t decay_periods(const struct dsm_numa *n)
{
	return n->min_accesses * 2 > 64 ? n->min_accesses * 2 : 64;
}

/* The freeze window, in periods: long enough for FREEZE_MOVES migrations
 * that each needed min_accesses sampled periods of evidence. */
static uint32_t freeze_periods(const struct dsm_numa *n)
{
	return (DSM_NUMA_FREEZE_MOVES + 1) * (n->min_accesses + 16);
}

static inline void count_hit(struct dsm_numa_page *pg, int dom, enum dsm_access access)
{
	/* Relaxed, racy increments: evidence, not accounting.  Saturate well
	 * below 16 bits; the scanner halves them. */
	if (dom >= 0 && dom < DSM_NUMA_MAX_DOMAINS &&
	    __atomic_load_n(&pg->hits[dom], __ATOMIC_RELAXED) < 60000)
		__atomic_fetch_add(&pg->hits[dom], 1, __ATOMIC_RELAXED);
	if (access == DSM_ACCESS_WRITE) {
		if (__atomic_load_n(&pg->writes, __ATOMIC_RELAXED) < 60000)
			__atomic_fetch_add(&pg->writes, 1, __ATOMIC_RELAXED);
	} else if (__atomic_load_n(&pg->reads, __ATOMIC_RELAXED) < 60000) {
		__atomic_fetch_add(&pg->reads, 1, __ATOMIC_RELAXED);
	}
}

static inline void set_bit(uint64_t *map, size_t i)
{
	uint64_t bit = 1ull << (i & 63);

	if (!(__atomic_load_n(&map[i >> 6], __ATOMIC_RELAXED) & bit))
		__atomic_fetch_or(&map[i >> 6], bit, __ATOMIC_RELAXED);
}

/*
 * The faulting application thread, signal context.  A sampling fault
 * (pg->sampled) is resolved here: under the page's directory lock, reopen
 * the application's view as the protocol last set it (dsm_page_local.prot
 * changes only under that lock, together with the protection), so that a
 * protocol change made after the sample wins.  If the protocol has since
 * closed the page itself, or this is a store to a page the protocol keeps
 * read-only, the fault is the protocol's: fall through (a store is counted
 * when it faults again).
 */
bool dsm_numa_migrate_fault(struct dsm_numa *n, size_t page, enum dsm_access access, int dom)
{
	struct dsm_rt *rt = n->rt;
	struct dsm_numa_page *pg = &n->pages[page];
	uint8_t prot = DSM_PROT_NONE;

	set_bit(n->touched, page);
	if (__atomic_load_n(&pg->sampled, __ATOMIC_ACQUIRE)) {
		dsm_dir_lock(&rt->dir, page);
		if (pg->sampled) {
			__atomic_store_n(&pg->sampled, 0, __ATOMIC_RELAXED);
			prot = rt->dir.local[page].prot;
			if (prot != DSM_PROT_NONE)
				dsm_fault_protect(&rt->fault, page, 1, (enum dsm_prot)prot);
		}
		dsm_dir_unlock(&rt->dir, page);
		if (prot == DSM_PROT_READ && access == DSM_ACCESS_WRITE)
			return true;	/* restarts, faults again for the protocol: counted then */
		if (prot != DSM_PROT_NONE) {
			count_hit(pg, dom, access);
			return true;
		}
	}
	count_hit(pg, dom, access);
	return false;
}

/* ------------------------------------------------------------- scanner */

static uint32_t total_hits(const struct dsm_numa_page *pg, int nd, int *best_p)
{
	uint32_t total = 0, best = 0;

	*best_p = -1;
	for (int d = 0; d < nd; d++) {
		uint32_t h = __atomic_load_n(&pg->hits[d], __ATOMIC_RELAXED);

		total += h;
		if (h > best) {
			best = h;
			*best_p = d;
		}
	}
	return total;
}

static void reset_hits(struct dsm_numa_page *pg)
{
	for (int d = 0; d < DSM_NUMA_MAX_DOMAINS; d++)
		__atomic_store_n(&pg->hits[d], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->reads, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->writes, 0, __ATOMIC_RELAXED);
}

static void halve_hits(struct dsm_numa_page *pg)
{
	for (int d = 0; d < DSM_NUMA_MAX_DOMAINS; d++)
		__atomic_store_n(&pg->hits[d], __atomic_load_n(&pg->hits[d], __ATOMIC_RELAXED) / 2,
				 __ATOMIC_RELAXED);
	__atomic_store_n(&pg->reads, __atomic_load_n(&pg->reads, __ATOMIC_RELAXED) / 2,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&pg->writes, __atomic_load_n(&pg->writes, __ATOMIC_RELAXED) / 2,
			 __ATOMIC_RELAXED);
}

/* Reopen a page the scanner closed and nobody touched since, before
 * moving it: a closed page is not mapped where move_pages looks first. */
static void unsample(struct dsm_numa *n, size_t page)
{
	struct dsm_rt *rt = n->rt;
	struct dsm_numa_page *pg = &n->pages[page];

	if (!__atomic_load_n(&pg->sampled, __ATOMIC_ACQUIRE))
		return;
	dsm_dir_lock(&rt->dir, page);
	if (pg->sampled) {
		__atomic_store_n(&pg->sampled, 0, __ATOMIC_RELAXED);
		if (rt->dir.local[page].prot != DSM_PROT_NONE)
			dsm_fault_protect(&rt->fault, page, 1,
					  (enum dsm_prot)rt->dir.local[page].prot);
	}
	dsm_dir_unlock(&rt->dir, page);
}

/* The home of page as this node knows it, or -1. */
static int home_of(struct dsm_rt *rt, size_t page)
{
	if (rt->cfg.consistency != DSM_SEQUENTIAL && rt->cfg.first_touch)
		return (int)__atomic_load_n(&rt->dir.local[page].home1, __ATOMIC_RELAXED) - 1;
	return dsm_dir_home(&rt->dir, page);
}

/* This node holds page as a read-only copy of another node's page. */
static bool is_replica(struct dsm_rt *rt, size_t page)
{
	int home = home_of(rt, page);

	return rt->nnodes > 1 && home >= 0 && home != rt->self &&
	       __atomic_load_n(&rt->dir.local[page].prot, __ATOMIC_RELAXED) == DSM_PROT_READ;
}

static void count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Decide for one page with enough evidence.  Scanner thread. */
static void decide(struct dsm_numa *n, size_t page)
{
	struct dsm_rt *rt = n->rt;
	struct dsm_numa_page *pg = &n->pages[page];
	int nd = n->topo.ndomains, best, loc;
	uint32_t total = total_hits(pg, nd, &best), reads, writes, elsewhere;

	if (best < 0)
		return;
	reads = __atomic_load_n(&pg->reads, __ATOMIC_RELAXED);
	writes = __atomic_load_n(&pg->writes, __ATOMIC_RELAXED);

	/* Read-mostly (at most one store in 8 accesses) protocol copy: the
	 * protocol's per-node replica, kept on its readers' domain. */
	if (writes * 8 <= reads && is_replica(rt, page)) {
		if (pg->flags & DSM_NUMA_PG_REPLICA)
			return;
		loc = dsm_numa_page_domain(n, page);
		if (loc < 0)
			return;
		if (loc != best) {
			unsample(n, page);
			if (dsm_numa_move_page(n, page, best) < 0)
				return;
		}
		pg->loc1 = (uint8_t)(best + 1);
		pg->flags |= DSM_NUMA_PG_REPLICA;
		count(&rt->counters.numa_replications);
		dsm_debug("NUMA: page %zu: read-only replica on domain %u", page,
			  n->topo.dom[best].os_index);
		return;
	}
	if (total < n->min_accesses)
		return;		/* cannot have paid for a move yet */
	if (pg->loc1 == best + 1)
		return;		/* there when last seen: frames stay put unless we move them */
	loc = dsm_numa_page_domain(n, page);
	if (loc < 0)
		return;
	pg->loc1 = (uint8_t)(loc + 1);
	if (loc == best)
		return;
	elsewhere = total - __atomic_load_n(&pg->hits[loc], __ATOMIC_RELAXED);
	/* Cost: the accesses from elsewhere must pay for the move.
	 * Dominance: a page several domains share stays put. */
	if (elsewhere < n->min_accesses ||
	    (uint64_t)__atomic_load_n(&pg->hits[best], __ATOMIC_RELAXED) * 4 < (uint64_t)total * 3)
		return;
	unsample(n, page);
	if (dsm_numa_move_page(n, page, best) < 0)
		return;
	pg->loc1 = (uint8_t)(best + 1);
	reset_hits(pg);
	count(&rt->counters.numa_migrations);
	if (n->epoch - pg->window_start >= freeze_periods(n) || pg->moves == 0) {
		pg->window_start = n->epoch;
		pg->moves = 0;
	}
	pg->moves++;
	dsm_debug("NUMA: page %zu: migrated from domain %u to %u (%u of %u accesses there)",
		  page, n->topo.dom[loc].os_index, n->topo.dom[best].os_index,
		  total - elsewhere, total);
	if (pg->moves >= DSM_NUMA_FREEZE_MOVES) {
		/* Anti-thrashing: it keeps changing hands; leave it be. */
		pg->flags |= DSM_NUMA_PG_FROZEN;
		pg->frozen_until = n->epoch + 2 * freeze_periods(n);
		count(&rt->counters.numa_freezes);
		dsm_debug("NUMA: page %zu: frozen on domain %u after %u migrations", page,
			  n->topo.dom[best].os_index, pg->moves);
	}
}

/* Close one open page of the application's view to sample its next
 * access.  Scanner thread; takes the page's directory lock. */
static void sample(struct dsm_numa *n, size_t page)
{
	struct dsm_rt *rt = n->rt;
	struct dsm_numa_page *pg = &n->pages[page];

	if (dsm_dir_trylock(&rt->dir, page))
		return;		/* busy: the protocol is at it, skip this round */
	if (!pg->sampled && rt->dir.local[page].prot != DSM_PROT_NONE) {
		/* Flag first: a thread faulting on the page from now on must
		 * find it (it waits for this lock to read it). */
		__atomic_store_n(&pg->sampled, 1, __ATOMIC_RELEASE);
		dsm_fault_protect(&rt->fault, page, 1, DSM_PROT_NONE);
	}
	dsm_dir_unlock(&rt->dir, page);
}

static void scan(struct dsm_numa *n)
{
	size_t words = (n->npages + 63) / 64, ncand = 0, nsampled = 0;
	static size_t cand[DSM_NUMA_MAX_CANDIDATES];	/* scanner thread only */
	bool decay;

	n->epoch++;
	decay = n->epoch % decay_periods(n) == 0;
	for (size_t w = 0; w < words; w++) {
		uint64_t bits = __atomic_load_n(&n->touched[w], __ATOMIC_RELAXED);

		while (bits) {
			size_t page = w * 64 + (size_t)__builtin_ctzll(bits);
			struct dsm_numa_page *pg = &n->pages[page];
			int best;

			bits &= bits - 1;
			if ((pg->flags & DSM_NUMA_PG_REPLICA) && !is_replica(n->rt, page))
				pg->flags &= (uint8_t)~DSM_NUMA_PG_REPLICA;	/* invalidated */
			if (pg->flags & DSM_NUMA_PG_FROZEN) {
				if ((int32_t)(n->epoch - pg->frozen_until) < 0)
					continue;
				pg->flags &= (uint8_t)~DSM_NUMA_PG_FROZEN;
				pg->moves = 0;
				reset_hits(pg);
				dsm_debug("NUMA: page %zu: thawed", page);
			}
			if (decay)
				halve_hits(pg);
			if (ncand < DSM_NUMA_MAX_CANDIDATES && total_hits(pg, n->topo.ndomains, &best) >= 2)
				cand[ncand++] = page;
		}
	}
	for (size_t i = 0; i < ncand; i++)
		decide(n, cand[i]);

	/* Sample the next pages round robin, frozen and replica pages aside. */
	for (size_t seen = 0; nsampled < n->sample && seen < n->npages; seen++) {
		size_t page = n->cursor;

		if (++n->cursor >= n->npages)
			n->cursor = 0;
		if (!(n->touched[page >> 6] & (1ull << (page & 63)))) {
			/* skip an untouched word at once */
			if (!n->touched[page >> 6]) {
				size_t skip = 63 - (page & 63);

				seen += skip;
				n->cursor = page - (page & 63) + 64;
				if (n->cursor >= n->npages)
					n->cursor = 0;
			}
			continue;
		}
		if (n->pages[page].flags & (DSM_NUMA_PG_FROZEN | DSM_NUMA_PG_REPLICA))
			continue;
		sample(n, page);
		nsampled++;
	}
}

static void *scanner_main(void *arg)
{
	struct dsm_numa *n = arg;
	struct timespec ts = {
		.tv_sec = (time_t)(n->period_ns / 1000000000ull),
		.tv_nsec = (long)(n->period_ns % 1000000000ull),
	};
	sigset_t all;

	/* Application signals go to application threads; faults stay. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE)) {
		/* Sleep a period, or until fini wakes us. */
		syscall(SYS_futex, &n->stop, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
		if (__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE))
			break;
		/* Only between dsm_init's end and dsm_finalize's start: the
		 * fault backend must be installed to sample. */
		if (__atomic_load_n(&dsm_rt, __ATOMIC_ACQUIRE) != n->rt)
			continue;
		scan(n);
	}
	return NULL;
}

int dsm_numa_scanner_start(struct dsm_numa *n)
{
	int ret = pthread_create(&n->scanner, NULL, scanner_main, n);

	if (ret) {
		dsm_err("DSM_NUMA=migrate: cannot start the scanner thread: %s", strerror(ret));
		return -ret;
	}
	n->scanner_running = true;
	return 0;
}

void dsm_numa_scanner_stop(struct dsm_numa *n)
{
	if (!n->scanner_running)
		return;
	__atomic_store_n(&n->stop, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &n->stop, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(n->scanner, NULL);
	n->scanner_running = false;
}
