/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bootstrap.c - the start of every job, whatever its transport
 * (bootstrap.h): rendezvous with node 0 over TCP, authentication of every
 * node with the job's secret, the settings check, and the all-gather of
 * the transports' endpoints.
 *
 * Node 0 listens at DSM_ROOT_ADDR (dsmrun hands it an already-listening
 * socket as DSM_LISTEN_FD, so there is no race on the port).  Every other
 * node connects to node 0 and proves the secret, both ways (HELLO, AUTH).
 * An all-gather is a JOIN from every node to node 0 and a TABLE from
 * node 0 to every node.  All of this runs in the init thread with blocking
 * sockets and poll() deadlines; nothing waits longer than
 * DSM_CONNECT_TIMEOUT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/log.h"
#include "runtime/transport/auth.h"
#include "runtime/transport/bootstrap.h"
#include "runtime/transport/wire.h"

#define ACCEPT_HANDSHAKE_MS 5000	/* a stalled stranger cannot hold node 0 longer */

struct deadline {
	uint64_t at_ns;
};

static int ms_left(const struct deadline *d)
{
	uint64_t now = dsm_now_ns();

	return now >= d->at_ns ? 0 : (int)((d->at_ns - now) / 1000000) + 1;
}

/* Wait for fd to be ready for events; -ETIMEDOUT at the deadline. */
static int wait_fd(int fd, short events, const struct deadline *d)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int left = ms_left(d), n;

		if (left == 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int write_full(int fd, const void *buf, size_t len, const struct deadline *d)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((n = wait_fd(fd, POLLOUT, d)) < 0)
			return (int)n;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len, const struct deadline *d)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((n = wait_fd(fd, POLLIN, d)) < 0)
			return (int)n;
	}
	return 0;
}

static int send_frame(int fd, int self, uint8_t type, const void *payload, uint32_t len,
		      const struct deadline *d)
{
	struct dsm_wire_hdr h = {
		.magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION,
		.type = type, .src = (uint16_t)self, .len = len,
	};
	int ret = write_full(fd, &h, sizeof(h), d);

	return ret < 0 ? ret : write_full(fd, payload, len, d);
}

/*
 * Read one setup frame of the given type whose payload is exactly len
 * bytes (or at most len with exact=false).  *src_p gets the sender's id.
 * -EPROTO with *why set on a malformed frame.
 */
static int recv_frame(int fd, uint8_t type, void *payload, uint32_t len, bool exact,
		      int *src_p, const char **why, const struct deadline *d)
{
	struct dsm_wire_hdr h;
	int ret = read_full(fd, &h, sizeof(h), d);

	if (ret < 0)
		return ret;
	*why = dsm_wire_check(&h, -1, len);
	if (!*why && h.type != type)
		*why = "unexpected message type during connection setup";
	if (!*why && exact && h.len != len)
		*why = "wrong payload length during connection setup";
	if (*why)
		return -EPROTO;
	*src_p = h.src;
	ret = read_full(fd, payload, h.len, d);
	if (ret == 0 && !exact && h.len < len)
		((char *)payload)[h.len] = '\0';
	return ret;
}

void dsm_boot_tune_socket(int fd)
{
	int one = 1, idle = 1, intvl = 1, cnt = 3;
	unsigned int user_timeout = 4000;

	/* Small messages (requests, grants) must leave at once. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * A peer whose machine vanishes sends no FIN: keep-alive probes and
	 * TCP_USER_TIMEOUT turn that into an error within ~4 s, so a node
	 * never waits forever on a dead peer.
	 */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

/* Split "host:port" or "[v6]:port".  0 or -EINVAL. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t n;

	if (!colon || !colon[1] || strlen(colon + 1) >= portlen)
		return -EINVAL;
	n = (size_t)(colon - addr);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

void dsm_boot_format_addr(const struct sockaddr *sa, bool scope, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?", ifname[IF_NAMESIZE + 1] = "";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		if (scope && in6->sin6_scope_id && if_indextoname(in6->sin6_scope_id, ifname + 1))
			ifname[0] = '%';
		snprintf(out, len, "[%s%s]:%u", host, ifname, ntohs(in6->sin6_port));
	} else {
		snprintf(out, len, "?");
	}
}

static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		dsm_boot_format_addr((struct sockaddr *)&ss, false, out, len);
	else
		snprintf(out, len, "?");
}

/*
 * Listen on host:port ("0": any free port).  reuse: SO_REUSEADDR, for a
 * fixed port that a previous job may have left in TIME_WAIT.  Returns the
 * fd or -errno.
 */
int dsm_boot_listen(const char *host, const char *port, bool reuse)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int fd = -1, err = EADDRNOTAVAIL, one = 1;

	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (reuse)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : -err;
}

