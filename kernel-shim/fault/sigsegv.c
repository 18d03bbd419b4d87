/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sigsegv.c - the mprotect + SIGSEGV fault backend.
 *
 * What may run in signal context (the handler below and everything it
 * calls, including the protocol's fault handler):
 *   - syscalls (mprotect, futex, sendmsg, write, _exit), atomics, spinning;
 *   - the runtime's own mutexes: the fault is synchronous, raised by a plain
 *     load or store of the application to the shared heap, and the runtime
 *     never touches the application's view while holding one of its locks,
 *     so the interrupted thread cannot already hold them;
 * and what may not:
 *   - malloc/free, stdio, dsm_log() (use dsm_log_sigsafe()), pthread
 *     condition variables, anything that may take a lock of libc.
 * An application signal handler that touches the shared heap while its
 * thread is inside libdsm is not supported.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"
#include "runtime/base/log.h"

/* The handler needs global state: one installed backend per process. */
static struct dsm_fault *dsm_sigsegv_active;
static struct sigaction dsm_sigsegv_prev;
/* A private page used to check the installed handler (STYLE.md: "Test a
 * hook after installing it"). */
static volatile char *volatile dsm_sigsegv_probe_page;
static volatile int dsm_sigsegv_probe_hits;

static const int dsm_prot_bits[] = {
	[DSM_PROT_NONE] = PROT_NONE,
	[DSM_PROT_READ] = PROT_READ,
	[DSM_PROT_RW]   = PROT_READ | PROT_WRITE,
};

/* Read or write, from the page-fault error code the CPU pushed. */
static enum dsm_access dsm_sigsegv_access(const void *uctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = uctx;

	/* x86 page-fault error code: bit 1 set for a write access. */
	return (uc->uc_mcontext.gregs[REG_ERR] & 2) ? DSM_ACCESS_WRITE : DSM_ACCESS_READ;
#else
	return DSM_ACCESS_UNKNOWN;
#endif
}

/*
 * Pass a fault that is not ours to whatever the application had installed
 * before us, or to the default action.  Signal context.
 */
static void dsm_sigsegv_forward(int sig, siginfo_t *si, void *uctx)
{
	if (dsm_sigsegv_prev.sa_flags & SA_SIGINFO) {
		dsm_sigsegv_prev.sa_sigaction(sig, si, uctx);
		return;
	}
	if (dsm_sigsegv_prev.sa_handler != SIG_DFL && dsm_sigsegv_prev.sa_handler != SIG_IGN) {
		dsm_sigsegv_prev.sa_handler(sig);
		return;
	}
	/*
	 * Default action (ignoring a real fault would spin forever): restore
	 * it and return, so the instruction faults again and the kernel kills
	 * the process with the usual core dump.
	 */
	signal(SIGSEGV, SIG_DFL);
}

/*
 * The SIGSEGV handler.  Signal context, any application thread, possibly
 * many at once.  On a handler failure it reports through write(2) and
 * ends the process: the instruction cannot be completed.
 */
static void dsm_sigsegv_handler(int sig, siginfo_t *si, void *uctx)
{
	struct dsm_fault *f = dsm_sigsegv_active;
	int saved_errno = errno;
	int ret;

	if (si->si_addr && (char *)si->si_addr - (char *)dsm_sigsegv_probe_page < 4096 &&
	    (uintptr_t)si->si_addr >= (uintptr_t)dsm_sigsegv_probe_page && dsm_sigsegv_probe_page) {
		mprotect((void *)dsm_sigsegv_probe_page, 4096, PROT_READ | PROT_WRITE);
		dsm_sigsegv_probe_hits++;
		errno = saved_errno;
		return;
	}
	if (!f || si->si_code != SEGV_ACCERR || !dsm_heap_contains(f->params.heap, si->si_addr)) {
		dsm_sigsegv_forward(sig, si, uctx);
		errno = saved_errno;
		return;
	}
	ret = f->params.handler(f->params.ctx, si->si_addr, dsm_sigsegv_access(uctx));
	if (ret < 0) {
		dsm_log_sigsafe("cannot resolve a fault in the shared heap", ret > -4096 ? -ret : 0);
		_exit(1);
	}
	errno = saved_errno;
}

static int dsm_sigsegv_probe(void)
{
	return 0;
}

static void dsm_sigsegv_uninstall(struct dsm_fault *f)
{
	sigaction(SIGSEGV, &dsm_sigsegv_prev, NULL);
	dsm_sigsegv_active = NULL;
}

static int dsm_sigsegv_install(struct dsm_fault *f)
{
	struct sigaction sa;
	void *probe;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = dsm_sigsegv_handler;
	/* SA_NODEFER: a thread blocked in the handler on one page must still
	 * take faults on another (the handler itself never faults). */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	dsm_sigsegv_active = f;
	if (sigaction(SIGSEGV, &sa, &dsm_sigsegv_prev) < 0)
		return -errno;

	/* Check the hook: one fault on a private protected page. */
	probe = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe == MAP_FAILED) {
		int err = errno;

		dsm_sigsegv_uninstall(f);
		return -err;
	}
	dsm_sigsegv_probe_hits = 0;
	dsm_sigsegv_probe_page = probe;
	dsm_sigsegv_probe_page[0] = 1;
	dsm_sigsegv_probe_page = NULL;
	munmap(probe, 4096);
	if (dsm_sigsegv_probe_hits != 1) {
		dsm_sigsegv_uninstall(f);
		return -EFAULT;
	}
	return 0;
}

/*
 * mprotect the application's view.  Signal-safe.  Each distinct
 * protection range is a VMA, and vm.max_map_count bounds them: past it
 * mprotect fails with ENOMEM, which we report and end the process on,
 * never leaving a page with the wrong protection.
 */
static void dsm_sigsegv_protect(struct dsm_fault *f, size_t page, size_t npages, enum dsm_prot prot)
{
	struct dsm_heap *h = f->params.heap;

	if (mprotect(dsm_heap_app_page(h, page), npages << h->page_shift, dsm_prot_bits[prot]) == 0)
		return;
	if (errno == ENOMEM)
		dsm_log_sigsafe("mprotect of the shared heap failed: more distinct page protections "
				"than vm.max_map_count allows; use DSM_FAULT_BACKEND=userfaultfd "
				"(Linux 6.4 or later), a larger DSM_PAGE_SIZE, or raise "
				"vm.max_map_count (sysctl)",
				ENOMEM);
	else
		dsm_log_sigsafe("mprotect of the shared heap failed", errno);
	_exit(1);
}

const struct dsm_fault_ops dsm_sigsegv_ops = {
	.name      = "sigsegv",
	.priority  = 10,
	.probe     = dsm_sigsegv_probe,
	.install   = dsm_sigsegv_install,
	.uninstall = dsm_sigsegv_uninstall,
	.protect   = dsm_sigsegv_protect,
};
