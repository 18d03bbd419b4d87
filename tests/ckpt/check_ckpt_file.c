/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for runtime/ft/ckpt_file.c (records, node files, manifests,
 * what is refused and why) and the arena's save and restore
 * (runtime/alloc/arena.c), which checkpoints depend on.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/alloc/arena.h"
#include "runtime/ft/ft.h"

#define PS 4096
#define NPAGES 16

static char dir[] = "/tmp/check_ckpt_file.XXXXXX";
static char heap[NPAGES * PS];
static const struct dsm_ckpt_job job = {
	.nnodes = 2, .consistency = 1, .first_touch = 1, .home_block = 1,
	.page_size = PS, .heap_size = NPAGES * PS, .heap_base = 0x500000000000ull,
};

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(heap); i++)
		heap[i] = (char)(i * 7 + 3);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_ckpt_file.XXXXXX");
}

/* Epoch e: node 0 saves pages 1 and 2, node 1 page 9; records on both. */
static void write_epoch(uint64_t e, const struct dsm_ckpt_job *j)
{
	static const uint32_t p0[] = { 1, 2 }, p1[] = { 9 };
	struct dsm_ckpt_entry ent[2];
	struct dsm_ckpt_out out = { 0 };

	ck_assert_int_eq(dsm_ckpt_put(&out, "rec.a", "hello", 5), 0);
	ck_assert_int_eq(dsm_ckpt_put(&out, "rec.empty", NULL, 0), 0);
	ck_assert_int_eq(dsm_ckpt_write_node(dir, e, 0, j, &out, p0, 2, heap, &ent[0]), 0);
	ck_assert_int_eq(dsm_ckpt_write_node(dir, e, 1, j, &out, p1, 1, heap, &ent[1]), 0);
	ck_assert_int_eq(dsm_ckpt_write_manifest(dir, e, j, ent), 0);
	free(out.buf);
}

static int read_node(uint64_t e, int node, const struct dsm_ckpt_job *j, struct dsm_ckpt_file *f,
		     char *why, size_t whylen)
{
	struct dsm_ckpt_entry ent[2];
	int ret = dsm_ckpt_read_manifest(dir, e, j, ent, why, whylen);

	if (ret < 0)
		return ret;
	return dsm_ckpt_read_node(dir, e, node, j, &ent[node], f, why, whylen);
}

START_TEST(test_round_trip)
{
	struct dsm_ckpt_file f;
	char why[256] = "";
	const void *rec;
	size_t len = 99;

	write_epoch(1, &job);
	ck_assert_int_eq(read_node(1, 0, &job, &f, why, sizeof(why)), 0);
	ck_assert_uint_eq(f.npages, 2);
	ck_assert_uint_eq(f.pages[0], 1);
	ck_assert_uint_eq(f.pages[1], 2);
	ck_assert_mem_eq(f.bytes, heap + PS, 2 * PS);
	rec = dsm_ckpt_get(&f.state, "rec.a", &len);
	ck_assert_ptr_nonnull(rec);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(rec, "hello", 5);
	ck_assert_ptr_nonnull(dsm_ckpt_get(&f.state, "rec.empty", &len));
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(dsm_ckpt_get(&f.state, "rec.none", &len));
	dsm_ckpt_file_free(&f);
	ck_assert_int_eq(read_node(1, 1, &job, &f, why, sizeof(why)), 0);
	ck_assert_uint_eq(f.npages, 1);
	ck_assert_mem_eq(f.bytes, heap + 9 * PS, PS);
	dsm_ckpt_file_free(&f);
}
END_TEST

