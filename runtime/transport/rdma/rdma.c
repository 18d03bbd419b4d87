/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma.c - the RDMA transport (librdmacm + verbs).
 *
 * TODO: not implemented yet; it is its own piece of work (RDMA READ/WRITE
 * for page data, SEND/RECV for control, ARCHITECTURE.md).  Registered now
 * so that DSM_TRANSPORT=rdma is recognised and answered with a clear error.
 */
#include "dsm.h"
#include "runtime/base/log.h"
#include "runtime/transport/transport.h"

static int dsm_rdma_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p)
{
	dsm_err("DSM_TRANSPORT=rdma: the RDMA transport is not supported yet in this version%s; "
		"use DSM_TRANSPORT=tcp", HAVE_VERBS ? "" : " (and this build has no verbs headers)");
	return -DSM_ENOTSUP;
}

const struct dsm_tp_ops dsm_rdma_ops = {
	.name = "rdma",
	.caps = DSM_TP_CAP_SEND | DSM_TP_CAP_RDMA,
	.open = dsm_rdma_open,
};
