/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_alloc - dsm_malloc, dsm_calloc, dsm_free, dsm_alloc_collective.
 *
 * usage: t_alloc            (best run with a small heap: DSM_HEAP_SIZE=4M)
 *
 * Checks, on every node:
 *  - the page size is a power of two of at least 4K;
 *  - dsm_alloc_collective gives the same, zeroed, page-aligned pointer on
 *    every node; dsm_is_shared and dsm_home_node answer sensibly;
 *  - blocks from dsm_malloc on all nodes at once never overlap, blocks of
 *    at least a page are page-aligned, and each node sees the others' data;
 *  - a block from dsm_malloc on node 1 is readable on node 0 and freed
 *    there; the owner can allocate again afterwards;
 *  - dsm_calloc memory is zero even when it reuses freed, dirty memory
 *    (freed locally, or freed by another node); so is a reused collective
 *    block, at once on every node, also one that had a copy of it;
 *  - overflowing and out-of-heap requests give NULL with errno ENOMEM for
 *    dsm_malloc, dsm_calloc and dsm_alloc_collective, never a crash, and
 *    the heap still works afterwards.  Exhausting the heap with many
 *    allocations is only tried when DSM_HEAP_SIZE is set and small.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_alloc";

/* Blocks each node allocates in test_blocks (sizes: block_size()). */
#define NBLOCKS 12
struct block {
	uint64_t addr, size;
};

static size_t ps;
static int me, nodes;

static size_t block_size(int k)
{
	/* Around the page size boundaries, plus small odd sizes. */
	switch (k) {
	case 0: return 8;
	case 1: return 24;
	case 2: return 100;
	case 3: return 1000;
	case 4: return ps - 8;
	case 5: return ps;
	case 6: return ps + 1;
	case 7: return 4000;
	case 8: return 64;
	case 9: return 2 * ps;
	case 10: return 500;
	default: return 3 * ps + 17;
	}
}

static unsigned char fill_byte(int node, int k, size_t i)
{
	return (unsigned char)(node * 31 + k * 7 + i * 13 + 1);
}

static int aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* Check a fresh allocation's address for the rules of API.md. */
static void check_new(const void *p, size_t size, const char *what)
{
	if (!p)
		fail("%s(%zu) returned NULL: %s", what, size, strerror(errno));
	if (!dsm_is_shared(p) || !dsm_is_shared((const char *)p + size - 1))
		fail("%s(%zu) = %p: dsm_is_shared says no", what, size, p);
	if (size >= ps && !aligned(p, ps))
		fail("%s(%zu) = %p is not aligned to the page size %zu", what,
		     size, p, ps);
}

static void expect_enomem(void *p, const char *what)
{
	if (p)
		fail("%s succeeded (%p) where it must fail with ENOMEM", what, p);
	if (errno != ENOMEM)
		fail("%s returned NULL but errno is %d (%s), expected ENOMEM",
		     what, errno, strerror(errno));
}

static void check_zero(const unsigned char *p, size_t n, const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			fail("%s: byte %zu of %zu is %#x, not zero", what, i, n, p[i]);
}

/* DSM_HEAP_SIZE in bytes, or 0 if unset or not a plain number+suffix. */
static size_t env_heap_size(void)
{
	const char *s = getenv("DSM_HEAP_SIZE");
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return 0;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	}
	return *end ? 0 : (size_t)v;
}

