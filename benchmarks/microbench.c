/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * microbench.c - cost of libdsm's basic operations, and of their floors.
 *
 * Run as exactly two nodes: dsmrun -n 2 benchmarks/microbench [-r R] [-s S]
 *
 * Every quantity is measured R times ("rounds") over S samples each; a
 * round's result is the median (and p90) of its samples, and the benchmark
 * reports the median over rounds of those, so that one disturbed round (a
 * page cache flush, another process) does not move the result.  Rounds are
 * interleaved: round r of every floor and every operation runs before round
 * r + 1 of any, so a drift in the machine's state during the run (where the
 * scheduler put the two processes, CPU frequency) reaches floors and
 * operations alike and the ratios stay honest.
 *
 * Floors, measured in the same run so that ratios compare like with like:
 *  - a bare SIGSEGV cycle: a store to a PROT_NONE private page, a handler
 *    that mprotect()s it read-write and returns, the store retried; the
 *    same cycle for a store to a PROT_READ page (the bare fault under a
 *    twin, d: the kernel must flush the old read-only entry from the TLB,
 *    where a PROT_NONE one was never in it); and one mprotect() call by
 *    itself;
 *  - a TCP round trip of 64 B and of 4 KiB between the two node processes
 *    over loopback, TCP_NODELAY, blocking send/recv;
 *  - where an RDMA device is, the bare verbs between the same processes
 *    (rdma_floor.c): an RDMA READ of a page, and SEND/RECV round trips of
 *    64 B and 4 KiB.  Under DSM_TRANSPORT=rdma the network rows are
 *    compared with these instead of TCP's.
 *
 * DSM operations, each timed around a single load, store or call:
 *  a. read fault on a page whose home and owner is the other node;
 *  b. read fault on a page whose home is this node while the other node
 *     holds it exclusively (the home recalls it first);
 *  c. write fault that must invalidate one other copy (both nodes read the
 *     page first), with the home remote and with the home local;
 *  d. write fault on a page this node already holds read-only (upgrade),
 *     home remote and home local;
 *  e. lock acquire + release whose last holder was the other node, with the
 *     lock's manager remote and local;
 *  f. barrier, back to back.
 *
 * Under release and weak consistency (DSM_CONSISTENCY) pages have homes but
 * no owners: a write to a cached copy makes a twin, its diff goes to the
 * home at the next release, and copies go stale only at an acquire (the
 * pages named by write notices under release, every cached page under
 * weak).  So the same setups mean other things there, and the table says
 * which:
 *  a. the home wrote the page in place: a fetch from it;
 *  b. node 0's diff reached home 1 at the barrier: a local fault, no message;
 *  c. a write invalidates nothing: n/a (the copies go at an acquire: h);
 *  d. a write to a read-only copy makes a twin (home remote) or writes the
 *     home's page in place (home local).  Weak consistency drops every
 *     cached copy at the setup's barrier, so node 1 reads the pages after it;
 *  e, f. as above (the messages carry vector time; notices when there are);
 * and two rows that only these models have, where the cost of a write went:
 *  g. dsm_release() with one page written whose home is remote: its diff
 *     and the home's acknowledgement;
 *  h. a lock handoff after a remote write: node 0 takes lock k, writes a
 *     word of page k (home node 0, cached by node 1) and releases; node 1
 *     takes lock k (the grant carries the write notice; under weak the
 *     acquire drops every copy), reads the word (a fetch) and releases.
 *     Both nodes run at once; an attempt of node 1 that came before node
 *     0's release (it reads the old value) is not counted.
 * Under sequential consistency neither g nor h is run or printed.
 *
 * Who measures: node 1 takes every sample, node 0 only sets the stage (writes
 * the pages, holds the lock, answers the TCP pings) and then waits in a
 * barrier.  Node 0 is the barrier's centre, so while it waits it sends
 * nothing, and with two nodes every message has node 1 at one end: node 1's
 * msgs_sent + msgs_recv over a measuring window (from dsm_get_stats) is then
 * exactly the job's message count for the operations in that window.  Node 1
 * writes its results into shared memory and node 0 prints the table after a
 * barrier.
 *
 * Each sample uses a page nobody has touched before (pools of fresh pages,
 * chosen with dsm_home_node), so the state of a page before the timed access
 * is exactly the one the operation names, whatever the protocol did to the
 * pages of earlier samples.  The pools take every other page, and hand
 * them out from the highest address down: the relaxed models' fetch runs
 * follow a sweep upwards, at a stride of up to 16 pages, from the pages
 * cached below the faulting one, and below a sample page nothing is cached
 * yet, so every sample costs one fault and one fetch.  That costs 12 x R x S
 * pages of shared heap (82 MiB at the defaults; 16 x R x S under release
 * and weak; DSM_HEAP_SIZE bounds -r and -s).  dsm_home_node() also pins an untouched page's home
 * under first-touch homes (DSM_HOMES), so the pools mean the same there.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dsm.h>

#include "benchmarks/bench_common.h"
#include "benchmarks/rdma_floor.h"

#define MB_DEF_ROUNDS	7
#define MB_DEF_SAMPLES	250
#define MB_MEASURER	1	/* the node that takes the samples */
#define MB_LOCK_BASE	100	/* locks MB_LOCK_BASE + k have manager k % 2 */
#define MB_HLOCK_BASE	200	/* h: locks MB_HLOCK_BASE + 2k, manager node 0 */
#define MB_HLOCKS	1024	/* h: sample k uses lock k % MB_HLOCKS */
#define MB_H_TRIES	1000000	/* h: attempts at one sample before giving up */
#define MB_TCP_WARMUP	8	/* untimed ping-pongs before each TCP round */

enum mb_floor_id {
	FL_FAULT,	/* SIGSEGV + handler mprotect + retry */
	FL_WFAULT,	/* the same, a store to a read-only page */
	FL_MPROTECT,	/* one mprotect(PROT_READ|PROT_WRITE) */
	FL_TCP64,	/* TCP round trip, 64 B each way */
	FL_TCP4K,	/* TCP round trip, 4 KiB each way */
	FL_RDMA_READ,	/* bare verbs: RDMA READ of 4 KiB (rdma_floor.c) */
	FL_RDMA64,	/* bare verbs: SEND/RECV round trip, 64 B */
	FL_RDMA4K,	/* bare verbs: SEND/RECV round trip, 4 KiB */
	FL_NR
};