START_TEST(test_list_newest_first)
{
	uint64_t *v;
	size_t n;
	char path[4200];

	write_epoch(3, &job);
	write_epoch(12, &job);
	write_epoch(7, &job);
	/* Not manifests: a temporary one and a node file. */
	snprintf(path, sizeof(path), "%s/epoch-00000099.manifest.tmp", dir);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	v = dsm_ckpt_list(dir, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(v[0], 12);
	ck_assert_uint_eq(v[1], 7);
	ck_assert_uint_eq(v[2], 3);
	free(v);
}
END_TEST

static void corrupt(const char *name, off_t off, int how)
{
	char path[4200];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (how == 't') {
		ck_assert_int_eq(ftruncate(fd, st.st_size / 2), 0);
	} else {
		unsigned char b;

		if (off < 0)
			off += st.st_size;
		ck_assert_int_eq(pread(fd, &b, 1, off), 1);
		b ^= 0x10;
		ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	}
	close(fd);
}

static void expect_refused(uint64_t e, int node, const struct dsm_ckpt_job *j, const char *reason)
{
	struct dsm_ckpt_file f;
	char why[256] = "";

	ck_assert_int_lt(read_node(e, node, j, &f, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, reason), "refused for \"%s\", expected \"%s\"", why, reason);
}

START_TEST(test_refusals)
{
	struct dsm_ckpt_job other = job;

	write_epoch(1, &job);
	corrupt("epoch-00000001.node-0000.dsmck", 0, 't');
	expect_refused(1, 0, &job, "truncated");

	write_epoch(2, &job);
	corrupt("epoch-00000002.node-0001.dsmck", 200, 'f');
	expect_refused(2, 1, &job, "SHA-256 mismatch");

	write_epoch(3, &job);
	corrupt("epoch-00000003.manifest", -1, 'f');	/* its hash */
	expect_refused(3, 0, &job, "SHA-256 mismatch");

	write_epoch(4, &job);
	other.nnodes = 4;
	expect_refused(4, 0, &other, "a job of 2 nodes, this job has 4");
	other = job;
	other.page_size = 2 * PS;
	expect_refused(4, 0, &other, "DSM_PAGE_SIZE");
	other = job;
	other.heap_size = 2 * NPAGES * PS;
	expect_refused(4, 0, &other, "heap");
	other = job;
	other.consistency = 0;
	expect_refused(4, 0, &other, "DSM_CONSISTENCY=release, this job uses sequential");

	/* A node file of another epoch under this one's name. */
	write_epoch(5, &job);
	{
		char a[4200], b[4200];

		dsm_ckpt_path(a, sizeof(a), dir, 4, 1);
		dsm_ckpt_path(b, sizeof(b), dir, 5, 1);
		ck_assert_int_eq(rename(a, b), 0);
	}
	expect_refused(5, 1, &job, "epoch 4");
	expect_refused(6, 0, &job, "No such file");
}
END_TEST

START_TEST(test_arena_save_restore)
{
	struct dsm_arena a, b;
	uintptr_t base = 0x100000, x, y, z, again;
	void *buf;
	size_t len;

	ck_assert_int_eq(dsm_arena_init(&a, base, 1 << 20, PS), 0);
	ck_assert_int_eq(dsm_arena_init(&b, base, 1 << 20, PS), 0);
	x = dsm_arena_alloc(&a, 100, NULL);
	y = dsm_arena_alloc(&a, 3 * PS, NULL);
	z = dsm_arena_alloc(&a, 50, NULL);
	ck_assert_int_eq(dsm_arena_free(&a, x), 0);
	ck_assert_int_eq(dsm_arena_save(&a, &buf, &len), 0);
	ck_assert_int_eq(dsm_arena_restore(&b, buf, len), 0);
	/* Same live blocks, same free space, same next answers. */
	ck_assert_uint_eq(dsm_arena_block_size(&b, y), 3 * PS);
	ck_assert_uint_eq(dsm_arena_block_size(&b, z), 64);
	ck_assert_uint_eq(dsm_arena_block_size(&b, x), 0);
	again = dsm_arena_alloc(&b, 100, NULL);
	ck_assert_uint_eq(again, dsm_arena_alloc(&a, 100, NULL));
	ck_assert_uint_eq(dsm_arena_alloc(&b, 5 * PS, NULL), dsm_arena_alloc(&a, 5 * PS, NULL));
	/* A record that is not this arena's: refused, nothing changed. */
	ck_assert_int_eq(dsm_arena_restore(&b, buf, len - 1), -EINVAL);
	((uint64_t *)buf)[0] = base + (2 << 20);
	ck_assert_int_eq(dsm_arena_restore(&b, buf, len), -EINVAL);
	ck_assert_uint_eq(dsm_arena_block_size(&b, y), 3 * PS);
	free(buf);
	dsm_arena_fini(&a);
	dsm_arena_fini(&b);
}
END_TEST

static Suite *ckpt_file_suite(void)
{
	Suite *s = suite_create("ckpt_file");
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_list_newest_first);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	tc = tcase_create("arena");
	tcase_add_test(tc, test_arena_save_restore);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ckpt_file_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
