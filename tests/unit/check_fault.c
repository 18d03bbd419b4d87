/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for kernel-shim: the shared heap's two views of one memfd
 * (mem/heap.c), the choice of a fault backend (fault/fault.c), and what
 * only the sigsegv backend does (fault/sigsegv.c).  What every backend
 * must do is tests/conformance/check_fault_backends.c, run for sigsegv and
 * userfaultfd alike; what only userfaultfd does is tests/unit/check_uffd.c.
 *
 * Every test that installs a SIGSEGV handler or changes protections runs
 * in Check's forked child, and backends are opened in checked fixtures
 * (which run in that child too), so nothing leaks between tests
 * (STYLE.md section 6).  Do not run this file with CK_FORK=no except
 * under gdb on a single test: the crash tests need their own process.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tests/conformance/fault_fixture.h"

/* ---------- helpers ---------- */

/* The permissions column of /proc/self/maps for the mapping at addr. */
static bool maps_perms(const void *addr, char perms[5])
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp)) {
		unsigned long lo, hi;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 &&
		    (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
			memcpy(perms, p, 5);
			found = true;
			break;
		}
	}
	fclose(fp);
	return found;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---------- the heap's two views ---------- */

START_TEST(test_heap_layout)
{
	char perms[5];

	ck_assert_ptr_eq(heap.app, (char *)HEAP_BASE);
	ck_assert_ptr_nonnull(heap.rt);
	ck_assert_ptr_ne(heap.rt, heap.app);
	ck_assert_uint_eq(heap.size, HEAP_SIZE);
	ck_assert_uint_eq(heap.page_size, PAGE);
	ck_assert_uint_eq(heap.page_shift, 12);
	ck_assert_uint_eq(heap.npages, NPAGES);
	ck_assert_int_ge(heap.memfd, 0);

	/* The application's view starts inaccessible, the runtime's writable;
	 * both shared, so they are one memory. */
	ck_assert(maps_perms(heap.app, perms));
	ck_assert_str_eq(perms, "---s");
	ck_assert(maps_perms(heap.app + HEAP_SIZE - 1, perms));
	ck_assert_str_eq(perms, "---s");
	ck_assert(maps_perms(heap.rt, perms));
	ck_assert_str_eq(perms, "rw-s");

	ck_assert(dsm_heap_contains(&heap, heap.app));
	ck_assert(dsm_heap_contains(&heap, heap.app + HEAP_SIZE - 1));
	ck_assert(!dsm_heap_contains(&heap, heap.app + HEAP_SIZE));
	ck_assert(!dsm_heap_contains(&heap, heap.app - 1));
	ck_assert(!dsm_heap_contains(&heap, heap.rt));
	ck_assert_uint_eq(dsm_heap_page_of(&heap, heap.app + 5 * PAGE + 7), 5);
	ck_assert_ptr_eq(dsm_heap_app_page(&heap, 9), heap.app + 9 * PAGE);
	ck_assert_ptr_eq(dsm_heap_rt_page(&heap, 9), heap.rt + 9 * PAGE);
}
END_TEST

START_TEST(test_heap_views_share_memory)
{
	char *rt = dsm_heap_rt_page(&heap, 3), *app = dsm_heap_app_page(&heap, 3);

	/* Fresh memory reads zero. */
	ck_assert_int_eq(rt[0], 0);
	ck_assert_int_eq(rt[PAGE - 1], 0);

	/* runtime writes, application reads */
	strcpy(rt + 100, "through the runtime's view");
	ck_assert_int_eq(mprotect(app, PAGE, PROT_READ), 0);
	ck_assert_str_eq(app + 100, "through the runtime's view");

	/* application writes, runtime reads */
	ck_assert_int_eq(mprotect(app, PAGE, PROT_READ | PROT_WRITE), 0);
	strcpy(app + 2000, "and back");
	ck_assert_str_eq(rt + 2000, "and back");

	/* Other pages are untouched. */
	ck_assert_int_eq(dsm_heap_rt_page(&heap, 2)[100], 0);
	ck_assert_int_eq(dsm_heap_rt_page(&heap, 4)[100], 0);
}
END_TEST

START_TEST(test_heap_unmap)
{
	char perms[5];

	dsm_heap_unmap(&heap);
	ck_assert(!maps_perms((void *)HEAP_BASE, perms));
	ck_assert_ptr_null(heap.app);
	ck_assert_ptr_null(heap.rt);
	ck_assert_int_eq(heap.memfd, -1);
	/* The range is free again. */
	ck_assert_int_eq(dsm_heap_map(&heap, HEAP_BASE, HEAP_SIZE, PAGE), 0);
}
END_TEST

