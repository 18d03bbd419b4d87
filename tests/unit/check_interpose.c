/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for kernel-shim/interpose: the wrappers of read, write, ...
 * touch exactly the heap pages of their buffers, for the access the kernel
 * will make, then call through; they call through untouched when there is
 * no heap; EFAULT from a page taken away in between is retried.
 *
 * The test binary links libdsm_core statically, so its calls to read(),
 * fread(), ... bind to the wrappers; -export-dynamic makes them the
 * definitions that dlsym(RTLD_DEFAULT) finds, as they are in a program
 * linked with -ldsm.  A fault handler stands in for the protocol: READ on a
 * read fault, RW on a write fault, counted per page and access.  Loop tests
 * run once per fault backend (_i: 0 sigsegv, 1 userfaultfd, which passes
 * with a note where the host cannot run it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"
#include "kernel-shim/interpose/interpose.h"
#include "kernel-shim/mem/heap.h"

ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
size_t __fread_chk(void *ptr, size_t ptrlen, size_t size, size_t n, FILE *stream);

#define HEAP_BASE	((uintptr_t)0x210000000000ull)
#define HEAP_SIZE	(1u << 20)
#define PAGE		4096u
#define NPAGES		(HEAP_SIZE / PAGE)

static struct dsm_heap heap;
static struct dsm_fault fault;
static bool fault_open;

/* What the handler saw, by page and enum dsm_access (signal context: atomics only). */
static int page_faults[NPAGES][3];
static int prot_lock;			/* spinlock around protect + page_prot */
static uint8_t page_prot[NPAGES];

static void lock_prot(void)
{
	while (__atomic_exchange_n(&prot_lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void unlock_prot(void)
{
	__atomic_store_n(&prot_lock, 0, __ATOMIC_RELEASE);
}

/* test_retry_after_efault: pages the handler takes away (see steal()). */
static size_t steal_a, steal_b;
static int steal_left;

static void revoke_locked(size_t page)
{
	dsm_fault_protect(&fault, page, 1, DSM_PROT_NONE);
	page_prot[page] = DSM_PROT_NONE;
}

static int test_handler(void *ctx, void *addr, enum dsm_access access)
{
	size_t page = dsm_heap_page_of(&heap, addr);
	enum dsm_prot want = access == DSM_ACCESS_READ ? DSM_PROT_READ : DSM_PROT_RW;

	__atomic_fetch_add(&page_faults[page][access], 1, __ATOMIC_SEQ_CST);
	lock_prot();
	if (page_prot[page] < want) {
		dsm_fault_protect(&fault, page, 1, want);
		page_prot[page] = (uint8_t)want;
	}
	if (steal_left > 0 && page == steal_a)
		revoke_locked(steal_b);
	if (steal_left > 0 && page == steal_b) {
		revoke_locked(steal_a);
		steal_left--;
	}
	unlock_prot();
	return 0;
}

static int faults_on(size_t page)
{
	return page_faults[page][0] + page_faults[page][1] + page_faults[page][2];
}

static int total_faults(void)
{
	int n = 0;

	for (size_t p = 0; p < NPAGES; p++)
		n += faults_on(p);
	return n;
}

/* The access a wrapper's touch must report: exact on x86-64. */
static void assert_access(size_t page, enum dsm_access want)
{
#if defined(__x86_64__)
	ck_assert_msg(page_faults[page][want] == 1 && faults_on(page) == 1,
		      "page %zu: faults read %d write %d unknown %d, expected one %s fault", page,
		      page_faults[page][0], page_faults[page][1], page_faults[page][2],
		      want == DSM_ACCESS_READ ? "read" : "write");
#else
	ck_assert_int_ge(faults_on(page), 1);
#endif
}

static void heap_setup(void)
{
	memset(page_faults, 0, sizeof(page_faults));
	memset(page_prot, 0, sizeof(page_prot));
	ck_assert_int_eq(dsm_heap_map(&heap, HEAP_BASE, HEAP_SIZE, PAGE), 0);
}

static void heap_teardown(void)
{
	dsm_interpose_uninstall();
	if (fault_open)
		dsm_fault_close(&fault);
	fault_open = false;
	dsm_heap_unmap(&heap);
}

/* Open backend i and install the wrappers; false if this host cannot run it. */
static bool open_backend(int i)
{
	static const char *const names[] = { "sigsegv", "userfaultfd" };
	struct dsm_fault_params p = { .heap = &heap, .handler = test_handler, .ctx = &fault };

	if (i == 1 && dsm_uffd_ops.probe() < 0) {
		printf("note: userfaultfd cannot run here; test passed without it\n");
		return false;
	}
	ck_assert_int_eq(dsm_fault_open(names[i], &p, &fault), 0);
	fault_open = true;
	dsm_interpose_install(&heap);
	return true;
}

static unsigned char pat(unsigned tag, size_t i)
{
	return (unsigned char)(i * 131u + tag * 71u + (i >> 9) + 1u);
}

static void fill(void *p, size_t len, unsigned tag)
{
	for (size_t i = 0; i < len; i++)
		((unsigned char *)p)[i] = pat(tag, i);
}

static bool matches(const void *p, size_t len, unsigned tag)
{
	for (size_t i = 0; i < len; i++)
		if (((const unsigned char *)p)[i] != pat(tag, i))
			return false;
	return true;
}

static int tmpfd(void)
{
	char path[] = "/tmp/check_interpose.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

/* ---------- no heap: call through, look at nothing ---------- */

/*
 * Wild pointers get the kernel's EFAULT, not a crash in the wrapper,
 * before install and after uninstall; no heap page is touched.
 */
START_TEST(test_no_heap_calls_through)
{
	void *wild = (void *)(HEAP_BASE - 64 * PAGE);
	struct msghdr *wmsg = wild;
	int fd = tmpfd(), sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int round = 0; round < 2; round++) {
		errno = 0;
		ck_assert_int_eq(write(fd, wild, 10), -1);
		ck_assert_int_eq(errno, EFAULT);
		ck_assert_int_eq(readv(fd, wild, 1), -1);
		ck_assert_int_eq(errno, EFAULT);
		ck_assert_int_eq(sendmsg(sv[0], wmsg, 0), -1);
		ck_assert_int_eq(errno, EFAULT);
		/* A PROT_NONE heap page outside an installed range: EFAULT too. */
		ck_assert_int_eq(write(fd, heap.app, 10), -1);
		ck_assert_int_eq(errno, EFAULT);
		ck_assert_int_eq(total_faults(), 0);
		/* Second round: installed, then uninstalled. */
		if (round == 0) {
			ck_assert(open_backend(0));
			dsm_interpose_uninstall();
		}
	}
	close(fd);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* ---------- which pages, which access ---------- */

START_TEST(test_write_reads_pages)
{
	char out[3 * PAGE];
	int p[2];

	if (!open_backend(_i))
		return;
	fill(heap.rt + 100, 3 * PAGE, 1);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], heap.app + 100, 3 * PAGE), 3 * PAGE);
	ck_assert_int_eq(read(p[0], out, sizeof(out)), 3 * PAGE);
	ck_assert(matches(out, sizeof(out), 1));
	for (size_t pg = 0; pg < 4; pg++)
		assert_access(pg, DSM_ACCESS_READ);
	ck_assert_int_eq(faults_on(4), 0);
	ck_assert_int_eq(total_faults(), 4);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_read_writes_pages)
{
	char in[2 * PAGE];
	int p[2];

	if (!open_backend(_i))
		return;
	fill(in, sizeof(in), 2);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], in, sizeof(in)), sizeof(in));
	ck_assert_int_eq(read(p[0], heap.app + 5 * PAGE + 10, sizeof(in)), sizeof(in));
	ck_assert(matches(heap.rt + 5 * PAGE + 10, sizeof(in), 2));
	for (size_t pg = 5; pg < 8; pg++)
		assert_access(pg, DSM_ACCESS_WRITE);
	ck_assert_int_eq(total_faults(), 3);

	/* A page readable here must be upgraded before the kernel writes it. */
	ck_assert_int_eq(((volatile char *)heap.app)[8 * PAGE], 0);
	ck_assert_int_eq(write(p[1], in, 100), 100);
	ck_assert_int_eq(read(p[0], heap.app + 8 * PAGE, 100), 100);
	ck_assert(matches(heap.rt + 8 * PAGE, 100, 2));
	ck_assert_int_ge(page_faults[8][DSM_ACCESS_WRITE] + page_faults[8][DSM_ACCESS_UNKNOWN], 1);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* iovec arrays and message headers in the heap are touched too. */