enum mb_op_id {
	OP_READ_REMOTE,
	OP_READ_RECALL,
	OP_WINV_REMOTE,
	OP_WINV_LOCAL,
	OP_UPG_REMOTE,
	OP_UPG_LOCAL,
	OP_LOCK_REMOTE,
	OP_LOCK_LOCAL,
	OP_BARRIER,
	OP_RELEASE_DIFF,	/* release and weak consistency only */
	OP_HANDOFF,		/* release and weak consistency only */
	OP_NR
};

/* Which pool of fresh pages an operation draws from (-1: none). */
static const int op_home[OP_NR] = {
	[OP_READ_REMOTE] = 0, [OP_READ_RECALL] = 1,
	[OP_WINV_REMOTE] = 0, [OP_WINV_LOCAL] = 1,
	[OP_UPG_REMOTE] = 0,  [OP_UPG_LOCAL] = 1,
	[OP_LOCK_REMOTE] = -1, [OP_LOCK_LOCAL] = -1, [OP_BARRIER] = -1,
	[OP_RELEASE_DIFF] = 0, [OP_HANDOFF] = 0,
};

/* Release or weak consistency (see the top of the file); set in main(). */
static int relaxed;

static const char *const floor_name[FL_NR] = {
	[FL_FAULT]    = "SIGSEGV + mprotect(RW) in handler, full cycle",
	[FL_WFAULT]   = "the same, a store to a read-only page",
	[FL_MPROTECT] = "mprotect(RW) call alone",
	[FL_TCP64]    = "TCP round trip, 64 B",
	[FL_TCP4K]    = "TCP round trip, 4 KiB",
	[FL_RDMA_READ] = "RDMA READ of 4 KiB, bare verbs",
	[FL_RDMA64]   = "RDMA SEND/RECV round trip, 64 B, bare verbs",
	[FL_RDMA4K]   = "RDMA SEND/RECV round trip, 4 KiB, bare verbs",
};

/* DSM_TRANSPORT=rdma: the network rows compare with the verbs floors. */
static int over_rdma;

/*
 * Table rows, from the measuring node's (node 1's) point of view.  Under
 * release and weak consistency rx_text and rx_floor replace text and floor
 * where given, and a row with rx_na is not run but printed as n/a with it.
 */
static const struct {
	const char *label;
	const char *text;
	enum mb_floor_id floor;	/* the floor it is compared with */
	const char *rx_text;
	enum mb_floor_id rx_floor;
	const char *rx_na;
	int rx_only;		/* run and printed only under release and weak */
} op_info[OP_NR] = {
	[OP_READ_REMOTE] = { "a", "read fault: home+owner remote", FL_TCP4K,
			     "read fault: home remote, written there", FL_TCP4K },
	[OP_READ_RECALL] = { "b", "read fault: home local, owner remote (recall)", FL_TCP4K,
			     "read fault: home local, remote write came as a diff", FL_FAULT },
	[OP_WINV_REMOTE] = { "c", "write fault, invalidate 1 copy: home remote", FL_TCP64,
			     .rx_na = "a write invalidates no copy; stale copies go at acquires: h" },
	[OP_WINV_LOCAL]  = { "c", "write fault, invalidate 1 copy: home local", FL_TCP64,
			     .rx_na = "a write invalidates no copy; stale copies go at acquires: h" },
	[OP_UPG_REMOTE]  = { "d", "write upgrade of read-only page: home remote", FL_TCP64,
			     "write to a read-only copy (twin): home remote", FL_WFAULT },
	[OP_UPG_LOCAL]   = { "d", "write upgrade of read-only page: home local", FL_WFAULT,
			     "write to a read-only page, in place: home local", FL_WFAULT },
	[OP_LOCK_REMOTE] = { "e", "lock acquire+release, last holder remote: manager remote", FL_TCP64 },
	[OP_LOCK_LOCAL]  = { "e", "lock acquire+release, last holder remote: manager local", FL_TCP64 },
	[OP_BARRIER]     = { "f", "barrier, 2 nodes", FL_TCP64 },
	[OP_RELEASE_DIFF] = { "g", NULL, FL_TCP64,
			      "release, 1 page written: diff to remote home + ack", FL_TCP64,
			      .rx_only = 1 },
	[OP_HANDOFF]     = { "h", NULL, FL_TCP4K,
			     "lock handoff after remote write, read it: home remote", FL_TCP4K,
			     .rx_only = 1 },
};

/* One measured quantity, as node 1 publishes it to node 0. */
struct mb_result {
	int valid;		/* 0: not measured (see the note printed) */
	double med_us;		/* median over rounds of the round medians */
	double p90_us;		/* median over rounds of the round p90s */
	double msgs;		/* messages per operation (DSM rows only) */
	double bytes;		/* bytes per operation (DSM rows only) */
};

/*
 * Shared between the two nodes; each field is written by one node and read
 * by the other only after a barrier.
 */
struct mb_shared {
	int port;		/* node 0: its TCP port, or -1 */
	int connected;		/* node 1: 1 if it reached that port */
	long errors;		/* node 1: wrong values seen by the checks */
	long h_early;		/* node 1: h attempts that came before node 0's release */
	struct mb_result floor[FL_NR];	/* node 1 */
	struct mb_result op[OP_NR];	/* node 1 */
};

/* Quantities: the floors, then the operations. */
#define Q_OP(op)	(FL_NR + (op))
#define Q_NR		(FL_NR + OP_NR)

/* What node 1 accumulates for one quantity over the rounds. */
struct mb_acc {
	double *rmed;		/* per round: median of its samples, ns */
	double *rp90;		/* per round: p90 of its samples, ns */
	uint64_t msgs;		/* messages in its counting windows */
	uint64_t bytes;		/* bytes in its counting windows */
	uint64_t ops;		/* operations in its counting windows */
};

