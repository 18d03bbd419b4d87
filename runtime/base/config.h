/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config.h - the run's configuration: the DSM_* variables of API.md (and
 * --dsm-* options, which take precedence), and the job's own variables that
 * a launcher sets (node id, node count, rendezvous address, secret).
 */
#ifndef DSM_BASE_CONFIG_H
#define DSM_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm.h"

#define DSM_SECRET_LEN 32
#define DSM_DEFAULT_HEAP_BASE 0x100000000000ull	/* 16 TiB: clear of PIE, libs and stacks */

enum dsm_numa_mode { DSM_NUMA_OFF, DSM_NUMA_FIRST_TOUCH, DSM_NUMA_INTERLEAVE, DSM_NUMA_MIGRATE };
/* DSM_BIND: what each application thread of a node is bound to. */
enum dsm_bind_mode { DSM_BIND_NONE, DSM_BIND_NUMA, DSM_BIND_CORE };
enum dsm_stats_mode { DSM_STATS_OFF, DSM_STATS_STDERR, DSM_STATS_FILE };

/* The largest DSM_PAGE_SIZE of release and weak consistency. */
#define DSM_RELAXED_MAX_PAGE (1u << 20)

struct dsm_config {
	/* API.md variables */
	dsm_consistency_t consistency;
	char transport[16];
	size_t heap_size;
	size_t page_size;
	char fault_backend[16];
	enum dsm_numa_mode numa;
	enum dsm_stats_mode stats;
	char stats_path[4096];
	char checkpoint_dir[4096];
	bool restart;
	int log_level;			/* enum dsm_log_level */

	/* libdsm's own tuning variables (documented in dsm(7)) */
	uintptr_t heap_base;		/* DSM_HEAP_BASE */
	unsigned int home_block;	/* DSM_HOME_BLOCK: pages per block of the home map */
	bool first_touch;		/* DSM_HOMES=first-touch (relaxed models only) */
	uint64_t poll_ns;		/* DSM_POLL_US: busy-poll before blocking */
	unsigned int connect_timeout_ms;	/* DSM_CONNECT_TIMEOUT (seconds) */
	unsigned int failure_timeout_ms;	/* DSM_FAILURE_TIMEOUT (seconds): a silent peer is lost */
	/* runtime/numa: thread binding and the migrate policy's scanner */
	enum dsm_bind_mode bind;	/* DSM_BIND */
	unsigned int numa_period_ms;	/* DSM_NUMA_PERIOD_MS: scan period */
	unsigned int numa_sample;	/* DSM_NUMA_SAMPLE: pages sampled per scan */
	/* DSM_TRANSPORT=rdma: the device and port ("" and 0: the first
	 * active port), and the GID index the micro-benchmark's floors use */
	char rdma_device[64];		/* DSM_RDMA_DEVICE */
	unsigned int rdma_port;		/* DSM_RDMA_PORT */
	unsigned int rdma_gid_index;	/* DSM_RDMA_GID_INDEX */

	/* the job, set by the launcher (dsmrun, srun, mpirun) */
	int node_id;
	int num_nodes;
	int local_nodes;		/* nodes sharing this machine, 0 = unknown */
	bool have_secret;
	uint8_t secret[DSM_SECRET_LEN];
	/*
	 * Where the job meets, as the launcher said: read by the bootstrap
	 * (runtime/transport/bootstrap.c) alone, whatever the transport.
	 */
	struct dsm_boot_env {
		char root_addr[256];	/* DSM_ROOT_ADDR: host:port of node 0's listener */
		int listen_fd;		/* DSM_LISTEN_FD: node 0's inherited listener, or -1 */
		char node_host[256];	/* DSM_NODE_HOST: address this node listens on, "" = pick */
	} boot;
};

/*
 * The settings every node of a job must share, exchanged when nodes
 * connect: a node whose page size or heap differs would corrupt memory
 * silently, one with other DSM_STATS plans would hang at finalize.
 */
struct dsm_job_settings {
	uint64_t heap_size;
	uint64_t page_size;
	uint64_t heap_base;
	uint32_t home_block;
	uint32_t consistency;
	uint32_t num_nodes;
	uint32_t stats_file;		/* DSM_STATS names a file (node 0 gathers) */
	uint32_t first_touch;		/* DSM_HOMES */
	char transport[16];
	char fault_backend[16];
};

void dsm_config_settings(const struct dsm_config *cfg, struct dsm_job_settings *out);
/*
 * Compare a peer's settings with ours.  NULL if they agree, else the name
 * of the first variable that differs in buf (with both values when they
 * are numbers).
 */
const char *dsm_config_settings_diff(const struct dsm_job_settings *mine,
				     const struct dsm_job_settings *theirs, char *buf, size_t len);

/* Looks up one variable by its DSM_* name; NULL if unset. */
typedef const char *(*dsm_config_getter)(const char *name, void *ctx);

/*
 * Fill *cfg from get(): defaults first, then every variable validated.
 * Returns 0, or -DSM_ECONFIG after logging one line that names the
 * variable, its value and what is accepted.
 */
int dsm_config_parse(struct dsm_config *cfg, dsm_config_getter get, void *ctx);

/*
 * Read the environment and consume --dsm-NAME=VALUE / --dsm-NAME VALUE
 * options from argc and argv (they override DSM_NAME).  Returns as above.
 */
int dsm_config_load(struct dsm_config *cfg, int *argc, char ***argv);

/* Parse "64M"-style sizes (K, M, G, T; powers of 1024).  0 or -EINVAL. */
int dsm_config_parse_size(const char *s, uint64_t *out);
/* Parse a non-negative decimal integer no larger than max.  0 or -EINVAL. */
int dsm_config_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* Parse 2*DSM_SECRET_LEN hex digits.  0 or -EINVAL. */
int dsm_config_parse_secret(const char *s, uint8_t out[DSM_SECRET_LEN]);

const char *dsm_consistency_name(dsm_consistency_t c);

#endif /* DSM_BASE_CONFIG_H */
