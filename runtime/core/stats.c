/* SPDX-License-Identifier: BSD-3-Clause */
/* stats.c - counters: dsm_get_stats, and DSM_STATS reports at finalize. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/ft/ft.h"
#include "runtime/numa/numa.h"

/* The field names of struct dsm_stats, in order: the JSON keys. */
#define DSM_STATS_FIELDS(X) \
	X(read_faults) X(write_faults) X(pages_fetched) X(pages_sent) X(invalidations) \
	X(diffs_created) X(diffs_applied) X(diff_bytes) X(msgs_sent) X(msgs_recv) \
	X(bytes_sent) X(bytes_recv) X(lock_acquires) X(barriers) X(numa_migrations) \
	X(twins) X(write_notices) X(notices_held) X(numa_replications) X(numa_freezes) \
	X(heartbeats) X(msgs_by_waiter) \
	X(ckpt_ns) X(ckpt_bytes)

/* finalize: node 0 gathers every node's counters (one runtime per process) */
static struct {
	pthread_mutex_t lock;
	struct dsm_stats *all;		/* node 0: one per node */
	uint64_t seen;			/* node 0: bit per node received */
	uint32_t count;			/* futex word: how many received */
} gather = { .lock = PTHREAD_MUTEX_INITIALIZER };

void dsm_rt_stats(struct dsm_rt *rt, struct dsm_stats *out)
{
	const struct dsm_counters *c = &rt->counters;
	const struct dsm_tp_counters *t = &rt->tp->counters;
	uint64_t hb_sent, hb_recv;

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
	/*
	 * Heartbeats are not the program's traffic: a test that counts the
	 * messages of a sweep must not see an idle peer's heartbeat in it.
	 * They are counted after the transport counted them, so loading
	 * them first never takes out more than msgs_* hold.
	 */
	hb_sent = __atomic_load_n(&c->heartbeats, __ATOMIC_ACQUIRE);
	hb_recv = __atomic_load_n(&c->heartbeats_recv, __ATOMIC_ACQUIRE);
	out->read_faults = LOAD(c->read_faults);
	out->write_faults = LOAD(c->write_faults);
	out->pages_fetched = LOAD(c->pages_fetched);
	out->pages_sent = LOAD(c->pages_sent);
	out->invalidations = LOAD(c->invalidations);
	out->diffs_created = LOAD(c->diffs_created);
	out->diffs_applied = LOAD(c->diffs_applied);
	out->diff_bytes = LOAD(c->diff_bytes);
	out->msgs_sent = LOAD(t->msgs_sent) - hb_sent;
	out->msgs_recv = LOAD(t->msgs_recv) - hb_recv;
	out->bytes_sent = LOAD(t->bytes_sent) - hb_sent * sizeof(struct dsm_wire_hdr);
	out->bytes_recv = LOAD(t->bytes_recv) - hb_recv * sizeof(struct dsm_wire_hdr);
	out->lock_acquires = LOAD(c->lock_acquires);
	out->barriers = LOAD(c->barriers);
	out->numa_migrations = LOAD(c->numa_migrations);
	out->twins = LOAD(c->twins);
	out->write_notices = LOAD(c->write_notices);
	out->notices_held = 0;
	out->heartbeats = hb_sent;
	out->msgs_by_waiter = LOAD(t->msgs_by_waiter);
#undef LOAD
	dsm_ckpt_stats(&out->ckpt_ns, &out->ckpt_bytes);
	/* Gauges the modules keep (sync: notices_held). */
	dsm_gauges_run(rt, out);
}

static void stats_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			     const void *payload)
{
	if (rt->self != 0 || h->len != sizeof(struct dsm_stats) || !gather.all ||
	    (gather.seen & (1ull << src)))
		dsm_rt_protocol_error(rt, src, "an unexpected statistics message", h->len);
	pthread_mutex_lock(&gather.lock);
	memcpy(&gather.all[src], payload, sizeof(struct dsm_stats));
	gather.seen |= 1ull << src;
	__atomic_store_n(&gather.count, gather.count + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&gather.lock);
	dsm_futex_wake_all(&gather.count);
}

static int stats_init(struct dsm_rt *rt)
{
	gather.seen = 0;
	gather.count = 0;
	if (rt->self == 0 && rt->cfg.stats == DSM_STATS_FILE &&
	    !(gather.all = calloc((size_t)rt->nnodes, sizeof(*gather.all)))) {
		dsm_err("out of memory for the statistics of %d nodes", rt->nnodes);
		return -ENOMEM;
	}
	return 0;
}

static void stats_fini(struct dsm_rt *rt)
{
	(void)rt;
	free(gather.all);
	gather.all = NULL;
}

const struct dsm_module dsm_stats_module = {
	.name       = "stats",
	.msg_first  = DSM_MSG_STATS,
	.msg_last   = DSM_MSG_STATS,
	.init       = stats_init,
	.fini       = stats_fini,
	.on_message = stats_on_message,
};

static void print_summary(struct dsm_rt *rt, const struct dsm_stats *s)
{
	char line[1024];
	size_t at = 0;

#define PRINT(x) at += (size_t)snprintf(line + at, sizeof(line) - at, " " #x "=%llu", \
					(unsigned long long)s->x);
	DSM_STATS_FIELDS(PRINT)
#undef PRINT
	fprintf(stderr, "dsm[node %d]: stats (%s, %d nodes):%s\n", rt->self,
		dsm_consistency_name(rt->cfg.consistency), rt->nnodes, line);
	fflush(stderr);
}

static int write_json(struct dsm_rt *rt)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", rt->cfg.stats_path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f) {
		dsm_err("DSM_STATS=%s: cannot write the statistics: %s", rt->cfg.stats_path,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "[\n");
	for (int n = 0; n < rt->nnodes; n++) {
		const struct dsm_stats *s = &gather.all[n];

		fprintf(f, "  {\"node\": %d", n);
#define FIELD(x) fprintf(f, ", \"" #x "\": %llu", (unsigned long long)s->x);
		DSM_STATS_FIELDS(FIELD)
#undef FIELD
		if (n == 0)
			dsm_numa_json(rt, f);	/* this machine's topology, policy, costs */
		fprintf(f, "}%s\n", n + 1 < rt->nnodes ? "," : "");
	}
	fprintf(f, "]\n");
	if (fclose(f) != 0 || rename(tmp, rt->cfg.stats_path) != 0) {
		dsm_err("DSM_STATS=%s: cannot write the statistics: %s", rt->cfg.stats_path,
			strerror(errno));
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

/*
 * Finalize, after the closing barrier: DSM_STATS=1 prints this node's
 * line; DSM_STATS=path sends every node's counters to node 0, which writes
 * the file.  Every node calls it.
 */
int dsm_stats_report(struct dsm_rt *rt)
{
	struct dsm_stats mine;
	uint32_t seen;

	dsm_rt_stats(rt, &mine);
	if (rt->cfg.stats == DSM_STATS_STDERR)
		print_summary(rt, &mine);
	if (rt->cfg.stats != DSM_STATS_FILE)
		return 0;
	if (rt->self != 0) {
		dsm_rt_send(rt, 0, DSM_MSG_STATS, 0, 0, 0, &mine, sizeof(mine));
		return 0;
	}
	gather.all[0] = mine;
	while ((seen = __atomic_load_n(&gather.count, __ATOMIC_ACQUIRE)) <
	       (uint32_t)rt->nnodes - 1)
		dsm_wait_change(&gather.count, seen, 0);
	return write_json(rt);
}
