/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_visibility - when each consistency model makes a write visible.
 *
 * usage: t_visibility        (3 nodes or more; fewer: skipped)
 *
 * Node 0 writes x under lock 1; node 1 then takes lock 1 and must see it,
 * under every model.  Node 2 has a copy of x's page from before, and
 * synchronizes with nobody who saw the write (the nodes order their steps
 * through files, outside the DSM, so that no DSM synchronization passes
 * the write along).  What node 2 reads then tells the models apart:
 *
 *                                 sequential  release  weak
 *   read with no synchronization      new       old     old
 *   after an unrelated lock           new       old     new
 *   after a bare dsm_acquire()        new       new     new
 *   after taking lock 1               new       new     new
 *
 * Sequential consistency invalidated node 2's copy before the write
 * completed.  Release consistency is lazy and precise: only an acquire
 * whose notices name the page takes it away (a bare fence has no notices
 * and drops every copy).  Weak consistency drops every copy at every
 * synchronization point.  The relaxed rows check the implementation's
 * laziness too: an eager protocol would also be correct, but would not be
 * the protocol of dsm(7).
 *
 * Then causality through a chain of locks: node 0 writes y under lock 2;
 * node 1 takes lock 2, then lock 3, and releases both without touching y;
 * node 2, which had a copy of y's page, takes lock 3 and must see the new
 * y under every model: the notice of node 0's write travels with node 1's
 * release of lock 3 (release consistency is transitive: happens-before,
 * not just the same lock).
 *
 * Exit 0 on success, 77 with fewer than 3 nodes, 1 with one line on
 * stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_visibility";

static char dir[256];

/* Steps are files in a directory named after the launcher's pid (every
 * node of a dsmrun job is its child), or $T_VISIBILITY_DIR. */
static void post(const char *step)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, step);
	if (!(f = fopen(path, "w")))
		fail("cannot create %s: %s", path, strerror(errno));
	fclose(f);
}

static void await(const char *step)
{
	struct timespec ts = { 0, 1000000 };
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, step);
	for (int i = 0; access(path, F_OK) != 0; i++) {
		if (i > 60000)
			fail("step %s never came", step);
		nanosleep(&ts, NULL);
	}
}

/* Node 0, before the first barrier and after the last: no step of an
 * earlier job (one that failed half-way, with a launcher of the same pid)
 * may be taken for one of this job. */
static void clear_steps(void)
{
	static const char *const steps[] = {
		"cached", "written", "seen", "cached-y", "written-y", "passed-on",
	};
	char path[512];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, steps[i]);
		unlink(path);
	}
}

static void expect(volatile uint64_t *v, uint64_t want, const char *when)
{
	if (*v != want)
		fail("%s consistency, %s: read %llu, expected %llu (%s)",
		     dsm_consistency() == DSM_SEQUENTIAL ? "sequential" :
		     dsm_consistency() == DSM_RELEASE ? "release" : "weak", when,
		     (unsigned long long)*v, (unsigned long long)want,
		     want == 2 ? "the new value" : "the old value");
}

int main(int argc, char **argv)
{
	dsm_consistency_t model;
	volatile uint64_t *x, *y;
	int me;

	t_start(&argc, &argv);
	if (dsm_num_nodes() < 3) {
		if (dsm_node_id() == 0)
			printf("%s: skipped: needs 3 nodes\n", prog);
		dsm_finalize();
		return 77;
	}
	me = dsm_node_id();
	model = dsm_consistency();
	if (getenv("T_VISIBILITY_DIR"))	/* nodes that are not children of one dsmrun */
		snprintf(dir, sizeof(dir), "%s", getenv("T_VISIBILITY_DIR"));
	else
		snprintf(dir, sizeof(dir), "/tmp/t_visibility.%d", (int)getppid());
	x = dsm_alloc_collective(dsm_page_size());
	y = dsm_alloc_collective(dsm_page_size());
	if (!x || !y)
		fail("dsm_alloc_collective: %s", strerror(errno));
	if (me == 0) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			fail("mkdir %s: %s", dir, strerror(errno));
		clear_steps();
		*x = 1;
		*y = 1;
	}
	dsm_barrier();

	if (me == 0) {
		await("cached");
		dsm_lock_acquire(1);
		*x = 2;
		dsm_lock_release(1);
		post("written");
	} else if (me == 1) {
		await("written");
		dsm_lock_acquire(1);
		expect(x, 2, "the next holder of the lock");
		dsm_lock_release(1);
		post("seen");
	} else if (me == 2) {
		/* After the last barrier: weak consistency drops copies at
		 * every synchronization point. */
		expect(x, 1, "before the write");
		post("cached");
		await("seen");
		expect(x, model == DSM_SEQUENTIAL ? 2 : 1, "with no synchronization");
		dsm_lock_acquire(7);
		dsm_lock_release(7);
		expect(x, model == DSM_RELEASE ? 1 : 2, "after an unrelated lock");
		dsm_acquire();
		expect(x, 2, "after dsm_acquire()");
		dsm_lock_acquire(1);
		expect(x, 2, "after taking the writer's lock");
		dsm_lock_release(1);
	}
	dsm_barrier();

	/* Causality through lock 2, then lock 3. */
	if (me == 0) {
		await("cached-y");
		dsm_lock_acquire(2);
		*y = 2;
		dsm_lock_release(2);
		post("written-y");
	} else if (me == 1) {
		await("written-y");
		dsm_lock_acquire(2);
		dsm_lock_acquire(3);
		dsm_lock_release(3);
		dsm_lock_release(2);
		post("passed-on");
	} else if (me == 2) {
		expect(y, 1, "y before its write");
		post("cached-y");
		await("passed-on");
		dsm_lock_acquire(3);
		expect(y, 2, "y after a lock whose last holder had seen the write");
		dsm_lock_release(3);
	}
	dsm_barrier();
	if (me == 0) {
		clear_steps();
		rmdir(dir);
	}
	dsm_finalize();
	return 0;
}
