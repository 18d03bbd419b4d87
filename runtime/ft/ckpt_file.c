/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ckpt_file.c - checkpoint files (ft.h): written under a temporary name,
 * fsynced, renamed, the directory fsynced, so a file under its final name
 * is whole; and each ends with the SHA-256 (libcrypto, through
 * base/hmac.h) of everything before it, so a file that is whole is also
 * the one that was written.
 *
 * Layout, native byte order (a checkpoint is restored on the machines of
 * the same job, never moved across architectures):
 *   struct ck_hdr
 *   node file: records {char name[16]; u64 len; bytes, padded to 8}
 *              u32 page numbers[npages], padded to 8
 *              pages[npages]
 *   manifest:  struct dsm_ckpt_entry[nnodes]
 *   SHA-256 of all of the above
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/config.h"
#include "runtime/base/hmac.h"
#include "runtime/base/log.h"
#include "runtime/ft/ft.h"

#define CK_MAGIC	"DSMCKPT"
#define CK_VERSION	2	/* 2: the locks as tokens (sync.tokens) */
#define CK_NODE		1
#define CK_MANIFEST	2

struct ck_hdr {
	char magic[8];
	uint32_t version;
	uint32_t kind;
	uint64_t epoch;
	uint32_t node;			/* node files: whose */
	uint32_t reserved;
	struct dsm_ckpt_job job;
	uint64_t npages;		/* node files */
	uint64_t state_len;		/* node files: bytes of records */
	uint64_t body_len;		/* bytes between header and hash */
	uint8_t pad[32];
};

_Static_assert(sizeof(struct ck_hdr) == 128, "a checkpoint header is 128 bytes");

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

void dsm_ckpt_path(char *out, size_t outlen, const char *dir, uint64_t epoch, int node)
{
	snprintf(out, outlen, "%s/epoch-%08" PRIu64 ".node-%04d.dsmck", dir, epoch, node);
}

void dsm_ckpt_manifest_path(char *out, size_t outlen, const char *dir, uint64_t epoch)
{
	snprintf(out, outlen, "%s/epoch-%08" PRIu64 ".manifest", dir, epoch);
}

int dsm_ckpt_put(struct dsm_ckpt_out *out, const char *name, const void *data, size_t len)
{
	size_t need = out->len + 24 + pad8(len);

	if (need > out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 4096;
		char *b;

		while (cap < need)
			cap *= 2;
		b = realloc(out->buf, cap);
		if (!b)
			return -ENOMEM;
		out->buf = b;
		out->cap = cap;
	}
	memset(out->buf + out->len, 0, 24 + pad8(len));
	strncpy(out->buf + out->len, name, 15);
	memcpy(out->buf + out->len + 16, &(uint64_t){ len }, 8);
	if (len)
		memcpy(out->buf + out->len + 24, data, len);
	out->len = need;
	return 0;
}

const void *dsm_ckpt_get(const struct dsm_ckpt_in *in, const char *name, size_t *len)
{
	size_t at = 0;

	while (at + 24 <= in->len) {
		uint64_t n;

		memcpy(&n, in->buf + at + 16, 8);
		if (n > in->len - at - 24)
			return NULL;
		if (strncmp(in->buf + at, name, 16) == 0) {
			*len = n;
			return in->buf + at + 24;
		}
		at += 24 + pad8(n);
	}
	return NULL;
}

/* Writing: a file descriptor and a running hash. */
struct ck_writer {
	int fd;
	struct dsm_sha256_ctx md;
	uint64_t bytes;
};

static int w_write(struct ck_writer *w, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = write(w->fd, c, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		c += k;
		n -= (size_t)k;
		w->bytes += (uint64_t)k;
	}
	return 0;
}

/* Write and hash. */
static int w_put(struct ck_writer *w, const void *p, size_t n)
{
	int ret = dsm_sha256_update(&w->md, p, n);

	return ret < 0 ? ret : w_write(w, p, n);
}

static void dir_of(char *out, size_t outlen, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, outlen, ".");
	else if (slash == path)
		snprintf(out, outlen, "/");	/* "/file": the root directory */
	else
		snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

/*
 * Open path.tmp, write the header and body (fill), the hash; fsync;
 * rename to path; fsync the directory.  Logs the one error line.
 */
