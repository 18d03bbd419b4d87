/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for runtime/directory/directory.c: the block-cyclic home map,
 * the mapping of a home's pages onto its entry table, the initial state
 * of both tables, and the fair choice of the next queued request.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel-shim/fault/fault.h"
#include "runtime/directory/directory.h"

static struct dsm_dir *dir_new(size_t npages, int nnodes, int self, unsigned int home_block)
{
	/* The stripes make struct dsm_dir large: keep it off the stack. */
	struct dsm_dir *dir = malloc(sizeof(*dir));

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(dsm_dir_init(dir, npages, nnodes, self, home_block), 0);
	return dir;
}

static void dir_free(struct dsm_dir *dir)
{
	dsm_dir_fini(dir);
	ck_assert_ptr_null(dir->local);
	ck_assert_ptr_null(dir->home);
	free(dir);
}

/* ---------- the home map ---------- */

START_TEST(test_home_cyclic)
{
	struct dsm_dir *dir = dir_new(64, 4, 0, 1);

	/* home_block 1: page p lives at node p % N */
	for (size_t p = 0; p < 64; p++)
		ck_assert_int_eq(dsm_dir_home(dir, p), (int)(p % 4));
	dir_free(dir);
}
END_TEST

START_TEST(test_home_blocks)
{
	static const int want3[] = { 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0 };
	struct dsm_dir *dir;

	/* Blocks of 3 pages dealt to 2 nodes. */
	dir = dir_new(13, 2, 1, 3);
	for (size_t p = 0; p < 13; p++)
		ck_assert_int_eq(dsm_dir_home(dir, p), want3[p]);
	dir_free(dir);

	/* Blocks of 4 pages dealt to 3 nodes. */
	dir = dir_new(100, 3, 2, 4);
	for (size_t p = 0; p < 100; p++)
		ck_assert_int_eq(dsm_dir_home(dir, p), (int)((p / 4) % 3));
	/* One node: everything is homed at node 0, whatever the block. */
	dir_free(dir);
	dir = dir_new(50, 1, 0, 7);
	for (size_t p = 0; p < 50; p++)
		ck_assert_int_eq(dsm_dir_home(dir, p), 0);
	dir_free(dir);
}
END_TEST

/*
 * For every node of jobs of 1..8 nodes and blocks of 1, 3 and 4 pages:
 * each page homed at the node gets its own entry inside [0, nhome), every
 * node homes its share, and each page is homed at exactly one node.
 */
START_TEST(test_entry_map_distinct)
{
	static const unsigned int blocks[] = { 1, 3, 4 };
	static const size_t npages_list[] = { 1, 7, 97, 256 };

	for (size_t ip = 0; ip < sizeof(npages_list) / sizeof(npages_list[0]); ip++) {
		size_t npages = npages_list[ip];

		for (int n = 1; n <= 8; n++) {
			for (size_t ib = 0; ib < 3; ib++) {
				unsigned int hb = blocks[ib];
				size_t homed_total = 0;

				for (int self = 0; self < n; self++) {
					struct dsm_dir *dir = dir_new(npages, n, self, hb);
					uint8_t *seen = calloc(dir->nhome + 1, 1);
					size_t homed = 0;

					ck_assert_ptr_nonnull(seen);
					for (size_t p = 0; p < npages; p++) {
						struct dsm_dir_entry *e;
						size_t idx;

						if (dsm_dir_home(dir, p) != self)
							continue;
						e = dsm_dir_entry_locked(dir, p);
						ck_assert_msg(e >= dir->home &&
							      e < dir->home + dir->nhome,
							      "N=%d block=%u node %d page %zu: entry "
							      "%td outside [0, %zu)", n, hb, self, p,
							      e - dir->home, dir->nhome);
						idx = (size_t)(e - dir->home);
						ck_assert_msg(!seen[idx],
							      "N=%d block=%u node %d page %zu: entry "
							      "%zu shared", n, hb, self, p, idx);
						seen[idx] = 1;
						homed++;
					}
					/*
					 * The table is tight: its slack is at most a
					 * block this node does not get plus the
					 * missing part of a partial one.
					 */
					ck_assert(dir->nhome >= homed);
					ck_assert(dir->nhome < homed + 2 * hb);
					homed_total += homed;
					free(seen);
					dir_free(dir);
				}
				ck_assert_uint_eq(homed_total, npages);
			}
		}
	}
}
END_TEST

