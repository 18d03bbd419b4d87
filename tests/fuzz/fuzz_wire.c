/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_wire.c - libFuzzer target for the frame parser: the input is what a
 * connected peer (node 2) sends on a TCP connection after setup.
 *
 * It reads frames the way runtime/transport/tcp/tcp.c does: a 32-byte
 * header, checked with dsm_wire_check_stream(); then the body straight
 * into place: a runtime message into a buffer of max_payload bytes, a page
 * into the registered memory at the offset the header names, then its
 * inner header checked with dsm_wire_check_page().  The buffers are exactly
 * as large as the checks allow, so a check that lets one byte too many
 * through is a heap overflow that AddressSanitizer reports.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/transport/wire.h"

#define PEER 2
#define MAX_PAYLOAD 4096	/* small, so that lengths near the limit are reachable */
#define MEM_LEN (3 * 4096)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *mem = malloc(MEM_LEN), *payload = malloc(MAX_PAYLOAD);
	size_t at = 0;

	if (!mem || !payload)
		abort();
	/* The first byte chooses whether memory is registered yet. */
	size_t mem_len = size && (data[0] & 1) ? MEM_LEN : 0;

	at = size ? 1 : 0;
	while (size - at >= sizeof(struct dsm_wire_hdr)) {
		struct dsm_wire_hdr h, inner;
		size_t body, n;

		memcpy(&h, data + at, sizeof(h));
		at += sizeof(h);
		/* Like tcp.c, the sender id is checked against the connection's
		 * peer; dsm_wire_check with peer -1 is the handshake's case. */
		(void)dsm_wire_check(&h, -1, MAX_PAYLOAD);
		if (dsm_wire_check_stream(&h, PEER, MAX_PAYLOAD, mem_len))
			break;	/* tcp.c drops the connection */
		body = h.len;
		if (h.type != DSM_WT_PAGE) {
			n = body < size - at ? body : size - at;
			memcpy(payload, data + at, n);		/* into c->in */
			at += n;
			if (n < body)
				break;
			continue;
		}
		/* A page frame: its inner header, then the page into memory. */
		n = sizeof(inner) < size - at ? sizeof(inner) : size - at;
		memcpy(&inner, data + at, n);
		at += n;
		if (n < sizeof(inner))
			break;
		body -= sizeof(inner);
		n = body < size - at ? body : size - at;
		memcpy(mem + h.arg0, data + at, n);	/* tp.mem_base + arg0 */
		at += n;
		if (n < body)
			break;
		if (dsm_wire_check_page(&inner, &h, PEER, MAX_PAYLOAD))
			break;
		/* deliver() reads the inner payload where it was written */
		if (inner.len)
			(void)*(volatile uint8_t *)(mem + h.arg0 + inner.len - 1);
	}
	free(payload);
	free(mem);
	return 0;
}