/* Node-private state of the benchmark. */
struct mb {
	int me;
	int rounds, samples;
	size_t page;
	struct mb_shared *sh;
	char **pool[2];		/* pool[h]: fresh pages with home node h */
	size_t pool_next[2];	/* next unused page of each pool */
	double *buf;		/* one round's samples, ns */
	double *buf2, *buf3;	/* more series taken alongside */
	struct mb_acc acc[Q_NR];
	struct dsm_stats st0;	/* at the start of the current window */
	int tcp_fd;		/* the floor's connection, or -1 */
	struct rdma_floor *rdma;	/* the verbs floors' queue pair, or NULL */
	const char *rdma_why;	/* why there is none */
};

/* ------------------------------------------------------------ helpers */

/* Row op under this run's model: its text, its floor, why it is not run
 * (NULL: it is), and whether it is in the table at all. */
static const char *op_text(int op)
{
	return relaxed && op_info[op].rx_text ? op_info[op].rx_text : op_info[op].text;
}

static enum mb_floor_id op_floor(int op)
{
	enum mb_floor_id f = relaxed && op_info[op].rx_text ? op_info[op].rx_floor : op_info[op].floor;

	if (over_rdma && f == FL_TCP64)
		return FL_RDMA64;
	if (over_rdma && f == FL_TCP4K)
		return FL_RDMA4K;
	return f;
}

static const char *op_na(int op)
{
	return relaxed ? op_info[op].rx_na : NULL;
}

static int op_shown(int op)
{
	return relaxed || !op_info[op].rx_only;
}

/* Record round r of quantity q, whose n samples (ns) are in v. */
static void round_done(struct mb *mb, int q, int r, double *v, int n)
{
	mb->acc[q].rp90[r] = bench_quantile(v, n, 0.9);
	mb->acc[q].rmed[r] = bench_median(v, n);
}

/*
 * Node 1, at the end: reduce quantity q's rounds to one result (us) and,
 * for an operation, its messages and bytes per operation.
 */
static void result_done(struct mb *mb, int q, struct mb_result *res)
{
	struct mb_acc *a = &mb->acc[q];

	res->med_us = bench_median(a->rmed, mb->rounds) / 1000.0;
	res->p90_us = bench_median(a->rp90, mb->rounds) / 1000.0;
	if (a->ops) {
		res->msgs = (double)a->msgs / (double)a->ops;
		res->bytes = (double)a->bytes / (double)a->ops;
	}
	res->valid = 1;
}

/*
 * Open and close a message-counting window on node 1.  No DSM call may fall
 * between the two but the operations counted (see the top of the file).
 */
static void window_open(struct mb *mb)
{
	dsm_get_stats(&mb->st0);
}

static void window_close(struct mb *mb, int q, uint64_t ops)
{
	struct mb_acc *a = &mb->acc[q];
	struct dsm_stats st;

	dsm_get_stats(&st);
	a->msgs += (st.msgs_sent - mb->st0.msgs_sent) +
		   (st.msgs_recv - mb->st0.msgs_recv);
	a->bytes += (st.bytes_sent - mb->st0.bytes_sent) +
		    (st.bytes_recv - mb->st0.bytes_recv);
	a->ops += ops;
}

/* The next n fresh pages whose home is node h (same on both nodes). */
static char **pool_take(struct mb *mb, int h, int n)
{
	char **p = mb->pool[h] + mb->pool_next[h];

	mb->pool_next[h] += (size_t)n;
	return p;
}

/*
 * Fill both pools with need pages each.  Homes are the same on every node,
 * and so is the sequence of collective allocations, so both nodes end with
 * the same pools.  Returns 0, or -1 if the shared heap is too small.
 */
static int pools_fill(struct mb *mb, size_t need)
{
	size_t have[2] = { 0, 0 }, chunk = 2 * need + 2, i;
	char *last[2] = { NULL, NULL };
	int tries;

	mb->pool[0] = calloc(need, sizeof(char *));
	mb->pool[1] = calloc(need, sizeof(char *));
	if (!mb->pool[0] || !mb->pool[1])
		return -1;
	for (tries = 0; tries < 16 && (have[0] < need || have[1] < need); tries++) {
		char *base = dsm_alloc_collective(chunk * mb->page);

		if (!base)
			return -1;
		/* No two pages of a pool next to each other, and handed out
		 * downwards (below): each sample must cost one fault, not join
		 * a fetch run.  (Not simply every other page: with homes
		 * dealt page by page, DSM_HOME_BLOCK=1 as under sequential
		 * consistency, those would all have one home.) */
		for (i = 0; i < chunk; i++) {
			char *p = base + i * mb->page;
			int h = dsm_home_node(p);

			if (h >= 0 && h < 2 && have[h] < need &&
			    (!last[h] || p != last[h] + mb->page)) {
				mb->pool[h][have[h]++] = p;
				last[h] = p;
			}
		}
	}
	if (have[0] < need || have[1] < need)
		return -1;
	/* Downwards (see the top of the file): no fault sees a sweep. */
	for (int h = 0; h < 2; h++)
		for (i = 0; i < need / 2; i++) {
			char *t = mb->pool[h][i];

			mb->pool[h][i] = mb->pool[h][need - 1 - i];
			mb->pool[h][need - 1 - i] = t;
		}
	return 0;
}

/* ------------------------------------------------------------- floors */

static volatile char *fl_page;		/* the private page of the fault floor */
static size_t fl_len;
static struct sigaction fl_saved;	/* the runtime's SIGSEGV disposition */

/*
 * SIGSEGV handler of the fault floor: open the page and return, so that the
 * store is retried.  Signal context: only mprotect and sigaction.  A fault
 * anywhere else is not ours: put the saved disposition back and return, so
 * the faulting instruction runs again under the runtime's own handler.
 */
