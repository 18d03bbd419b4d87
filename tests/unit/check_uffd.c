/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the userfaultfd fault backend (kernel-shim/fault/uffd.c),
 * white-box: they drive dsm_fault_* directly on a heap of their own, with a
 * handler standing in for the protocol.  They mirror the sigsegv tests of
 * check_fault.c, plus what only this backend does: pages of a memfd hole,
 * a mapping the kernel drops behind the backend's back, and more distinct
 * protections than vm.max_map_count in a single VMA.
 *
 * Every test runs in Check's forked child and opens the backend in a
 * checked fixture (STYLE.md section 6).  The whole binary exits 77 (SKIP)
 * when this host cannot run userfaultfd.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"
#include "kernel-shim/mem/heap.h"

#define HEAP_BASE	((uintptr_t)0x300000000000ull)
#define HEAP_SIZE	(1u << 20)
#define PAGE		4096u
#define NPAGES		(HEAP_SIZE / PAGE)

/* The large heap: every other page READ is more VMAs than the default
 * vm.max_map_count (65530) would allow with mprotect. */
#define BIG_SIZE	(512ul << 20)
#define BIG_NPAGES	(BIG_SIZE / PAGE)

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
static uint8_t *page_prot;		/* what the handler granted last, per page */
static int prot_lock;			/* spinlock around page_prot + protect */
static int handler_fails;		/* return this from the handler if non-zero */

/*
 * The "protocol" of these tests: grant READ on a read fault and RW on a
 * write (or unknown) fault, never less than already granted, under one
 * lock, as the sequential protocol does under its page lock.
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
	if (handler_fails)
		return handler_fails;

	while (__atomic_exchange_n(&prot_lock, 1, __ATOMIC_ACQUIRE))
		;
	if (page_prot[page] > want)
		want = (enum dsm_prot)page_prot[page];
	page_prot[page] = (uint8_t)want;
	dsm_fault_protect(f, page, 1, want);
	__atomic_store_n(&prot_lock, 0, __ATOMIC_RELEASE);
	return 0;
}

/* Set the protection of pages as the protocol would (main thread). */
static void set_prot(size_t page, size_t npages, enum dsm_prot prot)
{
	dsm_fault_protect(&fault, page, npages, prot);
	memset(page_prot + page, prot, npages);
}

static int faults(void)
{
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

static void reset_records(size_t npages)
{
	memset(recs, 0, sizeof(recs));
	memset(page_faults, 0, sizeof(page_faults));
	page_prot = calloc(npages, 1);
	ck_assert_ptr_nonnull(page_prot);
	nfaults = 0;
	prot_lock = 0;
	handler_fails = 0;
}

static void open_backend(void)
{
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };

	ck_assert_int_eq(dsm_fault_open("userfaultfd", &p, &fault), 0);
	fault_open = true;
}

/* ---------- fixtures (checked: they run in the forked child) ---------- */

static void map_heap(size_t size)
{
	reset_records(size / PAGE);
	fault_open = false;
	memset(&fault, 0, sizeof(fault));
	ck_assert_int_eq(dsm_heap_map(&heap, HEAP_BASE, size, PAGE), 0);
}

static void heap_setup(void)
{
	map_heap(HEAP_SIZE);
}

static void heap_teardown(void)
{
	if (fault_open)
		dsm_fault_close(&fault);
	fault_open = false;
	dsm_heap_unmap(&heap);
	free(page_prot);
	page_prot = NULL;
}

static void uffd_setup(void)
{
	heap_setup();
	open_backend();
}

static void big_setup(void)
{
	map_heap(BIG_SIZE);
}

/* ---------- helpers ---------- */

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

static bool sigbus_is_default(void)
{
	struct sigaction cur;

	ck_assert_int_eq(sigaction(SIGBUS, NULL, &cur), 0);
	return !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL;
}

static long max_map_count(void)
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------- single thread ---------- */

