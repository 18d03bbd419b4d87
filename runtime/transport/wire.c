/* SPDX-License-Identifier: BSD-3-Clause */
/* wire.c - validation of received frames. */
#include "runtime/transport/wire.h"

const char *dsm_wire_check(const struct dsm_wire_hdr *hdr, int peer, size_t max_len)
{
	if (hdr->magic != DSM_WIRE_MAGIC)
		return "bad magic (not a libdsm peer, or a corrupt stream)";
	if (hdr->version != DSM_WIRE_VERSION)
		return "unsupported protocol version (mixed libdsm versions in one job?)";
	if (peer >= 0 && hdr->src != (uint16_t)peer)
		return "sender id does not match the connection's peer";
	if (hdr->type == 0 || hdr->type >= DSM_WT_MAX ||
	    (hdr->type > DSM_WT_PAGE && hdr->type < DSM_WT_RUNTIME))
		return "unknown message type";
	if (hdr->len > max_len)
		return "payload longer than any valid message";
	return NULL;
}

const char *dsm_wire_check_stream(const struct dsm_wire_hdr *h, int peer, size_t max_payload,
				  size_t mem_len)
{
	const char *why = dsm_wire_check(h, peer, max_payload + sizeof(*h));
	size_t plen;

	if (why)
		return why;
	/* HELLO, AUTH, JOIN, TABLE belong to the handshake (bootstrap.c):
	 * after it, only a peer gone wrong or an injected stream sends them. */
	if (h->type < DSM_WT_RUNTIME && h->type != DSM_WT_BYE && h->type != DSM_WT_PAGE)
		return "connection-setup message after setup";
	if (h->type != DSM_WT_PAGE)
		return h->len > max_payload ? "payload longer than any valid message" : NULL;
	if (h->len <= sizeof(*h) || mem_len == 0)
		return "a page frame without a page, or before memory was registered";
	plen = h->len - sizeof(*h);
	if (h->arg0 > mem_len || plen > mem_len - h->arg0)
		return "a page frame outside the registered memory";
	return NULL;
}

const char *dsm_wire_check_page(const struct dsm_wire_hdr *inner, const struct dsm_wire_hdr *outer,
				int peer, size_t max_payload)
{
	const char *why = dsm_wire_check(inner, peer, max_payload);

	if (!why && (inner->type < DSM_WT_RUNTIME || inner->len != outer->len - sizeof(*inner)))
		why = "a page frame whose inner header does not match it";
	return why;
}
