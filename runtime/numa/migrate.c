/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migrate.c - DSM_NUMA=migrate: the NUMA multiprocessor page policy.
 *
 * Evidence.  Every fault in the heap counts one use of the page for the
 * domain of the CPU the faulting thread runs on (read or write).  Faults
 * alone go quiet once a page is open, so the scanner samples: every
 * period (DSM_NUMA_PERIOD_MS) it closes the open pages of the
 * application's view that are due (PROT_NONE, at most DSM_NUMA_SAMPLE a
 * period), under their directory locks and without changing what the
 * protocol believes (dsm_page_local.prot).  The next access to such a
 * page faults; dsm_numa_migrate_fault() counts it for the faulting CPU's
 * domain and reopens the page as the protocol had it, and the protocol
 * never sees the fault.
 *
 * A sample stands for the uses of a period, estimated from how soon the
 * page was used after it was closed: a page used d after closing is used
 * about once per 2d (the close falls, on average, half-way between two
 * uses), so it counts period / 2d uses, at least 1 and at most
 * min_accesses / 4.  d runs from the close, or from the end of the
 * faulting thread's previous sampling fault if that came later (its
 * faults on other closed pages are not time it left this one unused).  So
 * a page that pays for a move shows it within 4 or so samples instead of
 * min_accesses periods, and no single quick touch is enough.
 *
 * Recency.  A page's counts are halved whenever they add up to the
 * evidence window, max(2 min_accesses, 16) uses: they describe its last
 * uses, however often it is sampled.  And a page that DSM_NUMA_STREAK (4)
 * looks in a row found used by one other domain only, and not by its own,
 * goes to that domain once that domain's counted uses reach min_accesses,
 * even if older uses from its old domain still weigh more: a page another
 * domain took over for a sustained stretch follows it within a few
 * periods.  Pages two domains use in turns within a look or two never
 * make such a run.
 *
 * Adaptive sampling.  A fault on a closed page costs a signal and two
 * protection changes (and TLB shootdowns: under an emulator or on a busy
 * machine, milliseconds), far more than the page's use, so the scanner
 * samples a page less often once its placement is settled: each page has
 * its own interval, doubled at every sample from one period up to 2^5
 * periods (DSM_NUMA_MAX_ILOG) while no remote use shows, and reset to one
 * period when a look finds a use from a domain other than the one holding
 * the page.  A page whose remote uses never lead to a move (several
 * domains share it) stops resetting after DSM_NUMA_PROBATION (32) such
 * looks, until it moves or thaws.  Intervals are in time and aligned (a
 * page with an interval of i ms is due at multiples of i), so pages that
 * settled together are due together, and a run of consecutive due pages
 * is closed with one protection change (one TLB shootdown) instead of
 * one per page.  The pages a scan decides to move are moved together
 * (dsm_numa_move_pages: one move_pages(2) call).  The scanner runs on any
 * CPU of the node, not only on those of the thread that called dsm_init.
 *
 * Decisions, each period, for the pages used since the last look:
 *   - cost: a page moves only if its (estimated) uses from domains other
 *     than the one holding it reach min_accesses, the cost of a move
 *     divided by the measured extra cost of a remote use (placement.c);
 *     the cost of a move is measured at init and then follows what the
 *     moves cost (a running mean over the batches: a busy machine makes
 *     them dearer, and then pages need more uses to move);
 *   - migrate: to the domain with at least 3/4 of the counted uses, or
 *     the one of a run of looks (above), with move_pages(2).  A page used
 *     evenly by several domains stays;
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
 *   - freeze: a page migrated DSM_NUMA_FREEZE_MOVES (3) times within
 *     DSM_NUMA_FREEZE_WINDOW (64) periods' time changes hands faster than
 *     moves can pay off: it stays where it is (numa_freezes), neither
 *     sampled nor moved, for 4 windows; then it thaws with fresh counts.
 *     A page whose users change less often (stretches longer than half a
 *     window) follows them.
 */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/numa/numa_int.h"

