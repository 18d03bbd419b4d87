/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conformance suite of the transports: what every struct dsm_tp_ops must
 * do according to runtime/transport/transport.h, written once and run for
 * every transport the library registers (dsm_transports[]), as the fault
 * backends' suite is.
 *
 * The nodes of each job are threads of this test process: one opens its
 * transport (TCP: over loopback, through the bootstrap; rdma: over the
 * first active RDMA device), then a progress thread per node stands in for
 * the service thread and records what is delivered.  A transport that
 * cannot run here (rdma without a device) gets no test case and one line
 * "SKIP: ..."; the binary exits 77 only when none can run.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/config.h"
#include "runtime/transport/transport.h"

#define MAX_TNODES 3
#define PAGE 4096
#define NPAGES 64
#define MAX_PAYLOAD (64 * 1024)
#define LOG_CAP 20000
#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct rec {
	int src;
	uint8_t type;
	uint32_t aux, len;
	uint64_t arg0, arg1;
	uint32_t sum;		/* of the payload */
	const void *payload;
};

struct tnode {
	int id;
	struct dsm_config cfg;
	struct dsm_tp *tp;
	int open_ret;
	char *region;		/* NPAGES pages, registered */
	struct rec *log;
	unsigned int nlog;	/* written by the progress thread only */
	int lost_node;		/* -1, or the node peer_lost named */
	uint32_t word;		/* counts SAFE_TYPE messages delivered (wait_peer) */
	pthread_t opener, progress;
	bool progressing;
	bool stop;
};

static struct tnode nodes[MAX_TNODES];
static int nnodes;
static const char *tp_name;

static uint32_t sum_of(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t s = 2166136261u;

	for (size_t i = 0; i < len; i++)
		s = (s ^ b[i]) * 16777619u;
	return s;
}

/* The one type a thread in wait_peer may deliver itself: a "reply". */
#define SAFE_TYPE (DSM_WT_RUNTIME + 7)

static bool waiter_safe(void *ctx, uint8_t type, enum dsm_waiter who)
{
	(void)ctx;
	(void)who;
	return type == SAFE_TYPE;
}

static void deliver(void *ctx, int src, const struct dsm_wire_hdr *h, const void *payload)
{
	struct tnode *n = ctx;
	struct rec *r;

	ck_assert_uint_lt(n->nlog, LOG_CAP);
	r = &n->log[n->nlog];
	*r = (struct rec){ .src = src, .type = h->type, .aux = h->aux, .len = h->len,
			   .arg0 = h->arg0, .arg1 = h->arg1, .payload = payload,
			   .sum = sum_of(payload, h->len) };
	__atomic_store_n(&n->nlog, n->nlog + 1, __ATOMIC_RELEASE);
	if (h->type == SAFE_TYPE)
		__atomic_store_n(&n->word, n->word + 1, __ATOMIC_RELEASE);
}

static void peer_lost(void *ctx, int node, const char *why)
{
	struct tnode *n = ctx;

	(void)why;
	__atomic_store_n(&n->lost_node, node, __ATOMIC_RELEASE);
}

static const char *getter(const char *name, void *ctx)
{
	static __thread char id[16];
	struct tnode *n = ctx;

	if (!strcmp(name, "DSM_NODE_ID")) {
		snprintf(id, sizeof(id), "%d", n->id);
		return id;
	}
	return getenv(name);
}

static void *opener(void *arg)
{
	struct tnode *n = arg;
	struct dsm_tp_params p = {
		.cfg = &n->cfg, .max_payload = MAX_PAYLOAD,
		.deliver = deliver, .peer_lost = peer_lost, .waiter_safe = waiter_safe, .ctx = n,
	};

	n->open_ret = dsm_config_parse(&n->cfg, getter, n);
	if (n->open_ret < 0)
		return NULL;
	snprintf(n->cfg.transport, sizeof(n->cfg.transport), "%s", tp_name);
	n->cfg.connect_timeout_ms = 20000;
	n->open_ret = dsm_tp_open(&p, &n->tp);
	if (n->open_ret == 0)
		n->open_ret = n->tp->ops->register_mem(n->tp, n->region, NPAGES * PAGE);
	return NULL;
}

static void *progress_main(void *arg)
{
	struct tnode *n = arg;

	while (!__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE))
		ck_assert_int_ge(n->tp->ops->progress(n->tp, 5), 0);
	return NULL;
}

