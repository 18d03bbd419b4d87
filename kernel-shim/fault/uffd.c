/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uffd.c - the userfaultfd fault backend: page protections that never
 * split the application view's VMA.
 *
 * With mprotect every run of pages with one protection is a VMA, and
 * vm.max_map_count (65530 by default) bounds them: a large heap with
 * scattered protections fails (sigsegv.c).  Here the application view is
 * one VMA, mapped PROT_READ|PROT_WRITE once, registered with userfaultfd
 * (MISSING | MINOR | WP), and a page's protection lives in its page table
 * entry (Documentation/admin-guide/mm/userfaultfd.rst):
 *   NONE  no PTE (MADV_DONTNEED zaps it; the memfd keeps the data).  An
 *         access raises a MISSING fault (a hole of the memfd, never
 *         written) or a MINOR fault (the page is in the page cache but not
 *         mapped in this view);
 *   READ  a PTE installed by UFFDIO_CONTINUE with UFFDIO_CONTINUE_MODE_WP,
 *         or write-protected in place by UFFDIO_WRITEPROTECT: a store
 *         raises a WP fault;
 *   RW    a writable PTE (UFFDIO_CONTINUE, or UFFDIO_WRITEPROTECT mode 0).
 * UFFD_FEATURE_SIGBUS turns every such fault into a SIGBUS in the faulting
 * thread (no event, no monitor thread), so the fault path is the one of
 * sigsegv.c: a signal handler that calls the runtime's handler, which
 * blocks on a futex until the page is granted and calls protect().  Read or
 * write comes from the x86-64 page-fault error code (REG_ERR), checked by
 * the self-test at install; elsewhere, or if the check fails, the access is
 * DSM_ACCESS_UNKNOWN.
 *
 * The backend keeps one byte per heap page: what protect() last set, and a
 * lock bit held across the syscalls that change the page's mapping.  If the
 * kernel drops a PTE on its own (reclaim of a shmem page to swap, a
 * madvise from outside), the next access faults on a page the runtime
 * believes accessible; the handler re-creates the mapping from that byte
 * (dsm_uffd_repair) instead of asking a runtime that would have nothing
 * to do.
 *
 * What may run in signal context: as in sigsegv.c (syscalls, atomics,
 * spinning, the runtime's own locks; no malloc, no stdio, no dsm_log).
 *
 * Limits:
 *   - Linux 6.4 or later: UFFDIO_CONTINUE_MODE_WP maps a page read-only
 *     in one step.  Without it (CONTINUE, then WRITEPROTECT) another thread
 *     could store into a page just granted READ between the two calls,
 *     unseen by the protocol, so probe() refuses such kernels.  Also shmem
 *     minor faults (5.13) and shmem write protection (5.19), the latter
 *     only where the architecture has userfaultfd write protection
 *     (x86-64; other architectures in more recent kernels).
 *   - userfaultfd must be allowed: root or CAP_SYS_PTRACE, or
 *     vm.unprivileged_userfaultfd=1, or (5.11+) UFFD_USER_MODE_ONLY, which
 *     probe() asks for first.  SELinux may refuse it too.
 *   - As with mprotect, a syscall that reads a NONE page or writes a
 *     NONE or READ page fails with EFAULT (the kernel's access is not
 *     trapped, UFFD_USER_MODE_ONLY or not); kernel-shim/interpose touches
 *     the pages of read(2), write(2), recv(2)... buffers first, and lists
 *     the calls it does not cover.
 *     Debuggers cannot read NONE pages through /proc/pid/mem either.
 *   - uninstall() unregisters the range: every page of the view is then
 *     readable and writable (what the memfd holds), not left as it was.
 *   - A child of fork() does not inherit the registration.
 */
#include <errno.h>
#include <stddef.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"

#if HAVE_UFFD

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "runtime/base/compiler.h"
#include "runtime/base/log.h"

/* ABI values newer than some distributions' headers (5.19 and 6.4). */
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

/*
 * Features asked of UFFDIO_API.  Not UFFD_FEATURE_WP_UNPOPULATED: it only
 * changes anonymous memory (shmem always keeps write protection of
 * unpopulated PTEs as markers), and the heap is a memfd.
 */
#define DSM_UFFD_FEATURES \
	(UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
#define DSM_UFFD_MODES \
	(UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP)
/* What a registered range must offer. */
#define DSM_UFFD_IOCTLS ((1ull << _UFFDIO_CONTINUE) | (1ull << _UFFDIO_WRITEPROTECT))

/* One byte per heap page (dsm_uffd_state). */
#define DSM_UFFD_PROT	0x03	/* enum dsm_prot of the application view's mapping */
#define DSM_UFFD_LOCKED	0x80	/* held across the syscalls that change it */

/* The handler needs global state: one installed backend per process. */
static struct dsm_fault *dsm_uffd_active;
static int dsm_uffd_fd = -1;
/*
 * Per heap page: DSM_UFFD_PROT is what protect() last set (NONE, READ, RW),
 * moved only by protect() and read by the fault handler, both under
 * DSM_UFFD_LOCKED; calloc'ed (all NONE) at install, freed at uninstall.
 */
static uint8_t *dsm_uffd_state;
static size_t dsm_uffd_sys_page;
/* REG_ERR told read from write in the self-test: trust it. */
static bool dsm_uffd_access_ok;
static struct sigaction dsm_uffd_prev;

/* A private page used to check the installed handler (STYLE.md: "Test a
 * hook after installing it"), registered like the heap. */
static char *volatile dsm_uffd_probe_page;
static volatile int dsm_uffd_probe_memfd = -1;
static volatile int dsm_uffd_probe_hits;
static volatile int dsm_uffd_probe_write[2];	/* REG_ERR's write bit, per hit */
static volatile int dsm_uffd_probe_err;		/* errno of a failed resolution */

/* ---------- syscalls: signal-safe, return 0 or a positive errno ---------- */

/* 1 for a write, 0 for a read, -1 when the CPU did not say. */
static int dsm_uffd_err_write(const void *uctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = uctx;

	/* x86 page-fault error code: bit 1 set for a write access.  The
	 * kernel fills it for the SIGBUS of a userfault as for a SIGSEGV
	 * (do_sigbus -> set_signal_archinfo); the self-test checks it. */
	return (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;
#else
	return -1;
#endif
}

static enum dsm_access dsm_uffd_access(const void *uctx)
{
	int w = dsm_uffd_access_ok ? dsm_uffd_err_write(uctx) : -1;

	return w < 0 ? DSM_ACCESS_UNKNOWN : w ? DSM_ACCESS_WRITE : DSM_ACCESS_READ;
}

static int dsm_uffd_register(int fd, void *addr, size_t len)
{
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = DSM_UFFD_MODES,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &r) < 0)
		return errno;
	if ((r.ioctls & DSM_UFFD_IOCTLS) != DSM_UFFD_IOCTLS) {
		struct uffdio_range u = { .start = (uintptr_t)addr, .len = len };

		ioctl(fd, UFFDIO_UNREGISTER, &u);
		return EOPNOTSUPP;
	}
	return 0;
}

static int dsm_uffd_unregister(int fd, void *addr, size_t len)
{
	struct uffdio_range u = { .start = (uintptr_t)addr, .len = len };

	return ioctl(fd, UFFDIO_UNREGISTER, &u) < 0 ? errno : 0;
}

/*
 * Set or clear the write protection of present PTEs in [addr, addr+len).
 * Setting it flushes the TLBs before returning: no CPU can store through
 * the old writable translation afterwards.  Clearing it only adds a right.
 */
static int dsm_uffd_wp(char *addr, size_t len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (uintptr_t)addr, .len = len },
		/* With SIGBUS nobody sleeps on the range: nothing to wake. */
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
	};

	while (ioctl(dsm_uffd_fd, UFFDIO_WRITEPROTECT, &w) < 0)
		if (errno != EAGAIN && errno != EINTR)
			return errno;
	return 0;
}