#define DSM_NUMA_FREEZE_MOVES 3		/* migrations within a window that freeze a page */
#define DSM_NUMA_FREEZE_WINDOW 64	/* nominal periods (in time: a slow scan stretches periods) */
#define DSM_NUMA_FROZEN_WINDOWS 4	/* how long a frozen page stays, in windows */
#define DSM_NUMA_MAX_CANDIDATES 1024	/* pages decided per period */
#define DSM_NUMA_MAX_ILOG 5		/* a settled page is sampled every 2^5 periods */
#define DSM_NUMA_PROBATION 32		/* remote looks without a move before backing off */
#define DSM_NUMA_STREAK 4		/* looks in a row that saw only one other domain */
#define DSM_NUMA_MAX_RUN 512		/* pages closed by one protection change */
#define DSM_NUMA_COUNT_MAX 60000	/* counters saturate below 16 bits */

/* Uses that make a page's evidence: counts are halved when they reach it.
 * Twice min_accesses, so that a domain can show min_accesses uses. */
static uint32_t evidence_window(const struct dsm_numa *n)
{
	return n->min_accesses * 2 > 16 ? n->min_accesses * 2 : 16;
}

/* The freeze window in milliseconds: DSM_NUMA_FREEZE_WINDOW periods of
 * DSM_NUMA_PERIOD_MS.  Time, not scans: scans come further apart when the
 * scanner is short of CPU, and a window of scans would then span phases
 * that are long enough to be worth following. */
static uint32_t freeze_window_ms(const struct dsm_numa *n)
{
	return (uint32_t)(DSM_NUMA_FREEZE_WINDOW * (n->period_ns / 1000000));
}

static inline void add_sat(uint16_t *c, uint32_t w)
{
	uint32_t v = __atomic_load_n(c, __ATOMIC_RELAXED);

	if (v < DSM_NUMA_COUNT_MAX)
		__atomic_fetch_add(c, (uint16_t)(w < DSM_NUMA_COUNT_MAX - v ? w : DSM_NUMA_COUNT_MAX - v),
				   __ATOMIC_RELAXED);
}

static inline void count_hit(struct dsm_numa_page *pg, int dom, enum dsm_access access, uint32_t w)
{
	/* Relaxed, racy increments: evidence, not accounting. */
	if (dom >= 0 && dom < DSM_NUMA_MAX_DOMAINS) {
		add_sat(&pg->hits[dom], w);
		if (!(__atomic_load_n(&pg->seen, __ATOMIC_RELAXED) & (1u << dom)))
			__atomic_fetch_or(&pg->seen, (uint16_t)(1u << dom), __ATOMIC_RELAXED);
	}
	add_sat(access == DSM_ACCESS_WRITE ? &pg->writes : &pg->reads, w);
}

static inline uint32_t now_us(void)
{
	return (uint32_t)(dsm_now_ns() / 1000);
}

/* When this thread's last sampling fault ended (µs).  initial-exec: used
 * in signal context, where the general-dynamic model may allocate. */
static __thread uint32_t fault_end __attribute__((tls_model("initial-exec")));

/*
 * The uses a sampling fault at time t (µs) on a page closed at closed
 * stands for: see the top of the file.  The time the page went unused is
 * counted from its close, or from the end of this thread's last sampling
 * fault if that came later: a thread that meets many closed pages reaches
 * the later ones late because of its faults on the earlier ones (each
 * costs it a signal and protection changes: 100-400 µs under an
 * emulator), not because it uses them less.  This errs high for a page
 * that a thread touches right after another closed one but seldom
 * otherwise; the cap (min_accesses / 4) keeps such a page from moving on
 * fewer than 4 samples, and the 3/4 rule from moving while its own domain
 * uses it too.  Signal context (the vDSO clock is async-signal-safe).
 */