/* MAP_FIXED_NOREPLACE: a taken range is an error, never clobbered. */
START_TEST(test_heap_map_busy)
{
	struct dsm_heap other;
	char perms[5];
	int fds = count_fds();

	heap.rt[123] = 42;
	ck_assert_int_eq(dsm_heap_map(&other, HEAP_BASE, HEAP_SIZE, PAGE), -DSM_EHEAP);
	ck_assert_int_eq(dsm_heap_map(&other, HEAP_BASE + HEAP_SIZE / 2, HEAP_SIZE, PAGE),
			 -DSM_EHEAP);
	ck_assert_int_eq(dsm_heap_map(&other, HEAP_BASE - HEAP_SIZE / 2, HEAP_SIZE, PAGE),
			 -DSM_EHEAP);
	ck_assert_int_eq(count_fds(), fds);	/* the memfds were closed */

	/* The first heap is intact, its application view still PROT_NONE. */
	ck_assert(maps_perms(heap.app, perms));
	ck_assert_str_eq(perms, "---s");
	ck_assert_int_eq(mprotect(heap.app, PAGE, PROT_READ), 0);
	ck_assert_int_eq(heap.app[123], 42);

	/* A free range right next to it works. */
	ck_assert_int_eq(dsm_heap_map(&other, HEAP_BASE + HEAP_SIZE, HEAP_SIZE, PAGE), 0);
	ck_assert_ptr_eq(other.app, (char *)(HEAP_BASE + HEAP_SIZE));
	dsm_heap_unmap(&other);
}
END_TEST

/* ---------- choosing a backend ---------- */

START_TEST(test_open_default_picks_sigsegv)
{
	volatile char *p = (volatile char *)heap.app;

	ck_assert(signal_is_default(SIGSEGV));
	open_backend(NULL);		/* "the best this host has" */
	ck_assert_ptr_eq(fault.ops, &dsm_sigsegv_ops);
	ck_assert_str_eq(fault.ops->name, "sigsegv");
	ck_assert_ptr_eq(fault.params.heap, &heap);
	ck_assert(!signal_is_default(SIGSEGV));
	p[0] = 1;
	ck_assert_int_eq(faults(), 1);
	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert_ptr_null(fault.ops);
	ck_assert(signal_is_default(SIGSEGV));
	/* Protections are left as they were: the page stays writable. */
	p[1] = 2;
	ck_assert_int_eq(heap.rt[1], 2);
}
END_TEST

START_TEST(test_open_userfaultfd)
{
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };
	int probe = dsm_uffd_ops.probe();

	/*
	 * Naming a backend picks exactly that backend: where this host can
	 * run userfaultfd it opens (and leaves SIGSEGV alone: it traps with
	 * SIGBUS); where it cannot, the probe's error comes back and nothing
	 * falls back to sigsegv silently.  tests/conformance/check_fault_backends.c
	 * and tests/unit/check_uffd.c test the backend itself.
	 */
	if (probe == 0) {
		ck_assert_int_eq(dsm_fault_open("userfaultfd", &p, &fault), 0);
		ck_assert_ptr_eq(fault.ops, &dsm_uffd_ops);
		ck_assert(signal_is_default(SIGSEGV));
		dsm_fault_close(&fault);
	} else {
		ck_assert_int_eq(dsm_fault_open("userfaultfd", &p, &fault), probe);
		ck_assert_ptr_null(fault.ops);
		ck_assert(signal_is_default(SIGSEGV));
	}
}
END_TEST

START_TEST(test_open_unknown)
{
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };

	ck_assert_int_eq(dsm_fault_open("nope", &p, &fault), -DSM_ECONFIG);
	ck_assert_int_eq(dsm_fault_open("", &p, &fault), -DSM_ECONFIG);
	ck_assert_int_eq(dsm_fault_open("SIGSEGV", &p, &fault), -DSM_ECONFIG);
	ck_assert_ptr_null(fault.ops);
	ck_assert(signal_is_default(SIGSEGV));
}
END_TEST

/* ---------- sigsegv's limit: one VMA per run of equal protections ---------- */

/*
 * Past vm.max_map_count distinct protections, mprotect fails with ENOMEM
 * and the backend ends the process with a clear error (sigsegv.c), never
 * leaving a page with the wrong protection.  tests/unit/check_uffd.c shows
 * userfaultfd setting the same protections in one VMA.
 */
START_TEST(test_sigsegv_runs_out_of_vmas)
{
	if (max_map_count() >= (long)BIG_NPAGES) {
		fprintf(stderr, "vm.max_map_count is %ld: cannot show the sigsegv limit here\n",
			max_map_count());
		exit(1);
	}
	open_backend("sigsegv");
	protect_alternating(BIG_NPAGES);
	ck_abort_msg("sigsegv set %lu distinct protections", (unsigned long)BIG_NPAGES);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc;

	tc = tcase_create("heap");
	tcase_add_checked_fixture(tc, heap_setup, heap_teardown);
	tcase_add_test(tc, test_heap_layout);
	tcase_add_test(tc, test_heap_views_share_memory);
	tcase_add_test(tc, test_heap_unmap);
	tcase_add_test(tc, test_heap_map_busy);
	suite_add_tcase(s, tc);

	/* These open the backend themselves, after setting the stage. */
	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, heap_setup, heap_teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_open_default_picks_sigsegv);
	tcase_add_test(tc, test_open_userfaultfd);
	tcase_add_test(tc, test_open_unknown);
	suite_add_tcase(s, tc);

	tc = tcase_create("vmas");
	tcase_add_checked_fixture(tc, big_heap_setup, heap_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_exit_test(tc, test_sigsegv_runs_out_of_vmas, 1);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