static void start_progress(struct tnode *n)
{
	n->progressing = true;
	ck_assert_int_eq(pthread_create(&n->progress, NULL, progress_main, n), 0);
}

static void stop_progress(struct tnode *n)
{
	if (!n->progressing)
		return;
	__atomic_store_n(&n->stop, true, __ATOMIC_RELEASE);
	n->tp->ops->wake(n->tp);
	pthread_join(n->progress, NULL);
	n->progressing = false;
	n->stop = false;
}

/* A free loopback port for node 0's root address. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Open a job of n nodes on the transport under test; progress threads
 * started unless told otherwise. */
static void job_open(int n, bool progress)
{
	char num[8], root[64];

	nnodes = n;
	snprintf(num, sizeof(num), "%d", n);
	snprintf(root, sizeof(root), "127.0.0.1:%d", free_port());
	setenv("DSM_NUM_NODES", num, 1);
	setenv("DSM_ROOT_ADDR", root, 1);
	setenv("DSM_JOB_SECRET", SECRET, 1);
	setenv("DSM_POLL_US", "20", 1);
	for (int i = 0; i < n; i++) {
		struct tnode *t = &nodes[i];

		memset(t, 0, sizeof(*t));
		t->id = i;
		t->lost_node = -1;
		t->region = aligned_alloc(PAGE, NPAGES * PAGE);
		t->log = calloc(LOG_CAP, sizeof(*t->log));
		ck_assert(t->region && t->log);
		memset(t->region, 0, NPAGES * PAGE);
		ck_assert_int_eq(pthread_create(&t->opener, NULL, opener, t), 0);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(nodes[i].opener, NULL);
		ck_assert_msg(nodes[i].open_ret == 0, "%s: node %d: open failed (%d)", tp_name, i,
			      nodes[i].open_ret);
	}
	for (int i = 0; progress && i < n; i++)
		start_progress(&nodes[i]);
}

static void *shutdown_main(void *arg)
{
	struct tnode *n = arg;

	n->open_ret = n->tp->ops->shutdown(n->tp, 10000);
	return NULL;
}

/* Orderly end: every node shuts down at once, as dsm_finalize does (BYE
 * to all, wait for all BYEs), then closes. */
static void job_close(void)
{
	for (int i = 0; i < nnodes; i++)
		if (!nodes[i].progressing)
			start_progress(&nodes[i]);
	for (int i = 0; i < nnodes; i++)
		pthread_create(&nodes[i].opener, NULL, shutdown_main, &nodes[i]);
	for (int i = 0; i < nnodes; i++) {
		pthread_join(nodes[i].opener, NULL);
		ck_assert_int_eq(nodes[i].open_ret, 0);
	}
	for (int i = 0; i < nnodes; i++) {
		stop_progress(&nodes[i]);
		ck_assert_int_eq(nodes[i].lost_node, -1);
		nodes[i].tp->ops->close(nodes[i].tp);
	}
}

/* Wait until node n has delivered count messages (or 30 s pass). */
static void wait_log(struct tnode *n, unsigned int count)
{
	uint64_t end = dsm_now_ns() + 30000000000ull;

	while (__atomic_load_n(&n->nlog, __ATOMIC_ACQUIRE) < count && dsm_now_ns() < end)
		usleep(500);
	ck_assert_uint_eq(__atomic_load_n(&n->nlog, __ATOMIC_ACQUIRE), count);
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7);
}

/* ---------- the ops table ---------- */

START_TEST(test_ops_table)
{
	const struct dsm_tp_ops *ops = dsm_transports[_i];
	struct dsm_tp_ops broken = *ops;

	ck_assert_ptr_null(dsm_tp_check_ops(ops));
	broken.send_page = NULL;
	ck_assert_ptr_nonnull(dsm_tp_check_ops(&broken));
	broken = *ops;
	broken.register_mem = NULL;
	ck_assert_ptr_nonnull(dsm_tp_check_ops(&broken));
	broken = *ops;
	broken.caps &= ~(unsigned int)DSM_TP_CAP_SEND;
	ck_assert_ptr_nonnull(dsm_tp_check_ops(&broken));
	broken = *ops;
	broken.caps |= 0x80;
	ck_assert_ptr_nonnull(dsm_tp_check_ops(&broken));
	/* read_page and its cap go together. */
	broken = *ops;
	broken.caps ^= DSM_TP_CAP_READ;
	ck_assert_ptr_nonnull(dsm_tp_check_ops(&broken));
}
END_TEST

