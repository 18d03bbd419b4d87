/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * interpose.c - wrappers of the C library's data-moving system calls that
 * make them work on the shared heap (interpose.h).
 *
 * Why touching works: the kernel's copy to or from user memory does not
 * fault into user space, but the application's own access does.  A load of
 * one byte of a page makes the fault backend give this node a readable copy
 * of it; an atomic add of 0 to one byte is a store to the CPU (it faults for
 * write access and takes write ownership) that never changes the data, even
 * with other threads storing to that byte.  Once every page the kernel will
 * touch is accessible the call goes through.  Another node may take a page
 * back between the touch and the kernel's access: the call then fails with
 * EFAULT having moved nothing (the kernel returns a short count, not EFAULT,
 * once it has moved something), so touching again and retrying is safe.
 * At a file offset (pread, pwrite) a short count is completed: the rest is
 * touched again and moved, as a file would have moved it all at once
 * (DSM_IP_SLOW_AT).
 * Exception: a datagram socket (UDP) drops the datagram it could not copy,
 * as it would for a bad buffer without libdsm.
 *
 * Context: the wrappers run in any thread, including signal handlers (read
 * and write are async-signal-safe and applications call them there).  On
 * the path where no buffer is in the heap they take no lock, allocate
 * nothing, call no dlsym: they read the heap's range and the next
 * definition's address (both plain words, written once) and call through.
 * The path that touches heap pages may fault into the runtime: it is for
 * application threads outside signal handlers only, like any access to the
 * shared heap (dsm(3), LIMITATIONS).
 *
 * The next definitions are looked up with dlsym(RTLD_NEXT) when libdsm is
 * loaded (a constructor: before main, before any signal handler of the
 * program exists) and again at install.  If one is still unknown (a static
 * link has no RTLD_NEXT) the wrapper makes the raw system call instead, and
 * fread/fwrite use fread_unlocked/fwrite_unlocked under the stream's lock,
 * which is what the C library's own do.
 *
 * Limits (also in dsm(3)):
 *   - Only callers that bind to libdsm's definitions: the program and the
 *     libraries linked with -ldsm.  The exported names carry libdsm's symbol
 *     version, so a shared library linked against the C library alone (its
 *     references are read@GLIBC_*) still calls the C library directly, and
 *     the C library's internal calls are never seen.  stdio copies through
 *     the stream's buffer (a plain access, which faults as usual) except
 *     for large blocks: fread/fwrite are wrapped for that, but fputs, puts
 *     or fprintf of a long string that lies in shared memory may still go
 *     straight to the kernel and fail.
 *   - Only the calls listed in interpose.h: not preadv2/pwritev2,
 *     recvmmsg/sendmmsg, splice/vmsplice, sendfile, ioctl, getsockopt, stat
 *     and friends' output structures, nor path-name arguments in shared
 *     memory (open(shared_path)): those fail with EFAULT on a page this node
 *     cannot access.
 *   - Every page of the buffer is touched before the call, for the whole
 *     length passed: a read(fd, buf, 1 << 30) on a pipe takes write
 *     ownership of a GiB of shared pages even if 10 bytes come.
 *   - An iovec array or msghdr that is not readable at all makes the
 *     wrapper crash (it reads them to find the buffers) where the bare
 *     call would fail with EFAULT; only while a heap exists (dsm_init ..
 *     dsm_finalize), before that the wrappers do not look at them.
 */

/* The wrappers are the definitions of read(), fread(), ...: never the
 * inline fortified versions of the headers. */
#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kernel-shim/interpose/interpose.h"
#include "runtime/base/compiler.h"
#include "runtime/base/log.h"

/*
 * _FORTIFY_SOURCE entry points: a fortified program calls these instead of
 * read() and friends when the compiler knows the buffer's size.  The C
 * library declares them only when fortifying.
 */
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t nbytes, off_t offset, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t nbytes, off64_t offset, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *__restrict buf, size_t n, size_t buflen, int flags,
		       __SOCKADDR_ARG addr, socklen_t *__restrict addr_len);
size_t __fread_chk(void *__restrict ptr, size_t ptrlen, size_t size, size_t n,
		   FILE *__restrict stream);
void __chk_fail(void) __attribute__((noreturn));

/* With _GNU_SOURCE, glibc passes socket addresses as a transparent union. */
#if defined(__USE_GNU) && !defined(__cplusplus)
#define DSM_IP_SA(a) ((a).__sockaddr__)
#else
#define DSM_IP_SA(a) (a)
#endif

