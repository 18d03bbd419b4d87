/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_spin - a job that keeps its nodes busy until something kills one.
 *
 * usage: DSM_TEST_PIDDIR=DIR t_spin [SECONDS]
 *
 * After dsm_init and a barrier, each node writes its pid to
 * DIR/node<id>.pid (atomically: write a temporary file, then rename), then
 * loops: a lock-protected increment of a shared counter, a write to its own
 * word of a page every node writes, a read of the other nodes' words, and
 * a short sleep.  So every node talks to the others all the time, and a
 * lost peer is noticed by the runtime quickly.
 *
 * The driver kills one node; the others are expected to be ended by the
 * runtime or the launcher.  Never hangs: after SECONDS (default 60) the
 * loop gives up and the node exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_spin";

static void write_pidfile(const char *dir, int me)
{
	char path[4096], tmp[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/node%d.pid", dir, me);
	snprintf(tmp, sizeof(tmp), "%s/.node%d.pid.tmp", dir, me);
	f = fopen(tmp, "w");
	if (!f)
		fail("cannot create %s: %s", tmp, strerror(errno));
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		fail("cannot write %s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
	const char *dir = getenv("DSM_TEST_PIDDIR");
	volatile uint64_t *counter, *words;
	double limit = 60, deadline;
	uint64_t seen = 0, n;
	int rc, me, nodes, k;
	size_t ps;
	char *base;

	t_start(&argc, &argv);
	if (argc > 1)
		limit = atof(argv[1]);
	if (!dir || !*dir)
		fail("DSM_TEST_PIDDIR is not set");
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();

	base = dsm_alloc_collective(2 * ps);
	if (!base)
		fail("dsm_alloc_collective: %s", strerror(errno));
	counter = (volatile uint64_t *)base;
	words = (volatile uint64_t *)(base + ps);
	dsm_barrier();
	write_pidfile(dir, me);

	deadline = t_now() + limit;
	for (n = 1; t_now() < deadline; n++) {
		rc = dsm_lock_acquire(1);
		if (rc)
			fail("dsm_lock_acquire: %s", dsm_strerror(rc));
		*counter += 1;
		rc = dsm_lock_release(1);
		if (rc)
			fail("dsm_lock_release: %s", dsm_strerror(rc));

		words[me] = n;
		for (k = 0; k < nodes; k++)
			seen += words[k];
		usleep(2000);
	}
	/* Nobody killed us: that is not what this program is for. */
	fail("still running after %.0f s (sum %llu)", limit, (unsigned long long)seen);
}
