/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * relaxed.c - release and weak consistency: home-based multiple writers.
 *
 * The data path the two relaxed models share (HLRC: Zhou, Iftode and Li,
 * OSDI 1996; the self-invalidation of weak consistency follows ArgoDSM,
 * Kaxiras et al., HPDC 2015):
 *
 *  - The home's copy of a page is the master.  A node that is not the home
 *    fetches a copy on a read or write fault and keeps it until an acquire
 *    says it is stale.  There is no owner and no recall: any number of
 *    nodes may write one page at once.
 *  - The first write to a cached page in an interval makes a twin.  At the
 *    release the page is write-protected again and the bytes that differ
 *    from the twin (diff.h) go to the home, which applies them and
 *    acknowledges; the release completes only when every diff is
 *    acknowledged, so a node that learns of the interval afterwards and
 *    fetches the page from its home gets those bytes.
 *  - The home writes its own pages in place.  Under release consistency
 *    it must know which of them an interval wrote, for the write notices,
 *    but only for pages another node has fetched since its last release
 *    (SHARED): a copy fetched later has the writes already.  So the home
 *    write-protects a page when a node fetches it, and after the release
 *    that publishes its notice lets it be written freely again.
 *  - Release consistency (release.c): an acquire invalidates exactly the
 *    pages named by write notices this node had not seen (interval.c).
 *  - Weak consistency (weak.c): every synchronization point publishes the
 *    node's diffs and drops every cached copy; no notices are kept.
 *
 * A cached copy whose fetch was in flight when it became stale is
 * fetched again when its reply arrives (REFETCH): the home may have
 * answered before the diffs the acquire is about were applied.
 *
 * Homes (DSM_HOMES): with first-touch, the default, a page's home is the
 * first node that touches it, as in ArgoDSM: a node that initializes its
 * part of the data becomes its home and then writes it in place, with no
 * twins or diffs, where a fixed map would have half of every node's
 * writes travel as diffs.  The fixed map (dsm_dir_home) still names each
 * page's manager, which hands out the home: the first request claims it,
 * and a node learns a page's home once, when it first faults on it.
 * With DSM_HOMES=static the fixed map is the home.
 *
 * Locks, in order: iv.op, iv.lock (interval.h), a page's stripe lock, then
 * rx->lock (the written list and the cache set).  The fault path runs in
 * signal context: it takes page and rx locks, never allocates.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/base/compiler.h"
#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/ft/ft.h"
#include "runtime/protocol/diff.h"
#include "runtime/protocol/relaxed/relaxed.h"
#include "runtime/protocol/sweep.h"

/* dsm_page_local.flags bits */
#define RX_TWIN		1u	/* a twin holds the page as of the interval's first write */
#define RX_DIRTY	2u	/* on the written list of the current interval */
#define RX_REFETCH	4u	/* the fetch in flight may bring stale data: ask again */
#define RX_HOMEQ	8u	/* the page's manager was asked for its home */
#define RX_WRITTEN	16u	/* at the home: written at least once (else zero everywhere) */
#define RX_SHARED	32u	/* at the home: fetched by a node since the last release */

/* How many remote read faults far_evidence remembers. */
#define RECENT_FAULTS 8

struct rx_batch {
	char *buf;		/* {u32 page, u32 len, diff} entries for one home */
	size_t len;
};

struct relaxed {
	bool weak;
	bool first_touch;		/* DSM_HOMES=first-touch */
	size_t ps;			/* page size */
	char *twins;			/* twin slots, ps bytes each (reserved; committed as used) */
	uint32_t *twin_of;		/* per page: its twin's slot + 1, or 0 */
	uint32_t *free_slots;		/* slots given back, warm: taken first */
	uint32_t nfree;			/* under lock, as the two below */
	uint32_t slots_made;		/* slots ever used: the next new one */
	uint32_t *written[2];		/* pages written in the interval; the other list is
					 * the last release's, handed to interval.c */
	int cur;
	size_t nwritten;
	uint32_t *cached;		/* non-home pages with a copy or a fetch in flight */
	uint32_t *cache_pos;		/* per page: its index in cached + 1, or 0 */
	size_t ncached;
	pthread_mutex_t lock;		/* written, cached, cache_pos, twin slots */
	struct rx_batch *batch;		/* per home, filled at a release (iv.op held) */
	char *scratch;			/* one encoded diff (iv.op held) */
	size_t max_batch;
	char *gather;			/* a strided run's pages, copied for one reply (service thread) */
	uint64_t *edges;		/* bit per page: an allocation begins (or ends before) it */
	uint16_t *fetched_in;		/* per page: the stamp of the epoch its last copy
					 * arrived in (sweep.h; atomic: read as hints) */
	uint32_t epoch;			/* acquires so far (sweep evidence is recent, see there) */
	/* The last remote read faults' pages and the strides of the runs
	 * they fetched (far_evidence): hints, written without locks. */
	size_t recent_page[RECENT_FAULTS];
	size_t recent_stride[RECENT_FAULTS];
	uint32_t recent_next;
	uint32_t acks_pending;		/* DIFFS messages not yet acknowledged; futex word */
	uint32_t checks_pending;	/* replies whose pages are not yet closed (answer_read);
					 * futex word */
};

/* This protocol's own state: one runtime per process, so one of these. */
static struct relaxed *dsm_rx_state;

static struct relaxed *rx_of(struct dsm_rt *rt)
{
	(void)rt;
	return dsm_rx_state;
}

