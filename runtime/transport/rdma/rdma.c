/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma.c - the RDMA transport's data path (librdmacm + verbs): SEND/RECV
 * with credits for messages, RDMA WRITE + SEND for pages, and the service
 * thread's progress loop, which polls the completion queues before it arms
 * the completion channel and sleeps (rdma.h says how the pieces fit).
 *
 * What is one-sided: the page of send_page (an RDMA WRITE into the
 * peer's registered heap view, at the page's own offset), and read_page
 * (an RDMA READ of the peer's copy, whose caller says when that is safe:
 * relaxed.c, fetch_locked).  What orders a WRITE against the peer's use
 * of that memory: the SEND of the page's header that follows on the same QP; the peer's protocol looks at the page only
 * once that header is delivered, exactly as with TCP, which receives the
 * page into place just before it delivers the header.  The page is read
 * by the adapter after send_page returns: the protocols send a page that
 * no local writer changes until the peer has answered (a home's copy under
 * release is the exception the relaxed protocol already allows with TCP:
 * bytes written concurrently by the home are as new or newer, and their
 * write notice follows).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/log.h"
#include "runtime/transport/rdma/rdma.h"

#define ENT_ALIGN 64u
#define RING_MIN (256u << 10)
#define CLOSE_FLUSH_MS 2000
#define POLL_BATCH 32
#define CQ_ACK_BATCH 64

enum { TAG_WAKE, TAG_CM, TAG_CQ };

/* Work request ids: what completed, for which peer, and (sends) where
 * its ring entry ends. */
enum { WR_RECV = 1, WR_SEND, WR_CREDIT, WR_WRITE, WR_READ };

/* rdma_read.state */
enum { READ_FREE, READ_POSTED, READ_DONE };
#define WR_VAL_BITS 52
#define WR_VAL_MASK ((1ull << WR_VAL_BITS) - 1)

static uint64_t wr_id(int kind, int peer, uint64_t val)
{
	return (uint64_t)kind << 60 | (uint64_t)peer << WR_VAL_BITS | (val & WR_VAL_MASK);
}

static int wr_kind(uint64_t id) { return (int)(id >> 60); }
static int wr_peer(uint64_t id) { return (int)((id >> WR_VAL_BITS) & 0xff); }
static uint64_t wr_val(uint64_t id) { return id & WR_VAL_MASK; }

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* ---------- resources ---------- */

int dsm_rdma_setup_verbs(struct dsm_rdma *r)
{
	int peers = r->tp.nnodes - 1, depth;
	size_t ring, per;
	struct ibv_device_attr da;

	r->rx_size = align_up(sizeof(struct dsm_wire_hdr) + r->tp.params.max_payload, ENT_ALIGN);
	depth = (int)(RX_BYTES_PER_PEER / r->rx_size);
	depth = depth > RX_DEPTH_MAX ? RX_DEPTH_MAX : depth < RX_DEPTH_MIN ? RX_DEPTH_MIN : depth;
	r->rx_depth = depth;
	ring = align_up(sizeof(struct rdma_ent) + r->rx_size, ENT_ALIGN) * 4;
	ring = align_up(ring > RING_MIN ? ring : RING_MIN, 4096);
	per = ring + (size_t)depth * r->rx_size;
	r->bufs_len = per * (size_t)(peers > 0 ? peers : 1);
	r->bufs = aligned_alloc(4096, r->bufs_len);
	r->pd = ibv_alloc_pd(r->verbs);
	r->comp_ch = ibv_create_comp_channel(r->verbs);
	if (!r->bufs || !r->pd || !r->comp_ch) {
		dsm_err("rdma: cannot allocate %zu bytes of buffers or a protection domain on %s: %s",
			r->bufs_len, r->devname, strerror(errno));
		return -ENOMEM;
	}
	fcntl(r->comp_ch->fd, F_SETFL, fcntl(r->comp_ch->fd, F_GETFL) | O_NONBLOCK);
	r->buf_mr = ibv_reg_mr(r->pd, r->bufs, r->bufs_len, IBV_ACCESS_LOCAL_WRITE);
	/* Each QP: depth receives; at most depth SENDs (credits), as many
	 * WRITEs before them and READ_SLOTS READs in flight. */
	r->cq_size = peers * (2 * depth + READ_SLOTS + 8) + 16;
	r->rd_depth = 1;
	if (ibv_query_device(r->verbs, &da) == 0) {
		if (r->cq_size > da.max_cqe)
			r->cq_size = da.max_cqe;
		if (da.max_qp_rd_atom > 0)
			r->rd_depth = (uint8_t)(da.max_qp_rd_atom < 4 ? da.max_qp_rd_atom : 4);
	}
	r->scq = ibv_create_cq(r->verbs, r->cq_size, r, r->comp_ch, 0);
	r->rcq = ibv_create_cq(r->verbs, r->cq_size, r, r->comp_ch, 0);
	if (!r->buf_mr || !r->scq || !r->rcq) {
		dsm_err("rdma: cannot register buffers or create completion queues of %d entries on "
			"%s: %s", r->cq_size, r->devname, strerror(errno));
		return -ENOMEM;
	}
	for (int i = 0, k = 0; i < r->tp.nnodes; i++) {
		struct rdma_conn *c = &r->conns[i];

		if (i == r->tp.self)
			continue;
		c->ring = r->bufs + (size_t)k * per;
		c->ring_cap = ring;
		c->rx = c->ring + ring;
		k++;
	}
	return 0;
}