/* ---------- messages ---------- */

#define NMSG 4000

struct sender_arg {
	int from, to, count;
};

static void *sender(void *arg)
{
	struct sender_arg *a = arg;
	unsigned char buf[512];

	for (int i = 0; i < a->count; i++) {
		struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 1, .aux = (uint32_t)a->from,
					  .arg0 = (uint64_t)i, .arg1 = ~(uint64_t)i };
		size_t len = (size_t)(i % 300);

		fill(buf, len, (unsigned int)i);
		ck_assert_int_eq(dsm_tp_send(nodes[a->from].tp, a->to, &h, buf, len), 0);
	}
	return NULL;
}

/* Both ways at once: every message arrives once, in order, intact, with
 * the header's fields the sender set and the sender's id. */
START_TEST(test_order_both_ways)
{
	struct sender_arg a = { 0, 1, NMSG }, b = { 1, 0, NMSG };
	pthread_t ta, tb;
	unsigned char buf[512];

	job_open(2, true);
	pthread_create(&ta, NULL, sender, &a);
	pthread_create(&tb, NULL, sender, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	for (int n = 0; n < 2; n++) {
		wait_log(&nodes[n], NMSG);
		for (int i = 0; i < NMSG; i++) {
			struct rec *r = &nodes[n].log[i];
			size_t len = (size_t)(i % 300);

			fill(buf, len, (unsigned int)i);
			ck_assert_int_eq(r->src, 1 - n);
			ck_assert_uint_eq(r->type, DSM_WT_RUNTIME + 1);
			ck_assert_uint_eq(r->aux, (uint32_t)(1 - n));
			ck_assert_uint_eq(r->arg0, (uint64_t)i);
			ck_assert_uint_eq(r->arg1, ~(uint64_t)i);
			ck_assert_uint_eq(r->len, len);
			ck_assert_uint_eq(r->sum, sum_of(buf, len));
		}
	}
	/* Counters are exact: what one sent, the other received. */
	ck_assert_uint_eq(nodes[0].tp->counters.msgs_sent, NMSG);
	ck_assert_uint_eq(nodes[1].tp->counters.msgs_recv, NMSG);
	ck_assert_uint_eq(nodes[0].tp->counters.bytes_sent, nodes[1].tp->counters.bytes_recv);
	job_close();
}
END_TEST

/* Several threads of one node send to one peer at once (the fault path
 * and the service thread do): each thread's messages stay in order. */
START_TEST(test_order_many_threads)
{
	enum { T = 4, PER = 1500 };
	pthread_t th[T];
	struct sender_arg a = { 0, 1, PER };
	int next[T] = { 0 };

	job_open(2, true);
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, sender, &a);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	wait_log(&nodes[1], T * PER);
	/* aux is the same for all threads: match each message to the first
	 * thread whose next expected index it is. */
	for (int i = 0; i < T * PER; i++) {
		struct rec *r = &nodes[1].log[i];
		int k;

		for (k = 0; k < T && next[k] != (int)r->arg0; k++)
			;
		ck_assert_msg(k < T, "message %llu out of order", (unsigned long long)r->arg0);
		next[k]++;
	}
	job_close();
}
END_TEST

/* ---------- pages ---------- */

/* send_page places the page at the same offset of the receiver's region,
 * delivers the header with payload pointing there, and keeps its place in
 * the stream among plain messages. */
