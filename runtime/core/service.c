/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * service.c - the service thread and message dispatch.
 *
 * One service thread per node answers every request from other nodes
 * (ARCHITECTURE.md).  It never blocks on anything but the transport's
 * progress(): every handler below only takes short mutexes and queues
 * messages, so a node always answers, whatever its application threads do.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/protocol/diff.h"

/*
 * -DSM_EPEERLOST: the peer is gone, and the service thread ends the
 * process with a clear message.  Anything else (out of memory for the
 * output queue) would lose a message and hang someone: end the job.
 * This may run in signal context: only async-signal-safe calls.
 */
static void sent(int ret)
{
	if (ret < 0 && ret != -DSM_EPEERLOST) {
		dsm_log_sigsafe("cannot queue a message to a peer; ending this node", -ret < 4096 ? -ret : 0);
		_exit(1);
	}
}

void dsm_rt_send(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, uint64_t arg0,
		 uint64_t arg1, const void *payload, size_t len)
{
	struct dsm_wire_hdr h = { .type = type, .aux = aux, .arg0 = arg0, .arg1 = arg1 };

	dsm_hb_sent(&rt->hb, node);	/* node needs no heartbeat from us for a while */
	sent(dsm_tp_send(rt->tp, node, &h, payload, len));
}

void dsm_rt_send_pages(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
		       size_t npages, uint64_t arg1)
{
	struct dsm_wire_hdr h = { .type = type, .aux = aux, .arg0 = page, .arg1 = arg1 };

	dsm_hb_sent(&rt->hb, node);
	sent(dsm_tp_send_page(rt->tp, node, &h, dsm_heap_rt_page(&rt->heap, page),
			      npages * rt->heap.page_size));
}

void dsm_rt_send_pages_from(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
			    size_t npages, uint64_t arg1, const void *src)
{
	struct dsm_wire_hdr h = { .type = type, .aux = aux, .arg0 = page, .arg1 = arg1 };

	dsm_hb_sent(&rt->hb, node);
	sent(rt->tp->ops->send_page_from(rt->tp, node, &h, dsm_heap_rt_page(&rt->heap, page), src,
					 npages * rt->heap.page_size));
}

void dsm_rt_send_page(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
		      uint64_t arg1)
{
	dsm_rt_send_pages(rt, node, type, aux, page, 1, arg1);
}

/*
 * How long one loan of a peer's connection lasts before the waiting
 * thread looks at rt->stopping again.  A loan that runs out with nothing
 * for the service thread is renewed: a connection lent out holds back
 * nothing (frames the borrower may not deliver end the loan at once), and
 * a wait that outlasts one budget (a slow peer, a loaded host, a barrier
 * whose last node is late) would otherwise cost the very wake-up of the
 * service thread that the loan saves.
 */
#define WAIT_PEER_BUDGET_NS 2000000ull

void dsm_rt_wait_reply(struct dsm_rt *rt, int node, uint32_t *word, uint32_t val,
		       enum dsm_waiter who)
{
	int ret = -ETIMEDOUT;

	while (rt->tp->ops->wait_peer && ret == -ETIMEDOUT &&
	       !__atomic_load_n(&rt->stopping, __ATOMIC_RELAXED))
		if ((ret = rt->tp->ops->wait_peer(rt->tp, node, word, val, WAIT_PEER_BUDGET_NS,
						  who)) == 0)
			return;
	dsm_wait_change(word, val, rt->spin_ns);
}

int dsm_rt_read_page(struct dsm_rt *rt, int node, uint8_t type, uint32_t aux, size_t page,
		     size_t npages)
{
	struct dsm_wire_hdr h = { .type = type, .aux = aux, .arg0 = page };
	int ret;

	if (!(rt->tp->ops->caps & DSM_TP_CAP_READ))
		return -ENOTSUP;
	ret = rt->tp->ops->read_page(rt->tp, node, &h, dsm_heap_rt_page(&rt->heap, page),
				     npages * rt->heap.page_size);
	if (ret == -EAGAIN || ret == -EINVAL)
		return -EAGAIN;
	sent(ret);
	return 0;
}

