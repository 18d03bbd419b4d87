/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * app.c - the plumbing every app of the suite shares (see app.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps/common/app.h"

/* Shared: slot k is node k's vote in app_all_ok(), its sum in app_checksum(). */
static uint64_t *app_slots;

void app_start(const char *name, int *argc, char ***argv)
{
	int ret = dsm_init(argc, argv);

	if (ret < 0) {
		fprintf(stderr, "%s: dsm_init: %s\n", name, dsm_strerror(ret));
		exit(1);
	}
	app_slots = dsm_alloc_collective(sizeof(uint64_t) * (size_t)dsm_num_nodes());
	if (!app_slots) {
		fprintf(stderr, "%s: node %d: cannot allocate %d words of shared heap\n",
			name, dsm_node_id(), dsm_num_nodes());
		dsm_finalize();
		exit(1);
	}
	opterr = dsm_node_id() == 0;
}

int app_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* app_parse_long() into an int ([lo, hi] within int's range). */
static int app_parse_int(const char *s, long lo, long hi, int *out)
{
	long v;

	if (app_parse_long(s, lo, hi, &v))
		return -1;
	*out = (int)v;
	return 0;
}

int app_parse_args(int argc, char **argv, const char *optstring,
		   const struct app_opt *opts)
{
	const struct app_opt *o;
	int opt, bad = 0;

	while ((opt = getopt(argc, argv, optstring)) != -1) {
		for (o = opts; o->letter && o->letter != opt; o++)
			;
		if (!o->letter)
			bad = 1;	/* getopt's '?', or -h */
		else if (o->l)
			bad |= app_parse_long(optarg, o->lo, o->hi, o->l);
		else if (o->i)
			bad |= app_parse_int(optarg, o->lo, o->hi, o->i);
		else
			bad |= o->parse(optarg, o->to);
	}
	return bad || optind != argc ? -1 : 0;
}

int app_usage_error(void (*usage)(const char *prog), const char *prog)
{
	if (dsm_node_id() == 0)
		usage(prog);
	dsm_finalize();
	return 2;
}

int app_alloc_failed(const char *name, const char *fmt, ...)
{
	int err = errno;
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: node %d: cannot allocate %s: %s\n", name, dsm_node_id(),
		what, strerror(err));
	dsm_finalize();
	return 1;
}

bool app_check_report(const char *name, long bad, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (bad < 0) {
		fprintf(stderr, "%s: node %d: out of memory for the check\n", name,
			dsm_node_id());
	} else if (bad > 0) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		fprintf(stderr, "%s: node %d: %ld %s\n", name, dsm_node_id(), bad, what);
	}
	return bad == 0;
}

double app_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *app_model_name(void)
{
	switch (dsm_consistency()) {
	case DSM_SEQUENTIAL:
		return "sequential";
	case DSM_RELEASE:
		return "release";
	case DSM_WEAK:
		return "weak";
	}
	return "unknown";
}

double app_hash01(uint64_t i, uint64_t k)
{
	uint64_t z = i * 0x9e3779b97f4a7c15ULL + k * 0xbf58476d1ce4e5b9ULL + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

void app_block_range(long total, int nparts, int k, long *lo, long *hi)
{
	*lo = total * k / nparts;
	*hi = total * (k + 1) / nparts;
}

struct app_thread {
	struct app_team *team;
	int tid;
	pthread_t thread;
};

static void *app_thread_main(void *p)
{
	struct app_thread *th = p;

	return th->team->fn(th->team, th->tid, th->team->arg);
}

int app_team_run(struct app_team *team, int nthreads,
		 void *(*fn)(struct app_team *team, int tid, void *arg), void *arg)
{
	struct app_thread th[APP_MAX_THREADS];
	int i, ret, started;

	if (nthreads < 1 || nthreads > APP_MAX_THREADS)
		return EINVAL;
	team->nthreads = nthreads;
	team->fn = fn;
	team->arg = arg;
	ret = pthread_barrier_init(&team->pbar, NULL, (unsigned)nthreads);
	if (ret) {
		fprintf(stderr, "app: pthread_barrier_init: %s\n", strerror(ret));
		return ret;
	}
	for (started = 1; started < nthreads; started++) {
		th[started].team = team;
		th[started].tid = started;
		ret = pthread_create(&th[started].thread, NULL, app_thread_main, &th[started]);
		if (ret) {
			/* The team's barriers would wait for it forever. */
			fprintf(stderr, "app: pthread_create: %s\n", strerror(ret));
			exit(1);
		}
	}
	fn(team, 0, arg);
	for (i = 1; i < nthreads; i++)
		pthread_join(th[i].thread, NULL);
	pthread_barrier_destroy(&team->pbar);
	return 0;
}

void app_team_barrier(struct app_team *team, int tid)
{
	pthread_barrier_wait(&team->pbar);
	if (tid == 0)
		dsm_barrier();
	pthread_barrier_wait(&team->pbar);
}

bool app_all_ok(bool ok)
{
	int k, n = dsm_num_nodes();
	bool all = true;

	app_slots[dsm_node_id()] = ok;
	dsm_barrier();
	for (k = 0; k < n; k++)
		all = all && app_slots[k];
	/* Nobody votes again before everyone has counted. */
	dsm_barrier();
	return all;
}

uint64_t app_fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t k = 0; k < len; k++)
		h = (h ^ b[k]) * 0x100000001b3ull;
	return h;
}