START_TEST(test_pages_in_place)
{
	unsigned char expect[PAGE];

	job_open(2, true);
	for (int p = 0; p < 16; p++) {
		struct dsm_wire_hdr m = { .type = DSM_WT_RUNTIME + 2, .arg0 = (uint64_t)p };
		struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 3, .aux = 7, .arg0 = (uint64_t)p * 3,
					  .arg1 = 99 };
		char *page = nodes[0].region + (size_t)(p * 3) * PAGE;

		fill((unsigned char *)page, PAGE, (unsigned int)p + 1);
		ck_assert_int_eq(dsm_tp_send(nodes[0].tp, 1, &m, NULL, 0), 0);
		ck_assert_int_eq(dsm_tp_send_page(nodes[0].tp, 1, &h, page, PAGE), 0);
	}
	wait_log(&nodes[1], 32);
	for (int p = 0; p < 16; p++) {
		struct rec *m = &nodes[1].log[2 * p], *r = &nodes[1].log[2 * p + 1];
		const char *where = nodes[1].region + (size_t)(p * 3) * PAGE;

		ck_assert_uint_eq(m->type, DSM_WT_RUNTIME + 2);
		ck_assert_uint_eq(m->arg0, (uint64_t)p);
		ck_assert_uint_eq(r->type, DSM_WT_RUNTIME + 3);
		ck_assert_uint_eq(r->aux, 7);
		ck_assert_uint_eq(r->arg0, (uint64_t)p * 3);
		ck_assert_uint_eq(r->arg1, 99);
		ck_assert_uint_eq(r->len, PAGE);
		ck_assert_ptr_eq(r->payload, where);
		fill(expect, PAGE, (unsigned int)p + 1);
		ck_assert_mem_eq(where, expect, PAGE);
	}
	/* Pages not sent stay untouched. */
	memset(expect, 0, PAGE);
	ck_assert_mem_eq(nodes[1].region + PAGE, expect, PAGE);
	/* A run of pages in one message (a fetch of several pages). */
	{
		struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 3, .aux = 3, .arg0 = 50 };

		for (int k = 0; k < 3; k++)
			fill((unsigned char *)nodes[0].region + (size_t)(50 + k) * PAGE, PAGE,
			     (unsigned int)k + 77);
		ck_assert_int_eq(dsm_tp_send_page(nodes[0].tp, 1, &h, nodes[0].region + 50 * PAGE,
						  3 * PAGE), 0);
		wait_log(&nodes[1], 33);
		ck_assert_uint_eq(nodes[1].log[32].len, 3 * PAGE);
		ck_assert_ptr_eq(nodes[1].log[32].payload, nodes[1].region + 50 * PAGE);
		for (int k = 0; k < 3; k++) {
			fill(expect, PAGE, (unsigned int)k + 77);
			ck_assert_mem_eq(nodes[1].region + (size_t)(50 + k) * PAGE, expect, PAGE);
		}
	}
	job_close();
}
END_TEST

/* send_page_from (optional): the bytes come from a buffer outside the
 * region, copied before the call returns, and land at the page's offset;
 * the page itself is not read. */
START_TEST(test_page_from_snapshot)
{
	unsigned char snap[2 * PAGE], expect[2 * PAGE];
	struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 3, .aux = 2, .arg0 = 20 };

	job_open(2, true);
	if (!nodes[0].tp->ops->send_page_from) {
		job_close();
		return;		/* verbs: the adapter reads the page later */
	}
	fill((unsigned char *)nodes[0].region + 20 * PAGE, 2 * PAGE, 5);
	fill(snap, sizeof(snap), 9);
	memcpy(expect, snap, sizeof(snap));
	ck_assert_int_eq(nodes[0].tp->ops->send_page_from(nodes[0].tp, 1, &h,
							  nodes[0].region + 20 * PAGE, snap,
							  2 * PAGE), 0);
	memset(snap, 0, sizeof(snap));	/* copied already: this must not travel */
	wait_log(&nodes[1], 1);
	ck_assert_uint_eq(nodes[1].log[0].len, 2 * PAGE);
	ck_assert_ptr_eq(nodes[1].log[0].payload, nodes[1].region + 20 * PAGE);
	ck_assert_mem_eq(nodes[1].region + 20 * PAGE, expect, 2 * PAGE);
	job_close();
}
END_TEST

/* read_page (DSM_TP_CAP_READ): the peer's bytes at the page's offset land
 * in ours, the peer's CPU delivers nothing, and the caller's header comes
 * back from the peer with payload pointing at the page. */