/* Virtual memory that is committed only where touched. */
static void *reserve(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The home of a page this node has a copy of or a request for, or
 * manages (known here), or -1 if this node does not know it yet.  Page
 * lock held (or, for a hint only, not: the loads are atomic). */
static int known_home_locked(struct dsm_rt *rt, size_t page)
{
	int home;

	if (!rx_of(rt)->first_touch)
		return dsm_dir_home(&rt->dir, page);
	home = __atomic_load_n(&rt->dir.local[page].home1, __ATOMIC_RELAXED) - 1;
	if (home < 0 && dsm_dir_home(&rt->dir, page) == rt->self)
		home = __atomic_load_n(&dsm_dir_entry_locked(&rt->dir, page)->ft_home1,
				       __ATOMIC_RELAXED) - 1;
	return home;
}

static void set_prot_locked(struct dsm_rt *rt, size_t page, enum dsm_prot prot)
{
	struct dsm_page_local *pl = &rt->dir.local[page];

	if (pl->prot != prot) {
		dsm_fault_protect(&rt->fault, page, 1, prot);
		/* atomic: the sweep hints read it without the page lock */
		__atomic_store_n(&pl->prot, (uint8_t)prot, __ATOMIC_RELAXED);
	}
}

/* Page lock held (rx->lock is taken inside). */
static void add_written_locked(struct relaxed *rx, struct dsm_page_local *pl, size_t page)
{
	if (pl->flags & RX_DIRTY)
		return;
	pl->flags |= RX_DIRTY;
	pthread_mutex_lock(&rx->lock);
	rx->written[rx->cur][rx->nwritten++] = (uint32_t)page;
	pthread_mutex_unlock(&rx->lock);
}

static void cache_add_locked(struct relaxed *rx, size_t page)
{
	pthread_mutex_lock(&rx->lock);
	if (!rx->cache_pos[page]) {
		rx->cached[rx->ncached++] = (uint32_t)page;
		rx->cache_pos[page] = (uint32_t)rx->ncached;
	}
	pthread_mutex_unlock(&rx->lock);
}

static void cache_remove_locked(struct relaxed *rx, size_t page)
{
	uint32_t pos, last;

	pthread_mutex_lock(&rx->lock);
	pos = rx->cache_pos[page];
	if (pos) {
		last = rx->cached[--rx->ncached];
		rx->cached[pos - 1] = last;
		rx->cache_pos[last] = pos;
		rx->cache_pos[page] = 0;
	}
	pthread_mutex_unlock(&rx->lock);
}

/*
 * A twin for page (fault path).  Slots are recycled, newest first: a slot
 * in use before has its memory committed, where a fresh one costs the
 * kernel a page fault and a page of zeroes inside the write fault (twin
 * of page p at p's own offset did, for every page twinned the first time:
 * 43 us against 21 for a warm one, 2 nodes on 2 CPUs).  Page lock held.
 */
static char *twin_take_locked(struct relaxed *rx, size_t page)
{
	uint32_t slot;

	pthread_mutex_lock(&rx->lock);
	slot = rx->nfree ? rx->free_slots[--rx->nfree] : rx->slots_made++;
	pthread_mutex_unlock(&rx->lock);
	rx->twin_of[page] = slot + 1;
	return rx->twins + (size_t)slot * rx->ps;
}

static char *twin_of_locked(const struct relaxed *rx, size_t page)
{
	return rx->twins + (size_t)(rx->twin_of[page] - 1) * rx->ps;
}

static void twin_give_back_locked(struct relaxed *rx, size_t page)
{
	pthread_mutex_lock(&rx->lock);
	rx->free_slots[rx->nfree++] = rx->twin_of[page] - 1;
	pthread_mutex_unlock(&rx->lock);
	rx->twin_of[page] = 0;
}

static void send_diffs(struct dsm_rt *rt, int home, const void *buf, size_t len)
{
	struct relaxed *rx = rx_of(rt);

	__atomic_add_fetch(&rx->acks_pending, 1, __ATOMIC_ACQ_REL);
	dsm_rt_send(rt, home, DSM_MSG_DIFFS, 0, 0, 0, buf, len);
}

/*
 * Encode page's diff against its twin and drop the twin.  The caller has
 * write-protected the page (or taken it away), so the bytes are final.
 * Returns the length in rx->scratch + 8 (after the entry header), 0 if
 * nothing changed.  Page lock and iv.op held.
 */
static size_t make_diff_locked(struct dsm_rt *rt, size_t page)
{
	struct relaxed *rx = rx_of(rt);
	struct dsm_page_local *pl = &rt->dir.local[page];
	uint32_t hdr[2];
	size_t len;

	pl->flags &= ~RX_TWIN;
	len = dsm_diff_create(dsm_heap_rt_page(&rt->heap, page), twin_of_locked(rx, page),
			      rx->ps, rx->scratch + sizeof(hdr));
	twin_give_back_locked(rx, page);
	if (!len)
		return 0;
	hdr[0] = (uint32_t)page;
	hdr[1] = (uint32_t)len;
	memcpy(rx->scratch, hdr, sizeof(hdr));
	dsm_count(rt->counters.diffs_created, 1);
	dsm_count(rt->counters.diff_bytes, len);
	return len + sizeof(hdr);
}

/* Add the entry in rx->scratch to home's batch, sending the batch first
 * if it has no room.  iv.op held. */
static void batch_add(struct dsm_rt *rt, int home, size_t len)
{
	struct relaxed *rx = rx_of(rt);
	struct rx_batch *b = &rx->batch[home];

	if (b->len + len > rx->max_batch) {
		send_diffs(rt, home, b->buf, b->len);
		b->len = 0;
	}
	memcpy(b->buf + b->len, rx->scratch, len);
	b->len += len;
}

/*
 * Take a cached copy away (an acquire found it stale, or weak consistency
 * drops everything).  Its unpublished writes go to the home first, on the
 * same channel as the refetch that will follow, so the home applies them
 * before it answers; the page stays on the written list for its notice.
 * A fetch in flight is asked again when its reply comes.  Page lock and
 * iv.op held.
 */
static void invalidate_locked(struct dsm_rt *rt, size_t page, int home)
{
	struct relaxed *rx = rx_of(rt);
	struct dsm_page_local *pl = &rt->dir.local[page];
	size_t len;

	if (pl->prot == DSM_PROT_NONE) {
		if (pl->want)
			pl->flags |= RX_REFETCH;
		return;
	}
	set_prot_locked(rt, page, DSM_PROT_NONE);
	if ((pl->flags & RX_TWIN) && (len = make_diff_locked(rt, page)))
		send_diffs(rt, home, rx->scratch, len);
	dsm_count(rt->counters.invalidations, 1);
	cache_remove_locked(rx, page);
}

/* Take away this node's copy of page, if it has one.  iv.op held. */
static void invalidate_page(struct dsm_rt *rt, size_t page)
{
	int home;

	dsm_dir_lock(&rt->dir, page);
	home = known_home_locked(rt, page);
	/* The master copy has every published write; a page never touched
	 * here has no copy to take away. */
	if (home >= 0 && home != rt->self)
		invalidate_locked(rt, page, home);
	dsm_dir_unlock(&rt->dir, page);
}

/* Every cached copy goes.  iv.op held. */
void dsm_rx_drop_all(struct dsm_rt *rt)
{
	struct relaxed *rx = rx_of(rt);
	size_t i, page;

	pthread_mutex_lock(&rx->lock);
	i = rx->ncached;
	pthread_mutex_unlock(&rx->lock);
	/*
	 * From the end: removing entry i moves the last entry into i, and
	 * the entries below i stay where they are.  Pages the fault path adds
	 * meanwhile were fetched after this acquire began and may stay.
	 */
	while (i-- > 0) {
		pthread_mutex_lock(&rx->lock);
		page = i < rx->ncached ? rx->cached[i] : SIZE_MAX;
		pthread_mutex_unlock(&rx->lock);
		if (page == SIZE_MAX)
			continue;
		invalidate_page(rt, page);
	}
}

/*
 * The stride of a sweep: a loop over a matrix's columns, an FFT's
 * butterflies or a radix sort's buckets touches every s-th page, not
 * every page.  For each stride s up to STRIDE_MAX whose next page
 * (page + s) ahead() says is still to come, count the pages page - s,
 * page - 2s, ... that like() says the sweep has done, at most cap; the
 * longest such row wins (the shortest stride among equals).  Returns its
 * length (0: no evidence of a sweep) and its stride in *stride.  Reads
 * other pages' state without their locks: only a hint.
 */
#define STRIDE_MAX 16
#define STRIDE_FAR 1024		/* the longest stride of a fetch (far_evidence) */
static size_t sweep_evidence(struct dsm_rt *rt, size_t page, size_t cap, dsm_sweep_fn like,
			     dsm_sweep_fn ahead, int arg, size_t *stride)
{
	size_t best = 0;

	*stride = 1;
	for (size_t s = 1; s <= STRIDE_MAX && best < cap; s++) {
		size_t k = dsm_sweep_row(rt, rt->dir.npages, page, s, cap, like, ahead, arg);

		if (k > best) {
			best = k;
			*stride = s;
		}
	}
	return best;
}

/*
 * Claim-ahead (first-touch homes).  A node that initializes its data
 * touches page after page that nobody has touched: each first touch would
 * ask the page's manager for its home, a round trip per page.  When the k
 * pages just before this one are homed here and the next one has no home
 * yet (sweep_evidence at stride 1), the request also claims the next k
 * pages (at most CLAIM_MAX), as the sweep will.  A claim is a guess that
 * takes a page from whoever would have touched it first, so it is made
 * only on strong evidence:
 *  - a contiguous sweep of at least CLAIM_MIN pages: a node that fills its
 *    own partition of an array (fft, radix, jacobi), not one that fills
 *    every s-th block of a 2-D scatter (lu), whose rows end where another
 *    node's blocks begin (claims at strides gave lu's blocks wrong homes
 *    and four times the bytes);
 *  - never across the edge of an allocation this node knows
 *    (dsm_rx_allocated): only in the collective region, whose blocks every
 *    node allocates, and in this node's own arena; another node's block
 *    keeps pure first touch;
 *  - never a page that has a home already (the manager skips it), so in a
 *    parallel initialization the neighbour's partition, touched at its
 *    start long before this sweep reaches it, stays the neighbour's.
 */
#define CLAIM_MAX 64
#define CLAIM_MIN 8

static bool homed_here(struct dsm_rt *rt, size_t q, int self)
{
	return known_home_locked(rt, q) == self;
}

static bool homed_nowhere(struct dsm_rt *rt, size_t q, int self)
{
	(void)self;
	return known_home_locked(rt, q) < 0;
}

static bool edge_at(const struct relaxed *rx, size_t q)
{
	return __atomic_load_n(&rx->edges[q / 64], __ATOMIC_RELAXED) & (1ull << (q % 64));
}

void dsm_rx_allocated(struct dsm_rt *rt, uintptr_t addr, size_t size)
{
	struct relaxed *rx = rx_of(rt);
	size_t first = dsm_heap_page_of(&rt->heap, (void *)addr);
	size_t end = dsm_heap_page_of(&rt->heap, (char *)addr + size - 1) + 1;

	__atomic_fetch_or(&rx->edges[first / 64], 1ull << (first % 64), __ATOMIC_RELAXED);
	if (end < rt->dir.npages)
		__atomic_fetch_or(&rx->edges[end / 64], 1ull << (end % 64), __ATOMIC_RELAXED);
}

/* The region of the heap page is in, as [*lo, *hi) pages, if claims may
 * be made there (the collective region, or this node's arena). */
static bool claim_region(struct dsm_rt *rt, size_t page, size_t *lo, size_t *hi)
{
	const struct dsm_alloc *al = &rt->alloc;
	size_t coll_end = dsm_heap_page_of(&rt->heap, (void *)al->arenas_base);
	size_t mine = dsm_heap_page_of(&rt->heap,
				       (void *)(al->arenas_base + (uintptr_t)rt->self * al->arena_size));

	if (page < coll_end) {
		*lo = 0;
		*hi = coll_end;
	} else {
		*lo = mine;
		*hi = mine + al->arena_size / rt->heap.page_size;
	}
	return page >= *lo && page < *hi;
}

/* How many of the k pages after page at stride this node may claim. */
static size_t claim_ahead(struct dsm_rt *rt, size_t page, size_t stride, size_t k)
{
	struct relaxed *rx = rx_of(rt);
	size_t lo, hi, n = 0;

	if (!k || !claim_region(rt, page, &lo, &hi))
		return 0;
	for (size_t q = page + 1; n < k && q < hi; q++) {
		if (edge_at(rx, q))
			break;
		if ((q - page) % stride == 0)
			n++;
	}
	return n;
}

/*
 * The home of a page, asking its manager the first time (claimant: the
 * node that becomes home if nobody has touched the page yet).  Page lock
 * held; waits (dropping it) for the manager's answer.
 */
static int home_locked(struct dsm_rt *rt, size_t page, int claimant)
{
	struct relaxed *rx = rx_of(rt);
	struct dsm_page_local *pl = &rt->dir.local[page];
	int mgr = dsm_dir_home(&rt->dir, page);
	uint32_t seq;

	if (!rx->first_touch)
		return mgr;
	while (!pl->home1) {
		if (mgr == rt->self) {
			struct dsm_dir_entry *e = dsm_dir_entry_locked(&rt->dir, page);

			if (!e->ft_home1)
				__atomic_store_n(&e->ft_home1, (uint16_t)(claimant + 1),
						 __ATOMIC_RELAXED);
			__atomic_store_n(&pl->home1, e->ft_home1, __ATOMIC_RELAXED);
			break;
		}
		seq = pl->seq;
		if (!(pl->flags & RX_HOMEQ)) {
			size_t k = 0, stride = 1;

			if (claimant == rt->self) {
				k = sweep_evidence(rt, page, CLAIM_MAX, homed_here, homed_nowhere,
						   rt->self, &stride);
				k = k >= CLAIM_MIN && stride == 1 ? claim_ahead(rt, page, 1, k) : 0;
				stride = 1;
			}
			pl->flags |= RX_HOMEQ;
			dsm_rt_send(rt, mgr, DSM_MSG_HOME_REQ, (uint32_t)claimant, page,
				    (uint64_t)stride << 32 | k, NULL, 0);
		}
		if (pl->seq == seq) {
			dsm_dir_unlock(&rt->dir, page);
			dsm_rt_wait_reply(rt, mgr, &pl->seq, seq, DSM_WAITER_FAULT);
			dsm_dir_lock(&rt->dir, page);
		}
	}
	return pl->home1 - 1;
}

/* dsm_home_node(): a page nobody touched yet is pinned to its manager,
 * so that the answer stays true.  Application thread. */
int dsm_rx_home_of(struct dsm_rt *rt, size_t page)
{
	int home;

	dsm_dir_lock(&rt->dir, page);
	home = home_locked(rt, page, dsm_dir_home(&rt->dir, page));
	dsm_dir_unlock(&rt->dir, page);
	return home;
}

/*
 * Ask page's home for a copy of the npages pages from page on (a run,
 * plan_run_locked).  Under weak consistency the home keeps no record of
 * copies (every synchronization point drops them all), so the copies are
 * read one-sided where the transport can (one RDMA READ; the home's CPU
 * takes no part), and the reply is the same READ_REPLY.  That is safe only
 * while the home's memory holds every write the fetch must see: other
 * nodes' writes are there (their diffs were acknowledged before the
 * release that this node synchronized with), and so are this node's once
 * no diff of ours is unacknowledged.  A diff sent when a dirty copy was
 * dropped (invalidate_locked) is not waited for: it relies on reaching the
 * home ahead of the refetch on the same channel, which a READ would
 * overtake (t_counter lost a write that way, one run in ~20 under weak
 * over rdma), so with any diff in flight the home is asked.  Under release
 * the home must see every fetch (it starts watching the pages for write
 * notices, RX_SHARED), so it is asked.  Page lock held; any thread, signal
 * context included.
 */
static void fetch_locked(struct dsm_rt *rt, int home, size_t page, size_t npages, size_t stride)
{
	struct relaxed *rx = rx_of(rt);

	/* One RDMA READ covers a contiguous run only. */
	if (rx->weak && stride == 1 && !__atomic_load_n(&rx->acks_pending, __ATOMIC_ACQUIRE) &&
	    dsm_rt_read_page(rt, home, DSM_MSG_READ_REPLY, (uint32_t)npages, page, npages) == 0)
		return;
	dsm_rt_send(rt, home, DSM_MSG_READ_REQ, (uint32_t)npages, page, stride, NULL, 0);
}

/* The longest run one fetch asks for: RUN_MAX pages, and one message. */
#define RUN_MAX 8
#define EVIDENCE_EPOCHS 1	/* how many acquires old sweep evidence may be */
#define HISTORY_EPOCHS 2	/* how many acquires ago a lost copy still counts as read lately */
static size_t run_max(const struct relaxed *rx)
{
	size_t n = rx->max_batch / rx->ps;

	return n < RUN_MAX ? (n ? n : 1) : RUN_MAX;
}

/*
 * A node that reads its way through a home's pages fetches them in runs.
 * The evidence is the pages just before this one at some stride s
 * (sweep_evidence): k of them in a row cached here with the same home,
 * while page + s is still missing.  Then the next pages at that stride
 * that are not here either, have that home and are wanted by nobody yet
 * join this fetch, up to k pages in all (at most run_max()): a sweep's
 * runs grow with it (1, 1, 2, 4, 8, 8, ...) and a short one (a
 * neighbour's boundary row) fetches next to nothing it will not read.
 * The joining pages are marked wanted, so no other thread asks for them
 * again, and are delivered by the same reply.  Their locks are only tried
 * (page's lock is held), so a busy page ends the run.  Returns how many
 * pages, page included.  Page lock held; fault path.
 *
 * Only copies that arrived in this epoch or the one before (an epoch
 * ends at each acquire) are evidence: copies kept from earlier phases
 * line up at some stride by chance.  lu reads column K of the blocks in
 * step K; the first pages of blocks (I, K-2), (I, K-4) still cached from
 * earlier steps made block (I, K+2) look next in a stride-4 sweep, and
 * its owner, who writes it in steps K and K+1, then sent a write notice
 * for each such copy (2,846 on 2 nodes) and the reader fetched it again
 * when it needed it (2 nodes: 4.5 -> 17 MB, 0.28 -> 0.42 s).
 */
/* What fetched_in[q] holds once a copy of q arrived now. */
static uint16_t stamp_now(const struct relaxed *rx)
{
	return dsm_sweep_stamp(__atomic_load_n(&rx->epoch, __ATOMIC_RELAXED));
}

/* Epochs since q's last copy arrived, or UINT_MAX if none ever did.  A
 * hint: no lock. */
static unsigned copy_age(const struct relaxed *rx, size_t q)
{
	return dsm_sweep_age(__atomic_load_n(&rx->fetched_in[q], __ATOMIC_RELAXED),
			     __atomic_load_n(&rx->epoch, __ATOMIC_RELAXED));
}

static bool cached_with_home(struct dsm_rt *rt, size_t q, int home)
{
	return copy_age(rx_of(rt), q) <= EVIDENCE_EPOCHS && known_home_locked(rt, q) == home &&
	       __atomic_load_n(&rt->dir.local[q].prot, __ATOMIC_RELAXED) != DSM_PROT_NONE;
}

static bool missing_with_home(struct dsm_rt *rt, size_t q, int home)
{
	return known_home_locked(rt, q) == home &&
	       __atomic_load_n(&rt->dir.local[q].prot, __ATOMIC_RELAXED) == DSM_PROT_NONE &&
	       !__atomic_load_n(&rt->dir.local[q].want, __ATOMIC_RELAXED);
}

/*
 * History: a copy this node had in one of the last HISTORY_EPOCHS epochs and lost
 * since (an acquire found it stale; weak consistency drops every copy) was
 * read lately, and an iterative program reads it again after the
 * synchronization: jacobi's and sor's boundary rows, every iteration.  So
 * when the page faulting now is such a page, the pages after it that are
 * too join its fetch, up to run_max(): the rows come back in one message
 * instead of a sweep's 1, 1, 2, ... .  A hint: no locks.
 */
static bool had_lately(struct dsm_rt *rt, size_t q)
{
	unsigned age = copy_age(rx_of(rt), q);

	return age >= 1 && age <= HISTORY_EPOCHS;
}

static bool lost_lately(struct dsm_rt *rt, size_t q, int home)
{
	return had_lately(rt, q) && missing_with_home(rt, q, home);
}

/* The faulting page is wanted already: only its past is asked. */
static size_t history_run(struct dsm_rt *rt, size_t page, size_t cap, int home)
{
	struct relaxed *rx = rx_of(rt);
	uint16_t when = __atomic_load_n(&rx->fetched_in[page], __ATOMIC_RELAXED);
	size_t n = 1;

	if (!had_lately(rt, page))
		return 0;
	/* Only pages that came in the same epoch as page: read with it. */
	while (n < cap && page + n < rt->dir.npages && lost_lately(rt, page + n, home) &&
	       __atomic_load_n(&rx->fetched_in[page + n], __ATOMIC_RELAXED) == when)
		n++;
	return n;
}

/*
 * A sweep at a stride beyond STRIDE_MAX: down a column of blocks whose
 * rows are longer than that.  lu reads column K of its 8 KiB blocks in
 * step K, 64 pages apart on 2 nodes, two pages of each block: it fetched
 * them one page per fault (1,054 faults, slower on 2 nodes than on 1).
 * Trying every stride up to STRIDE_FAR at every fault would cost more than
 * it saves, so the strides tried are those from the last remote read
 * faults' pages to this one, and those of the runs they fetched (a run
 * fetched in one fault leaves a single fault behind it).  The evidence
 * is sweep_evidence's; the shortest stride wins among equals.
 */
static size_t far_evidence(struct dsm_rt *rt, size_t page, size_t cap, int home, size_t *stride)
{
	struct relaxed *rx = rx_of(rt);
	size_t cand[2 * RECENT_FAULTS], ncand = 0, best = 0;

	for (int i = 0; i < RECENT_FAULTS; i++) {
		size_t q = __atomic_load_n(&rx->recent_page[i], __ATOMIC_RELAXED);
		size_t two[2] = { q < page ? page - q : 0,
				  __atomic_load_n(&rx->recent_stride[i], __ATOMIC_RELAXED) };

		for (int j = 0; j < 2; j++) {
			size_t s = two[j], c = 0;

			while (c < ncand && cand[c] != s)
				c++;
			if (s > STRIDE_MAX && s <= STRIDE_FAR && c == ncand)
				cand[ncand++] = s;
		}
	}
	for (size_t c = 0; c < ncand; c++) {
		size_t k = dsm_sweep_row(rt, rt->dir.npages, page, cand[c], cap, cached_with_home,
					 missing_with_home, home);

		if (k > best || (k && k == best && cand[c] < *stride)) {
			best = k;
			*stride = cand[c];
		}
	}
	return best;
}

static size_t plan_run_locked(struct dsm_rt *rt, int home, size_t page, size_t *stride)
{
	struct relaxed *rx = rx_of(rt);
	size_t n = 1, max, again, far, far_stride = 0;
	uint32_t slot;

	max = sweep_evidence(rt, page, run_max(rx), cached_with_home, missing_with_home, home,
			     stride);
	far = far_evidence(rt, page, run_max(rx), home, &far_stride);
	if (far > max) {
		max = far;
		*stride = far_stride;
	}
	again = history_run(rt, page, run_max(rx), home);
	if (again > max) {
		max = again;
		*stride = 1;
	}
	while (n < max && page + n * *stride < rt->dir.npages) {
		size_t q = page + n * *stride;
		struct dsm_page_local *pq = &rt->dir.local[q];
		bool join;

		if (dsm_dir_trylock(&rt->dir, q))
			break;
		join = pq->prot == DSM_PROT_NONE && !pq->want &&
		       !(pq->flags & (RX_TWIN | RX_DIRTY | RX_REFETCH)) &&
		       known_home_locked(rt, q) == home;
		if (join) {
			__atomic_store_n(&pq->want, DSM_PROT_READ, __ATOMIC_RELAXED);
			cache_add_locked(rx, q);
		}
		dsm_dir_unlock(&rt->dir, q);
		if (!join)
			break;
		n++;
	}
	slot = __atomic_fetch_add(&rx->recent_next, 1, __ATOMIC_RELAXED) % RECENT_FAULTS;
	__atomic_store_n(&rx->recent_page[slot], page, __ATOMIC_RELAXED);
	__atomic_store_n(&rx->recent_stride[slot], n > 1 ? *stride : 0, __ATOMIC_RELAXED);
	return n;
}

/*
 * The fault path.  Application thread, signal context: no malloc, no
 * stdio.  A home page needs no message; elsewhere a missing copy is
 * fetched once per node however many threads fault on it, and a write to
 * a copy makes its twin.
 */
int dsm_rx_fault(struct dsm_rt *rt, size_t page, enum dsm_access access)
{
	struct relaxed *rx = rx_of(rt);
	struct dsm_page_local *pl = &rt->dir.local[page];
	uint32_t seq;
	int home;

	dsm_dir_lock(&rt->dir, page);
	home = home_locked(rt, page, rt->self);
	if (access == DSM_ACCESS_UNKNOWN)	/* a fault on a readable page is a write */
		access = pl->prot >= DSM_PROT_READ ? DSM_ACCESS_WRITE : DSM_ACCESS_READ;
	if (access == DSM_ACCESS_WRITE)
		dsm_count(rt->counters.write_faults, 1);
	else
		dsm_count(rt->counters.read_faults, 1);

	if (home == rt->self) {
		if (access == DSM_ACCESS_WRITE) {
			/* The home's memory is the master: written in place,
			 * and no longer zero for fetches. */
			pl->flags |= RX_WRITTEN;
			if (pl->flags & RX_SHARED)
				add_written_locked(rx, pl, page);
			set_prot_locked(rt, page, DSM_PROT_RW);
		} else if (pl->prot == DSM_PROT_NONE) {
			set_prot_locked(rt, page, DSM_PROT_READ);
		}
		dsm_dir_unlock(&rt->dir, page);
		return 0;
	}

	while (pl->prot == DSM_PROT_NONE) {
		size_t n, stride;

		seq = pl->seq;
		if (!pl->want) {
			__atomic_store_n(&pl->want, DSM_PROT_READ, __ATOMIC_RELAXED);
			cache_add_locked(rx, page);
			n = plan_run_locked(rt, home, page, &stride);
			fetch_locked(rt, home, page, n, stride);
		}
		/* The reply comes from home: read it ourselves (service.c). */
		if (pl->seq == seq) {
			dsm_dir_unlock(&rt->dir, page);
			dsm_rt_wait_reply(rt, home, &pl->seq, seq, DSM_WAITER_FAULT);
			dsm_dir_lock(&rt->dir, page);
		}
	}
	if (access == DSM_ACCESS_WRITE && pl->prot == DSM_PROT_READ) {
		memcpy(twin_take_locked(rx, page), dsm_heap_rt_page(&rt->heap, page), rx->ps);
		pl->flags |= RX_TWIN;
		dsm_count(rt->counters.twins, 1);
		add_written_locked(rx, pl, page);
		set_prot_locked(rt, page, DSM_PROT_RW);
	}
	dsm_dir_unlock(&rt->dir, page);
	return 0;
}

/*
 * Publish: write-protect every page written in the interval, send the
 * diffs of the cached ones to their homes in one batch per home, wait for
 * every acknowledgement.  iv.op held.
 */
void dsm_rx_publish(struct dsm_rt *rt, const uint32_t **written, size_t *count)
{
	struct relaxed *rx = rx_of(rt);
	uint32_t *list;
	size_t n, i, len;
	uint32_t pending;

	/* A home's page sent before it was closed (close_late): a write to it
	 * before this release must be on the list first.  The fence orders
	 * this thread's writes before the look at checks_pending, as
	 * READ_REQ's count is ordered before its snapshot. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	while ((pending = __atomic_load_n(&rx->checks_pending, __ATOMIC_ACQUIRE)) != 0)
		dsm_wait_change(&rx->checks_pending, pending, rt->spin_ns);
	pthread_mutex_lock(&rx->lock);
	list = rx->written[rx->cur];
	n = rx->nwritten;
	rx->cur ^= 1;
	rx->nwritten = 0;
	pthread_mutex_unlock(&rx->lock);

	for (i = 0; i < n; i++) {
		size_t page = list[i];
		struct dsm_page_local *pl = &rt->dir.local[page];
		int home;

		dsm_dir_lock(&rt->dir, page);
		home = known_home_locked(rt, page);	/* known: it was written here */
		pl->flags &= ~RX_DIRTY;
		if (home == rt->self) {
			/* This release's notice covers every copy fetched so
			 * far: writable without faults until the next fetch. */
			pl->flags &= ~RX_SHARED;
		} else if (pl->prot == DSM_PROT_RW) {
			set_prot_locked(rt, page, DSM_PROT_READ);
			if ((pl->flags & RX_TWIN) && (len = make_diff_locked(rt, page)))
				batch_add(rt, home, len);
		}
		dsm_dir_unlock(&rt->dir, page);
	}
	for (int node = 0; node < rt->nnodes; node++) {
		if (rx->batch[node].len) {
			send_diffs(rt, node, rx->batch[node].buf, rx->batch[node].len);
			rx->batch[node].len = 0;
		}
	}
	while ((pending = __atomic_load_n(&rx->acks_pending, __ATOMIC_ACQUIRE)) != 0)
		dsm_wait_change(&rx->acks_pending, pending, rt->spin_ns);
	*written = list;
	*count = n;
}