/* A page of the memfd never written (a hole) reads as zeros, once faulted. */
START_TEST(test_read_hole)
{
	volatile char *p = (volatile char *)dsm_heap_app_page(&heap, 7);
	char v;

	ck_assert_int_eq(faults(), 0);	/* opening the backend faulted nothing in the heap */
	v = p[100];
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(faults(), 1);
	ck_assert_uint_eq(recs[0].page, 7);
	ck_assert_ptr_eq(recs[0].addr, (void *)(p + 100));
	assert_access(recs[0].access, DSM_ACCESS_READ);
	for (unsigned int i = 0; i < PAGE; i += 64)
		ck_assert_int_eq(p[i], 0);
	ck_assert_int_eq(faults(), 1);
	/* The runtime's view is the same page. */
	dsm_heap_rt_page(&heap, 7)[5] = 42;
	ck_assert_int_eq(p[5], 42);
	ck_assert_int_eq(faults(), 1);
}
END_TEST

START_TEST(test_read_then_write)
{
	volatile char *p = (volatile char *)dsm_heap_app_page(&heap, 5);
	char v;

	/* Data written through the runtime's view... */
	dsm_heap_rt_page(&heap, 5)[10] = 0x5a;
	ck_assert_int_eq(faults(), 0);

	/* ...is what the application sees once READ is granted. */
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

	p[PAGE - 1] = 3;		/* the last byte of the heap, a hole */
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

	/* Invalidate: the next access faults again and sees the memfd. */
	set_prot(12, 1, DSM_PROT_NONE);
	v = p[12 * PAGE];
	ck_assert_int_eq(v, 1);
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

	/* A range of mixed states (NONE, READ, RW) set at once. */
	set_prot(10, 6, DSM_PROT_RW);
	for (int i = 10; i < 16; i++)
		p[(size_t)i * PAGE + 2] = (char)i;
	ck_assert_int_eq(faults(), 5);
	set_prot(9, 8, DSM_PROT_NONE);
	for (int i = 9; i < 17; i++)
		v = p[(size_t)i * PAGE + 2];
	(void)v;
	ck_assert_int_eq(faults(), 13);
}
END_TEST

/*
 * Invalidation: data changed behind the application's back (a peer's
 * write, stored through the runtime's view) is what the next access sees.
 */
START_TEST(test_invalidate_sees_new_data)
{
	volatile uint64_t *p = (volatile uint64_t *)dsm_heap_app_page(&heap, 3);
	uint64_t *rt = (uint64_t *)dsm_heap_rt_page(&heap, 3);

	for (uint64_t round = 1; round <= 20; round++) {
		set_prot(3, 1, DSM_PROT_NONE);
		rt[round] = round * 1000;
		ck_assert_uint_eq(p[round], round * 1000);
		ck_assert_int_eq(faults(), (int)round);
		assert_access(recs[round - 1].access, DSM_ACCESS_READ);
	}
	/* READ -> NONE -> RW: no write protection may survive the zap. */
	set_prot(3, 1, DSM_PROT_NONE);
	set_prot(3, 1, DSM_PROT_RW);
	p[0] = 77;
	ck_assert_int_eq(faults(), 20);
	ck_assert_uint_eq(rt[0], 77);
	/* RW -> NONE -> READ: the page is write-protected again. */
	set_prot(3, 1, DSM_PROT_NONE);
	set_prot(3, 1, DSM_PROT_READ);
	ck_assert_uint_eq(p[0], 77);
	ck_assert_int_eq(faults(), 20);
	p[1] = 78;
	ck_assert_int_eq(faults(), 21);
	assert_access(recs[20].access, DSM_ACCESS_WRITE);
}
END_TEST

/*
 * The kernel may drop a PTE on its own (a shmem page swapped out): the
 * backend maps it again with the protection the runtime set, without
 * bothering the runtime, and never with more.
 */
