/* SPDX-License-Identifier: BSD-3-Clause */
/* config.c - parse and validate the DSM_* variables (API.md, Environment). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#include "runtime/base/config.h"
#include "runtime/base/log.h"

const char *dsm_consistency_name(dsm_consistency_t c)
{
	switch (c) {
	case DSM_SEQUENTIAL: return "sequential";
	case DSM_RELEASE:    return "release";
	case DSM_WEAK:       return "weak";
	}
	return "?";
}

int dsm_config_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		uint64_t digit = (uint64_t)(*s - '0');

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		if (v > (UINT64_MAX - digit) / 10)	/* v * 10 + digit would overflow */
			return -EINVAL;
		v = v * 10 + digit;
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int dsm_config_parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = 0;
	unsigned int shift = 0;
	uint64_t v;

	if (!s)
		return -EINVAL;
	while (isdigit((unsigned char)s[n]) && n < sizeof(num) - 1) {
		num[n] = s[n];
		n++;
	}
	num[n] = '\0';
	if (n == 0)
		return -EINVAL;
	switch (s[n]) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: return -EINVAL;
	}
	/* one suffix letter, optionally followed by "B"/"iB" */
	if (shift && s[n + 1] && strcmp(s + n + 1, "B") && strcmp(s + n + 1, "iB"))
		return -EINVAL;
	if (dsm_config_parse_uint(num, UINT64_MAX, &v) < 0)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

int dsm_config_parse_secret(const char *s, uint8_t out[DSM_SECRET_LEN])
{
	if (!s || strlen(s) != 2 * DSM_SECRET_LEN)
		return -EINVAL;
	for (int i = 0; i < DSM_SECRET_LEN; i++) {
		unsigned int b;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		out[i] = (uint8_t)b;
	}
	return 0;
}