static int post_recv(struct dsm_rdma *r, struct rdma_conn *c, int idx)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(c->rx + (size_t)idx * r->rx_size),
		.length = (uint32_t)r->rx_size,
		.lkey = r->buf_mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = wr_id(WR_RECV, c->peer, (uint64_t)idx),
				  .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(c->qp, &wr, &bad);
}

int dsm_rdma_create_qp(struct dsm_rdma *r, struct rdma_conn *c)
{
	struct ibv_qp_init_attr qa = {
		.send_cq = r->scq,
		.recv_cq = r->rcq,
		.qp_type = IBV_QPT_RC,
		.cap = {
			.max_send_wr = (uint32_t)(2 * r->rx_depth + READ_SLOTS + 8),
			.max_recv_wr = (uint32_t)r->rx_depth,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
	};

	if (rdma_create_qp(c->id, r->pd, &qa)) {
		dsm_err("rdma: cannot create a queue pair for node %d on %s: %s", c->peer, r->devname,
			strerror(errno));
		return -errno;
	}
	c->qp = c->id->qp;
	for (int i = 0; i < r->rx_depth; i++) {
		if (post_recv(r, c, i)) {
			dsm_err("rdma: cannot post receive buffers for node %d: %s", c->peer,
				strerror(errno));
			return -EIO;
		}
	}
	c->credits = r->rx_depth;
	return 0;
}

/* ---------- sending ---------- */

/*
 * Post one ring entry (c->lock held, a credit in hand): the page's WRITE
 * first where there is one, then the SEND of the frame, which carries back
 * the credits we owe in its immediate data.
 */
static int post_entry(struct dsm_rdma *r, struct rdma_conn *c, struct rdma_ent *e, uint64_t end)
{
	struct ibv_sge page_sge, sge = {
		.addr = (uintptr_t)(e + 1), .length = e->bytes, .lkey = r->buf_mr->lkey,
	};
	struct ibv_send_wr write = { 0 }, send = {
		.wr_id = wr_id(WR_SEND, c->peer, end),
		.sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND_WITH_IMM,
		.send_flags = IBV_SEND_SIGNALED,
		.imm_data = htonl(c->to_return),
	}, *first = &send, *bad;

	if (e->kind == ENT_PAGE) {
		page_sge = (struct ibv_sge){
			.addr = (uintptr_t)(r->tp.mem_base + e->page_off),
			.length = e->page_len, .lkey = r->heap_mr->lkey,
		};
		write.wr_id = wr_id(WR_WRITE, c->peer, 0);
		write.sg_list = &page_sge;
		write.num_sge = 1;
		write.opcode = IBV_WR_RDMA_WRITE;
		write.wr.rdma.remote_addr = c->peer_base + e->page_off;
		write.wr.rdma.rkey = c->peer_rkey;
		write.next = &send;
		first = &write;
	}
	if (ibv_post_send(c->qp, first, &bad))
		return -DSM_EPEERLOST;	/* the QP is in error: completions say why */
	c->to_return = 0;
	c->credits--;
	return 0;
}

/* A SEND of no bytes: only the credits we owe (c->lock held). */
static void post_credits(struct rdma_conn *c)
{
	struct ibv_send_wr wr = {
		.wr_id = wr_id(WR_CREDIT, c->peer, 0),
		.opcode = IBV_WR_SEND_WITH_IMM,
		.send_flags = IBV_SEND_SIGNALED,
		.imm_data = htonl(c->to_return),
	}, *bad;

	if (ibv_post_send(c->qp, &wr, &bad) == 0) {
		c->to_return = 0;
		c->credits--;
	}
}

/*
 * Room for size bytes at the ring's head (c->lock held), or NULL.  An
 * entry never wraps: the rest of the ring's end becomes a skip entry.
 */
static struct rdma_ent *ring_reserve(struct rdma_conn *c, size_t size)
{
	size_t pos = c->head % c->ring_cap, room = c->ring_cap - pos;
	uint64_t used = c->head - c->tail;
	struct rdma_ent *e;

	if (room < size) {
		if (used + room + size > c->ring_cap)
			return NULL;
		e = (struct rdma_ent *)(c->ring + pos);
		*e = (struct rdma_ent){ .size = (uint32_t)room, .kind = ENT_SKIP };
		c->head += room;
		pos = 0;
	} else if (used + size > c->ring_cap) {
		return NULL;
	}
	e = (struct rdma_ent *)(c->ring + pos);
	c->head += size;
	return e;
}

/*
 * Post what waits, in order, while credits last; one credit always stays
 * for a credit-only message, so that two nodes that both wait for credits
 * can always tell each other.  service: the caller may free (moves frames
 * that found the ring full into it).  c->lock held.
 */
static void post_ready(struct dsm_rdma *r, struct rdma_conn *c, bool service)
{
	while (service && c->ovf_head) {
		struct rdma_overflow *o = c->ovf_head;
		struct rdma_ent *e = ring_reserve(c, o->ent.size);

		if (!e)
			break;
		memcpy(e, &o->ent, o->ent.size);
		c->ovf_head = o->next;
		if (!c->ovf_head)
			c->ovf_tail = NULL;
		free(o);
	}
	while (c->posted < c->head && !c->closed) {
		struct rdma_ent *e = (struct rdma_ent *)(c->ring + c->posted % c->ring_cap);

		if (e->kind != ENT_SKIP) {
			if (c->credits < 2 || post_entry(r, c, e, c->posted + e->size) < 0)
				break;
		}
		c->posted += e->size;
	}
	if (c->to_return >= (uint32_t)r->rx_depth / 4 && c->credits >= 1 && !c->closed)
		post_credits(c);
}

/*
 * Queue one frame (iov[0] its wire header, filled here) to node and post
 * it if credits allow.  Any thread, signal context included: the frame
 * is copied into the ring, registered at open; only when a peer has
 * stopped taking messages and the ring is full does it go to the heap.
 */
static int enqueue(struct dsm_rdma *r, int node, int kind, const struct iovec *iov, int iovcnt,
		   uint64_t page_off, uint32_t page_len, size_t count_bytes)
{
	struct rdma_conn *c = &r->conns[node];
	size_t bytes = 0, size;
	struct rdma_ent *e;
	char *p;

	for (int i = 0; i < iovcnt; i++)
		bytes += iov[i].iov_len;
	size = align_up(sizeof(*e) + bytes, ENT_ALIGN);
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		return -DSM_EPEERLOST;
	}
	e = c->ovf_head ? NULL : ring_reserve(c, size);
	if (!e) {
		struct rdma_overflow *o = malloc(sizeof(*o) - sizeof(o->ent) + size);

		if (!o) {
			pthread_mutex_unlock(&c->lock);
			return -ENOMEM;
		}
		o->next = NULL;
		if (c->ovf_tail)
			c->ovf_tail->next = o;
		else
			c->ovf_head = o;
		c->ovf_tail = o;
		e = &o->ent;
	}
	*e = (struct rdma_ent){ .size = (uint32_t)size, .kind = (uint32_t)kind,
				.bytes = (uint32_t)bytes, .page_len = page_len, .page_off = page_off };
	p = (char *)(e + 1);
	for (int i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	post_ready(r, c, false);
	pthread_mutex_unlock(&c->lock);
	dsm_count(r->tp.counters.msgs_sent, 1);
	dsm_count(r->tp.counters.bytes_sent, count_bytes);
	return 0;
}

static void fill_hdr(struct dsm_tp *tp, struct dsm_wire_hdr *hdr, size_t len)
{
	hdr->magic = DSM_WIRE_MAGIC;
	hdr->version = DSM_WIRE_VERSION;
	hdr->src = (uint16_t)tp->self;
	hdr->len = (uint32_t)len;
}

static int dsm_rdma_send(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			 const void *payload, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};

	fill_hdr(tp, hdr, len);
	return enqueue(to_rdma(tp), node, ENT_SEND, iov, len ? 2 : 1, 0, 0, sizeof(*hdr) + len);
}