START_TEST(test_dropped_mapping_repaired)
{
	volatile char *p = (volatile char *)heap.app;
	char v;

	heap.rt[2 * PAGE] = 11;
	set_prot(2, 1, DSM_PROT_READ);
	set_prot(3, 1, DSM_PROT_RW);
	p[3 * PAGE] = 12;
	ck_assert_int_eq(faults(), 0);

	ck_assert_int_eq(madvise(heap.app + 2 * PAGE, 2 * PAGE, MADV_DONTNEED), 0);
	v = p[2 * PAGE];
	ck_assert_int_eq(v, 11);
	p[3 * PAGE + 1] = 13;
	ck_assert_int_eq(p[3 * PAGE], 12);
	ck_assert_int_eq(faults(), 0);		/* repaired inside the backend */

	/* The repaired READ page is still write-protected. */
	p[2 * PAGE + 1] = 14;
	ck_assert_int_eq(faults(), 1);
	assert_access(recs[0].access, DSM_ACCESS_WRITE);

	/* A store to a dropped READ page is the runtime's upgrade. */
	set_prot(2, 1, DSM_PROT_READ);
	ck_assert_int_eq(madvise(heap.app + 2 * PAGE, PAGE, MADV_DONTNEED), 0);
	p[2 * PAGE + 2] = 15;
	ck_assert_int_eq(faults(), 2);
	assert_access(recs[1].access, DSM_ACCESS_WRITE);
	ck_assert_int_eq(heap.rt[2 * PAGE + 2], 15);
	ck_assert_int_eq(heap.rt[3 * PAGE + 1], 13);
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
		while (__atomic_exchange_n(&prot_lock, 1, __ATOMIC_ACQUIRE))
			;
		set_prot(SHARED_RW, 1 + NTHREADS, DSM_PROT_NONE);
		set_prot(SHARED_RO, 1, DSM_PROT_NONE);
		__atomic_store_n(&prot_lock, 0, __ATOMIC_RELEASE);
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

/*
 * Threads store to one page while the main thread keeps invalidating or
 * downgrading it, as recalls would: every store must fault its way back
 * and land in the memfd, and nobody may hang.
 */
#define HAMMER_PAGE 30
#define HAMMER_CHANGES 2000

static volatile int hammer_stop;

static void *hammer_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	volatile uint64_t *slot = (volatile uint64_t *)dsm_heap_app_page(&heap, HAMMER_PAGE) + 8 * id;
	uint64_t i = 0;

	while (!hammer_stop) {
		*slot = ++i;
		if (*slot != i)
			return (void *)0;	/* never a valid count */
	}
	return (void *)(uintptr_t)i;
}

START_TEST(test_threads_vs_invalidation)
{
	pthread_t tid[NTHREADS];

	hammer_stop = 0;
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, hammer_thread, (void *)(intptr_t)i), 0);
	for (int n = 0; n < HAMMER_CHANGES; n++) {
		while (__atomic_exchange_n(&prot_lock, 1, __ATOMIC_ACQUIRE))
			;
		set_prot(HAMMER_PAGE, 1, n % 2 ? DSM_PROT_READ : DSM_PROT_NONE);
		__atomic_store_n(&prot_lock, 0, __ATOMIC_RELEASE);
		sched_yield();
	}
	hammer_stop = 1;
	for (int i = 0; i < NTHREADS; i++) {
		void *last;

		ck_assert_int_eq(pthread_join(tid[i], &last), 0);
		ck_assert_ptr_nonnull(last);
		/* The last store of each thread is in the memfd. */
		ck_assert_uint_eq(((uint64_t *)dsm_heap_rt_page(&heap, HAMMER_PAGE))[8 * i],
				  (uint64_t)(uintptr_t)last);
	}
	ck_assert_int_gt(faults(), 0);
}
END_TEST

/* ---------- SIGBUS that is not ours ---------- */

static int prior_memfd = -1;
static volatile int prior_hits;
static void *volatile prior_addr;

/* A shared page past the end of its file: an ordinary SIGBUS (BUS_ADRERR). */
static char *beyond_eof_page(void)
{
	char *p;

	prior_memfd = memfd_create("beyond-eof", MFD_CLOEXEC);
	ck_assert_int_ge(prior_memfd, 0);
	ck_assert_int_eq(ftruncate(prior_memfd, PAGE), 0);
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, prior_memfd, 0);
	ck_assert(p != MAP_FAILED);
	ck_assert(!dsm_heap_contains(&heap, p));
	return p + PAGE;
}