/* Attempts after the first when a call fails with EFAULT. */
#define DSM_IP_RETRIES 32

/* The calls whose next definition we look up (each has a wrapper). */
#define DSM_IP_CALLS(X)							\
	X(read) X(write) X(pread) X(pwrite) X(pread64) X(pwrite64)		\
	X(readv) X(writev) X(preadv) X(pwritev) X(preadv64) X(pwritev64)	\
	X(recv) X(recvfrom) X(recvmsg) X(send) X(sendto) X(sendmsg)		\
	X(fread) X(fwrite)
/* Wrapped too, but implemented on the wrappers above (no next needed). */
#define DSM_IP_CHECKED(X)							\
	X(__read_chk) X(__pread_chk) X(__pread64_chk) X(__recv_chk)		\
	X(__recvfrom_chk) X(__fread_chk)

/*
 * The application view's range.  dsm_ip_size is 0 while there is no heap
 * (before dsm_init, after dsm_finalize).  Written by install and uninstall
 * (the init and finalize threads); read by every wrapper without a lock:
 * the size with acquire, then the base, which install stores before the
 * size (release), so a wrapper that sees a size sees its base.
 */
static uintptr_t dsm_ip_base;
static size_t dsm_ip_size;
/* Stride of the touches: the system page.  Each 4K piece of a larger
 * coherence page gets its own touch, since the userfaultfd backend can lose
 * (and repairs on fault) the mapping of one piece.  Set before dsm_ip_size. */
static size_t dsm_ip_step = 4096;
/* What install's check found (dsm_interpose_is_bound). */
static bool dsm_ip_bound = true;

/*
 * The next definition of each call, or NULL while unknown.  Written by
 * dsm_ip_resolve (constructor, install), read by the wrappers with an
 * acquire load: a word, never torn.
 */
#define X(name) static __typeof__(name) *dsm_ip_next_##name;
DSM_IP_CALLS(X)
#undef X

#define DSM_IP_NEXT(name) __atomic_load_n(&dsm_ip_next_##name, __ATOMIC_ACQUIRE)

/* ---------- the heap's range and the touches ---------- */

/* Is there a heap at all?  Tested first by the wrappers that must read the
 * caller's iovecs or headers to find the buffers: before dsm_init and after
 * dsm_finalize they look at nothing. */
static inline bool dsm_ip_active(void)
{
	return __atomic_load_n(&dsm_ip_size, __ATOMIC_ACQUIRE) != 0;
}

/* Does [p, p + len) intersect the heap?  Signal-safe, lock-free. */
static inline bool dsm_ip_hits(const void *p, size_t len)
{
	size_t size = __atomic_load_n(&dsm_ip_size, __ATOMIC_ACQUIRE);
	uintptr_t a = (uintptr_t)p, base;

	if (size == 0 || len == 0)
		return false;
	base = __atomic_load_n(&dsm_ip_base, __ATOMIC_RELAXED);
	if (a >= base)
		return a - base < size;
	return base - a < len;
}

/*
 * Make the part of [p, p + len) inside the heap accessible as the kernel
 * will access it: one load (write false) or one atomic add of 0 (write
 * true) per system page, each of which may fault into the runtime and
 * block until the page is granted.  Application thread, not in a signal
 * handler.  A page may be taken away again by the time the loop ends; the
 * caller retries on EFAULT.
 */
static void dsm_ip_touch(const void *p, size_t len, bool write)
{
	size_t size = __atomic_load_n(&dsm_ip_size, __ATOMIC_ACQUIRE);
	uintptr_t a = (uintptr_t)p, base, end, step = dsm_ip_step;

	if (size == 0 || len == 0)
		return;
	base = __atomic_load_n(&dsm_ip_base, __ATOMIC_RELAXED);
	/* Clip to the heap, without overflowing a + len. */
	if (a < base) {
		if (base - a >= len)
			return;
		len -= base - a;
		a = base;
	}
	if (a - base >= size)
		return;
	if (len > size - (a - base))
		len = size - (a - base);
	end = a + len;
	for (;;) {
		if (write)
			__atomic_fetch_add((volatile char *)a, 0, __ATOMIC_RELAXED);
		else
			(void)*(volatile const char *)a;
		a = (a & ~(step - 1)) + step;
		if (a >= end)
			break;
	}
}

/* The iovec array itself is read by the kernel; the buffers as told. */
static bool dsm_ip_iov_hits(const struct iovec *iov, int cnt)
{
	if (!iov || cnt <= 0 || cnt > IOV_MAX)
		return false;
	if (dsm_ip_hits(iov, (size_t)cnt * sizeof(*iov)))
		return true;
	for (int i = 0; i < cnt; i++)
		if (dsm_ip_hits(iov[i].iov_base, iov[i].iov_len))
			return true;
	return false;
}

