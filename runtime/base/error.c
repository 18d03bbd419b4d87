/* SPDX-License-Identifier: BSD-3-Clause */
/* error.c - dsm_strerror() covers errno values and libdsm's own codes. */
#include <string.h>

#include "dsm.h"

static const char *const dsm_errors[] = {
	[DSM_ENOTSUP - DSM_ERRNO_BASE]      = "not supported (yet) in this build or consistency model",
	[DSM_ECONFIG - DSM_ERRNO_BASE]      = "bad value in a DSM_* environment variable or --dsm-* option",
	[DSM_EHEAP - DSM_ERRNO_BASE]        = "shared heap address range unavailable",
	[DSM_EPEERLOST - DSM_ERRNO_BASE]    = "a peer node died or its connection broke",
	[DSM_EAUTH - DSM_ERRNO_BASE]        = "a peer failed authentication with the job's secret",
	[DSM_EPROTO - DSM_ERRNO_BASE]       = "malformed or unexpected message from a peer",
	[DSM_ENOTHELD - DSM_ERRNO_BASE]     = "lock is not held by this node",
	[DSM_ETIMEDOUT - DSM_ERRNO_BASE]    = "a peer could not be reached in time",
	[DSM_ENOTINIT - DSM_ERRNO_BASE]     = "dsm_init has not been called or failed",
	[DSM_ESTALE_EPOCH - DSM_ERRNO_BASE] = "checkpoint epoch is stale or incomplete",
	[DSM_ECORRUPT - DSM_ERRNO_BASE]     = "checkpoint file is corrupt",
};

const char *dsm_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		return "success";
	if (code > DSM_ERRNO_BASE && code < DSM_ERR_MAX)
		return dsm_errors[code - DSM_ERRNO_BASE];
	if (code < DSM_ERRNO_BASE)
		return strerror(code);
	return "unknown libdsm error code";
}