static void test_collective_and_queries(struct block *tab, char *ctl)
{
	uint64_t *coll = (uint64_t *)ctl;	/* one word per node */
	int local = 0, h, h0, n, k;
	bool static_homes;
	char *hp;

	/* Same pointer everywhere: everybody writes its own view of ctl. */
	coll[me] = (uintptr_t)ctl;
	dsm_barrier();
	for (n = 0; n < nodes; n++)
		if (coll[n] != (uintptr_t)ctl)
			fail("dsm_alloc_collective gave %p here but %#llx on node %d",
			     (void *)ctl, (unsigned long long)coll[n], n);

	if (dsm_is_shared(&local) || dsm_is_shared(NULL) || dsm_is_shared(&tab))
		fail("dsm_is_shared is true for private memory");
	if (dsm_home_node(&local) != -EINVAL)
		fail("dsm_home_node(private address) = %d, expected -EINVAL",
		     dsm_home_node(&local));

	/* Homes of consecutive pages go round the nodes (page index mod N),
	 * unless they are chosen by first touch. */
	static_homes = dsm_consistency() == DSM_SEQUENTIAL ||
		       (getenv("DSM_HOMES") && !strcmp(getenv("DSM_HOMES"), "static"));
	hp = dsm_alloc_collective((nodes + 1) * ps);
	check_new(hp, (nodes + 1) * ps, "dsm_alloc_collective");
	check_zero((unsigned char *)hp, (nodes + 1) * ps, "dsm_alloc_collective");
	h0 = dsm_home_node(hp);
	for (k = 0; k <= nodes; k++) {
		h = dsm_home_node(hp + k * ps);
		if (h < 0 || h >= nodes)
			fail("dsm_home_node(page %d) = %d, not a node", k, h);
		if (dsm_home_node(hp + k * ps + ps - 1) != h)
			fail("dsm_home_node differs within one page");
		if (static_homes && !getenv("DSM_HOME_BLOCK") && h != (h0 + k) % nodes)
			fail("home of page %d after an allocation's first is %d, "
			     "expected %d (page index modulo %d)", k, h,
			     (h0 + k) % nodes, nodes);
	}
	dsm_barrier();
	if (static_homes)
		return;

	/*
	 * First-touch homes (release and weak consistency by default): node
	 * k writes page k of a fresh allocation before anyone touches it, so
	 * it becomes that page's home, and every node agrees.
	 */
	hp = dsm_alloc_collective(nodes * ps);
	check_new(hp, nodes * ps, "dsm_alloc_collective");
	hp[me * ps] = (char)(me + 1);
	dsm_barrier();
	for (k = 0; k < nodes; k++) {
		if ((h = dsm_home_node(hp + k * ps)) != k)
			fail("first-touch home of page %d (written first by node %d) is %d", k, k, h);
		if (hp[k * ps] != (char)(k + 1))
			fail("page %d holds %d, expected %d", k, hp[k * ps], k + 1);
	}
	dsm_barrier();
}

static void test_blocks(struct block *tab, int src)
{
	struct block *mine = tab + me * NBLOCKS;
	size_t i;
	int k, a, b;

	for (k = 0; k < NBLOCKS; k++) {
		size_t sz = block_size(k);
		unsigned char *p = dsm_malloc(sz);

		check_new(p, sz, "dsm_malloc");
		for (i = 0; i < sz; i++)
			p[i] = fill_byte(me, k, i);
		mine[k].addr = (uintptr_t)p;
		mine[k].size = sz;
	}
	dsm_barrier();

	/* Nothing overlaps, and every node's data is visible here. */
	for (a = 0; a < nodes * NBLOCKS; a++) {
		for (b = a + 1; b < nodes * NBLOCKS; b++)
			if (tab[a].addr < tab[b].addr + tab[b].size &&
			    tab[b].addr < tab[a].addr + tab[a].size)
				fail("block %d of node %d [%#llx+%llu] overlaps block %d "
				     "of node %d [%#llx+%llu]", a % NBLOCKS, a / NBLOCKS,
				     (unsigned long long)tab[a].addr,
				     (unsigned long long)tab[a].size, b % NBLOCKS,
				     b / NBLOCKS, (unsigned long long)tab[b].addr,
				     (unsigned long long)tab[b].size);
		for (i = 0; i < tab[a].size; i++) {
			unsigned char got = ((unsigned char *)(uintptr_t)tab[a].addr)[i];

			if (got != fill_byte(a / NBLOCKS, a % NBLOCKS, i))
				fail("byte %zu of node %d's block %d is %#x, expected %#x",
				     i, a / NBLOCKS, a % NBLOCKS, got,
				     fill_byte(a / NBLOCKS, a % NBLOCKS, i));
		}
	}
	dsm_barrier();

	/*
	 * Node 0 frees node src's (dirty) blocks: a pointer made on another
	 * node is freed here.  Every other node frees its own.
	 */
	if (me == 0)
		for (k = 0; k < NBLOCKS; k++)
			dsm_free((void *)(uintptr_t)tab[src * NBLOCKS + k].addr);
	if (me != src)
		for (k = 0; k < NBLOCKS; k++)
			dsm_free((void *)(uintptr_t)mine[k].addr);
	dsm_barrier();

	/*
	 * Node src allocates the same sizes again with dsm_calloc: whatever it
	 * gets, maybe the blocks another node just freed dirty, must be zero.
	 */
	if (me == src)
		for (k = 0; k < NBLOCKS; k++) {
			size_t sz = block_size(k);
			void *p = dsm_calloc(1, sz);

			check_new(p, sz, "dsm_calloc after a remote dsm_free");
			check_zero(p, sz, "dsm_calloc after a remote dsm_free");
			dsm_free(p);
		}
	dsm_barrier();
}

