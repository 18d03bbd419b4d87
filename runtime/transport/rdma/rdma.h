/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma.h - the RDMA transport's own state (internal to rdma/).
 *
 * One reliable-connected queue pair per pair of nodes, set up with
 * rdma_cm (rdma_connect.c); every QP of a node shares one protection
 * domain, one completion queue and one completion channel, which the
 * service thread polls (rdma.c).
 *
 * Control messages travel as SEND/RECV between registered buffers:
 *   - each QP has RX_DEPTH receive buffers posted, each large enough for
 *     the largest frame (header + max_payload);
 *   - a sender owns one credit per receive buffer the peer has posted
 *     for it, spends one per SEND, and gets them back in the immediate
 *     data of the peer's SENDs (or in a SEND of no bytes, a credit-only
 *     message, when the peer has nothing else to say), so that a burst
 *     never finds the receiver without a buffer;
 *   - outgoing frames are copied into a per-peer ring of registered memory
 *     (no allocation, no wait on the network: a send from the fault path
 *     returns at once) and posted when credits allow, in ring order.
 * Page data is one-sided.  send_page posts an RDMA WRITE of the page from
 * our registered heap view into the same offset of the peer's, then a
 * SEND of the header on the same QP.  RC queue pairs execute a QP's work
 * requests in order, and a receive completion is reported only once the
 * data of every earlier WRITE on that QP has been placed, so the peer
 * sees the page in place when the header arrives.  read_page posts an
 * RDMA READ of the peer's copy into ours; its completion (on the send
 * queue's CQ) makes the service thread deliver the caller's header, as if
 * the peer had answered.
 */
#ifndef DSM_TRANSPORT_RDMA_H
#define DSM_TRANSPORT_RDMA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "dsm.h"
#include "runtime/base/compiler.h"
#include "runtime/transport/auth.h"
#include "runtime/transport/bootstrap.h"
#include "runtime/transport/transport.h"

/*
 * Receive buffers per QP (and so credits per peer): at most RX_DEPTH_MAX,
 * fewer when frames are large (big pages), never fewer than
 * RX_DEPTH_MIN.  A credit-only message goes back once a quarter of them
 * has been freed, so one never answers another (RX_DEPTH_MIN / 4 >= 2).
 */
#define RX_DEPTH_MAX 16
#define RX_DEPTH_MIN 8
#define RX_BYTES_PER_PEER (4u << 20)
/* RDMA READs in flight per peer (read_page); more answer -EAGAIN. */
#define READ_SLOTS 16

/* What each node tells the others through the bootstrap's all-gather. */
struct rdma_endpoint {
	struct sockaddr_storage addr;	/* rdma_cm listener: address and port */
	uint8_t nonce[DSM_NONCE_LEN];	/* fresh per job: bound into every MAC */
};

/* What each node tells the others once its heap is registered. */
struct rdma_region {
	uint64_t base;
	uint64_t len;
	uint32_t rkey;
	uint32_t reserved;
};

/* The kinds of ring entry. */
enum { ENT_SEND = 1, ENT_PAGE, ENT_SKIP };

/* A frame waiting in (or sent from) a send ring; followed by its bytes. */
struct rdma_ent {
	uint32_t size;		/* the whole entry, header included, 64-byte aligned */
	uint32_t kind;		/* ENT_* */
	uint32_t bytes;		/* frame bytes that follow (what the SEND carries) */
	uint32_t page_len;	/* ENT_PAGE: bytes to RDMA WRITE */
	uint64_t page_off;	/* ENT_PAGE: offset in the registered region */
	uint64_t reserved;
};

/* A read_page in flight: what to deliver when its READ completes. */
struct rdma_read {
	struct dsm_wire_hdr hdr;
	char *page;
	uint32_t state;			/* READ_* (rdma.c); atomic */
};

