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
 * DSM_CONNECT_TIMEOUT.  The acceptor's side runs every pending handshake
 * side by side (dsm_boot_accept), so strangers cannot queue real nodes
 * behind them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

/*
 * connect(2) fd, but give up at the deadline: a blocking connect to an
 * address that drops the SYNs (a firewall, a host that is down) would wait
 * for the kernel's retries, minutes, whatever DSM_CONNECT_TIMEOUT says.
 * The socket is blocking again on success.  0 or an errno value.
 */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t len, const struct deadline *d)
{
	int fl = fcntl(fd, F_GETFL), err = 0;
	socklen_t elen = sizeof(err);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return errno;
	if (connect(fd, sa, len) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int ms;

		if (errno != EINPROGRESS)
			return errno;
		do {
			ms = ms_left(d);
			if (ms <= 0)
				return ETIMEDOUT;
		} while (poll(&p, 1, ms) < 0 && errno == EINTR);
		if (!(p.revents & (POLLOUT | POLLERR | POLLHUP)))
			return ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return errno;
		if (err)
			return err;
	}
	return fcntl(fd, F_SETFL, fl) < 0 ? errno : 0;
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
				if ((err = connect_by(fd, ai->ai_addr, ai->ai_addrlen, d)) == 0) {
					freeaddrinfo(res);
					return fd;
				}
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
	/* Constant time: how much of a forged MAC was right must not show. */
	if (dsm_auth_mac(cfg->secret, DSM_AUTH_ACCEPTOR, mine.nonce, theirs.nonce,
			 (uint32_t)peer, (uint32_t)b->self, expect) < 0 ||
	    src != peer || theirs.dst != (uint32_t)b->self ||
	    !dsm_memeq_ct(expect, theirs.mac, sizeof(expect))) {
		dsm_err("authentication failed: the process at %s (node %d) did not prove the "
			"job's secret; is DSM_JOB_SECRET the same on every node?", addr, peer);
		return -DSM_EAUTH;
	}
	ret = dsm_auth_mac(cfg->secret, DSM_AUTH_INITIATOR, theirs.nonce, mine.nonce,
			   (uint32_t)b->self, (uint32_t)peer, mac);
	if (ret < 0) {
		dsm_err("connecting to node %d at %s: cannot compute our MAC: %s", peer, addr,
			strerror(-ret));
		return ret;
	}
	ret = send_frame(fd, b->self, DSM_WT_AUTH, mac, sizeof(mac), d);
	if (ret < 0) {
		dsm_err("connecting to node %d at %s: %s", peer, addr, strerror(-ret));
		return -DSM_EPEERLOST;
	}
	/* Authenticated (both sides see the AUTH): now it may also be told
	 * that its settings differ, and both ends say so. */
	return check_settings(b, &theirs.settings, peer);
}

/* ---------- the acceptor's side: many handshakes at once ---------- */

static void hs_reset_part(struct dsm_boot_hs *hs, int state)
{
	hs->state = state;
	hs->got = 0;
}

void dsm_boot_hs_init(struct dsm_boot_hs *hs, int fd, uint64_t deadline_ns)
{
	memset(hs, 0, sizeof(*hs));
	hs->fd = fd;
	hs->src = -1;
	hs->deadline_ns = deadline_ns;
	hs_reset_part(hs, DSM_HS_HELLO_HDR);
}

void dsm_boot_hs_want(struct dsm_boot_hs *hs, void **buf, size_t *len)
{
	switch (hs->state) {
	case DSM_HS_HELLO_HDR:
	case DSM_HS_AUTH_HDR:
		*buf = (char *)&hs->hdr + hs->got;
		*len = sizeof(hs->hdr) - hs->got;
		break;
	case DSM_HS_HELLO_BODY:
		*buf = (char *)&hs->theirs + hs->got;
		*len = sizeof(hs->theirs) - hs->got;
		break;
	case DSM_HS_AUTH_BODY:
		*buf = (char *)hs->auth + hs->got;
		*len = sizeof(hs->auth) - hs->got;
		break;
	default:
		*buf = NULL;
		*len = 0;
	}
}

