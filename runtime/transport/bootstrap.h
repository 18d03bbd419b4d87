/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bootstrap.h - the start of a job, shared by every transport (internal).
 *
 * Rendezvous, authentication with the job's secret and the settings check
 * happen once, here, over TCP to node 0's root address (DSM_ROOT_ADDR;
 * dsmrun hands node 0 an already-listening socket as DSM_LISTEN_FD).  Then
 * every transport exchanges what its peers need to reach it (an endpoint
 * blob: a TCP listening address, or an rdma_cm address and a nonce) with
 * one all-gather through node 0.  Only nodes that proved the secret ever
 * see a blob.
 *
 * The bootstrap's connections (node 0 to each node) stay open until
 * dsm_boot_close(), so that a transport may use dsm_boot_barrier() once its
 * own connections are up.  Init thread only; nothing here waits longer
 * than DSM_CONNECT_TIMEOUT.
 */
#ifndef DSM_TRANSPORT_BOOTSTRAP_H
#define DSM_TRANSPORT_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dsm.h"
#include "runtime/base/config.h"
#include "runtime/transport/auth.h"
#include "runtime/transport/wire.h"

/* The launcher's part (DSM_ROOT_ADDR, DSM_LISTEN_FD, DSM_NODE_HOST) is
 * cfg->boot, parsed and validated with the rest of the configuration. */
struct dsm_boot {
	const struct dsm_config *cfg;
	int self, nnodes;
	uint64_t deadline_ns;		/* dsm_now_ns() at which setup gives up */
	int fd[DSM_MAX_NODES];		/* node 0: to every other node; others: fd[0] */
	char local_host[256];		/* where this node listens for its peers */
};

/*
 * Connect every node to node 0, authenticate both ways, and compare the
 * job settings.  A stranger that fails the handshake at node 0 is refused
 * with a warning and node 0 goes on waiting.  0, or a negative code after
 * one line (-DSM_ETIMEDOUT, -DSM_EAUTH, -DSM_ECONFIG, -DSM_EPEERLOST).
 */
int dsm_boot_open(struct dsm_boot *b, const struct dsm_config *cfg);

/*
 * Every node gives len bytes; all (nnodes * len bytes) gets every node's,
 * in node order.  Collective.  0 or a negative code after one line.
 */
int dsm_boot_allgather(struct dsm_boot *b, const void *mine, size_t len, void *all);

/* Collective: returns when every node has called it.  0 or negative. */
int dsm_boot_barrier(struct dsm_boot *b);

/* Close the bootstrap's connections. */
void dsm_boot_close(struct dsm_boot *b);

/*
 * For transports whose own connections are byte streams (TCP): the
 * initiator's side of one connection's handshake, authenticated both ways
 * with the job's secret and settings-checked: we connected to node peer
 * at addr (for the error line).  0 or a negative code after one line.
 */
int dsm_boot_handshake_initiator(const struct dsm_boot *b, int fd, int peer, const char *addr);

/*
 * The acceptor's side, as a state machine over received bytes, so that
 * dsm_boot_accept() runs many handshakes side by side and the fuzz target
 * (tests/fuzz/fuzz_handshake.c) drives the same parser without sockets.
 *
 * Bound on strangers: at most DSM_BOOT_MAX_PENDING unauthenticated
 * connections at once (one more drops the oldest), each closed if its
 * handshake is not complete DSM_BOOT_HANDSHAKE_MS after its accept.
 */
#define DSM_BOOT_HANDSHAKE_MS 3000
#define DSM_BOOT_MAX_PENDING 32

enum dsm_boot_hs_state {
	DSM_HS_HELLO_HDR,	/* reading the initiator's HELLO header */
	DSM_HS_HELLO_BODY,	/* ... its payload */
	DSM_HS_AUTH_HDR,	/* our HELLO sent; reading its AUTH header */
	DSM_HS_AUTH_BODY,	/* ... its MAC */
	DSM_HS_DONE,		/* it proved the secret */
};

struct dsm_boot_hs {
	int fd;				/* -1: slot free */
	int state;			/* enum dsm_boot_hs_state, moved by _advance */
	int src;			/* the node id it claims; -1 before its header */
	uint64_t deadline_ns;		/* dsm_now_ns() at which it is dropped */
	size_t got;			/* bytes of the current part received */
	struct dsm_wire_hdr hdr;	/* the frame header being read */
	struct dsm_hello theirs;	/* its HELLO */
	uint8_t auth[DSM_SHA256_LEN];	/* its AUTH: the initiator's MAC */
	struct {
		struct dsm_wire_hdr hdr;
		struct dsm_hello hello;
	} out;				/* our HELLO, once theirs is in */
	size_t out_len;			/* bytes of out the caller must send; 0: none */
};

void dsm_boot_hs_init(struct dsm_boot_hs *hs, int fd, uint64_t deadline_ns);
/* Where the next received bytes go, and at most how many. */
void dsm_boot_hs_want(struct dsm_boot_hs *hs, void **buf, size_t *len);
/*
 * n bytes arrived in that buffer.  0: more wanted (send hs->out_len bytes of
 * hs->out first if set); 1: authenticated as node hs->src (the caller
 * checks its settings); -EACCES with *why: a stranger, to be closed; any
 * other negative code: a local failure.
 */
int dsm_boot_hs_advance(const struct dsm_boot *b, struct dsm_boot_hs *hs, size_t n, int lo,
			int hi, const int *fds, const char **why);

/*
 * The socket plumbing the bootstrap uses, for TCP's own connections:
 * listen on host (port "0": any), the listener's "host:port", connect to
 * "host:port" retrying until the deadline (fd or a negative code), and
 * accept until every node in [lo, hi] has connected and passed the
 * handshake (fds[i] set for each; strangers refused with a warning, within
 * the bound above, while the real nodes go on joining).
 */
int dsm_boot_listen(const char *host, const char *port, bool reuse);
void dsm_boot_listener_addr(int lfd, char *out, size_t len);
int dsm_boot_connect(const struct dsm_boot *b, const char *addr);
int dsm_boot_accept(const struct dsm_boot *b, int lfd, int lo, int hi, int *fds);
/*
 * "host:port" or "[host]:port" of an IP socket address, for the address
 * table and for messages; scope adds an IPv6 address's interface
 * ("[fe80::1%eth0]:7000"), which means something on this machine only.
 */
void dsm_boot_format_addr(const struct sockaddr *sa, bool scope, char *out, size_t len);
/* Keep-alive, a user timeout and no Nagle on a connected socket. */
void dsm_boot_tune_socket(int fd);

#endif /* DSM_TRANSPORT_BOOTSTRAP_H */