static void dsm_ip_iov_touch(const struct iovec *iov, int cnt, bool write)
{
	if (!iov || cnt <= 0 || cnt > IOV_MAX)
		return;
	dsm_ip_touch(iov, (size_t)cnt * sizeof(*iov), false);
	for (int i = 0; i < cnt; i++)
		dsm_ip_touch(iov[i].iov_base, iov[i].iov_len, write);
}

static bool dsm_ip_msg_hits(const struct msghdr *m)
{
	if (!m)
		return false;
	if (dsm_ip_hits(m, sizeof(*m)))
		return true;
	return dsm_ip_hits(m->msg_name, m->msg_namelen) ||
	       dsm_ip_hits(m->msg_control, m->msg_controllen) ||
	       (m->msg_iovlen <= IOV_MAX && dsm_ip_iov_hits(m->msg_iov, (int)m->msg_iovlen));
}

/*
 * recvmsg (write true) writes the buffers, the name, the control data and
 * the header's msg_namelen, msg_controllen and msg_flags; sendmsg reads them.
 */
static void dsm_ip_msg_touch(const struct msghdr *m, bool write)
{
	dsm_ip_touch(m, sizeof(*m), write);
	dsm_ip_touch(m->msg_name, m->msg_namelen, write);
	dsm_ip_touch(m->msg_control, m->msg_controllen, write);
	if (m->msg_iovlen <= IOV_MAX)
		dsm_ip_iov_touch(m->msg_iov, (int)m->msg_iovlen, write);
}

/* Between attempts: give the node that took the page a moment. */
static void dsm_ip_backoff(int attempt)
{
	if (attempt >= 2)
		sched_yield();
}

/*
 * The slow path of the system-call wrappers: touch, call, and on EFAULT
 * touch again and retry, at most DSM_IP_RETRIES more times.  errno is what
 * the last call left (restored before each attempt, so a success after a
 * retry leaves the caller's errno as it was).  A short count is returned
 * as it is.
 */
#define DSM_IP_SLOW(ret, touch, call)						\
	do {									\
		int saved_errno_ = errno;					\
		for (int attempt_ = 0;; attempt_++) {				\
			touch;							\
			errno = saved_errno_;					\
			(ret) = (call);						\
			if ((ret) >= 0 || errno != EFAULT ||			\
			    attempt_ == DSM_IP_RETRIES)				\
				break;						\
			dsm_ip_backoff(attempt_);				\
		}								\
	} while (0)

/*
 * The same for a call at a file offset, call(fd, buf, n, off) moving n
 * bytes at buf (write: into it).  A short count means the end of the
 * file, or a page that another node took back after some bytes moved: go
 * on with the rest until all moved, an error, or a call that moves
 * nothing (the end of the file), so that a count is short only where the
 * file's would be.  An error after some bytes moved gives their count,
 * errno as it was.
 */
#define DSM_IP_SLOW_AT(ret, call, fd, buf, n, off, write)			\
	do {									\
		int entry_errno_ = errno;					\
		size_t done_ = 0;						\
		for (;;) {							\
			char *at_ = (char *)(buf) + done_;			\
			ssize_t r_;						\
										\
			DSM_IP_SLOW(r_, dsm_ip_touch(at_, (n) - done_, write),	\
				    call(fd, at_, (n) - done_, (off) + (off_t)done_)); \
			if (r_ < 0 && done_)					\
				errno = entry_errno_;				\
			if (r_ < 0) {						\
				(ret) = done_ ? (ssize_t)done_ : r_;		\
				break;						\
			}							\
			done_ += (size_t)r_;					\
			if (r_ == 0 || done_ == (n)) {				\
				(ret) = (ssize_t)done_;				\
				break;						\
			}							\
		}								\
	} while (0)

/* ---------- calling through ---------- */

/*
 * The next definition, or the raw system call while it is unknown (static
 * link).  Signal-safe.  The raw calls assume a 64-bit ABI, where a 64-bit
 * offset is one argument.
 */
#if UINTPTR_MAX == UINT64_MAX
#define DSM_IP_RAW(...) syscall(__VA_ARGS__)
#else
#define DSM_IP_RAW(...) (errno = ENOSYS, -1)
#endif

static ssize_t dsm_ip_call_read(int fd, void *buf, size_t n)
{
	__typeof__(read) *next = DSM_IP_NEXT(read);

	return next ? next(fd, buf, n) : syscall(SYS_read, fd, buf, n);
}

