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