/*
 * Map [addr, addr+len) of a registered view of memfd, whose byte 0 is at
 * memfd offset off, from the page cache: write-protected if wp.  A hole
 * of the memfd (never written) is allocated first with fallocate, which
 * leaves existing data alone.  A page mapped already (another thread
 * repaired it first, see dsm_uffd_repair) gets the wanted protection in
 * place.  UFFDIO_CONTINUE reports partial progress as EAGAIN with the
 * bytes done in .mapped, and a failure at the start as -errno in .mapped.
 */
static int dsm_uffd_continue(int memfd, off_t off, char *addr, size_t len, bool wp)
{
	bool filled = false;
	int err;

	while (len) {
		struct uffdio_continue c = {
			.range = { .start = (uintptr_t)addr, .len = len },
			.mode = UFFDIO_CONTINUE_MODE_DONTWAKE | (wp ? UFFDIO_CONTINUE_MODE_WP : 0),
		};

		if (ioctl(dsm_uffd_fd, UFFDIO_CONTINUE, &c) == 0)
			return 0;
		err = errno;
		if (c.mapped > 0) {
			addr += c.mapped;
			off += c.mapped;
			len -= (size_t)c.mapped;
			filled = false;
			continue;
		}
		switch (err) {
		case EAGAIN:
		case EINTR:
			break;
		case EFAULT:
			/* No page in the memfd here: allocate the rest once. */
			if (filled)
				return EFAULT;
			while (fallocate(memfd, 0, off, (off_t)len) < 0)
				if (errno != EINTR)
					return errno;
			filled = true;
			break;
		case EEXIST:
			err = dsm_uffd_wp(addr, dsm_uffd_sys_page, wp);
			if (err)
				return err;
			addr += dsm_uffd_sys_page;
			off += (off_t)dsm_uffd_sys_page;
			len -= dsm_uffd_sys_page;
			filled = false;
			break;
		default:
			return err;
		}
	}
	return 0;
}

