/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for kernel-shim: the shared heap's two views of one memfd
 * (mem/heap.c) and the fault backends (fault/fault.c, fault/sigsegv.c,
 * fault/uffd.c).
 *
 * Every test that installs a SIGSEGV handler or changes protections runs
 * in Check's forked child, and backends are opened in checked fixtures
 * (which run in that child too), so nothing leaks between tests
 * (STYLE.md section 6).  Do not run this file with CK_FORK=no except
 * under gdb on a single test: the crash tests need their own process.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"
#include "kernel-shim/mem/heap.h"

#define HEAP_BASE	((uintptr_t)0x200000000000ull)
#define HEAP_SIZE	(1u << 20)
#define PAGE		4096u
#define NPAGES		(HEAP_SIZE / PAGE)

static struct dsm_heap heap;
static struct dsm_fault fault;
static bool fault_open;

/*
 * What the test handler saw.  It runs in signal context, possibly in
 * several threads at once: only atomics, no locks of libc.
 */
#define MAXREC 64
struct rec {
	size_t page;
	void *addr;
	enum dsm_access access;
};
static struct rec recs[MAXREC];
static int nfaults;
static int page_faults[NPAGES][3];	/* by page and enum dsm_access */
static uint8_t page_prot[NPAGES];	/* what the handler granted last */
static int prot_lock;			/* spinlock around page_prot + protect */
static int handler_fails;		/* return this from the handler if non-zero */

/*
 * The "protocol" of these tests: grant READ on a read fault and RW on a
 * write fault, never less than already granted.  Granting under one lock
 * keeps two threads from undoing each other's mprotect (a read grant
 * landing after a write grant would make the writer fault forever).
 */
