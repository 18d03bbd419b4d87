/* SPDX-License-Identifier: BSD-3-Clause */
/* tcp.h - the TCP transport's own state (internal to tcp/). */
#ifndef DSM_TRANSPORT_TCP_H
#define DSM_TRANSPORT_TCP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

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
	bool lent;		/* input lent to a waiting thread: no EPOLLIN */
	bool closed;		/* no more sends (peer lost or closed) */
	/*
	 * Input, under rx_lock: the service thread's, or lent to an
	 * application thread that waits for a reply from this peer
	 * (wait_peer in tcp.c), which then reads and delivers the frames
	 * itself.  A borrower delivers only the types the runtime says are
	 * safe where it waits (params.waiter_safe, borrower); it leaves the first other frame
	 * read but not delivered (held), or its header read but not started,
	 * for the service thread, and ends the loan.  Each read takes the
	 * rest of the body being read straight into place (a runtime
	 * payload into in, a page, DSM_WT_PAGE, into the registered region),
	 * and up to LOOKAHEAD bytes past it into la: the next frames' headers,
	 * and bodies that are small or a page, copied from there into place.
	 * So a frame that came whole costs one recv.
	 */
	struct dsm_wire_hdr next;	/* the header being read */
	size_t next_got;		/* bytes of it read so far */
	struct dsm_wire_hdr cur;	/* the frame whose body is being read */
	struct dsm_wire_hdr inner;	/* DSM_WT_PAGE: the runtime's header */
	bool in_body;			/* cur is valid, its body is being read */
	struct iovec body[2];		/* where the body goes */
	int body_cnt;
	size_t body_len, body_got;
	char *in;			/* max_payload bytes */
	char *la;			/* look-ahead: LOOKAHEAD bytes */
	size_t la_off, la_len;		/* its bytes not yet taken */
	pthread_mutex_t rx_lock;	/* the input side above */
	bool held;			/* cur read whole, to be delivered by the service thread */
	enum dsm_waiter borrower;	/* where the thread that borrowed the input waits */
	uint32_t missed;		/* the service thread found rx_lock lent out */
};

struct dsm_tcp {
	struct dsm_tp tp;	/* first: to_tcp() recovers the container */
	int epfd;
	int wakefd;		/* eventfd: wakes a blocked progress() */
	uint64_t kick;		/* bit per peer: input a borrower left for the service thread */
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