/* An acquire begins: copies fetched before it are one epoch older. */
void dsm_rx_next_epoch(struct dsm_rt *rt)
{
	__atomic_add_fetch(&rx_of(rt)->epoch, 1, __ATOMIC_RELAXED);
}

void dsm_rx_invalidate(struct dsm_rt *rt, const struct dsm_notice *unseen, size_t n)
{
	for (size_t i = 0; i < n; i++)
		invalidate_page(rt, unseen[i].page);
}

void dsm_rx_forget(struct dsm_rt *rt, size_t first, size_t npages)
{
	pthread_mutex_lock(&rt->iv.op);		/* for rx->scratch */
	for (size_t page = first; page < first + npages; page++)
		invalidate_page(rt, page);
	pthread_mutex_unlock(&rt->iv.op);
}

/* Learn that page is homed at home here; wake threads waiting for it
 * (every path that sets a home goes through here, so no waiter is left
 * behind when the manager's own answer comes last).  Page lock held. */
static void learn_home_locked(struct dsm_rt *rt, int src, size_t page, uint32_t home)
{
	struct dsm_page_local *pl = &rt->dir.local[page];

	if (pl->home1 == home + 1)
		return;
	if (pl->home1)
		dsm_rt_protocol_error(rt, src, "a home answer that contradicts an earlier one", page);
	__atomic_store_n(&pl->home1, (uint16_t)(home + 1), __ATOMIC_RELAXED);
	__atomic_store_n(&pl->seq, pl->seq + 1, __ATOMIC_RELEASE);
	dsm_futex_wake_all(&pl->seq);
}