void dsm_rt_abort(struct dsm_rt *rt, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/*
	 * Best effort, before we go: a node that only saw our connection
	 * close would report losing us, not the cause.  TCP delivers this
	 * before our FIN; sends to nodes already gone just fail.
	 */
	if (rt && rt->tp) {
		for (int n = 0; n < rt->nnodes; n++)
			if (n != rt->self)
				dsm_rt_send(rt, n, DSM_MSG_ABORT, 0, 0, 0, why, strlen(why) + 1);
		/* Queued behind other output, it would die with us. */
		rt->tp->ops->flush(rt->tp, 200);
	}
	dsm_die("%s; ending the job", why);
}

void dsm_rt_protocol_error(struct dsm_rt *rt, int src, const char *what, uint64_t arg)
{
	dsm_rt_abort(rt, "protocol error: node %d sent %s (%llu)", src, what,
		     (unsigned long long)arg);
}

static void peer_lost(void *ctx, int node, const char *why)
{
	/* Coherence state on the lost node (pages it owned, locks it held)
	 * cannot be recovered without a checkpoint: end the job rather than
	 * hang or compute with lost writes. */
	dsm_rt_abort(ctx, "lost node %d: %s", node, why);
}

static void *service_main(void *arg)
{
	struct dsm_rt *rt = arg;
	sigset_t all;

	/* Application signals go to application threads. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!__atomic_load_n(&rt->stopping, __ATOMIC_ACQUIRE)) {
		uint64_t next = dsm_ticks_run(rt), now;
		int timeout = -1, ret;

		/* Sleep no longer than the next deferred answer; poll in its
		 * last millisecond (epoll's timeout is in milliseconds). */
		if (next) {
			now = dsm_now_ns();
			timeout = next <= now + 1000000 ? 0 : (int)((next - now) / 1000000);
		}
		ret = rt->tp->ops->progress(rt->tp, timeout);

		if (ret < 0 && ret != -DSM_EPEERLOST && ret != -DSM_EPROTO)
			dsm_rt_abort(rt, "the service thread's transport failed: %s", dsm_strerror(ret));
	}
	return NULL;
}

size_t dsm_rt_max_payload(const struct dsm_rt *rt)
{
	/* A page, a diff batch holding at least one diff of a page, sync
	 * messages with a useful number of notices riding along. */
	size_t max = 64 * 1024;

	if (max < 2 * sizeof(uint32_t) + dsm_diff_bound(rt->heap.page_size))
		max = 2 * sizeof(uint32_t) + dsm_diff_bound(rt->heap.page_size);
	if (max < rt->heap.page_size)
		max = rt->heap.page_size;
	if (max < sizeof(struct dsm_stats))
		max = sizeof(struct dsm_stats);
	return max;
}

void dsm_service_params(struct dsm_rt *rt, struct dsm_tp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->cfg = &rt->cfg;
	p->max_payload = dsm_rt_max_payload(rt);
	p->deliver = dsm_msg_dispatch;	/* the modules' registry (module.h) */
	p->peer_lost = peer_lost;
	p->waiter_safe = dsm_msg_is_waiter_safe;
	p->ctx = rt;
}

int dsm_service_start(struct dsm_rt *rt)
{
	int ret = pthread_create(&rt->service, NULL, service_main, rt);

	if (ret) {
		dsm_err("cannot start the service thread: %s", strerror(ret));
		return -ret;
	}
	rt->service_running = true;
	return 0;
}

void dsm_service_stop(struct dsm_rt *rt)
{
	if (!rt->service_running)
		return;
	__atomic_store_n(&rt->stopping, true, __ATOMIC_RELEASE);
	rt->tp->ops->wake(rt->tp);
	pthread_join(rt->service, NULL);
	rt->service_running = false;
}