static int test_handler(void *ctx, void *addr, enum dsm_access access)
{
	struct dsm_fault *f = ctx;
	size_t page = dsm_heap_page_of(f->params.heap, addr);
	int idx = __atomic_fetch_add(&nfaults, 1, __ATOMIC_SEQ_CST);
	enum dsm_prot want = access == DSM_ACCESS_READ ? DSM_PROT_READ : DSM_PROT_RW;

	if (idx < MAXREC) {
		recs[idx].page = page;
		recs[idx].addr = addr;
		recs[idx].access = access;
	}
	if (page < NPAGES && access <= DSM_ACCESS_UNKNOWN)
		__atomic_fetch_add(&page_faults[page][access], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&handler_fails, __ATOMIC_RELAXED))
		return handler_fails;

	while (__atomic_exchange_n(&prot_lock, 1, __ATOMIC_ACQUIRE))
		;
	if (__atomic_load_n(&page_prot[page], __ATOMIC_RELAXED) > want)
		want = (enum dsm_prot)page_prot[page];
	__atomic_store_n(&page_prot[page], (uint8_t)want, __ATOMIC_RELAXED);
	dsm_fault_protect(f, page, 1, want);
	__atomic_store_n(&prot_lock, 0, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Set the protection of pages and what the handler believes of them (main
 * thread, no handler running).  The stores must be done before the next
 * access to the heap: that access runs the handler, which reads them, but
 * the compiler sees only a volatile load and may sink plain stores past
 * it (a memset here once let the handler grant RW from stale state).
 */
static void set_prot(size_t page, size_t npages, enum dsm_prot prot)
{
	dsm_fault_protect(&fault, page, npages, prot);
	for (size_t i = page; i < page + npages; i++)
		__atomic_store_n(&page_prot[i], (uint8_t)prot, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static void invalidate(size_t page, size_t npages)
{
	set_prot(page, npages, DSM_PROT_NONE);
}

/* Faults so far; after the heap access before it, never hoisted above it. */
static int faults(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&nfaults, __ATOMIC_SEQ_CST);
}

/* The CPU reports read/write on x86-64; elsewhere the backend may not know. */
static void assert_access(enum dsm_access got, enum dsm_access want)
{
#if defined(__x86_64__)
	ck_assert_int_eq(got, want);
#else
	ck_assert(got == want || got == DSM_ACCESS_UNKNOWN);
#endif
}

static void reset_records(void)
{
	memset(recs, 0, sizeof(recs));
	memset(page_faults, 0, sizeof(page_faults));
	memset(page_prot, 0, sizeof(page_prot));
	nfaults = 0;
	prot_lock = 0;
	handler_fails = 0;
}

static void open_backend(const char *name)
{
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };

	ck_assert_int_eq(dsm_fault_open(name, &p, &fault), 0);
	fault_open = true;
}

/* ---------- fixtures (checked: they run in the forked child) ---------- */

static void heap_setup(void)
{
	reset_records();
	fault_open = false;
	memset(&fault, 0, sizeof(fault));
	ck_assert_int_eq(dsm_heap_map(&heap, HEAP_BASE, HEAP_SIZE, PAGE), 0);
}

static void heap_teardown(void)
{
	if (fault_open)
		dsm_fault_close(&fault);
	fault_open = false;
	dsm_heap_unmap(&heap);
}

static void fault_setup(void)
{
	heap_setup();
	open_backend("sigsegv");
}

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

/* A private page outside the heap, PROT_NONE: a fault that is not ours. */
static char *foreign_page(void)
{
	char *p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert(p != MAP_FAILED);
	ck_assert(!dsm_heap_contains(&heap, p));
	return p;
}

static bool sigsegv_is_default(void)
{
	struct sigaction cur;

	ck_assert_int_eq(sigaction(SIGSEGV, NULL, &cur), 0);
	return !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL;
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

/* ---------- the sigsegv backend ---------- */

START_TEST(test_read_then_write)
{
	volatile char *p = (volatile char *)dsm_heap_app_page(&heap, 5);
	char v;

	dsm_heap_rt_page(&heap, 5)[10] = 0x5a;
	ck_assert_int_eq(faults(), 0);	/* opening the backend faulted nothing in the heap */

	v = p[10];
	ck_assert_int_eq(v, 0x5a);
	ck_assert_int_eq(faults(), 1);
	ck_assert_uint_eq(recs[0].page, 5);
	ck_assert_ptr_eq(recs[0].addr, (void *)(p + 10));
	assert_access(recs[0].access, DSM_ACCESS_READ);

	/* Read-only now: more reads are free, the first write faults. */
	v = p[11];
	v = p[PAGE - 1];
	ck_assert_int_eq(faults(), 1);
	p[20] = 7;
	ck_assert_int_eq(faults(), 2);
	ck_assert_uint_eq(recs[1].page, 5);
	ck_assert_ptr_eq(recs[1].addr, (void *)(p + 20));
	assert_access(recs[1].access, DSM_ACCESS_WRITE);

	/* Writable: nothing faults any more. */
	p[21] = 8;
	p[0] = 9;
	v = p[PAGE - 1];
	(void)v;
	ck_assert_int_eq(faults(), 2);
	ck_assert_int_eq(dsm_heap_rt_page(&heap, 5)[20], 7);
	ck_assert_int_eq(dsm_heap_rt_page(&heap, 5)[21], 8);
	ck_assert_int_eq(dsm_heap_rt_page(&heap, 5)[0], 9);

	/* Neighbours were never touched. */
	ck_assert_int_eq(page_faults[4][DSM_ACCESS_READ] + page_faults[6][DSM_ACCESS_READ], 0);
}
END_TEST

START_TEST(test_write_first)
{
	volatile char *p = (volatile char *)dsm_heap_app_page(&heap, NPAGES - 1);

	p[PAGE - 1] = 3;		/* the last byte of the heap */
	ck_assert_int_eq(faults(), 1);
	ck_assert_uint_eq(recs[0].page, NPAGES - 1);
	assert_access(recs[0].access, DSM_ACCESS_WRITE);
	ck_assert_int_eq(p[PAGE - 1], 3);
	ck_assert_int_eq(p[0], 0);
	ck_assert_int_eq(faults(), 1);
	ck_assert_int_eq(heap.rt[HEAP_SIZE - 1], 3);
}
END_TEST

/* Protections go down as well as up, and over ranges of pages. */
START_TEST(test_protect_ranges)
{
	volatile char *p = (volatile char *)heap.app;
	char v;

	set_prot(10, 4, DSM_PROT_READ);
	for (int i = 10; i < 14; i++)
		v = p[(size_t)i * PAGE + 1];
	ck_assert_int_eq(faults(), 0);
	v = p[14 * PAGE];		/* just past the range */
	ck_assert_int_eq(faults(), 1);
	ck_assert_uint_eq(recs[0].page, 14);

	p[12 * PAGE] = 1;		/* read-only page: one write fault */
	ck_assert_int_eq(faults(), 2);
	ck_assert_uint_eq(recs[1].page, 12);
	assert_access(recs[1].access, DSM_ACCESS_WRITE);

	/* Invalidate: the next access faults again. */
	invalidate(12, 1);
	v = p[12 * PAGE];
	ck_assert_int_eq(v, 1);		/* the data stays in the memfd */
	ck_assert_int_eq(faults(), 3);
	ck_assert_uint_eq(recs[2].page, 12);
	assert_access(recs[2].access, DSM_ACCESS_READ);

	/* Downgrade RW to READ: reads free, a write faults. */
	p[12 * PAGE] = 2;
	ck_assert_int_eq(faults(), 4);
	set_prot(12, 1, DSM_PROT_READ);
	v = p[12 * PAGE];
	ck_assert_int_eq(faults(), 4);
	p[12 * PAGE] = 3;
	ck_assert_int_eq(faults(), 5);
	ck_assert_int_eq(heap.rt[12 * PAGE], 3);
}
END_TEST

/* ---------- threads ---------- */

#define NTHREADS 4
#define ROUNDS	 25
#define SHARED_RW 0		/* every thread reads then writes its own slot */
#define SHARED_RO 20		/* every thread only reads */
#define OWN(i)	 (1 + (i))	/* each thread's private page */

static pthread_barrier_t round_start, round_end;

static void *fault_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	volatile uint64_t *shared = (volatile uint64_t *)dsm_heap_app_page(&heap, SHARED_RW);
	volatile uint64_t *ro = (volatile uint64_t *)dsm_heap_app_page(&heap, SHARED_RO);
	volatile uint64_t *own = (volatile uint64_t *)dsm_heap_app_page(&heap, OWN(id));
	uintptr_t bad = 0;

	for (int r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(&round_start);
		/* All at once: same page (read, then write), own page, read-only page. */
		if (shared[8 * id] != (uint64_t)r)
			bad++;
		shared[8 * id] = (uint64_t)r + 1;
		own[id] = (uint64_t)r * 100 + (uint64_t)id;
		if (ro[0] != 0xfeedface)
			bad++;
		pthread_barrier_wait(&round_end);
	}
	return (void *)bad;
}

START_TEST(test_threads_fault_at_once)
{
	pthread_t tid[NTHREADS];

	*(uint64_t *)dsm_heap_rt_page(&heap, SHARED_RO) = 0xfeedface;
	ck_assert_int_eq(pthread_barrier_init(&round_start, NULL, NTHREADS + 1), 0);
	ck_assert_int_eq(pthread_barrier_init(&round_end, NULL, NTHREADS + 1), 0);
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, fault_thread, (void *)(intptr_t)i), 0);

	for (int r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(&round_start);
		pthread_barrier_wait(&round_end);
		/* Between rounds every thread waits: invalidate for the next one. */
		for (int i = 0; i < NTHREADS; i++) {
			ck_assert(*(uint64_t *)(dsm_heap_rt_page(&heap, SHARED_RW) + 64 * i) ==
				  (uint64_t)r + 1);
			ck_assert(((uint64_t *)dsm_heap_rt_page(&heap, OWN(i)))[i] ==
				  (uint64_t)r * 100 + (uint64_t)i);
		}
		invalidate(SHARED_RW, 1 + NTHREADS);
		invalidate(SHARED_RO, 1);
	}
	for (int i = 0; i < NTHREADS; i++) {
		void *bad;

		ck_assert_int_eq(pthread_join(tid[i], &bad), 0);
		ck_assert_msg(bad == NULL, "thread %d read wrong data %lu times", i,
			      (unsigned long)(uintptr_t)bad);
		/* Nobody else touched its page: exactly one write fault a round. */
		ck_assert_int_eq(page_faults[OWN(i)][DSM_ACCESS_WRITE] +
				 page_faults[OWN(i)][DSM_ACCESS_UNKNOWN], ROUNDS);
		ck_assert_int_eq(page_faults[OWN(i)][DSM_ACCESS_READ], 0);
	}
	/* Shared pages: at least one fault a round, at most one per access. */
	ck_assert_int_ge(page_faults[SHARED_RO][DSM_ACCESS_READ] +
			 page_faults[SHARED_RO][DSM_ACCESS_UNKNOWN], ROUNDS);
	ck_assert_int_le(page_faults[SHARED_RO][DSM_ACCESS_READ] +
			 page_faults[SHARED_RO][DSM_ACCESS_UNKNOWN], ROUNDS * NTHREADS);
	ck_assert_int_eq(page_faults[SHARED_RO][DSM_ACCESS_WRITE], 0);
	ck_assert_int_ge(page_faults[SHARED_RW][DSM_ACCESS_WRITE] +
			 page_faults[SHARED_RW][DSM_ACCESS_UNKNOWN], ROUNDS);
	pthread_barrier_destroy(&round_start);
	pthread_barrier_destroy(&round_end);
}
END_TEST