static void prior_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)uctx;
	prior_hits++;
	prior_addr = si->si_addr;
	if (ftruncate(prior_memfd, 2 * PAGE) < 0)
		_exit(3);
}

START_TEST(test_forward_foreign_sigbus)
{
	volatile char *heap_p = (volatile char *)dsm_heap_app_page(&heap, 2);
	struct sigaction sa, cur;
	volatile char *q;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = prior_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGBUS, &sa, NULL), 0);
	q = (volatile char *)beyond_eof_page();

	open_backend();
	ck_assert_int_eq(prior_hits, 0);	/* the self-test's faults are not forwarded */
	q[5] = 1;
	ck_assert_int_eq(prior_hits, 1);
	ck_assert_ptr_eq(prior_addr, (void *)(q + 5));
	ck_assert_int_eq(faults(), 0);

	heap_p[0] = 1;
	ck_assert_int_eq(faults(), 1);
	ck_assert_int_eq(prior_hits, 1);

	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &cur), 0);
	ck_assert(cur.sa_sigaction == prior_handler);
}
END_TEST

static void no_core_dump(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
}

/* With no handler of the application's, a foreign SIGBUS kills as usual. */
START_TEST(test_foreign_sigbus_kills)
{
	volatile char *q;

	no_core_dump();
	q = (volatile char *)beyond_eof_page();
	q[0] = 1;
	ck_abort_msg("a SIGBUS outside the heap was swallowed");
}
END_TEST

/* A failing runtime handler ends the process (exit status 1), never loops. */
START_TEST(test_handler_failure_exits)
{
	handler_fails = -EIO;
	((volatile char *)heap.app)[0] = 1;
	ck_abort_msg("the access completed although the handler failed");
}
END_TEST

/* ---------- opening and closing ---------- */

START_TEST(test_open_close_reopen)
{
	volatile char *p = (volatile char *)heap.app;

	ck_assert(sigbus_is_default());
	open_backend();
	ck_assert_ptr_eq(fault.ops, &dsm_uffd_ops);
	ck_assert_str_eq(fault.ops->name, "userfaultfd");
	ck_assert(!sigbus_is_default());
	ck_assert_int_eq(count_maps(HEAP_BASE, HEAP_BASE + HEAP_SIZE), 1);
	p[0] = 1;
	ck_assert_int_eq(faults(), 1);

	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert_ptr_null(fault.ops);
	ck_assert(sigbus_is_default());
	/* Unregistered: the view is plain memory now (uffd.c, "Limits"). */
	p[PAGE] = 2;
	ck_assert_int_eq(heap.rt[PAGE], 2);
	ck_assert_int_eq(faults(), 1);

	/* Open again: every page starts NONE, whatever was mapped before. */
	memset(page_prot, 0, NPAGES);
	open_backend();
	ck_assert_int_eq(p[PAGE], 2);
	ck_assert_int_eq(faults(), 2);
	ck_assert_uint_eq(recs[1].page, 1);
	p[0] = 3;
	ck_assert_int_eq(faults(), 3);
	ck_assert_uint_eq(recs[2].page, 0);
}
END_TEST

/* ---------- the point: protections without VMAs ---------- */

/* Every other page READ: far more distinct protections than VMAs allowed. */
static void protect_alternating(size_t npages)
{
	for (size_t page = 0; page < npages; page += 2)
		dsm_fault_protect(&fault, page, 1, DSM_PROT_READ);
}

START_TEST(test_many_protections_one_vma)
{
	volatile char *p = (volatile char *)heap.app;
	double t0, t1;
	char v;

	open_backend();
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

/*
 * The same with the sigsegv backend ends the process with a clear error
 * once vm.max_map_count is reached (sigsegv.c): what this backend is for.
 */
START_TEST(test_sigsegv_runs_out_of_vmas)
{
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };

	if (max_map_count() >= (long)BIG_NPAGES) {
		fprintf(stderr, "vm.max_map_count is %ld: cannot show the sigsegv limit here\n",
			max_map_count());
		exit(1);
	}
	ck_assert_int_eq(dsm_fault_open("sigsegv", &p, &fault), 0);
	fault_open = true;
	protect_alternating(BIG_NPAGES);
	ck_abort_msg("sigsegv set %lu distinct protections", (unsigned long)BIG_NPAGES);
}
END_TEST

