/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_handshake.c - libFuzzer target for the acceptor's handshake parser
 * (dsm_boot_hs_advance in runtime/transport/bootstrap.c): the input is what
 * a stranger sends to node 0's bootstrap port or a node's data listener.
 *
 * The input is fed in pieces whose sizes the first bytes choose, so that
 * frames split anywhere are explored, through the same want/advance calls
 * dsm_boot_accept() makes, with node 0 expecting nodes 1-3 of which node 2
 * is connected already.  A stranger cannot forge the MAC, so the end of
 * the road is the MAC check; everything before it is reachable.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/clock.h"
#include "runtime/base/config.h"
#include "runtime/transport/bootstrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dsm_config cfg;
static struct dsm_boot boot;

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.node_id = 0;
	cfg.num_nodes = 4;
	cfg.connect_timeout_ms = 10000;
	for (int i = 0; i < DSM_SECRET_LEN; i++)
		cfg.secret[i] = (uint8_t)(i * 37 + 1);
	cfg.have_secret = true;
	boot.cfg = &cfg;
	boot.self = 0;
	boot.nnodes = 4;
	for (int i = 0; i < DSM_MAX_NODES; i++)
		boot.fd[i] = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct dsm_boot_hs hs;
	int fds[DSM_MAX_NODES], ret = 0;
	uint8_t split = 0;

	if (!ready) {
		setup();
		ready = 1;
	}
	for (int i = 0; i < DSM_MAX_NODES; i++)
		fds[i] = -1;
	fds[2] = 7;
	if (size) {
		split = data[0];	/* 0: whole parts; else pieces of at most split bytes */
		data++;
		size--;
	}
	dsm_boot_hs_init(&hs, -1, 0);
	while (size && ret == 0) {
		const char *why = NULL;
		size_t want, n;
		void *buf;

		dsm_boot_hs_want(&hs, &buf, &want);
		if (!want)
			abort();	/* advance must have returned non-zero */
		n = size < want ? size : want;
		if (split && n > split)
			n = split;
		memcpy(buf, data, n);
		ret = dsm_boot_hs_advance(&boot, &hs, n, 1, 3, fds, &why);
		if (ret == -EACCES && !why)
			abort();	/* every rejection names its reason */
		if (ret == 1)
			abort();	/* a stranger proved a secret it does not know */
		if (hs.out_len) {
			/* what would be sent: our HELLO, to the node it claims */
			if (hs.out_len != sizeof(hs.out) || hs.src < 1 || hs.src > 3 || hs.src == 2)
				abort();
			hs.out_len = 0;
		}
		data += n;
		size -= n;
	}
	return 0;
}