/* ---------- faults that are not ours ---------- */

static char *volatile prior_page;
static volatile int prior_hits;
static void *volatile prior_addr;

static void prior_siginfo_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)uctx;
	prior_hits++;
	prior_addr = si->si_addr;
	mprotect(prior_page, PAGE, PROT_READ | PROT_WRITE);
}

static void prior_plain_handler(int sig)
{
	(void)sig;
	prior_hits++;
	mprotect(prior_page, PAGE, PROT_READ | PROT_WRITE);
}

static void install_prior(bool siginfo)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (siginfo) {
		sa.sa_sigaction = prior_siginfo_handler;
		sa.sa_flags = SA_SIGINFO;
	} else {
		sa.sa_handler = prior_plain_handler;
	}
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	prior_page = foreign_page();
	prior_hits = 0;
	prior_addr = NULL;
}

static void check_forwarding(bool siginfo)
{
	volatile char *heap_p = (volatile char *)dsm_heap_app_page(&heap, 2);
	struct sigaction cur;

	install_prior(siginfo);
	open_backend("sigsegv");
	/* The backend's own probe fault at open is not forwarded. */
	ck_assert_int_eq(prior_hits, 0);

	((volatile char *)prior_page)[5] = 1;
	ck_assert_int_eq(prior_hits, 1);
	if (siginfo)
		ck_assert_ptr_eq(prior_addr, (void *)(prior_page + 5));
	ck_assert_int_eq(faults(), 0);		/* not passed to the runtime */

	/* ...while heap faults still reach the runtime, and only it. */
	heap_p[0] = 1;
	ck_assert_int_eq(faults(), 1);
	ck_assert_int_eq(prior_hits, 1);

	/* Closing puts the application's handler back. */
	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert_int_eq(sigaction(SIGSEGV, NULL, &cur), 0);
	if (siginfo)
		ck_assert(cur.sa_sigaction == prior_siginfo_handler);
	else
		ck_assert(cur.sa_handler == prior_plain_handler);
	munmap(prior_page, PAGE);
}

