/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_connect.c - the RDMA transport's connections: the device, the
 * local address, and one authenticated RC queue pair per pair of nodes,
 * all through rdma_cm.
 *
 * 1. The device: the port DSM_RDMA_DEVICE / DSM_RDMA_PORT name, else the
 *    first active one.  rdma_cm works with IP addresses, so we look for a
 *    local address that rdma_cm binds to that port (IPoIB on InfiniBand,
 *    the netdev's address on RoCE and iWARP): the address DSM_NODE_HOST
 *    names or the bootstrap picked first, then global IPv4, global IPv6,
 *    and last an IPv6 link-local address (Soft-RoCE on a private link).
 * 2. The bootstrap (bootstrap.h) has met node 0, proved the secret and
 *    checked the settings; its all-gather hands every node the others'
 *    rdma_cm listener and a fresh random nonce, so only nodes that proved
 *    the secret learn either.
 * 3. Node i connects to nodes 0..i-1 and accepts nodes i+1..N-1.  The
 *    connection request carries (from, to, a fresh nonce, a MAC over
 *    them and both nodes' endpoint nonces under the job's secret); the
 *    acceptor checks it before it accepts, and answers with a MAC of its
 *    own, which the initiator checks before it counts the connection.  A
 *    request that fails is rejected and its id destroyed: it never gets a
 *    queue pair on our protection domain.  No memory is registered for
 *    remote access, and no rkey is sent, before every connection has
 *    passed (register_mem, in rdma.c, comes after).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/log.h"
#include "runtime/base/hmac.h"
#include "runtime/transport/rdma/rdma.h"

#define REQ_MAGIC 0x52445344u		/* "DSDR" */
#define REP_MAGIC 0x50445344u		/* "DSDP" */
#define MAC_LEN 24			/* HMAC-SHA-256, truncated: requests carry at most 56 bytes */
#define RESOLVE_MS 5000

/* The connection request's private data (at most 56 bytes on InfiniBand). */
struct conn_req {
	uint32_t magic;
	uint16_t from, to;
	uint8_t nonce[16];
	uint8_t mac[MAC_LEN];
};

/* The acceptor's answer. */
struct conn_rep {
	uint32_t magic;
	uint16_t from, to;		/* as in the request */
	uint8_t mac[MAC_LEN];
};

_Static_assert(sizeof(struct conn_req) <= 56, "rdma_connect's private data is at most 56 bytes");

static socklen_t addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* ---------- the device and the local address ---------- */

/* Lower is better; -1: not an address of the wanted port. */
static int rank_addr(struct dsm_rdma *r, struct ifaddrs *ifa, char *dev, size_t devlen,
		     uint8_t *port)
{
	const struct dsm_config *cfg = r->tp.params.cfg;
	struct sockaddr_storage ss = { 0 };
	struct rdma_cm_id *id;
	struct ibv_port_attr pa;
	char host[INET6_ADDRSTRLEN] = "";
	int rank = -1;

	if (!ifa->ifa_addr || (ifa->ifa_addr->sa_family != AF_INET &&
			       ifa->ifa_addr->sa_family != AF_INET6) ||
	    !(ifa->ifa_flags & IFF_UP) || (ifa->ifa_flags & IFF_LOOPBACK))
		return -1;
	memcpy(&ss, ifa->ifa_addr, addr_len(ifa->ifa_addr));
	if (rdma_create_id(NULL, &id, NULL, RDMA_PS_TCP))
		return -1;
	if (rdma_bind_addr(id, (struct sockaddr *)&ss) == 0 && id->verbs &&
	    (!cfg->rdma_device[0] || !strcmp(ibv_get_device_name(id->verbs->device), cfg->rdma_device)) &&
	    (!cfg->rdma_port || id->port_num == cfg->rdma_port) &&
	    ibv_query_port(id->verbs, id->port_num, &pa) == 0 && pa.state == IBV_PORT_ACTIVE) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
			rank = 1;
		} else {
			struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;

			inet_ntop(AF_INET6, a6, host, sizeof(host));
			rank = IN6_IS_ADDR_LINKLOCAL(a6) ? 3 : 2;
		}
		if (!strcmp(host, r->boot.local_host))
			rank = 0;
		snprintf(dev, devlen, "%s", ibv_get_device_name(id->verbs->device));
		*port = id->port_num;
	}
	rdma_destroy_id(id);
	return rank;
}