/*
 * The page one-sided (RDMA WRITE to the same offset of the peer's
 * region), then a SEND of our header (DSM_WT_PAGE, the offset) and the
 * runtime's.  Counted as TCP counts its page frame: the two headers and
 * the page.
 */
static int dsm_rdma_send_page(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			      const void *page, size_t len)
{
	struct dsm_wire_hdr outer = { .type = DSM_WT_PAGE };
	uint64_t off = (uint64_t)((const char *)page - tp->mem_base);
	struct iovec iov[2] = {
		{ .iov_base = &outer, .iov_len = sizeof(outer) },
		{ .iov_base = hdr, .iov_len = sizeof(*hdr) },
	};

	fill_hdr(tp, hdr, len);
	fill_hdr(tp, &outer, sizeof(*hdr) + len);
	outer.arg0 = off;
	return enqueue(to_rdma(tp), node, ENT_PAGE, iov, 2, off, (uint32_t)len,
		       2 * sizeof(*hdr) + len);
}

/*
 * An RDMA READ of the peer's copy of the page into ours.  Safe where the
 * peer's memory is current without the peer's help (the protocol says
 * where: weak consistency's fetch from the home); the peer's later writes
 * and diffs are not ordered with it, exactly as the home's own writes are
 * not ordered with a fetch it answers.  Counted at the reader only, as the
 * request and the page frame it replaces are counted there over TCP: one
 * message of a header's bytes sent, one of two headers and the page
 * received; the peer counts nothing (job-wide traffic is what arrived).
 */
