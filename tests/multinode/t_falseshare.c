/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_falseshare - every node writes interleaved words of the same pages.
 *
 * usage: t_falseshare [PAGES [ROUNDS]]
 *
 * Word i of a PAGES-page region belongs to node (i + round) % N, so every
 * page has N writers at once (true false sharing) and the owner of a word
 * moves from round to round.  Rounds are separated by barriers; after each
 * round every node checks every word.  Under sequential consistency the
 * pages ping-pong between writers; under release they must merge (multiple
 * writers, diffs of different bytes).  Either way no write may be lost.
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_falseshare";

static uint64_t value(unsigned round, size_t i, int writer)
{
	return ((uint64_t)round << 48) | ((uint64_t)writer << 32) | (uint32_t)(i * 2654435761u);
}

int main(int argc, char **argv)
{
	unsigned pages = 2, rounds = 4, r;
	volatile uint64_t *w;
	size_t ps, nwords, i;
	int rc, me, nodes;

	t_start(&argc, &argv);
	if (argc > 1)
		pages = parse_uint(argv[1], "page count", 1000000);
	if (argc > 2)
		rounds = parse_uint(argv[2], "round count", 1000000);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();
	nwords = pages * ps / sizeof(uint64_t);

	w = dsm_alloc_collective(pages * ps);
	if (!w)
		fail("dsm_alloc_collective: %s", strerror(errno));
	for (i = 0; i < nwords; i++)
		if (w[i] != 0)
			fail("dsm_alloc_collective memory not zero at word %zu", i);
	dsm_barrier();

	for (r = 1; r <= rounds; r++) {
		/* Write this node's words of every page. */
		for (i = 0; i < nwords; i++)
			if ((int)((i + r) % (unsigned)nodes) == me)
				w[i] = value(r, i, me);
		dsm_barrier();

		/* Check all the words, everybody's. */
		for (i = 0; i < nwords; i++) {
			int writer = (int)((i + r) % (unsigned)nodes);
			uint64_t got = w[i];

			if (got != value(r, i, writer))
				fail("round %u: word %zu (page %zu, written by node %d) is "
				     "%#llx, expected %#llx", r, i,
				     i * sizeof(uint64_t) / ps, writer,
				     (unsigned long long)got,
				     (unsigned long long)value(r, i, writer));
		}
		/* Nobody starts writing round r+1 while someone still checks r. */
		dsm_barrier();
	}

	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));
	return 0;
}
