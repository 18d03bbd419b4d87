/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for runtime/base/config.c: the size, integer and secret
 * parsers, dsm_config_parse() over a table of variables (defaults, every
 * variable's accepted and rejected values, the launcher's job variables),
 * and dsm_config_load() consuming --dsm-* options from argv.
 *
 * Rejections log one line on stderr each; that is expected output.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"
#include "runtime/base/config.h"
#include "runtime/base/log.h"

#define SECRET_HEX "000102030405060708090a0b0c0d0e0f" \
		   "F0E1D2C3B4A5968778695A4B3C2D1E0F"

/* ---------- a getter over a small table ---------- */

struct var {
	const char *name;
	const char *val;
};

/* The table ends at the first entry with a NULL name. */
static const char *table_get(const char *name, void *ctx)
{
	const struct var *v = ctx;

	for (; v && v->name; v++)
		if (!strcmp(v->name, name))
			return v->val;
	return NULL;
}

static int parse_vars(struct dsm_config *cfg, const struct var *vars)
{
	return dsm_config_parse(cfg, table_get, (void *)vars);
}

/* Parse a table holding the single variable name=val. */
static int parse1(struct dsm_config *cfg, const char *name, const char *val)
{
	const struct var vars[] = { { name, val }, { NULL, NULL } };

	return parse_vars(cfg, vars);
}

/*
 * dsm_config_load() reads the real environment: drop every variable it
 * could look at, so that a DSM_LOG=debug or a Slurm allocation in the
 * shell running `make check` cannot change the outcome.  Each test runs
 * in its own forked child, so this never leaks into another test.
 */
static void clear_job_env(void)
{
	static const char *const prefixes[] = { "DSM_", "SLURM_", "OMPI_", "PMI_" };
	extern char **environ;
	char name[256];
	int again = 1;

	/* unsetenv() reshuffles environ: rescan until nothing matches. */
	while (again) {
		again = 0;
		for (char **e = environ; e && *e; e++) {
			const char *eq = strchr(*e, '=');
			size_t len = eq ? (size_t)(eq - *e) : strlen(*e);

			for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
				if (strncmp(*e, prefixes[i], strlen(prefixes[i])) || len >= sizeof(name))
					continue;
				memcpy(name, *e, len);
				name[len] = '\0';
				unsetenv(name);
				again = 1;
				break;
			}
			if (again)
				break;
		}
	}
}

/* ---------- dsm_config_parse_size ---------- */

START_TEST(test_size_valid)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "4K", 4096 },
		{ "4k", 4096 },
		{ "64M", 64ull << 20 },
		{ "64m", 64ull << 20 },
		{ "1G", 1ull << 30 },
		{ "2T", 2ull << 40 },
		{ "1GiB", 1ull << 30 },
		{ "1GB", 1ull << 30 },
		{ "8KiB", 8192 },
		{ "007M", 7ull << 20 },
		/* The largest count that still fits in 64 bits after the shift. */
		{ "16777215T", 16777215ull << 40 },
		{ "18446744073709551609", 18446744073709551609ull },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 0xdeadbeef;
		ck_assert_msg(dsm_config_parse_size(ok[i].s, &v) == 0, "'%s' rejected", ok[i].s);
		ck_assert_msg(v == ok[i].v, "'%s' parsed as %llu, expected %llu", ok[i].s,
			      (unsigned long long)v, (unsigned long long)ok[i].v);
	}
}
END_TEST