/*
 * A request or a diff for page from src: this node must be its home.
 * Under first-touch homes src learned that from the page's manager, whose
 * answer to this node may still be on its way: the request proves it.
 * Page lock held.
 */
static void check_home_locked(struct dsm_rt *rt, int src, size_t page)
{
	struct dsm_page_local *pl = &rt->dir.local[page];

	/* Wake this node's threads that wait for the manager's answer: it
	 * will only confirm what they may know now. */
	if (rx_of(rt)->first_touch && !pl->home1)
		learn_home_locked(rt, src, page, (uint32_t)rt->self);
	if (known_home_locked(rt, page) != rt->self)
		dsm_rt_protocol_error(rt, src, "a request for a page not homed here", page);
}

/* Home: apply a batch of diffs from src, then acknowledge it. */
static void apply_diffs(struct dsm_rt *rt, int src, const char *p, size_t len)
{
	size_t count = 0;

	while (len) {
		uint32_t hdr[2];
		size_t page;

		if (len < sizeof(hdr))
			dsm_rt_protocol_error(rt, src, "a truncated diff batch", len);
		memcpy(hdr, p, sizeof(hdr));
		page = hdr[0];
		if (page >= rt->dir.npages)
			dsm_rt_protocol_error(rt, src, "a page number beyond the heap", page);
		if (hdr[1] > len - sizeof(hdr))
			dsm_rt_protocol_error(rt, src, "a truncated diff", hdr[1]);
		dsm_dir_lock(&rt->dir, page);
		check_home_locked(rt, src, page);
		/* The home's own threads may be using the page: a diff holds
		 * only bytes they do not touch in a data-race-free program,
		 * and memcpy stores no byte outside a run. */
		if (dsm_diff_apply(dsm_heap_rt_page(&rt->heap, page), rt->heap.page_size,
				   p + sizeof(hdr), hdr[1]) < 0)
			dsm_rt_protocol_error(rt, src, "a malformed diff", page);
		rt->dir.local[page].flags |= RX_WRITTEN;
		dsm_dir_unlock(&rt->dir, page);
		dsm_count(rt->counters.diffs_applied, 1);
		p += sizeof(hdr) + hdr[1];
		len -= sizeof(hdr) + hdr[1];
		count++;
	}
	dsm_rt_send(rt, src, DSM_MSG_DIFF_ACK, 0, count, 0, NULL, 0);
}