static int pick_addr(struct dsm_rdma *r, struct sockaddr_storage *out)
{
	const struct dsm_config *cfg = r->tp.params.cfg;
	struct ifaddrs *list, *ifa;
	int best = -1, nd = 0;
	struct ibv_device **devs;

	if (getifaddrs(&list) < 0) {
		dsm_err("DSM_TRANSPORT=rdma: cannot list this machine's addresses: %s", strerror(errno));
		return -errno;
	}
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		char dev[64];
		uint8_t port = 0;
		int rank = rank_addr(r, ifa, dev, sizeof(dev), &port);

		if (rank >= 0 && (best < 0 || rank < best)) {
			best = rank;
			memcpy(out, ifa->ifa_addr, addr_len(ifa->ifa_addr));
			snprintf(r->devname, sizeof(r->devname), "%s", dev);
			r->port = port;
		}
	}
	freeifaddrs(list);
	if (best >= 0)
		return 0;
	/* Say what was there, so that the user knows what to fix. */
	devs = ibv_get_device_list(&nd);
	{
		char names[256] = "";
		bool named = false;

		for (int i = 0; devs && i < nd; i++) {
			const char *dn = ibv_get_device_name(devs[i]);

			named |= !strcmp(dn, cfg->rdma_device);
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", dn);
		}
		if (devs)
			ibv_free_device_list(devs);
		if (cfg->rdma_device[0] && !named)
			dsm_err("DSM_RDMA_DEVICE='%s': no such RDMA device here (there %s %s)",
				cfg->rdma_device, nd > 1 ? "are" : "is", names);
		else if (cfg->rdma_port)
			dsm_err("DSM_RDMA_PORT='%u': no such port is active with an IP address that "
				"rdma_cm can use on %s (see ibv_devinfo and ip addr)", cfg->rdma_port,
				cfg->rdma_device[0] ? cfg->rdma_device : names);
		else
			dsm_err("DSM_TRANSPORT=rdma: no active port with an IP address that rdma_cm can "
				"use on %s (see ibv_devinfo and ip addr)",
				cfg->rdma_device[0] ? cfg->rdma_device : names);
	}
	return -DSM_ECONFIG;
}

static int listen_local(struct dsm_rdma *r, struct sockaddr_storage *ep)
{
	struct sockaddr_storage ss;
	int ret = pick_addr(r, &ss);

	if (ret < 0)
		return ret;
	if (rdma_create_id(r->cm_ch, &r->listen_id, NULL, RDMA_PS_TCP) ||
	    rdma_bind_addr(r->listen_id, (struct sockaddr *)&ss) ||
	    rdma_listen(r->listen_id, 64)) {
		ret = -errno;
		dsm_boot_format_addr((struct sockaddr *)&ss, true, r->local_addr,
				     sizeof(r->local_addr));
		dsm_err("DSM_TRANSPORT=rdma: cannot listen at %s on %s port %u: %s", r->local_addr,
			r->devname, r->port, strerror(-ret));
		return ret;
	}
	r->verbs = r->listen_id->verbs;
	memcpy(ep, rdma_get_local_addr(r->listen_id), addr_len(rdma_get_local_addr(r->listen_id)));
	dsm_boot_format_addr((struct sockaddr *)ep, true, r->local_addr, sizeof(r->local_addr));
	dsm_info("rdma: node %d listens at %s (device %s port %u)", r->tp.self, r->local_addr,
		 r->devname, r->port);
	return 0;
}

/* ---------- authentication ---------- */

/* 0, or a negative code if libcrypto failed (out is then random). */
static int conn_mac(const struct dsm_rdma *r, char role, int from, int to,
		    const uint8_t nonce[16], uint8_t out[MAC_LEN])
{
	static const char label[] = "libdsm-rdma-cm-v1";
	uint8_t full[DSM_SHA256_LEN], rl = (uint8_t)role;
	uint16_t f = (uint16_t)from, t = (uint16_t)to;
	struct dsm_iov_c parts[] = {
		{ label, sizeof(label) },
		{ &rl, 1 },
		{ &f, sizeof(f) },
		{ &t, sizeof(t) },
		{ nonce, 16 },
		{ r->eps[from].nonce, DSM_NONCE_LEN },
		{ r->eps[to].nonce, DSM_NONCE_LEN },
	};

	int ret = dsm_hmac_sha256(r->tp.params.cfg->secret, DSM_SECRET_LEN, parts, 7, full);

	memcpy(out, full, MAC_LEN);
	return ret;
}

/* ---------- events ---------- */

