/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * wire.h - the frame every libdsm message travels in, on every transport.
 *
 * A fixed 32-byte header, then `len` bytes of payload.  All fields are in
 * the host's byte order: the nodes of one job run the same binary, and the
 * HELLO exchange refuses a peer whose magic reads byte-swapped.
 */
#ifndef DSM_TRANSPORT_WIRE_H
#define DSM_TRANSPORT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DSM_WIRE_MAGIC   0x314d5344u	/* "DSM1" in memory on little-endian */
#define DSM_WIRE_VERSION 1

struct dsm_wire_hdr {
	uint32_t magic;		/* DSM_WIRE_MAGIC */
	uint8_t  version;	/* DSM_WIRE_VERSION */
	uint8_t  type;		/* DSM_WT_* below, or a runtime type >= DSM_WT_RUNTIME */
	uint16_t src;		/* sender's node id: must match the connection's peer */
	uint32_t len;		/* payload bytes after the header */
	uint32_t aux;		/* type-specific */
	uint64_t arg0;		/* type-specific: page number, lock id, ... */
	uint64_t arg1;		/* type-specific: token, epoch, ... */
};

_Static_assert(sizeof(struct dsm_wire_hdr) == 32, "wire header is 32 bytes");

/* Types the transports handle themselves; the runtime never sees them. */
enum dsm_wire_type {
	DSM_WT_HELLO = 1,	/* connection setup: node id + nonce (+ MAC in the reply) */
	DSM_WT_AUTH,		/* connection setup: initiator's MAC */
	DSM_WT_JOIN,		/* rendezvous: a node tells node 0 where it listens */
	DSM_WT_TABLE,		/* rendezvous: node 0 tells everyone where all listen */
	DSM_WT_BYE,		/* orderly shutdown: no more messages from this peer */
	DSM_WT_PAGE,		/* send_page on a byte stream: arg0 the page's offset in the
				 * registered region; payload the runtime's header, then the page */
	DSM_WT_RUNTIME = 16,	/* first type of the runtime's own messages */
	DSM_WT_MAX = 64,
};

/*
 * Check a received header: magic, version, the sender matching the
 * connection's peer, a known type, and a payload no larger than max_len.
 * Returns NULL if it is well-formed, else a static string naming the
 * problem (for the one error line).
 */
const char *dsm_wire_check(const struct dsm_wire_hdr *hdr, int peer, size_t max_len);

/*
 * After connection setup, on a byte stream (TCP): a frame from peer whose
 * body is read straight into place.  A runtime message or BYE carries at
 * most max_payload bytes; a DSM_WT_PAGE frame carries the runtime's header
 * and then bytes for [arg0, arg0 + len - 32) of the registered memory,
 * which must lie inside [0, mem_len) (mem_len 0: nothing registered yet).
 * NULL if the header may be acted on, else the problem.  The fuzz target
 * tests/fuzz/fuzz_wire.c writes bodies where this lets them, under ASan.
 */
const char *dsm_wire_check_stream(const struct dsm_wire_hdr *hdr, int peer, size_t max_payload,
				  size_t mem_len);

/* The runtime's header inside a complete DSM_WT_PAGE frame outer.  NULL or the problem. */
const char *dsm_wire_check_page(const struct dsm_wire_hdr *inner, const struct dsm_wire_hdr *outer,
				int peer, size_t max_payload);

#endif /* DSM_TRANSPORT_WIRE_H */
