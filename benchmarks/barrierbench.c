/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * barrierbench.c - what a dsm_barrier() of N nodes costs, against a TCP
 * round trip measured in the same run.
 *
 *   dsmrun -n N benchmarks/barrierbench [-r R] [-s S]
 *
 * R rounds (7) of S back-to-back barriers (300) on every node, each timed
 * around the call.  A round's figure is the slowest node's median: a
 * barrier is done when its last node leaves it.  Between the rounds,
 * node 1 times S round trips of 64 bytes to node 0 over a plain loopback
 * TCP socket (TCP_NODELAY, blocking send and recv, as microbench's floor),
 * while the other nodes wait.  The report is the median over rounds of
 * both, their ratio, and the goal that a tree of round trips sets: a
 * barrier of N in at most 2 log2(N) round trips.  The messages per barrier
 * (every node's msgs_sent over the timed barriers, summed) do not vary
 * from run to run.
 *
 * Output, on node 0:
 *   DSM_BARRIER_BENCH nodes=N model=M rounds=R samples=S barrier_us=B
 *     rt64_us=T ratio=B/T goal=2log2N msgs_per_barrier=X
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dsm.h>

#include "benchmarks/bench_common.h"

#define MAX_ROUNDS 101
#define WARMUP 50

/* In shared memory: what node 0 prints. */
struct shared {
	int port;				/* node 0's floor socket */
	int connected;
	double node_median[DSM_MAX_NODES][MAX_ROUNDS];	/* µs, per node and round */
	double rt_median[MAX_ROUNDS];		/* µs, node 1's floor rounds */
	uint64_t msgs[DSM_MAX_NODES];		/* sent during the timed barriers */
};

static int me, nodes, rounds = 7, samples = 300;
static struct shared *sh;
static double *buf;

static int floor_setup(void)
{
	int lfd = -1, fd = -1, one = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (me == 0) {
		sh->port = -1;
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    listen(lfd, 1) == 0 && getsockname(lfd, (struct sockaddr *)&sin, &len) == 0)
			sh->port = ntohs(sin.sin_port);
		else
			fprintf(stderr, "barrierbench: node 0: TCP listen: %s\n", strerror(errno));
	}
	dsm_barrier();
	if (me == 1) {
		sh->connected = 0;
		sin.sin_port = htons((uint16_t)sh->port);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (sh->port > 0 && fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			sh->connected = 1;
		else
			fprintf(stderr, "barrierbench: node 1: TCP connect to node 0 (same host "
				"only): %s\n", strerror(errno));
	}
	dsm_barrier();
	if (me == 0 && sh->connected)
		fd = accept(lfd, NULL, NULL);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lfd >= 0)
		close(lfd);
	dsm_barrier();
	return fd;
}

/* One floor round: node 1 pings, node 0 echoes; -1 if the socket broke. */
static int floor_round(int fd, int r)
{
	char msg[64] = { 0 };

	for (int k = 0; k < WARMUP + samples; k++) {
		uint64_t t0 = bench_now_ns();

		if (me == 1 ? bench_send_all(fd, msg, sizeof(msg)) || bench_recv_all(fd, msg, sizeof(msg))
			    : bench_recv_all(fd, msg, sizeof(msg)) || bench_send_all(fd, msg, sizeof(msg)))
			return -1;
		if (me == 1 && k >= WARMUP)
			buf[k - WARMUP] = (double)(bench_now_ns() - t0) / 1000.0;
	}
	if (me == 1)
		sh->rt_median[r] = bench_median(buf, samples);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: barrierbench [-r ROUNDS] [-s SAMPLES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct dsm_stats s0, s1;
	double rmax[MAX_ROUNDS], bar, rt;
	uint64_t msgs = 0;
	int opt, fd;

	if (dsm_init(&argc, &argv) < 0)
		return 1;
	while ((opt = getopt(argc, argv, "r:s:")) != -1) {
		if ((opt == 'r' && bench_parse_int(optarg, 1, MAX_ROUNDS, &rounds) < 0) ||
		    (opt == 's' && bench_parse_int(optarg, 10, 1000000, &samples) < 0) ||
		    (opt != 'r' && opt != 's'))
			usage();
	}
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	if (nodes < 2) {
		fprintf(stderr, "barrierbench: run it on 2 nodes or more (dsmrun -n N)\n");
		return 2;
	}
	sh = dsm_alloc_collective(sizeof(*sh));
	buf = malloc(sizeof(double) * (size_t)samples);
	if (!sh || !buf) {
		fprintf(stderr, "barrierbench: out of memory\n");
		return 1;
	}
	fd = floor_setup();
	for (int r = 0; r < rounds; r++) {
		if (fd >= 0 && (me == 0 || me == 1) && floor_round(fd, r) < 0) {
			fprintf(stderr, "barrierbench: node %d: TCP ping-pong broke\n", me);
			close(fd);
			fd = -1;
		}
		dsm_barrier();
		for (int k = 0; k < WARMUP; k++)
			dsm_barrier();
		dsm_get_stats(&s0);
		for (int k = 0; k < samples; k++) {
			uint64_t t0 = bench_now_ns();

			dsm_barrier();
			buf[k] = (double)(bench_now_ns() - t0) / 1000.0;
		}
		dsm_get_stats(&s1);
		msgs = s1.msgs_sent - s0.msgs_sent;
		/* Written after the timed barriers, read after the next one. */
		sh->node_median[me][r] = bench_median(buf, samples);
		sh->msgs[me] += msgs;
	}
	dsm_barrier();
	if (me == 0) {
		uint64_t total = 0;

		for (int r = 0; r < rounds; r++) {
			rmax[r] = 0;
			for (int n = 0; n < nodes; n++)
				if (sh->node_median[n][r] > rmax[r])
					rmax[r] = sh->node_median[n][r];
		}
		for (int n = 0; n < nodes; n++)
			total += sh->msgs[n];
		bar = bench_median(rmax, rounds);
		rt = sh->connected ? bench_median(sh->rt_median, rounds) : 0;
		printf("DSM_BARRIER_BENCH nodes=%d model=%s rounds=%d samples=%d barrier_us=%.1f "
		       "rt64_us=%.1f ratio=%.2f goal=%.2f msgs_per_barrier=%.2f\n",
		       nodes, bench_model_name(dsm_consistency()), rounds, samples, bar, rt,
		       rt > 0 ? bar / rt : 0.0, 2 * log2((double)nodes),
		       (double)total / ((double)rounds * samples));
		fflush(stdout);
	}
	if (fd >= 0)
		close(fd);
	return dsm_finalize() < 0;
}
