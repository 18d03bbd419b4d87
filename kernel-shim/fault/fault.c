/* SPDX-License-Identifier: BSD-3-Clause */
/* fault.c - the list of fault backends and the choice among them. */
#include <errno.h>
#include <string.h>

#include "dsm.h"
#include "kernel-shim/fault/fault.h"
#include "runtime/base/compiler.h"
#include "runtime/base/log.h"

/* An explicit list: it survives static linking, unlike constructors. */
static const struct dsm_fault_ops *const dsm_fault_backends[] = {
	&dsm_sigsegv_ops,
	&dsm_uffd_ops,
};

int dsm_fault_open(const char *name, const struct dsm_fault_params *params, struct dsm_fault *f)
{
	const struct dsm_fault_ops *ops = NULL;
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(dsm_fault_backends); i++) {
		const struct dsm_fault_ops *o = dsm_fault_backends[i];

		if (name ? !strcmp(o->name, name) : (!ops || o->priority > ops->priority)) {
			if (!name && o->probe() < 0)
				continue;
			ops = o;
			if (name)
				break;
		}
	}
	if (!ops) {
		dsm_err("DSM_FAULT_BACKEND='%s': no such fault backend", name ? name : "");
		return -DSM_ECONFIG;
	}
	/* A named backend that this host cannot run is an error, never a
	 * silent fallback (STYLE.md, "Fault backends carry a priority"). */
	ret = ops->probe();
	if (ret < 0) {
		dsm_err("DSM_FAULT_BACKEND=%s: this backend cannot run here: %s%s",
			ops->name, dsm_strerror(ret), ops->hint ? ops->hint : "");
		return ret;
	}
	f->ops = ops;
	f->params = *params;
	ret = ops->install(f);
	if (ret < 0) {
		/* install() undoes itself on failure: nothing stays hooked. */
		f->ops = NULL;
		dsm_err("fault backend %s: cannot install: %s", ops->name, dsm_strerror(ret));
		return ret;
	}
	return 0;
}

void dsm_fault_close(struct dsm_fault *f)
{
	if (f->ops)
		f->ops->uninstall(f);
	f->ops = NULL;
}
