/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for runtime/numa: the variables it reads (DSM_NUMA, DSM_BIND,
 * DSM_NUMA_PERIOD_MS, DSM_NUMA_SAMPLE; runtime/base/config.c), the
 * topology hwloc gives on this machine, however many domains it has
 * (topology.c), and the migrate policy's rules on made-up evidence for
 * two domains (migrate.c: dsm_numa_target, dsm_numa_look, dsm_numa_age).
 * Rejections log one line on stderr each: expected output.
 */
#include <check.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "dsm.h"
#include "runtime/base/config.h"
#include "runtime/numa/numa_int.h"

struct var {
	const char *name;
	const char *val;
};

static const char *table_get(const char *name, void *ctx)
{
	for (const struct var *v = ctx; v && v->name; v++)
		if (!strcmp(v->name, name))
			return v->val;
	return NULL;
}

static int parse1(struct dsm_config *cfg, const char *name, const char *val)
{
	const struct var vars[] = { { name, val }, { NULL, NULL } };

	return dsm_config_parse(cfg, table_get, (void *)vars);
}

START_TEST(test_defaults)
{
	struct dsm_config cfg;

	ck_assert_int_eq(dsm_config_parse(&cfg, table_get, NULL), 0);
	ck_assert_int_eq(cfg.numa, DSM_NUMA_OFF);
	ck_assert_int_eq(cfg.bind, DSM_BIND_NONE);
	ck_assert_uint_eq(cfg.numa_period_ms, 10);
	ck_assert_uint_eq(cfg.numa_sample, 1024);
}
END_TEST

START_TEST(test_good_values)
{
	static const char *const numa[] = { "off", "first-touch", "interleave", "migrate" };
	static const char *const bind[] = { "none", "numa", "core" };
	struct dsm_config cfg;

	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(parse1(&cfg, "DSM_NUMA", numa[i]), 0);
		ck_assert_int_eq(cfg.numa, i);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(parse1(&cfg, "DSM_BIND", bind[i]), 0);
		ck_assert_int_eq(cfg.bind, i);
	}
	ck_assert_int_eq(parse1(&cfg, "DSM_NUMA_PERIOD_MS", "1"), 0);
	ck_assert_uint_eq(cfg.numa_period_ms, 1);
	ck_assert_int_eq(parse1(&cfg, "DSM_NUMA_PERIOD_MS", "10000"), 0);
	ck_assert_uint_eq(cfg.numa_period_ms, 10000);
	ck_assert_int_eq(parse1(&cfg, "DSM_NUMA_SAMPLE", "0"), 0);
	ck_assert_uint_eq(cfg.numa_sample, 0);
	ck_assert_int_eq(parse1(&cfg, "DSM_NUMA_SAMPLE", "1048576"), 0);
	ck_assert_uint_eq(cfg.numa_sample, 1048576);
}
END_TEST

START_TEST(test_bad_values)
{
	static const struct var bad[] = {
		{ "DSM_BIND", "" }, { "DSM_BIND", "NUMA" }, { "DSM_BIND", "socket" },
		{ "DSM_NUMA", "first_touch" }, { "DSM_NUMA", "on" },
		{ "DSM_NUMA_PERIOD_MS", "0" }, { "DSM_NUMA_PERIOD_MS", "10001" },
		{ "DSM_NUMA_PERIOD_MS", "5ms" }, { "DSM_NUMA_SAMPLE", "-1" },
		{ "DSM_NUMA_SAMPLE", "1048577" },
	};
	struct dsm_config cfg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse1(&cfg, bad[i].name, bad[i].val) == -DSM_ECONFIG,
			      "%s='%s' accepted", bad[i].name, bad[i].val);
}
END_TEST

START_TEST(test_option_spelling)
{
	char a0[] = "prog", a1[] = "--dsm-bind=core", a2[] = "--dsm-numa-period-ms", a3[] = "50";
	char *args[] = { a0, a1, a2, a3, NULL }, **argv = args;
	struct dsm_config cfg;
	int argc = 4;

	unsetenv("DSM_BIND");
	unsetenv("DSM_NUMA_PERIOD_MS");
	ck_assert_int_eq(dsm_config_load(&cfg, &argc, &argv), 0);
	ck_assert_int_eq(argc, 1);
	ck_assert_int_eq(cfg.bind, DSM_BIND_CORE);
	ck_assert_uint_eq(cfg.numa_period_ms, 50);
}
END_TEST

