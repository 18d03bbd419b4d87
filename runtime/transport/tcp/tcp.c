/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp.c - the TCP transport's data path: framed messages over one
 * connection per pair of nodes, an output queue so that no sender ever
 * blocks on the network, and the service thread's progress loop, which
 * busy-polls briefly before it sleeps in epoll_wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/log.h"
#include "runtime/transport/tcp/tcp.h"

#define WAKE_TAG UINT32_MAX
#define OUTQ_INITIAL (256u << 10)
#define CLOSE_FLUSH_MS 2000
#define CLOSE_DRAIN_MS 1000
/*
 * Each read takes, past the body being read, up to this many bytes into
 * the look-ahead: a small frame, header and body, costs one recv, and so
 * does a page frame (4 KiB page and two headers), at the price of a copy
 * that costs a tenth of a system call here; the rest of a larger body
 * is read straight into place.
 */
#define LOOKAHEAD (8u << 10)

/* Input (level-triggered; not while lent to a waiting thread: wait_peer). */
#define IN_EVENTS EPOLLIN

/* What the service thread hears of c: input unless lent, output if
 * armed.  Caller holds c->lock. */
static int set_events_locked(struct dsm_tcp *t, struct dsm_tcp_conn *c, bool in, bool out)
{
	struct epoll_event ev = {
		.events = (in ? IN_EVENTS : 0) | (out ? EPOLLOUT : 0),
		.data.u32 = (uint32_t)c->peer,
	};

	return epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void arm_output(struct dsm_tcp *t, struct dsm_tcp_conn *c, bool on)
{
	if (c->out_armed != on && set_events_locked(t, c, !c->lent, on) == 0)
		c->out_armed = on;
}

/*
 * Append to the output queue.  Caller holds c->lock.  The queue is
 * allocated at open, so the fault path (signal context) appends without
 * malloc unless more than OUTQ_INITIAL bytes are stuck, which needs a peer
 * that stopped reading; growing it then is the lesser evil than blocking.
 */
static int queue_output(struct dsm_tcp_conn *c, const struct iovec *iov, int iovcnt, size_t skip)
{
	size_t need = 0;

	for (int i = 0; i < iovcnt; i++)
		need += iov[i].iov_len;
	need -= skip;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + need > c->out_cap) {
		size_t live = c->out_len - c->out_off, cap = c->out_cap;

		memmove(c->out, c->out + c->out_off, live);
		c->out_off = 0;
		c->out_len = live;
		while (live + need > cap)
			cap *= 2;
		if (cap != c->out_cap) {
			char *p = realloc(c->out, cap);

			if (!p)
				return -ENOMEM;
			c->out = p;
			c->out_cap = cap;
		}
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t len = iov[i].iov_len;
		const char *base = iov[i].iov_base;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(c->out + c->out_len, base + skip, len - skip);
		c->out_len += len - skip;
		skip = 0;
	}
	return 0;
}

/*
 * Queue one frame of iovcnt pieces (iov[0] its header) to node: straight
 * to the socket when nothing is queued before it, else (and for whatever
 * the kernel does not take) into the output queue, in order.
 */
static int send_frame(struct dsm_tcp *t, int node, struct iovec *iov, int iovcnt)
{
	struct dsm_tcp_conn *c = &t->conns[node];
	struct dsm_wire_hdr *hdr = iov[0].iov_base;
	size_t total = 0;
	ssize_t n = 0;
	int ret = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	hdr->magic = DSM_WIRE_MAGIC;
	hdr->version = DSM_WIRE_VERSION;
	hdr->src = (uint16_t)t->tp.self;
	hdr->len = (uint32_t)(total - sizeof(*hdr));

	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		return -DSM_EPEERLOST;
	}
	/* Send directly only if nothing is queued: order must be kept. */
	if (c->out_off == c->out_len) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };

		do
			n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			/*
			 * A dead connection (EPIPE, ECONNRESET) is reported by
			 * the service thread, which sees it on the receive side
			 * too: drop the message.  Anything else (EAGAIN,
			 * ENOBUFS, ENOMEM) is passing: queue the whole message
			 * for the service thread, never lose it.
			 */
			n = (errno == EPIPE || errno == ECONNRESET) ? (ssize_t)total : 0;
		}
	}
	if ((size_t)n < total) {
		ret = queue_output(c, iov, iovcnt, (size_t)n);
		arm_output(t, c, true);
	}
	pthread_mutex_unlock(&c->lock);
	dsm_count(t->tp.counters.msgs_sent, 1);
	dsm_count(t->tp.counters.bytes_sent, total);
	return ret;
}