static size_t check_page(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	if (h->arg0 >= rt->dir.npages)
		dsm_rt_protocol_error(rt, src, "a page number beyond the heap", h->arg0);
	return h->arg0;
}

/* The run of pages a fetch or its reply covers: aux pages (0 means 1),
 * every *stride-th from arg0 on (arg1; 0 means 1).  After check_page. */
static size_t check_run(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h, size_t *stride)
{
	size_t n = h->aux ? h->aux : 1;

	*stride = h->arg1 ? h->arg1 : 1;
	if (n > run_max(rx_of(rt)) || *stride > STRIDE_FAR ||
	    h->arg0 + (n - 1) * *stride >= rt->dir.npages)
		dsm_rt_protocol_error(rt, src, "a run of pages too long or beyond the heap", h->aux);
	return n;
}

/*
 * Home: answer a fetch of n pages every stride-th from page.  A run of
 * pages nobody ever wrote is zero everywhere: no data.  A contiguous run
 * goes straight from this node's view into the asker's (send_pages); a
 * strided one is gathered into one buffer first, still one message, and
 * so is a contiguous one that has late pages (see close_late).
 */
static void answer_read(struct dsm_rt *rt, int src, size_t page, size_t n, size_t stride,
			bool written, size_t late)
{
	struct relaxed *rx = rx_of(rt);

	if (!written) {
		dsm_rt_send(rt, src, DSM_MSG_READ_REPLY, (uint32_t)n, page, stride, NULL, 0);
		return;
	}
	dsm_count(rt->counters.pages_sent, n);
	if (stride == 1 && !late) {
		dsm_rt_send_pages(rt, src, DSM_MSG_READ_REPLY, (uint32_t)n, page, n, 1);
		return;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(rx->gather + i * rx->ps, dsm_heap_rt_page(&rt->heap, page + i * stride),
		       rx->ps);
	if (stride == 1)
		dsm_rt_send_pages_from(rt, src, DSM_MSG_READ_REPLY, (uint32_t)n, page, n, 1,
				       rx->gather);
	else
		dsm_rt_send(rt, src, DSM_MSG_READ_REPLY, (uint32_t)n, page, stride, rx->gather,
			    n * rx->ps);
}

/*
 * Home, after answer_read sent a snapshot (rx->gather) of a run with late
 * pages: pages this node's threads could write without a fault when the
 * copy was taken, and whose next write needs a notice now that a copy is
 * out.  Closing such a page before the reply (mprotect: a TLB shootdown
 * where the node's other threads run) cost 15 us of every remote fault
 * here; closed after it, a write that came in between is found by
 * comparing the page with the copy sent, and counted as if it had faulted
 * after the copy (add_written).  A write undone in between leaves the page
 * as sent, which is as good.  dsm_rx_publish waits for checks_pending, so
 * a release never misses such a write.
 */
static void close_late(struct dsm_rt *rt, size_t page, size_t n, size_t stride)
{
	struct relaxed *rx = rx_of(rt);

	for (size_t i = 0, q = page; i < n; i++, q += stride) {
		struct dsm_page_local *pl = &rt->dir.local[q];

		dsm_dir_lock(&rt->dir, q);
		/* Only a late page is shared, open and clean (READ_REQ). */
		if (pl->prot == DSM_PROT_RW && (pl->flags & RX_SHARED) && !(pl->flags & RX_DIRTY)) {
			set_prot_locked(rt, q, DSM_PROT_READ);
			if (memcmp(dsm_heap_rt_page(&rt->heap, q), rx->gather + i * rx->ps, rx->ps))
				add_written_locked(rx, pl, q);
		}
		dsm_dir_unlock(&rt->dir, q);
	}
	if (__atomic_sub_fetch(&rx->checks_pending, 1, __ATOMIC_SEQ_CST) == 0)
		dsm_futex_wake_all(&rx->checks_pending);
}

/* The home a manager gave page, or -1 (never touched).  Manager. */
static int given_home(struct dsm_rt *rt, size_t page)
{
	int home;

	dsm_dir_lock(&rt->dir, page);
	home = dsm_dir_entry_locked(&rt->dir, page)->ft_home1 - 1;
	dsm_dir_unlock(&rt->dir, page);
	return home;
}

/*
 * Manager: answer src's HOME_REQ for page.  The first claim makes the
 * home; a claim-ahead (arg1: stride << 32 | k) also gives src the next k
 * pages at that stride that nobody has, within this manager's block.  The
 * answer maps the home of every page of the block around page that has
 * one (a u16 per page, home + 1, 0: none yet; at most HOME_MAP pages): a
 * node that initialized a range of pages is home to all of them, so one
 * answer saves a request per page.  (Homes never change once given, so
 * the map stays true.)
 */
#define HOME_MAP 256

static void manager_block(struct dsm_rt *rt, size_t page, size_t *start, size_t *end)
{
	size_t blk = rt->dir.home_block;

	*start = page - page % blk;
	*end = *start + blk < rt->dir.npages ? *start + blk : rt->dir.npages;
}

static void answer_home(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	size_t page = h->arg0, k = (uint32_t)h->arg1, stride = h->arg1 >> 32;
	size_t start, end, lo, hi, q;
	uint16_t map[HOME_MAP];
	int home;

	if (k > CLAIM_MAX || (k && (stride < 1 || stride > STRIDE_MAX)) ||
	    (k && h->aux != (uint32_t)src))
		dsm_rt_protocol_error(rt, src, "a home request with a bad claim-ahead", h->arg1);
	dsm_dir_lock(&rt->dir, page);
	home = home_locked(rt, page, (int)h->aux);
	dsm_dir_unlock(&rt->dir, page);
	manager_block(rt, page, &start, &end);
	for (q = page + stride; home == (int)h->aux && k && q < end; q += stride, k--) {
		struct dsm_dir_entry *e;

		dsm_dir_lock(&rt->dir, q);
		e = dsm_dir_entry_locked(&rt->dir, q);
		if (!e->ft_home1)
			__atomic_store_n(&e->ft_home1, (uint16_t)(home + 1), __ATOMIC_RELAXED);
		dsm_dir_unlock(&rt->dir, q);
	}
	lo = page >= start + HOME_MAP / 4 ? page - HOME_MAP / 4 : start;
	hi = lo + HOME_MAP < end ? lo + HOME_MAP : end;
	for (q = lo; q < hi; q++)
		map[q - lo] = (uint16_t)(given_home(rt, q) + 1);
	dsm_rt_send(rt, src, DSM_MSG_HOME_IS, (uint32_t)home, page, lo, map,
		    (hi - lo) * sizeof(map[0]));
}

/* HOME_IS: the home of the page asked for (aux), and the map of homes
 * from page arg1 on (payload), all in one manager's block. */
static void take_home(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
		      const void *payload)
{
	size_t page = check_page(rt, src, h), lo = h->arg1, count = h->len / sizeof(uint16_t);
	struct dsm_page_local *pl = &rt->dir.local[page];
	size_t start, end;
	uint16_t map[HOME_MAP];

	if (!rx_of(rt)->first_touch || dsm_dir_home(&rt->dir, page) != src ||
	    h->aux >= (uint32_t)rt->nnodes)
		dsm_rt_protocol_error(rt, src, "a home answer from a non-manager", page);
	manager_block(rt, page, &start, &end);
	if (h->len % sizeof(uint16_t) || count > HOME_MAP || lo < start || lo > page ||
	    page - lo >= count || lo + count > end)
		dsm_rt_protocol_error(rt, src, "a home answer with a bad map of pages", page);
	memcpy(map, payload, h->len);
	if (map[page - lo] != h->aux + 1)
		dsm_rt_protocol_error(rt, src, "a home answer that contradicts its map", page);
	for (size_t i = 0; i < count; i++)
		if (map[i] > rt->nnodes)
			dsm_rt_protocol_error(rt, src, "a home answer with a bad map of pages",
					      lo + i);
	dsm_dir_lock(&rt->dir, page);
	if (!(pl->flags & RX_HOMEQ))
		dsm_rt_protocol_error(rt, src, "a home answer nobody asked for", page);
	dsm_dir_unlock(&rt->dir, page);
	/* The map first, the page asked for last: learning it wakes the
	 * faulting thread, whose fetch run looks at the homes of the pages
	 * after it (else, when the service thread delivers this, the run
	 * may find them unknown yet and stop at one page). */
	for (size_t i = 0; i < count; i++) {
		if (!map[i] || lo + i == page)
			continue;
		dsm_dir_lock(&rt->dir, lo + i);
		learn_home_locked(rt, src, lo + i, map[i] - 1u);
		dsm_dir_unlock(&rt->dir, lo + i);
	}
	dsm_dir_lock(&rt->dir, page);
	pl->flags &= ~RX_HOMEQ;
	learn_home_locked(rt, src, page, h->aux);
	dsm_dir_unlock(&rt->dir, page);
}

/* Service thread. */
void dsm_rx_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
		       const void *payload)
{
	struct relaxed *rx = rx_of(rt);
	struct dsm_page_local *pl;
	bool written;
	size_t page, n, stride, late;

	switch (h->type) {
	case DSM_MSG_READ_REQ:
		page = check_page(rt, src, h);
		n = check_run(rt, src, h, &stride);
		written = false;
		late = 0;
		for (size_t i = 0, q = page; i < n; i++, q += stride) {
			dsm_dir_lock(&rt->dir, q);
			check_home_locked(rt, src, q);
			pl = &rt->dir.local[q];
			/* From now on this node's writes to the page need
			 * notices (release consistency): catch the next one.
			 * Writes before the protection are in the copy we
			 * send; where the transport sends a snapshot, the
			 * page closes after the reply (close_late). */
			if (!rx->weak && !(pl->flags & RX_SHARED)) {
				pl->flags |= RX_SHARED;
				if (pl->prot == DSM_PROT_RW && !(pl->flags & RX_DIRTY)) {
					if (dsm_rt_can_send_from(rt))
						late++;
					else
						set_prot_locked(rt, q, DSM_PROT_READ);
				}
			}
			written |= pl->flags & RX_WRITTEN;
			dsm_dir_unlock(&rt->dir, q);
		}
		/* Before the snapshot: a release that starts after it waits. */
		if (late)
			__atomic_add_fetch(&rx->checks_pending, 1, __ATOMIC_SEQ_CST);
		answer_read(rt, src, page, n, stride, written, late);
		if (late)
			close_late(rt, page, n, stride);
		return;

	case DSM_MSG_READ_REPLY:
		page = check_page(rt, src, h);
		n = check_run(rt, src, h, &stride);
		if (h->len != n * rt->heap.page_size && h->len != 0)
			dsm_rt_protocol_error(rt, src, "a page message of the wrong length", h->len);
		/* This node's view of the pages was closed while the
		 * transport filled a contiguous run in place
		 * (dsm_rt_send_pages); a strided one is copied out of the
		 * message here, each page to its place, before the view
		 * opens.  An empty reply: never written, and so still zero
		 * here. */
		if (h->len) {
			if (stride == 1 && payload != dsm_heap_rt_page(&rt->heap, page))
				dsm_rt_protocol_error(rt, src, "a page that was not sent as a page", page);
			dsm_count(rt->counters.pages_fetched, n);
		}
		for (size_t i = 0, q = page; i < n; i++, q += stride) {
			dsm_dir_lock(&rt->dir, q);
			pl = &rt->dir.local[q];
			if (known_home_locked(rt, q) != src)
				dsm_rt_protocol_error(rt, src, "a page from a node that is not its home", q);
			if (!pl->want || pl->prot != DSM_PROT_NONE)
				dsm_rt_protocol_error(rt, src, "a page this node did not ask for", q);
			if (pl->flags & RX_REFETCH) {
				pl->flags &= ~RX_REFETCH;
				fetch_locked(rt, src, q, 1, 1);
				dsm_dir_unlock(&rt->dir, q);
				continue;
			}
			if (h->len && stride > 1)
				memcpy(dsm_heap_rt_page(&rt->heap, q),
				       (const char *)payload + i * rt->heap.page_size,
				       rt->heap.page_size);
			__atomic_store_n(&rx->fetched_in[q], stamp_now(rx), __ATOMIC_RELAXED);
			set_prot_locked(rt, q, DSM_PROT_READ);
			__atomic_store_n(&pl->want, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&pl->seq, pl->seq + 1, __ATOMIC_RELEASE);
			dsm_futex_wake_all(&pl->seq);
			dsm_dir_unlock(&rt->dir, q);
		}
		return;

	case DSM_MSG_HOME_REQ:
		/* At the page's manager: the first claim makes the home. */
		page = check_page(rt, src, h);
		if (!rx->first_touch || dsm_dir_home(&rt->dir, page) != rt->self ||
		    h->aux >= (uint32_t)rt->nnodes)
			dsm_rt_protocol_error(rt, src, "a home request this node cannot answer", page);
		answer_home(rt, src, h);
		return;

	case DSM_MSG_HOME_IS:
		take_home(rt, src, h, payload);
		return;

	case DSM_MSG_DIFFS:
		apply_diffs(rt, src, payload, h->len);
		return;

	case DSM_MSG_DIFF_ACK:
		if (!__atomic_load_n(&rx->acks_pending, __ATOMIC_ACQUIRE))
			dsm_rt_protocol_error(rt, src, "an acknowledgement of no diff", h->arg0);
		if (__atomic_sub_fetch(&rx->acks_pending, 1, __ATOMIC_ACQ_REL) == 0)
			dsm_futex_wake_all(&rx->acks_pending);
		return;
	}
	dsm_rt_protocol_error(rt, src, "a message type this consistency model does not use",
			      h->type);
}

