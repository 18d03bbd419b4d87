/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_ckpt - checkpoints, rollback and restart (runtime/ft).
 *
 * usage: t_ckpt rollback        checkpoint, change everything, roll back, check
 *        t_ckpt save K          K checkpoints, the data changed before each
 *        t_ckpt restart [MB]    (DSM_RESTART=1) the data of the epoch restored
 *        t_ckpt loop MB         MB of data per node, checkpoints until killed
 *
 * The shared data: a collective block of pages, each node writing its own
 * slice with a pattern of a version number (the version kept in shared
 * memory too, as a restarted program must).  Data-race free under every
 * model: between two barriers a page is written by one node only.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "tests/multinode/t_common.h"

const char prog[] = "t_ckpt";

#define PAGES_PER_NODE 16

struct shared {
	uint64_t version;		/* the data's pattern */
	uint64_t checkpoints;		/* taken so far */
	uint64_t count;			/* rollback: counted under lock 3 */
};

static struct shared *sh;
static uint64_t *data;
static size_t words;			/* in data */

static uint64_t pattern(size_t i, uint64_t version)
{
	uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull ^ (version + 1) * 0xbf58476d1ce4e5b9ull;

	return x ^ (x >> 29);
}

/* This node's slice, by node: [lo, hi) words. */
static void slice(int node, size_t *lo, size_t *hi)
{
	size_t per = words / (size_t)dsm_num_nodes();

	*lo = per * (size_t)node;
	*hi = *lo + per;
}

