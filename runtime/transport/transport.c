/* SPDX-License-Identifier: BSD-3-Clause */
/* transport.c - the list of transports and the choice among them. */
#include <string.h>

#include "dsm.h"
#include "runtime/base/compiler.h"
#include "runtime/base/log.h"
#include "runtime/transport/transport.h"

/* An explicit list: it survives static linking, unlike constructors. */
const struct dsm_tp_ops *const dsm_transports[] = {
	&dsm_tcp_ops,
	&dsm_rdma_ops,
	NULL,
};

int dsm_tp_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p)
{
	const char *name = params->cfg->transport;

	for (size_t i = 0; dsm_transports[i]; i++)
		if (!strcmp(dsm_transports[i]->name, name))
			return dsm_transports[i]->open(params, tp_p);
	dsm_err("DSM_TRANSPORT='%s': no such transport", name);
	return -DSM_ECONFIG;
}
