/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_connect.c - the TCP transport's connections: one per pair of
 * nodes, each authenticated both ways.
 *
 * The bootstrap (bootstrap.h) has already met node 0, proved the secret
 * and checked the settings.  Every node opens a listener of its own and
 * the bootstrap's all-gather tells everyone where all listen.  Then node i
 * connects to nodes 0..i-1 and accepts nodes i+1..N-1, with the
 * bootstrap's handshake on every connection: a stranger that reaches a
 * listener is refused like one that reaches node 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/log.h"
#include "runtime/transport/bootstrap.h"
#include "runtime/transport/tcp/tcp.h"

#define ADDR_LEN 64			/* one endpoint: "host:port" */

static int connect_mesh(struct dsm_tcp *t, struct dsm_boot *b)
{
	int n = t->tp.nnodes, self = t->tp.self, lfd, ret = 0;
	char me[ADDR_LEN] = "", (*table)[ADDR_LEN];
	int fds[DSM_MAX_NODES];

	lfd = dsm_boot_listen(b->local_host, "0", false);
	if (lfd < 0) {
		dsm_err("cannot listen on %s for the other nodes: %s%s", b->local_host, strerror(-lfd),
			b->cfg->boot.node_host[0] ?
			" (DSM_NODE_HOST: give a name or address of this machine)" : "");
		return -DSM_ECONFIG;
	}
	dsm_boot_listener_addr(lfd, me, sizeof(me));
	table = calloc((size_t)n, ADDR_LEN);
	if (!table) {
		close(lfd);
		return -ENOMEM;
	}
	ret = dsm_boot_allgather(b, me, ADDR_LEN, table);
	for (int j = 0; j < self && ret == 0; j++) {
		int fd;

		table[j][ADDR_LEN - 1] = '\0';
		fd = dsm_boot_connect(b, table[j]);
		if (fd < 0) {
			dsm_err("cannot reach node %d at %s: %s", j, table[j], strerror(-fd));
			ret = -DSM_ETIMEDOUT;
			break;
		}
		ret = dsm_boot_handshake_initiator(b, fd, j, table[j]);
		if (ret < 0)
			close(fd);
		else
			t->conns[j].fd = fd;
	}
	for (int i = 0; i < DSM_MAX_NODES; i++)
		fds[i] = t->conns[i].fd;
	if (ret == 0 && self + 1 < n) {
		ret = dsm_boot_accept(b, lfd, self + 1, n - 1, fds);
		for (int i = self + 1; i < n; i++)
			t->conns[i].fd = fds[i];
	}
	free(table);
	close(lfd);
	return ret;
}

int dsm_tcp_connect_all(struct dsm_tcp *t)
{
	struct dsm_boot b;
	int ret = dsm_boot_open(&b, t->tp.params.cfg);

	if (ret < 0)
		return ret;
	ret = connect_mesh(t, &b);
	/* Everyone's mesh is up before anyone's bootstrap connection closes:
	 * a node still connecting must not see node 0 go away. */
	if (ret == 0)
		ret = dsm_boot_barrier(&b);
	dsm_boot_close(&b);
	if (ret < 0)
		return ret;
	for (int i = 0; i < t->tp.nnodes; i++)
		if (i != t->tp.self)
			dsm_boot_tune_socket(t->conns[i].fd);
	return 0;
}
