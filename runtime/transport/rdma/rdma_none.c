/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_none.c - DSM_TRANSPORT=rdma in a library built without the verbs
 * and rdma_cm headers (configure found no libibverbs-dev and
 * librdmacm-dev): recognised, and answered with a clear error.
 */
#include "dsm.h"
#include "runtime/base/log.h"
#include "runtime/transport/transport.h"

static int dsm_rdma_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p)
{
	(void)params, (void)tp_p;
	dsm_err("DSM_TRANSPORT=rdma: this libdsm was built without RDMA (configure found no "
		"libibverbs and librdmacm headers: install libibverbs-dev and librdmacm-dev and "
		"rebuild); use DSM_TRANSPORT=tcp");
	return -DSM_ENOTSUP;
}

const struct dsm_tp_ops dsm_rdma_ops = {
	.name = "rdma",
	.caps = DSM_TP_CAP_SEND | DSM_TP_CAP_RDMA,
	.open = dsm_rdma_open,
};