static ssize_t dsm_ip_call_write(int fd, const void *buf, size_t n)
{
	__typeof__(write) *next = DSM_IP_NEXT(write);

	return next ? next(fd, buf, n) : syscall(SYS_write, fd, buf, n);
}

static ssize_t dsm_ip_call_pread(int fd, void *buf, size_t n, off_t off)
{
	__typeof__(pread) *next = DSM_IP_NEXT(pread);

	return next ? next(fd, buf, n, off) : DSM_IP_RAW(SYS_pread64, fd, buf, n, off);
}

static ssize_t dsm_ip_call_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	__typeof__(pwrite) *next = DSM_IP_NEXT(pwrite);

	return next ? next(fd, buf, n, off) : DSM_IP_RAW(SYS_pwrite64, fd, buf, n, off);
}

static ssize_t dsm_ip_call_pread64(int fd, void *buf, size_t n, off64_t off)
{
	__typeof__(pread64) *next = DSM_IP_NEXT(pread64);

	return next ? next(fd, buf, n, off) : DSM_IP_RAW(SYS_pread64, fd, buf, n, off);
}

static ssize_t dsm_ip_call_pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	__typeof__(pwrite64) *next = DSM_IP_NEXT(pwrite64);

	return next ? next(fd, buf, n, off) : DSM_IP_RAW(SYS_pwrite64, fd, buf, n, off);
}

static ssize_t dsm_ip_call_readv(int fd, const struct iovec *iov, int cnt)
{
	__typeof__(readv) *next = DSM_IP_NEXT(readv);

	return next ? next(fd, iov, cnt) : syscall(SYS_readv, fd, iov, cnt);
}

static ssize_t dsm_ip_call_writev(int fd, const struct iovec *iov, int cnt)
{
	__typeof__(writev) *next = DSM_IP_NEXT(writev);

	return next ? next(fd, iov, cnt) : syscall(SYS_writev, fd, iov, cnt);
}

/* preadv(2)'s offset goes to the kernel as two longs (low, high). */
#define DSM_IP_LOHI(off) (long)(off), (long)((uint64_t)(off) >> 32)

static ssize_t dsm_ip_call_preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	__typeof__(preadv) *next = DSM_IP_NEXT(preadv);

	return next ? next(fd, iov, cnt, off) : DSM_IP_RAW(SYS_preadv, fd, iov, cnt, DSM_IP_LOHI(off));
}

static ssize_t dsm_ip_call_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	__typeof__(pwritev) *next = DSM_IP_NEXT(pwritev);

	return next ? next(fd, iov, cnt, off) : DSM_IP_RAW(SYS_pwritev, fd, iov, cnt, DSM_IP_LOHI(off));
}

static ssize_t dsm_ip_call_preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	__typeof__(preadv64) *next = DSM_IP_NEXT(preadv64);

	return next ? next(fd, iov, cnt, off) : DSM_IP_RAW(SYS_preadv, fd, iov, cnt, DSM_IP_LOHI(off));
}

static ssize_t dsm_ip_call_pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	__typeof__(pwritev64) *next = DSM_IP_NEXT(pwritev64);

	return next ? next(fd, iov, cnt, off) : DSM_IP_RAW(SYS_pwritev, fd, iov, cnt, DSM_IP_LOHI(off));
}