int dsm_rx_init(struct dsm_rt *rt, bool weak)
{
	struct relaxed *rx = calloc(1, sizeof(*rx));
	size_t npages = rt->dir.npages;

	if (!rx)
		return -ENOMEM;
	dsm_rx_state = rx;
	rx->weak = weak;
	rx->first_touch = rt->cfg.first_touch;
	rx->ps = rt->heap.page_size;
	pthread_mutex_init(&rx->lock, NULL);
	rx->twins = reserve(npages * rx->ps);
	rx->twin_of = reserve(npages * sizeof(uint32_t));
	rx->free_slots = reserve(npages * sizeof(uint32_t));
	rx->written[0] = reserve(npages * sizeof(uint32_t));
	rx->written[1] = reserve(npages * sizeof(uint32_t));
	rx->cached = reserve(npages * sizeof(uint32_t));
	rx->cache_pos = reserve(npages * sizeof(uint32_t));
	rx->max_batch = dsm_rt_max_payload(rt);
	/* The replies a faulting thread waits for, which it may deliver
	 * itself (dsm_rt_wait_reply): their handlers take page locks and make
	 * signal-safe calls only.  (READ_REQ is not: its strided reply is
	 * gathered in the service thread's buffer.) */
	dsm_msg_fault_safe(rt, DSM_MSG_READ_REPLY);
	dsm_msg_fault_safe(rt, DSM_MSG_HOME_IS);
	dsm_msg_fault_safe(rt, DSM_MSG_DIFF_ACK);
	rx->scratch = malloc(2 * sizeof(uint32_t) + dsm_diff_bound(rx->ps));
	rx->gather = malloc(run_max(rx) * rx->ps);
	rx->edges = calloc((npages + 63) / 64, sizeof(uint64_t));
	rx->fetched_in = reserve(npages * sizeof(uint16_t));
	rx->batch = calloc((size_t)rt->nnodes, sizeof(*rx->batch));
	if (!rx->twins || !rx->twin_of || !rx->free_slots || !rx->written[0] || !rx->written[1] || !rx->cached || !rx->cache_pos ||
	    !rx->scratch || !rx->gather || !rx->edges || !rx->fetched_in || !rx->batch)
		goto nomem;
	for (int n = 0; n < rt->nnodes; n++)
		if (n != rt->self && !(rx->batch[n].buf = malloc(rx->max_batch)))
			goto nomem;
	return 0;
nomem:
	dsm_err("cannot reserve twins and page lists for %zu pages", npages);
	dsm_rx_fini(rt);
	return -ENOMEM;
}

