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
 * Read runs: a node that reads its way through a home's pages asks for
 * them up to SEQ_RUN_MAX at a time (plan_read_run_locked), and the home
 * grants at once, in one reply, those it can (read_run); the others get
 * transactions of their own.
 */
#define SEQ_RUN_MAX 8

/* The home's copies of a run's pages, gathered for one reply (service
 * thread only). */
static char *seq_gather;

/* Per page: the stamp of the epoch its last read-only copy arrived in
 * (sweep.h); epochs count acquires (seq_acquire).  Atomic: read as hints.
 * Reserved, committed where touched. */
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
	if (prot == DSM_PROT_READ)
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

static void finish_locked(struct dsm_rt *rt, size_t page, struct dsm_dir_entry *e)
{
	int node = e->txn_node, next;
	uint64_t bit = 1ull << node;
	bool write;

	/*
	 * Every store reaches a page through a write grant, so a page never
	 * granted for writing (version 0) is still zero in every node's
	 * memory: its first grant needs no data.
	 */
	bool written = e->version > 0;

	if (e->txn_mode == DSM_PROT_RW) {
		/* A requester still in the copyset holds valid data: an
		 * upgrade needs no page. */
		bool with_data = written && !(e->copyset & bit);

		e->copyset = bit;
		e->owner = (int16_t)node;
		e->version++;
		grant_locked(rt, page, node, DSM_PROT_RW, with_data);
	} else {
		e->copyset |= bit;
		grant_locked(rt, page, node, DSM_PROT_READ, written);
	}
	e->busy = 0;
	if (dsm_dir_next_waiter_locked(&rt->dir, e, &next, &write))
		start_locked(rt, page, e, next, write ? DSM_PROT_RW : DSM_PROT_READ);
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
		uint64_t others = e->copyset & ~(1ull << node);

		if (e->owner >= 0)	/* being recalled: handled above */
			others &= ~(1ull << e->owner);
		for (int n = 0; others; n++, others >>= 1) {
			if (!(others & 1))
				continue;
			if (n == rt->self) {
				set_prot_locked(rt, page, DSM_PROT_NONE);
				e->copyset &= ~(1ull << n);
				dsm_count(rt->counters.invalidations, 1);
			} else {
				dsm_rt_send(rt, n, DSM_MSG_INV, 0, page, 0, NULL, 0);
				e->pending++;
			}
		}
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
static bool read_copy(struct dsm_rt *rt, size_t q, int home)
{
	return same_home(rt, q, home) &&
	       __atomic_load_n(&rt->dir.local[q].prot, __ATOMIC_RELAXED) == DSM_PROT_READ &&
	       dsm_sweep_age(__atomic_load_n(&seq_granted_in[q], __ATOMIC_RELAXED),
			     __atomic_load_n(&seq_epoch, __ATOMIC_RELAXED)) <= 1;
}

/* Still to come: home's page, with no copy here and none asked for. */
static bool missing(struct dsm_rt *rt, size_t q, int home)
{
	const struct dsm_page_local *pq = &rt->dir.local[q];

	return same_home(rt, q, home) &&
	       __atomic_load_n(&pq->prot, __ATOMIC_RELAXED) == DSM_PROT_NONE &&
	       !__atomic_load_n(&pq->want, __ATOMIC_RELAXED);
}

/*
 * A read sweep through a home's pages: the k pages before page at the
 * same-home stride are read-only copies here (read_copy), and the next one
 * is missing.  Then the next missing pages at that stride join this
 * request, up to k pages in all and SEQ_RUN_MAX (runs grow 1, 1, 2, 4, 8
 * along a sweep, and a short read fetches nothing it did not touch, as
 * under release consistency).  The joining pages are marked wanted; their
 * locks are only tried (page's is held).  Returns how many pages, page
 * included; *stride their stride.  Page lock held; fault path.
 */
static size_t plan_read_run_locked(struct dsm_rt *rt, size_t page, int home, size_t *stride)
{
	size_t s = same_home_stride(rt), k, n = 1, cap = SEQ_RUN_MAX;

	*stride = s;
	if (!s)
		return 1;
	if (cap * rt->heap.page_size > dsm_rt_max_payload(rt))
		cap = dsm_rt_max_payload(rt) / rt->heap.page_size;
	k = dsm_sweep_row(rt, rt->dir.npages, page, s, cap, read_copy, missing, home);
	while (n < k && same_home(rt, page + n * s, home)) {
		size_t q = page + n * s;
		struct dsm_page_local *pq = &rt->dir.local[q];
		bool join;

		if (dsm_dir_trylock(&rt->dir, q))
			break;
		join = pq->prot == DSM_PROT_NONE && !pq->want;
		if (join)
			__atomic_store_n(&pq->want, DSM_PROT_READ, __ATOMIC_RELAXED);
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
			if (home != rt->self && need == DSM_PROT_READ)
				n = plan_read_run_locked(rt, page, home, &stride);
			if (home == rt->self)
				home_request_locked(rt, page, rt->self, need);
			else if (n > 1)
				dsm_rt_send(rt, home, DSM_MSG_READ_REQ, (uint32_t)n, page, stride,
					    NULL, 0);
			else
				dsm_rt_send(rt, home, need == DSM_PROT_RW ? DSM_MSG_WRITE_REQ :
					    DSM_MSG_READ_REQ, 0, page, 0, NULL, 0);
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
 * Home: a read request for n pages, every stride-th from page (a run,
 * plan_read_run_locked).  The pages that no other node owns (the home
 * takes back its own, as start_locked would, unless it is holding one it
 * was just granted) and no transaction holds, from the first on, are
 * granted at once: src joins their copysets
 * and one READ_REPLY brings their bytes.  Their locks are held until that
 * reply is sent (the first taken, the others only tried), so that nothing
 * that would invalidate them (the home's own write fault) can send its
 * INV ahead of the reply.  Every page after the first that cannot be
 * granted so starts a transaction of its own, as a single request would.
 * Service thread.
 */
static void read_run(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h)
{
	size_t page = h->arg0, n = h->aux, stride = h->arg1, ps = rt->heap.page_size, m;
	uint64_t bit = 1ull << src;

	if (n > SEQ_RUN_MAX || n * ps > dsm_rt_max_payload(rt) || stride != same_home_stride(rt))
		dsm_rt_protocol_error(rt, src, "a run of pages too long or at a wrong stride", n);
	for (size_t i = 1; i < n; i++)
		if (!same_home(rt, page + i * stride, rt->self))
			dsm_rt_protocol_error(rt, src, "a run of pages not all homed here", page);
	/* The prefix granted at once: locked until its reply is sent. */
	for (m = 0; m < n; m++) {
		size_t q = page + m * stride;
		struct dsm_dir_entry *e;

		if (m == 0)
			dsm_dir_lock(&rt->dir, q);
		else if (dsm_dir_trylock(&rt->dir, q))
			break;
		e = entry_of_request_locked(rt, src, q);
		if (e->busy || (e->owner >= 0 && (e->owner != rt->self ||
						   held(&rt->dir.local[q], dsm_now_ns())))) {
			dsm_dir_unlock(&rt->dir, q);
			break;
		}
		if (e->owner == rt->self)	/* the home's own: its memory is current */
			local_recall_locked(rt, q, e, DSM_PROT_READ);
		e->copyset |= bit;
	}
	if (m == 1) {		/* a reply as to a single request */
		dsm_count(rt->counters.pages_sent, 1);
		dsm_rt_send_page(rt, src, DSM_MSG_READ_REPLY, 0, page, 0);
		dsm_dir_unlock(&rt->dir, page);
	} else if (m) {
		for (size_t i = 0; i < m; i++)	/* locked: the copies are final */
			memcpy(seq_gather + i * ps, dsm_heap_rt_page(&rt->heap, page + i * stride), ps);
		dsm_count(rt->counters.pages_sent, m);
		dsm_rt_send(rt, src, DSM_MSG_READ_REPLY, (uint32_t)m, page, stride, seq_gather,
			    m * ps);
		for (size_t i = 0; i < m; i++)
			dsm_dir_unlock(&rt->dir, page + i * stride);
	}
	/* The rest: a transaction each, as single requests. */
	for (size_t i = m; i < n; i++) {
		size_t q = page + i * stride;

		dsm_dir_lock(&rt->dir, q);
		entry_of_request_locked(rt, src, q);	/* checks it */
		home_request_locked(rt, q, src, DSM_PROT_READ);
		dsm_dir_unlock(&rt->dir, q);
	}
}

/*
 * A run's reply (read_run): aux pages, every arg1-th from arg0, their
 * bytes one after the other in the payload, copied into place here (into
 * the runtime's view: the application's is closed while a page is
 * wanted).  Any thread that may deliver a fault's grant.
 */
static void read_run_reply(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			   const void *payload)
{
	size_t page = h->arg0, n = h->aux, stride = h->arg1, ps = rt->heap.page_size;
	int home = dsm_dir_home(&rt->dir, page);

	if (n > SEQ_RUN_MAX || stride != same_home_stride(rt) || h->len != n * ps)
		dsm_rt_protocol_error(rt, src, "a run's reply of a wrong size or stride", n);
	for (size_t i = 0; i < n; i++) {
		size_t q = page + i * stride;
		struct dsm_page_local *pq = &rt->dir.local[q];

		if (!same_home(rt, q, home))
			dsm_rt_protocol_error(rt, src, "a run's reply beyond its home's pages", q);
		dsm_dir_lock(&rt->dir, q);
		if (pq->want != DSM_PROT_READ || pq->prot != DSM_PROT_NONE)
			dsm_rt_protocol_error(rt, src, "a run's page not requested", q);
		memcpy(dsm_heap_rt_page(&rt->heap, q), (const char *)payload + i * ps, ps);
		dsm_count(rt->counters.pages_fetched, 1);
		complete_locked(rt, q, DSM_PROT_READ);
		/* Only the faulting thread's page (the first) is held: no
		 * thread waits for the others, and a hold would keep their
		 * writers waiting for nothing. */
		if (i > 0)
			__atomic_store_n(&pq->hold_until_ns, 0, __ATOMIC_RELAXED);
		dsm_dir_unlock(&rt->dir, q);
	}
}

/* Service thread. */
static void seq_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			   const void *payload)
{
	struct dsm_page_local *pl;
	struct dsm_dir_entry *e;
	size_t page;

	switch (h->type) {
	case DSM_MSG_READ_REQ:
	case DSM_MSG_WRITE_REQ:
		page = check_page(rt, src, h, true);
		if (h->type == DSM_MSG_READ_REQ && h->aux > 1) {
			read_run(rt, src, h);
			break;
		}
		dsm_dir_lock(&rt->dir, page);
		e = entry_of_request_locked(rt, src, page);
		home_request_locked(rt, page, src,
				    h->type == DSM_MSG_WRITE_REQ ? DSM_PROT_RW : DSM_PROT_READ);
		dsm_dir_unlock(&rt->dir, page);
		break;

	case DSM_MSG_RECALL:
		page = check_page(rt, src, h, false);
		if (h->aux != DSM_PROT_NONE && h->aux != DSM_PROT_READ)
			dsm_rt_protocol_error(rt, src, "a recall with a bad protection", h->aux);
		dsm_dir_lock(&rt->dir, page);
		if (rt->dir.local[page].prot != DSM_PROT_RW)
			dsm_rt_protocol_error(rt, src, "a recall of a page this node does not own", page);
		answer_or_defer_locked(rt, src, h);
		dsm_dir_unlock(&rt->dir, page);
		break;

	case DSM_MSG_INV:
		page = check_page(rt, src, h, false);
		dsm_dir_lock(&rt->dir, page);
		answer_or_defer_locked(rt, src, h);
		dsm_dir_unlock(&rt->dir, page);
		break;

	case DSM_MSG_RECALL_REPLY:
	case DSM_MSG_INV_ACK:
		page = check_page(rt, src, h, true);
		if (h->type == DSM_MSG_RECALL_REPLY)
			check_len(rt, src, h, false);
		dsm_dir_lock(&rt->dir, page);
		e = dsm_dir_entry_locked(&rt->dir, page);
		if (!e->busy || e->pending <= 0)
			dsm_rt_protocol_error(rt, src, "an unexpected reply", page);
		if (h->type == DSM_MSG_RECALL_REPLY) {
			if (e->owner != src)
				dsm_rt_protocol_error(rt, src, "a recall reply from a non-owner", page);
			/* This node's view of the page is closed (another node
			 * owned it), so filling the memory is invisible here. */
			store_page(rt, src, page, payload);
			e->owner = -1;
			if (e->txn_mode == DSM_PROT_RW)
				e->copyset &= ~(1ull << src);
			else
				e->copyset |= 1ull << src;
		} else {
			e->copyset &= ~(1ull << src);
		}
		if (--e->pending == 0)
			finish_locked(rt, page, e);
		dsm_dir_unlock(&rt->dir, page);
		break;

	case DSM_MSG_READ_REPLY:
	case DSM_MSG_WRITE_GRANT:
		page = check_page(rt, src, h, false);
		if (h->type == DSM_MSG_READ_REPLY && h->aux > 1) {
			read_run_reply(rt, src, h, payload);
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
