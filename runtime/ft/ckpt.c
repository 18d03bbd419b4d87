/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ckpt.c - coordinated checkpoints, rollback and restart (ft.h): the
 * checkpoint module and its two collective primitives.
 *
 *  - Markers: every node sends one to every other node and waits for
 *    theirs.  Channels are FIFO, so once a node has every marker, every
 *    message sent to it before the checkpoint began (a dsm_free to the
 *    arena's owner, a lock release to its manager) has been handled: the
 *    state it saves is complete, and nothing of the past arrives later to
 *    change what a rollback restored.
 *  - Agreement: every node sends node 0 a status (the minimum wins: 0 or
 *    the first failure's code) and a value (the maximum wins: node 0 uses
 *    it to announce the epoch), node 0 answers everyone with the result.
 *    Node 0 also collects each node's file entry here, for the manifest.
 *
 * A checkpoint: barrier, markers, the modules quiesce (no lock may be
 * held), the protocol brings each page's current bytes home, agreement
 * (and the epoch), every node writes its file, agreement (everyone's
 * vote), node 0 writes the manifest, agreement (committed or not); then
 * the epoch two back is deleted.  Until a manifest is renamed into place
 * the previous epochs stay whole, so a node that dies in between costs
 * only the epoch being written.
 *
 * A rollback or restart: every node verifies its file first and all agree
 * before anything changes; then each closes every page, zeroes its memory,
 * puts back the pages it saved as their home, restores the modules'
 * records, and a barrier keeps everyone from faulting before all are done.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/futex.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/ft/ft.h"
#include "runtime/protocol/protocol.h"

/* Committed epochs kept on disk: the newest and one before it, for when
 * the newest turns out damaged at a restart. */
#define CK_KEEP 2

enum { CK_MARKER, CK_VOTE, CK_DECIDE };

/* The vote's payload: status and value, then optionally a file entry. */
struct ck_vote {
	int64_t status, value;
	struct dsm_ckpt_entry entry;
};

/* One runtime per process, so one of these. */
static struct {
	pthread_mutex_t lock;
	uint32_t events;		/* futex word: bumped at every message */
	uint64_t ops;			/* marker rounds begun here */
	int markers[2];			/* by round parity */
	uint64_t round;			/* agreements begun here */
	/* node 0: the votes of a round in progress, by round parity */
	int votes[2];
	int64_t vmin[2], vmax[2];
	struct dsm_ckpt_entry entries[DSM_MAX_NODES];
	/* the last decision */
	uint64_t decided;
	int64_t dmin, dmax;

	uint64_t epoch;			/* the last committed (or restored) epoch; 0: none */
	int restored;			/* dsm_restored_epoch() */
	uint64_t ns, bytes;		/* cost, for struct dsm_stats */
} ck = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void bump_locked(void)
{
	__atomic_store_n(&ck.events, ck.events + 1, __ATOMIC_RELEASE);
	dsm_futex_wake_all(&ck.events);
}

/* Wait until done() holds (checked under ck.lock). */
static void wait_for(struct dsm_rt *rt, bool (*done)(uint64_t arg), uint64_t arg)
{
	for (;;) {
		uint32_t seen;
		bool ok;

		pthread_mutex_lock(&ck.lock);
		seen = ck.events;
		ok = done(arg);
		pthread_mutex_unlock(&ck.lock);
		if (ok)
			return;
		dsm_wait_change(&ck.events, seen, rt->spin_ns);
	}
}

/* Node 0: count a vote; the last one decides and tells everyone.  ck.lock held. */
static void vote_locked(struct dsm_rt *rt, int src, uint64_t round, const struct ck_vote *v,
			bool has_entry)
{
	int p = (int)(round & 1);

	if (ck.votes[p] == 0) {
		ck.vmin[p] = v->status;
		ck.vmax[p] = v->value;
	}
	if (v->status < ck.vmin[p])
		ck.vmin[p] = v->status;
	if (v->value > ck.vmax[p])
		ck.vmax[p] = v->value;
	if (has_entry)
		ck.entries[src] = v->entry;
	if (++ck.votes[p] < rt->nnodes)
		return;
	ck.votes[p] = 0;
	int64_t res[2] = { ck.vmin[p], ck.vmax[p] };

	for (int n = 1; n < rt->nnodes; n++)
		dsm_rt_send(rt, n, DSM_MSG_CKPT, CK_DECIDE, round, 0, res, sizeof(res));
	ck.decided = round;
	ck.dmin = res[0];
	ck.dmax = res[1];
	bump_locked();
}

static void ckpt_on_message(struct dsm_rt *rt, int src, const struct dsm_wire_hdr *h,
			    const void *payload)
{
	struct ck_vote v = { 0 };

	pthread_mutex_lock(&ck.lock);
	switch (h->aux) {
	case CK_MARKER:
		if (h->len)
			dsm_rt_protocol_error(rt, src, "a checkpoint marker with a payload", h->len);
		ck.markers[h->arg0 & 1]++;
		bump_locked();
		break;
	case CK_VOTE:
		if (rt->self != 0 || (h->len != 16 && h->len != sizeof(v)))
			dsm_rt_protocol_error(rt, src, "an unexpected checkpoint vote", h->len);
		memcpy(&v, payload, h->len);
		vote_locked(rt, src, h->arg0, &v, h->len == sizeof(v));
		break;
	case CK_DECIDE:
		if (src != 0 || h->len != 16 || h->arg0 != ck.decided + 1)
			dsm_rt_protocol_error(rt, src, "an unexpected checkpoint decision", h->arg0);
		memcpy(&v, payload, 16);
		ck.decided = h->arg0;
		ck.dmin = v.status;
		ck.dmax = v.value;
		bump_locked();
		break;
	default:
		dsm_rt_protocol_error(rt, src, "a checkpoint message of an unknown kind", h->aux);
	}
	pthread_mutex_unlock(&ck.lock);
}

static bool markers_in(uint64_t op)
{
	return ck.markers[op & 1] == (int)dsm_rt->nnodes - 1;
}

/* Every message sent to this node before every node got here is in. */
static void exchange_markers(struct dsm_rt *rt)
{
	uint64_t op = ++ck.ops;

	if (rt->nnodes == 1)
		return;
	for (int n = 0; n < rt->nnodes; n++)
		if (n != rt->self)
			dsm_rt_send(rt, n, DSM_MSG_CKPT, CK_MARKER, op, 0, NULL, 0);
	wait_for(rt, markers_in, op);
	pthread_mutex_lock(&ck.lock);
	ck.markers[op & 1] = 0;
	pthread_mutex_unlock(&ck.lock);
}

static bool decided(uint64_t round)
{
	return ck.decided >= round;
}

/*
 * Collective: *status becomes the minimum of every node's, *value the
 * maximum; entry (may be NULL) goes to node 0's ck.entries.
 */
static void agree(struct dsm_rt *rt, int64_t *status, int64_t *value,
		  const struct dsm_ckpt_entry *entry)
{
	struct ck_vote v = { .status = *status, .value = *value };
	uint64_t round = ++ck.round;

	if (entry)
		v.entry = *entry;
	if (rt->nnodes == 1) {
		if (entry)
			ck.entries[0] = *entry;
		return;
	}
	if (rt->self == 0) {
		pthread_mutex_lock(&ck.lock);
		vote_locked(rt, 0, round, &v, entry != NULL);
		pthread_mutex_unlock(&ck.lock);
	} else {
		dsm_rt_send(rt, 0, DSM_MSG_CKPT, CK_VOTE, round, 0, &v, entry ? sizeof(v) : 16);
	}
	wait_for(rt, decided, round);
	pthread_mutex_lock(&ck.lock);
	*status = ck.dmin;
	*value = ck.dmax;
	pthread_mutex_unlock(&ck.lock);
}

/* What a checkpoint must match to be restored in this job. */
static void job_of(struct dsm_rt *rt, struct dsm_ckpt_job *job)
{
	memset(job, 0, sizeof(*job));
	job->nnodes = (uint32_t)rt->nnodes;
	job->consistency = (uint32_t)rt->cfg.consistency;
	job->first_touch = rt->cfg.consistency != DSM_SEQUENTIAL && rt->cfg.first_touch;
	job->home_block = rt->dir.home_block;
	job->page_size = rt->heap.page_size;
	job->heap_size = rt->heap.size;
	job->heap_base = (uintptr_t)rt->heap.app;
}

/* Node 0, before anyone writes: the temporary files a node that died
 * while writing left behind go (one job per directory at a time). */
static void remove_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];

	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (!strncmp(e->d_name, "epoch-", 6) && len > 4 &&
		    !strcmp(e->d_name + len - 4, ".tmp")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	}
	if (d)
		closedir(d);
}