void dsm_rx_fini(struct dsm_rt *rt)
{
	struct relaxed *rx = rx_of(rt);
	size_t npages = rt->dir.npages;

	if (!rx)
		return;
	if (rx->twins)
		munmap(rx->twins, npages * rx->ps);
	if (rx->twin_of)
		munmap(rx->twin_of, npages * sizeof(uint32_t));
	if (rx->free_slots)
		munmap(rx->free_slots, npages * sizeof(uint32_t));
	for (int i = 0; i < 2; i++)
		if (rx->written[i])
			munmap(rx->written[i], npages * sizeof(uint32_t));
	if (rx->cached)
		munmap(rx->cached, npages * sizeof(uint32_t));
	if (rx->cache_pos)
		munmap(rx->cache_pos, npages * sizeof(uint32_t));
	if (rx->fetched_in)
		munmap(rx->fetched_in, npages * sizeof(uint16_t));
	for (int n = 0; rx->batch && n < rt->nnodes; n++)
		free(rx->batch[n].buf);
	free(rx->batch);
	free(rx->scratch);
	free(rx->gather);
	free(rx->edges);
	free(rx);
	dsm_rx_state = NULL;
}

/* Nothing is ever deferred: no owner, no recall. */
uint64_t dsm_rx_tick(struct dsm_rt *rt)
{
	(void)rt;
	return 0;
}

