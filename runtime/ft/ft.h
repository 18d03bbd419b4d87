/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ft.h - coordinated checkpoints, rollback and restart (ckpt.c, the
 * checkpoint module of core/module.h; the files in ckpt_file.c).
 *
 * A checkpoint is collective and taken with no lock held: a barrier
 * (under release and weak consistency it brings every diff home), a
 * marker from every node to every other (every message sent before it is
 * in), the protocol brings each page's current bytes to its home, every
 * node writes its file (its home pages that were ever written, and the
 * modules' records), everyone votes, and node 0 commits the epoch by
 * writing its manifest last.  Rollback and restart read the files back.
 * DSM_CHECKPOINT_DIR must be one directory that every node sees (a shared
 * file system when the nodes are on several hosts).
 */
#ifndef DSM_FT_H
#define DSM_FT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/hmac.h"
#include "runtime/core/module.h"

struct dsm_rt;

/* A module's part of a node's checkpoint file: named records. */
struct dsm_ckpt_out {
	char *buf;
	size_t len, cap;
};

struct dsm_ckpt_in {
	const char *buf;
	size_t len;
	bool restart;		/* a new job (DSM_RESTART), not a rollback */
};

/* Append a record (name at most 15 characters).  0 or -ENOMEM. */
int dsm_ckpt_put(struct dsm_ckpt_out *out, const char *name, const void *data, size_t len);
/* The record called name, or NULL. */
const void *dsm_ckpt_get(const struct dsm_ckpt_in *in, const char *name, size_t *len);

/* dsm_checkpoint, dsm_rollback (application thread, collective). */
int dsm_ckpt_take(struct dsm_rt *rt);
int dsm_ckpt_rollback(struct dsm_rt *rt);
/* dsm_init with DSM_RESTART=1, after the first barrier: restore the newest
 * epoch that is intact on every node.  0, or a negative code (logged). */
int dsm_ckpt_restart(struct dsm_rt *rt);
int dsm_ckpt_restored_epoch(void);

/* The cost so far (struct dsm_stats): nanoseconds in dsm_checkpoint and
 * bytes of this node's files written. */
void dsm_ckpt_stats(uint64_t *ns, uint64_t *bytes);

/*
 * ckpt_file.c: the on-disk format.  A node file: header, the modules'
 * records, the saved pages' numbers, the pages; a manifest: header, per
 * node the size and SHA-256 of its file.  Both end with the SHA-256 of
 * everything before it.
 */
#define DSM_CKPT_HASH_LEN DSM_SHA256_LEN

struct dsm_ckpt_job {			/* what must match to restore */
	uint32_t nnodes;
	uint32_t consistency;
	uint32_t first_touch;
	uint32_t home_block;
	uint64_t page_size;
	uint64_t heap_size;
	uint64_t heap_base;
};

struct dsm_ckpt_entry {			/* a node's file, in the manifest */
	uint64_t size;
	uint8_t hash[DSM_CKPT_HASH_LEN];
};

/* A verified node file, read whole. */
struct dsm_ckpt_file {
	char *data;
	size_t size;
	uint64_t epoch;
	uint64_t npages;
	struct dsm_ckpt_in state;
	const uint32_t *pages;		/* npages page numbers, ascending */
	const char *bytes;		/* npages * page_size */
	uint8_t hash[DSM_CKPT_HASH_LEN];
};

void dsm_ckpt_path(char *out, size_t outlen, const char *dir, uint64_t epoch, int node);
void dsm_ckpt_manifest_path(char *out, size_t outlen, const char *dir, uint64_t epoch);

/*
 * Write node's file for epoch: state, then the pages listed (read from
 * the runtime's view at base).  Temporary name, fsync, rename, fsync of
 * the directory.  Fills *entry.  0 or a negative code (logged).
 */
int dsm_ckpt_write_node(const char *dir, uint64_t epoch, int node, const struct dsm_ckpt_job *job,
			const struct dsm_ckpt_out *state, const uint32_t *pages, size_t npages,
			const char *base, struct dsm_ckpt_entry *entry);
int dsm_ckpt_write_manifest(const char *dir, uint64_t epoch, const struct dsm_ckpt_job *job,
			    const struct dsm_ckpt_entry *entries);

/*
 * Read and verify: size, magic, hash, epoch and node, the job settings
 * against job, and (node files) the hash against the manifest's entry.
 * On failure *why says what is wrong (one phrase) and the result is
 * negative: -ENOENT (no such file), -EINVAL (refused).
 */
int dsm_ckpt_read_manifest(const char *dir, uint64_t epoch, const struct dsm_ckpt_job *job,
			   struct dsm_ckpt_entry *entries, char *why, size_t whylen);
int dsm_ckpt_read_node(const char *dir, uint64_t epoch, int node, const struct dsm_ckpt_job *job,
		       const struct dsm_ckpt_entry *expect, struct dsm_ckpt_file *f, char *why,
		       size_t whylen);
void dsm_ckpt_file_free(struct dsm_ckpt_file *f);

/* Epochs with a manifest in dir, newest first; *n of them.  Caller frees. */
uint64_t *dsm_ckpt_list(const char *dir, size_t *n);

#endif /* DSM_FT_H */