/*
 * Zap the PTEs of [addr, addr+len): the memfd keeps the data, the next
 * access faults.  The TLBs are flushed before madvise returns.
 */
static int dsm_uffd_zap(char *addr, size_t len)
{
	while (madvise(addr, len, MADV_DONTNEED) < 0)
		if (errno != EAGAIN && errno != EINTR)
			return errno;
	return 0;
}

/* ---------- per-page state ---------- */

/* Take a page's lock bit; returns its state.  Holders only make syscalls,
 * never touch the application view, so they never wait on a fault. */
static uint8_t dsm_uffd_lock(size_t page)
{
	unsigned int spins = 0;
	uint8_t s;

	while ((s = __atomic_fetch_or(&dsm_uffd_state[page], DSM_UFFD_LOCKED, __ATOMIC_ACQUIRE)) &
	       DSM_UFFD_LOCKED) {
		if (++spins % 64 == 0)
			sched_yield();	/* the holder may have been preempted */
		else
			dsm_cpu_relax();
	}
	return s;
}

static void dsm_uffd_unlock(size_t page, enum dsm_prot prot)
{
	__atomic_store_n(&dsm_uffd_state[page], (uint8_t)prot, __ATOMIC_RELEASE);
}

static void dsm_uffd_fatal(const char *what, int err)
{
	dsm_log_sigsafe(what, err);
	_exit(1);
}

/*
 * Move n heap pages from page, all mapped as from, to to.  Page locks held.
 * Signal-safe; a failure ends the process (see dsm_uffd_protect).
 */
static void dsm_uffd_change(struct dsm_heap *h, size_t page, size_t n, enum dsm_prot from,
			    enum dsm_prot to)
{
	char *addr = dsm_heap_app_page(h, page);
	size_t len = n << h->page_shift;
	int err;

