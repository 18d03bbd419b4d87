/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fault.h - fault backends: how an access to a protected page of the
 * shared heap reaches the runtime, and how page protections change.
 *
 * kernel-shim knows nothing of pages' meaning: the protocol registers a
 * handler and decides; the backend only traps and protects.
 */
#ifndef DSM_SHIM_FAULT_H
#define DSM_SHIM_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel-shim/mem/heap.h"

/* Protection of a page in the application's view. */
enum dsm_prot {
	DSM_PROT_NONE = 0,	/* invalid here: any access faults */
	DSM_PROT_READ = 1,	/* valid read-only copy: a store faults */
	DSM_PROT_RW = 2,	/* writable */
};

/* What the backend could tell about the access. */
enum dsm_access {
	DSM_ACCESS_READ,
	DSM_ACCESS_WRITE,
	DSM_ACCESS_UNKNOWN,	/* the CPU did not say: the handler decides from the page's protection */
};

/*
 * Called for every fault inside the heap, in the faulting application
 * thread, possibly in signal context (see each backend).  It must leave the
 * page accessible for this access before returning 0, or block until it
 * is; the instruction then restarts.  A negative return is fatal: the
 * backend reports it through write(2) and ends the process.
 */
typedef int (*dsm_fault_handler_fn)(void *ctx, void *addr, enum dsm_access access);

struct dsm_fault_params {
	struct dsm_heap *heap;
	dsm_fault_handler_fn handler;
	void *ctx;
};

struct dsm_fault;

struct dsm_fault_ops {
	const char *name;
	/* Higher wins when a caller asks for "the best this host has". */
	int priority;
	/* What the host needs, appended to the error when probe() fails; or NULL. */
	const char *hint;

	/* init thread: 0 if this host can run the backend, else a negative
	 * code after nothing is logged (the caller names the backend). */
	int (*probe)(void);
	/* init thread: trap faults in params->heap from now on.  0 or -errno. */
	int (*install)(struct dsm_fault *f);
	/* finalize thread: stop trapping.  What the application's view allows
	 * afterwards is the backend's (see each). */
	void (*uninstall)(struct dsm_fault *f);
	/*
	 * Any thread, including signal context; never sleeps (it may spin
	 * briefly on a per-page lock of the backend's).  Sets the
	 * application-view protection of npages pages from page.  On failure
	 * the page state can no longer be kept consistent: the backend
	 * reports through write(2) and ends the process, so callers need not
	 * check.  The change is complete on every CPU when it returns.
	 */
	void (*protect)(struct dsm_fault *f, size_t page, size_t npages, enum dsm_prot prot);
};

struct dsm_fault {
	const struct dsm_fault_ops *ops;
	struct dsm_fault_params params;
};

/*
 * Pick the backend called name (DSM_FAULT_BACKEND), probe it, install it,
 * and check it with a probe fault.  Returns 0 and fills *f, or a negative
 * code after logging one line (an unknown name, or a backend this host or
 * build cannot run: -DSM_ENOTSUP, -ENOSYS).
 */
int dsm_fault_open(const char *name, const struct dsm_fault_params *params, struct dsm_fault *f);
void dsm_fault_close(struct dsm_fault *f);

static inline void dsm_fault_protect(struct dsm_fault *f, size_t page, size_t npages,
				     enum dsm_prot prot)
{
	f->ops->protect(f, page, npages, prot);
}

extern const struct dsm_fault_ops dsm_sigsegv_ops;
extern const struct dsm_fault_ops dsm_uffd_ops;

#endif /* DSM_SHIM_FAULT_H */