/* Listen at the root address itself (node 0 not started by dsmrun). */
static int listen_root(const char *addr)
{
	char host[256], port[16];

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0)
		return -EINVAL;
	return dsm_boot_listen(host, port, true);
}

/* Connect to addr, retrying refused connections (the peer may not listen
 * yet) until the deadline.  Returns the fd or a negative code. */
int dsm_boot_connect(const struct dsm_boot *b, const char *addr)
{
	const struct deadline dl = { b->deadline_ns }, *d = &dl;
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	int err = ETIMEDOUT;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0)
		return -EINVAL;
	while (ms_left(d) > 0) {
		struct addrinfo *res, *ai;

		if (getaddrinfo(host, port, &hints, &res) != 0) {
			err = EHOSTUNREACH;
		} else {
			for (ai = res; ai; ai = ai->ai_next) {
				int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);

				if (fd < 0)
					continue;
				if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
					freeaddrinfo(res);
					return fd;
				}
				err = errno;
				close(fd);
			}
			freeaddrinfo(res);
		}
		usleep(20000);
	}
	return err == ETIMEDOUT || err == ECONNREFUSED ? -DSM_ETIMEDOUT : -err;
}

/* An authenticated peer's settings must equal ours.  0 or -DSM_ECONFIG. */
static int check_settings(const struct dsm_boot *b, const struct dsm_job_settings *theirs, int peer)
{
	struct dsm_job_settings mine;
	char why[160];

	dsm_config_settings(b->cfg, &mine);
	if (!dsm_config_settings_diff(&mine, theirs, why, sizeof(why)))
		return 0;
	dsm_err("node %d was started with other settings: %s differs; every node of a job "
		"needs the same DSM_* settings", peer, why);
	return -DSM_ECONFIG;
}

/*
 * Our side of a connection we opened to node `peer`: HELLO with our nonce;
 * the acceptor's HELLO must carry a MAC proving the secret; then our AUTH.
 */