/* A complete setup header: the frame we expect, of exactly len bytes. */
static const char *hs_check_hdr(const struct dsm_boot_hs *hs, uint8_t type, uint32_t len)
{
	const char *why = dsm_wire_check(&hs->hdr, hs->src, len);

	if (!why && hs->hdr.type != type)
		why = "unexpected message type during connection setup";
	if (!why && hs->hdr.len != len)
		why = "wrong payload length during connection setup";
	return why;
}

/*
 * n more bytes are in the buffer dsm_boot_hs_want() gave.  When a part
 * completes, check it: the HELLO's header and claims (a node in [lo, hi]
 * not connected yet, talking to us), then our reply goes into hs->out (the
 * caller sends it), then the AUTH's header and MAC.  Nothing here touches a
 * socket, so that the fuzz target (tests/fuzz) drives exactly this code.
 * 0: more input wanted; 1: the peer proved the secret (hs->src); -EACCES
 * with *why: reject it; another negative code: we failed (getrandom,
 * libcrypto).
 */
int dsm_boot_hs_advance(const struct dsm_boot *b, struct dsm_boot_hs *hs, size_t n, int lo,
			int hi, const int *fds, const char **why)
{
	const struct dsm_config *cfg = b->cfg;
	uint8_t expect[DSM_SHA256_LEN];
	size_t want;
	void *buf;
	int ret;

	dsm_boot_hs_want(hs, &buf, &want);
	if (n > want)
		n = want;
	hs->got += n;
	if (n < want)
		return 0;
	*why = NULL;
	switch (hs->state) {
	case DSM_HS_HELLO_HDR:
		*why = hs_check_hdr(hs, DSM_WT_HELLO, sizeof(hs->theirs));
		/* The claimed id is checked now, before any reply: a frame
		 * claiming a node we do not expect is refused at once. */
		if (!*why && (hs->hdr.src < lo || hs->hdr.src > hi || fds[hs->hdr.src] >= 0)) {
			hs->src = hs->hdr.src;
			*why = "claims a node id that is not expected here";
		}
		if (*why)
			return -EACCES;
		hs->src = hs->hdr.src;
		hs_reset_part(hs, DSM_HS_HELLO_BODY);
		return 0;
	case DSM_HS_HELLO_BODY:
		if (hs->theirs.dst != (uint32_t)b->self) {
			*why = "claims a node id that is not expected here";
			return -EACCES;
		}
		memset(&hs->out, 0, sizeof(hs->out));
		if ((ret = dsm_auth_nonce(hs->out.hello.nonce)) < 0)
			return ret;
		hs->out.hdr = (struct dsm_wire_hdr){
			.magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION, .type = DSM_WT_HELLO,
			.src = (uint16_t)b->self, .len = sizeof(hs->out.hello),
		};
		hs->out.hello.dst = (uint32_t)hs->src;
		dsm_config_settings(cfg, &hs->out.hello.settings);
		if ((ret = dsm_auth_mac(cfg->secret, DSM_AUTH_ACCEPTOR, hs->theirs.nonce,
					hs->out.hello.nonce, (uint32_t)b->self, (uint32_t)hs->src,
					hs->out.hello.mac)) < 0)
			return ret;
		hs->out_len = sizeof(hs->out);
		hs_reset_part(hs, DSM_HS_AUTH_HDR);
		return 0;
	case DSM_HS_AUTH_HDR:
		if ((*why = hs_check_hdr(hs, DSM_WT_AUTH, sizeof(hs->auth))))
			return -EACCES;
		hs_reset_part(hs, DSM_HS_AUTH_BODY);
		return 0;
	case DSM_HS_AUTH_BODY:
		/* Constant time: how much of a guess was right must not show. */
		if (dsm_auth_mac(cfg->secret, DSM_AUTH_INITIATOR, hs->out.hello.nonce,
				 hs->theirs.nonce, (uint32_t)hs->src, (uint32_t)b->self, expect) < 0 ||
		    !dsm_memeq_ct(expect, hs->auth, sizeof(expect))) {
			*why = "authentication failed (it does not know the job's secret)";
			return -EACCES;
		}
		/* Two that both know the secret and claim one id: the first won. */
		if (fds[hs->src] >= 0) {
			*why = "claims a node id that is connected already";
			return -EACCES;
		}
		hs_reset_part(hs, DSM_HS_DONE);
		return 1;
	default:
		*why = "handshake over";
		return -EACCES;
	}
}