static int dsm_tcp_send(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			const void *payload, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};

	return send_frame(to_tcp(tp), node, iov, len ? 2 : 1);
}

/*
 * A page frame: our header (DSM_WT_PAGE, the page's offset), the
 * runtime's header, the bytes at src (the page itself for send_page),
 * gathered from where they lie by one sendmsg; the receiver reads them
 * straight into the page's place.  send_frame copies what the kernel does
 * not take at once (queue_output): the bytes are src's as of the call, as
 * send_page_from requires.
 */
static int dsm_tcp_send_page_from(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
				  const void *page, const void *src, size_t len)
{
	struct dsm_wire_hdr outer = {
		.type = DSM_WT_PAGE,
		.arg0 = (uint64_t)((const char *)page - tp->mem_base),
	};
	struct iovec iov[3] = {
		{ .iov_base = &outer, .iov_len = sizeof(outer) },
		{ .iov_base = hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)src, .iov_len = len },
	};

	hdr->magic = DSM_WIRE_MAGIC;
	hdr->version = DSM_WIRE_VERSION;
	hdr->src = (uint16_t)tp->self;
	hdr->len = (uint32_t)len;
	return send_frame(to_tcp(tp), node, iov, 3);
}

static int dsm_tcp_send_page(struct dsm_tp *tp, int node, struct dsm_wire_hdr *hdr,
			     const void *page, size_t len)
{
	return dsm_tcp_send_page_from(tp, node, hdr, page, page, len);
}

/* Nothing to register with the kernel: remember where pages go. */
static int dsm_tcp_register_mem(struct dsm_tp *tp, void *base, size_t len)
{
	tp->mem_base = base;
	tp->mem_len = len;
	return 0;
}

/*
 * Send queued output without blocking.  Caller holds c->lock.  Returns 1
 * when the queue is empty, 0 when the socket is full (or the connection is
 * closed), -1 on an error, which the service thread also sees on the
 * receive side.
 */
static int send_queued_locked(struct dsm_tcp_conn *c)
{
	while (c->out_off < c->out_len && !c->closed) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			c->out_off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			return n < 0 && errno == EAGAIN ? 0 : -1;
	}
	return c->out_off == c->out_len;
}

/* Service thread: push queued output; disarm EPOLLOUT once empty. */
static void flush_output(struct dsm_tcp *t, struct dsm_tcp_conn *c)
{
	pthread_mutex_lock(&c->lock);
	if (send_queued_locked(c) == 1) {	/* else: wait for EPOLLOUT */
		c->out_off = c->out_len = 0;
		arm_output(t, c, false);
	}
	pthread_mutex_unlock(&c->lock);
}

