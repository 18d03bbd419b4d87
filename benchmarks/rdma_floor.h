/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_floor.h - the micro-benchmark's RDMA floors (rdma_floor.c): a bare
 * RDMA READ and a SEND/RECV ping-pong between the benchmark's two
 * processes, over a queue pair of their own.
 */
#ifndef DSM_BENCH_RDMA_FLOOR_H
#define DSM_BENCH_RDMA_FLOOR_H

#include <stddef.h>

#include "benchmarks/bench_common.h"

struct rdma_floor;

/*
 * Both nodes, collective over fd (a connected TCP socket between them):
 * open a queue pair with buffers of len bytes.  NULL with *why set when
 * there is no device (or no verbs in this build), on both sides.
 */
struct rdma_floor *rdma_floor_open(int fd, int me, size_t len, const char **why);
/* Node 1: one RDMA READ of len bytes from node 0's buffer.  0 or -1. */
int rdma_floor_read(struct rdma_floor *f, size_t len);
/* Both nodes: one round trip of len bytes (node 0 echoes).  0 or -1. */
int rdma_floor_pingpong(struct rdma_floor *f, int me, size_t len);
void rdma_floor_close(struct rdma_floor *f);

#endif /* DSM_BENCH_RDMA_FLOOR_H */