/* Index of s in names[] (NULL-terminated), or -1. */
static int pick(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int bad(const char *var, const char *val, const char *accepted)
{
	dsm_err("%s='%s': %s", var, val, accepted);
	return -DSM_ECONFIG;
}

/* The first of several rank/size variable pairs that is set. */
static const char *first_set(dsm_config_getter get, void *ctx, const char *const *names,
			     const char **which)
{
	for (int i = 0; names[i]; i++) {
		const char *v = get(names[i], ctx);

		if (v) {
			*which = names[i];
			return v;
		}
	}
	return NULL;
}

static int parse_job(struct dsm_config *cfg, dsm_config_getter get, void *ctx)
{
	/* dsmrun's variables first, then those of Slurm, Open MPI, PMI. */
	static const char *const ranks[] = { "DSM_NODE_ID", "SLURM_PROCID",
		"OMPI_COMM_WORLD_RANK", "PMI_RANK", NULL };
	static const char *const sizes[] = { "DSM_NUM_NODES", "SLURM_NTASKS",
		"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL };
	const char *rv, *sv, *rname = NULL, *sname = NULL, *v;
	uint64_t n;

	rv = first_set(get, ctx, ranks, &rname);
	sv = first_set(get, ctx, sizes, &sname);
	if (!rv && !sv) {
		cfg->node_id = 0;	/* started by hand: a job of one node */
		cfg->num_nodes = 1;
		return 0;
	}
	/* Half a job: name the variable that is set, not the one that is not. */
	if (!sv) {
		dsm_err("%s is set but no node count is (DSM_NUM_NODES, SLURM_NTASKS, "
			"OMPI_COMM_WORLD_SIZE or PMI_SIZE); set both, or neither for a job of one node",
			rname);
		return -DSM_ECONFIG;
	}
	if (!rv) {
		dsm_err("%s is set but no node id is (DSM_NODE_ID, SLURM_PROCID, "
			"OMPI_COMM_WORLD_RANK or PMI_RANK); set both, or neither for a job of one node",
			sname);
		return -DSM_ECONFIG;
	}
	if (dsm_config_parse_uint(sv, DSM_MAX_NODES, &n) < 0 || n < 1)
		return bad(sname, sv, "node count must be 1 to 64 (DSM_MAX_NODES)");
	cfg->num_nodes = (int)n;
	if (dsm_config_parse_uint(rv, (uint64_t)cfg->num_nodes - 1, &n) < 0)
		return bad(rname, rv, "node id must be 0 to the node count minus one");
	cfg->node_id = (int)n;

	if ((v = get("DSM_LOCAL_NODES", ctx))) {
		if (dsm_config_parse_uint(v, DSM_MAX_NODES, &n) < 0)
			return bad("DSM_LOCAL_NODES", v, "expected 0 to 64");
		cfg->local_nodes = (int)n;
	}
	if ((v = get("DSM_LISTEN_FD", ctx))) {
		if (dsm_config_parse_uint(v, INT_MAX, &n) < 0)
			return bad("DSM_LISTEN_FD", v, "expected a file descriptor number");
		cfg->boot.listen_fd = (int)n;
	}
	if ((v = get("DSM_NODE_HOST", ctx)))
		snprintf(cfg->boot.node_host, sizeof(cfg->boot.node_host), "%s", v);
	if (cfg->num_nodes == 1)
		return 0;

	v = get("DSM_ROOT_ADDR", ctx);
	if (!v || !*v || !strrchr(v, ':')) {
		dsm_err("DSM_ROOT_ADDR='%s': a job of %d nodes needs node 0's HOST:PORT "
			"(dsmrun sets it; under srun or mpirun use `eval $(dsmrun --make-env HOST:PORT)`)",
			v ? v : "", cfg->num_nodes);
		return -DSM_ECONFIG;
	}
	snprintf(cfg->boot.root_addr, sizeof(cfg->boot.root_addr), "%s", v);
	v = get("DSM_JOB_SECRET", ctx);
	if (!v) {
		dsm_err("DSM_JOB_SECRET is not set: every node of a job of %d nodes must present "
			"the job's secret (dsmrun sets it; under srun or mpirun use "
			"`eval $(dsmrun --make-env HOST:PORT)`)", cfg->num_nodes);
		return -DSM_ECONFIG;
	}
	if (dsm_config_parse_secret(v, cfg->secret) < 0)
		return bad("DSM_JOB_SECRET", "<hidden>", "expected 64 hexadecimal digits");
	cfg->have_secret = true;
	return 0;
}

int dsm_config_parse(struct dsm_config *cfg, dsm_config_getter get, void *ctx)
{
	static const char *const models[] = { "sequential", "release", "weak", NULL };
	static const char *const transports[] = { "tcp", "rdma", NULL };
	static const char *const backends[] = { "sigsegv", "userfaultfd", NULL };
	static const char *const numa[] = { "off", "first-touch", "interleave", "migrate", NULL };
	static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
	const char *v;
	uint64_t n;
	int i, ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->consistency = DSM_RELEASE;	/* API.md's default */
	strcpy(cfg->transport, "tcp");
	cfg->heap_size = 1ull << 30;
	cfg->page_size = 4096;
	strcpy(cfg->fault_backend, "sigsegv");
	cfg->numa = DSM_NUMA_OFF;
	cfg->stats = DSM_STATS_OFF;
	strcpy(cfg->checkpoint_dir, "./dsm-checkpoint");
	cfg->log_level = DSM_LOG_WARN;
	cfg->heap_base = DSM_DEFAULT_HEAP_BASE;
	cfg->home_block = 1;
	cfg->first_touch = true;
	cfg->poll_ns = 50000;
	cfg->connect_timeout_ms = 30000;
	cfg->failure_timeout_ms = 10000;
	cfg->bind = DSM_BIND_NONE;
	cfg->numa_period_ms = 10;
	cfg->numa_sample = 1024;
	cfg->boot.listen_fd = -1;

	/* DSM_LOG first, so that later messages obey it. */
	if ((v = get("DSM_LOG", ctx))) {
		if ((i = pick(v, levels)) < 0)
			return bad("DSM_LOG", v, "expected error, warn, info or debug");
		cfg->log_level = i;
		__atomic_store_n(&dsm_log_level, i, __ATOMIC_RELAXED);
	}
	/* The job next, so that every later message names this node. */
	ret = parse_job(cfg, get, ctx);
	if (ret < 0)
		return ret;
	__atomic_store_n(&dsm_log_node, cfg->node_id, __ATOMIC_RELAXED);
	if ((v = get("DSM_CONSISTENCY", ctx))) {
		if ((i = pick(v, models)) < 0)
			return bad("DSM_CONSISTENCY", v, "expected sequential, release or weak");
		cfg->consistency = (dsm_consistency_t)i;
	}
	if ((v = get("DSM_TRANSPORT", ctx))) {
		if (pick(v, transports) < 0)
			return bad("DSM_TRANSPORT", v, "expected tcp or rdma");
		strcpy(cfg->transport, v);
	}
	if ((v = get("DSM_HEAP_SIZE", ctx))) {
		if (dsm_config_parse_size(v, &n) < 0)
			return bad("DSM_HEAP_SIZE", v, "expected bytes with an optional K, M, G or T suffix");
		if (n < (1u << 20) || n > (1ull << 44))
			return bad("DSM_HEAP_SIZE", v, "must be from 1M to 16T");
		cfg->heap_size = n;
	}
	if ((v = get("DSM_PAGE_SIZE", ctx))) {
		if (dsm_config_parse_size(v, &n) < 0 || n < 4096 || n > (1u << 30) ||
		    (n & (n - 1)))
			return bad("DSM_PAGE_SIZE", v, "expected 4K times a power of two (4K, 8K, ... 1G)");
		cfg->page_size = n;
	}
	if ((v = get("DSM_FAULT_BACKEND", ctx))) {
		if (pick(v, backends) < 0)
			return bad("DSM_FAULT_BACKEND", v, "expected sigsegv or userfaultfd");
		strcpy(cfg->fault_backend, v);
	}
	if ((v = get("DSM_NUMA", ctx))) {
		if ((i = pick(v, numa)) < 0)
			return bad("DSM_NUMA", v, "expected off, first-touch, interleave or migrate");
		cfg->numa = (enum dsm_numa_mode)i;
	}
	if ((v = get("DSM_BIND", ctx))) {
		static const char *const binds[] = { "none", "numa", "core", NULL };

		if ((i = pick(v, binds)) < 0)
			return bad("DSM_BIND", v, "expected none, numa or core");
		cfg->bind = (enum dsm_bind_mode)i;
	}
	if ((v = get("DSM_NUMA_PERIOD_MS", ctx))) {
		if (dsm_config_parse_uint(v, 10000, &n) < 0 || n == 0)
			return bad("DSM_NUMA_PERIOD_MS", v, "expected milliseconds from 1 to 10000");
		cfg->numa_period_ms = (unsigned int)n;
	}
	if ((v = get("DSM_NUMA_SAMPLE", ctx))) {
		if (dsm_config_parse_uint(v, 1u << 20, &n) < 0)
			return bad("DSM_NUMA_SAMPLE", v, "expected a number of pages from 0 to 1048576");
		cfg->numa_sample = (unsigned int)n;
	}
	if ((v = get("DSM_STATS", ctx))) {
		if (!strcmp(v, "0") || !*v) {
			cfg->stats = DSM_STATS_OFF;
		} else if (!strcmp(v, "1")) {
			cfg->stats = DSM_STATS_STDERR;
		} else {
			if (strlen(v) >= sizeof(cfg->stats_path))
				return bad("DSM_STATS", v, "path too long");
			cfg->stats = DSM_STATS_FILE;
			strcpy(cfg->stats_path, v);
		}
	}
	if ((v = get("DSM_CHECKPOINT_DIR", ctx))) {
		if (!*v || strlen(v) >= sizeof(cfg->checkpoint_dir))
			return bad("DSM_CHECKPOINT_DIR", v, "expected a directory path");
		strcpy(cfg->checkpoint_dir, v);
	}
	if ((v = get("DSM_RESTART", ctx))) {
		if (strcmp(v, "0") && strcmp(v, "1"))
			return bad("DSM_RESTART", v, "expected 0 or 1");
		cfg->restart = v[0] == '1';
	}
	if ((v = get("DSM_HEAP_BASE", ctx))) {
		char *end;
		unsigned long long b;

		errno = 0;
		b = strtoull(v, &end, 0);
		if (errno || *end || !b || (b & 0xffff) || b >= (1ull << 47))
			return bad("DSM_HEAP_BASE", v, "expected a 64 KiB-aligned user address such as 0x100000000000");
		cfg->heap_base = (uintptr_t)b;
	}
	if ((v = get("DSM_HOME_BLOCK", ctx))) {
		if (dsm_config_parse_uint(v, 1u << 20, &n) < 0 || n == 0)
			return bad("DSM_HOME_BLOCK", v, "expected a number of pages from 1 to 1048576");
		cfg->home_block = (unsigned int)n;
	}
	if ((v = get("DSM_HOMES", ctx))) {
		if (!strcmp(v, "first-touch"))
			cfg->first_touch = true;
		else if (!strcmp(v, "static"))
			cfg->first_touch = false;
		else
			return bad("DSM_HOMES", v, "expected first-touch or static");
	}
	if ((v = get("DSM_CONNECT_TIMEOUT", ctx))) {
		if (dsm_config_parse_uint(v, 3600, &n) < 0 || n == 0)
			return bad("DSM_CONNECT_TIMEOUT", v, "expected seconds from 1 to 3600");
		cfg->connect_timeout_ms = (unsigned int)n * 1000;
	}
	if ((v = get("DSM_FAILURE_TIMEOUT", ctx))) {
		if (dsm_config_parse_uint(v, 3600, &n) < 0 || n == 0)
			return bad("DSM_FAILURE_TIMEOUT", v, "expected seconds from 1 to 3600");
		cfg->failure_timeout_ms = (unsigned int)n * 1000;
	}
	if ((v = get("DSM_RDMA_DEVICE", ctx))) {
		if (!*v || strlen(v) >= sizeof(cfg->rdma_device) || strpbrk(v, "/ \t"))
			return bad("DSM_RDMA_DEVICE", v, "expected an RDMA device name (ibv_devices lists them)");
		snprintf(cfg->rdma_device, sizeof(cfg->rdma_device), "%s", v);
	}
	if ((v = get("DSM_RDMA_PORT", ctx))) {
		if (dsm_config_parse_uint(v, 255, &n) < 0 || n == 0)
			return bad("DSM_RDMA_PORT", v, "expected a port number from 1 to 255");
		cfg->rdma_port = (unsigned int)n;
	}
	if ((v = get("DSM_RDMA_GID_INDEX", ctx))) {
		if (dsm_config_parse_uint(v, 255, &n) < 0)
			return bad("DSM_RDMA_GID_INDEX", v, "expected a GID table index from 0 to 255");
		cfg->rdma_gid_index = (unsigned int)n;
	}

	/*
	 * Busy-polling only helps when every thread that waits has a CPU of
	 * its own: a node's service thread and its faulting application
	 * thread, so two CPUs per local node.  Otherwise a spinner takes the
	 * CPU that the thread with the answer needs: with 2 nodes on 2 CPUs,
	 * a remote fault took ~60 us with no poll, ~90 us with 10 us, ~200 us
	 * with 50 us and ~670 us with 200 us (benchmarks/microbench).
	 */
	if ((v = get("DSM_POLL_US", ctx))) {
		if (dsm_config_parse_uint(v, 1000000, &n) < 0)
			return bad("DSM_POLL_US", v, "expected microseconds from 0 to 1000000");
		cfg->poll_ns = n * 1000;
	} else {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		int local = cfg->local_nodes ? cfg->local_nodes : 1;

		if (cpus > 0 && local * 2 > cpus)
			cfg->poll_ns = 0;
	}
	if (cfg->heap_size % cfg->page_size)
		return bad("DSM_HEAP_SIZE", get("DSM_HEAP_SIZE", ctx) ? get("DSM_HEAP_SIZE", ctx) : "1G",
			   "must be a multiple of DSM_PAGE_SIZE");
	if (cfg->heap_size / cfg->page_size < 2u * (unsigned)cfg->num_nodes)
		return bad("DSM_HEAP_SIZE", get("DSM_HEAP_SIZE", ctx) ? get("DSM_HEAP_SIZE", ctx) : "1G",
			   "too small for this many nodes and this page size");
	/* A page's diff (up to 4.5 times the page) must fit in one message,
	 * and every connection keeps a buffer for the largest one. */
	if (cfg->consistency != DSM_SEQUENTIAL && cfg->page_size > DSM_RELAXED_MAX_PAGE)
		return bad("DSM_PAGE_SIZE", get("DSM_PAGE_SIZE", ctx),
			   "release and weak consistency take pages up to 1M");
	return 0;
}

void dsm_config_settings(const struct dsm_config *cfg, struct dsm_job_settings *out)
{
	memset(out, 0, sizeof(*out));
	out->heap_size = cfg->heap_size;
	out->page_size = cfg->page_size;
	out->heap_base = cfg->heap_base;
	out->home_block = cfg->home_block;
	/* Homes are chosen by first touch only under the relaxed models. */
	out->first_touch = cfg->consistency != DSM_SEQUENTIAL && cfg->first_touch;
	out->consistency = (uint32_t)cfg->consistency;
	out->num_nodes = (uint32_t)cfg->num_nodes;
	out->stats_file = cfg->stats == DSM_STATS_FILE;
	snprintf(out->transport, sizeof(out->transport), "%s", cfg->transport);
	snprintf(out->fault_backend, sizeof(out->fault_backend), "%s", cfg->fault_backend);
}

const char *dsm_config_settings_diff(const struct dsm_job_settings *a,
				     const struct dsm_job_settings *b, char *buf, size_t len)
{
#define NUM(field, name) \
	if (a->field != b->field) { \
		snprintf(buf, len, name " (%llu here, %llu there)", \
			 (unsigned long long)a->field, (unsigned long long)b->field); \
		return buf; \
	}
	NUM(num_nodes, "the node count (DSM_NUM_NODES)")
	NUM(heap_size, "DSM_HEAP_SIZE")
	NUM(page_size, "DSM_PAGE_SIZE")
	NUM(heap_base, "DSM_HEAP_BASE")
	NUM(home_block, "DSM_HOME_BLOCK")
	if (a->consistency != b->consistency) {
		snprintf(buf, len, "DSM_CONSISTENCY (%s here, %s there)",
			 dsm_consistency_name((dsm_consistency_t)a->consistency),
			 dsm_consistency_name((dsm_consistency_t)b->consistency));
		return buf;
	}
	if (a->first_touch != b->first_touch) {
		snprintf(buf, len, "DSM_HOMES (%s here, %s there)",
			 a->first_touch ? "first-touch" : "static",
			 b->first_touch ? "first-touch" : "static");
		return buf;
	}
	NUM(stats_file, "DSM_STATS (a file path on some nodes only)")
#undef NUM
	if (strncmp(a->transport, b->transport, sizeof(a->transport))) {
		snprintf(buf, len, "DSM_TRANSPORT");
		return buf;
	}
	if (strncmp(a->fault_backend, b->fault_backend, sizeof(a->fault_backend))) {
		/* Mixed backends would work; the same everywhere keeps results comparable. */
		snprintf(buf, len, "DSM_FAULT_BACKEND");
		return buf;
	}
	return NULL;
}

/* Every variable libdsm reads: the only names --dsm-NAME may use. */
static const char *const known_vars[] = {
	"DSM_CONSISTENCY", "DSM_TRANSPORT", "DSM_HEAP_SIZE", "DSM_PAGE_SIZE",
	"DSM_FAULT_BACKEND", "DSM_NUMA", "DSM_BIND", "DSM_NUMA_PERIOD_MS", "DSM_NUMA_SAMPLE",
	"DSM_STATS", "DSM_CHECKPOINT_DIR", "DSM_RESTART",
	"DSM_LOG", "DSM_HEAP_BASE", "DSM_HOME_BLOCK", "DSM_HOMES", "DSM_POLL_US", "DSM_CONNECT_TIMEOUT",
	"DSM_FAILURE_TIMEOUT",
	"DSM_NODE_ID", "DSM_NUM_NODES", "DSM_LOCAL_NODES", "DSM_LISTEN_FD", "DSM_READY_FD",
	"DSM_NODE_HOST",
	"DSM_ROOT_ADDR", "DSM_JOB_SECRET",
	"DSM_RDMA_DEVICE", "DSM_RDMA_PORT", "DSM_RDMA_GID_INDEX", NULL,
};

/* --dsm-NAME options collected from argv, consulted before the environment. */
struct argv_opts {
	int n;
	char name[32][48];
	const char *val[32];
};

static const char *argv_getter(const char *name, void *ctx)
{
	struct argv_opts *o = ctx;

	for (int i = o->n - 1; i >= 0; i--)
		if (!strcmp(o->name[i], name))
			return o->val[i];
	return getenv(name);
}

int dsm_config_load(struct dsm_config *cfg, int *argc, char ***argv)
{
	struct argv_opts o = { .n = 0 };
	int out = 1, ret;

	if (argc && argv && *argv) {
		char **av = *argv;

		for (int i = 1; i < *argc; i++) {
			const char *a = av[i], *eq;
			size_t len;

			if (!strcmp(a, "--")) {	/* the program's own options follow */
				while (i < *argc)
					av[out++] = av[i++];
				break;
			}
			if (strncmp(a, "--dsm-", 6)) {
				av[out++] = av[i];
				continue;
			}
			a += 6;
			eq = strchr(a, '=');
			len = eq ? (size_t)(eq - a) : strlen(a);
			if (o.n == 32 || len == 0 || len + 5 > sizeof(o.name[0])) {
				dsm_err("option '%s': not a --dsm-NAME=VALUE option", av[i]);
				return -DSM_ECONFIG;
			}
			memcpy(o.name[o.n], "DSM_", 4);
			for (size_t k = 0; k < len; k++)
				o.name[o.n][4 + k] = a[k] == '-' ? '_' : (char)toupper((unsigned char)a[k]);
			o.name[o.n][4 + len] = '\0';
			if (pick(o.name[o.n], known_vars) < 0) {
				dsm_err("option '%s': not a libdsm option (see dsm(7) for the DSM_* "
					"variables and their --dsm-* spellings)", av[i]);
				return -DSM_ECONFIG;
			}
			if (eq) {
				o.val[o.n] = eq + 1;
			} else if (i + 1 < *argc) {
				o.val[o.n] = av[++i];
			} else {
				dsm_err("option '%s' needs a value", av[i]);
				return -DSM_ECONFIG;
			}
			o.n++;
		}
		av[out] = NULL;
		*argc = out;
	}
	ret = dsm_config_parse(cfg, argv_getter, &o);
	if (ret < 0)
		return ret;
	/* A misspelled variable would otherwise be ignored without a word. */
	for (char **e = environ; e && *e; e++) {
		char name[64];
		size_t n = strcspn(*e, "=");

		if (strncmp(*e, "DSM_", 4) || n >= sizeof(name) || !strncmp(*e, "DSM_TEST_", 9))
			continue;
		memcpy(name, *e, n);
		name[n] = '\0';
		if (pick(name, known_vars) < 0)
			dsm_warn("%s is set but is not a libdsm variable (misspelled? see dsm(7))", name);
	}
	return 0;
}