START_TEST(test_read_page)
{
	enum { N = 12 };
	unsigned char expect[PAGE];

	job_open(2, true);
	for (int p = 0; p < N; p++)
		fill((unsigned char *)nodes[0].region + (size_t)(p * 5 % NPAGES) * PAGE, PAGE,
		     (unsigned int)p + 40);
	for (int p = 0; p < N; p++) {
		struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 6, .aux = (uint32_t)p,
					  .arg0 = (uint64_t)p * 5 % NPAGES, .arg1 = 77 };
		char *page = nodes[1].region + (size_t)(p * 5 % NPAGES) * PAGE;

		ck_assert_int_eq(nodes[1].tp->ops->read_page(nodes[1].tp, 0, &h, page, PAGE), 0);
	}
	wait_log(&nodes[1], N);
	for (int i = 0; i < N; i++) {
		struct rec *r = &nodes[1].log[i];
		int p = (int)r->aux;
		const char *where = nodes[1].region + (size_t)(p * 5 % NPAGES) * PAGE;

		ck_assert_int_eq(r->src, 0);
		ck_assert_uint_eq(r->type, DSM_WT_RUNTIME + 6);
		ck_assert_uint_eq(r->arg0, (uint64_t)p * 5 % NPAGES);
		ck_assert_uint_eq(r->arg1, 77);
		ck_assert_uint_eq(r->len, PAGE);
		ck_assert_ptr_eq(r->payload, where);
		fill(expect, PAGE, (unsigned int)p + 40);
		ck_assert_mem_eq(where, expect, PAGE);
	}
	/* A run of pages in one read. */
	{
		struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 6, .aux = 99, .arg0 = 60 };

		for (int k = 0; k < 4; k++)
			fill((unsigned char *)nodes[0].region + (size_t)(60 + k) * PAGE, PAGE,
			     (unsigned int)k + 90);
		ck_assert_int_eq(nodes[1].tp->ops->read_page(nodes[1].tp, 0, &h,
							     nodes[1].region + 60 * PAGE,
							     4 * PAGE), 0);
		wait_log(&nodes[1], N + 1);
		ck_assert_uint_eq(nodes[1].log[N].len, 4 * PAGE);
		ck_assert_uint_eq(nodes[1].log[N].aux, 99);
		for (int k = 0; k < 4; k++) {
			fill(expect, PAGE, (unsigned int)k + 90);
			ck_assert_mem_eq(nodes[1].region + (size_t)(60 + k) * PAGE, expect, PAGE);
		}
	}
	/* One-sided: node 0's side delivered nothing. */
	usleep(100000);
	ck_assert_uint_eq(__atomic_load_n(&nodes[0].nlog, __ATOMIC_ACQUIRE), 0);
	job_close();
}
END_TEST

/* ---------- a thread that waits for a reply ---------- */

/* Node 1's three messages of round r: a reply (a page frame or a plain
 * payload), one the waiter may not deliver, then another reply, of sizes
 * from nothing to more than a transport reads ahead. */
static void send_round(int r)
{
	static unsigned char buf[3][20000];
	struct dsm_wire_hdr reply = { .type = SAFE_TYPE, .arg0 = (uint64_t)r % NPAGES, .arg1 = 1 };
	struct dsm_wire_hdr other = { .type = DSM_WT_RUNTIME + 8, .arg1 = 2 };
	struct dsm_wire_hdr late = { .type = SAFE_TYPE, .arg1 = 3 };
	size_t other_len = (size_t)r * 7 % 3000, late_len = (size_t)(r % 4) * 6000;
	char *page = nodes[1].region + (size_t)(r % NPAGES) * PAGE;

	if (r % 2) {
		fill((unsigned char *)page, PAGE, (unsigned int)r);
		ck_assert_int_eq(dsm_tp_send_page(nodes[1].tp, 0, &reply, page, PAGE), 0);
	} else {
		fill(buf[0], (size_t)r % 300, (unsigned int)r);
		ck_assert_int_eq(dsm_tp_send(nodes[1].tp, 0, &reply, buf[0], (size_t)r % 300), 0);
	}
	fill(buf[1], other_len, (unsigned int)r + 1);
	ck_assert_int_eq(dsm_tp_send(nodes[1].tp, 0, &other, buf[1], other_len), 0);
	fill(buf[2], late_len, (unsigned int)r + 2);
	ck_assert_int_eq(dsm_tp_send(nodes[1].tp, 0, &late, buf[2], late_len), 0);
}

static void *send_round_later(void *arg)
{
	usleep(300);
	send_round((int)(intptr_t)arg);
	return NULL;
}

