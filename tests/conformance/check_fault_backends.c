/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conformance suite of the fault backends: what every struct dsm_fault_ops
 * must do according to kernel-shim/fault/fault.h, written once and run for
 * every registered backend (STYLE.md section 6).  The loop index of every
 * test is the backend's index in backends[] below.
 *
 * What only one backend does is tested beside it: tests/unit/check_fault.c
 * (the heap, choosing a backend, sigsegv's limits) and
 * tests/unit/check_uffd.c (userfaultfd's single VMA and plain memory after
 * close).
 *
 * Each backend gets its own test cases, named after it, whose checked
 * fixture opens it (fixtures cannot see the loop index, hence one per
 * backend); each test is added as a loop over that backend's index alone.
 * A backend whose probe() fails on this host gets no test case and one
 * line "SKIP: ..." in the log; the binary exits 77 (SKIP) only when no
 * backend can run.
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
#include <unistd.h>

#include "tests/conformance/fault_fixture.h"

static void open_sigsegv(void);
static void open_userfaultfd(void);

/*
 * Every backend fault.c registers (its list is private: a backend added
 * there must be added here).  signo is the signal it traps heap faults
 * with; a fault outside the heap is the application's either way.
 */
static const struct backend {
	const char *name;
	const struct dsm_fault_ops *ops;
	int signo;
	void (*open)(void);	/* checked fixture: heap_setup(), then open it */
} backends[] = {
	{ "sigsegv",     &dsm_sigsegv_ops, SIGSEGV, open_sigsegv },
	{ "userfaultfd", &dsm_uffd_ops,    SIGBUS,  open_userfaultfd },
};
#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

static void open_sigsegv(void)
{
	heap_setup();
	open_backend(backends[0].name);
	ck_assert_ptr_eq(fault.ops, backends[0].ops);
}

static void open_userfaultfd(void)
{
	heap_setup();
	open_backend(backends[1].name);
	ck_assert_ptr_eq(fault.ops, backends[1].ops);
}

/* ---------- one thread ---------- */

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

/* A read fault is reported once, as a read; then a write once; then none. */
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
	/* READ -> NONE -> RW: no write protection may survive the invalidation. */
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
 * The kernel may drop a PTE on its own (a shmem page swapped out, a
 * madvise from outside): the runtime sees nothing of it, the page keeps the
 * protection the runtime set, and never gets more.  (With mprotect the
 * kernel refills the PTE within the VMA's protection by itself; userfaultfd
 * keeps protections in PTEs and re-creates them in its handler,
 * dsm_uffd_repair.)
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
		prot_lock_take();
		set_prot(SHARED_RW, 1 + NTHREADS, DSM_PROT_NONE);
		set_prot(SHARED_RO, 1, DSM_PROT_NONE);
		prot_lock_give();
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
		prot_lock_take();
		set_prot(HAMMER_PAGE, 1, n % 2 ? DSM_PROT_READ : DSM_PROT_NONE);
		prot_lock_give();
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

/* ---------- a failing handler ---------- */

/* A failing runtime handler ends the process (exit status 1), never loops. */
START_TEST(test_handler_failure_exits)
{
	fail_handler(-EIO);
	((volatile char *)heap.app)[0] = 1;
	ck_abort_msg("the access completed although the handler failed");
}
END_TEST

/* ---------- faults outside the heap ---------- */

/*
 * Faults outside the heap are the application's, whichever backend runs
 * and whichever signal it traps with.  sigsegv takes SIGSEGV and forwards
 * every fault outside the heap to the handler installed before it, or to
 * the default action; it leaves SIGBUS alone.  userfaultfd takes SIGBUS
 * and forwards likewise; it leaves SIGSEGV alone, so a segmentation fault
 * outside the heap is an ordinary one.  Either way the application's
 * handler sees each of its faults once, with its address, the runtime's
 * handler never does, heap faults are the runtime's only, and close leaves
 * the application's handler installed.
 */
static char *volatile foreign;		/* the page of the current test */
static int foreign_memfd = -1;
static volatile int prior_hits;
static void *volatile prior_addr;

/*
 * A page outside the heap whose first access raises sig: a private
 * PROT_NONE page for SIGSEGV (SEGV_ACCERR), a shared page past the end of
 * its memfd for SIGBUS (BUS_ADRERR).
 */
static char *foreign_page(int sig)
{
	char *p;

	if (sig == SIGSEGV) {
		p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert(p != MAP_FAILED);
	} else {
		foreign_memfd = memfd_create("beyond-eof", MFD_CLOEXEC);
		ck_assert_int_ge(foreign_memfd, 0);
		ck_assert_int_eq(ftruncate(foreign_memfd, PAGE), 0);
		p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, foreign_memfd, 0);
		ck_assert(p != MAP_FAILED);
		p += PAGE;
	}
	ck_assert(!dsm_heap_contains(&heap, p));
	foreign = p;
	return p;
}

