/* SPDX-License-Identifier: BSD-3-Clause */
/* fault_fixture.c - the fault backends' tests' heap, handler and helpers. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/conformance/fault_fixture.h"

struct dsm_heap heap;
struct dsm_fault fault;
bool fault_open;

struct rec recs[MAXREC];
int page_faults[NPAGES][3];
uint8_t *page_prot;
int prot_lock;
static int nfaults;
static int handler_fails;	/* returned by the handler if non-zero */

int test_handler(void *ctx, void *addr, enum dsm_access access)
{
	struct dsm_fault *f = ctx;
	size_t page = dsm_heap_page_of(f->params.heap, addr);
	int idx = __atomic_fetch_add(&nfaults, 1, __ATOMIC_SEQ_CST);
	enum dsm_prot want = access == DSM_ACCESS_READ ? DSM_PROT_READ : DSM_PROT_RW;
	int fail;

	if (idx < MAXREC) {
		recs[idx].page = page;
		recs[idx].addr = addr;
		recs[idx].access = access;
	}
	if (page < NPAGES && access <= DSM_ACCESS_UNKNOWN)
		__atomic_fetch_add(&page_faults[page][access], 1, __ATOMIC_SEQ_CST);
	fail = __atomic_load_n(&handler_fails, __ATOMIC_RELAXED);
	if (fail)
		return fail;

	prot_lock_take();
	if (__atomic_load_n(&page_prot[page], __ATOMIC_RELAXED) > want)
		want = (enum dsm_prot)page_prot[page];
	__atomic_store_n(&page_prot[page], (uint8_t)want, __ATOMIC_RELAXED);
	dsm_fault_protect(f, page, 1, want);
	prot_lock_give();
	return 0;
}

void fail_handler(int err)
{
	__atomic_store_n(&handler_fails, err, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);	/* before the access, see set_prot() */
}

void set_prot(size_t page, size_t npages, enum dsm_prot prot)
{
	dsm_fault_protect(&fault, page, npages, prot);
	for (size_t i = page; i < page + npages; i++)
		__atomic_store_n(&page_prot[i], (uint8_t)prot, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void forget_grants(void)
{
	for (size_t i = 0; i < heap.npages; i++)
		__atomic_store_n(&page_prot[i], (uint8_t)DSM_PROT_NONE, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void prot_lock_take(void)
{
	while (__atomic_exchange_n(&prot_lock, 1, __ATOMIC_ACQUIRE))
		;
}

void prot_lock_give(void)
{
	__atomic_store_n(&prot_lock, 0, __ATOMIC_RELEASE);
}

int faults(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&nfaults, __ATOMIC_SEQ_CST);
}

void assert_access(enum dsm_access got, enum dsm_access want)
{
#if defined(__x86_64__)
	ck_assert_int_eq(got, want);
#else
	ck_assert(got == want || got == DSM_ACCESS_UNKNOWN);
#endif
}

void open_backend(const char *name)
{
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };

	ck_assert_int_eq(dsm_fault_open(name, &p, &fault), 0);
	fault_open = true;
}

uintptr_t test_heap_base(void)
{
	const char *v = getenv("DSM_TEST_HEAP_BASE");

	return v && *v ? (uintptr_t)strtoull(v, NULL, 0) : (uintptr_t)0x200000000000ull;
}

/* ---------- fixtures (checked: they run in the forked child) ---------- */

static void map_heap(size_t size)
{
	memset(recs, 0, sizeof(recs));
	memset(page_faults, 0, sizeof(page_faults));
	page_prot = calloc(size / PAGE, 1);
	ck_assert_ptr_nonnull(page_prot);
	nfaults = 0;
	prot_lock = 0;
	handler_fails = 0;
	fault_open = false;
	memset(&fault, 0, sizeof(fault));
	ck_assert_int_eq(dsm_heap_map(&heap, HEAP_BASE, size, PAGE), 0);
}

void heap_setup(void)
{
	map_heap(HEAP_SIZE);
}

void big_heap_setup(void)
{
	map_heap(BIG_SIZE);
}

void heap_teardown(void)
{
	if (fault_open)
		dsm_fault_close(&fault);
	fault_open = false;
	dsm_heap_unmap(&heap);
	free(page_prot);
	page_prot = NULL;
}

/* ---------- helpers ---------- */

bool signal_is_default(int sig)
{
	struct sigaction cur;

	ck_assert_int_eq(sigaction(sig, NULL, &cur), 0);
	return !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL;
}

long max_map_count(void)
{
	FILE *fp = fopen("/proc/sys/vm/max_map_count", "r");
	long v = 65530;

	if (fp) {
		if (fscanf(fp, "%ld", &v) != 1)
			v = 65530;
		fclose(fp);
	}
	return v;
}

void protect_alternating(size_t npages)
{
	for (size_t page = 0; page < npages; page += 2)
		dsm_fault_protect(&fault, page, 1, DSM_PROT_READ);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