static void fl_handler(int sig, siginfo_t *si, void *uc)
{
	char *a = si->si_addr;

	(void)sig;
	(void)uc;
	if (a < (char *)fl_page || a >= (char *)fl_page + fl_len) {
		sigaction(SIGSEGV, &fl_saved, NULL);
		return;
	}
	mprotect((void *)fl_page, fl_len, PROT_READ | PROT_WRITE);
}

/*
 * Node 1, one round of the fault and mprotect floors.  SIGSEGV belongs to
 * the runtime (with the sigsegv fault backend), so borrow it and give it
 * back.  That is safe because this thread touches no shared memory
 * meanwhile, node 0 is parked in a barrier, and the runtime's own threads
 * never fault: they reach pages through the runtime's always-writable view
 * (ARCHITECTURE.md).
 */
static int floor_fault_round(struct mb *mb, int r)
{
	struct sigaction sa;
	int k;

	if (!fl_page) {
		fl_len = mb->page;
		fl_page = mmap(NULL, fl_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fl_page == MAP_FAILED) {
			fprintf(stderr, "microbench: fault floor: mmap: %s\n",
				strerror(errno));
			fl_page = NULL;
			return -1;
		}
		fl_page[0] = 0;	/* populate it: time protection, not zero-fill */
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fl_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &fl_saved) < 0) {
		fprintf(stderr, "microbench: sigaction: %s\n", strerror(errno));
		return -1;
	}
	for (k = 0; k < mb->samples; k++) {
		uint64_t t0, t1;

		/* The upgrade a fault handler does, alone. */
		mprotect((void *)fl_page, fl_len, PROT_NONE);
		t0 = bench_now_ns();
		mprotect((void *)fl_page, fl_len, PROT_READ | PROT_WRITE);
		t1 = bench_now_ns();
		mb->buf2[k] = (double)(t1 - t0);

		/* The whole cycle: fault, handler, mprotect, retry. */
		mprotect((void *)fl_page, fl_len, PROT_NONE);
		t0 = bench_now_ns();
		fl_page[0] = (char)k;
		t1 = bench_now_ns();
		mb->buf[k] = (double)(t1 - t0);

		/* The same from read-only, as under a twin. */
		mprotect((void *)fl_page, fl_len, PROT_READ);
		t0 = bench_now_ns();
		fl_page[0] = (char)k;
		t1 = bench_now_ns();
		mb->buf3[k] = (double)(t1 - t0);
	}
	sigaction(SIGSEGV, &fl_saved, NULL);

	round_done(mb, FL_FAULT, r, mb->buf, mb->samples);
	round_done(mb, FL_WFAULT, r, mb->buf3, mb->samples);
	round_done(mb, FL_MPROTECT, r, mb->buf2, mb->samples);
	/* A floor's "ops" count its completed rounds. */
	mb->acc[FL_FAULT].ops++;
	mb->acc[FL_WFAULT].ops++;
	mb->acc[FL_MPROTECT].ops++;
	return 0;
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * Both nodes: set up the TCP floors' connection.  Node 0 listens on
 * 127.0.0.1:0 and publishes the port through shared memory; node 1
 * connects and says whether it could; node 0 accepts.  Collective (three
 * barriers).  Afterwards mb->sh->connected tells both nodes whether the
 * floor rounds run.
 */
