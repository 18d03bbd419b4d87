/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_syscalls - system calls on shared memory that this node has no access
 * to (kernel-shim/interpose): without interposition the kernel's own access
 * fails with EFAULT, or the call comes back short.
 *
 * usage: t_syscalls [ROUNDS]
 *
 * On every node, between barriers:
 *  - the program binds read, write, fread, ... to libdsm, not to the C
 *    library, and a pipe works before dsm_init;
 *  - write(2) to a file, and to a pipe, from a multi-page buffer that node 0
 *    filled (every other node has no copy), checked by reading the file back
 *    into private memory;
 *  - read(2) from a file into a shared buffer whose pages node 0 owns, then
 *    every node checks it; and ROUNDS rounds of every node reading its own
 *    file at once into slices of one buffer that share pages with their
 *    neighbours' (ownership moves during the calls: short reads are
 *    completed, EFAULT must never come out);
 *  - readv/writev over two shared ranges, with the iovec array in shared
 *    memory written by another node; preadv/pwritev;
 *  - send/recv over a socketpair; sendmsg/recvmsg with the msghdr and the
 *    iovecs in shared memory prepared by another node; sendto/recvfrom on a
 *    datagram socketpair with the address length in shared memory;
 *  - pread/pwrite at an offset;
 *  - fwrite and fread of a block of more than 64 KiB (the C library moves it
 *    with its internal read/write, straight to or from the buffer);
 *  - errno is left alone by a call that succeeds, and a call that fails for
 *    another reason (EBADF) fails with it, once;
 *  - after dsm_finalize, write(2) from the old heap address fails with
 *    EFAULT (the wrapper calls through: no touch of an unmapped page).
 *
 * Exit 0 on success, 1 with one line on stderr naming what was wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dsm.h>

#include "t_common.h"

const char prog[] = "t_syscalls";

static int me, nodes;
static size_t ps;

/* Byte i of the data tagged tag: differs between tags and nearby bytes. */
static unsigned char pat(unsigned tag, size_t i)
{
	return (unsigned char)(i * 131u + tag * 71u + (i >> 9) + 1u);
}

static void fill(void *p, size_t len, unsigned tag)
{
	unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		c[i] = pat(tag, i);
}

static void check(const void *p, size_t len, unsigned tag, const char *what)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i] != pat(tag, i))
			fail("%s: byte %zu of %zu is %#x, expected %#x", what, i, len, c[i],
			     pat(tag, i));
}

/* An unlinked temporary file. */
static int tmpfd(void)
{
	char path[] = "/tmp/t_syscalls.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		fail("mkstemp: %s", strerror(errno));
	unlink(path);
	return fd;
}

/* A file holding len bytes tagged tag, written from private memory. */
static int pattern_file(size_t len, unsigned tag)
{
	char *tmp = malloc(len);
	int fd = tmpfd();

	if (!tmp)
		fail("out of memory");
	fill(tmp, len, tag);
	if (pwrite(fd, tmp, len, 0) != (ssize_t)len)
		fail("pwrite of a private buffer: %s", strerror(errno));
	free(tmp);
	return fd;
}

/* The len bytes of fd at offset off, read into private memory, must be tagged tag. */
static void check_file(int fd, off_t off, size_t len, unsigned tag, const char *what)
{
	char *tmp = malloc(len);
	ssize_t n;

	if (!tmp)
		fail("out of memory");
	n = pread(fd, tmp, len, off);
	if (n != (ssize_t)len)
		fail("%s: the file holds %zd bytes at %lld, expected %zu (%s)", what, n,
		     (long long)off, len, n < 0 ? strerror(errno) : "short");
	check(tmp, len, tag, what);
	free(tmp);
}

/* read(2) until len bytes or end of file; any error is a failure. */
static size_t read_full(int fd, char *p, size_t len, const char *what, int *shorts)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0)
			fail("%s: read after %zu of %zu bytes: %s", what, got, len, strerror(errno));
		if (n == 0)
			break;
		if ((size_t)n < len - got && shorts)
			(*shorts)++;
		got += (size_t)n;
	}
	return got;
}

static void expect_n(ssize_t got, size_t want, const char *what)
{
	if (got < 0)
		fail("%s: %s", what, strerror(errno));
	if ((size_t)got != want)
		fail("%s: returned %zd, expected %zu", what, got, want);
}

