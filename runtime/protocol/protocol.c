/* SPDX-License-Identifier: BSD-3-Clause */
/* protocol.c - the list of consistency protocols. */
#include <string.h>

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

static int protocol_module_save(struct dsm_rt *rt, struct dsm_ckpt_out *out)
{
	return rt->proto->ckpt_save ? rt->proto->ckpt_save(rt, out) : 0;
}

static int protocol_module_restore(struct dsm_rt *rt, struct dsm_ckpt_in *in)
{
	return rt->proto->ckpt_restore ? rt->proto->ckpt_restore(rt, in) : 0;
}

void dsm_protocol_reset_pages(struct dsm_rt *rt)
{
	struct dsm_dir *dir = &rt->dir;

	/* One call for the whole heap: no thread uses it meanwhile. */
	dsm_fault_protect(&rt->fault, 0, dir->npages, DSM_PROT_NONE);
	for (size_t p = 0; p < dir->npages; p++) {
		struct dsm_page_local *pl = &dir->local[p];

		pl->prot = DSM_PROT_NONE;
		pl->want = 0;
		pl->flags = 0;
		pl->home1 = 0;
		pl->hold_until_ns = 0;
	}
	memset(dir->home, 0, dir->nhome * sizeof(*dir->home));
	for (size_t i = 0; i < dir->nhome; i++) {
		dir->home[i].owner = -1;
		dir->home[i].txn_node = -1;
	}
}

const struct dsm_module dsm_protocol_module = {
	.name    = "protocol",
	.init    = protocol_module_init,
	.fini    = protocol_module_fini,
	.save    = protocol_module_save,
	.restore = protocol_module_restore,
};