static void tcp_setup(struct mb *mb)
{
	int lfd = -1;

	mb->tcp_fd = -1;
	if (mb->me == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t len = sizeof(sin);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		mb->sh->port = -1;
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (lfd >= 0 &&
		    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    listen(lfd, 1) == 0 &&
		    getsockname(lfd, (struct sockaddr *)&sin, &len) == 0)
			mb->sh->port = ntohs(sin.sin_port);
		else
			fprintf(stderr, "microbench: node 0: TCP listen: %s\n",
				strerror(errno));
	}
	dsm_barrier();

	if (mb->me == 1) {
		int port = mb->sh->port;

		mb->sh->connected = 0;
		if (port > 0) {
			struct sockaddr_in sin = { .sin_family = AF_INET };

			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			sin.sin_port = htons((uint16_t)port);
			mb->tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
			/* The listen backlog completes the handshake: no accept needed yet. */
			if (mb->tcp_fd >= 0 &&
			    connect(mb->tcp_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
				mb->sh->connected = 1;
			else
				fprintf(stderr, "microbench: node 1: TCP connect to port %d: %s\n",
					port, strerror(errno));
		}
	}
	dsm_barrier();

	if (mb->sh->connected && mb->me == 0) {
		mb->tcp_fd = accept(lfd, NULL, NULL);
		/* On failure node 1 gets EOF and reports the floor missing. */
		if (mb->tcp_fd < 0)
			fprintf(stderr, "microbench: node 0: accept: %s\n",
				strerror(errno));
	}
	if (mb->tcp_fd >= 0)
		set_nodelay(mb->tcp_fd);
	if (lfd >= 0)
		close(lfd);
	dsm_barrier();
}

/*
 * Both nodes, one round of a TCP floor: node 1 sends len bytes and waits
 * for them to come back, S times after a short warm-up; node 0 echoes.  A
 * broken connection closes the socket and ends the floor on both sides
 * (each sees EOF or an error); the quantity then stays "n/a".
 */
static void floor_tcp_round(struct mb *mb, int q, int r, size_t len)
{
	static char msg[4096];
	int k, n = MB_TCP_WARMUP + mb->samples;

	if (mb->tcp_fd < 0)
		return;
	if (mb->me == 0) {
		for (k = 0; k < n; k++)
			if (bench_recv_all(mb->tcp_fd, msg, len) ||
			    bench_send_all(mb->tcp_fd, msg, len))
				goto broken;
		return;
	}
	for (k = 0; k < n; k++) {
		uint64_t t0 = bench_now_ns();

		if (bench_send_all(mb->tcp_fd, msg, len) ||
		    bench_recv_all(mb->tcp_fd, msg, len))
			goto broken;
		if (k >= MB_TCP_WARMUP)
			mb->buf[k - MB_TCP_WARMUP] = (double)(bench_now_ns() - t0);
	}
	round_done(mb, q, r, mb->buf, mb->samples);
	mb->acc[q].ops++;	/* a floor's "ops" count its completed rounds */
	return;

broken:
	fprintf(stderr, "microbench: node %d: TCP ping-pong: %s\n", mb->me,
		errno ? strerror(errno) : "connection closed");
	close(mb->tcp_fd);
	mb->tcp_fd = -1;
}

/*
 * Both nodes, one round of an RDMA floor (rdma_floor.c), as the TCP
 * floors: warm-up, then S timed samples on node 1; node 0 echoes the
 * ping-pongs and takes no part in a READ.  A failure ends the floors.
 */
static void floor_rdma_round(struct mb *mb, int q, int r)
{
	size_t len = q == FL_RDMA64 ? 64 : 4096;
	int k, n = MB_TCP_WARMUP + mb->samples;

	if (!mb->rdma || (q == FL_RDMA_READ && mb->me != MB_MEASURER))
		return;
	for (k = 0; k < n; k++) {
		uint64_t t0 = bench_now_ns();
		int ret = q == FL_RDMA_READ ? rdma_floor_read(mb->rdma, len) :
			  rdma_floor_pingpong(mb->rdma, mb->me, len);

		if (ret < 0) {
			fprintf(stderr, "microbench: node %d: RDMA floor failed; no RDMA floors\n",
				mb->me);
			rdma_floor_close(mb->rdma);
			mb->rdma = NULL;
			return;
		}
		if (mb->me == MB_MEASURER && k >= MB_TCP_WARMUP)
			mb->buf[k - MB_TCP_WARMUP] = (double)(bench_now_ns() - t0);
	}
	if (mb->me != MB_MEASURER)
		return;
	round_done(mb, q, r, mb->buf, mb->samples);
	mb->acc[q].ops++;
}

/* ------------------------------------------------------ DSM operations */

/*
 * a, b, c, d, one round: one page fault per sample, on fresh pages.
 *  setup (untimed, then a barrier so that node 1 sees its outcome):
 *    a, b: node 0 writes each page (b: it takes ownership from home 1);
 *    c:    both nodes read each page;
 *    d:    node 1 reads each page (node 0 never touches them);
 *  measure, node 1 only: one timed load (a, b) or store (c, d) per page.
 * The loads check the value node 0 stored, to catch a stale page.
 * Under release and weak consistency c is not run, and node 1 reads d's
 * pages after the barrier, which under weak consistency drops every
 * cached copy (the same place under release, for one code path).
 */
static void op_fault_round(struct mb *mb, enum mb_op_id op, int r)
{
	int is_read = op == OP_READ_REMOTE || op == OP_READ_RECALL;
	int is_winv = op == OP_WINV_REMOTE || op == OP_WINV_LOCAL;
	int late_read = relaxed && !is_read && !is_winv;
	char **pg = pool_take(mb, op_home[op], mb->samples);
	char want = (char)(0x40 + r);
	int k;

	if (is_read && mb->me == 0)
		for (k = 0; k < mb->samples; k++)
			*(volatile char *)pg[k] = want;
	if (is_winv || (!is_read && mb->me == MB_MEASURER && !late_read))
		for (k = 0; k < mb->samples; k++)
			/* Only node 1 writes mb->sh: a store is a write fault. */
			if (*(volatile char *)pg[k] != 0 && mb->me == MB_MEASURER)
				mb->sh->errors++;
	dsm_barrier();

	if (mb->me == MB_MEASURER) {
		if (late_read)
			for (k = 0; k < mb->samples; k++)
				if (*(volatile char *)pg[k] != 0)
					mb->sh->errors++;
		window_open(mb);
		for (k = 0; k < mb->samples; k++) {
			volatile char *p = pg[k];
			uint64_t t0, t1;
			char got = want;

			t0 = bench_now_ns();
			if (is_read)
				got = *p;
			else
				*p = want;
			t1 = bench_now_ns();
			mb->buf[k] = (double)(t1 - t0);
			if (got != want)
				mb->sh->errors++;
		}
		window_close(mb, Q_OP(op), (uint64_t)mb->samples);
		round_done(mb, Q_OP(op), r, mb->buf, mb->samples);
	}
	dsm_barrier();
}

/*
 * e, one round: S times, node 0 takes and drops the lock, a barrier, then
 * node 1 takes and drops it, timed: its last holder is always the other node.
 */
static void op_lock_round(struct mb *mb, enum mb_op_id op, int r)
{
	/* Manager = lock_id % nodes: remote (0) or local (1) for node 1. */
	unsigned id = MB_LOCK_BASE + (op == OP_LOCK_LOCAL ? 1 : 0);
	int k, ret = 0;

	for (k = 0; k < mb->samples; k++) {
		if (mb->me == 0) {
			ret |= dsm_lock_acquire(id);
			ret |= dsm_lock_release(id);
		}
		dsm_barrier();
		if (mb->me == MB_MEASURER) {
			uint64_t t0, t1;

			window_open(mb);
			t0 = bench_now_ns();
			ret |= dsm_lock_acquire(id);
			ret |= dsm_lock_release(id);
			t1 = bench_now_ns();
			window_close(mb, Q_OP(op), 1);
			mb->buf[k] = (double)(t1 - t0);
		}
		dsm_barrier();
	}
	if (mb->me == MB_MEASURER)
		round_done(mb, Q_OP(op), r, mb->buf, mb->samples);
	if (ret) {
		fprintf(stderr, "microbench: node %d: lock %u: %s\n", mb->me,
			id, dsm_strerror(ret));
		if (mb->me == MB_MEASURER)
			mb->sh->errors++;
	}
}

/* f, one round: barriers back to back; node 1 times each one. */
static void op_barrier_round(struct mb *mb, int r)
{
	int k;

	dsm_barrier();
	if (mb->me != MB_MEASURER) {
		for (k = 0; k < mb->samples; k++)
			dsm_barrier();
		return;
	}
	window_open(mb);
	for (k = 0; k < mb->samples; k++) {
		uint64_t t0 = bench_now_ns();

		dsm_barrier();
		mb->buf[k] = (double)(bench_now_ns() - t0);
	}
	window_close(mb, Q_OP(OP_BARRIER), (uint64_t)mb->samples);
	round_done(mb, Q_OP(OP_BARRIER), r, mb->buf, mb->samples);
}

/*
 * g, one round (release and weak consistency): S times, node 1 writes a
 * byte of a fresh page whose home is node 0 (untimed: a fetch and a twin),
 * then times dsm_release(), which sends the page's diff to node 0 and waits
 * for the acknowledgement.  Node 0 waits in the barrier meanwhile.
 */
static void op_release_round(struct mb *mb, int r)
{
	char **pg = pool_take(mb, op_home[OP_RELEASE_DIFF], mb->samples);
	int k;

	if (mb->me == MB_MEASURER) {
		for (k = 0; k < mb->samples; k++) {
			uint64_t t0, t1;

			*(volatile char *)pg[k] = (char)(0x40 + r);
			window_open(mb);
			t0 = bench_now_ns();
			dsm_release();
			t1 = bench_now_ns();
			window_close(mb, Q_OP(OP_RELEASE_DIFF), 1);
			mb->buf[k] = (double)(t1 - t0);
		}
		round_done(mb, Q_OP(OP_RELEASE_DIFF), r, mb->buf, mb->samples);
	}
	dsm_barrier();
}

/*
 * h, one round (release and weak consistency).  Setup: node 1 reads S
 * fresh pages whose home is node 0, so that it holds copies that node 0's
 * writes will make stale; a barrier.  Then at once: node 0, for every k,
 * takes lock k, writes a byte of page k and releases; node 1, for every k,
 * times lock k's acquire, a load of that byte and the release.  The lock's
 * grant to node 1 is what carries node 0's write notice for page k (a
 * barrier would carry it as well, so there is none in between).  Node 1's
 * attempts that come before node 0's release of lock k see the old value:
 * they are counted in h_early and not timed, and node 1 tries again.
 */
static void op_handoff_round(struct mb *mb, int r)
{
	char **pg = pool_take(mb, op_home[OP_HANDOFF], mb->samples);
	char want = (char)(0x40 + r);
	int k, ret = 0;
	long early = 0;		/* into mb->sh at the end: a store there now would
				 * add its diff to the next release's messages */

	if (mb->me == MB_MEASURER)
		for (k = 0; k < mb->samples; k++)
			if (*(volatile char *)pg[k] != 0)
				mb->sh->errors++;
	dsm_barrier();

	for (k = 0; k < mb->samples; k++) {
		unsigned id = MB_HLOCK_BASE + 2 * (unsigned)(k % MB_HLOCKS);
		long tries;

		if (mb->me == 0) {
			ret |= dsm_lock_acquire(id);
			*(volatile char *)pg[k] = want;
			ret |= dsm_lock_release(id);
			continue;
		}
		for (tries = 0; tries < MB_H_TRIES; tries++) {
			uint64_t t0, t1;
			char got;

			window_open(mb);
			t0 = bench_now_ns();
			ret |= dsm_lock_acquire(id);
			got = *(volatile char *)pg[k];
			ret |= dsm_lock_release(id);
			t1 = bench_now_ns();
			if (got == want) {
				window_close(mb, Q_OP(OP_HANDOFF), 1);
				mb->buf[k] = (double)(t1 - t0);
				break;
			}
			if (got != 0 || ret)
				tries = MB_H_TRIES;	/* wrong: give up */
			else
				early++;
		}
		if (tries >= MB_H_TRIES) {
			fprintf(stderr, "microbench: node 1: h: sample %d never saw node 0's write\n", k);
			mb->sh->errors++;
			mb->buf[k] = 0;
		}
	}
	if (mb->me == MB_MEASURER) {
		round_done(mb, Q_OP(OP_HANDOFF), r, mb->buf, mb->samples);
		mb->sh->h_early += early;
	}
	if (ret) {
		fprintf(stderr, "microbench: node %d: h: a lock call failed: %s\n", mb->me,
			dsm_strerror(ret));
		if (mb->me == MB_MEASURER)
			mb->sh->errors++;
	}
	dsm_barrier();
}

/* Both nodes: round r of every quantity, floors first. */
static void run_round(struct mb *mb, int r)
{
	int op;

	/* Node 0 waits in the barrier while node 1 faults. */
	if (mb->me == MB_MEASURER && mb->acc[FL_FAULT].ops == (uint64_t)r &&
	    floor_fault_round(mb, r) < 0)
		mb->sh->errors++;
	dsm_barrier();
	floor_tcp_round(mb, FL_TCP64, r, 64);
	floor_tcp_round(mb, FL_TCP4K, r, 4096);
	floor_rdma_round(mb, FL_RDMA_READ, r);
	floor_rdma_round(mb, FL_RDMA64, r);
	floor_rdma_round(mb, FL_RDMA4K, r);
	dsm_barrier();

	for (op = 0; op < OP_NR; op++) {
		if (!op_shown(op) || op_na(op))
			continue;
		if (op == OP_LOCK_REMOTE || op == OP_LOCK_LOCAL)
			op_lock_round(mb, op, r);
		else if (op == OP_BARRIER)
			op_barrier_round(mb, r);
		else if (op == OP_RELEASE_DIFF)
			op_release_round(mb, r);
		else if (op == OP_HANDOFF)
			op_handoff_round(mb, r);
		else
			op_fault_round(mb, op, r);
	}
}

/* ------------------------------------------------------------- output */

static const char *floor_short(enum mb_floor_id f)
{
	switch (f) {
	case FL_FAULT:
		return "fault";
	case FL_WFAULT:
		return "wfault";
	case FL_MPROTECT:
		return "mprotect";
	case FL_TCP64:
		return "tcp64";
	case FL_TCP4K:
		return "tcp4k";
	case FL_RDMA_READ:
		return "read4k";
	case FL_RDMA64:
		return "rdma64";
	case FL_RDMA4K:
		return "rdma4k";
	default:
		return "?";
	}
}

static int is_net_floor(enum mb_floor_id f)
{
	return f == FL_TCP64 || f == FL_TCP4K || f == FL_RDMA64 || f == FL_RDMA4K;
}

/* How the measuring node may be placed: the floors mean most when each
 * node has a CPU of its own, as it would on its own machine. */
static const char *placement(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return "placement unknown";
	if (CPU_COUNT(&set) == 1)
		return "node 1 bound to one CPU";
	return "nodes not bound to CPUs: see the note on placement below";
}

/* One target line: a / (b [+ c]), or why it cannot be given. */
static void print_target(const struct mb_shared *sh, int op, enum mb_floor_id f1, int f2,
			 const char *what, double target)
{
	const struct mb_result *o = &sh->op[op];
	const struct mb_result *a = &sh->floor[f1];
	const struct mb_result *b = f2 >= 0 ? &sh->floor[f2] : NULL;
	double base;

	if (!o->valid || !a->valid || (b && !b->valid)) {
		printf("  %-58s %8s\n", what, "n/a");
		return;
	}
	base = a->med_us + (b ? b->med_us : 0);
	printf("  %-58s %8.2f   (target <= %.1f: %s)\n", what, o->med_us / base, target,
	       o->med_us / base <= target ? "met" : "not met");
}

/*
 * The fault path's targets (issue 9 of the project's tracker), each a
 * ratio of medians taken in this run.
 */
static void print_targets(const struct mb_shared *sh)
{
	enum mb_floor_id net4k = op_floor(OP_READ_REMOTE), net64 = op_floor(OP_LOCK_REMOTE);
	char what[80];

	printf("\ntargets (ratios of this run's medians):\n");
	snprintf(what, sizeof(what), "a. remote read fault / (fault + %s)", floor_short(net4k));
	print_target(sh, OP_READ_REMOTE, FL_FAULT, net4k, what, 1.3);
	if (relaxed) {
		print_target(sh, OP_UPG_REMOTE, FL_WFAULT, -1, "d. twin write / wfault", 1.2);
		print_target(sh, OP_UPG_REMOTE, FL_FAULT, -1, "d. twin write / fault (the PROT_NONE cycle)",
			     1.2);
	}
	snprintf(what, sizeof(what), "e. lock, manager remote / %s", floor_short(net64));
	print_target(sh, OP_LOCK_REMOTE, net64, -1, what, 1.5);
}

static void print_table(struct mb *mb)
{
	const struct mb_shared *sh = mb->sh;
	int i;

	printf("libdsm microbench: 2 nodes, %s consistency, page %zu B, %d rounds x %d samples\n"
	       "(median = median over rounds of each round's median; p90 likewise; node 1 measures;\n"
	       "%s)\n\n",
	       bench_model_name(dsm_consistency()), mb->page, mb->rounds, mb->samples, placement());

	printf("%-50s %10s %10s\n", "floor", "median us", "p90 us");
	for (i = 0; i < FL_NR; i++) {
		if (sh->floor[i].valid)
			printf("%-50s %10.2f %10.2f\n", floor_name[i],
			       sh->floor[i].med_us, sh->floor[i].p90_us);
		else
			printf("%-50s %10s %10s\n", floor_name[i], "n/a", "n/a");
	}

	printf("\n%-62s %9s %9s %8s %-8s %8s %9s\n", "operation", "median us",
	       "p90 us", "x floor", "floor", "msgs/op", "bytes/op");
	for (i = 0; i < OP_NR; i++) {
		const struct mb_result *o = &sh->op[i];
		const struct mb_result *f = &sh->floor[op_floor(i)];
		char name[80], ratio[16];
		const char *fl;

		if (!op_shown(i))
			continue;
		snprintf(name, sizeof(name), "%s. %s", op_info[i].label,
			 op_text(i));
		if (op_na(i)) {
			printf("%-62s n/a (%s)\n", name, op_na(i));
			continue;
		}
		if (!o->valid) {
			printf("%-62s %9s\n", name, "n/a");
			continue;
		}
		fl = floor_short(op_floor(i));
		if (is_net_floor(op_floor(i)) && o->msgs < 0.5) {
			/*
			 * Message-bound on paper, but this protocol did it
			 * without a message (a local lock manager under
			 * sequential consistency): no network floor applies.
			 */
			fl = "none";
			snprintf(ratio, sizeof(ratio), "-");
		} else if (f->valid && f->med_us > 0) {
			snprintf(ratio, sizeof(ratio), "%.1f", o->med_us / f->med_us);
		} else {
			snprintf(ratio, sizeof(ratio), "n/a");
		}
		printf("%-62s %9.2f %9.2f %8s %-8s %8.2f %9.1f\n", name,
		       o->med_us, o->p90_us, ratio, fl, o->msgs, o->bytes);
	}
	if (over_rdma) {
		const struct mb_result *a = &sh->op[OP_READ_REMOTE];
		const struct mb_result *rd = &sh->floor[FL_RDMA_READ];
		const struct mb_result *pp = &sh->floor[FL_RDMA4K];

		if (a->valid && rd->valid && pp->valid)
			printf("\nover rdma: a. remote read fault = %.1f x a bare RDMA READ of the page, "
			       "%.1f x a SEND/RECV ping-pong of it\n",
			       a->med_us / rd->med_us, a->med_us / pp->med_us);
		else
			printf("\nover rdma: no verbs floors (%s)\n",
			       mb->rdma_why ? mb->rdma_why : "a floor failed during the run");
	}
	print_targets(sh);
	printf("\nx floor: median / the floor's median; fault = SIGSEGV+mprotect cycle from PROT_NONE,\n"
	       "wfault = the same from PROT_READ (the kernel flushes the old entry from the TLB: the bare\n"
	       "cost under a twin); tcp64/tcp4k = TCP round trip of 64 B / 4 KiB; rdma64/rdma4k = verbs\n"
	       "SEND/RECV round trip.  Loopback TCP\n"
	       "depends on whether the scheduler runs the two ends on one CPU (a context switch) or on two\n"
	       "(a wake-up across CPUs, 3 x slower on a VM): unbound, the floor's two processes may share a\n"
	       "CPU while the runtime's threads do not, and the ratios mean little.  Placement: run with\n"
	       "dsmrun --bind core (run-microbench.sh does), one node per core, as on separate machines.\n"
	       "Compare ratios within a run, not floors across runs.  Under emulation (the guest) only\n"
	       "ratios mean anything.\n"
	       "msgs/bytes per op: job-wide counts from dsm_get_stats (sent + received by node 1).\n");
	if (dsm_consistency() == DSM_RELEASE)
		printf("Release consistency: no page owners.  A write to a cached copy makes a twin (d),\n"
		       "and its diff goes home at the next release (g).  An acquire takes away the copies\n"
		       "that its write notices name, and the next load fetches the page again (h).\n");
	if (dsm_consistency() == DSM_WEAK)
		printf("Weak consistency: no page owners.  A write to a cached copy makes a twin (d), and\n"
		       "its diff goes home at the next release (g).  Every acquire and release takes away\n"
		       "every cached copy, and the next load fetches the page again (h).\n");
	if (relaxed)
		printf("h: node 1's attempts before node 0's release of the lock: %ld, not timed.\n",
		       sh->h_early);
	if (sh->errors)
		printf("\nERROR: %ld wrong values or failed calls seen during the run\n",
		       sh->errors);
	fflush(stdout);
}

/* --------------------------------------------------------------- main */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: dsmrun -n 2 %s [-r ROUNDS] [-s SAMPLES]\n"
		"  -r ROUNDS   rounds per quantity; the median over rounds is reported (default %d)\n"
		"  -s SAMPLES  samples per round (default %d)\n",
		prog, MB_DEF_ROUNDS, MB_DEF_SAMPLES);
}