/*
 * Every interposed name the program uses must resolve to libdsm's wrapper,
 * not to the C library's definition (libdsm may be a shared library or
 * linked into the program).
 */
static void check_bound(void)
{
	static const char *const names[] = {
		"read", "write", "pread", "pwrite", "pread64", "pwrite64", "readv", "writev",
		"preadv", "pwritev", "recv", "recvfrom", "recvmsg", "send", "sendto", "sendmsg",
		"fread", "fwrite",
	};
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);

	if (!libc)
		fail("dlopen(libc.so.6, RTLD_NOLOAD): %s", dlerror());
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *def = dlsym(RTLD_DEFAULT, names[i]), *c = dlsym(libc, names[i]);
		Dl_info info;

		if (!def || !c)
			fail("%s: no definition found", names[i]);
		if (def == c)
			fail("%s is bound to the C library's definition (%s), not to libdsm's wrapper",
			     names[i], dladdr(def, &info) && info.dli_fname ? info.dli_fname : "?");
	}
	dlclose(libc);
}

/* A pipe round trip through the wrappers, with private buffers. */
static void pipe_round_trip(const char *when)
{
	char out[100], in[100];
	int p[2];

	fill(out, sizeof(out), 99);
	if (pipe(p) < 0)
		fail("pipe: %s", strerror(errno));
	errno = ERANGE;
	expect_n(write(p[1], out, sizeof(out)), sizeof(out), when);
	expect_n(read(p[0], in, sizeof(in)), sizeof(in), when);
	if (errno != ERANGE)
		fail("%s: errno changed by successful calls (%d)", when, errno);
	check(in, sizeof(in), 99, when);
	close(p[0]);
	close(p[1]);
}

/* Round len up to whole pages. */
static size_t pages(size_t len)
{
	return (len + ps - 1) / ps * ps;
}

