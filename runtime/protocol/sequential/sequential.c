/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sequential.c - sequential consistency: single writer / multiple readers,
 * write-invalidate, home-based directory.
 *
 * The home of a page serializes every transaction on it (one at a time,
 * later requests queued in the entry).  A read fault asks the home for a
 * copy; if a node holds the page exclusively, the home first recalls it
 * (the owner downgrades to read-only and returns the data), so the data
 * always comes from the current owner.  A write fault asks the home for
 * ownership; the home recalls the page from its owner or invalidates every
 * other copy and waits for every acknowledgement before it grants: no node
 * can read an old value once the writer proceeds (Li and Hudak, "Memory
 * Coherence in Shared Virtual Memory Systems", TOCS 1989, the fixed
 * distributed manager).  Together with FIFO channels (transport.h) and a
 * faulting thread that blocks until its grant, every node observes writes
 * in one global order.
 *
 * The home's memfd holds the master copy whenever no node owns the page.
 * The home takes part like any other node: its own faults run the same
 * transaction locally, without messages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/base/clock.h"
#include "runtime/base/compiler.h"
#include "runtime/base/futex.h"
#include "runtime/protocol/protocol.h"
#include "runtime/protocol/sweep.h"

/*
 * Hold: a node keeps a page it was just granted until a faulting thread
 * has used it (plus a grace for the retried instruction), at most
 * HOLD_MAX.  Without it a spinning reader can take the page back from a
 * writer before the writer's woken thread retries its store, forever
 * (seen: t_flag under 2 ms netem delay and emulation).  Recalls and
 * invalidations that arrive meanwhile are deferred by the service thread,
 * which never blocks (Fleisch and Popek, "Mirage: a coherent distributed
 * shared memory design", SOSP 1989, the time window delta).
 */
#define HOLD_MAX_NS	10000000ull	/* 10 ms */
#define HOLD_GRACE_NS	20000ull	/* 20 us after the faulting thread leaves */
#define DEFERRED_CAP	4096		/* beyond it, answer at once (no hold) */

/* A message the protocol answers later (service thread only). */
struct dsm_deferred_msg {
	struct dsm_wire_hdr hdr;	/* header only: deferred messages carry no payload */
	int src;
};

/*
 * Runs: a node that reads or writes its way through a home's pages asks
 * for them up to SEQ_RUN_MAX at a time (plan_run_locked).  The run's
 * pages are one transaction at the home (run_start): one recall per node
 * that owns any of them, for a write one invalidation per node that holds
 * copies of any, one answer back from each, then one grant of them all
 * (run_grant).  The pages the home cannot take so get transactions of
 * their own.
 */
#define SEQ_RUN_MAX 8

/*
 * A run's transaction at its home (run_start): pages page, page + stride,
 * ... (m of them) for src and mode, each busy with e->run = its slot + 1;
 * left of them still wait for recall replies or acknowledgements.
 * Service thread only (the messages that move it are never delivered by a
 * faulting thread).  With every slot in use a run is taken as single
 * requests.
 */
struct seq_run {
	size_t page, stride;
	int src;
	unsigned int m;		/* 0: the slot is free */
	unsigned int left;
	enum dsm_prot mode;
};
#define SEQ_RUNS 64
static struct seq_run seq_runs[SEQ_RUNS];

/* The home's copies of a run's pages, gathered for one reply (service
 * thread only). */
static char *seq_gather;

/* Per page: the stamp of the epoch its last grant (a copy, or ownership)
 * arrived in (sweep.h); epochs count acquires (seq_acquire).  Atomic: read
 * as hints.  Reserved, committed where touched. */
static uint16_t *seq_granted_in;
static size_t seq_granted_len;
static uint32_t seq_epoch;

/* This protocol's own state (one runtime per process). */
static struct dsm_deferred {
	pthread_mutex_t lock;		/* taken after a page's lock, never before */
	struct dsm_deferred_msg *v;	/* allocated at init: the fault path appends */
	size_t n;			/* read without the lock as a hint */
	size_t cap;
} seq_deferred;

static bool held(const struct dsm_page_local *pl, uint64_t now)
{
	return now < pl->hold_until_ns;
}

/*
 * Keep a message about page for later.  Caller holds the page's lock; any
 * thread, signal context included (no malloc: the list is allocated at
 * init).  Returns false when the list is full: answer now.
 */