	if (from == to)
		return;
	if (to == DSM_PROT_NONE) {
		err = dsm_uffd_zap(addr, len);
		if (err)
			dsm_uffd_fatal("userfaultfd backend: MADV_DONTNEED of the shared heap failed", err);
	} else if (from == DSM_PROT_NONE) {
		err = dsm_uffd_continue(h->memfd, (off_t)(page << h->page_shift), addr, len,
					to == DSM_PROT_READ);
		if (err)
			dsm_uffd_fatal("userfaultfd backend: UFFDIO_CONTINUE of the shared heap failed "
				       "(fallocate of the memfd: out of memory?)", err);
	} else {
		err = dsm_uffd_wp(addr, len, to == DSM_PROT_READ);
		if (err)
			dsm_uffd_fatal("userfaultfd backend: UFFDIO_WRITEPROTECT of the shared heap failed",
				       err);
	}
}

/*
 * Set the application-view protection of npages pages from page.  Any
 * thread, signal-safe, never blocks (it may spin on a page lock held by
 * another thread's syscalls).  Pages are locked in ascending order, so two
 * overlapping calls cannot deadlock, and handled as runs of equal state, one
 * syscall per run.  When it returns the change is complete on every CPU:
 * removing rights (MADV_DONTNEED, UFFDIO_WRITEPROTECT) flushes the TLBs, and
 * a CPU that still holds a stale, narrower translation just faults and
 * finds the new PTE.  On failure the page state can no longer be kept: it
 * reports through write(2) and ends the process (fault.h).
 */
static void dsm_uffd_protect(struct dsm_fault *f, size_t page, size_t npages, enum dsm_prot prot)
{
	struct dsm_heap *h = f->params.heap;
	size_t i, end;

	for (i = 0; i < npages; i++)
		dsm_uffd_lock(page + i);
	/* Atomic loads: other threads' dsm_uffd_lock spins on these bytes. */
	for (i = 0; i < npages; i = end) {
		uint8_t from = __atomic_load_n(&dsm_uffd_state[page + i], __ATOMIC_RELAXED) &
			       DSM_UFFD_PROT;

		for (end = i + 1; end < npages; end++)
			if ((__atomic_load_n(&dsm_uffd_state[page + end], __ATOMIC_RELAXED) &
			     DSM_UFFD_PROT) != from)
				break;
		dsm_uffd_change(h, page + i, end - i, (enum dsm_prot)from, prot);
	}
	for (i = 0; i < npages; i++)
		dsm_uffd_unlock(page + i, prot);
}

/*
 * A fault on a page that protect() left accessible for this access: the
 * kernel dropped the PTE on its own (swap-out of the shmem page, a
 * MADV_DONTNEED or MADV_PAGEOUT from outside), or a grant raced the fault
 * and won.  Re-create the mapping from the recorded state under the page
 * lock, so that an invalidation cannot slip in between the check and the
 * map.  Returns true if the access can restart, false if the fault is the
 * runtime's (a NONE page; a store to, or an access of unknown kind to, a
 * READ page).  Signal context; a failure ends the process.
 */
static bool dsm_uffd_repair(struct dsm_heap *h, size_t page, enum dsm_access access)
{
	uint8_t s = __atomic_load_n(&dsm_uffd_state[page], __ATOMIC_RELAXED) & DSM_UFFD_PROT;
	int err;

	if (s == DSM_PROT_NONE || (s == DSM_PROT_READ && access != DSM_ACCESS_READ))
		return false;
	s = dsm_uffd_lock(page) & DSM_UFFD_PROT;
	if (s == DSM_PROT_NONE || (s == DSM_PROT_READ && access != DSM_ACCESS_READ)) {
		dsm_uffd_unlock(page, (enum dsm_prot)s);
		return false;
	}
	err = dsm_uffd_continue(h->memfd, (off_t)(page << h->page_shift), dsm_heap_app_page(h, page),
				h->page_size, s == DSM_PROT_READ);
	if (err)
		dsm_uffd_fatal("userfaultfd backend: cannot map a page of the shared heap again", err);
	dsm_uffd_unlock(page, (enum dsm_prot)s);
	return true;
}

/* ---------- the SIGBUS handler ---------- */