static void hs_reject(struct dsm_boot_hs *hs, const char *why)
{
	char who[80];

	peer_name(hs->fd, who, sizeof(who));
	if (hs->src >= 0)
		dsm_warn("rejected a connection from %s claiming to be node %d: %s", who, hs->src, why);
	else
		dsm_warn("rejected a connection from %s: %s", who, why);
	close(hs->fd);
	hs->fd = -1;
}

/*
 * Read what a pending connection has sent, without blocking, and advance
 * its handshake.  Reads never go past the frame being read, so bytes the
 * peer sends after its AUTH (its JOIN) stay in the socket for their
 * reader.  0: waiting for more; 1: authenticated; -EACCES: rejected and
 * closed; another negative code: we failed.
 */
static int hs_service(const struct dsm_boot *b, struct dsm_boot_hs *hs, int lo, int hi,
		      const int *fds)
{
	for (;;) {
		const char *why = NULL;
		size_t want;
		void *buf;
		ssize_t n;
		int ret;

		dsm_boot_hs_want(hs, &buf, &want);
		n = recv(hs->fd, buf, want, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			hs_reject(hs, n == 0 ? "closed during the handshake" : strerror(errno));
			return -EACCES;
		}
		ret = dsm_boot_hs_advance(b, hs, (size_t)n, lo, hi, fds, &why);
		if (ret == -EACCES) {
			hs_reject(hs, why);
			return ret;
		}
		if (ret < 0) {
			dsm_err("cannot answer a connection: %s", strerror(-ret));
			return ret;
		}
		if (hs->out_len) {
			/* Our HELLO (about 200 bytes) always fits a fresh socket's
			 * send buffer; one that does not is not worth waiting for. */
			n = send(hs->fd, &hs->out, hs->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n != (ssize_t)hs->out_len) {
				hs_reject(hs, n < 0 ? strerror(errno) : "it does not read our answer");
				return -EACCES;
			}
			hs->out_len = 0;
		}
		if (ret == 1)
			return 1;
	}
}

/*
 * Serve one pending connection; one that proved the secret and has our
 * settings moves to fds[].  0 (go on), or a negative code that ends setup:
 * one of ours with other settings, or a local failure.
 */
static int hs_step(const struct dsm_boot *b, struct dsm_boot_hs *h, int lo, int hi, int *fds,
		   int *missing)
{
	int ret = hs_service(b, h, lo, hi, fds);

	if (ret == -EACCES || ret == 0)
		return 0;
	if (ret < 0)
		return ret;
	ret = check_settings(b, &h->theirs.settings, h->src);
	if (ret < 0) {
		close(h->fd);
		h->fd = -1;
		return ret;
	}
	fds[h->src] = h->fd;
	h->fd = -1;
	--*missing;
	return 0;
}

static void report_missing(const struct dsm_boot *b, int lo, int hi, const int *fds, int missing)
{
	char list[256] = "";
	size_t at = 0;

	for (int i = lo; i <= hi && at < sizeof(list) - 8; i++)
		if (fds[i] < 0)
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%d", at ? ", " : "", i);
	dsm_err("timed out after %u s waiting for node%s %s to connect "
		"(did it start? see DSM_CONNECT_TIMEOUT)",
		b->cfg->connect_timeout_ms / 1000, missing > 1 ? "s" : "", list);
}

/*
 * Accept until every node in [lo, hi] has connected and authenticated.
 *
 * The bound on strangers (dsm(7), SECURITY): handshakes run side by side in
 * one poll() loop, never one after another, so a connection that sends
 * nothing holds up nobody.  Each has DSM_BOOT_HANDSHAKE_MS from its accept
 * to finish; at most DSM_BOOT_MAX_PENDING are unauthenticated at once, and
 * one more drops the oldest.  A real node answers within one round trip,
 * so it is only pushed out if that many connections arrive during it.
 */