/* Node 0, at every checkpoint: the directory exists, and the epochs go
 * on after any it holds (so a restart takes this job's). */
static int64_t next_epoch(struct dsm_rt *rt)
{
	const char *dir = rt->cfg.checkpoint_dir;
	uint64_t *list, next = ck.epoch + 1;
	size_t n;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		dsm_err("dsm_checkpoint: cannot create DSM_CHECKPOINT_DIR=%s: %s", dir,
			strerror(errno));
		return -errno;
	}
	remove_leftovers(dir);
	list = dsm_ckpt_list(dir, &n);
	if (n && list[0] >= next)
		next = list[0] + 1;
	free(list);
	return (int64_t)next;
}

/* Write this node's file of epoch: the modules' records and its pages. */
static int write_own(struct dsm_rt *rt, uint64_t epoch, struct dsm_ckpt_entry *entry)
{
	struct dsm_ckpt_out out = { 0 };
	struct dsm_ckpt_job job;
	uint32_t *pages = malloc(rt->dir.npages * sizeof(*pages) + 1);
	size_t n = 0;
	int ret = pages ? 0 : -ENOMEM;

	job_of(rt, &job);
	for (size_t p = 0; ret == 0 && p < rt->dir.npages; p++)
		if (rt->proto->ckpt_saves(rt, p))
			pages[n++] = (uint32_t)p;
	if (ret == 0)
		ret = dsm_modules_save(rt, &out);
	if (ret == -ENOMEM)
		dsm_err("dsm_checkpoint: out of memory for node %d's checkpoint", rt->self);
	else if (ret == 0)
		ret = dsm_ckpt_write_node(rt->cfg.checkpoint_dir, epoch, rt->self, &job, &out,
					  pages, n, rt->heap.rt, entry);
	free(pages);
	free(out.buf);
	return ret;
}