static void close_conn(struct dsm_tcp *t, struct dsm_tcp_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->closed = true;
	pthread_mutex_unlock(&c->lock);
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

static void lost(struct dsm_tcp *t, struct dsm_tcp_conn *c, const char *why)
{
	close_conn(t, c);
	t->tp.params.peer_lost(t->tp.params.ctx, c->peer, why);
}

/*
 * Service thread: the header of the next frame is complete.  Check it and
 * say where its body goes.  -DSM_EPROTO after the connection is lost.
 */
static int start_frame(struct dsm_tcp *t, struct dsm_tcp_conn *c)
{
	struct dsm_wire_hdr *h = &c->next;
	const char *why = dsm_wire_check_stream(h, c->peer, t->tp.params.max_payload,
						t->tp.mem_base ? t->tp.mem_len : 0);

	if (why) {
		lost(t, c, why);
		return -DSM_EPROTO;
	}
	c->cur = *h;
	c->next_got = 0;
	c->in_body = true;
	c->body_got = 0;
	c->body_len = h->len;
	if (h->type == DSM_WT_PAGE) {
		c->body[0] = (struct iovec){ &c->inner, sizeof(c->inner) };
		c->body[1] = (struct iovec){ t->tp.mem_base + h->arg0, h->len - sizeof(c->inner) };
		c->body_cnt = 2;
	} else {
		c->body[0] = (struct iovec){ c->in, h->len };
		c->body_cnt = 1;
	}
	return 0;
}

/* Service thread: cur's body is complete; hand the frame over. */
static int end_frame(struct dsm_tcp *t, struct dsm_tcp_conn *c)
{
	struct dsm_wire_hdr *h = &c->cur;

	c->in_body = false;
	dsm_count(t->tp.counters.msgs_recv, 1);
	dsm_count(t->tp.counters.bytes_recv, sizeof(*h) + h->len);
	if (h->type == DSM_WT_BYE) {
		__atomic_store_n(&t->tp.bye_recv[c->peer], true, __ATOMIC_RELEASE);
	} else if (h->type == DSM_WT_PAGE) {
		const char *why = dsm_wire_check_page(&c->inner, h, c->peer, t->tp.params.max_payload);

		if (why) {
			lost(t, c, why);
			return -DSM_EPROTO;
		}
		t->tp.params.deliver(t->tp.params.ctx, c->peer, &c->inner, c->body[1].iov_base);
	} else {
		t->tp.params.deliver(t->tp.params.ctx, c->peer, h, c->in);
	}
	return 1;
}

/* Where the rest of the body being read goes (none if no body is being
 * read): at most 2 iovecs. */
static int body_rest(const struct dsm_tcp_conn *c, struct iovec *iov)
{
	size_t skip = c->body_got;
	int n = 0;

	for (int i = 0; c->in_body && i < c->body_cnt; i++) {
		if (skip >= c->body[i].iov_len) {
			skip -= c->body[i].iov_len;
			continue;
		}
		iov[n].iov_base = (char *)c->body[i].iov_base + skip;
		iov[n++].iov_len = c->body[i].iov_len - skip;
		skip = 0;
	}
	return n;
}

/* The iovec of the next read: the rest of the body being read (if any),
 * then the look-ahead, which is empty when we read. */
static int rx_iov(struct dsm_tcp_conn *c, struct iovec *iov)
{
	int n = body_rest(c, iov);

	iov[n].iov_base = c->la;
	iov[n++].iov_len = LOOKAHEAD;
	return n;
}

/* Copy len bytes (no more than the body lacks) of the body being read,
 * from src, to where they go. */
static void fill_body(struct dsm_tcp_conn *c, const char *src, size_t len)
{
	struct iovec iov[2];
	int n = body_rest(c, iov);

	c->body_got += len;
	for (int i = 0; i < n && len; i++) {
		size_t part = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(iov[i].iov_base, src, part);
		src += part;
		len -= part;
	}
}

/* A borrower may deliver the frame just read (cur) in its own thread. */
static bool borrower_may_deliver(struct dsm_tcp *t, struct dsm_tcp_conn *c)
{
	const struct dsm_tp_params *p = &t->tp.params;
	uint8_t type = c->cur.type == DSM_WT_PAGE ? c->inner.type : c->cur.type;

	if (c->cur.type == DSM_WT_PAGE &&
	    dsm_wire_check_page(&c->inner, &c->cur, c->peer, p->max_payload))
		return false;	/* the service thread reports it */
	return c->cur.type != DSM_WT_BYE && p->waiter_safe &&
	       p->waiter_safe(p->ctx, type, c->borrower);
}

#define INPUT_STOP (-EAGAIN)	/* borrowed: left the rest to the service thread */

static void dsm_tcp_wake(struct dsm_tp *tp);

/*
 * cur's body is complete: deliver it, or (borrowed, a type the borrower
 * may not deliver) hold it for the service thread.
 */
static int frame_done(struct dsm_tcp *t, struct dsm_tcp_conn *c, bool borrowed)
{
	if (borrowed && !borrower_may_deliver(t, c)) {
		c->in_body = false;
		c->held = true;
		return INPUT_STOP;
	}
	if (borrowed)
		dsm_count(t->tp.counters.msgs_by_waiter, 1);
	return end_frame(t, c);
}

/* The next header is complete: start its frame (a borrower leaves a bad
 * one for the service thread, which reports it). */
static int header_done(struct dsm_tcp *t, struct dsm_tcp_conn *c, bool borrowed)
{
	int ret;

	if (borrowed && dsm_wire_check_stream(&c->next, c->peer, t->tp.params.max_payload,
					      t->tp.mem_base ? t->tp.mem_len : 0))
		return INPUT_STOP;
	if ((ret = start_frame(t, c)) < 0)
		return ret;
	/* Frames with an empty body end as soon as they start. */
	return c->body_len == 0 ? frame_done(t, c, borrowed) : 0;
}

/* Service thread, rx_lock held: what a borrower left, in order. */
static int resume_input(struct dsm_tcp *t, struct dsm_tcp_conn *c)
{
	int delivered = 0, ret;

	if (c->held) {
		c->held = false;
		if ((ret = end_frame(t, c)) < 0)
			return ret;
		delivered += ret;
	}
	while (!c->in_body && c->next_got == sizeof(c->next)) {
		if ((ret = header_done(t, c, false)) < 0)
			return ret;
		delivered += ret;
	}
	return delivered;
}

/*
 * Take what the look-ahead holds: the rest of the body being read, then
 * the next header, frame after frame.  0 once it is empty, or (borrowed)
 * after a frame delivered, so that the borrower looks at its word; else
 * as frame_done and header_done.
 */
static int take_lookahead(struct dsm_tcp *t, struct dsm_tcp_conn *c, bool borrowed, int *delivered)
{
	while (c->la_off < c->la_len) {
		size_t avail = c->la_len - c->la_off, take;
		int ret = 0;

		if (c->in_body) {
			take = c->body_len - c->body_got;
			take = avail < take ? avail : take;
			fill_body(c, c->la + c->la_off, take);
			c->la_off += take;
			if (c->body_got == c->body_len)
				ret = frame_done(t, c, borrowed);
		} else {
			take = sizeof(c->next) - c->next_got;
			take = avail < take ? avail : take;
			memcpy((char *)&c->next + c->next_got, c->la + c->la_off, take);
			c->next_got += take;
			c->la_off += take;
			if (c->next_got == sizeof(c->next))
				ret = header_done(t, c, borrowed);
		}
		if (ret < 0)
			return ret;
		*delivered += ret;
		if (borrowed && *delivered)
			return 0;
	}
	return 0;
}

/*
 * Read all that is there, deliver complete frames; rx_lock held.  The
 * service thread's (borrowed false), or a waiting application thread's
 * (wait_peer), which stops with INPUT_STOP at the first frame it may not
 * deliver, and on an error or end of stream, and leaves them to the
 * service thread.  A borrower returns after every frame it delivers, to
 * look at its word; the rest waits in the look-ahead.
 */
static int read_input(struct dsm_tcp *t, struct dsm_tcp_conn *c, bool borrowed)
{
	int delivered = 0, ret;

	if (!borrowed) {
		if ((ret = resume_input(t, c)) < 0)
			return ret;
		delivered += ret;
	} else if (c->held || (!c->in_body && c->next_got == sizeof(c->next))) {
		return INPUT_STOP;
	}
	for (;;) {
		struct iovec iov[3];
		struct msghdr m = { .msg_iov = iov };
		ssize_t n;

		/* A borrower looks at its word after every frame it delivers:
		 * one that ended with the last read, or one of the look-ahead. */
		if (borrowed && delivered)
			return delivered;
		if ((ret = take_lookahead(t, c, borrowed, &delivered)) < 0)
			return ret;
		if (borrowed && delivered)
			return delivered;
		/* The look-ahead is empty here: the read may refill it. */
		m.msg_iovlen = (size_t)rx_iov(c, iov);
		n = recvmsg(c->fd, &m, MSG_DONTWAIT);
		if (n > 0) {
			size_t got = (size_t)n, take = 0;

			if (c->in_body) {
				take = c->body_len - c->body_got;
				take = got < take ? got : take;
				c->body_got += take;
			}
			c->la_off = 0;
			c->la_len = got - take;
			if (c->in_body && c->body_got == c->body_len) {
				if ((ret = frame_done(t, c, borrowed)) < 0)
					return ret;
				delivered += ret;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return delivered;
		if (borrowed)
			return INPUT_STOP;	/* end of stream or an error: the service thread's */
		if (__atomic_load_n(&t->tp.bye_recv[c->peer], __ATOMIC_ACQUIRE) && n == 0) {
			close_conn(t, c);	/* orderly: the peer said BYE first */
			return delivered;
		}
		lost(t, c, n == 0 ? "connection closed by the peer (its process ended or was killed)" :
		     strerror(errno));
		return -DSM_EPEERLOST;
	}
}

/*
 * Service thread: read connection c, unless it is lent to a waiting
 * thread; then the borrower hands back what it leaves (missed, kick).
 */
static int service_input(struct dsm_tcp *t, struct dsm_tcp_conn *c)
{
	int ret;

	if (pthread_mutex_trylock(&c->rx_lock)) {
		__atomic_store_n(&c->missed, 1, __ATOMIC_SEQ_CST);
		/* The borrower may have just let go before it saw missed. */
		if (pthread_mutex_trylock(&c->rx_lock))
			return 0;
	}
	ret = c->closed ? 0 : read_input(t, c, false);
	pthread_mutex_unlock(&c->rx_lock);
	return ret;
}

/*
 * An application thread waits for *word to change (a reply from node):
 * while it waits, it borrows node's connection and delivers, in its own
 * thread, the frames it may where it waits (params.waiter_safe), so that a
 * reply costs one thread wake-up, not two (this node's service thread,
 * then the waiter), and the service thread does not compete for a CPU
 * with the waiter.  Any thread, signal context included (only syscalls,
 * the runtime's locks and the handlers the runtime allows there).  0 when
 * *word changed; -ETIMEDOUT when it did not within budget_ns and nothing
 * else came; -EAGAIN when the connection is lent to another waiter, or
 * input waits that only the service thread may deliver: the caller then
 * waits as usual.
 */
static int dsm_tcp_wait_peer(struct dsm_tp *tp, int node, const uint32_t *word, uint32_t val,
			     uint64_t budget_ns, enum dsm_waiter who)
{
	struct dsm_tcp *t = to_tcp(tp);
	struct dsm_tcp_conn *c = &t->conns[node];
	uint64_t start = dsm_now_ns(), end = start + budget_ns;
	/* DSM_POLL_US: poll the socket that long before sleeping in ppoll. */
	uint64_t spin_end = start + tp->params.cfg->poll_ns;
	bool kick, timed_out = false, read_first;

	if (node == tp->self || c->fd < 0 || __atomic_load_n(&c->closed, __ATOMIC_RELAXED) ||
	    pthread_mutex_trylock(&c->rx_lock))
		return -EAGAIN;
	/* Not polling, and the service thread left no frame half read: a
	 * reply asked for a moment ago is not here yet, so sleep in ppoll
	 * at once rather than find the socket empty first. */
	read_first = spin_end > start || c->held || c->in_body || c->next_got ||
		     c->la_off < c->la_len;
	c->borrower = who;
	/* The service thread stops hearing of c's input while it is lent:
	 * else every reply would wake it too, for nothing. */
	pthread_mutex_lock(&c->lock);
	c->lent = true;
	set_events_locked(t, c, false, c->out_armed);
	pthread_mutex_unlock(&c->lock);
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == val &&
	       !__atomic_load_n(&c->closed, __ATOMIC_RELAXED)) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint64_t now = dsm_now_ns();
		struct timespec ts;

		if (read_first && (read_input(t, c, true) == INPUT_STOP ||
				   __atomic_load_n(word, __ATOMIC_ACQUIRE) != val))
			break;
		read_first = true;
		if (now >= end) {
			timed_out = true;
			break;
		}
		if (now < spin_end || c->la_off < c->la_len)
			continue;	/* polling, or frames already read */
		ts.tv_sec = (time_t)((end - now) / 1000000000ull);
		ts.tv_nsec = (long)((end - now) % 1000000000ull);
		if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR)
			break;
	}
	kick = c->held || (!c->in_body && c->next_got == sizeof(c->next)) ||
	       c->la_off < c->la_len;
	pthread_mutex_unlock(&c->rx_lock);
	/* Heard again: bytes that came after our last read raise an edge now. */
	pthread_mutex_lock(&c->lock);
	c->lent = false;
	if (!c->closed)
		set_events_locked(t, c, true, c->out_armed);
	pthread_mutex_unlock(&c->lock);
	/* Input the service thread was told of before we took the connection
	 * (it found rx_lock taken), or that we left half-way: it reads on. */
	if (__atomic_exchange_n(&c->missed, 0, __ATOMIC_SEQ_CST) || kick) {
		__atomic_fetch_or(&t->kick, 1ull << node, __ATOMIC_RELEASE);
		dsm_tcp_wake(tp);
		timed_out = false;
	}
	if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != val)
		return 0;
	return timed_out ? -ETIMEDOUT : -EAGAIN;
}