/* The kernel's count of NUMA nodes, or 0 if /sys does not say. */
static int sys_nodes(void)
{
	glob_t g;
	int n = 0;

	if (glob("/sys/devices/system/node/node[0-9]*", 0, NULL, &g) == 0)
		n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

START_TEST(test_topology)
{
	struct dsm_numa_topo t;
	char line[1024];
	int here;

	ck_assert_int_eq(dsm_numa_topo_load(&t), 0);
	ck_assert_int_ge(t.ndomains, 1);
	if (sys_nodes())
		ck_assert_int_eq(t.ndomains, sys_nodes());
	here = dsm_numa_topo_here(&t);
	ck_assert_int_ge(here, 0);
	ck_assert_int_lt(here, t.ndomains);
	for (int i = 0; i < t.ndomains; i++)
		ck_assert_msg(t.dom[i].cpus[0] || t.ndomains > 1, "domain %d lists no CPU", i);
	if (t.ndomains == 1)
		ck_assert_int_eq(t.bound, 0);	/* every CPU is on the one domain */
	if (t.dist) {
		ck_assert_uint_gt(dsm_numa_topo_dist(&t, 0, 0), 0);
		if (t.ndomains > 1)
			ck_assert_uint_gt(dsm_numa_topo_dist(&t, 0, 1), dsm_numa_topo_dist(&t, 0, 0));
	}
	dsm_numa_topo_describe(&t, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "NUMA domain"));
	ck_assert_ptr_nonnull(strstr(line, "this node runs on"));
	dsm_numa_topo_free(&t);
	ck_assert_ptr_null(t.topo);
}
END_TEST

/* ------------------------------------------------------------ rules */

/* Two domains; a move pays after 40 uses from elsewhere, so the evidence
 * window is 80. */
static struct dsm_numa rules(void)
{
	struct dsm_numa n;

	memset(&n, 0, sizeof(n));
	n.topo.ndomains = 2;
	n.min_accesses = 40;
	n.max_weight = 10;
	n.period_ns = 10000000;
	n.now_ms = 1000;
	return n;
}

/* A page nobody used yet. */
static struct dsm_numa_page blank(void)
{
	struct dsm_numa_page pg;

	memset(&pg, 0, sizeof(pg));
	return pg;
}

/* One period: domain d used the page (w uses counted), the scanner ages
 * the counts and looks; the page is on domain loc. */
static void period(struct dsm_numa *n, struct dsm_numa_page *pg, int loc, int d, uint16_t w)
{
	pg->hits[d] += w;
	dsm_numa_age(n, pg);
	dsm_numa_look(n, pg, loc, (uint16_t)(1u << d));
}

START_TEST(test_age)
{
	struct dsm_numa n = rules();
	struct dsm_numa_page pg = blank();

	pg.hits[0] = 50;
	pg.hits[1] = 29;
	dsm_numa_age(&n, &pg);
	ck_assert_uint_eq(pg.hits[0], 50);	/* 79: below the window */
	pg.hits[1] = 30;
	dsm_numa_age(&n, &pg);
	ck_assert_uint_eq(pg.hits[0], 25);	/* 80: halved */
	ck_assert_uint_eq(pg.hits[1], 15);
}
END_TEST

/* Recency: a page its old domain used a lot (70 uses) goes to the domain
 * that alone used it for 4 looks, once that domain's uses pay for the
 * move, although the old uses still weigh more than 1/4. */
START_TEST(test_takeover)
{
	struct dsm_numa n = rules();
	struct dsm_numa_page pg = blank();

	pg.hits[0] = 70;
	for (int i = 1; i <= 3; i++) {
		period(&n, &pg, 0, 1, 12);
		ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), -1);
	}
	period(&n, &pg, 0, 1, 12);
	ck_assert_uint_lt(pg.hits[1] * 4u, (pg.hits[0] + pg.hits[1]) * 3u);	/* no 3/4 yet */
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), 1);
	/* ... unless its own domain used it meanwhile */
	dsm_numa_look(&n, &pg, 0, 1u << 0);
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), -1);
}
END_TEST