START_TEST(test_size_invalid)
{
	static const char *const bad[] = {
		"", "12Q", "K", "-1", "+1", "1.5G", " 1G", "1G ", "1 G", "1GG", "1Gi",
		"1iB", "1Gib", "4096B", "0x10", "G1",
		"99999999999T",			/* overflows 64 bits after the shift */
		"16777216T",			/* 2^64 exactly */
		"18446744073709551616",		/* 2^64 without a suffix */
		"99999999999999999999999999999999999999",	/* longer than any number */
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(dsm_config_parse_size(bad[i], &v) == -EINVAL,
			      "'%s' accepted", bad[i]);
	ck_assert_int_eq(dsm_config_parse_size(NULL, &v), -EINVAL);
}
END_TEST

/* ---------- dsm_config_parse_uint ---------- */

START_TEST(test_uint)
{
	static const char *const bad[] = { "", "-1", "+1", "1a", " 1", "1 ", "0x1", "1e3",
					   "18446744073709551616", "99999999999999999999" };
	uint64_t v;

	ck_assert_int_eq(dsm_config_parse_uint("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(dsm_config_parse_uint("42", 100, &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(dsm_config_parse_uint("0042", 100, &v), 0);
	ck_assert_uint_eq(v, 42);

	/* max is inclusive */
	ck_assert_int_eq(dsm_config_parse_uint("10", 10, &v), 0);
	ck_assert_uint_eq(v, 10);
	v = 77;
	ck_assert_int_eq(dsm_config_parse_uint("11", 10, &v), -EINVAL);
	ck_assert_uint_eq(v, 77);	/* untouched on failure */
	ck_assert_int_eq(dsm_config_parse_uint("1", 0, &v), -EINVAL);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(dsm_config_parse_uint(bad[i], UINT64_MAX, &v) == -EINVAL,
			      "'%s' accepted", bad[i]);
	ck_assert_int_eq(dsm_config_parse_uint(NULL, 10, &v), -EINVAL);
}
END_TEST

/*
 * The header promises any value "no larger than max": with max =
 * UINT64_MAX that includes the last few 64-bit values, which the overflow
 * guard must not reject before the last digit is known.
 */
START_TEST(test_uint_top_of_range)
{
	uint64_t v = 0;

	ck_assert_int_eq(dsm_config_parse_uint("18446744073709551609", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 18446744073709551609ull);
	ck_assert_msg(dsm_config_parse_uint("18446744073709551615", UINT64_MAX, &v) == 0,
		      "UINT64_MAX rejected although max is UINT64_MAX");
	ck_assert(v == UINT64_MAX);
	ck_assert_msg(dsm_config_parse_uint("18446744073709551610", UINT64_MAX, &v) == 0,
		      "UINT64_MAX - 5 rejected although max is UINT64_MAX");
	ck_assert(v == UINT64_MAX - 5);
}
END_TEST

/* ---------- dsm_config_parse_secret ---------- */

START_TEST(test_secret)
{
	static const uint8_t want[DSM_SECRET_LEN] = {
		0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
		0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
		0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
	};
	char s[2 * DSM_SECRET_LEN + 2];
	uint8_t out[DSM_SECRET_LEN];

	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(dsm_config_parse_secret(SECRET_HEX, out), 0);
	ck_assert_mem_eq(out, want, DSM_SECRET_LEN);

	/* One digit short, one too many. */
	ck_assert_int_eq(dsm_config_parse_secret("", out), -EINVAL);
	ck_assert_int_eq(dsm_config_parse_secret(NULL, out), -EINVAL);
	memcpy(s, SECRET_HEX, 2 * DSM_SECRET_LEN - 1);
	s[2 * DSM_SECRET_LEN - 1] = '\0';
	ck_assert_int_eq(dsm_config_parse_secret(s, out), -EINVAL);
	memcpy(s, SECRET_HEX, 2 * DSM_SECRET_LEN);
	s[2 * DSM_SECRET_LEN] = '0';
	s[2 * DSM_SECRET_LEN + 1] = '\0';
	ck_assert_int_eq(dsm_config_parse_secret(s, out), -EINVAL);

	/* A non-hex digit anywhere, including where sscanf would skip it. */
	for (size_t i = 0; i < 2 * DSM_SECRET_LEN; i += 7) {
		memcpy(s, SECRET_HEX, 2 * DSM_SECRET_LEN + 1);
		s[i] = 'g';
		ck_assert_msg(dsm_config_parse_secret(s, out) == -EINVAL, "'g' at %zu accepted", i);
		s[i] = ' ';
		ck_assert_msg(dsm_config_parse_secret(s, out) == -EINVAL, "' ' at %zu accepted", i);
	}
	memcpy(s, SECRET_HEX, 2 * DSM_SECRET_LEN + 1);
	s[0] = '0';
	s[1] = 'x';
	ck_assert_int_eq(dsm_config_parse_secret(s, out), -EINVAL);
}
END_TEST

START_TEST(test_consistency_name)
{
	ck_assert_str_eq(dsm_consistency_name(DSM_SEQUENTIAL), "sequential");
	ck_assert_str_eq(dsm_consistency_name(DSM_RELEASE), "release");
	ck_assert_str_eq(dsm_consistency_name(DSM_WEAK), "weak");
	ck_assert_str_eq(dsm_consistency_name((dsm_consistency_t)42), "?");
}
END_TEST

/* ---------- dsm_config_parse: defaults and values ---------- */

START_TEST(test_parse_defaults)
{
	struct dsm_config cfg;

	memset(&cfg, 0x5a, sizeof(cfg));	/* parse must set every field it reads */
	ck_assert_int_eq(parse_vars(&cfg, NULL), 0);
	ck_assert_int_eq(cfg.consistency, DSM_RELEASE);	/* API.md's default */
	ck_assert(cfg.first_touch);
	ck_assert_str_eq(cfg.transport, "tcp");
	ck_assert_uint_eq(cfg.heap_size, 1ull << 30);
	ck_assert_uint_eq(cfg.page_size, 4096);
	ck_assert_str_eq(cfg.fault_backend, "sigsegv");
	ck_assert_int_eq(cfg.numa, DSM_NUMA_OFF);
	ck_assert_int_eq(cfg.stats, DSM_STATS_OFF);
	ck_assert_str_eq(cfg.checkpoint_dir, "./dsm-checkpoint");
	ck_assert(!cfg.restart);
	ck_assert_int_eq(cfg.log_level, DSM_LOG_WARN);
	ck_assert(cfg.heap_base == DSM_DEFAULT_HEAP_BASE);
	ck_assert_uint_eq(cfg.home_block, 1);
	ck_assert_uint_eq(cfg.connect_timeout_ms, 30000);
	ck_assert_uint_eq(cfg.failure_timeout_ms, 10000);

	/* No rank variables at all: started by hand, a job of one node. */
	ck_assert_int_eq(cfg.node_id, 0);
	ck_assert_int_eq(cfg.num_nodes, 1);
	ck_assert_int_eq(cfg.local_nodes, 0);
	ck_assert_int_eq(cfg.boot.listen_fd, -1);
	ck_assert(!cfg.have_secret);
	ck_assert_str_eq(cfg.boot.root_addr, "");
	ck_assert_str_eq(cfg.boot.node_host, "");
}
END_TEST

START_TEST(test_parse_consistency)
{
	struct dsm_config cfg;

	ck_assert_int_eq(parse1(&cfg, "DSM_CONSISTENCY", "sequential"), 0);
	ck_assert_int_eq(cfg.consistency, DSM_SEQUENTIAL);
	ck_assert_int_eq(parse1(&cfg, "DSM_CONSISTENCY", "release"), 0);
	ck_assert_int_eq(cfg.consistency, DSM_RELEASE);
	ck_assert_int_eq(parse1(&cfg, "DSM_CONSISTENCY", "weak"), 0);
	ck_assert_int_eq(cfg.consistency, DSM_WEAK);
}
END_TEST

START_TEST(test_parse_transport_backend_numa)
{
	static const char *const numa[] = { "off", "first-touch", "interleave", "migrate" };
	static const enum dsm_numa_mode numa_v[] = { DSM_NUMA_OFF, DSM_NUMA_FIRST_TOUCH,
						     DSM_NUMA_INTERLEAVE, DSM_NUMA_MIGRATE };
	struct dsm_config cfg;

	ck_assert_int_eq(parse1(&cfg, "DSM_TRANSPORT", "tcp"), 0);
	ck_assert_str_eq(cfg.transport, "tcp");
	ck_assert_int_eq(parse1(&cfg, "DSM_TRANSPORT", "rdma"), 0);
	ck_assert_str_eq(cfg.transport, "rdma");

	ck_assert_int_eq(parse1(&cfg, "DSM_FAULT_BACKEND", "sigsegv"), 0);
	ck_assert_str_eq(cfg.fault_backend, "sigsegv");
	/* Valid here; whether this host runs it is dsm_fault_open()'s call. */
	ck_assert_int_eq(parse1(&cfg, "DSM_FAULT_BACKEND", "userfaultfd"), 0);
	ck_assert_str_eq(cfg.fault_backend, "userfaultfd");

	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(parse1(&cfg, "DSM_NUMA", numa[i]), 0);
		ck_assert_int_eq(cfg.numa, numa_v[i]);
	}
}
END_TEST

START_TEST(test_parse_heap_and_page_size)
{
	struct dsm_config cfg;

	ck_assert_int_eq(parse1(&cfg, "DSM_HEAP_SIZE", "1M"), 0);
	ck_assert_uint_eq(cfg.heap_size, 1u << 20);
	ck_assert_int_eq(parse1(&cfg, "DSM_HEAP_SIZE", "64M"), 0);
	ck_assert_uint_eq(cfg.heap_size, 64u << 20);
	ck_assert_int_eq(parse1(&cfg, "DSM_HEAP_SIZE", "16T"), 0);
	ck_assert_uint_eq(cfg.heap_size, 16ull << 40);
	ck_assert_int_eq(parse1(&cfg, "DSM_HEAP_SIZE", "1073741824"), 0);
	ck_assert_uint_eq(cfg.heap_size, 1ull << 30);

	/* Sequential consistency takes any page size; the relaxed models up
	 * to 1M (a page's diff must fit in one message). */
	for (unsigned int shift = 12; shift <= 29; shift++) {
		char s[32];
		const struct var v[] = { { "DSM_PAGE_SIZE", s }, { "DSM_CONSISTENCY", "sequential" },
					 { NULL, NULL } };

		snprintf(s, sizeof(s), "%llu", 1ull << shift);
		ck_assert_int_eq(parse_vars(&cfg, v), 0);
		ck_assert_uint_eq(cfg.page_size, 1ull << shift);
		ck_assert_int_eq(parse1(&cfg, "DSM_PAGE_SIZE", s), shift <= 20 ? 0 : -DSM_ECONFIG);
	}
	ck_assert_int_eq(parse1(&cfg, "DSM_PAGE_SIZE", "8K"), 0);
	ck_assert_uint_eq(cfg.page_size, 8192);
	ck_assert_int_eq(parse1(&cfg, "DSM_PAGE_SIZE", "1M"), 0);
	ck_assert_uint_eq(cfg.page_size, 1u << 20);
	ck_assert_int_eq(parse1(&cfg, "DSM_PAGE_SIZE", "2M"), -DSM_ECONFIG);

	/* A 1G page needs a heap of two pages at least, even on one node. */
	{
		const struct var v[] = { { "DSM_PAGE_SIZE", "1G" }, { "DSM_CONSISTENCY", "sequential" },
					 { NULL, NULL } };

		ck_assert_int_eq(parse_vars(&cfg, v), -DSM_ECONFIG);
	}
	{
		const struct var v[] = { { "DSM_PAGE_SIZE", "1G" }, { "DSM_HEAP_SIZE", "2G" },
					 { "DSM_CONSISTENCY", "sequential" }, { NULL, NULL } };

		ck_assert_int_eq(parse_vars(&cfg, v), 0);
		ck_assert_uint_eq(cfg.page_size, 1u << 30);
		ck_assert_uint_eq(cfg.heap_size, 2ull << 30);
	}
}
END_TEST

START_TEST(test_parse_stats_restart_checkpoint)
{
	struct dsm_config cfg;

	ck_assert_int_eq(parse1(&cfg, "DSM_STATS", "0"), 0);
	ck_assert_int_eq(cfg.stats, DSM_STATS_OFF);
	ck_assert_int_eq(parse1(&cfg, "DSM_STATS", ""), 0);
	ck_assert_int_eq(cfg.stats, DSM_STATS_OFF);
	ck_assert_int_eq(parse1(&cfg, "DSM_STATS", "1"), 0);
	ck_assert_int_eq(cfg.stats, DSM_STATS_STDERR);
	ck_assert_int_eq(parse1(&cfg, "DSM_STATS", "/tmp/stats.json"), 0);
	ck_assert_int_eq(cfg.stats, DSM_STATS_FILE);
	ck_assert_str_eq(cfg.stats_path, "/tmp/stats.json");
	/* "10" is a file name, not a flag. */
	ck_assert_int_eq(parse1(&cfg, "DSM_STATS", "10"), 0);
	ck_assert_int_eq(cfg.stats, DSM_STATS_FILE);
	ck_assert_str_eq(cfg.stats_path, "10");

	ck_assert_int_eq(parse1(&cfg, "DSM_RESTART", "0"), 0);
	ck_assert(!cfg.restart);
	ck_assert_int_eq(parse1(&cfg, "DSM_RESTART", "1"), 0);
	ck_assert(cfg.restart);

	ck_assert_int_eq(parse1(&cfg, "DSM_CHECKPOINT_DIR", "/scratch/ck"), 0);
	ck_assert_str_eq(cfg.checkpoint_dir, "/scratch/ck");
}
END_TEST

START_TEST(test_parse_log)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	struct dsm_config cfg;

	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(parse1(&cfg, "DSM_LOG", names[i]), 0);
		ck_assert_int_eq(cfg.log_level, i);
		/* The logger obeys it from now on (later messages of parse too). */
		ck_assert_int_eq(dsm_log_level, i);
	}
	ck_assert_int_eq(DSM_LOG_ERROR, 0);
	ck_assert_int_eq(DSM_LOG_DEBUG, 3);
}
END_TEST

START_TEST(test_parse_tuning)
{
	struct dsm_config cfg;

	ck_assert_int_eq(parse1(&cfg, "DSM_HEAP_BASE", "0x200000000000"), 0);
	ck_assert(cfg.heap_base == 0x200000000000ull);
	ck_assert_int_eq(parse1(&cfg, "DSM_HEAP_BASE", "0x10000"), 0);
	ck_assert(cfg.heap_base == 0x10000);

	ck_assert_int_eq(parse1(&cfg, "DSM_HOMES", "static"), 0);
	ck_assert(!cfg.first_touch);
	ck_assert_int_eq(parse1(&cfg, "DSM_HOMES", "first-touch"), 0);
	ck_assert(cfg.first_touch);
	ck_assert_int_eq(parse1(&cfg, "DSM_HOME_BLOCK", "1"), 0);
	ck_assert_uint_eq(cfg.home_block, 1);
	ck_assert_int_eq(parse1(&cfg, "DSM_HOME_BLOCK", "16"), 0);
	ck_assert_uint_eq(cfg.home_block, 16);
	ck_assert_int_eq(parse1(&cfg, "DSM_HOME_BLOCK", "1048576"), 0);
	ck_assert_uint_eq(cfg.home_block, 1048576);

	ck_assert_int_eq(parse1(&cfg, "DSM_CONNECT_TIMEOUT", "1"), 0);
	ck_assert_uint_eq(cfg.connect_timeout_ms, 1000);
	ck_assert_int_eq(parse1(&cfg, "DSM_CONNECT_TIMEOUT", "3600"), 0);
	ck_assert_uint_eq(cfg.connect_timeout_ms, 3600000);
	ck_assert_int_eq(parse1(&cfg, "DSM_FAILURE_TIMEOUT", "1"), 0);
	ck_assert_uint_eq(cfg.failure_timeout_ms, 1000);
	ck_assert_int_eq(parse1(&cfg, "DSM_FAILURE_TIMEOUT", "3600"), 0);
	ck_assert_uint_eq(cfg.failure_timeout_ms, 3600000);

	/* An explicit DSM_POLL_US wins over the CPU-count heuristic. */
	ck_assert_int_eq(parse1(&cfg, "DSM_POLL_US", "0"), 0);
	ck_assert_uint_eq(cfg.poll_ns, 0);
	ck_assert_int_eq(parse1(&cfg, "DSM_POLL_US", "250"), 0);
	ck_assert_uint_eq(cfg.poll_ns, 250000);
	ck_assert_int_eq(parse1(&cfg, "DSM_POLL_US", "1000000"), 0);
	ck_assert_uint_eq(cfg.poll_ns, 1000000000ull);
}
END_TEST

/* Every value a variable does not accept is an error, never ignored. */
START_TEST(test_parse_bad_values)
{
	static const struct var bad[] = {
		{ "DSM_CONSISTENCY", "bogus" },
		{ "DSM_CONSISTENCY", "" },
		{ "DSM_CONSISTENCY", "Weak" },
		{ "DSM_CONSISTENCY", "weak " },
		{ "DSM_TRANSPORT", "udp" },
		{ "DSM_TRANSPORT", "" },
		{ "DSM_HEAP_SIZE", "1020K" },	/* too small, though 255 whole pages */
		{ "DSM_HEAP_SIZE", "4096" },
		{ "DSM_HEAP_SIZE", "0" },
		{ "DSM_HEAP_SIZE", "17T" },	/* too large */
		{ "DSM_HEAP_SIZE", "lots" },
		{ "DSM_HEAP_SIZE", "" },
		{ "DSM_PAGE_SIZE", "3000" },
		{ "DSM_PAGE_SIZE", "6K" },	/* not a power of two */
		{ "DSM_PAGE_SIZE", "12288" },
		{ "DSM_PAGE_SIZE", "2K" },	/* smaller than 4K */
		{ "DSM_PAGE_SIZE", "0" },
		{ "DSM_PAGE_SIZE", "2G" },	/* larger than 1G */
		{ "DSM_PAGE_SIZE", "4KB!" },
		{ "DSM_FAULT_BACKEND", "nope" },
		{ "DSM_FAULT_BACKEND", "" },
		{ "DSM_NUMA", "x" },
		{ "DSM_NUMA", "first_touch" },
		{ "DSM_LOG", "loud" },
		{ "DSM_LOG", "" },
		{ "DSM_LOG", "3" },
		{ "DSM_RESTART", "2" },
		{ "DSM_RESTART", "yes" },
		{ "DSM_RESTART", "" },
		{ "DSM_CHECKPOINT_DIR", "" },
		{ "DSM_HEAP_BASE", "0" },
		{ "DSM_HEAP_BASE", "0x200000001000" },	/* not 64 KiB aligned */
		{ "DSM_HEAP_BASE", "0x800000000000" },	/* not a user address */
		{ "DSM_HEAP_BASE", "0x1000zz" },
		{ "DSM_HEAP_BASE", "99999999999999999999999" },
		{ "DSM_HOMES", "first_touch" },
		{ "DSM_HOMES", "" },
		{ "DSM_HOME_BLOCK", "0" },
		{ "DSM_HOME_BLOCK", "1048577" },
		{ "DSM_HOME_BLOCK", "-1" },
		{ "DSM_CONNECT_TIMEOUT", "0" },
		{ "DSM_CONNECT_TIMEOUT", "3601" },
		{ "DSM_CONNECT_TIMEOUT", "1s" },
		{ "DSM_FAILURE_TIMEOUT", "0" },
		{ "DSM_FAILURE_TIMEOUT", "3601" },
		{ "DSM_FAILURE_TIMEOUT", "abc" },
		{ "DSM_FAILURE_TIMEOUT", "-1" },
		{ "DSM_POLL_US", "1000001" },
		{ "DSM_POLL_US", "-5" },
	};
	struct dsm_config cfg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse1(&cfg, bad[i].name, bad[i].val) == -DSM_ECONFIG,
			      "%s='%s' accepted", bad[i].name, bad[i].val);
}
END_TEST