static int write_file(const char *path, const struct ck_hdr *h,
		      int (*fill)(struct ck_writer *w, const void *arg), const void *arg,
		      uint8_t hash_out[DSM_CKPT_HASH_LEN], uint64_t *size_out)
{
	char tmp[4200], dir[4200];
	struct ck_writer w = { .fd = -1 };
	uint8_t hash[DSM_CKPT_HASH_LEN];
	int ret, dfd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ret = dsm_sha256_init(&w.md);
	if (ret < 0)
		goto out;
	/* The heap's contents: readable by the job's user only. */
	w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w.fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = w_put(&w, h, sizeof(*h));
	if (ret == 0)
		ret = fill(&w, arg);
	if (ret == 0)
		ret = dsm_sha256_final(&w.md, hash);
	if (ret == 0)
		ret = w_write(&w, hash, DSM_CKPT_HASH_LEN);	/* the hash is not hashed */
	if (ret == 0 && fsync(w.fd) < 0)
		ret = -errno;
	if (close(w.fd) < 0 && ret == 0)
		ret = -errno;
	w.fd = -1;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret == 0) {
		/* The rename is durable only once the directory is. */
		dir_of(dir, sizeof(dir), path);
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0)
			ret = -errno;
		/* Renamed but not durable: the caller votes no and the file,
		 * of an epoch that never commits, is overwritten later. */
		if (dfd >= 0)
			close(dfd);
	}
	if (ret == 0) {
		memcpy(hash_out, hash, DSM_CKPT_HASH_LEN);
		*size_out = w.bytes;
	}
out:
	if (w.fd >= 0)
		close(w.fd);
	if (ret < 0) {
		dsm_err("checkpoint %s: cannot write it: %s", path, strerror(-ret));
		unlink(tmp);
	}
	dsm_sha256_abort(&w.md);
	return ret;
}

struct node_body {
	const struct dsm_ckpt_out *state;
	const uint32_t *pages;
	size_t npages;
	size_t ps;
	const char *base;
};

static int fill_node(struct ck_writer *w, const void *arg)
{
	const struct node_body *b = arg;
	static const char zeros[8];
	size_t i = 0, idx = b->npages * sizeof(uint32_t);
	int ret = 0;

	if (b->state->len)
		ret = w_put(w, b->state->buf, b->state->len);
	if (ret == 0 && b->npages)
		ret = w_put(w, b->pages, idx);
	if (ret == 0 && pad8(idx) != idx)
		ret = w_put(w, zeros, pad8(idx) - idx);
	/* Runs of consecutive pages in one write each. */
	while (ret == 0 && i < b->npages) {
		size_t j = i + 1;

		while (j < b->npages && b->pages[j] == b->pages[j - 1] + 1)
			j++;
		ret = w_put(w, b->base + (size_t)b->pages[i] * b->ps, (j - i) * b->ps);
		i = j;
	}
	return ret;
}

static void fill_hdr(struct ck_hdr *h, uint32_t kind, uint64_t epoch, uint32_t node,
		     const struct dsm_ckpt_job *job)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CK_MAGIC, 8);
	h->version = CK_VERSION;
	h->kind = kind;
	h->epoch = epoch;
	h->node = node;
	h->job = *job;
}

int dsm_ckpt_write_node(const char *dir, uint64_t epoch, int node, const struct dsm_ckpt_job *job,
			const struct dsm_ckpt_out *state, const uint32_t *pages, size_t npages,
			const char *base, struct dsm_ckpt_entry *entry)
{
	struct node_body b = { state, pages, npages, job->page_size, base };
	char path[4200];
	struct ck_hdr h;

	fill_hdr(&h, CK_NODE, epoch, (uint32_t)node, job);
	h.npages = npages;
	h.state_len = state->len;
	h.body_len = state->len + pad8(npages * sizeof(uint32_t)) + npages * job->page_size;
	dsm_ckpt_path(path, sizeof(path), dir, epoch, node);
	return write_file(path, &h, fill_node, &b, entry->hash, &entry->size);
}

struct manifest_body {
	const struct dsm_ckpt_entry *entries;
	uint32_t n;
};

static int fill_manifest(struct ck_writer *w, const void *arg)
{
	const struct manifest_body *b = arg;

	return w_put(w, b->entries, sizeof(*b->entries) * b->n);
}

