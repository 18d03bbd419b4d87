/* SPDX-License-Identifier: BSD-3-Clause */
/* transport.c - the list of transports and the choice among them. */
#include <string.h>
#include <unistd.h>

#include "runtime/base/clock.h"

#include "dsm.h"
#include "runtime/base/compiler.h"
#include "runtime/base/log.h"
#include "runtime/transport/transport.h"

/* An explicit list: it survives static linking, unlike constructors. */
const struct dsm_tp_ops *const dsm_transports[] = {
	&dsm_tcp_ops,
	&dsm_loop_ops,
	&dsm_rdma_ops,
	NULL,
};

const char *dsm_tp_check_ops(const struct dsm_tp_ops *ops)
{
	if (!ops->name || !*ops->name)
		return "no name";
	if (!ops->open || !ops->close || !ops->send || !ops->register_mem || !ops->send_page ||
	    !ops->progress || !ops->wake || !ops->shutdown || !ops->flush)
		return "an op is missing (open, close, send, register_mem, send_page, progress, "
		       "wake, shutdown and flush are required)";
	if (!(ops->caps & DSM_TP_CAP_SEND))
		return "caps lacks DSM_TP_CAP_SEND: every transport moves two-sided messages";
	if (ops->caps & ~(unsigned int)(DSM_TP_CAP_SEND | DSM_TP_CAP_RDMA | DSM_TP_CAP_READ))
		return "caps has an unknown bit";
	if (!(ops->caps & DSM_TP_CAP_READ) != !ops->read_page)
		return "read_page and DSM_TP_CAP_READ go together";
	return NULL;
}

int dsm_tp_open(const struct dsm_tp_params *params, struct dsm_tp **tp_p)
{
	const char *name = params->cfg->transport;

	for (size_t i = 0; dsm_transports[i]; i++) {
		const struct dsm_tp_ops *ops = dsm_transports[i];
		const char *why;

		if (strcmp(ops->name, name))
			continue;
		/* A transport that answers "not supported" (rdma without
		 * verbs headers) only has open: let it say so. */
		if ((why = dsm_tp_check_ops(ops)) && ops->open && ops->send) {
			dsm_err("DSM_TRANSPORT=%s: the transport's ops table is incomplete: %s",
				name, why);
			return -DSM_EPROTO;
		}
		return ops->open(params, tp_p);
	}
	dsm_err("DSM_TRANSPORT='%s': no such transport", name);
	return -DSM_ECONFIG;
}

int dsm_tp_shutdown_bye(struct dsm_tp *tp, int timeout_ms)
{
	uint64_t end = dsm_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	/* Set first: a peer may have our BYE, and close, before we are
	 * through the loop (rdma judges a disconnection by it). */
	__atomic_store_n(&tp->bye_sent, true, __ATOMIC_RELEASE);
	for (int i = 0; i < tp->nnodes; i++) {
		struct dsm_wire_hdr h = { .type = DSM_WT_BYE };

		if (i != tp->self)
			tp->ops->send(tp, i, &h, NULL, 0);
	}
	for (int i = 0; i < tp->nnodes; i++) {
		while (i != tp->self && !__atomic_load_n(&tp->bye_recv[i], __ATOMIC_ACQUIRE)) {
			if (dsm_now_ns() > end) {
				dsm_warn("node %d did not finish in time; closing anyway", i);
				return -DSM_ETIMEDOUT;
			}
			usleep(200);
		}
	}
	return 0;
}