static void test_calloc_reuse(void)
{
	static const size_t counts[] = { 1, 3, 1, 1 };
	void *dirty[NBLOCKS];
	size_t sz;
	int k, c;

	/* Free-then-calloc of one size at a time: the likeliest reuse. */
	for (k = 0; k < NBLOCKS; k++) {
		void *p, *q;

		sz = block_size(k);
		p = dsm_malloc(sz);
		check_new(p, sz, "dsm_malloc");
		memset(p, 0xa5, sz);
		dsm_free(p);
		q = dsm_calloc(1, sz);
		check_new(q, sz, "dsm_calloc");
		check_zero(q, sz, q == p ? "dsm_calloc reusing a dirty block" :
			   "dsm_calloc");
		dsm_free(q);
	}

	/* Many dirty blocks freed, then callocs of other shapes over them. */
	for (k = 0; k < NBLOCKS; k++) {
		dirty[k] = dsm_malloc(block_size(k));
		check_new(dirty[k], block_size(k), "dsm_malloc");
		memset(dirty[k], 0x5a, block_size(k));
	}
	for (k = 0; k < NBLOCKS; k++)
		dsm_free(dirty[k]);
	for (k = 0; k < NBLOCKS; k++) {
		c = (int)counts[k % 4];
		sz = block_size(k) / c + 1;
		dirty[k] = dsm_calloc(c, sz);
		check_new(dirty[k], c * sz, "dsm_calloc");
		check_zero(dirty[k], c * sz, "dsm_calloc over freed dirty blocks");
	}
	for (k = 0; k < NBLOCKS; k++)
		dsm_free(dirty[k]);
	dsm_free(NULL);		/* documented as ignored */
}

/*
 * A collective block freed and handed out again must read zero on every
 * node at once, also on a node that had a copy of its page and when the
 * page's home is a third node (first-touch: the last node wrote it first),
 * under every model: no stale copy, no zeros still on their way home.
 */
static void test_collective_reuse(void)
{
	volatile uint64_t *a, *b;

	a = dsm_alloc_collective(64);
	if (!a)
		fail("dsm_alloc_collective(64): %s", strerror(errno));
	if (me == nodes - 1)
		a[0] = 42;
	dsm_barrier();
	if (a[0] != 42)		/* every node now has a copy */
		fail("a collective block reads %llu, expected 42", (unsigned long long)a[0]);
	dsm_barrier();
	if (me == 0)
		dsm_free((void *)a);
	dsm_barrier();
	b = dsm_alloc_collective(64);
	if (!b)
		fail("dsm_alloc_collective(64) after a free: %s", strerror(errno));
	if (b == a && b[0] != 0)
		fail("a reused collective block reads %llu right after dsm_alloc_collective, "
		     "expected 0", (unsigned long long)b[0]);
	dsm_barrier();
	if (me == 0)
		dsm_free((void *)b);
	dsm_barrier();
}

