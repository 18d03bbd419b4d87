/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * diff.h - page diffs for the multiple-writer protocols (internal).
 *
 * Release and weak consistency let several nodes write one page in the
 * same interval.  The first write of an interval makes a twin (a copy of
 * the page); at release the writer encodes the bytes where the page now
 * differs from its twin and sends them to the page's home, which applies
 * them to its copy (Keleher et al., "TreadMarks: Distributed Shared Memory
 * on Standard Workstations and Operating Systems", USENIX Winter 1994,
 * section 3.3; Zhou, Iftode and Li, "Performance Evaluation of Two
 * Home-Based Lazy Release Consistency Protocols", OSDI 1996).
 *
 * Two nodes may write different bytes of one 8-byte word concurrently, and
 * the home must keep both writes.  So a diff holds exactly the bytes that
 * differ from the twin, never an unchanged one: an unchanged byte would
 * carry this node's stale value over the other node's write.  The scan
 * compares whole words or vectors, but the runs it encodes are byte-exact.
 *
 * Encoding: a sequence of runs, each a struct dsm_diff_run in host byte
 * order (the nodes of a job run one binary, see wire.h) followed by len
 * bytes of new data.  Runs are in increasing offset order, never overlap,
 * and have len >= 1 and off + len <= page size.  An empty diff is 0 bytes.
 * dsm_diff_create() emits maximal runs (two runs are never adjacent), so
 * every implementation produces the same bytes for the same pages.
 */
#ifndef DSM_PROTOCOL_DIFF_H
#define DSM_PROTOCOL_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dsm_diff_run {
	uint32_t off;		/* first changed byte, from the start of the page */
	uint32_t len;		/* changed bytes that follow this header, >= 1 */
};

_Static_assert(sizeof(struct dsm_diff_run) == 8, "diff run header is 8 bytes");

/*
 * The largest encoding dsm_diff_create() can produce for a page of
 * page_size bytes: page_size / 2 runs of one byte each, except one of two
 * bytes, i.e. 4.5 x page_size + 1 for an even size.  Any thread.
 */
size_t dsm_diff_bound(size_t page_size);

/*
 * Encode where page differs from twin into out, which must have room for
 * dsm_diff_bound(page_size) bytes; the bytes of out past the returned
 * length may be overwritten too.  Returns the encoded length, 0 when the
 * two are identical.  page and twin need no particular alignment;
 * page_size may be any size below 4 GiB (the runtime passes its page
 * size).  Any thread; the caller keeps page from changing meanwhile
 * (writes during the scan could land in the diff or not).
 */
size_t dsm_diff_create(const void *page, const void *twin, size_t page_size, void *out);

/*
 * Apply an encoded diff of len bytes to page (page_size bytes).  The whole
 * diff is validated before the first byte is written, so a malformed one
 * leaves page untouched.  Returns 0, or -EINVAL if a run header or its
 * data is truncated, a run has length 0, reaches past page_size, or starts
 * before the end of the previous run.  Any thread.
 */
int dsm_diff_apply(void *page, size_t page_size, const void *diff, size_t len);

/* The implementation dsm_diff_create() uses: "avx2" or "portable". */
const char *dsm_diff_impl(void);

/*
 * For tests and benchmarks: make dsm_diff_create() use the named
 * implementation from now on.  Returns 0, -ENOTSUP if this CPU (or this
 * build) cannot run it, or -EINVAL for an unknown name.  Not for use while
 * other threads create diffs (they may still run the previous one).
 */
int dsm_diff_select(const char *name);

/*
 * Between diff.c and diff_avx2.c only: the scanners (one per instruction
 * set) compare page and twin and hand the encoder a bit mask per chunk of
 * at most 64 bytes, bit k set when byte base + k differs; the encoder
 * (diff.c) turns the masks into runs.  Sharing the encoder is what makes
 * the encodings of all scanners identical.
 */
struct dsm_diff_enc {
	uint8_t *out;		/* the caller's buffer */
	const uint8_t *page;	/* where run data is copied from */
	size_t size;		/* page size */
	size_t cap;		/* dsm_diff_bound(size): out's guaranteed room */
	size_t len;		/* bytes encoded so far */
	size_t start;		/* first byte of the open run, if open */
	bool open;		/* a run is open: the byte before the next chunk differs */
};

struct dsm_diff_ops {
	const char *name;
	/* Can this CPU run it?  Any thread, cheap after the first call. */
	bool (*supported)(void);
	/* dsm_diff_create() for this instruction set. */
	size_t (*create)(const void *page, const void *twin, size_t page_size, void *out);
};

extern const struct dsm_diff_ops dsm_diff_avx2_ops;

void dsm_diff_enc_init(struct dsm_diff_enc *e, const void *page, size_t page_size, void *out);
/* Chunk [base, base + width) with mask m (bits at and above width clear),
 * 1 <= width <= 64. */
void dsm_diff_enc_mask(struct dsm_diff_enc *e, size_t base, uint64_t m, unsigned int width);
/* Compare the bytes [base, size) one by one: the tail after the last full
 * chunk a scanner handles (sizes that are not a multiple of 64). */
void dsm_diff_enc_tail(struct dsm_diff_enc *e, size_t base, const void *twin);
/* Close the open run; returns the encoded length. */
size_t dsm_diff_enc_finish(struct dsm_diff_enc *e);

/*
 * One full 64-byte chunk.  Inline for the two common cases that change
 * nothing: an unchanged chunk outside a run, and a fully changed chunk
 * inside one.
 */
static inline void dsm_diff_enc_chunk(struct dsm_diff_enc *e, size_t base, uint64_t m)
{
	if (m == (e->open ? ~(uint64_t)0 : 0))
		return;
	dsm_diff_enc_mask(e, base, m, 64);
}

#endif /* DSM_PROTOCOL_DIFF_H */