int dsm_boot_handshake_initiator(const struct dsm_boot *b, int fd, int peer, const char *addr)
{
	const struct deadline dl = { b->deadline_ns }, *d = &dl;
	const struct dsm_config *cfg = b->cfg;
	struct dsm_hello mine = { .dst = (uint32_t)peer }, theirs;
	uint8_t expect[DSM_SHA256_LEN], mac[DSM_SHA256_LEN];
	const char *why = NULL;
	int src = -1, ret;

	if ((ret = dsm_auth_nonce(mine.nonce)) < 0)
		return ret;
	dsm_config_settings(cfg, &mine.settings);
	ret = send_frame(fd, b->self, DSM_WT_HELLO, &mine, sizeof(mine), d);
	if (ret == 0)
		ret = recv_frame(fd, DSM_WT_HELLO, &theirs, sizeof(theirs), true, &src, &why, d);
	if (ret == -EPROTO) {
		dsm_err("connecting to node %d at %s: %s", peer, addr, why);
		return -DSM_EPROTO;
	}
	if (ret < 0) {
		dsm_err("connecting to node %d at %s: %s", peer, addr,
			ret == -ETIMEDOUT ? "no answer in time" : strerror(-ret));
		return ret == -ETIMEDOUT ? -DSM_ETIMEDOUT : -DSM_EPEERLOST;
	}
	dsm_auth_mac(cfg->secret, DSM_AUTH_ACCEPTOR, mine.nonce, theirs.nonce,
		     (uint32_t)peer, (uint32_t)b->self, expect);
	if (src != peer || theirs.dst != (uint32_t)b->self ||
	    !dsm_memeq_ct(expect, theirs.mac, sizeof(expect))) {
		dsm_err("authentication failed: the process at %s (node %d) did not prove the "
			"job's secret; is DSM_JOB_SECRET the same on every node?", addr, peer);
		return -DSM_EAUTH;
	}
	dsm_auth_mac(cfg->secret, DSM_AUTH_INITIATOR, theirs.nonce, mine.nonce,
		     (uint32_t)b->self, (uint32_t)peer, mac);
	ret = send_frame(fd, b->self, DSM_WT_AUTH, mac, sizeof(mac), d);
	if (ret < 0) {
		dsm_err("connecting to node %d at %s: %s", peer, addr, strerror(-ret));
		return -DSM_EPEERLOST;
	}
	/* Authenticated (both sides see the AUTH): now it may also be told
	 * that its settings differ, and both ends say so. */
	return check_settings(b, &theirs.settings, peer);
}

/*
 * The other side: read the initiator's HELLO, answer with ours and our
 * MAC, check its AUTH.  A stranger that fails is rejected with a warning
 * and the caller goes on waiting for the real node: a bad connection must
 * not bring the job down.  Returns the peer's id, or a negative code.
 */
int dsm_boot_handshake_acceptor(const struct dsm_boot *b, int fd, int lo, int hi, const int *fds)
{
	const struct deadline jobd = { b->deadline_ns }, *job = &jobd;
	const struct dsm_config *cfg = b->cfg;
	struct dsm_hello mine = { .dst = 0 }, theirs;
	uint8_t expect[DSM_SHA256_LEN], mac[DSM_SHA256_LEN];
	struct deadline d = { dsm_now_ns() + ACCEPT_HANDSHAKE_MS * 1000000ull };
	const char *why = NULL;
	char who[80];
	int src = -1, ret;

	if (d.at_ns > job->at_ns)
		d = *job;
	peer_name(fd, who, sizeof(who));
	ret = recv_frame(fd, DSM_WT_HELLO, &theirs, sizeof(theirs), true, &src, &why, &d);
	if (ret == 0 && (src < lo || src > hi || fds[src] >= 0 ||
			 theirs.dst != (uint32_t)b->self)) {
		ret = -EPROTO;
		why = "claims a node id that is not expected here";
	}
	if (ret == 0) {
		if ((ret = dsm_auth_nonce(mine.nonce)) < 0)
			return ret;
		mine.dst = (uint32_t)src;
		dsm_config_settings(cfg, &mine.settings);
		dsm_auth_mac(cfg->secret, DSM_AUTH_ACCEPTOR, theirs.nonce, mine.nonce,
			     (uint32_t)b->self, (uint32_t)src, mine.mac);
		ret = send_frame(fd, b->self, DSM_WT_HELLO, &mine, sizeof(mine), &d);
	}
	if (ret == 0) {
		int src2 = -1;

		ret = recv_frame(fd, DSM_WT_AUTH, mac, sizeof(mac), true, &src2, &why, &d);
		dsm_auth_mac(cfg->secret, DSM_AUTH_INITIATOR, mine.nonce, theirs.nonce,
			     (uint32_t)src, (uint32_t)b->self, expect);
		if (ret == 0 && (src2 != src || !dsm_memeq_ct(expect, mac, sizeof(mac)))) {
			ret = -EACCES;
			why = "authentication failed (it does not know the job's secret)";
		}
	}
	if (ret == 0)
		return check_settings(b, &theirs.settings, src) < 0 ? -DSM_ECONFIG : src;
	if (!why)
		why = ret == -ETIMEDOUT ? "no complete handshake in time" :
		      ret == -ECONNRESET ? "closed during the handshake" : strerror(-ret);
	if (src >= 0)
		dsm_warn("rejected a connection from %s claiming to be node %d: %s", who, src, why);
	else
		dsm_warn("rejected a connection from %s: %s", who, why);
	return -EACCES;
}