static int dsm_rdma_read_page(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr, void *page,
			      size_t len)
{
	struct dsm_rdma *r = to_rdma(tp);
	struct rdma_conn *c = &r->conns[node];
	uint64_t off = (uint64_t)((char *)page - tp->mem_base);
	struct ibv_sge sge = { .addr = (uintptr_t)page, .length = (uint32_t)len,
			       .lkey = r->heap_mr ? r->heap_mr->lkey : 0 };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	int slot, ret = 0;

	if (!r->heap_mr || off + len > tp->mem_len)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	for (slot = 0; slot < READ_SLOTS && c->reads[slot].state != READ_FREE; slot++)
		;
	if (c->closed) {
		ret = -DSM_EPEERLOST;
	} else if (slot == READ_SLOTS) {
		ret = -EAGAIN;
	} else {
		struct rdma_read *rd = &c->reads[slot];

		rd->hdr = *hdr;
		fill_hdr(tp, &rd->hdr, len);
		rd->hdr.src = (uint16_t)node;	/* as if node had answered */
		rd->page = page;
		wr.wr_id = wr_id(WR_READ, node, (uint64_t)slot);
		wr.wr.rdma.remote_addr = c->peer_base + off;
		wr.wr.rdma.rkey = c->peer_rkey;
		__atomic_store_n(&rd->state, READ_POSTED, __ATOMIC_RELAXED);
		if (ibv_post_send(c->qp, &wr, &bad)) {
			rd->state = READ_FREE;
			ret = -DSM_EPEERLOST;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (ret == 0) {
		dsm_count(tp->counters.msgs_sent, 1);
		dsm_count(tp->counters.bytes_sent, sizeof(*hdr));
	}
	return ret;
}

/* Service thread: deliver the reads that completed. */
static int deliver_reads(struct dsm_rdma *r)
{
	int delivered = 0;

	if (!__atomic_exchange_n(&r->reads_done, false, __ATOMIC_ACQ_REL))
		return 0;
	for (int i = 0; i < r->tp.nnodes; i++) {
		struct rdma_conn *c = &r->conns[i];

		for (int k = 0; i != r->tp.self && k < READ_SLOTS; k++) {
			struct rdma_read *rd = &c->reads[k];
			struct dsm_wire_hdr h;
			char *page;

			if (__atomic_load_n(&rd->state, __ATOMIC_ACQUIRE) != READ_DONE)
				continue;
			h = rd->hdr;
			page = rd->page;
			pthread_mutex_lock(&c->lock);	/* free the slot before the
							 * handler may want it again */
			rd->state = READ_FREE;
			pthread_mutex_unlock(&c->lock);
			dsm_count(r->tp.counters.msgs_recv, 1);
			dsm_count(r->tp.counters.bytes_recv, 2 * sizeof(h) + h.len);
			r->tp.params.deliver(r->tp.params.ctx, i, &h, page);
			delivered++;
		}
	}
	return delivered;
}

/* ---------- the peer's region ---------- */

/*
 * Register the heap's runtime view for remote reads and writes, with
 * on-demand paging where the device has it (else the view is pinned
 * whole), and exchange base and rkey through the bootstrap, which only
 * nodes that proved the secret ever joined.  Every node then waits for
 * all: no page is written into a peer that has not registered.
 */
static int dsm_rdma_register_mem(struct dsm_tp *tp, void *base, size_t len)
{
	struct dsm_rdma *r = to_rdma(tp);
	struct rdma_region mine = { 0 }, *all;
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	int ret = 0;
	struct ibv_device_attr_ex dx;

	tp->mem_base = base;
	tp->mem_len = len;
	if (tp->nnodes == 1)
		return 0;
	if (ibv_query_device_ex(r->verbs, NULL, &dx) == 0 &&
	    (dx.odp_caps.general_caps & IBV_ODP_SUPPORT) &&
	    (dx.odp_caps.per_transport_caps.rc_odp_caps &
	     (IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_RECV)) ==
	    (IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_RECV))
		r->heap_mr = ibv_reg_mr(r->pd, base, len, access | IBV_ACCESS_ON_DEMAND);
	if (!r->heap_mr)
		r->heap_mr = ibv_reg_mr(r->pd, base, len, access);
	if (!r->heap_mr) {
		ret = -errno;
		dsm_err("rdma: cannot register the %zu-byte heap with %s: %s (without on-demand "
			"paging the whole heap is pinned: lower DSM_HEAP_SIZE or raise the "
			"locked-memory limit, ulimit -l)", len, r->devname, strerror(errno));
	} else {
		mine = (struct rdma_region){ .base = (uintptr_t)base, .len = len,
					     .rkey = r->heap_mr->rkey };
	}
	all = calloc((size_t)tp->nnodes, sizeof(*all));
	if (!all)
		return -ENOMEM;
	/* Even a node that failed takes part, so that the others learn it. */
	if (dsm_boot_allgather(&r->boot, &mine, sizeof(mine), all) < 0 && ret == 0)
		ret = -DSM_EPEERLOST;
	for (int i = 0; i < tp->nnodes && ret == 0; i++) {
		if (all[i].len != len) {
			dsm_err("rdma: node %d could not register its heap (its own error line says why)", i);
			ret = -DSM_EPEERLOST;
		}
		r->conns[i].peer_base = all[i].base;
		r->conns[i].peer_rkey = all[i].rkey;
	}
	free(all);
	if (ret == 0)
		ret = dsm_boot_barrier(&r->boot);
	dsm_boot_close(&r->boot);
	r->boot_open = false;
	return ret;
}

/* ---------- completions ---------- */

static void lost(struct dsm_rdma *r, struct rdma_conn *c, const char *why)
{
	bool was;

	pthread_mutex_lock(&c->lock);
	was = c->closed;
	c->closed = true;
	pthread_mutex_unlock(&c->lock);
	if (!was && !__atomic_load_n(&r->tp.bye_recv[c->peer], __ATOMIC_ACQUIRE))
		r->tp.params.peer_lost(r->tp.params.ctx, c->peer, why);
}

/*
 * The peer closed the connection (a DISCONNECTED event, or our work
 * requests flushed).  Orderly if its BYE came first.  Orderly too once we
 * are shutting down ourselves: a peer closes in order only after it has
 * every node's BYE, ours included, and its own BYE may still be behind the
 * disconnection (Soft-RoCE can report the two in either order); a peer
 * that dies at that moment has finished its part of the job anyway.
 * Otherwise the peer is lost.
 */
static void disconnected(struct dsm_rdma *r, struct rdma_conn *c, const char *why)
{
	if (__atomic_load_n(&r->tp.bye_sent, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&r->tp.bye_recv[c->peer], __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&c->lock);
		c->closed = true;
		pthread_mutex_unlock(&c->lock);
		__atomic_store_n(&r->tp.bye_recv[c->peer], true, __ATOMIC_RELEASE);
		return;
	}
	lost(r, c, why);
}

/* A failed completion: a flush means the connection closed. */
static void failed(struct dsm_rdma *r, struct rdma_conn *c, const struct ibv_wc *wc)
{
	char why[160];

	if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		if (!c->closed)
			disconnected(r, c, "disconnected by the peer (its process ended or was killed)");
		return;
	}
	snprintf(why, sizeof(why), "the queue pair failed: %s", ibv_wc_status_str(wc->status));
	lost(r, c, why);
}

/* Send completions: free ring space, post what waited for it. */
static void poll_send(struct dsm_rdma *r, bool service)
{
	struct ibv_wc wc[POLL_BATCH];
	int n;

	while ((n = ibv_poll_cq(r->scq, POLL_BATCH, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			int peer = wr_peer(wc[i].wr_id);
			struct rdma_conn *c;

			if (peer >= r->tp.nnodes || peer == r->tp.self)
				continue;
			c = &r->conns[peer];
			if (wc[i].status != IBV_WC_SUCCESS) {
				failed(r, c, &wc[i]);
				continue;
			}
			if (wr_kind(wc[i].wr_id) == WR_READ && wr_val(wc[i].wr_id) < READ_SLOTS) {
				__atomic_store_n(&c->reads[wr_val(wc[i].wr_id)].state, READ_DONE,
						 __ATOMIC_RELEASE);
				__atomic_store_n(&r->reads_done, true, __ATOMIC_RELEASE);
				continue;
			}
			if (wr_kind(wc[i].wr_id) != WR_SEND)
				continue;
			pthread_mutex_lock(&c->lock);
			c->tail = wr_val(wc[i].wr_id);	/* SENDs complete in order */
			post_ready(r, c, service);
			pthread_mutex_unlock(&c->lock);
		}
		if (n < POLL_BATCH)
			break;
	}
}

/* Check a received frame; NULL, or what is wrong with it. */
static const char *check_frame(struct dsm_rdma *r, struct rdma_conn *c, const struct dsm_wire_hdr *h,
			       uint32_t got)
{
	const struct dsm_wire_hdr *in = h + 1;
	const char *why;

	if (got < sizeof(*h))
		return "a frame shorter than its header";
	why = dsm_wire_check(h, c->peer, r->tp.params.max_payload + sizeof(*h));
	if (why)
		return why;
	if (h->type < DSM_WT_RUNTIME && h->type != DSM_WT_BYE && h->type != DSM_WT_PAGE)
		return "connection-setup message after setup";
	if (h->type != DSM_WT_PAGE)
		return got == sizeof(*h) + h->len ? NULL : "a frame whose length does not match its header";
	if (got != 2 * sizeof(*h) || h->len <= sizeof(*h) || !r->tp.mem_base)
		return "a page frame without a page, or before memory was registered";
	if (h->arg0 > r->tp.mem_len || h->len - sizeof(*h) > r->tp.mem_len - h->arg0)
		return "a page frame outside the registered memory";
	why = dsm_wire_check(in, c->peer, r->tp.params.max_payload);
	if (!why && (in->type < DSM_WT_RUNTIME || in->len != h->len - sizeof(*h)))
		why = "a page frame whose inner header does not match it";
	return why;
}

/* Receive completions: deliver, repost, return credits.  Service thread. */
static int poll_recv(struct dsm_rdma *r)
{
	struct ibv_wc wc[POLL_BATCH];
	int n, delivered = 0;

	while ((n = ibv_poll_cq(r->rcq, POLL_BATCH, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			int peer = wr_peer(wc[i].wr_id), idx = (int)wr_val(wc[i].wr_id);
			const struct dsm_wire_hdr *h;
			struct rdma_conn *c;
			const char *why;

			if (peer >= r->tp.nnodes || peer == r->tp.self || idx >= r->rx_depth)
				continue;
			c = &r->conns[peer];
			if (wc[i].status != IBV_WC_SUCCESS) {
				failed(r, c, &wc[i]);
				continue;
			}
			if (c->closed)
				continue;
			h = (const struct dsm_wire_hdr *)(c->rx + (size_t)idx * r->rx_size);
			if (wc[i].byte_len > 0) {
				why = check_frame(r, c, h, wc[i].byte_len);
				if (why) {
					lost(r, c, why);
					continue;
				}
				dsm_count(r->tp.counters.msgs_recv, 1);
				dsm_count(r->tp.counters.bytes_recv, sizeof(*h) + h->len);
				if (h->type == DSM_WT_BYE) {
					__atomic_store_n(&r->tp.bye_recv[peer], true, __ATOMIC_RELEASE);
				} else if (h->type == DSM_WT_PAGE) {
					r->tp.params.deliver(r->tp.params.ctx, peer, h + 1,
							     r->tp.mem_base + h->arg0);
					delivered++;
				} else {
					r->tp.params.deliver(r->tp.params.ctx, peer, h, h + 1);
					delivered++;
				}
			}
			/* The buffer is free again: repost it, owe the credit. */
			pthread_mutex_lock(&c->lock);
			if (!c->closed && post_recv(r, c, idx) == 0)
				c->to_return++;
			if (wc[i].wc_flags & IBV_WC_WITH_IMM)
				c->credits += (int)ntohl(wc[i].imm_data);
			post_ready(r, c, true);
			pthread_mutex_unlock(&c->lock);
		}
		if (n < POLL_BATCH)
			break;
	}
	return delivered;
}

/*
 * rdma_cm events after setup: a peer that disconnects, a stranger.
 * Returns the messages delivered on the way: a peer disconnects only after
 * its last frames (its BYE) were acknowledged by our adapter, so their
 * completions are in our queue already, and are taken before we judge
 * whether the disconnection was orderly.
 */
static int poll_recv(struct dsm_rdma *r);

static int poll_cm(struct dsm_rdma *r)
{
	struct rdma_cm_event *ev;
	int delivered = 0;

	while (rdma_get_cm_event(r->cm_ch, &ev) == 0) {
		struct rdma_conn *c = ev->id->context;
		enum rdma_cm_event_type type = ev->event;

		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			dsm_rdma_refuse(r, ev);
			continue;
		}
		rdma_ack_cm_event(ev);
		if (!c)
			continue;
		if (type == RDMA_CM_EVENT_DISCONNECTED) {
			delivered += poll_recv(r);
			disconnected(r, c, "disconnected by the peer (its process ended or was killed)");
		} else if (type == RDMA_CM_EVENT_DEVICE_REMOVAL) {
			lost(r, c, "the RDMA device was removed");
		}
	}
	return delivered;
}

static int poll_all(struct dsm_rdma *r)
{
	pthread_mutex_lock(&r->send_poll_lock);
	poll_send(r, true);
	pthread_mutex_unlock(&r->send_poll_lock);
	return deliver_reads(r) + poll_recv(r);
}

/* Consume the channel's events (acked in batches: acking takes a lock). */
static void drain_channel(struct dsm_rdma *r)
{
	struct ibv_cq *cq;
	void *ctx;

	while (ibv_get_cq_event(r->comp_ch, &cq, &ctx) == 0) {
		unsigned int *un = cq == r->scq ? &r->unacked_scq : &r->unacked_rcq;

		if (++*un >= CQ_ACK_BATCH) {
			ibv_ack_cq_events(cq, *un);
			*un = 0;
		}
	}
}

static int dsm_rdma_progress(struct dsm_tp *tp, int timeout_ms)
{
	struct dsm_rdma *r = to_rdma(tp);
	struct epoll_event ev[4];
	int delivered, n;

	pthread_mutex_lock(&r->poll_lock);
	delivered = poll_all(r);
	delivered += poll_cm(r);
	if (!delivered && timeout_ms != 0 && tp->params.cfg->poll_ns) {
		uint64_t end = dsm_now_ns() + tp->params.cfg->poll_ns;

		while (!delivered && dsm_now_ns() < end)
			delivered = poll_all(r);
	}
	if (!delivered && timeout_ms != 0) {
		/* Arm, then look once more: a completion between the last
		 * poll and the arming raises no event. */
		ibv_req_notify_cq(r->scq, 0);
		ibv_req_notify_cq(r->rcq, 0);
		delivered = poll_all(r);
		if (!delivered) {
			pthread_mutex_unlock(&r->poll_lock);
			n = epoll_wait(r->epfd, ev, 4, timeout_ms);
			pthread_mutex_lock(&r->poll_lock);
			for (int i = 0; i < n; i++) {
				uint64_t v;

				if (ev[i].data.u32 == TAG_WAKE && read(r->wakefd, &v, sizeof(v)) < 0)
					continue;
			}
			drain_channel(r);
			delivered = poll_all(r);
			delivered += poll_cm(r);
		}
	}
	pthread_mutex_unlock(&r->poll_lock);
	return delivered;
}

static void dsm_rdma_wake(struct dsm_tp *tp)
{
	uint64_t one = 1;

	if (write(to_rdma(tp)->wakefd, &one, sizeof(one)) < 0)
		return;
}

static bool drained(struct rdma_conn *c)
{
	bool d;

	pthread_mutex_lock(&c->lock);
	d = c->closed || (c->tail == c->head && !c->ovf_head);
	pthread_mutex_unlock(&c->lock);
	return d;
}

/*
 * Wait (up to timeout_ms) until every frame queued has been sent and
 * acknowledged by the peer's adapter.  Send completions are polled here
 * too when the service thread is not in the middle of it, so that this
 * works from any thread, and after the service thread has stopped.
 */
static void dsm_rdma_flush(struct dsm_tp *tp, int timeout_ms)
{
	struct dsm_rdma *r = to_rdma(tp);
	uint64_t end = dsm_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (int i = 0; i < tp->nnodes; i++) {
		struct rdma_conn *c = &r->conns[i];

		if (i == tp->self || !c->qp)
			continue;
		while (!drained(c) && dsm_now_ns() < end) {
			if (pthread_mutex_trylock(&r->send_poll_lock) == 0) {
				poll_send(r, false);
				pthread_mutex_unlock(&r->send_poll_lock);
			}
			usleep(50);
		}
	}
}

static void dsm_rdma_close(struct dsm_tp *tp)
{
	struct dsm_rdma *r = to_rdma(tp);

	if (r->scq)
		dsm_rdma_flush(tp, CLOSE_FLUSH_MS);
	for (int i = 0; i < DSM_MAX_NODES; i++) {
		struct rdma_conn *c = &r->conns[i];

		if (c->id) {
			if (c->established)
				rdma_disconnect(c->id);
			if (c->qp)
				rdma_destroy_qp(c->id);
			rdma_destroy_id(c->id);
		}
		while (c->ovf_head) {
			struct rdma_overflow *o = c->ovf_head;

			c->ovf_head = o->next;
			free(o);
		}
		pthread_mutex_destroy(&c->lock);
	}
	if (r->scq) {
		ibv_ack_cq_events(r->scq, r->unacked_scq);
		ibv_destroy_cq(r->scq);
	}
	if (r->rcq) {
		ibv_ack_cq_events(r->rcq, r->unacked_rcq);
		ibv_destroy_cq(r->rcq);
	}
	if (r->heap_mr)
		ibv_dereg_mr(r->heap_mr);
	if (r->buf_mr)
		ibv_dereg_mr(r->buf_mr);
	if (r->comp_ch)
		ibv_destroy_comp_channel(r->comp_ch);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	if (r->listen_id)
		rdma_destroy_id(r->listen_id);
	if (r->cm_ch)
		rdma_destroy_event_channel(r->cm_ch);
	if (r->boot_open)
		dsm_boot_close(&r->boot);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->wakefd >= 0)
		close(r->wakefd);
	pthread_mutex_destroy(&r->poll_lock);
	pthread_mutex_destroy(&r->send_poll_lock);
	free(r->eps);
	free(r->bufs);
	free(r);
}

static int watch(struct dsm_rdma *r, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int dsm_rdma_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p)
{
	struct dsm_rdma *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	dsm_tp_init(&r->tp, &dsm_rdma_ops, params);
	r->epfd = r->wakefd = -1;
	pthread_mutex_init(&r->poll_lock, NULL);
	pthread_mutex_init(&r->send_poll_lock, NULL);
	for (int i = 0; i < DSM_MAX_NODES; i++) {
		r->conns[i].peer = i;
		pthread_mutex_init(&r->conns[i].lock, NULL);
	}
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->epfd < 0 || r->wakefd < 0 || watch(r, r->wakefd, TAG_WAKE) < 0) {
		ret = -errno;
		dsm_err("rdma transport: cannot create its epoll set: %s", strerror(-ret));
		goto err;
	}
	if (r->tp.nnodes == 1) {
		/* Nobody to talk to; the device is still checked, so that a
		 * job of one fails as a larger one would. */
		if (params->cfg->boot.listen_fd >= 0)
			close(params->cfg->boot.listen_fd);
		ret = dsm_rdma_probe_device(r);
		if (ret < 0)
			goto err;
		*tp_p = &r->tp;
		return 0;
	}
	ret = dsm_rdma_connect_all(r);
	if (ret < 0)
		goto err;
	if (watch(r, r->cm_ch->fd, TAG_CM) < 0 || watch(r, r->comp_ch->fd, TAG_CQ) < 0) {
		ret = -errno;
		dsm_err("rdma transport: cannot watch its channels: %s", strerror(-ret));
		goto err;
	}
	*tp_p = &r->tp;
	return 0;
err:
	dsm_rdma_close(&r->tp);
	return ret;
}

const struct dsm_tp_ops dsm_rdma_ops = {
	.name     = "rdma",
	.caps     = DSM_TP_CAP_SEND | DSM_TP_CAP_RDMA | DSM_TP_CAP_READ,
	.open     = dsm_rdma_open,
	.close    = dsm_rdma_close,
	.send     = dsm_rdma_send,
	.send_page = dsm_rdma_send_page,
	.register_mem = dsm_rdma_register_mem,
	.read_page = dsm_rdma_read_page,
	.progress = dsm_rdma_progress,
	.wake     = dsm_rdma_wake,
	.shutdown = dsm_tp_shutdown_bye,
	.flush    = dsm_rdma_flush,
};