/*
 * Pass a SIGBUS that is not ours to whatever the application had installed
 * before us, or to the default action.  Signal context.
 */
static void dsm_uffd_forward(int sig, siginfo_t *si, void *uctx)
{
	if (dsm_uffd_prev.sa_flags & SA_SIGINFO) {
		dsm_uffd_prev.sa_sigaction(sig, si, uctx);
		return;
	}
	if (dsm_uffd_prev.sa_handler != SIG_DFL && dsm_uffd_prev.sa_handler != SIG_IGN) {
		dsm_uffd_prev.sa_handler(sig);
		return;
	}
	/*
	 * Default action: restore it and return, so the instruction faults
	 * again and the kernel kills the process with the usual core dump.
	 * (A SIGBUS sent by kill(2) is simply lost: it cannot be re-raised
	 * from here without knowing it was not a fault.)
	 */
	signal(SIGBUS, SIG_DFL);
}

/*
 * The self-test's faults: first a read of a hole (MISSING), answered with
 * a write-protected mapping, then a store to it (WP), answered by lifting
 * the protection.  Anything more, or a failure, unregisters the page so
 * that the access completes and install reports the failure.
 */
static void dsm_uffd_probe_fault(void *uctx)
{
	char *p = dsm_uffd_probe_page;
	int hit = dsm_uffd_probe_hits++;
	int err = 0;

	if (hit < 2)
		dsm_uffd_probe_write[hit] = dsm_uffd_err_write(uctx);
	if (hit == 0)
		err = dsm_uffd_continue(dsm_uffd_probe_memfd, 0, p, dsm_uffd_sys_page, true);
	else if (hit == 1)
		err = dsm_uffd_wp(p, dsm_uffd_sys_page, false);
	if (hit >= 2 || err) {
		dsm_uffd_probe_err = err ? err : EPROTO;
		dsm_uffd_unregister(dsm_uffd_fd, p, dsm_uffd_sys_page);
	}
}

/*
 * The SIGBUS handler.  Signal context, any application thread, possibly
 * many at once.  On a handler failure it reports through write(2) and
 * ends the process: the instruction cannot be completed.
 */
static void dsm_uffd_handler(int sig, siginfo_t *si, void *uctx)
{
	struct dsm_fault *f = dsm_uffd_active;
	char *probe = dsm_uffd_probe_page;
	int saved_errno = errno;
	enum dsm_access access;
	struct dsm_heap *h;
	int ret;

	if (probe && (uintptr_t)si->si_addr - (uintptr_t)probe < dsm_uffd_sys_page) {
		dsm_uffd_probe_fault(uctx);
		errno = saved_errno;
		return;
	}
	if (!f || si->si_code != BUS_ADRERR || !dsm_heap_contains(f->params.heap, si->si_addr)) {
		dsm_uffd_forward(sig, si, uctx);
		errno = saved_errno;
		return;
	}
	h = f->params.heap;
	access = dsm_uffd_access(uctx);
	if (!dsm_uffd_repair(h, dsm_heap_page_of(h, si->si_addr), access)) {
		ret = f->params.handler(f->params.ctx, si->si_addr, access);
		if (ret < 0) {
			dsm_log_sigsafe("cannot resolve a fault in the shared heap", ret > -4096 ? -ret : 0);
			_exit(1);
		}
	}
	errno = saved_errno;
}

/* ---------- lifecycle ---------- */

/*
 * Open a userfaultfd with our features.  UFFD_USER_MODE_ONLY (5.11) lets a
 * process without CAP_SYS_PTRACE use it even when
 * vm.unprivileged_userfaultfd is 0; older kernels refuse the flag (EINVAL).
 * Returns the fd or a negative code: -ENOSYS, -EPERM, -DSM_ENOTSUP.
 */