static int dsm_tcp_progress(struct dsm_tp *tp, int timeout_ms)
{
	struct dsm_tcp *t = to_tcp(tp);
	struct epoll_event ev[64];
	int n, delivered = 0;

	n = epoll_wait(t->epfd, ev, 64, 0);
	if (n == 0 && tp->params.cfg->poll_ns && timeout_ms != 0) {
		uint64_t end = dsm_now_ns() + tp->params.cfg->poll_ns;

		while (n == 0 && dsm_now_ns() < end)
			n = epoll_wait(t->epfd, ev, 64, 0);
	}
	if (n == 0 && timeout_ms != 0)
		n = epoll_wait(t->epfd, ev, 64, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct dsm_tcp_conn *c;
		int ret;

		if (ev[i].data.u32 == WAKE_TAG) {
			uint64_t v;

			if (read(t->wakefd, &v, sizeof(v)) < 0)
				continue;
			continue;
		}
		c = &t->conns[ev[i].data.u32];
		if (c->closed)
			continue;
		if (ev[i].events & EPOLLOUT)
			flush_output(t, c);
		if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
			ret = service_input(t, c);
			if (ret > 0)
				delivered += ret;
		}
	}
	/* Connections a waiting thread gave back with input left in them. */
	for (uint64_t k = __atomic_exchange_n(&t->kick, 0, __ATOMIC_ACQUIRE); k; k &= k - 1) {
		struct dsm_tcp_conn *c = &t->conns[__builtin_ctzll(k)];
		int ret = c->closed ? 0 : service_input(t, c);

		if (ret > 0)
			delivered += ret;
	}
	return delivered;
}