static uint32_t sample_weight(const struct dsm_numa *n, uint32_t closed, uint32_t t)
{
	uint32_t from = (int32_t)(fault_end - closed) > 0 ? fault_end : closed;
	uint32_t d = (int32_t)(t - from) > 0 ? t - from : 0;
	uint64_t w = n->period_ns / 1000 / (2ull * (d ? d : 1));

	return w < 1 ? 1 : w > n->max_weight ? n->max_weight : (uint32_t)w;
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
 * closed the page itself, the fault is the protocol's: fall through.
 */
bool dsm_numa_migrate_fault(struct dsm_numa *n, size_t page, enum dsm_access access, int dom)
{
	struct dsm_rt *rt = n->rt;
	struct dsm_numa_page *pg = &n->pages[page];
	uint8_t prot = DSM_PROT_NONE;

	set_bit(n->touched, page);
	if (__atomic_load_n(&pg->sampled, __ATOMIC_ACQUIRE)) {
		uint32_t t = now_us(), closed = 0;

		dsm_dir_lock(&rt->dir, page);
		if (pg->sampled) {
			closed = pg->closed_us;
			__atomic_store_n(&pg->sampled, 0, __ATOMIC_RELAXED);
			prot = rt->dir.local[page].prot;
			if (prot != DSM_PROT_NONE)
				dsm_fault_protect(&rt->fault, page, 1, (enum dsm_prot)prot);
		}
		dsm_dir_unlock(&rt->dir, page);
		if (prot != DSM_PROT_NONE) {
			/* A store to a page the protocol keeps read-only restarts
			 * and faults again for the protocol (counted once more
			 * then); the sample's estimate is counted now. */
			count_hit(pg, dom, access, sample_weight(n, closed, t));
			fault_end = now_us();
			return true;
		}
	}
	count_hit(pg, dom, access, 1);
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

int dsm_numa_target(const struct dsm_numa *n, const struct dsm_numa_page *pg, int loc)
{
	int best;
	uint32_t total = total_hits(pg, n->topo.ndomains, &best);

	if (best < 0 || total < n->min_accesses)
		return -1;		/* cannot have paid for a move yet */
	/* Recency: DSM_NUMA_STREAK looks in a row saw one other domain use
	 * it, and not the one holding it: that domain took it over, however
	 * long its old domain used it before. */
	if (pg->streak >= DSM_NUMA_STREAK && pg->streak_dom1 &&
	    __atomic_load_n(&pg->hits[pg->streak_dom1 - 1], __ATOMIC_RELAXED) >= n->min_accesses)
		best = pg->streak_dom1 - 1;
	/* Dominance: otherwise a page several domains share stays put. */
	else if ((uint64_t)__atomic_load_n(&pg->hits[best], __ATOMIC_RELAXED) * 4 <
		 (uint64_t)total * 3)
		return -1;
	if (best == loc)
		return -1;
	/* Cost: the uses from elsewhere must pay for the move. */
	if (loc >= 0 && total - __atomic_load_n(&pg->hits[loc], __ATOMIC_RELAXED) < n->min_accesses)
		return -1;
	return best;
}

/* Decide for one page used since the last look: the domain to migrate it
 * to, or -1 (a replica is placed here and now).  *loc_p: where it is.
 * Scanner thread. */
static int decide(struct dsm_numa *n, size_t page, int *loc_p)
{
	struct dsm_rt *rt = n->rt;
	struct dsm_numa_page *pg = &n->pages[page];
	int nd = n->topo.ndomains, best, loc;
	uint32_t reads, writes;

	if (total_hits(pg, nd, &best) == 0 || best < 0)
		return -1;
	reads = __atomic_load_n(&pg->reads, __ATOMIC_RELAXED);
	writes = __atomic_load_n(&pg->writes, __ATOMIC_RELAXED);

	/* Read-mostly (at most one store in 8 accesses) protocol copy: the
	 * protocol's per-node replica, kept on its readers' domain. */
	if (writes * 8 <= reads && is_replica(rt, page)) {
		if (pg->flags & DSM_NUMA_PG_REPLICA)
			return -1;
		loc = dsm_numa_page_domain(n, page);
		if (loc < 0)
			return -1;
		if (loc != best) {
			unsample(n, page);
			if (dsm_numa_move_page(n, page, best) < 0)
				return -1;
		}
		pg->loc1 = (uint8_t)(best + 1);
		pg->flags |= DSM_NUMA_PG_REPLICA;
		count(&rt->counters.numa_replications);
		dsm_debug("NUMA: page %zu: read-only replica on domain %u", page,
			  n->topo.dom[best].os_index);
		return -1;
	}
	/* Where it was last seen; then, if the evidence says move, where it
	 * is (a syscall): frames stay put unless we move them. */
	if (dsm_numa_target(n, pg, pg->loc1 - 1) < 0)
		return -1;
	loc = dsm_numa_page_domain(n, page);
	if (loc < 0)
		return -1;
	pg->loc1 = (uint8_t)(loc + 1);
	best = dsm_numa_target(n, pg, loc);
	if (best < 0)
		return -1;
	*loc_p = loc;
	return best;
}

/* Bookkeeping of page's migration from domain loc to best, done. */
static void migrated(struct dsm_numa *n, size_t page, int loc, int best)
{
	struct dsm_numa_page *pg = &n->pages[page];
	int best_d;
	uint32_t total = total_hits(pg, n->topo.ndomains, &best_d);

	dsm_debug("NUMA: page %zu: migrated from domain %u to %u (%u of %u uses there)",
		  page, n->topo.dom[loc].os_index, n->topo.dom[best].os_index,
		  __atomic_load_n(&pg->hits[best], __ATOMIC_RELAXED), total);
	pg->loc1 = (uint8_t)(best + 1);
	reset_hits(pg);
	pg->remote_looks = 0;
	pg->streak = 0;
	count(&n->rt->counters.numa_migrations);
	if (n->now_ms - pg->window_start >= freeze_window_ms(n) || pg->moves == 0) {
		pg->window_start = n->now_ms;
		pg->moves = 0;
	}
	pg->moves++;
	if (pg->moves >= DSM_NUMA_FREEZE_MOVES) {
		/* Anti-thrashing: it keeps changing hands; leave it be. */
		pg->flags |= DSM_NUMA_PG_FROZEN;
		pg->frozen_until = n->now_ms + DSM_NUMA_FROZEN_WINDOWS * freeze_window_ms(n);
		count(&n->rt->counters.numa_freezes);
		dsm_debug("NUMA: page %zu: frozen on domain %u after %u migrations", page,
			  n->topo.dom[best].os_index, pg->moves);
	}
}

/* The next touched page at or after page, or npages. */
static size_t next_touched(const struct dsm_numa *n, size_t page)
{
	size_t w = page >> 6;
	uint64_t bits;

	if (page >= n->npages)
		return n->npages;
	bits = __atomic_load_n(&n->touched[w], __ATOMIC_RELAXED) & (~0ull << (page & 63));
	while (!bits) {
		if (++w >= (n->npages + 63) / 64)
			return n->npages;
		bits = __atomic_load_n(&n->touched[w], __ATOMIC_RELAXED);
	}
	page = w * 64 + (size_t)__builtin_ctzll(bits);
	return page < n->npages ? page : n->npages;
}

void dsm_numa_look(const struct dsm_numa *n, struct dsm_numa_page *pg, int loc, uint16_t seen)
{
	if ((seen & ~(1u << loc)) && pg->remote_looks < DSM_NUMA_PROBATION) {
		pg->remote_looks++;
		pg->ilog = 0;
		pg->next_sample = n->now_ms;
	}
	/* A run of looks that saw one other domain and not this one. */
	if (seen == (1u << loc)) {
		pg->streak = 0;
	} else if (!(seen & (1u << loc)) && !(seen & (seen - 1))) {
		int d = __builtin_ctz(seen);

		if (pg->streak_dom1 != d + 1) {
			pg->streak_dom1 = (uint8_t)(d + 1);
			pg->streak = 0;
		}
		if (pg->streak < 255)
			pg->streak++;
	}
}

/* dsm_numa_look() for page, once it is known where it is. */
static void look(struct dsm_numa *n, size_t page, uint16_t seen)
{
	struct dsm_numa_page *pg = &n->pages[page];
	int loc = pg->loc1 - 1;

	if (!seen)
		return;
	if (loc < 0) {
		loc = dsm_numa_page_domain(n, page);
		if (loc < 0)
			return;
		pg->loc1 = (uint8_t)(loc + 1);
	}
	dsm_numa_look(n, pg, loc, seen);
}

void dsm_numa_age(const struct dsm_numa *n, struct dsm_numa_page *pg)
{
	int best;

	if (total_hits(pg, n->topo.ndomains, &best) >= evidence_window(n))
		halve_hits(pg);
}

/*
 * Close pages [first, first + len) of the application's view to sample
 * their next access, one protection change (one TLB shootdown) per
 * stretch of them whose locks were free and that are open.  Scanner
 * thread; holds at most DSM_NUMA_MAX_RUN directory locks (distinct
 * stripes: consecutive pages), taken with trylock, so it never waits
 * while holding one.
 */
static void close_run(struct dsm_numa *n, size_t first, size_t len)
{
	struct dsm_rt *rt = n->rt;
	size_t start = first;

	for (size_t k = first; k <= first + len; k++) {
		if (k < first + len && !dsm_dir_trylock(&rt->dir, k)) {
			if (!n->pages[k].sampled && rt->dir.local[k].prot != DSM_PROT_NONE)
				continue;
			dsm_dir_unlock(&rt->dir, k);
		}
		/* k (busy, closed already, or the end) ends a stretch */
		if (k > start) {
			uint32_t when = now_us();

			for (size_t j = start; j < k; j++) {
				struct dsm_numa_page *pg = &n->pages[j];

				/* Flag first: a thread faulting on the page from now
				 * on must find it (it waits for the lock to read it). */
				__atomic_store_n(&pg->closed_us, when, __ATOMIC_RELAXED);
				__atomic_store_n(&pg->sampled, 1, __ATOMIC_RELEASE);
			}
			dsm_fault_protect(&rt->fault, start, k - start, DSM_PROT_NONE);
			for (size_t j = start; j < k; j++)
				dsm_dir_unlock(&rt->dir, j);
		}
		start = k + 1;
	}
}

/* Pass 1: thaw, age the evidence, look at new uses, decide. */
static void scan_evidence(struct dsm_numa *n)
{
	/* scanner thread only: pages to decide, those to move first */
	static size_t cand[DSM_NUMA_MAX_CANDIDATES];
	static int from[DSM_NUMA_MAX_CANDIDATES], dest[DSM_NUMA_MAX_CANDIDATES];
	static int res[DSM_NUMA_MAX_CANDIDATES];
	size_t ncand = 0, nmove = 0;

	for (size_t page = next_touched(n, 0); page < n->npages; page = next_touched(n, page + 1)) {
		struct dsm_numa_page *pg = &n->pages[page];
		uint16_t seen;
		int best;

		if ((pg->flags & DSM_NUMA_PG_REPLICA) && !is_replica(n->rt, page))
			pg->flags &= (uint8_t)~DSM_NUMA_PG_REPLICA;	/* invalidated */
		if (pg->flags & DSM_NUMA_PG_FROZEN) {
			if ((int32_t)(n->now_ms - pg->frozen_until) < 0)
				continue;
			pg->flags &= (uint8_t)~DSM_NUMA_PG_FROZEN;
			pg->moves = 0;
			pg->remote_looks = 0;
			pg->streak = 0;
			pg->ilog = 0;
			pg->next_sample = n->now_ms;
			reset_hits(pg);
			dsm_debug("NUMA: page %zu: thawed", page);
		}
		seen = __atomic_exchange_n(&pg->seen, 0, __ATOMIC_RELAXED);
		dsm_numa_age(n, pg);
		if (!(pg->flags & DSM_NUMA_PG_REPLICA))
			look(n, page, seen);
		if (seen && ncand < DSM_NUMA_MAX_CANDIDATES &&
		    total_hits(pg, n->topo.ndomains, &best) >= 2)
			cand[ncand++] = page;
	}
	for (size_t i = 0; i < ncand; i++) {
		int loc = -1, to = decide(n, cand[i], &loc);

		if (to < 0)
			continue;
		unsample(n, cand[i]);
		cand[nmove] = cand[i];
		from[nmove] = loc;
		dest[nmove++] = to;
	}
	if (!nmove)
		return;
	dsm_numa_move_pages(n, cand, dest, res, nmove);
	for (size_t i = 0; i < nmove; i++)
		if (res[i] == 0)
			migrated(n, cand[i], from[i], dest[i]);
}

/*
 * Pass 2: close the pages that are due, at most n->sample, from where
 * the last period stopped; each one's next interval doubles (look()
 * resets it).  Frozen pages and replicas are not sampled.
 */
static void scan_sample(struct dsm_numa *n)
{
	size_t run_first = 0, run_len = 0, nsampled = 0, page, from = n->cursor;

	for (int pass = 0; pass < 2; pass++) {
		size_t end = pass ? from : n->npages;

		for (page = next_touched(n, pass ? 0 : from); page < end;
		     page = next_touched(n, page + 1)) {
			struct dsm_numa_page *pg = &n->pages[page];
			uint32_t interval = (uint32_t)(n->period_ns / 1000000) << pg->ilog;

			if ((pg->flags & (DSM_NUMA_PG_FROZEN | DSM_NUMA_PG_REPLICA)) ||
			    (int32_t)(n->now_ms - pg->next_sample) < 0)
				continue;
			if (nsampled >= n->sample) {
				n->cursor = page;
				goto out;
			}
			pg->next_sample = (n->now_ms / interval + 1) * interval;
			if (pg->ilog < DSM_NUMA_MAX_ILOG)
				pg->ilog++;
			if (__atomic_load_n(&pg->sampled, __ATOMIC_RELAXED))
				continue;	/* unused since it was closed */
			nsampled++;
			if (run_len && page == run_first + run_len && run_len < DSM_NUMA_MAX_RUN) {
				run_len++;
				continue;
			}
			if (run_len)
				close_run(n, run_first, run_len);
			run_first = page;
			run_len = 1;
		}
	}
	n->cursor = 0;
out:
	if (run_len)
		close_run(n, run_first, run_len);
}

static void scan(struct dsm_numa *n)
{
	n->epoch++;
	n->now_ms = (uint32_t)(dsm_now_ns() / 1000000);
	scan_evidence(n);
	scan_sample(n);
}

static void *scanner_main(void *arg)
{
	struct dsm_numa *n = arg;
	struct timespec ts = {
		.tv_sec = (time_t)(n->period_ns / 1000000000ull),
		.tv_nsec = (long)(n->period_ns % 1000000000ull),
	};
	sigset_t all;

	/* It inherited the binding of the thread that called dsm_init
	 * (DSM_BIND: application thread 0's domain), and would share that
	 * thread's CPUs only: let it run on any CPU the node may use. */
	if (n->topo.allowed)
		hwloc_set_cpubind(n->topo.topo, n->topo.allowed, HWLOC_CPUBIND_THREAD);
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
