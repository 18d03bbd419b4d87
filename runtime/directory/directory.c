/* SPDX-License-Identifier: BSD-3-Clause */
/* directory.c - the page directory (see directory.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/directory/directory.h"

int dsm_dir_init(struct dsm_dir *dir, size_t npages, int nnodes, int self, unsigned int home_block)
{
	size_t blocks, my_blocks;

	memset(dir, 0, sizeof(*dir));
	dir->npages = npages;
	dir->nnodes = nnodes;
	dir->self = self;
	dir->home_block = home_block;
	/* Blocks homed here: an upper bound suffices for indexing. */
	blocks = (npages + home_block - 1) / home_block;
	my_blocks = (blocks + (size_t)nnodes - 1) / (size_t)nnodes;
	dir->nhome = my_blocks * home_block;
	dir->local = calloc(npages, sizeof(*dir->local));
	dir->home = calloc(dir->nhome ? dir->nhome : 1, sizeof(*dir->home));
	if (!dir->local || !dir->home) {
		dsm_dir_fini(dir);
		return -ENOMEM;
	}
	for (size_t i = 0; i < dir->nhome; i++) {
		dir->home[i].owner = -1;
		dir->home[i].txn_node = -1;
	}
	for (int i = 0; i < DSM_DIR_STRIPES; i++)
		pthread_mutex_init(&dir->stripes[i], NULL);
	return 0;
}

void dsm_dir_fini(struct dsm_dir *dir)
{
	free(dir->local);
	free(dir->home);
	dir->local = NULL;
	dir->home = NULL;
}

bool dsm_dir_next_waiter_locked(struct dsm_dir *dir, struct dsm_dir_entry *e, int *node_p,
				bool *write_p)
{
	uint64_t any = e->wait_read | e->wait_write;
	int start = e->txn_node < 0 ? 0 : e->txn_node + 1;

	if (!any)
		return false;
	for (int k = 0; k < dir->nnodes; k++) {
		int n = (start + k) % dir->nnodes;
		uint64_t bit = 1ull << n;

		if (any & bit) {
			*node_p = n;
			*write_p = (e->wait_write & bit) != 0;
			e->wait_read &= ~bit;
			e->wait_write &= ~bit;
			return true;
		}
	}
	return false;
}