static void dsm_tcp_wake(struct dsm_tp *tp)
{
	uint64_t one = 1;

	if (write(to_tcp(tp)->wakefd, &one, sizeof(one)) < 0)
		return;
}

/*
 * Push queued output for up to timeout_ms, waiting for the sockets: the
 * process is about to end (dsm_rt_abort) or the connections to close, so
 * the last messages must leave first.
 */
static void dsm_tcp_flush(struct dsm_tp *tp, int timeout_ms)
{
	struct dsm_tcp *t = to_tcp(tp);
	uint64_t end = dsm_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (int i = 0; i < tp->nnodes; i++) {
		struct dsm_tcp_conn *c = &t->conns[i];

		if (i == tp->self || c->fd < 0)
			continue;
		pthread_mutex_lock(&c->lock);
		while (send_queued_locked(c) == 0 && !c->closed && dsm_now_ns() < end) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };

			poll(&p, 1, 10);
		}
		pthread_mutex_unlock(&c->lock);
	}
}

/*
 * A graceful end of every connection: say we are done writing, then read
 * and drop whatever the peer still sends until its own end of stream, for
 * a bounded time.  Closing a socket whose input was not all read makes the
 * kernel send a reset, and a reset can destroy the peer's unread input,
 * our BYE among it (a job failed so: "lost node 0: Connection reset by
 * peer" after node 0 had finished).
 */