/* Write a version into the slice of node `whose` (each node one slice). */
static void write_slice(int whose, uint64_t version)
{
	size_t lo, hi;

	slice(whose, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		data[i] = pattern(i, version);
}

static void check_all(uint64_t version, const char *when)
{
	for (size_t i = 0; i < words; i++)
		if (data[i] != pattern(i, version))
			fail("%s: word %zu is %#llx, expected version %llu's %#llx", when, i,
			     (unsigned long long)data[i], (unsigned long long)version,
			     (unsigned long long)pattern(i, version));
}

/* The start-up every mode runs, restarted or not: the same allocations. */
static void setup(size_t pages_per_node)
{
	size_t ps = dsm_page_size(), bytes = pages_per_node * ps * (size_t)dsm_num_nodes();

	sh = dsm_alloc_collective(sizeof(*sh));
	data = dsm_alloc_collective(bytes);
	if (!sh || !data)
		fail("dsm_alloc_collective: %s", strerror(errno));
	words = bytes / sizeof(uint64_t);
}

static int take(void)
{
	int e = dsm_checkpoint();

	if (e < 1)
		fail("dsm_checkpoint: %d (%s)", e, dsm_strerror(e));
	return e;
}

static void mode_rollback(void)
{
	int me = dsm_node_id(), n = dsm_num_nodes();
	uint64_t vc0[DSM_MAX_NODES], vc1[DSM_MAX_NODES];
	int e1, e2, ret;
	void *b_after, *b_again, *m_after, *m_again;

	if (dsm_rollback() != -DSM_ESTALE_EPOCH)
		fail("dsm_rollback before any checkpoint did not say -DSM_ESTALE_EPOCH");

	/* Version 1, with a lock taken and released on the way. */
	write_slice(me, 1);
	dsm_lock_acquire(3);
	sh->version = 1;
	sh->count++;
	dsm_lock_release(3);
	dsm_barrier();
	e1 = take();
	dsm_vclock(vc0, DSM_MAX_NODES);

	/* Everything changes: other nodes' slices too, new blocks. */
	write_slice((me + 1) % n, 2);
	dsm_barrier();
	b_after = dsm_alloc_collective(3 * dsm_page_size());
	m_after = dsm_malloc(100);
	if (!b_after || !m_after)
		fail("allocating after the checkpoint: %s", strerror(errno));
	memset(b_after, 0x5a, 3 * dsm_page_size());
	memset(m_after, 0x33, 100);
	dsm_lock_acquire(3);
	sh->version = 2;
	sh->count++;
	dsm_lock_release(3);
	dsm_barrier();

	ret = dsm_rollback();
	if (ret != 0)
		fail("dsm_rollback: %d", ret);
	check_all(1, "after the rollback");
	if (sh->version != 1)
		fail("after the rollback: the version word is %llu, not 1",
		     (unsigned long long)sh->version);
	dsm_vclock(vc1, DSM_MAX_NODES);
	for (int i = 0; i < n; i++)
		if (vc1[i] < vc0[i])
			fail("after the rollback: vector time went below the checkpoint's");
	/* The allocations made after the checkpoint are undone: the same
	 * calls give the same blocks, zero again. */
	b_again = dsm_alloc_collective(3 * dsm_page_size());
	m_again = dsm_malloc(100);
	if (b_again != b_after || m_again != m_after)
		fail("after the rollback: allocations gave %p and %p, not %p and %p as before",
		     b_again, m_again, b_after, m_after);
	for (size_t i = 0; i < 3 * dsm_page_size(); i++)
		if (((unsigned char *)b_again)[i])
			fail("after the rollback: a block allocated after the checkpoint is not zero");
	/*
	 * Lock 3's token is back where the checkpoint found it (sync.tokens),
	 * and so is what a grant carries: every node counts under it at once,
	 * and no increment may be lost, nor an old count read.
	 */
	for (int k = 0; k < 50; k++) {
		if (dsm_lock_acquire(3) < 0)
			fail("after the rollback: dsm_lock_acquire(3) failed");
		sh->count++;
		dsm_lock_release(3);
	}
	dsm_barrier();
	if (sh->count != 51 * (uint64_t)n)
		fail("after the rollback: %llu counted under lock 3, not %d (%d before the "
		     "checkpoint and 50 by each node)", (unsigned long long)sh->count, 51 * n, n);
	dsm_barrier();

	/* A second epoch, changed and rolled back to as well. */
	write_slice(me, 3);
	dsm_barrier();
	e2 = take();
	if (e2 != e1 + 1)
		fail("the second checkpoint is epoch %d after %d", e2, e1);
	write_slice(me, 4);
	dsm_barrier();
	if ((ret = dsm_rollback()) != 0)
		fail("second dsm_rollback: %d", ret);
	check_all(3, "after the second rollback");
	dsm_barrier();

	/* A lock held anywhere: every node gets -EBUSY, nothing is taken. */
	if (me == n - 1)
		dsm_lock_acquire(7);
	ret = dsm_checkpoint();
	if (ret != -EBUSY)
		fail("dsm_checkpoint with a lock held returned %d, not -EBUSY", ret);
	if (me == n - 1)
		dsm_lock_release(7);
	dsm_barrier();
	if ((ret = dsm_checkpoint()) != e2 + 1)
		fail("a checkpoint after the refused one is epoch %d, not %d", ret, e2 + 1);
}

/* K checkpoints of versions 1..K (the version in shared memory). */
static void mode_save(unsigned k)
{
	int me = dsm_node_id();

	for (unsigned v = 1; v <= k; v++) {
		write_slice(me, v);
		if (me == 0) {
			sh->version = v;
			sh->checkpoints = v;
		}
		take();
	}
}

static void mode_restart(void)
{
	int e = dsm_restored_epoch();

	if (e < 1)
		fail("dsm_restored_epoch() is %d: nothing was restored", e);
	check_all(sh->version, "after the restart");
	if (dsm_node_id() == 0)
		printf("t_ckpt: restored epoch %d, version %llu\n", e,
		       (unsigned long long)sh->version);
	dsm_barrier();
}

static void mode_loop(void)
{
	int me = dsm_node_id();

	for (uint64_t v = 1;; v++) {
		write_slice(me, v);
		if (me == 0)
			sh->version = v;
		take();
	}
}

int main(int argc, char **argv)
{
	const char *mode;

	t_start(&argc, &argv);
	if (argc < 2)
		fail("usage: t_ckpt rollback | save K | restart [MB] | loop MB");
	mode = argv[1];
	/* loop and restart: MB per node (a restart allocates as the run it
	 * continues did). */
	if ((!strcmp(mode, "loop") || !strcmp(mode, "restart")) && argc > 2)
		setup(((size_t)parse_uint(argv[2], "MB", 4096) << 20) / dsm_page_size());
	else
		setup(PAGES_PER_NODE);
	if (!strcmp(mode, "rollback"))
		mode_rollback();
	else if (!strcmp(mode, "save") && argc > 2)
		mode_save(parse_uint(argv[2], "K", 1000));
	else if (!strcmp(mode, "restart"))
		mode_restart();
	else if (!strcmp(mode, "loop"))
		mode_loop();
	else
		fail("unknown mode %s", mode);
	if (dsm_finalize() < 0)
		fail("dsm_finalize failed");
	return 0;
}