/* What the application's handler does: make the page accessible.  Signal-safe. */
static void foreign_repair(int sig)
{
	if (sig == SIGSEGV)
		mprotect(foreign, PAGE, PROT_READ | PROT_WRITE);
	else if (ftruncate(foreign_memfd, 2 * PAGE) < 0)
		_exit(3);
}

static void prior_siginfo_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	prior_hits++;
	prior_addr = si->si_addr;
	foreign_repair(sig);
}

static void prior_plain_handler(int sig)
{
	prior_hits++;
	foreign_repair(sig);
}

static void install_prior(int sig, bool siginfo)
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
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
	prior_hits = 0;
	prior_addr = NULL;
}

static void check_forwarding(const struct backend *b, int sig, bool siginfo)
{
	volatile char *heap_p = (volatile char *)dsm_heap_app_page(&heap, 2);
	volatile char *q;
	struct sigaction cur;

	install_prior(sig, siginfo);
	q = (volatile char *)foreign_page(sig);
	open_backend(b->name);
	/* The backend's own probe faults at open are not forwarded. */
	ck_assert_int_eq(prior_hits, 0);

	q[5] = 1;
	ck_assert_int_eq(prior_hits, 1);
	if (siginfo)
		ck_assert_ptr_eq(prior_addr, (void *)(q + 5));
	ck_assert_int_eq(faults(), 0);		/* not passed to the runtime */

	/* ...while heap faults still reach the runtime, and only it. */
	heap_p[0] = 1;
	ck_assert_int_eq(faults(), 1);
	ck_assert_int_eq(prior_hits, 1);

	/* Closing leaves (or puts back) the application's handler. */
	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert_int_eq(sigaction(sig, NULL, &cur), 0);
	if (siginfo)
		ck_assert(cur.sa_sigaction == prior_siginfo_handler);
	else
		ck_assert(cur.sa_handler == prior_plain_handler);
}

START_TEST(test_forward_sigsegv_to_siginfo_handler)
{
	check_forwarding(&backends[_i], SIGSEGV, true);
}
END_TEST

START_TEST(test_forward_sigsegv_to_plain_handler)
{
	check_forwarding(&backends[_i], SIGSEGV, false);
}
END_TEST

START_TEST(test_forward_sigbus_to_siginfo_handler)
{
	check_forwarding(&backends[_i], SIGBUS, true);
}
END_TEST

START_TEST(test_forward_sigbus_to_plain_handler)
{
	check_forwarding(&backends[_i], SIGBUS, false);
}
END_TEST

/*
 * With no handler of the application's, a fault outside the heap is an
 * ordinary crash: the process dies of its signal (not a hang, not an exit).
 * crash_page() is foreign_page() without the core dump.
 */
static volatile char *crash_page(int sig)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
	return (volatile char *)foreign_page(sig);
}

START_TEST(test_foreign_fault_kills)
{
	crash_page(SIGSEGV)[0] = 1;	/* SEGV_ACCERR outside the heap */
	ck_abort_msg("a fault outside the heap was swallowed");
}
END_TEST

START_TEST(test_unmapped_fault_kills)
{
	volatile char *p = crash_page(SIGSEGV);

	munmap((void *)p, PAGE);
	(void)p[0];			/* SEGV_MAPERR */
	ck_abort_msg("a fault on unmapped memory was swallowed");
}
END_TEST

START_TEST(test_foreign_sigbus_kills)
{
	crash_page(SIGBUS)[0] = 1;	/* BUS_ADRERR outside the heap */
	ck_abort_msg("a SIGBUS outside the heap was swallowed");
}
END_TEST

/* ---------- opening and closing ---------- */

/*
 * Open traps with the backend's signal and leaves the other alone; close
 * puts the default back.  dsm_init after dsm_finalize (or after an init
 * that failed past dsm_fault_open) opens the backend a second time in one
 * process.  What the application's view allows between the two is the
 * backend's (fault.h): pages never touched are NONE under either.
 */
