/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for what only the userfaultfd fault backend does
 * (kernel-shim/fault/uffd.c), white-box: they drive dsm_fault_* directly
 * on a heap of their own, with a handler standing in for the protocol
 * (tests/conformance/fault_fixture.h).  What every backend must do,
 * userfaultfd included (holes, invalidation, dropped mappings, threads,
 * faults outside the heap, SIGBUS forwarding, reopening), is
 * tests/conformance/check_fault_backends.c.  Here: the application view
 * stays one VMA, however many distinct protections it holds, and close
 * leaves it plain memory while a reopen starts every page NONE again.
 *
 * Every test runs in Check's forked child (STYLE.md section 6).  The whole
 * binary exits 77 (SKIP) when this host cannot run userfaultfd: probe()
 * refuses it (uffd.c, "Limits").
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/conformance/fault_fixture.h"

/* How many lines of /proc/self/maps overlap [lo, hi). */
static int count_maps(uintptr_t lo, uintptr_t hi)
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo)
			n++;
	}
	fclose(fp);
	return n;
}

/* ---------- opening and closing ---------- */

/*
 * One mapping for the whole view; close unregisters it, so the view is
 * plain memory afterwards (uffd.c, "Limits"), and a reopen starts every
 * page NONE, whatever was mapped before.
 */
START_TEST(test_close_unregisters_reopen_starts_none)
{
	volatile char *p = (volatile char *)heap.app;

	open_backend("userfaultfd");
	ck_assert_int_eq(count_maps(HEAP_BASE, HEAP_BASE + HEAP_SIZE), 1);
	p[0] = 1;
	ck_assert_int_eq(faults(), 1);

	dsm_fault_close(&fault);
	fault_open = false;
	/* Unregistered: the view is plain memory now. */
	p[PAGE] = 2;
	ck_assert_int_eq(heap.rt[PAGE], 2);
	ck_assert_int_eq(faults(), 1);

	/* Open again: every page starts NONE, whatever was mapped before. */
	forget_grants();
	open_backend("userfaultfd");
	ck_assert_int_eq(p[PAGE], 2);
	ck_assert_int_eq(faults(), 2);
	ck_assert_uint_eq(recs[1].page, 1);
	p[0] = 3;
	ck_assert_int_eq(faults(), 3);
	ck_assert_uint_eq(recs[2].page, 0);
}
END_TEST

/* ---------- the point: protections without VMAs ---------- */

/*
 * Every other page READ: far more distinct protections than VMAs allowed.
 * The same ends the sigsegv backend (tests/unit/check_fault.c,
 * test_sigsegv_runs_out_of_vmas): what this backend is for.
 */
START_TEST(test_many_protections_one_vma)
{
	volatile char *p = (volatile char *)heap.app;
	double t0, t1;
	char v;

	open_backend("userfaultfd");
	ck_assert_int_eq(count_maps(HEAP_BASE, HEAP_BASE + BIG_SIZE), 1);
	ck_assert_int_gt((long)BIG_NPAGES, max_map_count());
	for (size_t page = 0; page < BIG_NPAGES; page += 4096)
		heap.rt[page * PAGE + 8] = (char)(page / 4096 + 1);

	t0 = now_s();
	protect_alternating(BIG_NPAGES);
	t1 = now_s();
	fprintf(stderr, "userfaultfd: %lu pages set READ (every other page) in %.3f s, %.2f us each\n",
		(unsigned long)BIG_NPAGES / 2, t1 - t0, (t1 - t0) * 1e6 / (double)(BIG_NPAGES / 2));

	/* Still one mapping for the whole view. */
	ck_assert_int_eq(count_maps(HEAP_BASE, HEAP_BASE + BIG_SIZE), 1);

	/* READ pages read without faulting and hold their data... */
	for (size_t page = 0; page < BIG_NPAGES; page += 2)
		v = p[page * PAGE + 8];
	ck_assert_int_eq(faults(), 0);
	for (size_t page = 0; page < BIG_NPAGES; page += 4096)
		ck_assert_int_eq(p[page * PAGE + 8], (char)(page / 4096 + 1));
	/* ...NONE pages fault, writes to READ pages fault. */
	v = p[1 * PAGE];
	v = p[(BIG_NPAGES - 1) * PAGE];
	(void)v;
	ck_assert_int_eq(faults(), 2);
	p[(BIG_NPAGES - 2) * PAGE] = 1;
	ck_assert_int_eq(faults(), 3);
	assert_access(recs[2].access, DSM_ACCESS_WRITE);

	/* And back to NONE everywhere in one call. */
	dsm_fault_protect(&fault, 0, BIG_NPAGES, DSM_PROT_NONE);
	ck_assert_int_eq(count_maps(HEAP_BASE, HEAP_BASE + BIG_SIZE), 1);
	v = p[4096 * PAGE + 8];
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(faults(), 4);
}
END_TEST

static Suite *uffd_suite(void)
{
	Suite *s = suite_create("uffd");
	TCase *tc;

	/* These open the backend themselves. */
	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, heap_setup, heap_teardown);
	tcase_set_timeout(tc, 20);	/* a lost wake-up or a fault loop hangs */
	tcase_add_test(tc, test_close_unregisters_reopen_starts_none);
	suite_add_tcase(s, tc);

	tc = tcase_create("vmas");
	tcase_add_checked_fixture(tc, big_heap_setup, heap_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_many_protections_one_vma);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr;
	int failures, ret;

	/* SKIP (77) where the host or the build cannot run the backend. */
	ret = dsm_uffd_ops.probe();
	if (ret < 0) {
		printf("SKIP: the userfaultfd backend cannot run here: %s\n", dsm_strerror(ret));
		return 77;
	}
	sr = srunner_create(uffd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