START_TEST(test_vectors_and_headers)
{
	struct iovec *iov = (struct iovec *)(heap.rt + 10 * PAGE);
	struct iovec *app_iov = (struct iovec *)(heap.app + 10 * PAGE);
	struct msghdr *rmh = (struct msghdr *)(heap.rt + 13 * PAGE);
	struct msghdr *app_rmh = (struct msghdr *)(heap.app + 13 * PAGE);
	char back[2 * PAGE];
	int fd = tmpfd(), sv[2];

	if (!open_backend(_i))
		return;
	iov[0].iov_base = heap.app + 11 * PAGE + 1;
	iov[0].iov_len = 100;
	iov[1].iov_base = heap.app + 12 * PAGE + 2;
	iov[1].iov_len = 200;
	fill(heap.rt + 11 * PAGE + 1, 100, 3);
	fill(heap.rt + 12 * PAGE + 2, 200, 4);
	ck_assert_int_eq(writev(fd, app_iov, 2), 300);
	assert_access(10, DSM_ACCESS_READ);
	assert_access(11, DSM_ACCESS_READ);
	assert_access(12, DSM_ACCESS_READ);
	ck_assert_int_eq(pread(fd, back, 300, 0), 300);
	ck_assert(matches(back, 100, 3));
	ck_assert(matches(back + 100, 200, 4));

	/* readv into two fresh pages, through the same (heap) array. */
	iov[0].iov_base = heap.app + 15 * PAGE;
	iov[1].iov_base = heap.app + 16 * PAGE;
	ck_assert_int_eq(preadv(fd, app_iov, 2, 0), 300);
	assert_access(15, DSM_ACCESS_WRITE);
	assert_access(16, DSM_ACCESS_WRITE);
	ck_assert(matches(heap.rt + 15 * PAGE, 100, 3));

	/* recvmsg writes msg_flags back into a header in the heap. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(send(sv[0], back, 300, 0), 300);
	memset(rmh, 0, sizeof(*rmh));
	rmh->msg_iov = app_iov;
	rmh->msg_iovlen = 2;
	rmh->msg_flags = 0x5a5a;
	iov[0].iov_base = heap.app + 17 * PAGE;
	iov[1].iov_base = heap.app + 18 * PAGE;
	ck_assert_int_eq(recvmsg(sv[1], app_rmh, MSG_WAITALL), 300);
	ck_assert_int_eq(rmh->msg_flags, 0);
	assert_access(13, DSM_ACCESS_WRITE);
	assert_access(17, DSM_ACCESS_WRITE);
	ck_assert(matches(heap.rt + 18 * PAGE, 200, 4));

	/* recvfrom: the address and its length in the heap, written. */
	ck_assert_int_eq(send(sv[0], back, 50, 0), 50);
	*(socklen_t *)(heap.rt + 19 * PAGE) = 64;
	ck_assert_int_eq(recvfrom(sv[1], heap.app + 20 * PAGE, 50, 0,
				  (struct sockaddr *)(heap.app + 21 * PAGE),
				  (socklen_t *)(heap.app + 19 * PAGE)), 50);
	assert_access(19, DSM_ACCESS_WRITE);
	assert_access(20, DSM_ACCESS_WRITE);
	assert_access(21, DSM_ACCESS_WRITE);
	ck_assert(matches(heap.rt + 20 * PAGE, 50, 3));
	close(fd);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* Buffers that cross the heap's ends: only the heap part is touched. */
START_TEST(test_heap_edges)
{
	char *below = mmap((void *)(HEAP_BASE - PAGE), PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	char back[200];
	int fd = tmpfd();

	if (!open_backend(_i))
		return;
	ck_assert_ptr_eq(below, (void *)(HEAP_BASE - PAGE));
	memset(below + PAGE - 50, 'x', 50);
	fill(heap.rt, 50, 5);
	ck_assert_int_eq(write(fd, below + PAGE - 50, 100), 100);
	ck_assert_int_eq(pread(fd, back, 100, 0), 100);
	ck_assert_int_eq(back[0], 'x');
	ck_assert_int_eq(back[49], 'x');
	ck_assert(matches(back + 50, 50, 5));
	assert_access(0, DSM_ACCESS_READ);

	/* Past the end nothing is mapped: the kernel stops there. */
	fill(heap.rt + HEAP_SIZE - 100, 100, 6);
	ck_assert_int_eq(pwrite(fd, heap.app + HEAP_SIZE - 100, 200, 0), 100);
	assert_access(NPAGES - 1, DSM_ACCESS_READ);
	ck_assert_int_eq(pread(fd, back, 100, 0), 100);
	ck_assert(matches(back, 100, 6));
	ck_assert_int_eq(total_faults(), 2);
	munmap(below, PAGE);
	close(fd);
}
END_TEST

/* errno: untouched by success, the real error otherwise, no retry for it. */
START_TEST(test_errno)
{
	int p[2];

	if (!open_backend(_i))
		return;
	ck_assert_int_eq(pipe(p), 0);
	errno = ERANGE;
	ck_assert_int_eq(write(p[1], heap.app + 30 * PAGE, 10), 10);
	ck_assert_int_eq(read(p[0], heap.app + 31 * PAGE, 10), 10);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(read(-1, heap.app + 32 * PAGE, 10), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(faults_on(32), 1);
	/* Zero bytes: nothing to touch. */
	ck_assert_int_eq(write(p[1], heap.app + 33 * PAGE, 0), 0);
	ck_assert_int_eq(faults_on(33), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ---------- stdio ---------- */

#define BLOCK (100u * 1024u)

START_TEST(test_fread_fwrite)
{
	char *back = malloc(BLOCK);
	FILE *f;
	int fd = tmpfd();

	if (!open_backend(_i))
		return;
	ck_assert_ptr_nonnull(back);
	fill(heap.rt + 40 * PAGE + 3, BLOCK, 7);
	f = fdopen(dup(fd), "w");
	ck_assert_ptr_nonnull(f);
	errno = ERANGE;
	ck_assert_uint_eq(fwrite(heap.app + 40 * PAGE + 3, 1, BLOCK, f), BLOCK);
	ck_assert_int_eq(fflush(f), 0);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert(!ferror(f));
	fclose(f);
	ck_assert_int_eq(pread(fd, back, BLOCK, 0), BLOCK);
	ck_assert(matches(back, BLOCK, 7));

	/* fread of items into fresh pages: every page written, the count in items. */
	f = fdopen(dup(fd), "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	ck_assert_uint_eq(fread(heap.app + 80 * PAGE, 8, BLOCK / 8, f), BLOCK / 8);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert(!ferror(f));
	ck_assert(matches(heap.rt + 80 * PAGE, BLOCK, 7));
	for (size_t pg = 80; pg < 80 + BLOCK / PAGE; pg++)
		assert_access(pg, DSM_ACCESS_WRITE);
	/* At the end: a short count in items, end of file, no error. */
	rewind(f);
	ck_assert_uint_eq(fread(heap.app + 80 * PAGE, 3000, BLOCK / 3000 + 5, f), BLOCK / 3000);
	ck_assert(feof(f) && !ferror(f));
	fclose(f);

	/* An error flag set before the call stays set. */
	f = fdopen(dup(fd), "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	ck_assert_int_eq(fputc('x', f), EOF);
	ck_assert(ferror(f));
	ck_assert_uint_eq(fread(heap.app + 120 * PAGE, 1, BLOCK, f), BLOCK);
	ck_assert(ferror(f));
	fclose(f);
	close(fd);
	free(back);
}
END_TEST

/* _FORTIFY_SOURCE's entry points go through the wrappers... */
START_TEST(test_fortify_entry_points)
{
	int fd = tmpfd();
	FILE *f;

	if (!open_backend(_i))
		return;
	ck_assert_int_eq(pwrite(fd, "0123456789", 10, 0), 10);
	ck_assert_int_eq(__read_chk(fd, heap.app + 50 * PAGE, 10, 10), 10);
	ck_assert_int_eq(memcmp(heap.rt + 50 * PAGE, "0123456789", 10), 0);
	f = fdopen(dup(fd), "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	ck_assert_uint_eq(__fread_chk(heap.app + 51 * PAGE, 10, 1, 10, f), 10);
	ck_assert_int_eq(memcmp(heap.rt + 51 * PAGE, "0123456789", 10), 0);
	fclose(f);
	close(fd);
}
END_TEST

/* ... and keep their checks: a length above the buffer's size aborts. */
START_TEST(test_fortify_overflow_aborts)
{
	char buf[10];

	__read_chk(0, buf, 20, sizeof(buf));
}
END_TEST

/* ---------- pages taken away between the touch and the call ---------- */

/*
 * The handler plays another node: while steal_left > 0, granting page
 * steal_b takes page steal_a away (and granting steal_a takes steal_b), so
 * that after the wrapper's touches (a, then b) page a is inaccessible again
 * and the kernel, which copies a first, fails with EFAULT having moved
 * nothing.  Each such round uses up one steal: with k steals the call
 * succeeds at attempt k + 1, if the wrapper retries that often.  Both pages
 * start inaccessible.
 */
static void steal(size_t a, size_t b, int k)
{
	lock_prot();
	revoke_locked(a);
	revoke_locked(b);
	unlock_prot();
	steal_a = a;
	steal_b = b;
	__atomic_store_n(&steal_left, k, __ATOMIC_SEQ_CST);
}

START_TEST(test_retry_after_efault)
{
	const size_t a = 60, len = 2 * PAGE;
	char *buf = heap.app + a * PAGE + 100, *priv = malloc(len);
	int p[2], fd = tmpfd();
	FILE *f;

	if (!open_backend(_i))
		return;
	ck_assert_ptr_nonnull(priv);
	ck_assert_int_eq(pipe(p), 0);

	/* write(2): 5 failed attempts, then the data. */
	fill(heap.rt + a * PAGE + 100, len, 9);
	steal(a, a + 1, 5);
	errno = ERANGE;
	ck_assert_int_eq(write(p[1], buf, len), len);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(steal_left, 0);
	ck_assert_int_eq(faults_on(a + 1), 5);
	ck_assert_int_eq(faults_on(a), 6);
	ck_assert_int_eq(read(p[0], priv, len), len);
	ck_assert(matches(priv, len, 9));

	/* read(2): the data stays in the pipe until an attempt succeeds. */
	fill(priv, len, 10);
	ck_assert_int_eq(write(p[1], priv, len), len);
	steal(a, a + 1, 5);
	ck_assert_int_eq(read(p[0], buf, len), len);
	ck_assert_int_eq(steal_left, 0);
	ck_assert(matches(heap.rt + a * PAGE + 100, len, 10));

	/* fwrite and fread: the error flag of a failed attempt is cleared. */
	fill(heap.rt + a * PAGE + 100, len, 11);
	f = fdopen(dup(fd), "w+");
	ck_assert_ptr_nonnull(f);
	steal(a, a + 1, 5);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	/* At least one failed attempt (a later one may go through the
	 * stream's buffer, whose memcpy faults like any access). */
	ck_assert_int_lt(steal_left, 5);
	ck_assert(!ferror(f));
	ck_assert_int_eq(fflush(f), 0);
	ck_assert_int_eq(pread(fd, priv, len, 0), len);
	ck_assert(matches(priv, len, 11));
	memset(heap.rt + a * PAGE + 100, 0, len);
	rewind(f);
	steal(a, a + 1, 5);
	ck_assert_uint_eq(fread(buf, 1, len, f), len);
	ck_assert_int_lt(steal_left, 5);
	ck_assert(!ferror(f) && !feof(f));
	ck_assert(matches(heap.rt + a * PAGE + 100, len, 11));
	fclose(f);

	/* A page that never stays: a bounded number of attempts, then EFAULT. */
	steal(a, a + 1, 1000);
	ck_assert_int_eq(write(p[1], buf, len), -1);
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_int_gt(1000 - steal_left, 1);
	ck_assert_int_lt(1000 - steal_left, 100);
	steal(a, a + 1, 0);
	close(p[0]);
	close(p[1]);
	close(fd);
	free(priv);
}
END_TEST

/* ---------- the hook's self-check ---------- */

START_TEST(test_bound)
{
	if (!open_backend(_i))
		return;
	ck_assert(dsm_interpose_is_bound());
	ck_assert_ptr_eq(dlsym(RTLD_DEFAULT, "read"), (void *)read);
	ck_assert_ptr_ne(dlsym(RTLD_NEXT, "read"), (void *)read);
}
END_TEST

static Suite *interpose_suite(void)
{
	Suite *s = suite_create("interpose");
	TCase *tc = tcase_create("interpose");

	tcase_add_checked_fixture(tc, heap_setup, heap_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_no_heap_calls_through);
	tcase_add_loop_test(tc, test_write_reads_pages, 0, 2);
	tcase_add_loop_test(tc, test_read_writes_pages, 0, 2);
	tcase_add_loop_test(tc, test_vectors_and_headers, 0, 2);
	tcase_add_loop_test(tc, test_heap_edges, 0, 2);
	tcase_add_loop_test(tc, test_errno, 0, 2);
	tcase_add_loop_test(tc, test_fread_fwrite, 0, 2);
	tcase_add_loop_test(tc, test_fortify_entry_points, 0, 2);
	tcase_add_test_raise_signal(tc, test_fortify_overflow_aborts, SIGABRT);
	tcase_add_loop_test(tc, test_retry_after_efault, 0, 2);
	tcase_add_loop_test(tc, test_bound, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(interpose_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