static void unlink_epoch(struct dsm_rt *rt, uint64_t epoch, bool manifest)
{
	char path[4200];

	if (manifest) {
		dsm_ckpt_manifest_path(path, sizeof(path), rt->cfg.checkpoint_dir, epoch);
		unlink(path);
	}
	dsm_ckpt_path(path, sizeof(path), rt->cfg.checkpoint_dir, epoch, rt->self);
	unlink(path);
}

/* The barrier, the markers and quiescence that begin every collective
 * operation here.  0 or the first failure's code, on every node. */
static int64_t begin(struct dsm_rt *rt)
{
	int64_t status, ignored = 0;

	dsm_sync_barrier(rt);
	exchange_markers(rt);
	status = dsm_modules_quiesce(rt);
	if (status == 0 && rt->cfg.numa == DSM_NUMA_MIGRATE) {
		dsm_err("checkpoints do not support DSM_NUMA=migrate (its replicas are not saved)");
		status = -DSM_ENOTSUP;
	}
	agree(rt, &status, &ignored, NULL);
	return status;
}

int dsm_ckpt_take(struct dsm_rt *rt)
{
	uint64_t t0 = dsm_now_ns();
	struct dsm_ckpt_entry entry = { 0 };
	int64_t status, epoch = 0;

	status = begin(rt);
	if (status < 0)
		return (int)status;
	/* Every node gathers at once: each answers the others' recalls. */
	if (rt->proto->ckpt_gather)
		status = rt->proto->ckpt_gather(rt);
	if (rt->self == 0 && status == 0)
		epoch = next_epoch(rt);
	if (epoch < 0)
		status = epoch;
	agree(rt, &status, &epoch, NULL);
	if (status < 0)
		return (int)status;

	status = write_own(rt, (uint64_t)epoch, &entry);
	agree(rt, &status, &(int64_t){ 0 }, &entry);
	/* Every file is durable: the manifest commits the epoch. */
	if (status == 0 && rt->self == 0) {
		struct dsm_ckpt_job job;

		job_of(rt, &job);
		status = dsm_ckpt_write_manifest(rt->cfg.checkpoint_dir, (uint64_t)epoch, &job,
						 ck.entries);
	}
	agree(rt, &status, &(int64_t){ 0 }, NULL);
	if (status < 0) {
		unlink_epoch(rt, (uint64_t)epoch, false);
		return (int)status;
	}
	ck.epoch = (uint64_t)epoch;
	if ((uint64_t)epoch > CK_KEEP)
		unlink_epoch(rt, (uint64_t)epoch - CK_KEEP, rt->self == 0);
	__atomic_add_fetch(&ck.ns, dsm_now_ns() - t0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ck.bytes, entry.size, __ATOMIC_RELAXED);
	return (int)epoch;
}

