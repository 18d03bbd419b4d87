/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_floor.c - the RDMA floors of the micro-benchmark: what the verbs
 * themselves cost between the same two processes, with none of libdsm.
 *
 * One RC queue pair between node 0 and node 1, connected by hand (the
 * two sides swap LID, GID, QP number and the buffer's rkey over the
 * benchmark's TCP connection, as ibv_rc_pingpong does) on the device that
 * DSM_RDMA_DEVICE / DSM_RDMA_PORT name, else the first active port.
 * Floors, node 1 measuring:
 *   - RDMA READ of len bytes from node 0's registered buffer, posted and
 *     polled to completion (node 0's CPU takes no part);
 *   - SEND/RECV ping-pong of len bytes: node 1 sends, node 0's receive
 *     completes, it sends back, node 1's receive completes.
 * Completions are busy-polled on both sides: the floor is the wire and
 * the HCA (or Soft-RoCE's kernel thread), not a wake-up.
 */
#include "benchmarks/rdma_floor.h"

#if HAVE_VERBS
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

struct rdma_floor {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	char *buf;		/* [0, len): send/read target; [len, 2len): receive */
	size_t len;
	uint32_t peer_rkey;
	uint64_t peer_addr;
};

/* What each side tells the other. */
struct rf_info {
	uint16_t lid;
	uint8_t gid[16];
	uint32_t qpn, psn, rkey;
	uint64_t addr;
};

static int env_uint(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

/* The device DSM_RDMA_DEVICE names, or the first with an active port. */
static struct ibv_context *open_device(int *port_p, const char **why)
{
	const char *want = getenv("DSM_RDMA_DEVICE");
	int nd, want_port = env_uint("DSM_RDMA_PORT", 0);
	struct ibv_device **list = ibv_get_device_list(&nd);
	struct ibv_context *ctx = NULL;

	*why = "no RDMA device";
	for (int i = 0; list && i < nd && !ctx; i++) {
		struct ibv_device_attr da;

		if (want && *want && strcmp(ibv_get_device_name(list[i]), want))
			continue;
		ctx = ibv_open_device(list[i]);
		if (!ctx || ibv_query_device(ctx, &da)) {
			*why = "cannot open the RDMA device";
			if (ctx)
				ibv_close_device(ctx);
			ctx = NULL;
			continue;
		}
		for (int p = 1; p <= da.phys_port_cnt; p++) {
			struct ibv_port_attr pa;

			if ((want_port && p != want_port) || ibv_query_port(ctx, (uint8_t)p, &pa) ||
			    pa.state != IBV_PORT_ACTIVE)
				continue;
			*port_p = p;
			break;
		}
		if (!*port_p) {
			*why = "no active port on the RDMA device";
			ibv_close_device(ctx);
			ctx = NULL;
		}
	}
	if (list)
		ibv_free_device_list(list);
	return ctx;
}

static int exchange(int fd, const struct rf_info *mine, struct rf_info *theirs)
{
	if (bench_send_all(fd, mine, sizeof(*mine)) || bench_recv_all(fd, theirs, sizeof(*theirs)))
		return -1;
	return 0;
}

static int connect_qp(struct rdma_floor *f, int port, int gid_index, const struct rf_info *me,
		      const struct rf_info *peer)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0, .port_num = (uint8_t)port,
		.qp_access_flags = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
	};
	static const uint8_t zero[16];

	if (ibv_modify_qp(f->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = peer->qpn;
	a.rq_psn = peer->psn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.dlid = peer->lid;
	a.ah_attr.port_num = (uint8_t)port;
	if (memcmp(peer->gid, zero, 16)) {	/* RoCE, or IB across subnets */
		a.ah_attr.is_global = 1;
		memcpy(&a.ah_attr.grh.dgid, peer->gid, 16);
		a.ah_attr.grh.sgid_index = (uint8_t)gid_index;
		a.ah_attr.grh.hop_limit = 1;
	}
	if (ibv_modify_qp(f->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = me->psn;
	a.max_rd_atomic = 1;
	return ibv_modify_qp(f->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC) ? -1 : 0;
}

struct rdma_floor *rdma_floor_open(int fd, int me, size_t len, const char **why)
{
	struct rdma_floor *f = calloc(1, sizeof(*f));
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct rf_info mine = { 0 }, theirs;
	struct ibv_port_attr pa;
	union ibv_gid gid;
	int port = 0, gid_index = env_uint("DSM_RDMA_GID_INDEX", 0), ok;

	if (!f)
		return NULL;
	f->len = len;
	f->ctx = open_device(&port, why);
	ok = f->ctx != NULL;
	if (ok) {
		*why = "cannot set up verbs resources";
		f->pd = ibv_alloc_pd(f->ctx);
		f->cq = f->pd ? ibv_create_cq(f->ctx, 8, NULL, NULL, 0) : NULL;
		f->buf = aligned_alloc(4096, 2 * len);
		f->mr = f->cq && f->buf ? ibv_reg_mr(f->pd, f->buf, 2 * len, IBV_ACCESS_LOCAL_WRITE |
						     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE) : NULL;
		qa.send_cq = qa.recv_cq = f->cq;
		f->qp = f->mr ? ibv_create_qp(f->pd, &qa) : NULL;
		ok = f->qp && !ibv_query_port(f->ctx, (uint8_t)port, &pa) &&
		     !ibv_query_gid(f->ctx, (uint8_t)port, gid_index, &gid);
	}
	if (ok) {
		mine.lid = pa.lid;
		memcpy(mine.gid, gid.raw, 16);
		mine.qpn = f->qp->qp_num;
		mine.psn = (uint32_t)(lrand48() & 0xffffff);
		mine.rkey = f->mr->rkey;
		mine.addr = (uintptr_t)f->buf;
		memset(f->buf, me + 1, 2 * len);
	}
	/* Both sides always exchange, so that one side's failure cannot
	 * leave the other waiting: a zero qpn says "no floor". */
	if (exchange(fd, &mine, &theirs) || !ok || !theirs.qpn) {
		if (ok)
			*why = "the other node has no RDMA floor";
		rdma_floor_close(f);
		return NULL;
	}
	f->peer_rkey = theirs.rkey;
	f->peer_addr = theirs.addr;
	/* Both QPs ready to receive before either sends; again both sides
	 * exchange whatever happened. */
	ok = connect_qp(f, port, gid_index, &mine, &theirs) == 0;
	if (!ok)
		mine.qpn = 0;
	if (exchange(fd, &mine, &theirs) || !ok || !theirs.qpn) {
		*why = ok ? "the other node could not connect its queue pair" :
		       "cannot connect the queue pair";
		rdma_floor_close(f);
		return NULL;
	}
	return f;
}

/*
 * Busy-poll one completion.  0, or -1 on an error completion or after
 * RF_WAIT_NS without one (the other side gave up: never hang).
 */
#define RF_WAIT_NS 10000000000ull
static int wait_one(struct rdma_floor *f)
{
	uint64_t end = bench_now_ns() + RF_WAIT_NS;
	struct ibv_wc wc;
	int n;

	while ((n = ibv_poll_cq(f->cq, 1, &wc)) == 0 && bench_now_ns() < end)
		;
	if (n <= 0 || wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "microbench: RDMA floor: completion failed: %s\n",
			n < 0 ? "poll error" : n == 0 ? "none in 10 s" : ibv_wc_status_str(wc.status));
		return -1;
	}
	return 0;
}

static int post_recv(struct rdma_floor *f, size_t len)
{
	struct ibv_sge sge = { (uintptr_t)f->buf + f->len, (uint32_t)len, f->mr->lkey };
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(f->qp, &wr, &bad) ? -1 : 0;
}

static int post_send(struct rdma_floor *f, enum ibv_wr_opcode op, size_t len)
{
	struct ibv_sge sge = { (uintptr_t)f->buf, (uint32_t)len, f->mr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (op == IBV_WR_RDMA_READ) {
		wr.wr.rdma.remote_addr = f->peer_addr;
		wr.wr.rdma.rkey = f->peer_rkey;
	}
	return ibv_post_send(f->qp, &wr, &bad) ? -1 : 0;
}

int rdma_floor_read(struct rdma_floor *f, size_t len)
{
	if (post_send(f, IBV_WR_RDMA_READ, len) || wait_one(f))
		return -1;
	/* What node 0 filled its buffer with, to catch a floor that moved nothing. */
	return (unsigned char)f->buf[len - 1] == 1 ? 0 : -1;
}

int rdma_floor_pingpong(struct rdma_floor *f, int me, size_t len)
{
	if (post_recv(f, len))
		return -1;
	if (me == 0)	/* echo: receive, then send back */
		return wait_one(f) || post_send(f, IBV_WR_SEND, len) || wait_one(f) ? -1 : 0;
	/* send, then receive: two completions, in either order */
	return post_send(f, IBV_WR_SEND, len) || wait_one(f) || wait_one(f) ? -1 : 0;
}

void rdma_floor_close(struct rdma_floor *f)
{
	if (!f)
		return;
	if (f->qp)
		ibv_destroy_qp(f->qp);
	if (f->mr)
		ibv_dereg_mr(f->mr);
	if (f->cq)
		ibv_destroy_cq(f->cq);
	if (f->pd)
		ibv_dealloc_pd(f->pd);
	if (f->ctx)
		ibv_close_device(f->ctx);
	free(f->buf);
	free(f);
}

#else /* !HAVE_VERBS */

struct rdma_floor *rdma_floor_open(int fd, int me, size_t len, const char **why)
{
	(void)fd, (void)me, (void)len;
	*why = "built without verbs headers";
	return NULL;
}

int rdma_floor_read(struct rdma_floor *f, size_t len)
{
	(void)f, (void)len;
	return -1;
}

int rdma_floor_pingpong(struct rdma_floor *f, int me, size_t len)
{
	(void)f, (void)me, (void)len;
	return -1;
}

void rdma_floor_close(struct rdma_floor *f)
{
	(void)f;
}
#endif