static void drain_input(struct dsm_tcp *t, int timeout_ms)
{
	uint64_t end = dsm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct pollfd p[DSM_MAX_NODES];
	int n = 0;

	for (int i = 0; i < t->tp.nnodes; i++) {
		if (i == t->tp.self || t->conns[i].fd < 0)
			continue;
		shutdown(t->conns[i].fd, SHUT_WR);
		p[n++] = (struct pollfd){ .fd = t->conns[i].fd, .events = POLLIN };
	}
	while (n > 0 && dsm_now_ns() < end) {
		if (poll(p, (nfds_t)n, 10) <= 0)
			continue;
		for (int k = 0; k < n; k++) {
			char scratch[4096];
			ssize_t got;

			if (!p[k].revents)
				continue;
			got = recv(p[k].fd, scratch, sizeof(scratch), MSG_DONTWAIT);
			if (got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR)))
				continue;
			p[k--] = p[--n];	/* end of stream, or an error: done */
		}
	}
}

static void dsm_tcp_close(struct dsm_tp *tp)
{
	struct dsm_tcp *t = to_tcp(tp);

	/* Push out what is still queued (our BYE at least), in bounded time:
	 * a peer that stopped reading must not hold up our exit. */
	dsm_tcp_flush(tp, CLOSE_FLUSH_MS);
	drain_input(t, CLOSE_DRAIN_MS);
	for (int i = 0; i < tp->nnodes; i++) {
		struct dsm_tcp_conn *c = &t->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		free(c->out);
		free(c->in);
		free(c->la);
		pthread_mutex_destroy(&c->lock);
		pthread_mutex_destroy(&c->rx_lock);
	}
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->wakefd >= 0)
		close(t->wakefd);
	free(t);
}