/*
 * Read and verify this node's file of epoch against the manifest.  One
 * line naming the file and why it is refused; the manifest's refusal is
 * node 0's to say (loud), the others only follow.
 */
static int read_own(struct dsm_rt *rt, uint64_t epoch, bool loud, struct dsm_ckpt_file *f)
{
	struct dsm_ckpt_entry *entries = calloc((size_t)rt->nnodes, sizeof(*entries));
	const char *dir = rt->cfg.checkpoint_dir;
	struct dsm_ckpt_job job;
	char why[256], path[4200];
	int ret;

	if (!entries)
		return -ENOMEM;
	job_of(rt, &job);
	ret = dsm_ckpt_read_manifest(dir, epoch, &job, entries, why, sizeof(why));
	if (ret < 0) {
		if (loud) {
			dsm_ckpt_manifest_path(path, sizeof(path), dir, epoch);
			dsm_err("checkpoint %s refused: %s", path, why);
		}
		free(entries);
		return -DSM_ECORRUPT;
	}
	ret = dsm_ckpt_read_node(dir, epoch, rt->self, &job, &entries[rt->self], f, why,
				 sizeof(why));
	free(entries);
	if (ret < 0) {
		dsm_ckpt_path(path, sizeof(path), dir, epoch, rt->self);
		dsm_err("checkpoint %s refused: %s", path, why);
		return -DSM_ECORRUPT;
	}
	return 0;
}

/*
 * Zero this node's memory of the whole heap: every page it does not get
 * back from its file is zero again, as the protocols then assume.  Only
 * the memfd's data (SEEK_DATA) is written, so the cost is the memory in
 * use; and it is written, not punched out, because the transport may
 * have registered those very pages (RDMA) and must keep finding them.
 */
