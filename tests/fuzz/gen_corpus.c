/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen_corpus.c - writes the seed corpus of the fuzz targets (real frames
 * and handshakes, built with the runtime's own structs) into
 * tests/fuzz/corpus/{wire,handshake}.  Run by hand after a wire format
 * change: `make tests/fuzz/gen_corpus && tests/fuzz/gen_corpus DIR`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/config.h"
#include "runtime/transport/auth.h"
#include "runtime/transport/wire.h"

static unsigned char buf[16384];
static size_t len;

static void put(const void *p, size_t n)
{
	memcpy(buf + len, p, n);
	len += n;
}

static struct dsm_wire_hdr hdr(uint8_t type, uint16_t src, uint32_t plen)
{
	return (struct dsm_wire_hdr){ .magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION,
				      .type = type, .src = src, .len = plen };
}

static void save(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	len = 0;
}

static void runtime_msg(uint8_t type, uint32_t plen, uint64_t arg0)
{
	struct dsm_wire_hdr h = hdr(type, 2, plen);
	unsigned char body[64] = { 0 };

	h.arg0 = arg0;
	put(&h, sizeof(h));
	put(body, plen);
}

static void page(uint64_t off, uint32_t plen)
{
	struct dsm_wire_hdr h = hdr(DSM_WT_PAGE, 2, (uint32_t)sizeof(h) + plen);
	struct dsm_wire_hdr in = hdr(DSM_WT_RUNTIME + 3, 2, plen);

	h.arg0 = off;
	put(&h, sizeof(h));
	put(&in, sizeof(in));
	memset(buf + len, 0xab, plen);
	len += plen;
}

static void hello(uint16_t src, uint32_t dst)
{
	struct dsm_wire_hdr h = hdr(DSM_WT_HELLO, src, sizeof(struct dsm_hello));
	struct dsm_hello he;

	memset(&he, 0, sizeof(he));
	memset(he.nonce, 0x11 * src, sizeof(he.nonce));
	he.dst = dst;
	put(&h, sizeof(h));
	put(&he, sizeof(he));
}

static void auth(uint16_t src)
{
	struct dsm_wire_hdr h = hdr(DSM_WT_AUTH, src, DSM_SHA256_LEN);
	unsigned char mac[DSM_SHA256_LEN];

	memset(mac, 0x5a, sizeof(mac));
	put(&h, sizeof(h));
	put(mac, sizeof(mac));
}

int main(int argc, char **argv)
{
	char wire[256], hs[256];
	const char *top = argc > 1 ? argv[1] : "tests/fuzz/corpus";

	snprintf(wire, sizeof(wire), "%s/wire", top);
	snprintf(hs, sizeof(hs), "%s/handshake", top);

	/* wire: the first byte's low bit says whether memory is registered */
	put("\1", 1);
	runtime_msg(DSM_WT_RUNTIME, 16, 7);
	save(wire, "runtime-msg");
	put("\1", 1);
	runtime_msg(DSM_WT_BYE, 0, 0);
	save(wire, "bye");
	put("\1", 1);
	page(4096, 4096);
	save(wire, "page");
	put("\1", 1);
	runtime_msg(DSM_WT_RUNTIME + 1, 8, 1);
	page(0, 64);
	runtime_msg(DSM_WT_RUNTIME + 2, 0, 2);
	runtime_msg(DSM_WT_BYE, 0, 0);
	save(wire, "stream");
	put("\0", 1);
	page(0, 64);
	save(wire, "page-before-register");

	/* handshake: the first byte is the piece size (0: whole parts) */
	put("\0", 1);
	hello(1, 0);
	auth(1);
	save(hs, "hello-auth");
	put("\7", 1);
	hello(3, 0);
	auth(3);
	save(hs, "hello-auth-split");
	put("\0", 1);
	hello(2, 0);
	save(hs, "hello-connected-id");
	put("\0", 1);
	hello(1, 5);
	save(hs, "hello-wrong-dst");
	return 0;
}