int dsm_ckpt_write_manifest(const char *dir, uint64_t epoch, const struct dsm_ckpt_job *job,
			    const struct dsm_ckpt_entry *entries)
{
	struct manifest_body b = { entries, job->nnodes };
	struct dsm_ckpt_entry self;
	char path[4200];
	struct ck_hdr h;

	fill_hdr(&h, CK_MANIFEST, epoch, 0, job);
	h.body_len = sizeof(*entries) * job->nnodes;
	dsm_ckpt_manifest_path(path, sizeof(path), dir, epoch);
	return write_file(path, &h, fill_manifest, &b, self.hash, &self.size);
}

/* Read a whole file. */
static int slurp(const char *path, char **data, size_t *size)
{
	struct stat st;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	if (!(*data = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, *data + got, (size_t)st.st_size - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;		/* shrunk meanwhile: the size check refuses it */
		got += (size_t)k;
	}
	close(fd);
	*size = got;
	return 0;
}

static const char *model_name(uint32_t m)
{
	return m <= DSM_WEAK ? dsm_consistency_name((dsm_consistency_t)m) : "unknown";
}

/*
 * The checks common to both kinds: size, magic, kind, the hash, the epoch,
 * the job's settings.  NULL if the file is good, else why not.
 */
static const char *check_common(const char *data, size_t size, uint32_t kind, uint64_t epoch,
				const struct dsm_ckpt_job *job, char *why, size_t whylen)
{
	const struct ck_hdr *h = (const void *)data;
	uint8_t hash[DSM_CKPT_HASH_LEN];

	if (size < sizeof(*h) + DSM_CKPT_HASH_LEN) {
		snprintf(why, whylen, "truncated: %zu bytes, shorter than a header", size);
		return why;
	}
	if (memcmp(h->magic, CK_MAGIC, 8) != 0 || h->kind != kind) {
		snprintf(why, whylen, "not a libdsm checkpoint %s",
			 kind == CK_NODE ? "file" : "manifest");
		return why;
	}
	if (h->version != CK_VERSION) {
		snprintf(why, whylen, "format version %u, this libdsm reads %u", h->version,
			 CK_VERSION);
		return why;
	}
	if (h->body_len > size || size != sizeof(*h) + h->body_len + DSM_CKPT_HASH_LEN) {
		snprintf(why, whylen, "truncated or torn: %zu bytes where the header says %llu",
			 size, (unsigned long long)(sizeof(*h) + h->body_len + DSM_CKPT_HASH_LEN));
		return why;
	}
	if (dsm_sha256(data, size - DSM_CKPT_HASH_LEN, hash) < 0 ||
	    !dsm_memeq_ct(hash, data + size - DSM_CKPT_HASH_LEN, DSM_CKPT_HASH_LEN)) {
		snprintf(why, whylen, "SHA-256 mismatch: the contents are corrupt");
		return why;
	}
	if (h->epoch != epoch) {
		snprintf(why, whylen, "holds epoch %llu, its name says %llu",
			 (unsigned long long)h->epoch, (unsigned long long)epoch);
		return why;
	}
	if (h->job.nnodes != job->nnodes)
		snprintf(why, whylen, "written by a job of %u nodes, this job has %u",
			 h->job.nnodes, job->nnodes);
	else if (h->job.page_size != job->page_size)
		snprintf(why, whylen, "written with DSM_PAGE_SIZE=%llu, this job has %llu",
			 (unsigned long long)h->job.page_size, (unsigned long long)job->page_size);
	else if (h->job.heap_size != job->heap_size || h->job.heap_base != job->heap_base)
		snprintf(why, whylen, "written with a heap of %llu bytes at 0x%llx, this job has "
			 "%llu at 0x%llx", (unsigned long long)h->job.heap_size,
			 (unsigned long long)h->job.heap_base, (unsigned long long)job->heap_size,
			 (unsigned long long)job->heap_base);
	else if (h->job.consistency != job->consistency)
		snprintf(why, whylen, "written under DSM_CONSISTENCY=%s, this job uses %s",
			 model_name(h->job.consistency), model_name(job->consistency));
	else if (h->job.first_touch != job->first_touch || h->job.home_block != job->home_block)
		snprintf(why, whylen, "written with other DSM_HOMES or DSM_HOME_BLOCK settings");
	else
		return NULL;
	return why;
}

int dsm_ckpt_read_manifest(const char *dir, uint64_t epoch, const struct dsm_ckpt_job *job,
			   struct dsm_ckpt_entry *entries, char *why, size_t whylen)
{
	char path[4200], *data = NULL;
	size_t size = 0;
	int ret;

	dsm_ckpt_manifest_path(path, sizeof(path), dir, epoch);
	ret = slurp(path, &data, &size);
	if (ret < 0) {
		snprintf(why, whylen, "cannot read it: %s", strerror(-ret));
		return ret == -ENOENT ? -ENOENT : -EINVAL;
	}
	if (check_common(data, size, CK_MANIFEST, epoch, job, why, whylen)) {
		free(data);
		return -EINVAL;
	}
	if (((const struct ck_hdr *)data)->body_len != sizeof(*entries) * job->nnodes) {
		snprintf(why, whylen, "a manifest of the wrong length");
		free(data);
		return -EINVAL;
	}
	memcpy(entries, data + sizeof(struct ck_hdr), sizeof(*entries) * job->nnodes);
	free(data);
	return 0;
}

int dsm_ckpt_read_node(const char *dir, uint64_t epoch, int node, const struct dsm_ckpt_job *job,
		       const struct dsm_ckpt_entry *expect, struct dsm_ckpt_file *f, char *why,
		       size_t whylen)
{
	char path[4200];
	const struct ck_hdr *h;
	size_t idx;
	int ret;

	memset(f, 0, sizeof(*f));
	dsm_ckpt_path(path, sizeof(path), dir, epoch, node);
	ret = slurp(path, &f->data, &f->size);
	if (ret < 0) {
		snprintf(why, whylen, "cannot read it: %s", strerror(-ret));
		return ret == -ENOENT ? -ENOENT : -EINVAL;
	}
	h = (const void *)f->data;
	if (check_common(f->data, f->size, CK_NODE, epoch, job, why, whylen))
		goto bad;
	if (h->node != (uint32_t)node) {
		snprintf(why, whylen, "holds node %u's state, its name says node %d", h->node, node);
		goto bad;
	}
	/* npages first: the products below must not overflow. */
	if (h->npages > job->heap_size / job->page_size || h->state_len > h->body_len ||
	    h->state_len % 8 ||
	    h->body_len != h->state_len + pad8(h->npages * sizeof(uint32_t)) +
	    h->npages * job->page_size) {
		snprintf(why, whylen, "a header whose lengths do not add up");
		goto bad;
	}
	idx = pad8(h->npages * sizeof(uint32_t));
	memcpy(f->hash, f->data + f->size - DSM_CKPT_HASH_LEN, DSM_CKPT_HASH_LEN);
	if (expect && (expect->size != f->size ||
		       !dsm_memeq_ct(expect->hash, f->hash, DSM_CKPT_HASH_LEN))) {
		snprintf(why, whylen, "not the file the manifest of epoch %llu lists (its size or "
			 "SHA-256 differs)", (unsigned long long)epoch);
		goto bad;
	}
	f->epoch = epoch;
	f->npages = h->npages;
	f->state.buf = f->data + sizeof(*h);
	f->state.len = h->state_len;
	f->pages = (const uint32_t *)(f->data + sizeof(*h) + h->state_len);
	f->bytes = f->data + sizeof(*h) + h->state_len + idx;
	for (uint64_t i = 0; i < f->npages; i++)
		if (f->pages[i] >= job->heap_size / job->page_size ||
		    (i && f->pages[i] <= f->pages[i - 1])) {
			snprintf(why, whylen, "a page list out of order or beyond the heap");
			goto bad;
		}
	return 0;
bad:
	dsm_ckpt_file_free(f);
	return -EINVAL;
}

void dsm_ckpt_file_free(struct dsm_ckpt_file *f)
{
	free(f->data);
	f->data = NULL;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

uint64_t *dsm_ckpt_list(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		unsigned long long epoch;
		int end = 0;

		if (sscanf(e->d_name, "epoch-%llu.manifest%n", &epoch, &end) != 1 ||
		    e->d_name[end] != '\0' || end == 0)
			continue;
		if (*n == cap) {
			uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		v[(*n)++] = epoch;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_desc);
	return v;
}