static int dsm_tcp_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p)
{
	struct dsm_tcp *t = calloc(1, sizeof(*t));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = WAKE_TAG };
	int ret;

	if (!t)
		return -ENOMEM;
	dsm_tp_init(&t->tp, &dsm_tcp_ops, params);
	t->epfd = t->wakefd = -1;
	for (int i = 0; i < DSM_MAX_NODES; i++) {
		t->conns[i].fd = -1;
		t->conns[i].peer = i;
		pthread_mutex_init(&t->conns[i].lock, NULL);
		pthread_mutex_init(&t->conns[i].rx_lock, NULL);
	}
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->epfd < 0 || t->wakefd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wakefd, &ev) < 0) {
		ret = -errno;
		dsm_err("tcp transport: cannot create its epoll set: %s", strerror(-ret));
		goto err_free;
	}
	if (t->tp.nnodes > 1) {
		ret = dsm_tcp_connect_all(t);
		if (ret < 0)
			goto err_free;
	} else if (params->cfg->boot.listen_fd >= 0) {
		close(params->cfg->boot.listen_fd);	/* a job of one needs no listener */
	}
	for (int i = 0; i < t->tp.nnodes; i++) {
		struct dsm_tcp_conn *c = &t->conns[i];
		struct epoll_event cev = { .events = IN_EVENTS, .data.u32 = (uint32_t)i };

		if (i == t->tp.self)
			continue;
		c->out_cap = OUTQ_INITIAL;
		c->out = malloc(c->out_cap);
		c->in = malloc(params->max_payload ? params->max_payload : 1);
		c->la = malloc(LOOKAHEAD);
		if (!c->out || !c->in || !c->la) {
			ret = -ENOMEM;
			goto err_free;
		}
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &cev) < 0) {
			ret = -errno;
			goto err_free;
		}
	}
	*tp_p = &t->tp;
	return 0;

err_free:
	dsm_tcp_close(&t->tp);
	return ret;
}

const struct dsm_tp_ops dsm_tcp_ops = {
	.name     = "tcp",
	.caps     = DSM_TP_CAP_SEND,
	.open     = dsm_tcp_open,
	.close    = dsm_tcp_close,
	.send     = dsm_tcp_send,
	.send_page = dsm_tcp_send_page,
	.send_page_from = dsm_tcp_send_page_from,
	.register_mem = dsm_tcp_register_mem,
	.progress = dsm_tcp_progress,
	.wake     = dsm_tcp_wake,
	.wait_peer = dsm_tcp_wait_peer,
	.shutdown = dsm_tp_shutdown_bye,
	.flush    = dsm_tcp_flush,
};
