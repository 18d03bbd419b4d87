/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * loop.c - the in-process transport: the nodes of one job are threads of
 * one process (a test's), and a message is a copy into the receiver's
 * queue.  It exists so that the transport contract (transport.h) has a
 * reference that needs no network, and so that the conformance suite
 * (tests/conformance/check_transports.c) proves the suite itself on a
 * transport with no timing of its own.
 *
 * One job per process at a time: nodes find each other in a table indexed
 * by node id.  open() waits (up to DSM_CONNECT_TIMEOUT) until every node of
 * the job has opened.  A page sent with send_page travels in the queue and
 * is placed at its offset of the receiver's registered region when it is
 * delivered, so that it is ordered with the messages around it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/compiler.h"
#include "runtime/base/log.h"
#include "runtime/transport/transport.h"

#define QUEUE_INITIAL (256u << 10)

/* A frame in a queue: the header, then for a page frame its offset (a
 * u64), then the payload. */
struct loop_queue {
	pthread_mutex_t lock;
	char *buf;
	size_t len, cap;
};

struct dsm_loop {
	struct dsm_tp tp;
	int wakefd;			/* eventfd: something was queued, or wake() */
	struct loop_queue in;		/* what the others sent us */
	char *spare;			/* progress swaps it with in.buf */
	size_t spare_cap;
	bool lost[DSM_MAX_NODES];	/* peer_lost already reported */
	bool closed;			/* closed without shutdown counts as lost */
};

static pthread_mutex_t loop_table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dsm_loop *loop_table[DSM_MAX_NODES];
static int loop_gone[DSM_MAX_NODES];	/* 1: closed without BYE; 2: after BYE */

static inline struct dsm_loop *to_loop(struct dsm_tp *tp)
{
	return container_of(tp, struct dsm_loop, tp);
}

static int enqueue(struct dsm_loop *self, int node, struct dsm_wire_hdr *hdr, bool page_frame,
		   uint64_t offset, const void *payload, size_t len)
{
	struct dsm_loop *peer;
	struct loop_queue *q;
	size_t need = sizeof(*hdr) + (page_frame ? sizeof(offset) : 0) + len;
	uint64_t one = 1;
	size_t at;
	int ret = 0;

	hdr->magic = DSM_WIRE_MAGIC;
	hdr->version = DSM_WIRE_VERSION;
	hdr->src = (uint16_t)self->tp.self;
	hdr->len = (uint32_t)len;
	pthread_mutex_lock(&loop_table_lock);
	peer = loop_table[node];
	if (!peer || peer->closed) {
		pthread_mutex_unlock(&loop_table_lock);
		return -DSM_EPEERLOST;
	}
	q = &peer->in;
	pthread_mutex_lock(&q->lock);
	if (q->len + need > q->cap) {
		/* As TCP's output queue: growing beats losing or blocking. */
		size_t cap = q->cap;
		char *p;

		while (q->len + need > cap)
			cap *= 2;
		p = realloc(q->buf, cap);
		if (!p) {
			ret = -ENOMEM;
			goto out;
		}
		q->buf = p;
		q->cap = cap;
	}
	at = q->len;
	memcpy(q->buf + at, hdr, sizeof(*hdr));
	if (page_frame)		/* the queue's own mark of a page frame */
		((struct dsm_wire_hdr *)(q->buf + at))->magic = ~DSM_WIRE_MAGIC;
	at += sizeof(*hdr);
	if (page_frame) {
		memcpy(q->buf + at, &offset, sizeof(offset));
		at += sizeof(offset);
	}
	if (len)
		memcpy(q->buf + at, payload, len);
	/* One atomic store: progress() polls the length without the lock. */
	__atomic_store_n(&q->len, at + len, __ATOMIC_RELAXED);
	if (write(peer->wakefd, &one, sizeof(one)) < 0)
		ret = 0;	/* the counter is saturated: it is awake anyway */
	dsm_count(self->tp.counters.msgs_sent, 1);
	dsm_count(self->tp.counters.bytes_sent, sizeof(*hdr) + len);
out:
	pthread_mutex_unlock(&q->lock);
	pthread_mutex_unlock(&loop_table_lock);
	return ret;
}

static int dsm_loop_send(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			 const void *payload, size_t len)
{
	return enqueue(to_loop(tp), node, hdr, false, 0, payload, len);
}

/* enqueue copies the bytes into the peer's queue: src's as of the call. */
static int dsm_loop_send_page_from(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
				   const void *page, const void *src, size_t len)
{
	return enqueue(to_loop(tp), node, hdr, true, (uint64_t)((const char *)page - tp->mem_base),
		       src, len);
}

static int dsm_loop_send_page(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			      const void *page, size_t len)
{
	return dsm_loop_send_page_from(tp, node, hdr, page, page, len);
}

static int dsm_loop_register_mem(struct dsm_tp *tp, void *base, size_t len)
{
	tp->mem_base = base;
	tp->mem_len = len;
	return 0;
}

/* Deliver the frames of buf (len bytes), in order. */
static int deliver_all(struct dsm_loop *l, char *buf, size_t len)
{
	const struct dsm_tp_params *p = &l->tp.params;
	size_t at = 0;
	int delivered = 0;

	while (at < len) {
		struct dsm_wire_hdr h;
		uint64_t offset = 0;
		bool page_frame;
		void *payload;

		memcpy(&h, buf + at, sizeof(h));
		at += sizeof(h);
		/* A page frame carries its offset before the payload, and
		 * enqueue() marked it with the inverted magic. */
		page_frame = h.magic == ~DSM_WIRE_MAGIC;
		if (page_frame) {
			h.magic = DSM_WIRE_MAGIC;
			memcpy(&offset, buf + at, sizeof(offset));
			at += sizeof(offset);
		}
		payload = buf + at;
		if (page_frame) {
			if (offset > l->tp.mem_len || h.len > l->tp.mem_len - offset) {
				p->peer_lost(p->ctx, h.src, "a page frame outside the registered memory");
				return -DSM_EPROTO;
			}
			memcpy(l->tp.mem_base + offset, payload, h.len);
			payload = l->tp.mem_base + offset;
		}
		at += h.len;
		dsm_count(l->tp.counters.msgs_recv, 1);
		dsm_count(l->tp.counters.bytes_recv, sizeof(h) + h.len);
		if (h.type == DSM_WT_BYE)
			__atomic_store_n(&l->tp.bye_recv[h.src], true, __ATOMIC_RELEASE);
		else
			p->deliver(p->ctx, h.src, &h, payload);
		delivered++;
	}
	return delivered;
}

/* A peer that closed without its BYE is lost (once). */
static void check_lost(struct dsm_loop *l)
{
	for (int i = 0; i < l->tp.nnodes; i++) {
		int gone;

		if (i == l->tp.self || l->lost[i])
			continue;
		pthread_mutex_lock(&loop_table_lock);
		gone = loop_gone[i];
		pthread_mutex_unlock(&loop_table_lock);
		if (gone == 1) {
			l->lost[i] = true;
			l->tp.params.peer_lost(l->tp.params.ctx, i, "the node closed its transport "
					       "without saying goodbye");
		}
	}
}

static int dsm_loop_progress(struct dsm_tp *tp, int timeout_ms)
{
	struct dsm_loop *l = to_loop(tp);
	uint64_t end = dsm_now_ns() + tp->params.cfg->poll_ns;
	struct pollfd pfd = { .fd = l->wakefd, .events = POLLIN };
	uint64_t v;
	char *buf;
	size_t len;

	/* Busy-poll briefly, as every transport does, then sleep. */
	while (__atomic_load_n(&l->in.len, __ATOMIC_RELAXED) == 0 && timeout_ms != 0 &&
	       dsm_now_ns() < end)
		;
	if (__atomic_load_n(&l->in.len, __ATOMIC_RELAXED) == 0 && timeout_ms != 0)
		poll(&pfd, 1, timeout_ms < 0 || timeout_ms > 100 ? 100 : timeout_ms);
	if (read(l->wakefd, &v, sizeof(v)) < 0)
		v = 0;
	check_lost(l);
	pthread_mutex_lock(&l->in.lock);
	buf = l->in.buf;
	len = l->in.len;
	/* Swap buffers: senders go on queueing while we deliver. */
	l->in.buf = l->spare;
	l->spare = buf;
	v = l->in.cap;
	l->in.cap = l->spare_cap;
	l->spare_cap = v;
	__atomic_store_n(&l->in.len, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->in.lock);
	return len ? deliver_all(l, buf, len) : 0;
}

static void dsm_loop_wake(struct dsm_tp *tp)
{
	uint64_t one = 1;

	if (write(to_loop(tp)->wakefd, &one, sizeof(one)) < 0)
		return;
}

/* Nothing waits in a socket: a queued message is already at its peer. */
static void dsm_loop_flush(struct dsm_tp *tp, int timeout_ms)
{
	(void)tp;
	(void)timeout_ms;
}

static void dsm_loop_close(struct dsm_tp *tp)
{
	struct dsm_loop *l = to_loop(tp);

	pthread_mutex_lock(&loop_table_lock);
	if (loop_table[tp->self] == l) {
		loop_table[tp->self] = NULL;
		loop_gone[tp->self] = l->tp.bye_sent ? 2 : 1;
	}
	/* The last node out clears the table for the process's next job. */
	for (int i = 0; i < DSM_MAX_NODES && !loop_table[i]; i++)
		if (i == DSM_MAX_NODES - 1)
			memset(loop_gone, 0, sizeof(loop_gone));
	pthread_mutex_unlock(&loop_table_lock);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l->in.buf);
	free(l->spare);
	pthread_mutex_destroy(&l->in.lock);
	free(l);
}

