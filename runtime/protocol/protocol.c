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
