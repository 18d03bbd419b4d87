/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uffd.c - the userfaultfd fault backend.
 *
 * TODO: not implemented yet.  The plan (ARCHITECTURE.md): register the
 * application view with UFFDIO_REGISTER_MODE_MINOR | _WP; invalidate a page
 * with MADV_DONTNEED on the application view (the memfd keeps the data, the
 * next access raises a minor fault answered by UFFDIO_CONTINUE) and
 * downgrade it with UFFDIO_WRITEPROTECT, so that protections never split
 * VMAs and heaps larger than vm.max_map_count pages work.  Until then the
 * backend is registered, so that DSM_FAULT_BACKEND=userfaultfd is
 * recognised, and refuses at probe time with a clear error.
 */
#include "dsm.h"
#include "kernel-shim/fault/fault.h"

static int dsm_uffd_probe(void)
{
	return -DSM_ENOTSUP;
}

static int dsm_uffd_install(struct dsm_fault *f)
{
	return -DSM_ENOTSUP;
}

static void dsm_uffd_uninstall(struct dsm_fault *f)
{
}

static void dsm_uffd_protect(struct dsm_fault *f, size_t page, size_t npages, enum dsm_prot prot)
{
}

const struct dsm_fault_ops dsm_uffd_ops = {
	.name      = "userfaultfd",
	.priority  = 0,
	.probe     = dsm_uffd_probe,
	.install   = dsm_uffd_install,
	.uninstall = dsm_uffd_uninstall,
	.protect   = dsm_uffd_protect,
};