static int dsm_loop_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p)
{
	const struct dsm_config *cfg = params->cfg;
	struct dsm_loop *l = calloc(1, sizeof(*l));
	uint64_t end = dsm_now_ns() + cfg->connect_timeout_ms * 1000000ull;
	int self = cfg->node_id;

	if (!l)
		return -ENOMEM;
	dsm_tp_init(&l->tp, &dsm_loop_ops, params);
	pthread_mutex_init(&l->in.lock, NULL);
	l->in.cap = l->spare_cap = QUEUE_INITIAL;
	l->in.buf = malloc(QUEUE_INITIAL);
	l->spare = malloc(QUEUE_INITIAL);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!l->in.buf || !l->spare || l->wakefd < 0) {
		dsm_loop_close(&l->tp);
		return -ENOMEM;
	}
	pthread_mutex_lock(&loop_table_lock);
	if (loop_table[self]) {
		pthread_mutex_unlock(&loop_table_lock);
		dsm_err("loop transport: node %d of this process's job is open already", self);
		dsm_loop_close(&l->tp);
		return -DSM_ECONFIG;
	}
	loop_table[self] = l;
	loop_gone[self] = 0;
	pthread_mutex_unlock(&loop_table_lock);
	for (;;) {
		int present = 0;

		pthread_mutex_lock(&loop_table_lock);
		for (int i = 0; i < cfg->num_nodes; i++)
			present += loop_table[i] != NULL || loop_gone[i] != 0;
		pthread_mutex_unlock(&loop_table_lock);
		if (present == cfg->num_nodes)
			break;
		if (dsm_now_ns() > end) {
			dsm_err("loop transport: timed out after %u s waiting for the other %d "
				"node(s) of this process's job to open", cfg->connect_timeout_ms / 1000,
				cfg->num_nodes - present);
			dsm_loop_close(&l->tp);
			return -DSM_ETIMEDOUT;
		}
		usleep(1000);
	}
	*tp_p = &l->tp;
	return 0;
}

const struct dsm_tp_ops dsm_loop_ops = {
	.name         = "loop",
	.caps         = DSM_TP_CAP_SEND,
	.open         = dsm_loop_open,
	.close        = dsm_loop_close,
	.send         = dsm_loop_send,
	.register_mem = dsm_loop_register_mem,
	.send_page    = dsm_loop_send_page,
	.send_page_from = dsm_loop_send_page_from,
	.progress     = dsm_loop_progress,
	.wake         = dsm_loop_wake,
	.shutdown     = dsm_tp_shutdown_bye,
	.flush        = dsm_loop_flush,
};
