/* SPDX-License-Identifier: BSD-3-Clause */
/* tcp.h - the TCP transport's own state (internal to tcp/). */
#ifndef DSM_TRANSPORT_TCP_H
#define DSM_TRANSPORT_TCP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm.h"
#include "runtime/base/compiler.h"
#include "runtime/transport/transport.h"

/* One connection per pair of nodes. */
struct dsm_tcp_conn {
	int fd;			/* -1 for this node itself and after close */
	int peer;
	/* Output queue: bytes the kernel did not take at once.  Filled by any
	 * sender, drained by the service thread.  Guarded by lock. */
	pthread_mutex_t lock;
	char *out;
	size_t out_off;		/* first unsent byte */
	size_t out_len;		/* end of queued bytes */
	size_t out_cap;
	bool out_armed;		/* EPOLLOUT requested */
	bool closed;		/* no more sends (peer lost or closed) */
	/* Input: service thread only. */
	char *in;
	size_t in_len;
	size_t in_cap;
	/* Orderly shutdown: the peer's BYE arrived (service thread writes,
	 * the finalize thread reads). */
	bool bye_recv;
};

struct dsm_tcp {
	struct dsm_tp tp;	/* first: to_tcp() recovers the container */
	int epfd;
	int wakefd;		/* eventfd: wakes a blocked progress() */
	size_t max_frame;	/* header + largest payload */
	struct dsm_tcp_conn conns[DSM_MAX_NODES];
};

static inline struct dsm_tcp *to_tcp(struct dsm_tp *tp)
{
	return container_of(tp, struct dsm_tcp, tp);
}

/*
 * Connection setup (tcp_connect.c): rendezvous through node 0, full mesh,
 * authentication of every peer.  Fills conns[*].fd with blocking sockets.
 * Init thread.  0 or a negative code after one log line.
 */
int dsm_tcp_connect_all(struct dsm_tcp *t);

#endif /* DSM_TRANSPORT_TCP_H */