/* Accept until every node in [lo, hi] has connected and authenticated. */
int dsm_boot_accept(const struct dsm_boot *b, int lfd, int lo, int hi, int *fds)
{
	const struct deadline dl = { b->deadline_ns }, *d = &dl;
	int missing = hi - lo + 1;

	while (missing > 0) {
		int fd, peer, ret;

		if ((ret = wait_fd(lfd, POLLIN, d)) < 0) {
			char list[256] = "";
			size_t at = 0;

			for (int i = lo; i <= hi && at < sizeof(list) - 8; i++)
				if (fds[i] < 0)
					at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%d",
							       at ? ", " : "", i);
			dsm_err("timed out after %u s waiting for node%s %s to connect "
				"(did it start? see DSM_CONNECT_TIMEOUT)",
				b->cfg->connect_timeout_ms / 1000, missing > 1 ? "s" : "", list);
			return -DSM_ETIMEDOUT;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		peer = dsm_boot_handshake_acceptor(b, fd, lo, hi, fds);
		if (peer < 0) {
			close(fd);
			if (peer == -DSM_ECONFIG)	/* one of ours, misconfigured */
				return peer;
			continue;
		}
		fds[peer] = fd;
		missing--;
	}
	return 0;
}

/* The address other nodes reach our listener at, "host:port". */
void dsm_boot_listener_addr(int lfd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	dsm_boot_format_addr((struct sockaddr *)&ss, false, out, len);
}

/* The local address of a connected socket, without the port. */
static void local_host(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char *colon;

	getsockname(fd, (struct sockaddr *)&ss, &sl);
	dsm_boot_format_addr((struct sockaddr *)&ss, false, out, len);
	colon = strrchr(out, ':');
	if (colon)
		*colon = '\0';
	if (out[0] == '[') {
		memmove(out, out + 1, strlen(out));
		out[strlen(out) - 1] = '\0';
	}
}


/* Where this node listens for its peers: DSM_NODE_HOST, else the address
 * it reached node 0 from (node 0: the one it listens on), which the other
 * nodes can reach. */
static void pick_local_host(struct dsm_boot *b, int fd, bool listener)
{
	char addr[300], *colon;

	if (b->cfg->boot.node_host[0]) {
		snprintf(b->local_host, sizeof(b->local_host), "%s", b->cfg->boot.node_host);
		return;
	}
	if (!listener) {
		local_host(fd, b->local_host, sizeof(b->local_host));
		return;
	}
	dsm_boot_listener_addr(fd, addr, sizeof(addr));
	colon = strrchr(addr, ':');
	if (colon)
		*colon = '\0';
	if (addr[0] == '[') {
		memmove(addr, addr + 1, strlen(addr));
		addr[strlen(addr) - 1] = '\0';
	}
	/* A wildcard listener says nothing useful: loopback reaches it. */
	if (!strcmp(addr, "0.0.0.0") || !strcmp(addr, "::"))
		snprintf(addr, sizeof(addr), "%s", !strcmp(addr, "::") ? "::1" : "127.0.0.1");
	snprintf(b->local_host, sizeof(b->local_host), "%s", addr);
}

static int open_root(struct dsm_boot *b)
{
	const struct dsm_config *cfg = b->cfg;
	int lfd = cfg->boot.listen_fd, ret;

	if (lfd < 0) {
		lfd = listen_root(cfg->boot.root_addr);
		if (lfd < 0) {
			dsm_err("node 0 cannot listen at DSM_ROOT_ADDR=%s: %s", cfg->boot.root_addr,
				strerror(-lfd));
			return -DSM_ECONFIG;
		}
	}
	pick_local_host(b, lfd, true);
	ret = dsm_boot_accept(b, lfd, 1, b->nnodes - 1, b->fd);
	close(lfd);
	return ret;
}