static ssize_t dsm_ip_call_recv(int fd, void *buf, size_t n, int flags)
{
	__typeof__(recv) *next = DSM_IP_NEXT(recv);

	return next ? next(fd, buf, n, flags) : syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

static ssize_t dsm_ip_call_recvfrom(int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG addr,
				    socklen_t *alen)
{
	__typeof__(recvfrom) *next = DSM_IP_NEXT(recvfrom);

	return next ? next(fd, buf, n, flags, addr, alen)
		    : syscall(SYS_recvfrom, fd, buf, n, flags, DSM_IP_SA(addr), alen);
}

static ssize_t dsm_ip_call_recvmsg(int fd, struct msghdr *m, int flags)
{
	__typeof__(recvmsg) *next = DSM_IP_NEXT(recvmsg);

	return next ? next(fd, m, flags) : syscall(SYS_recvmsg, fd, m, flags);
}

static ssize_t dsm_ip_call_send(int fd, const void *buf, size_t n, int flags)
{
	__typeof__(send) *next = DSM_IP_NEXT(send);

	return next ? next(fd, buf, n, flags) : syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

static ssize_t dsm_ip_call_sendto(int fd, const void *buf, size_t n, int flags,
				  __CONST_SOCKADDR_ARG addr, socklen_t alen)
{
	__typeof__(sendto) *next = DSM_IP_NEXT(sendto);

	return next ? next(fd, buf, n, flags, addr, alen)
		    : syscall(SYS_sendto, fd, buf, n, flags, DSM_IP_SA(addr), alen);
}

static ssize_t dsm_ip_call_sendmsg(int fd, const struct msghdr *m, int flags)
{
	__typeof__(sendmsg) *next = DSM_IP_NEXT(sendmsg);

	return next ? next(fd, m, flags) : syscall(SYS_sendmsg, fd, m, flags);
}

static size_t dsm_ip_call_fread(void *ptr, size_t size, size_t n, FILE *f)
{
	__typeof__(fread) *next = DSM_IP_NEXT(fread);
	size_t ret;

	if (next)
		return next(ptr, size, n, f);
	flockfile(f);
	ret = fread_unlocked(ptr, size, n, f);
	funlockfile(f);
	return ret;
}

static size_t dsm_ip_call_fwrite(const void *ptr, size_t size, size_t n, FILE *f)
{
	__typeof__(fwrite) *next = DSM_IP_NEXT(fwrite);
	size_t ret;

	if (next)
		return next(ptr, size, n, f);
	flockfile(f);
	ret = fwrite_unlocked(ptr, size, n, f);
	funlockfile(f);
	return ret;
}

/* ---------- the wrappers ---------- */

static ssize_t dsm_ip_read(int fd, void *buf, size_t n)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_read(fd, buf, n);
	DSM_IP_SLOW(ret, dsm_ip_touch(buf, n, true), dsm_ip_call_read(fd, buf, n));
	return ret;
}

static ssize_t dsm_ip_write(int fd, const void *buf, size_t n)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_write(fd, buf, n);
	DSM_IP_SLOW(ret, dsm_ip_touch(buf, n, false), dsm_ip_call_write(fd, buf, n));
	return ret;
}

static ssize_t dsm_ip_pread(int fd, void *buf, size_t n, off_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_pread(fd, buf, n, off);
	DSM_IP_SLOW_AT(ret, dsm_ip_call_pread, fd, buf, n, off, true);
	return ret;
}

static ssize_t dsm_ip_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_pwrite(fd, buf, n, off);
	DSM_IP_SLOW_AT(ret, dsm_ip_call_pwrite, fd, buf, n, off, false);
	return ret;
}

static ssize_t dsm_ip_pread64(int fd, void *buf, size_t n, off64_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_pread64(fd, buf, n, off);
	DSM_IP_SLOW_AT(ret, dsm_ip_call_pread64, fd, buf, n, off, true);
	return ret;
}

static ssize_t dsm_ip_pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_pwrite64(fd, buf, n, off);
	DSM_IP_SLOW_AT(ret, dsm_ip_call_pwrite64, fd, buf, n, off, false);
	return ret;
}

static ssize_t dsm_ip_readv(int fd, const struct iovec *iov, int cnt)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_iov_hits(iov, cnt))
		return dsm_ip_call_readv(fd, iov, cnt);
	DSM_IP_SLOW(ret, dsm_ip_iov_touch(iov, cnt, true), dsm_ip_call_readv(fd, iov, cnt));
	return ret;
}

static ssize_t dsm_ip_writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_iov_hits(iov, cnt))
		return dsm_ip_call_writev(fd, iov, cnt);
	DSM_IP_SLOW(ret, dsm_ip_iov_touch(iov, cnt, false), dsm_ip_call_writev(fd, iov, cnt));
	return ret;
}

static ssize_t dsm_ip_preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_iov_hits(iov, cnt))
		return dsm_ip_call_preadv(fd, iov, cnt, off);
	DSM_IP_SLOW(ret, dsm_ip_iov_touch(iov, cnt, true), dsm_ip_call_preadv(fd, iov, cnt, off));
	return ret;
}

static ssize_t dsm_ip_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_iov_hits(iov, cnt))
		return dsm_ip_call_pwritev(fd, iov, cnt, off);
	DSM_IP_SLOW(ret, dsm_ip_iov_touch(iov, cnt, false), dsm_ip_call_pwritev(fd, iov, cnt, off));
	return ret;
}

static ssize_t dsm_ip_preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_iov_hits(iov, cnt))
		return dsm_ip_call_preadv64(fd, iov, cnt, off);
	DSM_IP_SLOW(ret, dsm_ip_iov_touch(iov, cnt, true), dsm_ip_call_preadv64(fd, iov, cnt, off));
	return ret;
}