int main(int argc, char **argv)
{
	/* Lengths: several pages and a bit, odd offsets, so that buffers
	 * start and end inside pages. */
	const size_t wlen = 96 * 1024 + 123;	/* write(2) */
	const size_t vlen1 = 9000, vlen2 = 13333;	/* readv/writev */
	const size_t slen = 3 * 4096 + 77;	/* sockets */
	const size_t flen = 80 * 1024 + 56;	/* fread/fwrite: > 64 KiB, 8 | flen */
	const size_t clen = 5000;		/* contention slices */
	unsigned rounds = 3, r;
	size_t slot, off;
	char *base, *wbuf, *rbuf, *v1, *v2, *sbuf, *fbuf, *slots, *cbuf, *ctl;
	char *my;
	int rc, fd, n, shorts = 0;

	pipe_round_trip("before dsm_init");
	t_start(&argc, &argv);
	if (argc > 1)
		rounds = (unsigned)atoi(argv[1]);
	me = dsm_node_id();
	nodes = dsm_num_nodes();
	ps = dsm_page_size();
	check_bound();
	pipe_round_trip("after dsm_init");

	/* Per node: a receive slot with room for the largest transfer. */
	slot = pages(flen + 200) + ps;
	off = 0;
#define CARVE(len) (off += pages((len) + 200) + ps, off - pages((len) + 200) - ps + 100)
	size_t o_w = CARVE(wlen), o_r = CARVE(wlen), o_v1 = CARVE(vlen1), o_v2 = CARVE(vlen2);
	size_t o_s = CARVE(slen), o_f = CARVE(flen), o_ctl = CARVE((size_t)nodes * ps);
	size_t o_c = CARVE((size_t)nodes * clen), o_slots = CARVE((size_t)nodes * slot);
#undef CARVE
	base = dsm_alloc_collective(off);
	if (!base)
		fail("dsm_alloc_collective(%zu): %s", off, strerror(errno));
	wbuf = base + o_w;
	rbuf = base + o_r;
	v1 = base + o_v1;
	v2 = base + o_v2;
	sbuf = base + o_s;
	fbuf = base + o_f;
	ctl = base + o_ctl - 100;	/* one page's worth per node */
	cbuf = base + o_c;
	slots = base + o_slots;
	my = slots + (size_t)me * slot;

	/* Node 0 writes the data the others will send; it owns those pages. */
	if (me == 0) {
		fill(wbuf, wlen, 1);
		fill(rbuf, wlen, 0xee);		/* junk, to be overwritten by read(2) */
		fill(v1, vlen1, 3);
		fill(v2, vlen2, 4);
		fill(sbuf, slen, 5);
		fill(fbuf, flen, 6);
	}
	dsm_barrier();

	/* ---- write(2) from pages this node has no copy of ---- */
	if (me != 0 || nodes == 1) {
		int p[2];
		char *tmp = malloc(3 * ps);

		fd = tmpfd();
		expect_n(write(fd, wbuf, wlen), wlen, "write(2) to a file from shared memory");
		check_file(fd, 0, wlen, 1, "write(2) from shared memory");
		close(fd);

		/* A pipe holds 64 KiB: send less, read it back privately. */
		if (!tmp || pipe(p) < 0)
			fail("pipe: %s", strerror(errno));
		expect_n(write(p[1], wbuf + 10, 2 * ps), 2 * ps, "write(2) to a pipe from shared memory");
		expect_n(read(p[0], tmp, 3 * ps), 2 * ps, "read(2) of the pipe");
		if (memcmp(tmp, wbuf + 10, 2 * ps))
			fail("write(2) to a pipe from shared memory: wrong bytes");
		close(p[0]);
		close(p[1]);
		free(tmp);
	}

	/* ---- read(2) into pages that node 0 owns ---- */
	if (me == 1 % nodes) {
		fd = pattern_file(wlen, 2);
		n = (int)read_full(fd, rbuf, wlen, "read(2) into shared memory", &shorts);
		if ((size_t)n != wlen)
			fail("read(2) into shared memory: %d of %zu bytes", n, wlen);
		close(fd);
	}
	dsm_barrier();
	check(rbuf, wlen, 2, "read(2) by another node into shared memory");

	/* ---- contention: neighbours' slices share pages ---- */
	for (r = 0; r < rounds; r++) {
		unsigned tag = 10 + r * 16 + (unsigned)me;

		fd = pattern_file(clen, tag);
		if (read_full(fd, cbuf + (size_t)me * clen, clen, "read(2) into a contended slice",
			      &shorts) != clen)
			fail("read(2) into a contended slice: short file");
		close(fd);
		dsm_barrier();
		for (n = 0; n < nodes; n++) {
			char what[64];

			snprintf(what, sizeof(what), "round %u: slice of node %d", r, n);
			check(cbuf + (size_t)n * clen, clen, 10 + r * 16 + (unsigned)n, what);
		}
		dsm_barrier();
	}

	/* ---- readv/writev, the iovec array in shared memory ---- */
	{
		/* Node me prepares, in its control page, the iovecs of node me+1. */
		int next = (me + 1) % nodes, prev = (me + nodes - 1) % nodes;
		struct iovec *mine = (struct iovec *)(ctl + (size_t)prev * ps);
		struct iovec *theirs = (struct iovec *)(ctl + (size_t)me * ps);
		char *dst = slots + (size_t)next * slot;

		theirs[0].iov_base = v1;
		theirs[0].iov_len = vlen1;
		theirs[1].iov_base = v2;
		theirs[1].iov_len = vlen2;
		/* And where node next reads: two ranges of its slot. */
		theirs[2].iov_base = dst + 100;
		theirs[2].iov_len = vlen1;
		theirs[3].iov_base = dst + 100 + pages(vlen1) + 33;
		theirs[3].iov_len = vlen2;
		dsm_barrier();

		fd = tmpfd();
		expect_n(writev(fd, mine, 2), vlen1 + vlen2, "writev(2) from two shared ranges");
		check_file(fd, 0, vlen1, 3, "writev(2), first range");
		check_file(fd, (off_t)vlen1, vlen2, 4, "writev(2), second range");
		expect_n(pwritev(fd, mine, 2, 7), vlen1 + vlen2, "pwritev(2) from two shared ranges");
		check_file(fd, 7, vlen1, 3, "pwritev(2), first range");
		close(fd);

		fd = pattern_file(vlen1 + vlen2, 7);
		expect_n(readv(fd, mine + 2, 2), vlen1 + vlen2, "readv(2) into two shared ranges");
		dsm_barrier();
		for (n = 0; n < nodes; n++) {
			char *s = slots + (size_t)n * slot;
			char tmp[64];

			snprintf(tmp, sizeof(tmp), "readv(2) by node %d", n);
			check(s + 100, vlen1, 7, tmp);
			for (size_t i = 0; i < vlen2; i++)
				if ((unsigned char)s[100 + pages(vlen1) + 33 + i] != pat(7, vlen1 + i))
					fail("%s, second range: byte %zu wrong", tmp, i);
		}
		dsm_barrier();

		/* preadv at an offset, into the same ranges, from another file. */
		close(fd);
		fd = pattern_file(vlen1 + vlen2 + 10, 11);
		expect_n(preadv(fd, mine + 2, 2, 10), vlen1 + vlen2, "preadv(2) into two shared ranges");
		close(fd);
		dsm_barrier();
		for (n = 0; n < nodes; n++) {
			char *s = slots + (size_t)n * slot;

			for (size_t i = 0; i < vlen1; i++)
				if ((unsigned char)s[100 + i] != pat(11, 10 + i))
					fail("preadv(2) by node %d, first range: byte %zu wrong", n, i);
		}
		dsm_barrier();
	}

	/* ---- sockets ---- */
	{
		int sv[2], dg[2], next = (me + 1) % nodes, prev = (me + nodes - 1) % nodes;
		struct {
			struct msghdr mh;
			struct iovec iov[2];
			socklen_t alen;
			struct sockaddr_storage addr;
		} *mine = (void *)(ctl + (size_t)prev * ps + 512),
		  *theirs = (void *)(ctl + (size_t)me * ps + 512);
		char *dst = slots + (size_t)next * slot;
		size_t half = slen / 2;

		/* recvmsg of node next: into two ranges of its slot. */
		memset(theirs, 0, sizeof(*theirs));
		theirs->iov[0].iov_base = dst + 100;
		theirs->iov[0].iov_len = half;
		theirs->iov[1].iov_base = dst + 100 + pages(half) + 5;
		theirs->iov[1].iov_len = slen - half;
		theirs->mh.msg_iov = theirs->iov;
		theirs->mh.msg_iovlen = 2;
		theirs->mh.msg_flags = 0x5a5a;
		theirs->alen = sizeof(theirs->addr);
		dsm_barrier();

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
		    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) < 0)
			fail("socketpair: %s", strerror(errno));

		/* send(2) from node 0's pages, recv(2) into this node's slot. */
		expect_n(send(sv[0], sbuf, slen, 0), slen, "send(2) from shared memory");
		expect_n(recv(sv[1], my + 100, slen, MSG_WAITALL), slen, "recv(2) into shared memory");
		dsm_barrier();
		for (n = 0; n < nodes; n++)
			check(slots + (size_t)n * slot + 100, slen, 5, "send/recv");
		dsm_barrier();

		/* sendmsg(2) of a header in shared memory, recvmsg(2) into one
		 * that another node prepared. */
		{
			struct iovec siov[2] = { { sbuf, half }, { sbuf + half, slen - half } };
			struct msghdr smh = { .msg_iov = siov, .msg_iovlen = 2 };

			expect_n(sendmsg(sv[0], &smh, 0), slen, "sendmsg(2) from shared memory");
			expect_n(recvmsg(sv[1], &mine->mh, MSG_WAITALL), slen,
				 "recvmsg(2) with the msghdr in shared memory");
			if (mine->mh.msg_flags != 0)
				fail("recvmsg(2): msg_flags %#x in the shared msghdr, expected 0",
				     mine->mh.msg_flags);
		}
		dsm_barrier();
		for (n = 0; n < nodes; n++) {
			char *s = slots + (size_t)n * slot;

			check(s + 100, half, 5, "recvmsg(2), first iovec");
			for (size_t i = 0; i < slen - half; i++)
				if ((unsigned char)s[100 + pages(half) + 5 + i] != pat(5, half + i))
					fail("recvmsg(2) by node %d, second iovec: byte %zu wrong", n, i);
		}
		dsm_barrier();

		/* sendto/recvfrom on datagrams, the address length shared. */
		expect_n(sendto(dg[0], sbuf, slen, 0, NULL, 0), slen, "sendto(2) from shared memory");
		expect_n(recvfrom(dg[1], my + 200, slen, 0, (struct sockaddr *)&mine->addr, &mine->alen),
			 slen, "recvfrom(2) into shared memory");
		if (mine->alen > sizeof(mine->addr))
			fail("recvfrom(2): address length %u", (unsigned)mine->alen);
		dsm_barrier();
		for (n = 0; n < nodes; n++)
			check(slots + (size_t)n * slot + 200, slen, 5, "sendto/recvfrom");
		dsm_barrier();
		close(sv[0]);
		close(sv[1]);
		close(dg[0]);
		close(dg[1]);
	}

	/* ---- pread/pwrite ---- */
	fd = tmpfd();
	expect_n(pwrite(fd, wbuf, wlen, 5000), wlen, "pwrite(2) from shared memory");
	check_file(fd, 5000, wlen, 1, "pwrite(2) from shared memory");
	close(fd);
	fd = pattern_file(flen + 3000, 8);
	expect_n(pread(fd, my + 300, flen - 3000, 3000), flen - 3000, "pread(2) into shared memory");
	close(fd);
	dsm_barrier();
	for (n = 0; n < nodes; n++) {
		char *s = slots + (size_t)n * slot + 300;

		for (size_t i = 0; i < flen - 3000; i++)
			if ((unsigned char)s[i] != pat(8, 3000 + i))
				fail("pread(2) by node %d: byte %zu wrong", n, i);
	}
	dsm_barrier();

	/* ---- fwrite/fread of more than 64 KiB ---- */
	{
		FILE *f;

		fd = tmpfd();
		f = fdopen(fd, "w+");
		if (!f)
			fail("fdopen: %s", strerror(errno));
		if (fwrite(fbuf, 1, flen, f) != flen || fflush(f) != 0)
			fail("fwrite(3) of %zu bytes from shared memory: %s", flen, strerror(errno));
		check_file(fd, 0, flen, 6, "fwrite(3) from shared memory");
		fclose(f);

		fd = pattern_file(flen, 9);
		f = fdopen(fd, "r");
		if (!f)
			fail("fdopen: %s", strerror(errno));
		errno = ERANGE;
		if (fread(my + 100, 8, flen / 8, f) != flen / 8)
			fail("fread(3) of %zu bytes into shared memory: %s (ferror %d)", flen,
			     strerror(errno), ferror(f));
		if (errno != ERANGE)
			fail("fread(3) into shared memory changed errno (%d) and succeeded", errno);
		if (ferror(f))
			fail("fread(3) into shared memory left the error flag set");
		fclose(f);
		dsm_barrier();
		for (n = 0; n < nodes; n++)
			check(slots + (size_t)n * slot + 100, flen, 9, "fread(3) into shared memory");
		dsm_barrier();
	}

	/* ---- errno: kept on success, a real error passed on ---- */
	{
		char *far = slots + (size_t)((me + 1) % nodes) * slot + 1000;
		int p[2];

		if (pipe(p) < 0)
			fail("pipe: %s", strerror(errno));
		errno = ERANGE;
		expect_n(write(p[1], wbuf, 100), 100, "write(2) to a pipe from shared memory");
		expect_n(read(p[0], far, 100), 100, "read(2) from a pipe into shared memory");
		if (errno != ERANGE)
			fail("successful calls on shared memory changed errno to %d", errno);
		if (read(-1, far, 10) != -1 || errno != EBADF)
			fail("read(-1, <shared>) must fail with EBADF, got %s", strerror(errno));
		if (write(-1, wbuf, 10) != -1 || errno != EBADF)
			fail("write(-1, <shared>) must fail with EBADF, got %s", strerror(errno));
		close(p[0]);
		close(p[1]);
	}

	if (me == 0 && nodes > 1 && shorts)
		printf("%s: %d short reads completed by the caller\n", prog, shorts);
	dsm_barrier();
	rc = dsm_finalize();
	if (rc)
		fail("dsm_finalize: %s", dsm_strerror(rc));

	/* After finalize the heap is gone: the wrapper calls through. */
	pipe_round_trip("after dsm_finalize");
	fd = tmpfd();
	errno = 0;
	if (write(fd, wbuf, 16) != -1 || errno != EFAULT)
		fail("write(2) from the unmapped heap after dsm_finalize: %s, expected EFAULT",
		     errno ? strerror(errno) : "succeeded");
	close(fd);
	return 0;
}
