/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * interpose.h - system calls into the shared heap (ARCHITECTURE.md,
 * kernel-shim: "syscall interposition").
 *
 * The kernel does not fault for its own accesses to user memory: read(2)
 * into a page of the application's view that this node may not write, or
 * write(2) from one it may not read, fails with EFAULT (or comes back short)
 * instead of trapping into the fault backend.  libdsm therefore defines, and
 * exports under the C library's names, wrappers of the calls that move data
 * between the kernel and a user buffer: read, write, pread, pwrite, pread64,
 * pwrite64, readv, writev, preadv, pwritev, preadv64, pwritev64, recv,
 * recvfrom, recvmsg, send, sendto, sendmsg, fread, fwrite, and the
 * _FORTIFY_SOURCE entry points __read_chk, __pread_chk, __pread64_chk,
 * __recv_chk, __recvfrom_chk, __fread_chk.  A program linked with -ldsm
 * binds to them; no LD_PRELOAD.
 *
 * A wrapper whose buffers do not intersect the heap (one range check per
 * buffer, no lock, no allocation) calls the next definition (the C
 * library's) and nothing else: async-signal-safe, and what the runtime's own
 * calls take, since they use the runtime's view.  Otherwise it first touches
 * one byte of every page of the buffers inside the heap, as the kernel will
 * access them (a load where the kernel reads the buffer, an atomic add of 0
 * where it writes it), so that the fault backend makes them accessible; then
 * it calls through.  EFAULT (another node took a page back in between)
 * re-touches and retries, a bounded number of times.
 */
#ifndef DSM_SHIM_INTERPOSE_H
#define DSM_SHIM_INTERPOSE_H

#include <stdbool.h>

#include "kernel-shim/mem/heap.h"

/*
 * Init thread, after the fault backend is installed (the touches need it).
 * Publishes the application view's range to the wrappers, then checks the
 * hook (STYLE.md, "Test a hook after installing it"): every wrapped name
 * must resolve, for the program, to libdsm's wrapper.  If one does not (the
 * program defines its own read, libdsm was loaded with RTLD_LOCAL or after
 * the C library in a static link), it logs one warning naming them and
 * carries on: system calls into shared pages may then fail with EFAULT.
 * Never fails.
 */
void dsm_interpose_install(const struct dsm_heap *heap);

/*
 * Finalize thread, before the heap is unmapped: the wrappers only call
 * through from now on.  The application must not have system calls on the
 * shared heap in flight (it may not touch the heap after dsm_finalize).
 */
void dsm_interpose_uninstall(void);

/* What the last dsm_interpose_install found: true if every wrapped name
 * resolves to libdsm's wrapper (or could not be checked, static link). */
bool dsm_interpose_is_bound(void);

#endif /* DSM_SHIM_INTERPOSE_H */