static void zero_heap(struct dsm_rt *rt)
{
	off_t at = 0, size = (off_t)rt->heap.size;

	while (at < size) {
		off_t data = lseek(rt->heap.memfd, at, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			return;			/* no data from at on */
		hole = data < 0 ? -1 : lseek(rt->heap.memfd, data, SEEK_HOLE);
		if (data < 0 || hole < 0) {	/* no SEEK_DATA here: all of it */
			memset(rt->heap.rt + at, 0, (size_t)(size - at));
			return;
		}
		if (hole > size)
			hole = size;
		memset(rt->heap.rt + data, 0, (size_t)(hole - data));
		at = hole;
	}
}

/*
 * Every node has a verified file and they all agreed: make it this
 * node's state.  Nothing may fail half-way here (the job would be
 * neither before nor after), so a failure ends the job.
 */
static void restore_from(struct dsm_rt *rt, struct dsm_ckpt_file *f, bool restart)
{
	size_t ps = rt->heap.page_size;
	int ret;

	rt->proto->ckpt_reset(rt);
	zero_heap(rt);
	for (uint64_t i = 0; i < f->npages; i++) {
		memcpy(dsm_heap_rt_page(&rt->heap, f->pages[i]), f->bytes + i * ps, ps);
		rt->proto->ckpt_restored(rt, f->pages[i]);
	}
	f->state.restart = restart;
	ret = dsm_modules_restore(rt, &f->state);
	if (ret < 0)
		dsm_rt_abort(rt, "checkpoint of epoch %llu: node %d cannot restore its state "
			     "(%s)", (unsigned long long)f->epoch, rt->self, strerror(-ret));
	/* Nobody faults before everyone is restored. */
	dsm_sync_barrier(rt);
}

int dsm_ckpt_rollback(struct dsm_rt *rt)
{
	struct dsm_ckpt_file f = { 0 };
	int64_t status, ignored = 0;

	status = begin(rt);
	if (status < 0)
		return (int)status;
	if (ck.epoch == 0) {
		if (rt->self == 0)
			dsm_err("dsm_rollback: no checkpoint was taken or restored in this job");
		return -DSM_ESTALE_EPOCH;
	}
	status = read_own(rt, ck.epoch, rt->self == 0, &f);
	agree(rt, &status, &ignored, NULL);
	if (status < 0) {
		dsm_ckpt_file_free(&f);
		return (int)status;
	}
	restore_from(rt, &f, false);
	dsm_ckpt_file_free(&f);
	return 0;
}

/*
 * dsm_init, DSM_RESTART=1.  Node 0 proposes the epochs whose manifest it
 * can verify, newest first; every node checks its own file of the one
 * proposed; the first that every node accepts is restored.
 */
int dsm_ckpt_restart(struct dsm_rt *rt)
{
	const char *dir = rt->cfg.checkpoint_dir;
	struct dsm_ckpt_file f = { 0 };
	uint64_t *list = NULL;
	size_t n = 0, i = 0;
	int64_t status, epoch;

	/* Its scanner changes protections while the restore would reset them. */
	if (rt->cfg.numa == DSM_NUMA_MIGRATE) {
		if (rt->self == 0)
			dsm_err("DSM_RESTART=1: checkpoints do not support DSM_NUMA=migrate");
		return -DSM_ENOTSUP;
	}
	/* Node 0 proposes; what the dead job was still writing goes. */
	if (rt->self == 0) {
		remove_leftovers(dir);
		list = dsm_ckpt_list(dir, &n);
	}
	for (;;) {
		status = 0;
		epoch = 0;
		for (; rt->self == 0 && i < n && !epoch; i++) {
			struct dsm_ckpt_entry *e = calloc((size_t)rt->nnodes, sizeof(*e));
			struct dsm_ckpt_job job;
			char why[256], path[4200];

			job_of(rt, &job);
			if (e && dsm_ckpt_read_manifest(dir, list[i], &job, e, why, sizeof(why)) == 0) {
				epoch = (int64_t)list[i];
			} else if (e) {
				dsm_ckpt_manifest_path(path, sizeof(path), dir, list[i]);
				dsm_err("checkpoint %s refused: %s", path, why);
			}
			free(e);
		}
		agree(rt, &status, &epoch, NULL);	/* node 0's proposal */
		if (!epoch)
			break;
		status = read_own(rt, (uint64_t)epoch, false, &f);
		agree(rt, &status, &(int64_t){ 0 }, NULL);
		if (status == 0)
			break;
		dsm_ckpt_file_free(&f);
		if (rt->self == 0)
			dsm_warn("checkpoint epoch %lld is not usable on every node: trying an older "
				 "one", (long long)epoch);
	}
	free(list);
	if (!epoch) {
		if (rt->self == 0)
			dsm_err("DSM_RESTART=1: no usable checkpoint of this job in "
				"DSM_CHECKPOINT_DIR=%s", dir);
		return -DSM_ESTALE_EPOCH;
	}
	restore_from(rt, &f, true);
	dsm_ckpt_file_free(&f);
	ck.epoch = (uint64_t)epoch;
	ck.restored = (int)epoch;
	if (rt->self == 0)
		dsm_info("restarted from checkpoint epoch %lld in %s", (long long)epoch, dir);
	return 0;
}

int dsm_ckpt_restored_epoch(void)
{
	return ck.restored;
}

void dsm_ckpt_stats(uint64_t *ns, uint64_t *bytes)
{
	*ns = __atomic_load_n(&ck.ns, __ATOMIC_RELAXED);
	*bytes = __atomic_load_n(&ck.bytes, __ATOMIC_RELAXED);
}

/* A new job starts with no epoch of its own (the state is per process:
 * one runtime at a time). */
static int ckpt_module_init(struct dsm_rt *rt)
{
	(void)rt;
	pthread_mutex_lock(&ck.lock);
	ck.events = 0;
	ck.ops = ck.round = ck.decided = 0;
	ck.markers[0] = ck.markers[1] = ck.votes[0] = ck.votes[1] = 0;
	ck.epoch = 0;
	ck.restored = 0;
	ck.ns = ck.bytes = 0;
	pthread_mutex_unlock(&ck.lock);
	return 0;
}

const struct dsm_module dsm_ckpt_module = {
	.name       = "checkpoint",
	.msg_first  = DSM_MSG_CKPT,
	.msg_last   = DSM_MSG_CKPT,
	.init       = ckpt_module_init,
	.on_message = ckpt_on_message,
};