static ssize_t dsm_ip_pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_iov_hits(iov, cnt))
		return dsm_ip_call_pwritev64(fd, iov, cnt, off);
	DSM_IP_SLOW(ret, dsm_ip_iov_touch(iov, cnt, false), dsm_ip_call_pwritev64(fd, iov, cnt, off));
	return ret;
}

static ssize_t dsm_ip_recv(int fd, void *buf, size_t n, int flags)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_recv(fd, buf, n, flags);
	DSM_IP_SLOW(ret, dsm_ip_touch(buf, n, true), dsm_ip_call_recv(fd, buf, n, flags));
	return ret;
}

/* The address: the kernel reads *alen, then writes up to that many bytes
 * (at most a sockaddr_storage) and the length back. */
static void dsm_ip_recvfrom_touch(void *buf, size_t n, struct sockaddr *sa, socklen_t *alen)
{
	dsm_ip_touch(buf, n, true);
	if (sa && alen) {
		socklen_t len;

		dsm_ip_touch(alen, sizeof(*alen), true);
		len = *alen;
		if (len > sizeof(struct sockaddr_storage))
			len = sizeof(struct sockaddr_storage);
		dsm_ip_touch(sa, len, true);
	}
}

static ssize_t dsm_ip_recvfrom(int fd, void *__restrict buf, size_t n, int flags,
			       __SOCKADDR_ARG addr, socklen_t *__restrict alen)
{
	struct sockaddr *sa = DSM_IP_SA(addr);
	ssize_t ret;

	if (likely(!dsm_ip_active()) ||
	    !(dsm_ip_hits(buf, n) ||
	      (sa && alen && (dsm_ip_hits(sa, sizeof(struct sockaddr_storage)) ||
			      dsm_ip_hits(alen, sizeof(*alen))))))
		return dsm_ip_call_recvfrom(fd, buf, n, flags, addr, alen);
	DSM_IP_SLOW(ret, dsm_ip_recvfrom_touch(buf, n, sa, alen),
		    dsm_ip_call_recvfrom(fd, buf, n, flags, addr, alen));
	return ret;
}

static ssize_t dsm_ip_recvmsg(int fd, struct msghdr *m, int flags)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_msg_hits(m))
		return dsm_ip_call_recvmsg(fd, m, flags);
	DSM_IP_SLOW(ret, dsm_ip_msg_touch(m, true), dsm_ip_call_recvmsg(fd, m, flags));
	return ret;
}

static ssize_t dsm_ip_send(int fd, const void *buf, size_t n, int flags)
{
	ssize_t ret;

	if (likely(!dsm_ip_hits(buf, n)))
		return dsm_ip_call_send(fd, buf, n, flags);
	DSM_IP_SLOW(ret, dsm_ip_touch(buf, n, false), dsm_ip_call_send(fd, buf, n, flags));
	return ret;
}

static ssize_t dsm_ip_sendto(int fd, const void *buf, size_t n, int flags,
			     __CONST_SOCKADDR_ARG addr, socklen_t alen)
{
	const struct sockaddr *sa = DSM_IP_SA(addr);
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !(dsm_ip_hits(buf, n) || (sa && dsm_ip_hits(sa, alen))))
		return dsm_ip_call_sendto(fd, buf, n, flags, addr, alen);
	DSM_IP_SLOW(ret, (dsm_ip_touch(buf, n, false), dsm_ip_touch(sa, sa ? alen : 0, false)),
		    dsm_ip_call_sendto(fd, buf, n, flags, addr, alen));
	return ret;
}

static ssize_t dsm_ip_sendmsg(int fd, const struct msghdr *m, int flags)
{
	ssize_t ret;

	if (likely(!dsm_ip_active()) || !dsm_ip_msg_hits(m))
		return dsm_ip_call_sendmsg(fd, m, flags);
	DSM_IP_SLOW(ret, dsm_ip_msg_touch(m, false), dsm_ip_call_sendmsg(fd, m, flags));
	return ret;
}

/* Forget the error a failed attempt left on the stream.  Stream locked. */
static void dsm_ip_clear_error(FILE *f)
{
#ifdef _IO_ERR_SEEN
	f->_flags &= ~_IO_ERR_SEEN;	/* glibc: keeps the end-of-file flag */
#else
	if (!feof_unlocked(f))
		clearerr_unlocked(f);
#endif
}