uint64_t app_checksum(const char *name, uint64_t mine)
{
	uint64_t sum = APP_FNV1A_BASIS;
	int k, n = dsm_num_nodes();

	app_slots[dsm_node_id()] = mine;
	dsm_barrier();
	for (k = 0; k < n; k++)
		sum = (sum ^ app_slots[k]) * 0x100000001b3ull;
	/* Nobody writes a slot again before everyone has read them. */
	dsm_barrier();
	if (dsm_node_id() == 0)
		printf("%s: checksum %016" PRIx64 "\n", name, sum);
	return sum;
}

int app_take_checkpoint_every(int *argc, char **argv, long *every)
{
	int i, k = 0, bad = 0;

	for (i = 0; i < *argc; i++) {
		const char *a = argv[i], *v = NULL;

		if (!strcmp(a, "--checkpoint-every")) {
			v = i + 1 < *argc ? argv[++i] : "";
		} else if (!strncmp(a, "--checkpoint-every=", 19)) {
			v = a + 19;
		} else {
			argv[k++] = argv[i];
			continue;
		}
		if (app_parse_long(v, 1, 1 << 30, every) < 0)
			bad = -1;
	}
	argv[k] = NULL;
	*argc = k;
	return bad;
}

long app_resume_point(const char *name, const long *resume, const char *unit)
{
	if (dsm_restored_epoch() <= 0)
		return 0;
	if (dsm_node_id() == 0)
		printf("%s: restarted from checkpoint epoch %d at %s %ld\n", name,
		       dsm_restored_epoch(), unit, *resume);
	return *resume;
}

bool app_checkpoint_due(long every, long next, long total)
{
	return every > 0 && next % every == 0 && next < total;
}

bool app_team_checkpoint(struct app_team *team, int tid, const char *name,
			 long *resume, long next)
{
	bool ok = true;

	pthread_barrier_wait(&team->pbar);
	if (tid == 0) {
		int epoch;

		if (dsm_node_id() == 0)
			*resume = next;
		epoch = dsm_checkpoint();
		if (epoch < 0) {
			fprintf(stderr, "%s: node %d: dsm_checkpoint before step %ld: %s\n",
				name, dsm_node_id(), next, dsm_strerror(epoch));
			ok = false;
		}
	}
	pthread_barrier_wait(&team->pbar);
	return ok;
}

int app_finish(const char *name, const char *size, int threads, double seconds,
	       bool passed)
{
	int ret;

	if (dsm_node_id() == 0) {
		printf("DSM_RESULT app=%s nodes=%d model=%s size=%s threads=%d seconds=%.6f check=%s\n",
		       name, dsm_num_nodes(), app_model_name(), size, threads, seconds,
		       passed ? "passed" : "failed");
		fflush(stdout);
	}
	ret = dsm_finalize();
	if (ret < 0) {
		fprintf(stderr, "%s: node %d: dsm_finalize: %s\n", name, dsm_node_id(),
			dsm_strerror(ret));
		return 1;
	}
	return passed ? 0 : 1;
}
