/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_hang - a job for check_failure.sh to stop, kill or keep busy.
 *
 * usage: t_hang barriers SECONDS
 *        t_hang compute SECONDS
 *
 * barriers: every node prints "t_hang: node N: pid P" and then the nodes
 * pass barriers for SECONDS seconds (node 0's clock decides when to stop,
 * through a shared word, so that every node passes the same number).  A
 * node that is stopped or killed meanwhile leaves the others waiting in a
 * barrier: only failure detection ends the job then.
 *
 * compute: the last node spins on the CPU for SECONDS seconds without a
 * word to anyone and without touching shared memory, while the others
 * wait for it in a barrier; then the job ends normally.  Its service
 * thread must keep it alive in the others' eyes all along.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dsm.h>

#include "tests/multinode/t_common.h"

const char prog[] = "t_hang";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long barriers(unsigned seconds)
{
	volatile uint64_t *stop = dsm_alloc_collective(dsm_page_size());
	double end = now_s() + seconds;
	unsigned long n = 0;

	if (!stop)
		fail("dsm_alloc_collective failed");
	printf("%s: node %d: pid %ld\n", prog, dsm_node_id(), (long)getpid());
	fflush(stdout);
	for (;;) {
		if (dsm_node_id() == 0 && now_s() >= end)
			*stop = 1;
		dsm_barrier();
		if (*stop)
			break;
		/* Everyone has read the word before node 0 may write it. */
		dsm_barrier();
		n++;
	}
	return n;
}

static void compute(unsigned seconds)
{
	if (dsm_node_id() == dsm_num_nodes() - 1) {
		double end = now_s() + seconds;
		volatile uint64_t x = 0;

		/* The clock is read in user space (vDSO): no system call. */
		while (now_s() < end)
			for (int i = 0; i < 100000; i++)
				x += (uint64_t)i;
	}
	dsm_barrier();
}

int main(int argc, char **argv)
{
	unsigned seconds;

	t_start(&argc, &argv);
	if (argc != 3 || (strcmp(argv[1], "barriers") && strcmp(argv[1], "compute")))
		fail("usage: t_hang barriers|compute SECONDS");
	seconds = parse_uint(argv[2], "SECONDS", 3600);
	if (!strcmp(argv[1], "barriers"))
		printf("%s: node %d: %lu rounds of barriers\n", prog, dsm_node_id(),
		       barriers(seconds));
	else
		compute(seconds);
	if (dsm_finalize() != 0)
		fail("dsm_finalize failed");
	return 0;
}