static void conn_param(const struct dsm_rdma *r, struct rdma_conn_param *p, const void *pd,
		       size_t len)
{
	memset(p, 0, sizeof(*p));
	p->private_data = pd;
	p->private_data_len = (uint8_t)len;
	p->responder_resources = r->rd_depth;
	p->initiator_depth = r->rd_depth;
	p->retry_count = 7;
	/*
	 * No retry after a receiver-not-ready NAK: with credits a SEND never
	 * finds the peer without a posted buffer (it reposts before it gives
	 * the credit back), so an RNR would be a flow-control bug, and one
	 * that fails the queue pair at once (the conformance suite's bursts
	 * would show it) is better than one that only slows down.
	 */
	p->rnr_retry_count = 0;
}

/*
 * Wait for the next cm event until the bootstrap's deadline.  The
 * bootstrap's connections are watched too (for their closing only: a
 * node may already send its next all-gather part): a node that failed
 * its own setup, or died, ends ours at once instead of at the deadline.
 */
static int next_event(struct dsm_rdma *r, struct rdma_cm_event **ev)
{
	struct pollfd p[DSM_MAX_NODES + 1];
	int who[DSM_MAX_NODES + 1], np;

	p[0] = (struct pollfd){ .fd = r->cm_ch->fd, .events = POLLIN };
	np = 1;
	for (int i = 0; i < r->tp.nnodes; i++) {
		if (r->boot.fd[i] < 0 || i == r->tp.self)
			continue;
		p[np] = (struct pollfd){ .fd = r->boot.fd[i], .events = POLLRDHUP };
		who[np++] = i;
	}
	for (;;) {
		uint64_t now = dsm_now_ns();
		int ms;

		if (rdma_get_cm_event(r->cm_ch, ev) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (now >= r->boot.deadline_ns)
			return -DSM_ETIMEDOUT;
		ms = (int)((r->boot.deadline_ns - now) / 1000000) + 1;
		if (poll(p, (nfds_t)np, ms > 100 ? 100 : ms) <= 0)
			continue;
		for (int k = 1; k < np; k++) {
			if (p[k].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
				dsm_err("rdma: node %d ended while the connections were being set up "
					"(its own error line says why)", who[k]);
				return -DSM_EPEERLOST;
			}
		}
	}
}

/*
 * What is wrong with a connection request, or NULL if it comes from one
 * of ours that may connect now: a higher node, not yet connected, with a
 * MAC that proves the secret.  The same checks during and after setup, so
 * that a stranger always learns nothing but a rejection.
 */
static const char *check_request(struct dsm_rdma *r, struct rdma_cm_event *ev)
{
	const struct conn_req *q = ev->param.conn.private_data;
	uint8_t mac[MAC_LEN];

	if (!q || ev->param.conn.private_data_len < sizeof(*q) || q->magic != REQ_MAGIC)
		return "not a libdsm node (no or malformed connection data)";
	if (q->to != r->tp.self || q->from <= r->tp.self || q->from >= r->tp.nnodes)
		return "a node id that may not connect to this node";
	if (conn_mac(r, 'I', q->from, q->to, q->nonce, mac) < 0 ||
	    !dsm_memeq_ct(mac, q->mac, MAC_LEN))
		return "it did not prove the job's secret";
	if (r->conns[q->from].established || r->conns[q->from].id)
		return "a node that is connected already";
	if (ev->id->verbs != r->verbs)
		return "a request that arrived on another device";
	return NULL;
}

static void reject(struct rdma_cm_id *id, const char *why)
{
	char from[160];

	dsm_boot_format_addr(rdma_get_peer_addr(id), true, from, sizeof(from));
	dsm_warn("rdma: rejected a connection from %s: %s", from, why);
	rdma_reject(id, NULL, 0);
}

/*
 * A connection request during setup: accept it if check_request finds
 * nothing wrong, else reject it.  *fatal for one of ours that cannot be
 * set up.
 */
static void on_request(struct dsm_rdma *r, struct rdma_cm_event *ev, bool *fatal)
{
	const struct conn_req *q = ev->param.conn.private_data;
	const char *why = check_request(r, ev);
	struct rdma_cm_id *id = ev->id;
	struct rdma_conn *c;

	if (why) {
		reject(id, why);
		return;		/* the caller destroys the id */
	}
	c = &r->conns[q->from];
	c->id = id;
	id->context = c;
	if (dsm_rdma_create_qp(r, c) == 0) {
		struct conn_rep rep = { .magic = REP_MAGIC, .from = q->from, .to = q->to };
		struct rdma_conn_param p;

		conn_mac(r, 'A', q->from, q->to, q->nonce, rep.mac);
		conn_param(r, &p, &rep, sizeof(rep));
		if (rdma_accept(id, &p) == 0)
			return;
		dsm_err("rdma: cannot accept node %d's connection: %s", q->from, strerror(errno));
	}
	*fatal = true;
}

/* Our request's nonce per peer, to check the acceptor's answer. */
struct pending {
	uint8_t nonce[DSM_NONCE_LEN];	/* the request carries the first 16 bytes */
};

static int on_event(struct dsm_rdma *r, struct rdma_cm_event *ev, struct pending *pend,
		    int *established)
{
	struct rdma_conn *c = ev->id->context;
	struct rdma_cm_id *destroy;
	char peer[160] = "";
	bool fatal = false;
	int ret = 0;

	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
		on_request(r, ev, &fatal);
		/* rejected (no connection took it): it is ours to destroy */
		destroy = !fatal && !ev->id->context ? ev->id : NULL;
		rdma_ack_cm_event(ev);
		if (destroy)
			rdma_destroy_id(destroy);
		return fatal ? -DSM_EPROTO : 0;
	}
	if (!c) {			/* the listener: device removal, nothing else */
		rdma_ack_cm_event(ev);
		return 0;
	}
	if (c->peer < r->tp.self && r->eps)
		dsm_boot_format_addr((struct sockaddr *)&r->eps[c->peer].addr, true, peer,
				     sizeof(peer));
	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (ev->id->verbs != r->verbs) {
			dsm_err("rdma: node %d's address %s is reached through device %s, not %s: "
				"set DSM_RDMA_DEVICE alike on every node", c->peer, peer,
				ibv_get_device_name(ev->id->verbs->device), r->devname);
			ret = -DSM_ECONFIG;
		} else if (rdma_resolve_route(ev->id, RESOLVE_MS)) {
			ret = -errno;
		}
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED: {
		struct conn_req q = { .magic = REQ_MAGIC, .from = (uint16_t)r->tp.self,
				      .to = (uint16_t)c->peer };
		struct rdma_conn_param p;

		memcpy(q.nonce, pend[c->peer].nonce, sizeof(q.nonce));
		conn_mac(r, 'I', r->tp.self, c->peer, q.nonce, q.mac);
		conn_param(r, &p, &q, sizeof(q));
		ret = dsm_rdma_create_qp(r, c);
		if (ret == 0 && rdma_connect(ev->id, &p))
			ret = -errno;
		break;
	}
	case RDMA_CM_EVENT_ESTABLISHED:
		if (c->peer < r->tp.self) {	/* we asked: check the acceptor's answer */
			const struct conn_rep *a = ev->param.conn.private_data;
			uint8_t mac[MAC_LEN];

			/* A failed conn_mac leaves mac random: the compare fails too. */
			if (conn_mac(r, 'A', r->tp.self, c->peer, pend[c->peer].nonce, mac) < 0 ||
			    !a || ev->param.conn.private_data_len < sizeof(*a) || a->magic != REP_MAGIC ||
			    a->from != r->tp.self || a->to != c->peer ||
			    !dsm_memeq_ct(mac, a->mac, MAC_LEN)) {
				dsm_err("rdma: node %d at %s did not prove the job's secret", c->peer, peer);
				ret = -DSM_EAUTH;
				break;
			}
		}
		c->established = true;
		++*established;
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		if (c->peer < r->tp.self)
			dsm_err("rdma: cannot connect to node %d at %s from %s (device %s): %s (%d)",
				c->peer, peer, r->local_addr, r->devname, rdma_event_str(ev->event),
				ev->status);
		else
			dsm_err("rdma: node %d's connection failed while being set up: %s (%d)",
				c->peer, rdma_event_str(ev->event), ev->status);
		ret = -DSM_EPEERLOST;
		break;
	default:
		break;
	}
	rdma_ack_cm_event(ev);
	return ret;
}

