/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_stranger.c - a stranger on the RDMA network: it connects to a
 * node's rdma_cm listener the way a libdsm node does, claiming to be node
 * FROM, but cannot prove the job's secret.  The node must reject it.
 *
 * usage: rdma_stranger ADDR PORT FROM MODE
 *   ADDR, PORT  the listener, as the node's DSM_LOG=info line gives it
 *               ("fe80::...%rxenet0" and the port)
 *   MODE        forged: a well-formed request (libdsm's magic, from/to,
 *                       a nonce) with a MAC made with another secret;
 *               empty:  no connection data at all;
 *               junk:   56 random bytes.
 * Exit: 0 if the node rejected us, 1 if it accepted (a breach), 2 on a
 * usage error or when the listener could not be reached.
 */
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <rdma/rdma_cma.h>

/* As rdma_connect.c's struct conn_req: magic, from, to, nonce, MAC. */
struct forged_req {
	uint32_t magic;
	uint16_t from, to;
	uint8_t nonce[16];
	uint8_t mac[24];
};

static int wait_event(struct rdma_event_channel *ch, enum rdma_cm_event_type want,
		      enum rdma_cm_event_type *got)
{
	struct rdma_cm_event *ev;

	if (rdma_get_cm_event(ch, &ev))
		return -1;
	*got = ev->event;
	rdma_ack_cm_event(ev);
	return *got == want ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	struct forged_req req = { .magic = 0x52445344u, .to = 0 };
	uint8_t junk[56];
	struct rdma_conn_param p = { .retry_count = 7, .rnr_retry_count = 7,
				     .responder_resources = 1, .initiator_depth = 1 };
	struct ibv_qp_init_attr qa = { .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = 1, .max_recv_wr = 1,
						.max_send_sge = 1, .max_recv_sge = 1 } };
	enum rdma_cm_event_type got = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: rdma_stranger ADDR PORT FROM forged|empty|junk\n");
		return 2;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &ai)) {
		fprintf(stderr, "rdma_stranger: cannot resolve %s\n", argv[1]);
		return 2;
	}
	req.from = (uint16_t)atoi(argv[3]);
	if (getrandom(req.nonce, sizeof(req.nonce), 0) < 0 ||
	    getrandom(req.mac, sizeof(req.mac), 0) < 0 || getrandom(junk, sizeof(junk), 0) < 0)
		return 2;
	if (!strcmp(argv[4], "forged")) {
		p.private_data = &req;
		p.private_data_len = sizeof(req);
	} else if (!strcmp(argv[4], "junk")) {
		p.private_data = junk;
		p.private_data_len = sizeof(junk);
	} else if (strcmp(argv[4], "empty")) {
		fprintf(stderr, "rdma_stranger: unknown mode %s\n", argv[4]);
		return 2;
	}
	ch = rdma_create_event_channel();
	if (!ch || rdma_create_id(ch, &id, NULL, RDMA_PS_TCP) ||
	    rdma_resolve_addr(id, NULL, ai->ai_addr, 5000) ||
	    wait_event(ch, RDMA_CM_EVENT_ADDR_RESOLVED, &got) ||
	    rdma_resolve_route(id, 5000) || wait_event(ch, RDMA_CM_EVENT_ROUTE_RESOLVED, &got) ||
	    rdma_create_qp(id, NULL, &qa) || rdma_connect(id, &p)) {
		fprintf(stderr, "rdma_stranger: cannot reach %s port %s: %s (event %s)\n", argv[1],
			argv[2], strerror(errno), rdma_event_str(got));
		return 2;
	}
	if (wait_event(ch, RDMA_CM_EVENT_REJECTED, &got) == 0) {
		printf("rdma_stranger (%s): rejected, as it should be\n", argv[4]);
		return 0;
	}
	printf("rdma_stranger (%s): the node answered %s\n", argv[4], rdma_event_str(got));
	return got == RDMA_CM_EVENT_ESTABLISHED ? 1 : 2;
}