static void test_enomem(size_t heap)
{
	errno = 0;
	expect_enomem(dsm_malloc((size_t)1 << 40), "dsm_malloc(1 TiB)");
	errno = 0;
	expect_enomem(dsm_malloc(SIZE_MAX), "dsm_malloc(SIZE_MAX)");
	errno = 0;
	expect_enomem(dsm_calloc(SIZE_MAX / 2 + 2, 2), "dsm_calloc(overflowing nmemb*size)");
	errno = 0;
	expect_enomem(dsm_calloc((size_t)1 << 30, (size_t)1 << 10), "dsm_calloc(1 TiB)");
	if (heap) {
		errno = 0;
		expect_enomem(dsm_malloc(heap + ps), "dsm_malloc(heap size + 1 page)");
	}

	/* Exhaust the heap for real, only when it is small (DSM_HEAP_SIZE). */
	if (heap && heap <= ((size_t)64 << 20)) {
		enum { CHUNK = 64 << 10, MAXCHUNKS = 4096 };
		static void *chunk[MAXCHUNKS];
		int n = 0, k;
		void *p;

		for (;;) {
			if (n == MAXCHUNKS)
				fail("%d dsm_malloc(%d) succeeded in a heap of %zu bytes",
				     n, CHUNK, heap);
			errno = 0;
			p = dsm_malloc(CHUNK);
			if (!p)
				break;
			check_new(p, CHUNK, "dsm_malloc");
			*(volatile char *)p = 1;	/* it is real memory */
			chunk[n++] = p;
		}
		expect_enomem(p, "dsm_malloc when the heap is full");
		for (k = 0; k < n; k++)
			dsm_free(chunk[k]);
		/* The heap may be one pool: wait until every node gave back. */
		dsm_barrier();
		p = dsm_malloc(CHUNK);
		if (!p)
			fail("dsm_malloc(%d) fails after freeing %d such chunks: %s",
			     CHUNK, n, strerror(errno));
		dsm_free(p);
	}
	dsm_barrier();
}

static void test_collective_enomem(size_t heap, uint64_t *slot)
{
	char *p;
	int n;

	errno = 0;
	expect_enomem(dsm_alloc_collective((size_t)1 << 40), "dsm_alloc_collective(1 TiB)");
	if (heap) {
		errno = 0;
		expect_enomem(dsm_alloc_collective(heap + ps),
			      "dsm_alloc_collective(heap size + 1 page)");
	}

	/* The collective state is still in step on every node. */
	p = dsm_alloc_collective(2 * ps);
	check_new(p, 2 * ps, "dsm_alloc_collective after ENOMEM");
	check_zero((unsigned char *)p, 2 * ps, "dsm_alloc_collective after ENOMEM");
	slot[me] = (uintptr_t)p;
	dsm_barrier();
	for (n = 0; n < nodes; n++)
		if (slot[n] != (uintptr_t)p)
			fail("after a failed dsm_alloc_collective, the next one gave "
			     "%p here but %#llx on node %d", (void *)p,
			     (unsigned long long)slot[n], n);
	dsm_barrier();
}

int main(int argc, char **argv)
{
	struct block *tab;
	size_t heap, ctl_size;
	char *ctl;
	int rc, src;

	t_start(&argc, &argv);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();
	heap = env_heap_size();
	src = nodes > 1 ? 1 : 0;
	if (ps < 4096 || (ps & (ps - 1)))
		fail("dsm_page_size() = %zu: not a power of two >= 4096", ps);

	/*
	 * Control area: page 0 holds one word per node for pointer
	 * comparisons, then the block table, then a second word per node.
	 */
	ctl_size = 2 * ps + (size_t)DSM_MAX_NODES * NBLOCKS * sizeof(struct block);
	ctl = dsm_alloc_collective(ctl_size);
	check_new(ctl, ctl_size, "dsm_alloc_collective");
	check_zero((unsigned char *)ctl, ctl_size, "dsm_alloc_collective");
	tab = (struct block *)(ctl + ps);
	dsm_barrier();		/* everybody checked the zeroes before anyone writes */

	test_collective_and_queries(tab, ctl);
	test_collective_reuse();
	test_blocks(tab, src);
	test_calloc_reuse();
	dsm_barrier();
	test_enomem(heap);
	test_collective_enomem(heap, (uint64_t *)(ctl + 512));

	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