static int dsm_uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = DSM_UFFD_FEATURES };
	int fd, err;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = errno;
		return err == ENOSYS ? -ENOSYS : err == EPERM || err == EACCES ? -EPERM : -err;
	}
	/* The kernel refuses (EINVAL) features it lacks, and answers with
	 * every feature it has. */
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		err = errno;
		close(fd);
		return err == EINVAL ? -DSM_ENOTSUP : -err;
	}
	if ((api.features & DSM_UFFD_FEATURES) != DSM_UFFD_FEATURES ||
	    !(api.ioctls & (1ull << _UFFDIO_REGISTER))) {
		close(fd);
		return -DSM_ENOTSUP;
	}
	return fd;
}

/* A one-page memfd mapped shared and writable, as the heap is. */
static char *dsm_uffd_scratch(int *memfd_p, size_t len)
{
	int memfd = memfd_create("dsm-uffd-probe", MFD_CLOEXEC);
	char *p;

	if (memfd < 0)
		return NULL;
	if (ftruncate(memfd, (off_t)len) < 0) {
		close(memfd);
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED) {
		close(memfd);
		return NULL;
	}
	*memfd_p = memfd;
	return p;
}

/*
 * Init thread.  Everything the kernel must offer, checked without a
 * fault: the syscall and its features, registering a memfd page with our
 * three modes, and UFFDIO_CONTINUE_MODE_WP (6.4; older kernels reject the
 * mode with EINVAL).  Logs nothing (fault.c names the backend).
 */
static int dsm_uffd_probe(void)
{
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	int fd, memfd, err, ret = 0;
	char *p;

	fd = dsm_uffd_open();
	if (fd < 0)
		return fd;
	p = dsm_uffd_scratch(&memfd, len);
	if (!p) {
		ret = -errno;
		goto out_close;
	}
	err = dsm_uffd_register(fd, p, len);
	if (err) {
		ret = err == EINVAL || err == EOPNOTSUPP ? -DSM_ENOTSUP : -err;
		goto out_unmap;
	}
	if (fallocate(memfd, 0, 0, (off_t)len) < 0) {
		ret = -errno;
	} else {
		struct uffdio_continue c = {
			.range = { .start = (uintptr_t)p, .len = len },
			.mode = UFFDIO_CONTINUE_MODE_WP,
		};

		if (ioctl(fd, UFFDIO_CONTINUE, &c) < 0)
			ret = errno == EINVAL ? -DSM_ENOTSUP : -errno;
	}
	dsm_uffd_unregister(fd, p, len);
out_unmap:
	munmap(p, len);
	close(memfd);
out_close:
	close(fd);
	return ret;
}

/*
 * Check the installed handler on a private page registered like the heap:
 * a read of it must raise exactly one SIGBUS, reported as a read, and a
 * store after that exactly one more, reported as a write.  If only the
 * read/write report is wrong, the backend works with DSM_ACCESS_UNKNOWN.
 */
static int dsm_uffd_self_test(void)
{
	volatile char *p;
	int memfd, err;
	char v;

	p = dsm_uffd_scratch(&memfd, dsm_uffd_sys_page);
	if (!p)
		return -errno;
	err = dsm_uffd_register(dsm_uffd_fd, (void *)p, dsm_uffd_sys_page);
	if (err) {
		munmap((void *)p, dsm_uffd_sys_page);
		close(memfd);
		return -err;
	}
	dsm_uffd_probe_memfd = memfd;
	dsm_uffd_probe_hits = 0;
	dsm_uffd_probe_err = 0;
	dsm_uffd_probe_write[0] = dsm_uffd_probe_write[1] = -1;
	dsm_uffd_probe_page = (char *)p;

	v = p[0];			/* a hole: MISSING */
	p[1] = (char)(v + 1);		/* mapped write-protected: WP */
	v = p[2];			/* nothing more */
	p[3] = v;

	dsm_uffd_probe_page = NULL;
	dsm_uffd_unregister(dsm_uffd_fd, (void *)p, dsm_uffd_sys_page);
	munmap((void *)p, dsm_uffd_sys_page);
	close(memfd);
	dsm_uffd_probe_memfd = -1;
	if (dsm_uffd_probe_err)
		return -dsm_uffd_probe_err;
	if (dsm_uffd_probe_hits != 2)
		return -EFAULT;
	dsm_uffd_access_ok = dsm_uffd_probe_write[0] == 0 && dsm_uffd_probe_write[1] == 1;
	return 0;
}