/* The RDMA transport's device, port and GID index: defaults, values, refusals. */
START_TEST(test_parse_rdma)
{
	static const struct var bad[] = {
		{ "DSM_RDMA_DEVICE", "" },
		{ "DSM_RDMA_DEVICE", "mlx5/0" },
		{ "DSM_RDMA_DEVICE", "../rxe0" },
		{ "DSM_RDMA_DEVICE", "mlx5 0" },
		{ "DSM_RDMA_DEVICE", "mlx5\t0" },
		{ "DSM_RDMA_PORT", "0" },
		{ "DSM_RDMA_PORT", "256" },
		{ "DSM_RDMA_PORT", "x" },
		{ "DSM_RDMA_PORT", "" },
		{ "DSM_RDMA_PORT", "-1" },
		{ "DSM_RDMA_PORT", "1x" },
		{ "DSM_RDMA_GID_INDEX", "256" },
		{ "DSM_RDMA_GID_INDEX", "-1" },
		{ "DSM_RDMA_GID_INDEX", "x" },
		{ "DSM_RDMA_GID_INDEX", "" },
	};
	static const struct var all[] = {
		{ "DSM_TRANSPORT", "rdma" },
		{ "DSM_RDMA_DEVICE", "rxe0" },
		{ "DSM_RDMA_PORT", "1" },
		{ "DSM_RDMA_GID_INDEX", "1" },
		{ NULL, NULL },
	};
	struct dsm_config cfg;
	char longest[sizeof(cfg.rdma_device) + 1];

	/* Defaults: any device, any active port, GID index 0. */
	memset(&cfg, 0x5a, sizeof(cfg));
	ck_assert_int_eq(parse_vars(&cfg, NULL), 0);
	ck_assert_str_eq(cfg.rdma_device, "");
	ck_assert_uint_eq(cfg.rdma_port, 0);
	ck_assert_uint_eq(cfg.rdma_gid_index, 0);

	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_DEVICE", "mlx5_0"), 0);
	ck_assert_str_eq(cfg.rdma_device, "mlx5_0");
	ck_assert_uint_eq(cfg.rdma_port, 0);
	ck_assert_uint_eq(cfg.rdma_gid_index, 0);
	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_PORT", "2"), 0);
	ck_assert_uint_eq(cfg.rdma_port, 2);
	ck_assert_str_eq(cfg.rdma_device, "");
	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_PORT", "1"), 0);
	ck_assert_uint_eq(cfg.rdma_port, 1);
	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_PORT", "255"), 0);
	ck_assert_uint_eq(cfg.rdma_port, 255);
	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_GID_INDEX", "3"), 0);
	ck_assert_uint_eq(cfg.rdma_gid_index, 3);
	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_GID_INDEX", "0"), 0);
	ck_assert_uint_eq(cfg.rdma_gid_index, 0);
	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_GID_INDEX", "255"), 0);
	ck_assert_uint_eq(cfg.rdma_gid_index, 255);

	ck_assert_int_eq(parse_vars(&cfg, all), 0);
	ck_assert_str_eq(cfg.transport, "rdma");
	ck_assert_str_eq(cfg.rdma_device, "rxe0");
	ck_assert_uint_eq(cfg.rdma_port, 1);
	ck_assert_uint_eq(cfg.rdma_gid_index, 1);

	/* The longest name that fits is kept whole; one more byte is refused. */
	memset(longest, 'd', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	ck_assert_int_lt(parse1(&cfg, "DSM_RDMA_DEVICE", longest), 0);
	longest[sizeof(longest) - 2] = '\0';
	ck_assert_int_eq(parse1(&cfg, "DSM_RDMA_DEVICE", longest), 0);
	ck_assert_str_eq(cfg.rdma_device, longest);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse1(&cfg, bad[i].name, bad[i].val) == -DSM_ECONFIG,
			      "%s='%s' accepted", bad[i].name, bad[i].val);
}
END_TEST

