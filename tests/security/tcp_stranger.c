/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_stranger.c - strangers at a libdsm TCP listener (node 0's bootstrap
 * port, or a node's data listener), for tests/security/check_strangers.sh.
 *
 * usage: tcp_stranger MODE HOST:PORT [COUNT]
 *   silent   open COUNT connections (retrying until the port listens),
 *            print "ready" and hold them, sending nothing, until killed
 *   partial  like silent, but each sends the first 40 bytes of a HELLO
 *   garbage  one connection, 256 bytes of noise; wait for it to be closed
 *   forged   one connection, a well-formed HELLO as node 1 and an AUTH whose
 *            MAC is made with another secret; wait for it to be closed
 * Exit (garbage, forged): 0 if the listener closed the connection within
 * 5 s, 1 if it kept it open (a breach, or no bound), 2 on a usage error
 * or an unreachable port.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/transport/auth.h"
#include "runtime/transport/wire.h"

static int dial(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	for (int tries = 0; tries < 1000; tries++) {	/* 20 s */
		if (getaddrinfo(host, colon + 1, &hints, &res) == 0) {
			int fd = socket(res->ai_family, SOCK_STREAM, 0);

			if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
				freeaddrinfo(res);
				return fd;
			}
			if (fd >= 0)
				close(fd);
			freeaddrinfo(res);
		}
		usleep(20000);
	}
	return -1;
}

/* 0 if the peer closes (FIN or reset) within 5 s, 1 if not. */
static int wait_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[512];

	for (;;) {
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return 1;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0)
			return 1;
	}
}

static void hello(uint8_t *out, size_t *len)
{
	struct {
		struct dsm_wire_hdr h;
		struct dsm_hello hello;
	} f;

	memset(&f, 0, sizeof(f));
	f.h = (struct dsm_wire_hdr){ .magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION,
				     .type = DSM_WT_HELLO, .src = 1, .len = sizeof(f.hello) };
	f.hello.dst = 0;
	if (getrandom(f.hello.nonce, sizeof(f.hello.nonce), 0) < 0)
		memset(f.hello.nonce, 1, sizeof(f.hello.nonce));
	memcpy(out, &f, sizeof(f));
	*len = sizeof(f);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[1] : "";
	int count = argc > 3 ? atoi(argv[3]) : 1;
	uint8_t buf[512];
	size_t len;
	int fd;

	if (!strcmp(mode, "silent") || !strcmp(mode, "partial")) {
		hello(buf, &len);
		for (int i = 0; i < count; i++) {
			fd = dial(argv[2]);
			if (fd < 0) {
				fprintf(stderr, "tcp_stranger: cannot reach %s\n", argv[2]);
				return 2;
			}
			if (mode[0] == 'p' && write(fd, buf, 40) != 40)
				return 2;
		}
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "garbage") || !strcmp(mode, "forged")) {
		fd = dial(argv[2]);
		if (fd < 0) {
			fprintf(stderr, "tcp_stranger: cannot reach %s\n", argv[2]);
			return 2;
		}
		if (mode[0] == 'g') {
			if (getrandom(buf, 256, 0) < 0)
				memset(buf, 0xee, 256);
			len = 256;
		} else {
			struct dsm_wire_hdr *h;
			uint8_t secret[DSM_SECRET_LEN], peer_nonce[DSM_NONCE_LEN] = { 0 };

			hello(buf, &len);
			h = (void *)(buf + len);
			*h = (struct dsm_wire_hdr){ .magic = DSM_WIRE_MAGIC, .version = DSM_WIRE_VERSION,
						    .type = DSM_WT_AUTH, .src = 1, .len = DSM_SHA256_LEN };
			/* Another secret, and a guess at node 0's nonce. */
			memset(secret, 0x42, sizeof(secret));
			dsm_auth_mac(secret, DSM_AUTH_INITIATOR, peer_nonce,
				     ((struct dsm_hello *)(buf + sizeof(*h)))->nonce, 1, 0,
				     buf + len + sizeof(*h));
			len += sizeof(*h) + DSM_SHA256_LEN;
		}
		if (write(fd, buf, len) != (ssize_t)len)
			return 2;
		return wait_closed(fd);
	}
	fprintf(stderr, "usage: tcp_stranger silent|partial|garbage|forged HOST:PORT [COUNT]\n");
	return 2;
}