/* Cancellation inside fread_unlocked must not leave the stream locked. */
static void dsm_ip_unlock_stream(void *f)
{
	funlockfile(f);
}

/*
 * fread and fwrite of a large block move it between the kernel and the
 * user's buffer with the C library's internal read/write, which no symbol
 * interposition sees; so they are wrapped themselves.  On the heap: under
 * the stream's lock (so the attempts are one fread for other threads),
 * touch the rest of the block, move it as bytes (fread_unlocked of size 1
 * returns exactly what it stored), and retry the rest after an EFAULT,
 * forgetting the error flag that EFAULT set unless it was set before.
 * Returns the bytes moved; errno is what the last attempt left, 0 if none
 * set it.  Stream locked by the caller.
 */
static size_t dsm_ip_stdio_locked(char *p, size_t total, FILE *f, bool in)
{
	bool err_before = ferror_unlocked(f);
	size_t done = 0;

	for (int attempt = 0;; attempt++) {
		dsm_ip_touch(p + done, total - done, in);
		errno = 0;
		done += in ? fread_unlocked(p + done, 1, total - done, f)
			   : fwrite_unlocked(p + done, 1, total - done, f);
		if (done == total || errno != EFAULT || !ferror_unlocked(f) ||
		    attempt == DSM_IP_RETRIES)
			return done;
		if (!err_before)
			dsm_ip_clear_error(f);
		dsm_ip_backoff(attempt);
	}
}

/* Lock the stream (and unlock it if the thread is cancelled in there). */
static size_t dsm_ip_stdio(char *p, size_t size, size_t n, size_t total, FILE *f, bool in)
{
	int saved_errno = errno;
	size_t done;

	flockfile(f);
	pthread_cleanup_push(dsm_ip_unlock_stream, f);
	done = dsm_ip_stdio_locked(p, total, f, in);
	pthread_cleanup_pop(1);
	if (errno == 0)
		errno = saved_errno;
	return done == total ? n : done / size;
}

static size_t dsm_ip_fread(void *__restrict ptr, size_t size, size_t n, FILE *__restrict f)
{
	size_t total;

	if (likely(!dsm_ip_active()) || __builtin_mul_overflow(size, n, &total) ||
	    !dsm_ip_hits(ptr, total))
		return dsm_ip_call_fread(ptr, size, n, f);
	return dsm_ip_stdio(ptr, size, n, total, f, true);
}

static size_t dsm_ip_fwrite(const void *__restrict ptr, size_t size, size_t n, FILE *__restrict f)
{
	size_t total;

	if (likely(!dsm_ip_active()) || __builtin_mul_overflow(size, n, &total) ||
	    !dsm_ip_hits(ptr, total))
		return dsm_ip_call_fwrite(ptr, size, n, f);
	/* fwrite_unlocked only reads the block. */
	return dsm_ip_stdio((char *)ptr, size, n, total, f, false);
}

/* _FORTIFY_SOURCE: the C library's checks, then the wrappers above. */
static ssize_t dsm_ip___read_chk(int fd, void *buf, size_t nbytes, size_t buflen)
{
	if (nbytes > buflen)
		__chk_fail();
	return dsm_ip_read(fd, buf, nbytes);
}

static ssize_t dsm_ip___pread_chk(int fd, void *buf, size_t nbytes, off_t off, size_t buflen)
{
	if (nbytes > buflen)
		__chk_fail();
	return dsm_ip_pread(fd, buf, nbytes, off);
}

static ssize_t dsm_ip___pread64_chk(int fd, void *buf, size_t nbytes, off64_t off, size_t buflen)
{
	if (nbytes > buflen)
		__chk_fail();
	return dsm_ip_pread64(fd, buf, nbytes, off);
}

static ssize_t dsm_ip___recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return dsm_ip_recv(fd, buf, n, flags);
}

static ssize_t dsm_ip___recvfrom_chk(int fd, void *__restrict buf, size_t n, size_t buflen,
				     int flags, __SOCKADDR_ARG addr, socklen_t *__restrict alen)
{
	if (n > buflen)
		__chk_fail();
	return dsm_ip_recvfrom(fd, buf, n, flags, addr, alen);
}

static size_t dsm_ip___fread_chk(void *__restrict ptr, size_t ptrlen, size_t size, size_t n,
				 FILE *__restrict f)
{
	size_t total;

	if (__builtin_mul_overflow(size, n, &total) || total > ptrlen)
		__chk_fail();
	return dsm_ip_fread(ptr, size, n, f);
}

/*
 * The exported definitions: aliases of the static functions above, so that
 * &dsm_ip_read is libdsm's own read whatever the program binds "read" to.
 * runtime/libdsm.map lists them.
 */
