/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ckpt_bench - what a checkpoint costs (runtime/ft): dsm_checkpoint()
 * against a plain write and fsync of the same bytes, in the same run.
 *
 * usage: dsmrun -n N ckpt_bench [MB [RUNS]]
 *
 * Every node fills MB MiB of a collective block (its own slice, so under
 * release and weak consistency it is their home); then RUNS times, the
 * median kept:
 *  - dsm_checkpoint(): the bytes this node wrote (ckpt_bytes of struct
 *    dsm_stats) over the time of the call (barrier to commit);
 *  - write+fsync: every node at once (a barrier first), the same number of
 *    bytes from private memory to a new file in DSM_CHECKPOINT_DIR,
 *    fsync, close; the slowest node's time, as a checkpoint waits for it.
 * Node 0 prints one line per measure and "DSM_RESULT bench=ckpt ...".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dsm.h>

#include "benchmarks/bench_common.h"

#define MAX_RUNS 50

static double *slowest;		/* shared: each node's time of the last plain write */

/* bytes (a checkpoint file's: a little more than buflen) from buf, again
 * from its start when it runs out. */
static double plain_write(const char *dir, const char *buf, size_t buflen, size_t bytes, int run)
{
	char path[4200];
	double t0, t;
	size_t done = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/plain-%d-%d.tmp", dir, dsm_node_id(), run);
	dsm_barrier();
	t0 = bench_now();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "ckpt_bench: node %d: %s: %s\n", dsm_node_id(), path,
			strerror(errno));
		exit(1);
	}
	while (done < bytes) {
		size_t at = done % buflen, len = bytes - done;
		ssize_t k = write(fd, buf + at, len < buflen - at ? len : buflen - at);

		if (k <= 0) {
			fprintf(stderr, "ckpt_bench: node %d: write %s: %s\n", dsm_node_id(), path,
				strerror(errno));
			exit(1);
		}
		done += (size_t)k;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fprintf(stderr, "ckpt_bench: node %d: fsync %s: %s\n", dsm_node_id(), path,
			strerror(errno));
		exit(1);
	}
	t = bench_now() - t0;
	unlink(path);
	slowest[dsm_node_id()] = t;
	dsm_barrier();
	for (int n = 0; n < dsm_num_nodes(); n++)
		if (slowest[n] > t)
			t = slowest[n];
	dsm_barrier();		/* nobody writes slowest[] again before all have read it */
	return t;
}

int main(int argc, char **argv)
{
	long mb = 16, runs = 5;
	double tck[MAX_RUNS], tpl[MAX_RUNS], ck_med, pl_med;
	uint64_t bytes = 0;
	size_t ps, per, lo;
	const char *dir;
	char *data, *priv;
	int me, n;

	if (dsm_init(&argc, &argv) < 0)
		return 1;
	if ((argc > 1 && bench_parse_long(argv[1], 1, 4096, &mb) < 0) ||
	    (argc > 2 && bench_parse_long(argv[2], 1, MAX_RUNS, &runs) < 0)) {
		if (dsm_node_id() == 0)
			fprintf(stderr, "usage: ckpt_bench [MB (1..4096) [RUNS (1..%d)]]\n",
				MAX_RUNS);
		dsm_finalize();
		return 2;
	}
	me = dsm_node_id();
	n = dsm_num_nodes();
	ps = dsm_page_size();
	per = ((size_t)mb << 20) / ps * ps;
	data = dsm_alloc_collective(per * (size_t)n);
	slowest = dsm_alloc_collective(sizeof(double) * (size_t)n);
	priv = malloc(per);
	if (!data || !slowest || !priv) {
		fprintf(stderr, "ckpt_bench: node %d: cannot allocate %ld MiB\n", me, mb);
		return 1;
	}
	lo = per * (size_t)me;
	for (size_t i = 0; i < per; i++)
		data[lo + i] = priv[i] = (char)(i * 131 + (size_t)me);
	dir = getenv("DSM_CHECKPOINT_DIR") ? getenv("DSM_CHECKPOINT_DIR") : "./dsm-checkpoint";
	if (dsm_checkpoint() < 1)	/* warm-up; creates the directory */
		return 1;
	for (int r = 0; r < runs; r++) {
		struct dsm_stats s0, s1;
		double t0;

		dsm_get_stats(&s0);
		t0 = bench_now();
		if (dsm_checkpoint() < 1)
			return 1;
		tck[r] = bench_now() - t0;
		dsm_get_stats(&s1);
		bytes = s1.ckpt_bytes - s0.ckpt_bytes;
		tpl[r] = plain_write(dir, priv, per, bytes, r);
	}
	ck_med = bench_median(tck, (int)runs);
	pl_med = bench_median(tpl, (int)runs);
	if (me == 0) {
		printf("ckpt_bench: %d nodes, %s consistency, %.1f MiB per node per checkpoint, "
		       "median of %ld\n", n, bench_model_name(dsm_consistency()),
		       (double)bytes / (1 << 20), runs);
		printf("  dsm_checkpoint  %8.1f ms  %8.1f MB/s per node\n", ck_med * 1e3,
		       (double)bytes / ck_med / 1e6);
		printf("  write+fsync     %8.1f ms  %8.1f MB/s per node\n", pl_med * 1e3,
		       (double)bytes / pl_med / 1e6);
		printf("DSM_RESULT bench=ckpt nodes=%d model=%s bytes=%llu ckpt_ms=%.3f "
		       "write_fsync_ms=%.3f ckpt_mbs=%.1f write_fsync_mbs=%.1f ratio=%.2f\n", n,
		       bench_model_name(dsm_consistency()), (unsigned long long)bytes, ck_med * 1e3,
		       pl_med * 1e3, (double)bytes / ck_med / 1e6, (double)bytes / pl_med / 1e6,
		       ck_med / pl_med);
	}
	free(priv);
	return dsm_finalize() < 0;
}