struct rdma_conn {
	int peer;
	struct rdma_cm_id *id;		/* NULL for this node itself */
	struct ibv_qp *qp;
	bool established;
	/*
	 * Sending: any thread.  Guarded by lock.  Ring positions count bytes
	 * since the start, modulo ring_cap for the place: [tail, posted) is
	 * posted and not yet completed, [posted, head) waits for credits.
	 */
	pthread_mutex_t lock;
	char *ring;			/* ring_cap bytes of the send MR */
	size_t ring_cap;
	uint64_t head, posted, tail;
	int credits;			/* receive buffers the peer has for us */
	uint32_t to_return;		/* buffers we reposted, not yet told */
	bool closed;			/* lost or shut: sends fail */
	struct rdma_read reads[READ_SLOTS];	/* slots taken and freed under lock */
	/* Frames that found the ring full, in order, before any later one. */
	struct rdma_overflow *ovf_head, *ovf_tail;
	/* Receiving: service thread only. */
	char *rx;			/* rx_depth buffers of rx_size bytes, in the recv MR */
	/* The peer's registered region (register_mem). */
	uint64_t peer_base;
	uint32_t peer_rkey;
};

struct rdma_overflow {
	struct rdma_overflow *next;
	struct rdma_ent ent;		/* and its bytes */
};

struct dsm_rdma {
	struct dsm_tp tp;		/* first: to_rdma() recovers the container */
	struct rdma_event_channel *cm_ch;
	struct rdma_cm_id *listen_id;
	struct ibv_context *verbs;	/* the device every id of ours is bound to */
	uint8_t port;
	char devname[64];
	char local_addr[128];		/* for messages */
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp_ch;	/* both CQs report here */
	struct ibv_cq *scq, *rcq;	/* send and receive completions */
	int cq_size;
	unsigned int unacked_scq, unacked_rcq;	/* channel events not yet acked */
	bool reads_done;		/* a READ completed: the service thread delivers it */
	int epfd, wakefd;
	/* one allocation for every ring and receive buffer, registered once */
	char *bufs;
	size_t bufs_len;
	struct ibv_mr *buf_mr;
	struct ibv_mr *heap_mr;		/* register_mem */
	uint8_t rd_depth;		/* RDMA READs in flight per QP, each way (the
					 * device's limit, at most 4) */
	size_t rx_size;			/* a frame: header + max_payload */
	int rx_depth;
	/*
	 * Receive completions are handled by the service thread only
	 * (poll_lock: it and close); send completions by whoever holds
	 * send_poll_lock (the service thread, or flush() in any thread), one
	 * at a time so that a ring's tail only moves forward.
	 */
	pthread_mutex_t poll_lock, send_poll_lock;
	/* setup: the bootstrap stays open until register_mem has exchanged
	 * the regions' keys */
	struct dsm_boot boot;
	bool boot_open;
	struct rdma_endpoint *eps;	/* every node's, from the all-gather */
	struct rdma_conn conns[DSM_MAX_NODES];
};

static inline struct dsm_rdma *to_rdma(struct dsm_tp *tp)
{
	return container_of(tp, struct dsm_rdma, tp);
}

/*
 * rdma_connect.c: pick the device and the local address, listen, meet
 * every node through the bootstrap and connect one authenticated QP to
 * each (create_qp below makes them).  Init thread.  0 or a negative code
 * after one log line.
 */
int dsm_rdma_connect_all(struct dsm_rdma *r);
/* A job of one: only check that the device DSM_RDMA_* names is there. */
int dsm_rdma_probe_device(struct dsm_rdma *r);
/* After setup: a connection request from anyone is refused, with a warning. */
void dsm_rdma_refuse(struct dsm_rdma *r, struct rdma_cm_event *ev);

/*
 * rdma.c: the verbs resources of the node (PD, CQ, buffers) once the
 * device is known, and a QP for conn on its cm id with its receive
 * buffers posted.  0 or a negative code after one log line.
 */
int dsm_rdma_setup_verbs(struct dsm_rdma *r);
int dsm_rdma_create_qp(struct dsm_rdma *r, struct rdma_conn *c);

#endif /* DSM_TRANSPORT_RDMA_H */