/* A peer's link-local address is scoped by our interface, not its. */
static void rescope(const struct dsm_rdma *r, struct sockaddr_storage *ss)
{
	const struct sockaddr *mine = rdma_get_local_addr(r->listen_id);

	if (ss->ss_family == AF_INET6 && mine->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)ss)->sin6_addr))
		((struct sockaddr_in6 *)ss)->sin6_scope_id =
			((const struct sockaddr_in6 *)mine)->sin6_scope_id;
}

static int connect_mesh(struct dsm_rdma *r)
{
	int n = r->tp.nnodes, self = r->tp.self, established = 0, ret = 0;
	struct pending pend[DSM_MAX_NODES];

	for (int j = 0; j < self && ret == 0; j++) {
		struct rdma_conn *c = &r->conns[j];
		struct sockaddr_storage src, dst = r->eps[j].addr;

		memcpy(&src, rdma_get_local_addr(r->listen_id), sizeof(src));
		((struct sockaddr_in *)&src)->sin_port = 0;	/* same place in both families */
		rescope(r, &dst);
		ret = dsm_auth_nonce(pend[j].nonce) < 0 ? -EIO : 0;
		if (ret == 0 && rdma_create_id(r->cm_ch, &c->id, c, RDMA_PS_TCP))
			ret = -errno;
		if (ret == 0 && rdma_resolve_addr(c->id, (struct sockaddr *)&src,
						  (struct sockaddr *)&dst, RESOLVE_MS))
			ret = -errno;
		if (ret < 0)
			dsm_err("rdma: cannot start connecting to node %d: %s", j, strerror(-ret));
	}
	while (ret == 0 && established < n - 1) {
		struct rdma_cm_event *ev;

		ret = next_event(r, &ev);
		if (ret == -DSM_EPEERLOST)
			break;
		if (ret == -DSM_ETIMEDOUT) {
			char list[256] = "";

			for (int i = 0; i < n; i++)
				if (i != self && !r->conns[i].established)
					snprintf(list + strlen(list), sizeof(list) - strlen(list), " %d", i);
			dsm_err("rdma: no connection with node(s)%s within DSM_CONNECT_TIMEOUT=%u s",
				list, r->tp.params.cfg->connect_timeout_ms / 1000);
		} else if (ret < 0) {
			dsm_err("rdma: waiting for connection events failed: %s", strerror(-ret));
		} else {
			ret = on_event(r, ev, pend, &established);
		}
	}
	return ret;
}