/* Cost: never for fewer uses from elsewhere than a move costs. */
START_TEST(test_cost)
{
	struct dsm_numa n = rules();
	struct dsm_numa_page pg = blank();

	for (int i = 0; i < 4; i++)
		period(&n, &pg, 0, 1, 9);	/* 36 uses, 4 looks in a row */
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), -1);
	period(&n, &pg, 0, 1, 4);
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), 1);
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 1), -1);	/* there already */
	/* by dominance alone, without a run of looks */
	pg = blank();
	pg.hits[1] = 39;
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), -1);
	pg.hits[1] = 40;
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), 1);
	ck_assert_int_eq(dsm_numa_target(&n, &pg, -1), 1);	/* where: ask the kernel */
}
END_TEST

/* The price of a move follows what moves cost: dearer moves need more
 * uses from elsewhere before a page moves. */
START_TEST(test_observed_cost)
{
	struct dsm_numa n = rules();
	struct dsm_numa_page pg = blank();

	n.access_penalty_ns = 1000;
	n.move_cost_ns = 40000;		/* 40 uses: as rules() says */
	ck_assert_uint_eq(dsm_numa_min_accesses(&n, n.move_cost_ns), 40);
	dsm_numa_observe_moves(&n, 0, 0);	/* nothing moved: no change */
	ck_assert_uint_eq(n.min_accesses, 40);
	/* 4 pages at 400 us each: counted as twice the price so far, 80 us */
	dsm_numa_observe_moves(&n, 4 * 400000, 4);
	ck_assert_uint_eq(n.move_cost_ns, (7 * 40000 + 80000) / 8);
	ck_assert_uint_eq(n.min_accesses, 45);
	pg.hits[1] = 44;
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), -1);
	pg.hits[1] = 45;
	ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), 1);
	/* within [half, twice]: taken as it is */
	n.move_cost_ns = 40000;
	dsm_numa_observe_moves(&n, 72000, 1);
	ck_assert_uint_eq(n.move_cost_ns, 44000);
	/* cheap moves bring it back down, never below 2 */
	for (int i = 0; i < 100; i++)
		dsm_numa_observe_moves(&n, 10, 10);
	ck_assert_uint_eq(n.min_accesses, 2);
	/* nor above what the 16-bit counters hold (up 1/8 a batch at most) */
	for (int i = 0; i < 300; i++)
		dsm_numa_observe_moves(&n, 1000000000, 1);
	ck_assert_uint_eq(n.min_accesses, 30000);
}
END_TEST

/* Two domains using a page in turns, look by look: it stays. */
START_TEST(test_shared)
{
	struct dsm_numa n = rules();
	struct dsm_numa_page pg = blank();

	for (int i = 0; i < 40; i++) {
		period(&n, &pg, 0, i % 2, 12);
		ck_assert_int_eq(dsm_numa_target(&n, &pg, 0), -1);
	}
}
END_TEST

/* Adaptive sampling: a remote use brings the interval back to one period,
 * a local one does not; after DSM_NUMA_PROBATION (32) remote looks
 * without a move, remote uses no longer do. */
START_TEST(test_interval)
{
	struct dsm_numa n = rules();
	struct dsm_numa_page pg = blank();

	pg.ilog = 5;
	pg.next_sample = 5000;
	dsm_numa_look(&n, &pg, 0, 1u << 0);
	ck_assert_uint_eq(pg.ilog, 5);
	ck_assert_uint_eq(pg.next_sample, 5000);
	dsm_numa_look(&n, &pg, 0, 1u << 1);
	ck_assert_uint_eq(pg.ilog, 0);
	ck_assert_uint_eq(pg.next_sample, n.now_ms);
	for (int i = 1; i < 32; i++)
		dsm_numa_look(&n, &pg, 0, 1u << 1);
	pg.ilog = 5;
	dsm_numa_look(&n, &pg, 0, 1u << 1);
	ck_assert_uint_eq(pg.ilog, 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("numa");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failures;

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_good_values);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_option_spelling);
	suite_add_tcase(s, tc);
	tc = tcase_create("topology");
	tcase_add_test(tc, test_topology);
	suite_add_tcase(s, tc);
	tc = tcase_create("rules");
	tcase_add_test(tc, test_age);
	tcase_add_test(tc, test_takeover);
	tcase_add_test(tc, test_cost);
	tcase_add_test(tc, test_observed_cost);
	tcase_add_test(tc, test_shared);
	tcase_add_test(tc, test_interval);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