static int open_node(struct dsm_boot *b)
{
	const struct dsm_config *cfg = b->cfg;
	int fd = dsm_boot_connect(b, cfg->boot.root_addr), ret;

	if (fd < 0) {
		dsm_err("cannot reach node 0 at DSM_ROOT_ADDR=%s: %s", cfg->boot.root_addr,
			fd == -DSM_ETIMEDOUT ? "no node 0 listening there before the timeout" :
			strerror(-fd));
		return fd == -DSM_ETIMEDOUT ? fd : -DSM_ETIMEDOUT;
	}
	ret = dsm_boot_handshake_initiator(b, fd, 0, cfg->boot.root_addr);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	b->fd[0] = fd;
	pick_local_host(b, fd, false);
	return 0;
}

int dsm_boot_open(struct dsm_boot *b, const struct dsm_config *cfg)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->self = cfg->node_id;
	b->nnodes = cfg->num_nodes;
	b->deadline_ns = dsm_now_ns() + cfg->connect_timeout_ms * 1000000ull;
	for (int i = 0; i < DSM_MAX_NODES; i++)
		b->fd[i] = -1;
	ret = b->self == 0 ? open_root(b) : open_node(b);
	if (ret < 0) {
		dsm_boot_close(b);
		return ret;
	}
	for (int i = 0; i < b->nnodes; i++)
		if (b->fd[i] >= 0)
			dsm_boot_tune_socket(b->fd[i]);
	return 0;
}

static int boot_code(int ret)
{
	if (ret == -ETIMEDOUT)
		return -DSM_ETIMEDOUT;
	if (ret < 0 && -ret < DSM_ERRNO_BASE && ret != -ENOMEM)
		return -DSM_EPEERLOST;	/* a socket error: the peer went away */
	return ret;
}

int dsm_boot_allgather(struct dsm_boot *b, const void *mine, size_t len, void *all)
{
	const struct deadline d = { b->deadline_ns };
	char *table = all;
	const char *why = NULL;
	int ret = 0, src;

	memcpy(table + (size_t)b->self * len, mine, len);
	if (b->nnodes == 1)
		return 0;
	if (b->self != 0) {
		ret = send_frame(b->fd[0], b->self, DSM_WT_JOIN, mine, (uint32_t)len, &d);
		if (ret == 0)
			ret = recv_frame(b->fd[0], DSM_WT_TABLE, table, (uint32_t)(len * (size_t)b->nnodes),
					 true, &src, &why, &d);
		if (ret < 0)
			dsm_err("rendezvous with node 0 failed: %s", why ? why :
				ret == -ETIMEDOUT ? "no table from node 0 in time" : strerror(-ret));
		return boot_code(ret);
	}
	for (int i = 1; i < b->nnodes && ret == 0; i++) {
		ret = recv_frame(b->fd[i], DSM_WT_JOIN, table + (size_t)i * len, (uint32_t)len, true,
				 &src, &why, &d);
		if (ret < 0)
			dsm_err("rendezvous: node %d did not send its endpoint: %s", i,
				why ? why : strerror(-ret));
	}
	for (int i = 1; i < b->nnodes && ret == 0; i++)
		ret = send_frame(b->fd[i], 0, DSM_WT_TABLE, table, (uint32_t)(len * (size_t)b->nnodes), &d);
	return boot_code(ret);
}

int dsm_boot_barrier(struct dsm_boot *b)
{
	char one = 1, all[DSM_MAX_NODES];

	return dsm_boot_allgather(b, &one, 1, all);
}

void dsm_boot_close(struct dsm_boot *b)
{
	for (int i = 0; i < DSM_MAX_NODES; i++) {
		if (b->fd[i] >= 0)
			close(b->fd[i]);
		b->fd[i] = -1;
	}
}