/* Node 0's log from entry 3r on holds round r, in order and intact. */
static void check_round(int r)
{
	static unsigned char expect[20000];
	struct rec *e = &nodes[0].log[3 * r];
	size_t len;

	ck_assert_uint_eq(e[0].type, SAFE_TYPE);
	ck_assert_uint_eq(e[0].arg1, 1);
	if (r % 2) {
		ck_assert_uint_eq(e[0].len, PAGE);
		ck_assert_ptr_eq(e[0].payload, nodes[0].region + (size_t)(r % NPAGES) * PAGE);
		len = PAGE;
	} else {
		len = (size_t)r % 300;
		ck_assert_uint_eq(e[0].len, len);
	}
	fill(expect, len, (unsigned int)r);
	ck_assert_uint_eq(e[0].sum, sum_of(expect, len));
	len = (size_t)r * 7 % 3000;
	fill(expect, len, (unsigned int)r + 1);
	ck_assert_uint_eq(e[1].type, DSM_WT_RUNTIME + 8);
	ck_assert_uint_eq(e[1].len, len);
	ck_assert_uint_eq(e[1].sum, sum_of(expect, len));
	len = (size_t)(r % 4) * 6000;
	fill(expect, len, (unsigned int)r + 2);
	ck_assert_uint_eq(e[2].type, SAFE_TYPE);
	ck_assert_uint_eq(e[2].arg1, 3);
	ck_assert_uint_eq(e[2].len, len);
	ck_assert_uint_eq(e[2].sum, sum_of(expect, len));
}

/*
 * wait_peer: a thread that waits for a word borrows the connection and
 * delivers its reply itself, once; what came with or after the reply,
 * read or not, is left to the service thread, which delivers it in order
 * although no new input arrives to wake it (node 1 sends nothing more).
 * Half the rounds are sent before the wait (all read at once), half while
 * the waiter sleeps.
 */
START_TEST(test_wait_peer_hands_back)
{
	enum { ROUNDS = 200 };

	job_open(2, false);
	start_progress(&nodes[1]);
	if (!nodes[0].tp->ops->wait_peer) {
		job_close();
		return;
	}
	for (int r = 0; r < ROUNDS; r++) {
		uint32_t val = __atomic_load_n(&nodes[0].word, __ATOMIC_ACQUIRE);
		pthread_t th;

		if (r % 4 < 2) {
			send_round(r);
			usleep(2000);	/* all of it in node 0's socket */
		} else {
			pthread_create(&th, NULL, send_round_later, (void *)(intptr_t)r);
		}
		ck_assert_int_eq(nodes[0].tp->ops->wait_peer(nodes[0].tp, 1, &nodes[0].word, val,
							     10000000000ull, DSM_WAITER_THREAD), 0);
		ck_assert_uint_eq(__atomic_load_n(&nodes[0].nlog, __ATOMIC_ACQUIRE), 3u * r + 1);
		if (r % 4 >= 2)
			pthread_join(th, NULL);
		start_progress(&nodes[0]);
		wait_log(&nodes[0], 3u * r + 3);
		stop_progress(&nodes[0]);
		check_round(r);
	}
	ck_assert_uint_eq(nodes[0].tp->counters.msgs_by_waiter, ROUNDS);
	job_close();
}
END_TEST

/* ---------- bursts ---------- */

/* Two senders push largest-size messages at a receiver that is not
 * reading yet: nothing is lost, nothing overruns it (flow control, or
 * queueing), every one arrives once. */
START_TEST(test_burst_to_a_slow_receiver)
{
	enum { PER = 150 };
	static unsigned char big[MAX_PAYLOAD];

	job_open(3, false);
	start_progress(&nodes[1]);
	start_progress(&nodes[2]);
	for (int i = 0; i < PER; i++) {
		for (int s = 1; s <= 2; s++) {
			struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 4, .aux = (uint32_t)s,
						  .arg0 = (uint64_t)i };

			fill(big, MAX_PAYLOAD, (unsigned int)(i * 2 + s));
			ck_assert_int_eq(dsm_tp_send(nodes[s].tp, 0, &h, big, MAX_PAYLOAD), 0);
		}
	}
	usleep(200000);
	start_progress(&nodes[0]);
	wait_log(&nodes[0], 2 * PER);
	for (int s = 1; s <= 2; s++) {
		int next = 0;

		for (int i = 0; i < 2 * PER; i++) {
			struct rec *r = &nodes[0].log[i];

			if (r->src != s)
				continue;
			ck_assert_uint_eq(r->arg0, (uint64_t)next);
			ck_assert_uint_eq(r->len, MAX_PAYLOAD);
			fill(big, MAX_PAYLOAD, (unsigned int)(next * 2 + s));
			ck_assert_uint_eq(r->sum, sum_of(big, MAX_PAYLOAD));
			next++;
		}
		ck_assert_int_eq(next, PER);
	}
	job_close();
}
END_TEST