/* ---------- cost ---------- */

/*
 * One fault resolved in the faulting thread, per backend: invalidate,
 * touch, grant.  Printed, not asserted (shared CI machines are noisy).
 */
static void measure(const char *name)
{
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };
	volatile char *a = (volatile char *)heap.app;
	const int n = 20000;
	double t0, tr, tw, tn;
	char v;

	ck_assert_int_eq(dsm_fault_open(name, &p, &fault), 0);
	fault_open = true;
	for (size_t page = 0; page < NPAGES; page++)
		heap.rt[page * PAGE] = 1;		/* no holes: measure the steady state */

	t0 = now_s();
	for (int i = 0; i < n; i++) {
		size_t page = (size_t)i % NPAGES;

		set_prot(page, 1, DSM_PROT_NONE);
		v = a[page * PAGE];			/* read fault: NONE -> READ */
	}
	tr = now_s() - t0;
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		size_t page = (size_t)i % NPAGES;

		set_prot(page, 1, DSM_PROT_READ);
		a[page * PAGE] = 2;			/* write fault: READ -> RW */
	}
	tw = now_s() - t0;
	t0 = now_s();
	for (int i = 0; i < n; i++)	/* READ -> NONE -> READ ... */
		set_prot((size_t)i % NPAGES, 1, (i / NPAGES) % 2 ? DSM_PROT_READ : DSM_PROT_NONE);
	tn = now_s() - t0;
	(void)v;
	fprintf(stderr, "%-11s read fault (NONE->READ, incl. invalidate) %.2f us, "
		"write fault (READ->RW, incl. downgrade) %.2f us, protect NONE<->READ alone %.2f us\n",
		name, tr * 1e6 / n, tw * 1e6 / n, tn * 1e6 / n);
	ck_assert_int_eq(faults(), 2 * n);
}

START_TEST(test_cost_userfaultfd)
{
	measure("userfaultfd");
}
END_TEST

START_TEST(test_cost_sigsegv)
{
	measure("sigsegv");
}
END_TEST

static Suite *uffd_suite(void)
{
	Suite *s = suite_create("uffd");
	TCase *tc;

	tc = tcase_create("faults");
	tcase_add_checked_fixture(tc, uffd_setup, heap_teardown);
	tcase_set_timeout(tc, 20);	/* a lost wake-up or a fault loop hangs */
	tcase_add_test(tc, test_read_hole);
	tcase_add_test(tc, test_read_then_write);
	tcase_add_test(tc, test_write_first);
	tcase_add_test(tc, test_protect_ranges);
	tcase_add_test(tc, test_invalidate_sees_new_data);
	tcase_add_test(tc, test_dropped_mapping_repaired);
	tcase_add_test(tc, test_threads_fault_at_once);
	tcase_add_test(tc, test_threads_vs_invalidation);
	tcase_add_exit_test(tc, test_handler_failure_exits, 1);
	tcase_add_test_raise_signal(tc, test_foreign_sigbus_kills, SIGBUS);
	suite_add_tcase(s, tc);

	/* These open the backend themselves, after setting the stage. */
	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, heap_setup, heap_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_forward_foreign_sigbus);
	tcase_add_test(tc, test_open_close_reopen);
	tcase_add_test(tc, test_cost_userfaultfd);
	tcase_add_test(tc, test_cost_sigsegv);
	suite_add_tcase(s, tc);

	tc = tcase_create("vmas");
	tcase_add_checked_fixture(tc, big_setup, heap_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_many_protections_one_vma);
	tcase_add_exit_test(tc, test_sigsegv_runs_out_of_vmas, 1);
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