/* The rdma_cm event channel, after checking that there is a device at all. */
static int open_cm(struct dsm_rdma *r)
{
	struct ibv_device **devs;
	int nd = 0;

	devs = ibv_get_device_list(&nd);
	if (devs)
		ibv_free_device_list(devs);
	if (nd <= 0) {
		dsm_err("DSM_TRANSPORT=rdma: no RDMA device on this machine (ibv_devices lists none; "
			"is the adapter's driver, or rdma_rxe for Soft-RoCE, loaded?); use "
			"DSM_TRANSPORT=tcp");
		return -ENODEV;
	}
	r->cm_ch = rdma_create_event_channel();
	if (!r->cm_ch) {
		dsm_err("DSM_TRANSPORT=rdma: cannot open rdma_cm (is the rdma_ucm module loaded?): %s",
			strerror(errno));
		return -errno;
	}
	fcntl(r->cm_ch->fd, F_SETFL, fcntl(r->cm_ch->fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

int dsm_rdma_probe_device(struct dsm_rdma *r)
{
	struct sockaddr_storage ss;
	int ret = open_cm(r);

	return ret < 0 ? ret : pick_addr(r, &ss);
}

void dsm_rdma_refuse(struct dsm_rdma *r, struct rdma_cm_event *ev)
{
	struct rdma_cm_id *id = ev->id;
	const char *why = check_request(r, ev);

	reject(id, why ? why : "the job's connections are all set up");
	rdma_ack_cm_event(ev);
	rdma_destroy_id(id);
}

int dsm_rdma_connect_all(struct dsm_rdma *r)
{
	struct rdma_endpoint mine = { 0 };
	int ret;

	ret = dsm_boot_open(&r->boot, r->tp.params.cfg);
	if (ret < 0)
		return ret;
	r->boot_open = true;
	/* Everyone learns everyone's fate: a node that fails here still
	 * takes part in the all-gather, with an empty endpoint. */
	ret = open_cm(r);
	if (ret == 0)
		ret = listen_local(r, &mine.addr);
	if (ret == 0)
		ret = dsm_rdma_setup_verbs(r);
	if (ret == 0 && dsm_auth_nonce(mine.nonce) < 0)
		ret = -EIO;
	if (ret < 0)
		memset(&mine, 0, sizeof(mine));
	r->eps = calloc((size_t)r->tp.nnodes, sizeof(*r->eps));
	if (!r->eps)
		return -ENOMEM;
	{
		int g = dsm_boot_allgather(&r->boot, &mine, sizeof(mine), r->eps);

		if (ret < 0)
			return ret;
		if (g < 0)
			return g;
	}
	for (int i = 0; i < r->tp.nnodes; i++) {
		if (r->eps[i].addr.ss_family == 0) {
			dsm_err("rdma: node %d could not set up RDMA (its own error line says why)", i);
			return -DSM_EPEERLOST;
		}
	}
	ret = connect_mesh(r);
	if (ret < 0)
		return ret;
	dsm_info("rdma: node %d connected to %d nodes over %s port %u", r->tp.self,
		 r->tp.nnodes - 1, r->devname, r->port);
	return 0;
}
