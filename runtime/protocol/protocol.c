/* SPDX-License-Identifier: BSD-3-Clause */
/* protocol.c - the list of consistency protocols. */
#include "runtime/base/compiler.h"
#include "runtime/base/log.h"
#include "runtime/protocol/protocol.h"

static const struct dsm_protocol_ops *const dsm_protocols[] = {
	&dsm_sequential_ops,
	&dsm_release_ops,
	&dsm_weak_ops,
};

unsigned int dsm_manager_block(const struct dsm_config *cfg)
{
	if (cfg->consistency != DSM_SEQUENTIAL && cfg->first_touch)
		return cfg->home_block * DSM_FT_MANAGER_BLOCK;
	return cfg->home_block;
}

const struct dsm_protocol_ops *dsm_protocol_find(dsm_consistency_t model)
{
	for (size_t i = 0; i < ARRAY_SIZE(dsm_protocols); i++)
		if (dsm_protocols[i]->model == model)
			return dsm_protocols[i];
	dsm_err("DSM_CONSISTENCY=%s: not supported in this version",
		dsm_consistency_name(model));
	return NULL;
}

/*
 * The active protocol as a module: its own state lives in its own file
 * (sequential.c, relaxed.c); its handler and tick go straight into the
 * registry, so a message costs no more than before.
 */
static int protocol_module_init(struct dsm_rt *rt)
{
	int ret = rt->proto->init(rt);

	if (ret == 0)
		ret = dsm_msg_register(rt, rt->proto->name, DSM_MSG_READ_REQ, DSM_MSG_PROTO_LAST,
				       rt->proto->on_message);
	if (ret == 0)
		ret = dsm_tick_register(rt, rt->proto->tick);
	return ret;
}

static void protocol_module_fini(struct dsm_rt *rt)
{
	rt->proto->fini(rt);
}

const struct dsm_module dsm_protocol_module = {
	.name = "protocol",
	.init = protocol_module_init,
	.fini = protocol_module_fini,
};