/* Writing one page's entry must not disturb another page's. */
START_TEST(test_entry_map_independent)
{
	struct dsm_dir *dir = dir_new(96, 3, 1, 4);

	for (size_t p = 0; p < 96; p++)
		if (dsm_dir_home(dir, p) == 1)
			dsm_dir_entry_locked(dir, p)->version = (uint32_t)p + 1000;
	for (size_t p = 0; p < 96; p++)
		if (dsm_dir_home(dir, p) == 1)
			ck_assert_uint_eq(dsm_dir_entry_locked(dir, p)->version, p + 1000);
	dir_free(dir);
}
END_TEST

START_TEST(test_initial_state)
{
	struct dsm_dir *dir = dir_new(100, 3, 2, 3);

	ck_assert_uint_eq(dir->npages, 100);
	ck_assert_int_eq(dir->nnodes, 3);
	ck_assert_int_eq(dir->self, 2);
	ck_assert_uint_eq(dir->home_block, 3);
	/* Every page starts invalid here, with nothing requested. */
	for (size_t p = 0; p < 100; p++) {
		ck_assert_uint_eq(dir->local[p].prot, DSM_PROT_NONE);
		ck_assert_uint_eq(dir->local[p].want, 0);
		ck_assert_uint_eq(dir->local[p].seq, 0);
	}
	/* ...owned by nobody: the home's zero memory is current. */
	for (size_t i = 0; i < dir->nhome; i++) {
		const struct dsm_dir_entry *e = &dir->home[i];

		ck_assert_int_eq(e->owner, -1);
		ck_assert_int_eq(e->txn_node, -1);
		ck_assert_uint_eq(e->busy, 0);
		ck_assert_int_eq(e->pending, 0);
		ck_assert_uint_eq(e->version, 0);
		ck_assert(e->copyset == 0);
		ck_assert(e->wait_read == 0);
		ck_assert(e->wait_write == 0);
	}
	dir_free(dir);
}
END_TEST

/* The stripe lock of a page is the same every time and usable. */
START_TEST(test_stripes)
{
	struct dsm_dir *dir = dir_new(4096, 2, 0, 1);

	ck_assert_ptr_eq(dsm_dir_lock_of(dir, 5), dsm_dir_lock_of(dir, 5 + DSM_DIR_STRIPES));
	ck_assert_ptr_ne(dsm_dir_lock_of(dir, 5), dsm_dir_lock_of(dir, 6));
	dsm_dir_lock(dir, 5);
	ck_assert_int_ne(pthread_mutex_trylock(dsm_dir_lock_of(dir, 5)), 0);
	ck_assert_int_eq(pthread_mutex_trylock(dsm_dir_lock_of(dir, 6)), 0);
	pthread_mutex_unlock(dsm_dir_lock_of(dir, 6));
	dsm_dir_unlock(dir, 5);
	ck_assert_int_eq(pthread_mutex_trylock(dsm_dir_lock_of(dir, 5)), 0);
	pthread_mutex_unlock(dsm_dir_lock_of(dir, 5));
	dir_free(dir);
}
END_TEST

/* ---------- dsm_dir_next_waiter_locked ---------- */

START_TEST(test_waiter_empty)
{
	struct dsm_dir *dir = dir_new(8, 8, 0, 1);
	struct dsm_dir_entry *e = dsm_dir_entry_locked(dir, 0);
	int node = 42;
	bool write = true;

	ck_assert(!dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 42);	/* untouched when nobody waits */
	ck_assert(write);
	e->txn_node = 3;
	ck_assert(!dsm_dir_next_waiter_locked(dir, e, &node, &write));
	dir_free(dir);
}
END_TEST