static bool defer_locked(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	struct dsm_deferred *d = &seq_deferred;
	bool ok = false;

	pthread_mutex_lock(&d->lock);
	if (d->n < d->cap) {
		d->v[d->n].hdr = *h;
		d->v[d->n].src = src;
		__atomic_store_n(&d->n, d->n + 1, __ATOMIC_RELEASE);
		ok = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (ok)
		rt->tp->ops->wake(rt->tp);	/* its next sleep must end in time */
	return ok;
}

static void set_prot_locked(struct dsm_rt *rt, size_t page, enum dsm_prot prot)
{
	struct dsm_page_local *pl = &rt->dir.local[page];

	if (pl->prot != prot) {
		dsm_fault_protect(&rt->fault, page, 1, prot);
		/* atomic: read runs read it as a hint without the page lock */
		__atomic_store_n(&pl->prot, (uint8_t)prot, __ATOMIC_RELAXED);
	}
}

/* Mark the local request of a page granted and wake its waiters.
 * Caller holds the page's lock. */
static void complete_locked(struct dsm_rt *rt, size_t page, enum dsm_prot prot)
{
	struct dsm_page_local *pl = &rt->dir.local[page];

	/*
	 * The data is in place (runtime view) before the protection opens
	 * the application view; the seq bump publishes both to the waiters.
	 */
	set_prot_locked(rt, page, prot);
	__atomic_store_n(&seq_granted_in[page],
			 dsm_sweep_stamp(__atomic_load_n(&seq_epoch, __ATOMIC_RELAXED)),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&pl->want, 0, __ATOMIC_RELAXED);	/* a hint for read runs too */
	/* atomic: seq_tick reads it under the deferred lock, not the page's */
	__atomic_store_n(&pl->hold_until_ns, dsm_now_ns() + HOLD_MAX_NS, __ATOMIC_RELAXED);
	__atomic_store_n(&pl->seq, pl->seq + 1, __ATOMIC_RELEASE);
	dsm_futex_wake_all(&pl->seq);
}

/* Give the page to the transaction's requester.  Home, page lock held. */
static void grant_locked(struct dsm_rt *rt, size_t page, int node, enum dsm_prot prot,
			 bool with_data)
{
	if (node == rt->self) {
		complete_locked(rt, page, prot);	/* the home's memory is current */
		return;
	}
	uint8_t type = prot == DSM_PROT_RW ? DSM_MSG_WRITE_GRANT : DSM_MSG_READ_REPLY;

	if (!with_data) {
		dsm_rt_send(rt, node, type, 0, page, 0, NULL, 0);
		return;
	}
	dsm_count(rt->counters.pages_sent, 1);
	dsm_rt_send_page(rt, node, type, 0, page, 0);
}

/* The home recalls a page it owns itself: no message, its memory is
 * current.  Home, page lock held. */
static void local_recall_locked(struct dsm_rt *rt, size_t page, struct dsm_dir_entry *e,
				enum dsm_prot keep)
{
	set_prot_locked(rt, page, keep);
	if (keep == DSM_PROT_NONE) {
		e->copyset &= ~(1ull << rt->self);
		dsm_count(rt->counters.invalidations, 1);
	}
	e->owner = -1;
}

/* All recalls and acknowledgements are in: grant, then start the next
 * queued transaction.  Home, page lock held. */
static void start_locked(struct dsm_rt *rt, size_t page, struct dsm_dir_entry *e, int node,
			 enum dsm_prot mode);

/*
 * The directory's side of granting a page to node for mode: node joins
 * the copyset, or becomes the owner and only holder.  Returns whether the
 * grant must carry the page's bytes.  Home, page lock held.
 */
static bool grant_entry_locked(struct dsm_dir_entry *e, int node, enum dsm_prot mode)
{
	uint64_t bit = 1ull << node;
	/*
	 * Every store reaches a page through a write grant, so a page never
	 * granted for writing (version 0) is still zero in every node's
	 * memory: its first grant needs no data.
	 */
	bool written = e->version > 0;

	if (mode == DSM_PROT_RW) {
		/* A requester still in the copyset holds valid data: an
		 * upgrade needs no page. */
		bool with_data = written && !(e->copyset & bit);

		e->copyset = bit;
		e->owner = (int16_t)node;
		e->version++;
		return with_data;
	}
	e->copyset |= bit;
	return written;
}

/* The transaction on page is over: start the next queued one, if any.
 * Home, page lock held. */
static void serve_next_locked(struct dsm_rt *rt, size_t page, struct dsm_dir_entry *e)
{
	int next;
	bool write;

	e->busy = 0;
	if (dsm_dir_next_waiter_locked(&rt->dir, e, &next, &write))
		start_locked(rt, page, e, next, write ? DSM_PROT_RW : DSM_PROT_READ);
}

static void finish_locked(struct dsm_rt *rt, size_t page, struct dsm_dir_entry *e)
{
	int node = e->txn_node;
	enum dsm_prot mode = (enum dsm_prot)e->txn_mode;

	grant_locked(rt, page, node, mode, grant_entry_locked(e, node, mode));
	serve_next_locked(rt, page, e);
}

/*
 * A write by node takes every other copy of page: the home drops its own
 * at once; the nodes returned must be sent INV, each counted in
 * e->pending.  An owner's copy is not among them: it goes with its
 * recall.  Home, page lock held.
 */
static uint64_t take_copies_locked(struct dsm_rt *rt, size_t page, struct dsm_dir_entry *e,
				   int node)
{
	uint64_t others = e->copyset & ~(1ull << node), self = 1ull << rt->self;

	if (e->owner >= 0)
		others &= ~(1ull << e->owner);
	if (others & self) {
		set_prot_locked(rt, page, DSM_PROT_NONE);
		e->copyset &= ~self;
		dsm_count(rt->counters.invalidations, 1);
		others &= ~self;
	}
	e->pending += (int16_t)__builtin_popcountll(others);
	return others;
}

/*
 * Begin a transaction for node's request.  Home, page lock held.  Sends
 * the recall or invalidations it needs; finishes at once if none.
 */
static void start_locked(struct dsm_rt *rt, size_t page, struct dsm_dir_entry *e, int node,
			 enum dsm_prot mode)
{
	bool write = mode == DSM_PROT_RW;

	e->busy = 1;
	e->txn_node = (int16_t)node;
	e->txn_mode = (uint8_t)mode;
	e->pending = 0;

	if (e->owner >= 0 && e->owner != node) {
		int owner = e->owner;
		enum dsm_prot keep = write ? DSM_PROT_NONE : DSM_PROT_READ;

		if (owner == rt->self) {
			struct dsm_wire_hdr h = { .type = DSM_MSG_RECALL, .aux = keep, .arg0 = page };

			/* The home itself holds it: its memory is current.  A
			 * page this node was just granted is recalled later. */
			if (held(&rt->dir.local[page], dsm_now_ns()) && defer_locked(rt, rt->self, &h))
				e->pending++;
			else
				local_recall_locked(rt, page, e, keep);
		} else {
			dsm_rt_send(rt, owner, DSM_MSG_RECALL, keep, page, 0, NULL, 0);
			e->pending++;
		}
	}
	if (write) {
		uint64_t others = take_copies_locked(rt, page, e, node);

		for (int n = 0; others; n++, others >>= 1)
			if (others & 1)
				dsm_rt_send(rt, n, DSM_MSG_INV, 0, page, 0, NULL, 0);
	}
	if (e->pending == 0)
		finish_locked(rt, page, e);
}

/* A request for a page homed here, from node (possibly this node). */
static void home_request_locked(struct dsm_rt *rt, size_t page, int node, enum dsm_prot mode)
{
	struct dsm_dir_entry *e = dsm_dir_entry_locked(&rt->dir, page);

	if (e->busy) {
		if (mode == DSM_PROT_RW)
			e->wait_write |= 1ull << node;
		else
			e->wait_read |= 1ull << node;
		return;
	}
	start_locked(rt, page, e, node, mode);
}

/*
 * The stride from a page to the next page of the same home, or 0 when
 * runs do not apply: every nnodes-th page when homes are dealt page by
 * page (DSM_HOME_BLOCK=1, the default), else the next page within the
 * home block.
 */
static size_t same_home_stride(const struct dsm_rt *rt)
{
	if (rt->dir.nnodes < 2)
		return 0;
	return rt->dir.home_block == 1 ? (size_t)rt->dir.nnodes : 1;
}

/* q is a page of the heap homed at home.  Along a run's stride (the home
 * block's next page, or every nnodes-th page) that is: still in the home
 * block, or dealt to the same node. */
static bool same_home(const struct dsm_rt *rt, size_t q, int home)
{
	return q < rt->dir.npages && dsm_dir_home(&rt->dir, q) == home;
}

/*
 * The sweep's evidence (sweep.h): a read-only copy of home's that arrived
 * in this epoch or the one before.  Copies kept from an earlier phase
 * line up with a sweep by chance: lu's kept blocks made later blocks look
 * next, their owner then had to invalidate every such copy when it wrote
 * them, and lu on 4 nodes sent twice the messages.  Pages this node
 * writes are no evidence.  A hint: no locks.
 */
static bool granted_lately(struct dsm_rt *rt, size_t q, int home, enum dsm_prot prot)
{
	return same_home(rt, q, home) &&
	       __atomic_load_n(&rt->dir.local[q].prot, __ATOMIC_RELAXED) == prot &&
	       dsm_sweep_age(__atomic_load_n(&seq_granted_in[q], __ATOMIC_RELAXED),
			     __atomic_load_n(&seq_epoch, __ATOMIC_RELAXED)) <= 1;
}

static bool read_copy(struct dsm_rt *rt, size_t q, int home)
{
	return granted_lately(rt, q, home, DSM_PROT_READ);
}

/* Still to come for a run that asks for need: home's page, less
 * accessible here than need, and asked for by no thread. */
static bool lacks(const struct dsm_page_local *pq, enum dsm_prot need)
{
	return __atomic_load_n(&pq->prot, __ATOMIC_RELAXED) < need &&
	       !__atomic_load_n(&pq->want, __ATOMIC_RELAXED);
}

static bool missing(struct dsm_rt *rt, size_t q, int home)
{
	return same_home(rt, q, home) && lacks(&rt->dir.local[q], DSM_PROT_READ);
}

/*
 * A write sweep's evidence: home's page, owned here since a grant in this
 * epoch or the one before (a page kept from an earlier phase is no sign
 * of this one's sweep, as for read_copy).  A hint: no locks.
 */
static bool owned_lately(struct dsm_rt *rt, size_t q, int home)
{
	return granted_lately(rt, q, home, DSM_PROT_RW);
}

static bool unowned(struct dsm_rt *rt, size_t q, int home)
{
	return same_home(rt, q, home) && lacks(&rt->dir.local[q], DSM_PROT_RW);
}

/*
 * A sweep through a home's pages for need: the k pages before page at the
 * same-home stride are read-only copies here (read_copy; for a write,
 * pages owned here: owned_lately), and the next one lacks need.  Then the
 * next such pages at that stride join this request, up to k pages in all
 * and SEQ_RUN_MAX (runs grow 1, 1, 2, 4, 8 along a sweep, and a short
 * sweep takes nothing it did not touch, as under release consistency).
 * The joining pages are marked wanted; their locks are only tried (page's
 * is held).  Returns how many pages, page included; *stride their stride.
 * Page lock held; fault path.
 */
static size_t plan_run_locked(struct dsm_rt *rt, size_t page, int home, enum dsm_prot need,
			      size_t *stride)
{
	size_t s = same_home_stride(rt), k, n = 1, cap = SEQ_RUN_MAX;
	bool write = need == DSM_PROT_RW;

	*stride = s;
	if (!s)
		return 1;
	if (cap * rt->heap.page_size > dsm_rt_max_payload(rt))
		cap = dsm_rt_max_payload(rt) / rt->heap.page_size;
	k = dsm_sweep_row(rt, rt->dir.npages, page, s, cap, write ? owned_lately : read_copy,
			  write ? unowned : missing, home);
	while (n < k && same_home(rt, page + n * s, home)) {
		size_t q = page + n * s;
		struct dsm_page_local *pq = &rt->dir.local[q];
		bool join;

		if (dsm_dir_trylock(&rt->dir, q))
			break;
		join = lacks(pq, need);
		if (join)
			__atomic_store_n(&pq->want, (uint8_t)need, __ATOMIC_RELAXED);
		dsm_dir_unlock(&rt->dir, q);
		if (!join)
			break;
		n++;
	}
	return n;
}

/*
 * The fault path.  Application thread, signal context: no malloc, no
 * stdio; blocking on the page's futex is allowed.  One request per page
 * per node: a thread that finds a request in flight waits for its grant.
 * The loop re-checks after every wake-up, because an invalidation may
 * overtake the faulting thread between its grant and its retry.
 */
static int seq_fault(struct dsm_rt *rt, size_t page, enum dsm_access access)
{
	struct dsm_page_local *pl = &rt->dir.local[page];
	int home = dsm_dir_home(&rt->dir, page);
	enum dsm_prot need;
	uint32_t seq;

	dsm_dir_lock(&rt->dir, page);
	if (access == DSM_ACCESS_UNKNOWN)	/* a fault on a readable page is a write */
		access = pl->prot >= DSM_PROT_READ ? DSM_ACCESS_WRITE : DSM_ACCESS_READ;
	need = access == DSM_ACCESS_WRITE ? DSM_PROT_RW : DSM_PROT_READ;
	if (need == DSM_PROT_RW)
		dsm_count(rt->counters.write_faults, 1);
	else
		dsm_count(rt->counters.read_faults, 1);

	while (pl->prot < need) {
		seq = pl->seq;
		if (!pl->want) {
			size_t n = 1, stride = 0;

			__atomic_store_n(&pl->want, (uint8_t)need, __ATOMIC_RELAXED);
			if (home != rt->self)
				n = plan_run_locked(rt, page, home, need, &stride);
			if (home == rt->self)
				home_request_locked(rt, page, rt->self, need);
			else	/* a single request has aux and arg1 0 */
				dsm_rt_send(rt, home, need == DSM_PROT_RW ? DSM_MSG_WRITE_REQ :
					    DSM_MSG_READ_REQ, n > 1 ? (uint32_t)n : 0, page,
					    n > 1 ? stride : 0, NULL, 0);
		}
		/* The grant comes from home: read it ourselves (service.c). */
		if (pl->seq == seq) {
			dsm_dir_unlock(&rt->dir, page);
			if (home == rt->self)
				dsm_wait_change(&pl->seq, seq, rt->spin_ns);
			else
				dsm_rt_wait_reply(rt, home, &pl->seq, seq, DSM_WAITER_FAULT);
			dsm_dir_lock(&rt->dir, page);
		}
	}
	/* The page is used now (the instruction restarts on return): others
	 * may take it back after a short grace. */
	if (pl->hold_until_ns > dsm_now_ns() + HOLD_GRACE_NS)
		__atomic_store_n(&pl->hold_until_ns, dsm_now_ns() + HOLD_GRACE_NS, __ATOMIC_RELAXED);
	dsm_dir_unlock(&rt->dir, page);
	return 0;
}

static size_t check_page(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h, bool at_home)
{
	size_t page = h->arg0;

	if (h->arg0 >= rt->dir.npages)
		dsm_rt_protocol_error(rt, src, "a page number beyond the heap", h->arg0);
	if (at_home != (dsm_dir_home(&rt->dir, page) == rt->self))
		dsm_rt_protocol_error(rt, src, at_home ? "a request for a page not homed here" :
				      "a page message from a node that is not its home", page);
	return page;
}

static void check_len(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h, bool may_be_empty)
{
	if (h->len != rt->heap.page_size && !(may_be_empty && h->len == 0))
		dsm_rt_protocol_error(rt, src, "a page message of the wrong length", h->len);
}

/* A received page: the transport placed it in the runtime's view (never
 * the application's: its view of this page is closed while it fills). */
static void store_page(struct dsm_rt *rt, int src, size_t page, const void *data)
{
	if (data != dsm_heap_rt_page(&rt->heap, page))
		dsm_rt_protocol_error(rt, src, "a page that was not sent as a page", page);
	dsm_count(rt->counters.pages_fetched, 1);
}

/*
 * Answer a recall or an invalidation, now or when it was deferred; for the
 * home's own deferred recall (src == this node), finish its part of the
 * transaction.  Page lock held.
 */
static void answer_locked(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	size_t page = h->arg0;
	struct dsm_dir_entry *e;

	if (src == rt->self) {
		e = dsm_dir_entry_locked(&rt->dir, page);
		local_recall_locked(rt, page, e, (enum dsm_prot)h->aux);
		if (--e->pending == 0)
			finish_locked(rt, page, e);
		return;
	}
	if (h->type == DSM_MSG_INV) {
		set_prot_locked(rt, page, DSM_PROT_NONE);
		dsm_count(rt->counters.invalidations, 1);
		dsm_rt_send(rt, src, DSM_MSG_INV_ACK, 0, page, 0, NULL, 0);
		return;
	}
	/*
	 * Close (or downgrade) the application's view before taking the
	 * snapshot: once mprotect returns, no thread of this node can store
	 * into the page, so the copy we send is final.
	 */
	set_prot_locked(rt, page, (enum dsm_prot)h->aux);
	if (h->aux == DSM_PROT_NONE)
		dsm_count(rt->counters.invalidations, 1);
	dsm_count(rt->counters.pages_sent, 1);
	dsm_rt_send_page(rt, src, DSM_MSG_RECALL_REPLY, 0, page, 0);
}

/* Answer now, or later if the page is held (and the list has room).
 * Page lock held. */
static void answer_or_defer_locked(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	if (!held(&rt->dir.local[h->arg0], dsm_now_ns()) || !defer_locked(rt, src, h))
		answer_locked(rt, src, h);
}

/*
 * Service thread: answer the deferred messages whose page is no longer
 * held.  Takes one item at a time out of the list (the list's lock is
 * never held while a page's lock is taken).  Returns when the next one is
 * due, or 0.
 */
static uint64_t seq_tick(struct dsm_rt *rt)
{
	struct dsm_deferred *d = &seq_deferred;
	uint64_t next = 0;

	if (!__atomic_load_n(&d->n, __ATOMIC_ACQUIRE))
		return 0;
	for (;;) {
		struct dsm_deferred_msg m;
		uint64_t now = dsm_now_ns();
		size_t i;

		pthread_mutex_lock(&d->lock);
		next = 0;
		for (i = 0; i < d->n; i++) {
			uint64_t until = __atomic_load_n(&rt->dir.local[d->v[i].hdr.arg0].hold_until_ns,
							 __ATOMIC_RELAXED);

			if (until <= now)
				break;
			if (!next || until < next)
				next = until;
		}
		if (i == d->n) {
			pthread_mutex_unlock(&d->lock);
			return next;
		}
		m = d->v[i];
		d->v[i] = d->v[d->n - 1];
		__atomic_store_n(&d->n, d->n - 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&d->lock);

		dsm_dir_lock(&rt->dir, m.hdr.arg0);
		/* A new grant may have renewed the hold meanwhile. */
		answer_or_defer_locked(rt, m.src, &m.hdr);
		dsm_dir_unlock(&rt->dir, m.hdr.arg0);
	}
}

/* Home: the entry of a page src asks for, which must not be asking for it
 * already.  Page lock held. */
static struct dsm_dir_entry *entry_of_request_locked(struct dsm_rt *rt, int src, size_t page)
{
	struct dsm_dir_entry *e = dsm_dir_entry_locked(&rt->dir, page);

	if ((e->wait_read | e->wait_write) & (1ull << src) || (e->busy && e->txn_node == src))
		dsm_rt_protocol_error(rt, src, "a second request for one page", page);
	return e;
}

/*
 * A run message: n pages (1 to SEQ_RUN_MAX, one payload of pages at
 * most), every stride-th from page, at the same-home stride and all with
 * the home of page.  Returns the stride.
 */
static size_t check_run(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h, size_t n)
{
	size_t page = h->arg0, stride = h->arg1;
	int home = dsm_dir_home(&rt->dir, page);

	if (n < 1 || n > SEQ_RUN_MAX || n * rt->heap.page_size > dsm_rt_max_payload(rt) ||
	    stride != same_home_stride(rt))
		dsm_rt_protocol_error(rt, src, "a run of pages too long or at a wrong stride", n);
	for (size_t i = 1; i < n; i++)
		if (!same_home(rt, page + i * stride, home))
			dsm_rt_protocol_error(rt, src, "a run of pages beyond its home's", page);
	return stride;
}

/* The places in a run that a set of them (an INV's or INV_ACK's aux)
 * spans: up to its last. */
static size_t run_span(struct dsm_rt *rt, int src, uint32_t set)
{
	if (!set || set >= 1u << SEQ_RUN_MAX)
		dsm_rt_protocol_error(rt, src, "a bad set of a run's pages", set);
	return 32 - (size_t)__builtin_clz(set);
}

/*
 * Home: a run's transaction has every answer: give src its pages in one
 * message, then start what waits on each.  A read run's READ_REPLY
 * carries every page's bytes (aux = m, arg1 = stride; one page: a
 * single reply); a write run's WRITE_GRANT those of the pages src holds
 * no valid copy of, of pages ever written (aux = m | which << 8).  No two
 * page locks are held at once.  Service thread.
 */
static void run_grant(struct dsm_rt *rt, struct seq_run *w)
{
	size_t ps = rt->heap.page_size, nd = 0;
	bool write = w->mode == DSM_PROT_RW;
	uint32_t with = 0;

	if (w->m == 1) {	/* a transaction as a single request's */
		struct dsm_dir_entry *e;

		dsm_dir_lock(&rt->dir, w->page);
		e = dsm_dir_entry_locked(&rt->dir, w->page);
		e->run = 0;
		w->m = 0;
		finish_locked(rt, w->page, e);
		dsm_dir_unlock(&rt->dir, w->page);
		return;
	}
	for (unsigned int i = 0; i < w->m; i++) {
		size_t q = w->page + i * w->stride;
		struct dsm_dir_entry *e;

		dsm_dir_lock(&rt->dir, q);
		e = dsm_dir_entry_locked(&rt->dir, q);
		/* Busy, so final: no node can write it, and the home's own
		 * view of it is closed or read-only.  A read run's reply
		 * carries every page. */
		if (grant_entry_locked(e, w->src, w->mode) || !write) {
			memcpy(seq_gather + nd * ps, dsm_heap_rt_page(&rt->heap, q), ps);
			with |= 1u << i;
			nd++;
		}
		dsm_dir_unlock(&rt->dir, q);
	}
	dsm_count(rt->counters.pages_sent, nd);
	if (write)
		dsm_rt_send(rt, w->src, DSM_MSG_WRITE_GRANT, w->m | with << 8, w->page, w->stride,
			    seq_gather, nd * ps);
	else
		dsm_rt_send(rt, w->src, DSM_MSG_READ_REPLY, w->m, w->page, w->stride, seq_gather,
			    nd * ps);
	/* After the grant: a waiter's recall or invalidation reaches src
	 * behind it. */
	for (unsigned int i = 0; i < w->m; i++) {
		size_t q = w->page + i * w->stride;
		struct dsm_dir_entry *e;

		dsm_dir_lock(&rt->dir, q);
		e = dsm_dir_entry_locked(&rt->dir, q);
		e->run = 0;
		serve_next_locked(rt, q, e);
		dsm_dir_unlock(&rt->dir, q);
	}
	w->m = 0;
}

/* Home: one page of run r has all its answers (its lock no longer
 * held).  Service thread. */
static void run_page_done(struct dsm_rt *rt, unsigned int r)
{
	struct seq_run *w = &seq_runs[r];

	if (--w->left == 0)
		run_grant(rt, w);
}

/*
 * Home: a request for n pages for mode, every stride-th from page (a run,
 * plan_run_locked).  The pages from the first on that no transaction
 * holds, that src does not own, and that the home does not hold as just
 * granted, become one transaction (a run slot): each busy for src.  What
 * the pages need is asked for at once, one message per node for all of
 * them: a RECALL to each node that owns some (aux = the protection to
 * keep | which pages, by place in the run, << 8), for a write an INV to
 * each node with copies of some (aux = which pages); the home's own
 * ownership and copies it gives up itself.  When the last answer is in,
 * run_grant.  Every page after that prefix starts a transaction of its
 * own, as a single request would; so does the whole run when no slot is
 * free.  Service thread.
 */
static void run_start(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
		      enum dsm_prot mode)
{
	size_t page = h->arg0, n = h->aux, stride = check_run(rt, src, h, n), m = 0;
	bool write = mode == DSM_PROT_RW;
	enum dsm_prot keep = write ? DSM_PROT_NONE : DSM_PROT_READ;
	uint64_t owners = 0, holders = 0;
	uint8_t recall[64] = { 0 }, inv[64] = { 0 };	/* per node: the run's pages */
	unsigned int r, left = 0;

	for (r = 0; r < SEQ_RUNS && seq_runs[r].m; r++)
		;
	for (; r < SEQ_RUNS && m < n; m++) {
		size_t q = page + m * stride;
		struct dsm_dir_entry *e;
		uint64_t others;

		dsm_dir_lock(&rt->dir, q);
		e = entry_of_request_locked(rt, src, q);
		if (e->busy || e->owner == src ||
		    (e->owner == rt->self && held(&rt->dir.local[q], dsm_now_ns()))) {
			dsm_dir_unlock(&rt->dir, q);
			break;
		}
		e->busy = 1;
		e->txn_node = (int16_t)src;
		e->txn_mode = (uint8_t)mode;
		e->pending = 0;
		e->run = (uint16_t)(r + 1);
		if (e->owner == rt->self) {	/* the home's own: its memory is current */
			local_recall_locked(rt, q, e, keep);
		} else if (e->owner >= 0) {
			recall[e->owner] |= (uint8_t)(1u << m);
			owners |= 1ull << e->owner;
			e->pending++;
		}
		others = write ? take_copies_locked(rt, q, e, src) : 0;
		holders |= others;
		for (int x = 0; others; x++, others >>= 1)
			if (others & 1)
				inv[x] |= (uint8_t)(1u << m);
		if (e->pending)
			left++;
		dsm_dir_unlock(&rt->dir, q);
	}
	if (m) {
		seq_runs[r] = (struct seq_run){ .page = page, .stride = stride, .src = src,
						.m = (unsigned int)m, .left = left, .mode = mode };
		for (int x = 0; owners; x++, owners >>= 1)
			if (owners & 1)
				dsm_rt_send(rt, x, DSM_MSG_RECALL, keep | (uint32_t)recall[x] << 8, page,
					    stride, NULL, 0);
		for (int x = 0; holders; x++, holders >>= 1)
			if (holders & 1)
				dsm_rt_send(rt, x, DSM_MSG_INV, inv[x], page, stride, NULL, 0);
		if (!left)
			run_grant(rt, &seq_runs[r]);
	}
	/* The rest: a transaction each, as single requests. */
	for (size_t i = m; i < n; i++) {
		size_t q = page + i * stride;

		dsm_dir_lock(&rt->dir, q);
		entry_of_request_locked(rt, src, q);	/* checks it */
		home_request_locked(rt, q, src, mode);
		dsm_dir_unlock(&rt->dir, q);
	}
}

/*
 * A run's grant (run_grant): n pages, every arg1-th from arg0, now
 * granted here for need; the bytes of those that with names come one after
 * the other in the payload, copied into place here (into the runtime's
 * view: the application's is closed, or read-only for an upgrade, while a
 * page is wanted).  A write grant's other pages are upgrades of valid
 * copies here, or pages never written (zero).  A read run's reply (aux =
 * n) carries every page; a write run's grant has aux = n | with << 8.
 * Any thread that may deliver a fault's grant.
 */
static void run_reply(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
		      const void *payload, enum dsm_prot need, size_t n, uint32_t with)
{
	size_t page = h->arg0, stride = check_run(rt, src, h, n), ps = rt->heap.page_size, nd = 0;

	if (with >= 1u << n || h->len != (size_t)__builtin_popcount(with) * ps)
		dsm_rt_protocol_error(rt, src, "a run's reply of a wrong size", h->len);
	for (size_t i = 0; i < n; i++) {
		size_t q = page + i * stride;
		struct dsm_page_local *pq = &rt->dir.local[q];

		dsm_dir_lock(&rt->dir, q);
		if (pq->want != need || pq->prot >= need)
			dsm_rt_protocol_error(rt, src, "a run's page not requested", q);
		if (with & 1u << i) {
			memcpy(dsm_heap_rt_page(&rt->heap, q), (const char *)payload + nd * ps, ps);
			dsm_count(rt->counters.pages_fetched, 1);
			nd++;
		}
		complete_locked(rt, q, need);
		/* Only the faulting thread's page (the first) is held: no
		 * thread waits for the others, and a hold would keep their
		 * next users waiting for nothing. */
		if (i > 0)
			__atomic_store_n(&pq->hold_until_ns, 0, __ATOMIC_RELAXED);
		dsm_dir_unlock(&rt->dir, q);
	}
}

/*
 * A write run's invalidation (run_start): drop the pages aux names, every
 * stride-th from arg0 by place, and acknowledge them in one INV_ACK of the
 * same form.  A page held here (just granted, not used yet) is answered
 * later on its own, as a single INV.  Service thread.
 */
static void inv_run(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	size_t page = h->arg0, stride = check_run(rt, src, h, run_span(rt, src, h->aux));
	uint32_t acked = 0;

	for (unsigned int i = 0; i < SEQ_RUN_MAX; i++) {
		size_t q = page + i * stride;
		struct dsm_wire_hdr one = { .type = DSM_MSG_INV, .arg0 = q };

		if (!(h->aux & 1u << i))
			continue;
		dsm_dir_lock(&rt->dir, q);
		if (held(&rt->dir.local[q], dsm_now_ns()) && defer_locked(rt, src, &one)) {
			dsm_dir_unlock(&rt->dir, q);
			continue;
		}
		set_prot_locked(rt, q, DSM_PROT_NONE);
		dsm_count(rt->counters.invalidations, 1);
		dsm_dir_unlock(&rt->dir, q);
		acked |= 1u << i;
	}
	if (acked)
		dsm_rt_send(rt, src, DSM_MSG_INV_ACK, acked, page, stride, NULL, 0);
}

/*
 * An owner: a run's recall (run_start): give back the pages aux >> 8
 * names, every arg1-th from arg0 by place, keeping aux & 0xff of each,
 * in one RECALL_REPLY of the same form with their bytes one after the
 * other.  A page held here (just granted, not used yet) is answered later
 * on its own, as a single RECALL.  Service thread.
 */
static void recall_run(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	uint32_t set = h->aux >> 8, answered = 0;
	size_t page = h->arg0, stride = check_run(rt, src, h, run_span(rt, src, set));
	size_t ps = rt->heap.page_size, nd = 0;
	enum dsm_prot keep = (enum dsm_prot)(h->aux & 0xff);

	for (unsigned int i = 0; i < SEQ_RUN_MAX; i++) {
		size_t q = page + i * stride;
		struct dsm_wire_hdr one = { .type = DSM_MSG_RECALL, .aux = keep, .arg0 = q };

		if (!(set & 1u << i))
			continue;
		dsm_dir_lock(&rt->dir, q);
		if (rt->dir.local[q].prot != DSM_PROT_RW)
			dsm_rt_protocol_error(rt, src, "a recall of a page this node does not own", q);
		if (held(&rt->dir.local[q], dsm_now_ns()) && defer_locked(rt, src, &one)) {
			dsm_dir_unlock(&rt->dir, q);
			continue;
		}
		/* Closed (or read-only) first: the bytes taken are final. */
		set_prot_locked(rt, q, keep);
		if (keep == DSM_PROT_NONE)
			dsm_count(rt->counters.invalidations, 1);
		memcpy(seq_gather + nd * ps, dsm_heap_rt_page(&rt->heap, q), ps);
		nd++;
		answered |= 1u << i;
		dsm_dir_unlock(&rt->dir, q);
	}
	if (answered) {
		dsm_count(rt->counters.pages_sent, nd);
		dsm_rt_send(rt, src, DSM_MSG_RECALL_REPLY, answered, page, stride, seq_gather,
			    nd * ps);
	}
}

/*
 * Home: an answer for page from src: its invalidation's acknowledgement,
 * or its recall's reply with the page's bytes (placed by the transport
 * when sent alone, at bytes when part of a run's reply).  Page lock held
 * on entry; on return it is released.  Service thread.
 */
static void answer_in_unlock(struct dsm_rt *rt, int src, size_t page,
			     const struct dsm_wire_hdr *h, const void *bytes)
{
	struct dsm_dir_entry *e = dsm_dir_entry_locked(&rt->dir, page);
	unsigned int run;
	bool done;

	if (!e->busy || e->pending <= 0)
		dsm_rt_protocol_error(rt, src, "an unexpected reply", page);
	if (h->type == DSM_MSG_RECALL_REPLY) {
		if (e->owner != src)
			dsm_rt_protocol_error(rt, src, "a recall reply from a non-owner", page);
		/* This node's view of the page is closed (another node
		 * owned it), so filling the memory is invisible here. */
		if (h->aux) {
			memcpy(dsm_heap_rt_page(&rt->heap, page), bytes, rt->heap.page_size);
			dsm_count(rt->counters.pages_fetched, 1);
		} else {
			store_page(rt, src, page, bytes);
		}
		e->owner = -1;
		if (e->txn_mode == DSM_PROT_RW)
			e->copyset &= ~(1ull << src);
		else
			e->copyset |= 1ull << src;
	} else {
		e->copyset &= ~(1ull << src);
	}
	run = e->run;
	done = --e->pending == 0;
	if (done && !run)
		finish_locked(rt, page, e);
	dsm_dir_unlock(&rt->dir, page);
	if (done && run)
		run_page_done(rt, run - 1);
}

/* Service thread. */
static void seq_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			   const void *payload)
{
	struct dsm_page_local *pl;
	size_t page;

	switch (h->type) {
	case DSM_MSG_READ_REQ:
	case DSM_MSG_WRITE_REQ:
		page = check_page(rt, src, h, true);
		if (h->aux > 1) {
			run_start(rt, src, h, h->type == DSM_MSG_WRITE_REQ ? DSM_PROT_RW :
					      DSM_PROT_READ);
			break;
		}
		dsm_dir_lock(&rt->dir, page);
		entry_of_request_locked(rt, src, page);	/* checks it */
		home_request_locked(rt, page, src,
				    h->type == DSM_MSG_WRITE_REQ ? DSM_PROT_RW : DSM_PROT_READ);
		dsm_dir_unlock(&rt->dir, page);
		break;

	case DSM_MSG_RECALL:
		page = check_page(rt, src, h, false);
		if ((h->aux & 0xff) != DSM_PROT_NONE && (h->aux & 0xff) != DSM_PROT_READ)
			dsm_rt_protocol_error(rt, src, "a recall with a bad protection", h->aux);
		if (h->aux >> 8) {
			recall_run(rt, src, h);
			break;
		}
		dsm_dir_lock(&rt->dir, page);
		if (rt->dir.local[page].prot != DSM_PROT_RW)
			dsm_rt_protocol_error(rt, src, "a recall of a page this node does not own", page);
		answer_or_defer_locked(rt, src, h);
		dsm_dir_unlock(&rt->dir, page);
		break;

	case DSM_MSG_INV:
		page = check_page(rt, src, h, false);
		if (h->aux) {
			inv_run(rt, src, h);
			break;
		}
		dsm_dir_lock(&rt->dir, page);
		answer_or_defer_locked(rt, src, h);
		dsm_dir_unlock(&rt->dir, page);
		break;

	case DSM_MSG_RECALL_REPLY:
	case DSM_MSG_INV_ACK:
		page = check_page(rt, src, h, true);
		if (h->aux) {	/* of a run's pages (inv_run, recall_run) */
			size_t stride = check_run(rt, src, h, run_span(rt, src, h->aux));
			size_t ps = rt->heap.page_size, nd = 0;

			if (h->type == DSM_MSG_RECALL_REPLY &&
			    h->len != (size_t)__builtin_popcount(h->aux) * ps)
				dsm_rt_protocol_error(rt, src, "a run's recall reply of a wrong size",
						      h->len);
			for (unsigned int i = 0; i < SEQ_RUN_MAX; i++) {
				const char *bytes = NULL;

				if (!(h->aux & 1u << i))
					continue;
				if (h->type == DSM_MSG_RECALL_REPLY)
					bytes = (const char *)payload + nd++ * ps;
				dsm_dir_lock(&rt->dir, page + i * stride);
				answer_in_unlock(rt, src, page + i * stride, h, bytes);
			}
			break;
		}
		if (h->type == DSM_MSG_RECALL_REPLY)
			check_len(rt, src, h, false);
		dsm_dir_lock(&rt->dir, page);
		answer_in_unlock(rt, src, page, h, payload);
		break;

	case DSM_MSG_READ_REPLY:
	case DSM_MSG_WRITE_GRANT:
		page = check_page(rt, src, h, false);
		if (h->type == DSM_MSG_READ_REPLY && h->aux > 1) {
			run_reply(rt, src, h, payload, DSM_PROT_READ, h->aux,
				  h->aux < 32 ? (1u << h->aux) - 1 : UINT32_MAX);
			break;
		}
		if (h->type == DSM_MSG_WRITE_GRANT && h->aux) {
			run_reply(rt, src, h, payload, DSM_PROT_RW, h->aux & 0xff, h->aux >> 8);
			break;
		}
		check_len(rt, src, h, true);
		dsm_dir_lock(&rt->dir, page);
		pl = &rt->dir.local[page];
		if (!pl->want)
			dsm_rt_protocol_error(rt, src, "a grant for a page not requested", page);
		if (h->len)
			store_page(rt, src, page, payload);
		complete_locked(rt, page, h->type == DSM_MSG_WRITE_GRANT ? DSM_PROT_RW : DSM_PROT_READ);
		dsm_dir_unlock(&rt->dir, page);
		break;

	default:
		dsm_rt_protocol_error(rt, src, "a message type sequential consistency does not use",
				      h->type);
	}
}