#define X(name) extern __typeof__(name) name __attribute__((alias("dsm_ip_" #name)));
DSM_IP_CALLS(X)
DSM_IP_CHECKED(X)
#undef X

/* ---------- install ---------- */

static const struct {
	const char *name;
	void *self;
} dsm_ip_hooks[] = {
#define X(name) { #name, (void *)dsm_ip_##name },
	DSM_IP_CALLS(X)
	DSM_IP_CHECKED(X)
#undef X
};

/*
 * Look up the next definition of every call that is still unknown.  Not
 * signal-safe (dlsym): the constructor and install only.  A lookup that
 * finds our own wrapper (libdsm linked twice) is treated as unknown.
 */
static void dsm_ip_resolve(void)
{
#define X(name)									\
	if (!DSM_IP_NEXT(name)) {						\
		__typeof__(name) *next = (__typeof__(name) *)dlsym(RTLD_NEXT, #name); \
										\
		if (next && (void *)next != (void *)dsm_ip_##name)		\
			__atomic_store_n(&dsm_ip_next_##name, next, __ATOMIC_RELEASE); \
	}
	DSM_IP_CALLS(X)
#undef X
}

/* At load time, before the program's main and its signal handlers: the
 * wrappers never need dlsym afterwards. */
__attribute__((constructor)) static void dsm_ip_load(void)
{
	dsm_ip_resolve();
}

/*
 * Is def (what the program binds read, write, ... to) a sanitizer's
 * interceptor?  In a program built with ASan or TSan the sanitizer's library
 * comes first in the search order and defines these names itself; its
 * interceptor checks the buffer, then calls the next definition, found
 * with dlsym(RTLD_NEXT) from that library: ours.  Such a name is bound.
 * Init thread.
 */
static bool dsm_ip_is_sanitizer(void *def)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#if defined(__SANITIZE_ADDRESS__)
	void *rt = dlsym(RTLD_DEFAULT, "__asan_init");
#else
	void *rt = dlsym(RTLD_DEFAULT, "__tsan_init");
#endif
	Dl_info d, r;

	return rt && dladdr(def, &d) && dladdr(rt, &r) && d.dli_fbase == r.dli_fbase;
#else
	(void)def;
	return false;
#endif
}

void dsm_interpose_install(const struct dsm_heap *heap)
{
	long sys_page = sysconf(_SC_PAGESIZE);
	char names[512];
	size_t len = 0;
	int unbound = 0;

	dsm_ip_resolve();
	if (sys_page > 0 && (size_t)sys_page <= heap->page_size)
		dsm_ip_step = (size_t)sys_page;
	else
		dsm_ip_step = heap->page_size;
	/*
	 * Publish the base (and the stride) before the size: a wrapper that
	 * reads a non-zero size (acquire) must find the matching base.
	 */
	__atomic_store_n(&dsm_ip_base, (uintptr_t)heap->app, __ATOMIC_RELAXED);
	__atomic_store_n(&dsm_ip_size, heap->size, __ATOMIC_RELEASE);

	/*
	 * Test the hook (STYLE.md): each name must resolve, for the program,
	 * to our wrapper.  dlsym finds nothing in a static program: there the
	 * link decided, and there is nothing to check.
	 */
	names[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(dsm_ip_hooks); i++) {
		void *def = dlsym(RTLD_DEFAULT, dsm_ip_hooks[i].name);
		int n;

		if (!def || def == dsm_ip_hooks[i].self || dsm_ip_is_sanitizer(def))
			continue;
		n = snprintf(names + len, sizeof(names) - len, "%s%s", unbound ? ", " : "",
			     dsm_ip_hooks[i].name);
		if (n > 0 && (size_t)n < sizeof(names) - len)
			len += (size_t)n;
		unbound++;
	}
	dsm_ip_bound = unbound == 0;
	if (unbound)
		dsm_warn("system calls on shared memory may fail with EFAULT: %s %s not bound to "
			 "libdsm's wrapper%s (the program defines its own, or libdsm was loaded "
			 "with RTLD_LOCAL, or linked after the C library)",
			 names, unbound > 1 ? "are" : "is", unbound > 1 ? "s" : "");
}

void dsm_interpose_uninstall(void)
{
	/* From now on every wrapper calls through without looking. */
	__atomic_store_n(&dsm_ip_size, 0, __ATOMIC_RELEASE);
}

bool dsm_interpose_is_bound(void)
{
	return dsm_ip_bound;
}