START_TEST(test_waiter_read_write_bits)
{
	struct dsm_dir *dir = dir_new(8, 8, 0, 1);
	struct dsm_dir_entry *e = dsm_dir_entry_locked(dir, 0);
	int node;
	bool write;

	/* No transaction yet: the search starts at node 0. */
	e->wait_read = 1ull << 2;
	e->wait_write = 1ull << 5;
	ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 2);
	ck_assert(!write);
	ck_assert(e->wait_read == 0);
	ck_assert(e->wait_write == 1ull << 5);	/* the other waiter stays queued */
	ck_assert_int_eq(e->txn_node, -1);	/* the caller starts the transaction */

	ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 5);
	ck_assert(write);
	ck_assert(e->wait_read == 0 && e->wait_write == 0);
	ck_assert(!dsm_dir_next_waiter_locked(dir, e, &node, &write));

	/* A node waiting to read and to write: one write grant serves both. */
	e->wait_read = 1ull << 4;
	e->wait_write = 1ull << 4;
	ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 4);
	ck_assert(write);
	ck_assert(e->wait_read == 0 && e->wait_write == 0);
	dir_free(dir);
}
END_TEST

/* The search starts after the last requester and wraps around. */
START_TEST(test_waiter_starts_after_last)
{
	struct dsm_dir *dir = dir_new(8, 8, 0, 1);
	struct dsm_dir_entry *e = dsm_dir_entry_locked(dir, 0);
	int node;
	bool write;

	e->wait_read = (1ull << 1) | (1ull << 3) | (1ull << 6);
	e->txn_node = 3;
	ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 6);	/* not 3 again, and not 1 first */

	e->wait_read |= 1ull << 3;
	e->txn_node = 6;
	ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 1);	/* wrapped past 7 */

	e->txn_node = 7;		/* the last node: wrap to 0 */
	e->wait_write = 1ull << 0;
	ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 0);
	ck_assert(write);

	/* Only the last requester waits: it gets its turn again. */
	e->wait_read = 1ull << 3;
	e->txn_node = 3;
	ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
	ck_assert_int_eq(node, 3);
	ck_assert(e->wait_read == 0 && e->wait_write == 0);
	dir_free(dir);
}
END_TEST

/*
 * Fairness: every node keeps a request queued at all times, and the caller
 * makes each grantee the new transaction's node, as the protocol does
 * (sequential.c, start_locked).  Grants must go round-robin, so no node
 * waits more than N-1 grants, whatever mix of reads and writes.
 */
START_TEST(test_waiter_round_robin)
{
	for (int n = 1; n <= 8; n++) {
		struct dsm_dir *dir = dir_new(64, n, 0, 1);
		struct dsm_dir_entry *e = dsm_dir_entry_locked(dir, 0);
		uint64_t all = n == 64 ? ~0ull : (1ull << n) - 1;
		int expect = 0;

		e->wait_read = all & 0x5555555555555555ull;
		e->wait_write = all & ~e->wait_read;
		for (int grant = 0; grant < 5 * n; grant++) {
			int node;
			bool write;

			ck_assert(dsm_dir_next_waiter_locked(dir, e, &node, &write));
			ck_assert_msg(node == expect, "N=%d grant %d went to %d, expected %d",
				      n, grant, node, expect);
			ck_assert(write == (node % 2 == 1));
			e->txn_node = (int16_t)node;
			/* It asks again at once, the same way. */
			if (write)
				e->wait_write |= 1ull << node;
			else
				e->wait_read |= 1ull << node;
			expect = (expect + 1) % n;
		}
		dir_free(dir);
	}
}
END_TEST

static Suite *directory_suite(void)
{
	Suite *s = suite_create("directory");
	TCase *tc;

	tc = tcase_create("home");
	tcase_add_test(tc, test_home_cyclic);
	tcase_add_test(tc, test_home_blocks);
	tcase_add_test(tc, test_entry_map_distinct);
	tcase_add_test(tc, test_entry_map_independent);
	tcase_add_test(tc, test_initial_state);
	tcase_add_test(tc, test_stripes);
	suite_add_tcase(s, tc);

	tc = tcase_create("waiters");
	tcase_add_test(tc, test_waiter_empty);
	tcase_add_test(tc, test_waiter_read_write_bits);
	tcase_add_test(tc, test_waiter_starts_after_last);
	tcase_add_test(tc, test_waiter_round_robin);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(directory_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