int main(int argc, char **argv)
{
	struct mb mb = { .rounds = MB_DEF_ROUNDS, .samples = MB_DEF_SAMPLES };
	int ret, opt, bad_args = 0, i, r, status = 0;

	ret = dsm_init(&argc, &argv);
	if (ret < 0) {
		fprintf(stderr, "microbench: dsm_init: %s\n", dsm_strerror(ret));
		return 1;
	}
	mb.me = dsm_node_id();
	relaxed = dsm_consistency() != DSM_SEQUENTIAL;

	/* Every node sees the same argv: let one of them complain. */
	opterr = dsm_node_id() == 0;
	while ((opt = getopt(argc, argv, "r:s:h")) != -1) {
		switch (opt) {
		case 'r':
			bad_args |= bench_parse_int(optarg, 1, 1000, &mb.rounds);
			break;
		case 's':
			bad_args |= bench_parse_int(optarg, 1, 1000000, &mb.samples);
			break;
		default:
			bad_args = 1;
			break;
		}
	}
	if (bad_args || optind != argc) {
		if (mb.me == 0)
			usage(argv[0]);
		dsm_finalize();
		return 2;
	}
	if (dsm_num_nodes() != 2) {
		if (mb.me == 0)
			fprintf(stderr, "microbench: needs exactly 2 nodes, this job has %d: run it as 'dsmrun -n 2 %s'\n",
				dsm_num_nodes(), argv[0]);
		dsm_finalize();
		return 2;
	}

	mb.page = dsm_page_size();
	mb.buf = calloc((size_t)mb.samples, sizeof(double));
	mb.buf2 = calloc((size_t)mb.samples, sizeof(double));
	mb.buf3 = calloc((size_t)mb.samples, sizeof(double));
	for (i = 0; i < Q_NR; i++) {
		mb.acc[i].rmed = calloc((size_t)mb.rounds, sizeof(double));
		mb.acc[i].rp90 = calloc((size_t)mb.rounds, sizeof(double));
		if (!mb.acc[i].rmed || !mb.acc[i].rp90)
			mb.buf = NULL;	/* reported just below */
	}
	mb.sh = dsm_alloc_collective(sizeof(*mb.sh));
	if (!mb.buf || !mb.buf2 || !mb.buf3 || !mb.sh ||
	    pools_fill(&mb, (relaxed ? 4 : 3) * (size_t)mb.rounds * mb.samples) < 0) {
		/* Same sizes and allocations on both nodes: both fail here. */
		fprintf(stderr, "microbench: node %d: out of memory for %d x %d samples (shared heap: DSM_HEAP_SIZE)\n",
			mb.me, mb.rounds, mb.samples);
		dsm_finalize();
		return 1;
	}

	tcp_setup(&mb);
	over_rdma = getenv("DSM_TRANSPORT") && !strcmp(getenv("DSM_TRANSPORT"), "rdma");
	/* The verbs floors wherever a device is: on both sides or neither. */
	if (mb.tcp_fd >= 0)
		mb.rdma = rdma_floor_open(mb.tcp_fd, mb.me, 4096, &mb.rdma_why);
	for (r = 0; r < mb.rounds; r++)
		run_round(&mb, r);
	rdma_floor_close(mb.rdma);
	if (mb.tcp_fd >= 0)
		close(mb.tcp_fd);

	if (mb.me == MB_MEASURER) {
		/* A floor is shown only if all its rounds completed. */
		for (i = 0; i < FL_NR; i++)
			if (mb.acc[i].ops == (uint64_t)mb.rounds) {
				mb.acc[i].ops = 0;	/* no messages to show */
				result_done(&mb, i, &mb.sh->floor[i]);
			}
		for (i = 0; i < OP_NR; i++)
			if (op_shown(i) && !op_na(i))
				result_done(&mb, Q_OP(i), &mb.sh->op[i]);
	}

	/* Node 1's results and error count are in mb.sh: publish them. */
	dsm_barrier();
	if (mb.me == 0)
		print_table(&mb);
	if (mb.sh->errors)
		status = 1;

	ret = dsm_finalize();
	if (ret < 0) {
		fprintf(stderr, "microbench: node %d: dsm_finalize: %s\n",
			mb.me, dsm_strerror(ret));
		status = 1;
	}
	return status;
}