/*
 * Checkpoints (protocol.h).  The checkpoint's barrier published every
 * diff, so each home's memory is current: nothing to gather.
 */
bool dsm_rx_ckpt_saves(struct dsm_rt *rt, size_t page)
{
	bool saves;

	dsm_dir_lock(&rt->dir, page);
	saves = known_home_locked(rt, page) == rt->self &&
		(rt->dir.local[page].flags & RX_WRITTEN);
	dsm_dir_unlock(&rt->dir, page);
	return saves;
}

void dsm_rx_ckpt_reset(struct dsm_rt *rt)
{
	struct relaxed *rx = rx_of(rt);

	dsm_protocol_reset_pages(rt);
	pthread_mutex_lock(&rx->lock);
	for (size_t i = 0; i < rx->ncached; i++)
		rx->cache_pos[rx->cached[i]] = 0;
	rx->ncached = 0;
	rx->nwritten = 0;
	pthread_mutex_unlock(&rx->lock);
	for (int n = 0; n < rt->nnodes; n++)
		rx->batch[n].len = 0;
}

void dsm_rx_ckpt_restored(struct dsm_rt *rt, size_t page)
{
	dsm_dir_lock(&rt->dir, page);
	rt->dir.local[page].flags |= RX_WRITTEN;
	dsm_dir_unlock(&rt->dir, page);
}

/* First-touch homes: the homes this node, as the pages' manager, gave
 * out (homes never move, so the pages saved by each home are found
 * there again).  One u16 per page managed here: home + 1, or 0. */
int dsm_rx_ckpt_save(struct dsm_rt *rt, struct dsm_ckpt_out *out)
{
	uint16_t *map;
	int ret;

	if (!rx_of(rt)->first_touch)
		return 0;
	map = calloc(rt->dir.nhome ? rt->dir.nhome : 1, sizeof(*map));
	if (!map)
		return -ENOMEM;
	for (size_t i = 0; i < rt->dir.nhome; i++)
		map[i] = __atomic_load_n(&rt->dir.home[i].ft_home1, __ATOMIC_RELAXED);
	ret = dsm_ckpt_put(out, "rx.homes", map, rt->dir.nhome * sizeof(*map));
	free(map);
	return ret;
}

int dsm_rx_ckpt_restore(struct dsm_rt *rt, const struct dsm_ckpt_in *in)
{
	const uint16_t *map;
	size_t len = 0;

	if (!rx_of(rt)->first_touch)
		return 0;
	map = dsm_ckpt_get(in, "rx.homes", &len);
	if (!map || len != rt->dir.nhome * sizeof(*map)) {
		dsm_err("checkpoint: the record of first-touch homes is missing or of the wrong "
			"size");
		return -EINVAL;
	}
	for (size_t i = 0; i < rt->dir.nhome; i++) {
		uint16_t h;

		memcpy(&h, (const char *)map + i * sizeof(h), sizeof(h));
		if (h > rt->nnodes) {
			dsm_err("checkpoint: a first-touch home beyond the job's nodes");
			return -EINVAL;
		}
		rt->dir.home[i].ft_home1 = h;
	}
	return 0;
}