START_TEST(test_forward_to_siginfo_handler)
{
	check_forwarding(true);
}
END_TEST

START_TEST(test_forward_to_plain_handler)
{
	check_forwarding(false);
}
END_TEST

/*
 * With no handler of the application's, a fault outside the heap is an
 * ordinary crash: the process dies of SIGSEGV (not a hang, not an exit).
 */
static void no_core_dump(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
}

START_TEST(test_foreign_fault_kills)
{
	volatile char *p;

	no_core_dump();
	p = (volatile char *)foreign_page();
	p[0] = 1;			/* SEGV_ACCERR outside the heap */
	ck_abort_msg("a fault outside the heap was swallowed");
}
END_TEST

START_TEST(test_unmapped_fault_kills)
{
	volatile char *p;

	no_core_dump();
	p = (volatile char *)foreign_page();
	munmap((void *)p, PAGE);
	(void)p[0];			/* SEGV_MAPERR */
	ck_abort_msg("a fault on unmapped memory was swallowed");
}
END_TEST

/* A failing runtime handler ends the process (exit status 1), never loops. */
START_TEST(test_handler_failure_exits)
{
	__atomic_store_n(&handler_fails, -EIO, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);	/* before the access, see set_prot() */
	((volatile char *)heap.app)[0] = 1;
	ck_abort_msg("the access completed although the handler failed");
}
END_TEST