int dsm_boot_accept(const struct dsm_boot *b, int lfd, int lo, int hi, int *fds)
{
	struct dsm_boot_hs *hs = calloc(DSM_BOOT_MAX_PENDING, sizeof(*hs));
	struct pollfd p[DSM_BOOT_MAX_PENDING + 1];
	int missing = hi - lo + 1, ret = 0, fl;

	if (!hs)
		return -ENOMEM;
	for (int k = 0; k < DSM_BOOT_MAX_PENDING; k++)
		hs[k].fd = -1;
	/* Draining the backlog must not block if a connection vanishes
	 * between poll() and accept(). */
	fl = fcntl(lfd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
	while (missing > 0) {
		uint64_t now = dsm_now_ns(), wake = b->deadline_ns;
		int slot[DSM_BOOT_MAX_PENDING + 1], np = 1, oldest = -1, n;

		if (now >= b->deadline_ns) {
			report_missing(b, lo, hi, fds, missing);
			ret = -DSM_ETIMEDOUT;
			break;
		}
		p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int k = 0; k < DSM_BOOT_MAX_PENDING; k++) {
			if (hs[k].fd < 0)
				continue;
			if (now >= hs[k].deadline_ns) {
				hs_reject(&hs[k], "no complete handshake in time");
				continue;
			}
			if (hs[k].deadline_ns < wake)
				wake = hs[k].deadline_ns;
			slot[np] = k;
			p[np++] = (struct pollfd){ .fd = hs[k].fd, .events = POLLIN };
		}
		n = poll(p, (nfds_t)np, (int)((wake - now) / 1000000) + 1);
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (n <= 0)
			continue;
		for (int i = 1; i < np && missing > 0; i++) {
			struct dsm_boot_hs *h = &hs[slot[i]];

			if (!p[i].revents || h->fd < 0)
				continue;
			if ((ret = hs_step(b, h, lo, hi, fds, &missing)) < 0)
				goto out;
		}
		if (!(p[0].revents & POLLIN) || missing == 0)
			continue;
		/* A few accepts per round, so pending handshakes are served
		 * between them even under a flood. */
		for (int a = 0; a < 4; a++) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), k;

			if (fd < 0)
				break;
			oldest = -1;
			for (k = 0; k < DSM_BOOT_MAX_PENDING && hs[k].fd >= 0; k++)
				if (oldest < 0 || hs[k].deadline_ns < hs[oldest].deadline_ns)
					oldest = k;
			if (k == DSM_BOOT_MAX_PENDING) {
				hs_reject(&hs[oldest], "too many unauthenticated connections at once; "
					  "the oldest is dropped");
				k = oldest;
			}
			dsm_boot_hs_init(&hs[k], fd, dsm_now_ns() + DSM_BOOT_HANDSHAKE_MS * 1000000ull);
			/* A real node sent its HELLO with its connect: answer now. */
			if ((ret = hs_step(b, &hs[k], lo, hi, fds, &missing)) < 0)
				goto out;
			if (missing == 0)
				break;
		}
	}
out:
	for (int k = 0; k < DSM_BOOT_MAX_PENDING; k++)
		if (hs[k].fd >= 0)
			close(hs[k].fd);
	free(hs);
	return ret;
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

	if (lfd >= 0) {
		/* An inherited descriptor that is not a listener would only show
		 * as a timeout waiting for the others, naming the wrong cause. */
		int acc = 0;
		socklen_t len = sizeof(acc);
		int r = getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);

		if (r < 0 || !acc) {
			dsm_err("DSM_LISTEN_FD=%d: not a listening socket (%s); dsmrun sets it "
				"for node 0; unset it to listen at DSM_ROOT_ADDR", lfd,
				r < 0 ? strerror(errno) : "a socket that does not listen");
			return -DSM_ECONFIG;
		}
	}
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