/* A long DSM_STATS path must be refused, not truncated. */
START_TEST(test_parse_long_paths)
{
	struct dsm_config cfg;
	char *p = malloc(sizeof(cfg.stats_path) + 1);

	ck_assert_ptr_nonnull(p);
	memset(p, 'a', sizeof(cfg.stats_path));
	p[sizeof(cfg.stats_path)] = '\0';
	ck_assert_int_eq(parse1(&cfg, "DSM_STATS", p), -DSM_ECONFIG);
	ck_assert_int_eq(parse1(&cfg, "DSM_CHECKPOINT_DIR", p), -DSM_ECONFIG);
	p[sizeof(cfg.stats_path) - 1] = '\0';	/* the longest that fits */
	ck_assert_int_eq(parse1(&cfg, "DSM_STATS", p), 0);
	ck_assert_int_eq(cfg.stats, DSM_STATS_FILE);
	ck_assert_uint_eq(strlen(cfg.stats_path), sizeof(cfg.stats_path) - 1);
	free(p);
}
END_TEST

/* The heap must hold whole pages, and two per node at least. */
START_TEST(test_parse_heap_page_consistency)
{
	struct dsm_config cfg;
	const struct var not_multiple[] = {
		{ "DSM_HEAP_SIZE", "1052672" },		/* 1M + 4K */
		{ "DSM_PAGE_SIZE", "8K" },
		{ NULL, NULL },
	};
	/* A multiple of the page, but the page is no power of two. */
	const struct var not_pow2[] = {
		{ "DSM_HEAP_SIZE", "12M" },
		{ "DSM_PAGE_SIZE", "12K" },
		{ NULL, NULL },
	};
	const struct var too_small[] = {
		{ "DSM_HEAP_SIZE", "1M" },
		{ "DSM_PAGE_SIZE", "256K" },		/* 4 pages */
		{ "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "3" },
		{ "DSM_ROOT_ADDR", "127.0.0.1:7000" },
		{ "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	const struct var just_enough[] = {
		{ "DSM_HEAP_SIZE", "1M" },
		{ "DSM_PAGE_SIZE", "256K" },		/* 4 pages, 2 per node */
		{ "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "2" },
		{ "DSM_ROOT_ADDR", "127.0.0.1:7000" },
		{ "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};

	ck_assert_int_eq(parse_vars(&cfg, not_multiple), -DSM_ECONFIG);
	ck_assert_int_eq(parse_vars(&cfg, not_pow2), -DSM_ECONFIG);
	ck_assert_int_eq(parse_vars(&cfg, too_small), -DSM_ECONFIG);
	ck_assert_int_eq(parse_vars(&cfg, just_enough), 0);
	ck_assert_int_eq(cfg.num_nodes, 2);
	ck_assert_uint_eq(cfg.heap_size / cfg.page_size, 4);
}
END_TEST

/* ---------- dsm_config_parse: the job ---------- */

START_TEST(test_job_dsm_vars)
{
	static const uint8_t secret0[4] = { 0x00, 0x01, 0x02, 0x03 };
	const struct var v[] = {
		{ "DSM_NODE_ID", "3" }, { "DSM_NUM_NODES", "4" },
		{ "DSM_ROOT_ADDR", "node0.example:7000" },
		{ "DSM_JOB_SECRET", SECRET_HEX },
		{ "DSM_LOCAL_NODES", "2" },
		{ "DSM_LISTEN_FD", "5" },
		{ "DSM_NODE_HOST", "10.0.0.3" },
		{ NULL, NULL },
	};
	struct dsm_config cfg;

	ck_assert_int_eq(parse_vars(&cfg, v), 0);
	ck_assert_int_eq(cfg.node_id, 3);
	ck_assert_int_eq(cfg.num_nodes, 4);
	ck_assert_str_eq(cfg.boot.root_addr, "node0.example:7000");
	ck_assert(cfg.have_secret);
	ck_assert_mem_eq(cfg.secret, secret0, sizeof(secret0));
	ck_assert_uint_eq(cfg.secret[31], 0x0f);
	ck_assert_int_eq(cfg.local_nodes, 2);
	ck_assert_int_eq(cfg.boot.listen_fd, 5);
	ck_assert_str_eq(cfg.boot.node_host, "10.0.0.3");
}
END_TEST

/* An explicit one-node job needs neither a root address nor a secret. */
START_TEST(test_job_one_node)
{
	const struct var v[] = { { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "1" },
				 { NULL, NULL } };
	struct dsm_config cfg;

	ck_assert_int_eq(parse_vars(&cfg, v), 0);
	ck_assert_int_eq(cfg.node_id, 0);
	ck_assert_int_eq(cfg.num_nodes, 1);
	ck_assert(!cfg.have_secret);
}
END_TEST

START_TEST(test_job_launcher_fallbacks)
{
	const struct var slurm[] = {
		{ "SLURM_PROCID", "2" }, { "SLURM_NTASKS", "3" },
		{ "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	const struct var ompi[] = {
		{ "OMPI_COMM_WORLD_RANK", "5" }, { "OMPI_COMM_WORLD_SIZE", "6" },
		{ "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	const struct var pmi[] = {
		{ "PMI_RANK", "1" }, { "PMI_SIZE", "2" },
		{ "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	/* dsmrun's own variables win over an enclosing launcher's. */
	const struct var both[] = {
		{ "SLURM_PROCID", "7" }, { "SLURM_NTASKS", "8" },
		{ "OMPI_COMM_WORLD_RANK", "6" }, { "OMPI_COMM_WORLD_SIZE", "9" },
		{ "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "2" },
		{ "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	/* ...and Slurm's over Open MPI's. */
	const struct var slurm_ompi[] = {
		{ "OMPI_COMM_WORLD_RANK", "0" }, { "OMPI_COMM_WORLD_SIZE", "9" },
		{ "SLURM_PROCID", "1" }, { "SLURM_NTASKS", "4" },
		{ "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	/* ...and Open MPI's over PMI's. */
	const struct var ompi_pmi[] = {
		{ "PMI_RANK", "0" }, { "PMI_SIZE", "9" },
		{ "OMPI_COMM_WORLD_RANK", "2" }, { "OMPI_COMM_WORLD_SIZE", "3" },
		{ "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	struct dsm_config cfg;

	ck_assert_int_eq(parse_vars(&cfg, slurm), 0);
	ck_assert_int_eq(cfg.node_id, 2);
	ck_assert_int_eq(cfg.num_nodes, 3);
	ck_assert_int_eq(parse_vars(&cfg, ompi), 0);
	ck_assert_int_eq(cfg.node_id, 5);
	ck_assert_int_eq(cfg.num_nodes, 6);
	ck_assert_int_eq(parse_vars(&cfg, pmi), 0);
	ck_assert_int_eq(cfg.node_id, 1);
	ck_assert_int_eq(cfg.num_nodes, 2);
	ck_assert_int_eq(parse_vars(&cfg, both), 0);
	ck_assert_int_eq(cfg.node_id, 1);
	ck_assert_int_eq(cfg.num_nodes, 2);
	ck_assert_int_eq(parse_vars(&cfg, slurm_ompi), 0);
	ck_assert_int_eq(cfg.node_id, 1);
	ck_assert_int_eq(cfg.num_nodes, 4);
	ck_assert_int_eq(parse_vars(&cfg, ompi_pmi), 0);
	ck_assert_int_eq(cfg.node_id, 2);
	ck_assert_int_eq(cfg.num_nodes, 3);
}
END_TEST

START_TEST(test_job_bad)
{
	static const struct var bad[][6] = {
		/* node id must be below the node count */
		{ { "DSM_NODE_ID", "4" }, { "DSM_NUM_NODES", "4" },
		  { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX } },
		{ { "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "1" } },
		{ { "SLURM_PROCID", "3" }, { "SLURM_NTASKS", "3" },
		  { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX } },
		{ { "OMPI_COMM_WORLD_RANK", "2" }, { "OMPI_COMM_WORLD_SIZE", "2" },
		  { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX } },
		{ { "DSM_NODE_ID", "-1" }, { "DSM_NUM_NODES", "2" },
		  { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX } },
		/* node count from 1 to DSM_MAX_NODES */
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "0" } },
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "65" },
		  { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX } },
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "two" } },
		/* half a pair */
		{ { "DSM_NODE_ID", "0" } },
		{ { "DSM_NUM_NODES", "2" }, { "DSM_ROOT_ADDR", "h:1" },
		  { "DSM_JOB_SECRET", SECRET_HEX } },
		{ { "SLURM_PROCID", "0" } },
		/* a job of several nodes must know where node 0 is... */
		{ { "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "2" },
		  { "DSM_JOB_SECRET", SECRET_HEX } },
		{ { "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "2" },
		  { "DSM_ROOT_ADDR", "" }, { "DSM_JOB_SECRET", SECRET_HEX } },
		{ { "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "2" },
		  { "DSM_ROOT_ADDR", "hostwithoutport" }, { "DSM_JOB_SECRET", SECRET_HEX } },
		/* ...and the job's secret, well formed */
		{ { "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "2" },
		  { "DSM_ROOT_ADDR", "h:1" } },
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "2" },
		  { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", "" } },
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "2" },
		  { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", "secret" } },
		/* the launcher's helpers */
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "1" }, { "DSM_LOCAL_NODES", "65" } },
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "1" }, { "DSM_LISTEN_FD", "fd3" } },
		{ { "DSM_NODE_ID", "0" }, { "DSM_NUM_NODES", "1" },
		  { "DSM_LISTEN_FD", "2147483648" } },
	};
	struct dsm_config cfg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_vars(&cfg, bad[i]) == -DSM_ECONFIG,
			      "job table %zu (%s=%s ...) accepted", i, bad[i][0].name,
			      bad[i][0].val);
}
END_TEST

START_TEST(test_job_max_nodes)
{
	const struct var v[] = {
		{ "DSM_NODE_ID", "63" }, { "DSM_NUM_NODES", "64" },
		{ "DSM_ROOT_ADDR", "[::1]:7000" }, { "DSM_JOB_SECRET", SECRET_HEX },
		{ NULL, NULL },
	};
	struct dsm_config cfg;

	ck_assert_int_eq(DSM_MAX_NODES, 64);
	ck_assert_int_eq(parse_vars(&cfg, v), 0);
	ck_assert_int_eq(cfg.node_id, 63);
	ck_assert_int_eq(cfg.num_nodes, 64);
	ck_assert_str_eq(cfg.boot.root_addr, "[::1]:7000");
}
END_TEST

/* ---------- dsm_config_load: argv and the environment ---------- */

START_TEST(test_load_consumes_options)
{
	char *args[] = { "prog", "a", "--dsm-consistency=weak", "b", "--dsm-page-size", "8K",
			 "c", NULL };
	char **argv = args;
	int argc = 7;
	struct dsm_config cfg;

	clear_job_env();
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	ck_assert_int_eq(cfg.consistency, DSM_WEAK);
	ck_assert_uint_eq(cfg.page_size, 8192);

	/* The program's own arguments remain, in order, NULL-terminated. */
	ck_assert_int_eq(argc, 4);
	ck_assert_ptr_eq(argv, args);
	ck_assert_str_eq(argv[0], "prog");
	ck_assert_str_eq(argv[1], "a");
	ck_assert_str_eq(argv[2], "b");
	ck_assert_str_eq(argv[3], "c");
	ck_assert_ptr_null(argv[4]);
}
END_TEST

START_TEST(test_load_dash_names)
{
	char *args[] = { "prog", "--dsm-fault-backend=userfaultfd", "--dsm-heap-size", "64M",
			 "--dsm-home-block=4", "--dsm-numa", "first-touch", NULL };
	char **argv = args;
	int argc = 7;
	struct dsm_config cfg;

	clear_job_env();
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	/* '-' in NAME stands for '_' in DSM_NAME */
	ck_assert_str_eq(cfg.fault_backend, "userfaultfd");
	ck_assert_uint_eq(cfg.heap_size, 64u << 20);
	ck_assert_uint_eq(cfg.home_block, 4);
	ck_assert_int_eq(cfg.numa, DSM_NUMA_FIRST_TOUCH);
	ck_assert_int_eq(argc, 1);
	ck_assert_str_eq(argv[0], "prog");
	ck_assert_ptr_null(argv[1]);
}
END_TEST

START_TEST(test_load_double_dash_stops)
{
	char *args[] = { "prog", "--dsm-log=error", "x", "--", "--dsm-consistency=weak",
			 "--dsm-page-size", "8K", NULL };
	char **argv = args;
	int argc = 7;
	struct dsm_config cfg;

	clear_job_env();
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	ck_assert_int_eq(cfg.log_level, DSM_LOG_ERROR);	/* before "--": consumed */
	ck_assert_int_eq(cfg.consistency, DSM_RELEASE);	/* after it: the program's */
	ck_assert_uint_eq(cfg.page_size, 4096);

	/*
	 * "--" itself is not a --dsm option: it stays, so the program's own
	 * option parser still sees where its options end.
	 */
	ck_assert_int_eq(argc, 6);
	ck_assert_str_eq(argv[0], "prog");
	ck_assert_str_eq(argv[1], "x");
	ck_assert_str_eq(argv[2], "--");
	ck_assert_str_eq(argv[3], "--dsm-consistency=weak");
	ck_assert_str_eq(argv[4], "--dsm-page-size");
	ck_assert_str_eq(argv[5], "8K");
	ck_assert_ptr_null(argv[6]);
}
END_TEST

START_TEST(test_load_options_override_env)
{
	char *args[] = { "prog", "--dsm-consistency=weak", "--dsm-page-size=8K",
			 "--dsm-page-size=16K", NULL };
	char **argv = args;
	int argc = 4;
	struct dsm_config cfg;

	clear_job_env();
	setenv("DSM_CONSISTENCY", "release", 1);
	setenv("DSM_PAGE_SIZE", "64K", 1);
	setenv("DSM_TRANSPORT", "rdma", 1);
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	ck_assert_int_eq(cfg.consistency, DSM_WEAK);	/* option beats variable */
	ck_assert_uint_eq(cfg.page_size, 16384);	/* the last option wins */
	ck_assert_str_eq(cfg.transport, "rdma");	/* no option: the variable */
	ck_assert_int_eq(argc, 1);

	/* Without options, the environment alone. */
	ck_assert_int_eq(dsm_config_load(&cfg, NULL, NULL), 0);
	ck_assert_int_eq(cfg.consistency, DSM_RELEASE);
	ck_assert_uint_eq(cfg.page_size, 65536);

	/* A bad value in the environment fails the load... */
	setenv("DSM_CONSISTENCY", "bogus", 1);
	argc = 1;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
	/* ...unless an option overrides it. */
	{
		char *args2[] = { "prog", "--dsm-consistency", "sequential", NULL };
		char **argv2 = args2;
		int argc2 = 3;

		ck_assert_int_eq(dsm_config_load(&cfg, &argc2, &argv2), 0);
		ck_assert_int_eq(cfg.consistency, DSM_SEQUENTIAL);
		ck_assert_int_eq(argc2, 1);
	}
}
END_TEST

START_TEST(test_load_env_job)
{
	struct dsm_config cfg;

	clear_job_env();
	setenv("SLURM_PROCID", "1", 1);
	setenv("SLURM_NTASKS", "2", 1);
	ck_assert_int_eq(dsm_config_load(&cfg, NULL, NULL), -DSM_ECONFIG);	/* no root, no secret */
	setenv("DSM_ROOT_ADDR", "127.0.0.1:9", 1);
	ck_assert_int_eq(dsm_config_load(&cfg, NULL, NULL), -DSM_ECONFIG);	/* no secret */
	setenv("DSM_JOB_SECRET", SECRET_HEX, 1);
	ck_assert_int_eq(dsm_config_load(&cfg, NULL, NULL), 0);
	ck_assert_int_eq(cfg.node_id, 1);
	ck_assert_int_eq(cfg.num_nodes, 2);
	ck_assert(cfg.have_secret);
}
END_TEST

START_TEST(test_load_bad_options)
{
	char *missing[] = { "prog", "--dsm-page-size", NULL };
	char *empty[] = { "prog", "--dsm-=x", NULL };
	char *bare[] = { "prog", "--dsm-", "x", NULL };
	char *badval[] = { "prog", "--dsm-consistency=bogus", NULL };
	char *longname[] = { "prog",
		"--dsm-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", NULL };
	char **argv;
	int argc;
	struct dsm_config cfg;

	clear_job_env();
	argv = missing;
	argc = 2;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
	argv = empty;
	argc = 2;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
	argv = bare;
	argc = 3;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
	argv = badval;
	argc = 2;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
	argv = longname;
	argc = 2;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
}
END_TEST

/* More options than the table holds: an error, never a silent drop. */
START_TEST(test_load_too_many_options)
{
	char *args[42];
	char **argv = args;
	int argc = 0;
	struct dsm_config cfg;

	clear_job_env();
	args[argc++] = "prog";
	for (int i = 0; i < 40; i++)
		args[argc++] = "--dsm-log=error";
	args[argc] = NULL;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);

	/* 32 fit. */
	argc = 33;
	args[argc] = NULL;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	ck_assert_int_eq(argc, 1);
}
END_TEST

/* Unrelated options that merely look alike are the program's. */
START_TEST(test_load_keeps_lookalikes)
{
	char *args[] = { "prog", "--dsm", "-dsm-log=error", "--dsmlog=x", "--DSM-LOG=x", NULL };
	char **argv = args;
	int argc = 5;
	struct dsm_config cfg;

	clear_job_env();
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	ck_assert_int_eq(argc, 5);
	ck_assert_str_eq(argv[1], "--dsm");
	ck_assert_str_eq(argv[2], "-dsm-log=error");
	ck_assert_str_eq(argv[3], "--dsmlog=x");
	ck_assert_str_eq(argv[4], "--DSM-LOG=x");
	ck_assert_int_eq(cfg.log_level, DSM_LOG_WARN);
}
END_TEST

/* Only the names of libdsm's variables: a typo is an error, not ignored. */
START_TEST(test_load_unknown_option)
{
	char *bogus[] = { "prog", "--dsm-bogus=1", NULL };
	char *typo[] = { "prog", "--dsm-consistancy=weak", NULL };
	char *job[] = { "prog", "--dsm-node-id=0", "--dsm-num-nodes=1", "--dsm-node-host",
			"10.1.2.3", "--dsm-poll-us=7", NULL };
	char **argv;
	int argc;
	struct dsm_config cfg;

	clear_job_env();
	argv = bogus;
	argc = 2;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
	argv = typo;
	argc = 2;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), -DSM_ECONFIG);
	argv = job;
	argc = 6;
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	ck_assert_str_eq(cfg.boot.node_host, "10.1.2.3");
	ck_assert_uint_eq(cfg.poll_ns, 7000);
	ck_assert_int_eq(argc, 1);

	/* An unknown DSM_* variable only draws a warning. */
	setenv("DSM_CONSISTANCY", "weak", 1);
	ck_assert_int_eq(dsm_config_load(&cfg, NULL, NULL), 0);
	ck_assert_int_eq(cfg.consistency, DSM_RELEASE);
}
END_TEST

/* ---------- the settings every node of a job must share ---------- */

static void settings_of(const struct var *vars, struct dsm_job_settings *out)
{
	struct dsm_config cfg;

	ck_assert_int_eq(parse_vars(&cfg, vars), 0);
	dsm_config_settings(&cfg, out);
}

#define JOB2(id) { "DSM_NODE_ID", id }, { "DSM_NUM_NODES", "2" }, \
		 { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX }

START_TEST(test_settings_diff)
{
	const struct var node0[] = { JOB2("0"), { "DSM_STATS", "1" }, { NULL, NULL } };
	const struct var node1[] = { JOB2("1"), { "DSM_LOG", "debug" }, { NULL, NULL } };
	const struct var page8k[] = { JOB2("1"), { "DSM_PAGE_SIZE", "8K" }, { NULL, NULL } };
	const struct var rdma[] = { JOB2("1"), { "DSM_TRANSPORT", "rdma" }, { NULL, NULL } };
	const struct var uffd[] = { JOB2("1"), { "DSM_FAULT_BACKEND", "userfaultfd" },
				    { NULL, NULL } };
	const struct var statsfile[] = { JOB2("1"), { "DSM_STATS", "/tmp/s.json" },
					 { NULL, NULL } };
	const struct var weak[] = { JOB2("1"), { "DSM_CONSISTENCY", "weak" }, { NULL, NULL } };
	const struct var block[] = { JOB2("1"), { "DSM_HOME_BLOCK", "8" }, { NULL, NULL } };
	const struct var three[] = { { "DSM_NODE_ID", "1" }, { "DSM_NUM_NODES", "3" },
				     { "DSM_ROOT_ADDR", "h:1" }, { "DSM_JOB_SECRET", SECRET_HEX },
				     { NULL, NULL } };
	const struct {
		const struct var *vars;
		const char *names;
	} differ[] = {
		{ page8k, "DSM_PAGE_SIZE" },
		{ rdma, "DSM_TRANSPORT" },
		{ uffd, "DSM_FAULT_BACKEND" },
		{ statsfile, "DSM_STATS" },
		{ weak, "DSM_CONSISTENCY" },
		{ block, "DSM_HOME_BLOCK" },
		{ three, "node count" },
	};
	struct dsm_job_settings a, b;
	char buf[256];
	const char *why;

	/* Node ids, logging and stats on stderr may differ between nodes. */
	settings_of(node0, &a);
	settings_of(node1, &b);
	ck_assert_ptr_null(dsm_config_settings_diff(&a, &b, buf, sizeof(buf)));
	ck_assert_ptr_null(dsm_config_settings_diff(&b, &a, buf, sizeof(buf)));

	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		settings_of(differ[i].vars, &b);
		why = dsm_config_settings_diff(&a, &b, buf, sizeof(buf));
		ck_assert_msg(why != NULL, "a different %s went unnoticed", differ[i].names);
		ck_assert_ptr_eq(why, buf);
		ck_assert_msg(strstr(why, differ[i].names), "'%s' does not name %s", why,
			      differ[i].names);
		ck_assert_ptr_nonnull(dsm_config_settings_diff(&b, &a, buf, sizeof(buf)));
	}
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("parsers");
	tcase_add_test(tc, test_size_valid);
	tcase_add_test(tc, test_size_invalid);
	tcase_add_test(tc, test_uint);
	tcase_add_test(tc, test_uint_top_of_range);
	tcase_add_test(tc, test_secret);
	tcase_add_test(tc, test_consistency_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_defaults);
	tcase_add_test(tc, test_parse_consistency);
	tcase_add_test(tc, test_parse_transport_backend_numa);
	tcase_add_test(tc, test_parse_heap_and_page_size);
	tcase_add_test(tc, test_parse_stats_restart_checkpoint);
	tcase_add_test(tc, test_parse_log);
	tcase_add_test(tc, test_parse_tuning);
	tcase_add_test(tc, test_parse_bad_values);
	tcase_add_test(tc, test_parse_rdma);
	tcase_add_test(tc, test_parse_long_paths);
	tcase_add_test(tc, test_parse_heap_page_consistency);
	suite_add_tcase(s, tc);

	tc = tcase_create("job");
	tcase_add_test(tc, test_job_dsm_vars);
	tcase_add_test(tc, test_job_one_node);
	tcase_add_test(tc, test_job_launcher_fallbacks);
	tcase_add_test(tc, test_job_bad);
	tcase_add_test(tc, test_job_max_nodes);
	suite_add_tcase(s, tc);

	/* These change the environment: fork mode keeps each test's to itself. */
	tc = tcase_create("load");
	tcase_add_test(tc, test_load_consumes_options);
	tcase_add_test(tc, test_load_dash_names);
	tcase_add_test(tc, test_load_double_dash_stops);
	tcase_add_test(tc, test_load_options_override_env);
	tcase_add_test(tc, test_load_env_job);
	tcase_add_test(tc, test_load_bad_options);
	tcase_add_test(tc, test_load_too_many_options);
	tcase_add_test(tc, test_load_keeps_lookalikes);
	tcase_add_test(tc, test_load_unknown_option);
	suite_add_tcase(s, tc);

	tc = tcase_create("settings");
	tcase_add_test(tc, test_settings_diff);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