START_TEST(test_close_reopen)
{
	const struct backend *b = &backends[_i];
	struct dsm_fault_params params = { .heap = &heap, .handler = test_handler, .ctx = &fault };
	int other = b->signo == SIGSEGV ? SIGBUS : SIGSEGV;
	volatile char *p = (volatile char *)heap.app;
	int ret;

	ck_assert(signal_is_default(b->signo));
	ck_assert(signal_is_default(other));
	open_backend(b->name);
	ck_assert_ptr_eq(fault.ops, b->ops);
	ck_assert_str_eq(fault.ops->name, b->name);
	ck_assert_ptr_eq(fault.params.heap, &heap);
	ck_assert(!signal_is_default(b->signo));
	ck_assert(signal_is_default(other));
	p[0] = 1;
	ck_assert_int_eq(faults(), 1);
	ck_assert_uint_eq(recs[0].page, 0);

	dsm_fault_close(&fault);
	fault_open = false;
	ck_assert_ptr_null(fault.ops);
	ck_assert(signal_is_default(b->signo));
	ck_assert_int_eq(heap.rt[0], 1);

	heap.rt[PAGE + 5] = 42;
	ret = dsm_fault_open(b->name, &params, &fault);
	ck_assert_msg(ret == 0, "second dsm_fault_open(\"%s\") in one process: %d (%s)",
		      b->name, ret, dsm_strerror(ret));
	fault_open = true;
	ck_assert(!signal_is_default(b->signo));
	p[PAGE] = 1;
	ck_assert_int_eq(faults(), 2);
	ck_assert_uint_eq(recs[1].page, 1);
	assert_access(recs[1].access, DSM_ACCESS_WRITE);
	ck_assert_int_eq(p[PAGE + 5], 42);
	ck_assert_int_eq(faults(), 2);
}
END_TEST

/* ---------- cost ---------- */

/*
 * One fault resolved in the faulting thread: invalidate, touch, grant.
 * Printed, not asserted (shared CI machines are noisy).
 */
START_TEST(test_cost)
{
	volatile char *a = (volatile char *)heap.app;
	const int n = 20000;
	double t0, tr, tw, tn;
	char v;

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
		backends[_i].name, tr * 1e6 / n, tw * 1e6 / n, tn * 1e6 / n);
	ck_assert_int_eq(faults(), 2 * n);
}
END_TEST

/* ---------- the suite ---------- */

/* Every test, for the backend at index b alone. */
static void add_backend(Suite *s, int b)
{
	/* Check keeps the name pointer, not a copy: it must outlive the
	 * runner (a strdup here was a leak LeakSanitizer reported). */
	static char names[NBACKENDS][64];
	char *name = names[b];
	TCase *tc;

	/* The backend opened by its checked fixture. */
	tc = tcase_create(backends[b].name);
	tcase_add_checked_fixture(tc, backends[b].open, heap_teardown);
	tcase_set_timeout(tc, 20);	/* a lost wake-up or a fault loop hangs */
	tcase_add_loop_test(tc, test_read_hole, b, b + 1);
	tcase_add_loop_test(tc, test_read_then_write, b, b + 1);
	tcase_add_loop_test(tc, test_write_first, b, b + 1);
	tcase_add_loop_test(tc, test_protect_ranges, b, b + 1);
	tcase_add_loop_test(tc, test_invalidate_sees_new_data, b, b + 1);
	tcase_add_loop_test(tc, test_dropped_mapping_repaired, b, b + 1);
	tcase_add_loop_test(tc, test_threads_fault_at_once, b, b + 1);
	tcase_add_loop_test(tc, test_threads_vs_invalidation, b, b + 1);
	tcase_add_loop_exit_test(tc, test_handler_failure_exits, 1, b, b + 1);
	tcase_add_loop_test_raise_signal(tc, test_foreign_fault_kills, SIGSEGV, b, b + 1);
	tcase_add_loop_test_raise_signal(tc, test_unmapped_fault_kills, SIGSEGV, b, b + 1);
	tcase_add_loop_test_raise_signal(tc, test_foreign_sigbus_kills, SIGBUS, b, b + 1);
	tcase_add_loop_test(tc, test_cost, b, b + 1);
	suite_add_tcase(s, tc);

	/* These open the backend themselves, after setting the stage. */
	snprintf(name, sizeof(names[b]), "%s/open", backends[b].name);
	tc = tcase_create(name);
	tcase_add_checked_fixture(tc, heap_setup, heap_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_forward_sigsegv_to_siginfo_handler, b, b + 1);
	tcase_add_loop_test(tc, test_forward_sigsegv_to_plain_handler, b, b + 1);
	tcase_add_loop_test(tc, test_forward_sigbus_to_siginfo_handler, b, b + 1);
	tcase_add_loop_test(tc, test_forward_sigbus_to_plain_handler, b, b + 1);
	tcase_add_loop_test(tc, test_close_reopen, b, b + 1);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s = suite_create("fault_backends");
	int runnable = 0, failures, ret;
	SRunner *sr;

	for (int b = 0; b < (int)NBACKENDS; b++) {
		ret = backends[b].ops->probe();
		if (ret < 0) {
			printf("SKIP: fault backend %s cannot run here, its tests are skipped: %s%s\n",
			       backends[b].name, dsm_strerror(ret),
			       backends[b].ops->hint ? backends[b].ops->hint : "");
			continue;
		}
		add_backend(s, b);
		runnable++;
	}
	fflush(stdout);
	if (!runnable)
		return 77;	/* SKIP: no backend can run on this host */

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