/* ---------- ending ---------- */

/* A node that goes away without its BYE is reported lost, by id, to a
 * node that waits in progress; sends to it then fail or are dropped, and
 * never block. */
START_TEST(test_peer_lost)
{
	struct dsm_wire_hdr h = { .type = DSM_WT_RUNTIME + 5 };
	uint64_t end;

	job_open(2, true);
	stop_progress(&nodes[1]);
	nodes[1].tp->ops->close(nodes[1].tp);
	end = dsm_now_ns() + 10000000000ull;
	while (__atomic_load_n(&nodes[0].lost_node, __ATOMIC_ACQUIRE) < 0 && dsm_now_ns() < end)
		usleep(1000);
	ck_assert_int_eq(nodes[0].lost_node, 1);
	dsm_tp_send(nodes[0].tp, 1, &h, NULL, 0);
	stop_progress(&nodes[0]);
	nodes[0].tp->ops->close(nodes[0].tp);
}
END_TEST

/* Orderly shutdown is never mistaken for a death (job_close checks). */
START_TEST(test_shutdown_is_orderly)
{
	job_open(3, true);
	job_close();
}
END_TEST

/* ---------- which transports run here ---------- */

static bool rdma_device_present(void)
{
	DIR *d = opendir("/sys/class/infiniband");
	struct dirent *e;
	bool any = false;

	while (d && (e = readdir(d)))
		any |= e->d_name[0] != '.';
	if (d)
		closedir(d);
	return any;
}

static const char *why_not(const struct dsm_tp_ops *ops)
{
	if (dsm_tp_check_ops(ops))
		return "not built into this library (no verbs headers at configure time)";
	if (!strcmp(ops->name, "rdma") && !rdma_device_present())
		return "no RDMA device on this host (/sys/class/infiniband is empty); "
		       "the guest of shared/tools/vm has one";
	return NULL;
}

/* The transport under test, set by each test case's fixture. */
static void set_tp(int i)
{
	tp_name = dsm_transports[i]->name;
}

#define FIXTURE(i) static void setup_##i(void) { set_tp(i); }
FIXTURE(0) FIXTURE(1) FIXTURE(2) FIXTURE(3) FIXTURE(4) FIXTURE(5)
static void (*const setups[])(void) = { setup_0, setup_1, setup_2, setup_3, setup_4, setup_5 };

int main(void)
{
	Suite *s = suite_create("transports");
	SRunner *sr;
	int failed, runnable = 0;

	for (int i = 0; dsm_transports[i]; i++) {
		const char *why = why_not(dsm_transports[i]);
		TCase *tc;

		if (i >= (int)(sizeof(setups) / sizeof(setups[0]))) {
			fprintf(stderr, "check_transports: add a FIXTURE(%d) for transport %s\n", i,
				dsm_transports[i]->name);
			return 1;
		}
		if (why) {
			printf("SKIP: %s: %s\n", dsm_transports[i]->name, why);
			continue;
		}
		runnable++;
		tc = tcase_create(dsm_transports[i]->name);
		tcase_add_checked_fixture(tc, setups[i], NULL);
		tcase_set_timeout(tc, 120);
		tcase_add_loop_test(tc, test_ops_table, i, i + 1);
		tcase_add_test(tc, test_order_both_ways);
		tcase_add_test(tc, test_order_many_threads);
		tcase_add_test(tc, test_pages_in_place);
		tcase_add_test(tc, test_page_from_snapshot);
		if (dsm_transports[i]->caps & DSM_TP_CAP_READ)
			tcase_add_test(tc, test_read_page);
		tcase_add_test(tc, test_wait_peer_hands_back);
		tcase_add_test(tc, test_burst_to_a_slow_receiver);
		tcase_add_test(tc, test_peer_lost);
		tcase_add_test(tc, test_shutdown_is_orderly);
		suite_add_tcase(s, tc);
	}
	if (!runnable)
		return 77;
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