/*
 * Init thread.  Registers the whole application view (one VMA), starts
 * every page NONE, takes SIGBUS, and checks the hook.  The view is
 * registered while still PROT_NONE and zapped before it becomes
 * PROT_READ|PROT_WRITE, so no access gets through untrapped in between
 * (and a view left mapped by an earlier install starts over).
 */
static int dsm_uffd_install(struct dsm_fault *f)
{
	struct dsm_heap *h = f->params.heap;
	struct sigaction sa;
	int fd, err, ret;

	dsm_uffd_sys_page = (size_t)sysconf(_SC_PAGESIZE);
	if (h->page_size % dsm_uffd_sys_page)
		return -EINVAL;
	fd = dsm_uffd_open();
	if (fd < 0)
		return fd;
	dsm_uffd_fd = fd;
	dsm_uffd_state = calloc(h->npages, 1);
	if (!dsm_uffd_state) {
		ret = -ENOMEM;
		goto err_close;
	}
	err = dsm_uffd_register(fd, h->app, h->size);
	if (!err)
		err = dsm_uffd_zap(h->app, h->size);
	if (!err && mprotect(h->app, h->size, PROT_READ | PROT_WRITE) < 0)
		err = errno;
	if (err) {
		ret = -err;
		goto err_free;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = dsm_uffd_handler;
	/* SA_NODEFER: a thread blocked in the handler on one page must still
	 * take faults on another (the handler itself never faults). */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	dsm_uffd_access_ok = false;
	dsm_uffd_active = f;
	if (sigaction(SIGBUS, &sa, &dsm_uffd_prev) < 0) {
		ret = -errno;
		goto err_inactive;
	}
	ret = dsm_uffd_self_test();
	if (ret < 0)
		goto err_sigaction;
	return 0;

err_sigaction:
	sigaction(SIGBUS, &dsm_uffd_prev, NULL);
err_inactive:
	dsm_uffd_active = NULL;
	mprotect(h->app, h->size, PROT_NONE);
err_free:
	free(dsm_uffd_state);
	dsm_uffd_state = NULL;
err_close:
	close(fd);	/* also unregisters */
	dsm_uffd_fd = -1;
	return ret;
}

/* Finalize thread, no application thread in the heap any more. */
static void dsm_uffd_uninstall(struct dsm_fault *f)
{
	struct dsm_heap *h = f->params.heap;

	dsm_uffd_unregister(dsm_uffd_fd, h->app, h->size);
	sigaction(SIGBUS, &dsm_uffd_prev, NULL);
	dsm_uffd_active = NULL;
	close(dsm_uffd_fd);
	dsm_uffd_fd = -1;
	free(dsm_uffd_state);
	dsm_uffd_state = NULL;
}

#else /* !HAVE_UFFD */

/* Built without linux/userfaultfd.h (STYLE.md, "Always compile the
 * backend"): naming this backend is a clear error at dsm_init. */
static int dsm_uffd_probe(void)
{
	return -ENOSYS;
}

static int dsm_uffd_install(struct dsm_fault *f)
{
	return -ENOSYS;
}

static void dsm_uffd_uninstall(struct dsm_fault *f)
{
}

static void dsm_uffd_protect(struct dsm_fault *f, size_t page, size_t npages, enum dsm_prot prot)
{
}

#endif /* HAVE_UFFD */

const struct dsm_fault_ops dsm_uffd_ops = {
	.name      = "userfaultfd",
	.priority  = 0,
	.hint      = " (the userfaultfd backend needs Linux 6.4 or later with shmem userfaultfd, and permission: root, CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)",
	.probe     = dsm_uffd_probe,
	.install   = dsm_uffd_install,
	.uninstall = dsm_uffd_uninstall,
	.protect   = dsm_uffd_protect,
};