/* ---------- choosing a backend ---------- */

START_TEST(test_open_default_picks_sigsegv)
{
	volatile char *p = (volatile char *)heap.app;

	ck_assert(sigsegv_is_default());
	open_backend(NULL);		/* "the best this host has" */
	ck_assert_ptr_eq(fault.ops, &dsm_sigsegv_ops);
	ck_assert_str_eq(fault.ops->name, "sigsegv");
	ck_assert_ptr_eq(fault.params.heap, &heap);
	ck_assert(!sigsegv_is_default());
	p[0] = 1;
	ck_assert_int_eq(faults(), 1);
	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert_ptr_null(fault.ops);
	ck_assert(sigsegv_is_default());
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
	 * falls back to sigsegv silently.  tests/unit/check_uffd.c tests the
	 * backend itself.
	 */
	if (probe == 0) {
		ck_assert_int_eq(dsm_fault_open("userfaultfd", &p, &fault), 0);
		ck_assert_ptr_eq(fault.ops, &dsm_uffd_ops);
		ck_assert(sigsegv_is_default());
		dsm_fault_close(&fault);
	} else {
		ck_assert_int_eq(dsm_fault_open("userfaultfd", &p, &fault), probe);
		ck_assert_ptr_null(fault.ops);
		ck_assert(sigsegv_is_default());
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
	ck_assert(sigsegv_is_default());
}
END_TEST

/*
 * dsm_init after dsm_finalize (or after an init that failed past
 * dsm_fault_open) opens the backend a second time in one process.
 */
START_TEST(test_reopen)
{
	struct dsm_fault_params params = { .heap = &heap, .handler = test_handler, .ctx = &fault };
	volatile char *p = (volatile char *)heap.app;
	int ret;

	open_backend("sigsegv");
	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert(sigsegv_is_default());

	ret = dsm_fault_open("sigsegv", &params, &fault);
	ck_assert_msg(ret == 0, "second dsm_fault_open(\"sigsegv\") in one process: %d (%s)",
		      ret, dsm_strerror(ret));
	fault_open = true;
	p[PAGE] = 1;
	ck_assert_int_eq(faults(), 1);
	ck_assert_uint_eq(recs[0].page, 1);
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

	tc = tcase_create("sigsegv");
	tcase_add_checked_fixture(tc, fault_setup, heap_teardown);
	tcase_set_timeout(tc, 10);	/* a lost wake-up or a fault loop hangs */
	tcase_add_test(tc, test_read_then_write);
	tcase_add_test(tc, test_write_first);
	tcase_add_test(tc, test_protect_ranges);
	tcase_add_test(tc, test_threads_fault_at_once);
	tcase_add_test_raise_signal(tc, test_foreign_fault_kills, SIGSEGV);
	tcase_add_test_raise_signal(tc, test_unmapped_fault_kills, SIGSEGV);
	tcase_add_exit_test(tc, test_handler_failure_exits, 1);
	suite_add_tcase(s, tc);

	/* These open the backend themselves, after setting the stage. */
	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, heap_setup, heap_teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_forward_to_siginfo_handler);
	tcase_add_test(tc, test_forward_to_plain_handler);
	tcase_add_test(tc, test_open_default_picks_sigsegv);
	tcase_add_test(tc, test_open_userfaultfd);
	tcase_add_test(tc, test_open_unknown);
	tcase_add_test(tc, test_reopen);
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