static int seq_init(struct dsm_rt *rt)
{
	struct dsm_deferred *d = &seq_deferred;

	/* The grants a faulting thread waits for, which it may deliver itself
	 * (dsm_rt_wait_reply): page locks and signal-safe calls only. */
	dsm_msg_fault_safe(rt, DSM_MSG_READ_REPLY);
	dsm_msg_fault_safe(rt, DSM_MSG_WRITE_GRANT);
	d->n = 0;
	pthread_mutex_init(&d->lock, NULL);
	d->v = calloc(DEFERRED_CAP, sizeof(*d->v));
	if (!d->v)
		return -ENOMEM;
	d->cap = DEFERRED_CAP;
	memset(seq_runs, 0, sizeof(seq_runs));
	seq_gather = malloc(SEQ_RUN_MAX * rt->heap.page_size);
	seq_granted_len = rt->dir.npages * sizeof(*seq_granted_in);
	seq_granted_in = mmap(NULL, seq_granted_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (seq_granted_in == MAP_FAILED)
		seq_granted_in = NULL;
	seq_epoch = 0;
	if (!seq_gather || !seq_granted_in)
		return -ENOMEM;
	return 0;
}

static void seq_fini(struct dsm_rt *rt)
{
	(void)rt;
	free(seq_deferred.v);
	seq_deferred.v = NULL;
	free(seq_gather);
	seq_gather = NULL;
	if (seq_granted_in)
		munmap(seq_granted_in, seq_granted_len);
	seq_granted_in = NULL;
	seq_deferred.n = seq_deferred.cap = 0;
}

/*
 * Every access is already globally ordered by the page protocol, so a
 * synchronization point only has to order this thread's own accesses; no
 * write notices (every write invalidated the other copies already).
 */
static void seq_acquire(struct dsm_rt *rt, const struct dsm_notice *unseen, size_t n, bool all)
{
	(void)rt;
	(void)unseen;
	(void)n;
	(void)all;
	__atomic_add_fetch(&seq_epoch, 1, __ATOMIC_RELAXED);	/* read runs' evidence ages */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void seq_release(struct dsm_rt *rt, const uint32_t **written, size_t *n)
{
	(void)rt;
	*written = NULL;
	*n = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Sequential consistency always uses the fixed home map. */
static int seq_home_of(struct dsm_rt *rt, size_t page)
{
	return dsm_dir_home(&rt->dir, page);
}

/*
 * Checkpoints (protocol.h).  The current bytes of a page are at its owner
 * when a node holds it exclusively: the home takes it back as a reader
 * would (the owner keeps a read copy), so that the home's memory is the
 * one to save.  The owners answer from their service threads.
 */
static int seq_ckpt_gather(struct dsm_rt *rt)
{
	for (size_t page = 0; page < rt->dir.npages; page++) {
		int owner;

		if (dsm_dir_home(&rt->dir, page) != rt->self)
			continue;
		dsm_dir_lock(&rt->dir, page);
		owner = dsm_dir_entry_locked(&rt->dir, page)->owner;
		dsm_dir_unlock(&rt->dir, page);
		if (owner >= 0 && owner != rt->self)
			seq_fault(rt, page, DSM_ACCESS_READ);
	}
	return 0;
}

static bool seq_ckpt_saves(struct dsm_rt *rt, size_t page)
{
	bool saves;

	if (dsm_dir_home(&rt->dir, page) != rt->self)
		return false;
	dsm_dir_lock(&rt->dir, page);
	saves = dsm_dir_entry_locked(&rt->dir, page)->version > 0;
	dsm_dir_unlock(&rt->dir, page);
	return saves;
}

static void seq_ckpt_reset(struct dsm_rt *rt)
{
	dsm_protocol_reset_pages(rt);
	pthread_mutex_lock(&seq_deferred.lock);
	seq_deferred.n = 0;		/* no transaction is left to answer */
	pthread_mutex_unlock(&seq_deferred.lock);
	memset(seq_runs, 0, sizeof(seq_runs));
}

/* Written once: its first grant carries the bytes. */
static void seq_ckpt_restored(struct dsm_rt *rt, size_t page)
{
	dsm_dir_lock(&rt->dir, page);
	dsm_dir_entry_locked(&rt->dir, page)->version = 1;
	dsm_dir_unlock(&rt->dir, page);
}

const struct dsm_protocol_ops dsm_sequential_ops = {
	.name       = "sequential",
	.model      = DSM_SEQUENTIAL,
	.init       = seq_init,
	.fini       = seq_fini,
	.fault      = seq_fault,
	.on_message = seq_on_message,
	.acquire    = seq_acquire,
	.release    = seq_release,
	.tick       = seq_tick,
	.home_of    = seq_home_of,
	.ckpt_gather   = seq_ckpt_gather,
	.ckpt_saves    = seq_ckpt_saves,
	.ckpt_reset    = seq_ckpt_reset,
	.ckpt_restored = seq_ckpt_restored,
};
