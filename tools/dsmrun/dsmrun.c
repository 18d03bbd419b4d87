/*
 * dsmrun.c - start the nodes of a libdsm job on this machine and wait for them.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * dsmrun -n N PROGRAM ARGS... forks N processes ("nodes") of PROGRAM and
 * hands each one the job's contract in its environment: DSM_NODE_ID,
 * DSM_NUM_NODES, DSM_JOB_SECRET, DSM_ROOT_ADDR, DSM_NODE_HOST,
 * DSM_LOCAL_NODES and, for node 0 only, DSM_LISTEN_FD.  dsmrun creates node
 * 0's listening socket itself before forking, so the other nodes can
 * connect to DSM_ROOT_ADDR at once: their connections wait in the backlog
 * until node 0 gets round to accepting them, and there is no race on a port.
 *
 * The rest is waiting, in one poll() loop over a signalfd and (with --label)
 * the nodes' output pipes.  The loop must never hang: every state the job
 * can be in after something went wrong has a deadline (grace period,
 * SIGTERM, SIGKILL, give up), and dsmrun never blocks anywhere else except
 * when writing forwarded output to its own stdout/stderr.
 *
 * With --hosts, each node is instead a local child "ssh HOST CMD" (or
 * $DSMRUN_RSH HOST CMD), CMD one sh command line that sets the node's
 * environment and execs PROGRAM there.  The job secret never appears on a
 * command line: the remote shell reads it from its stdin, a pipe to which
 * dsmrun writes it and then closes.  Node 0 listens on DSM_ROOT_ADDR
 * (first host, --port or a random port) itself.  The waiting is the same:
 * to dsmrun, the ssh clients are the nodes.
 *
 * No dependencies beyond libc (and hwloc for --bind, bind.c); dsm.h is
 * not included so the tool builds on its own (DSMRUN_MAX_NODES must match
 * DSM_MAX_NODES there).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/dsmrun/bind.h"
#include "tools/dsmrun/exit_status.h"
#include "tools/dsmrun/supervise.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define DSMRUN_MAX_NODES	64	/* == DSM_MAX_NODES in dsm.h */

/*
 * After the first node fails, the others normally notice the lost peer
 * and exit on their own with a message that says more than ours could, so
 * let them: only then SIGTERM, and SIGKILL for those that ignore it.
 */
#define GRACE_MS		5000
/* After the first failure: how long a death by signal may still claim the blame. */
#define SETTLE_MS		200
#define TERM_MS			2000
/* A node that survives SIGKILL this long is stuck in the kernel; leave it. */
#define GIVEUP_MS		5000

/*
 * One line of forwarded output.  Longer lines are split into pieces of
 * this size, each with its own prefix, rather than held back or dropped.
 */
#define STREAM_BUF		4096
/* Reads of one pipe when draining it at the end; 1 MiB >> a pipe's 64 KiB. */
#define DRAIN_READS		256

#define LOOPBACK		"127.0.0.1"

/* How --hosts reaches the other machines unless $DSMRUN_RSH says otherwise. */
#define DEFAULT_RSH		"ssh -o BatchMode=yes"
#define MAX_HOST_LEN		255
/* --hosts without --port: node 0 listens on a random port in this range. */
#define PORT_LO			20000
#define PORT_HI			59999

struct dsm_stream {
	int fd;			/* read end of a node's pipe, -1 once closed */
	int dst;		/* where its lines go: 1 (stdout) or 2 (stderr) */
	size_t len;		/* bytes of an unfinished line in buf */
	char buf[STREAM_BUF];
};

struct dsm_node {
	pid_t pid;
	bool running;		/* started and not yet reaped */
	bool inited;		/* its byte came on the ready pipe: it called dsm_init */
	struct dsm_stream out, err;
};

enum dsm_phase {
	PHASE_RUNNING,		/* nothing went wrong (yet) */
	PHASE_SETTLE,		/* a node failed; collecting the deaths it causes */
	PHASE_GRACE,		/* a node failed; the others may exit on their own */
	PHASE_TERM,		/* SIGTERM sent to those still running */
	PHASE_KILLED,		/* SIGKILL sent; waiting for the kernel */
};

struct dsm_job {
	int nnodes;
	bool label;
	long timeout_s;		/* --timeout, 0 = none */
	char **argv;		/* PROGRAM ARGS... */

	/* --hosts: node i runs on hosts[i % nhosts], started by rsh_argv. */
	char **hosts;
	int nhosts;
	long port;		/* --port, 0 = random */
	char **rsh_argv;	/* DSMRUN_RSH split on blanks, NULL-terminated */
	int rsh_argc;

	/* What every node gets in its environment. */
	char secret[65];
	char root_addr[MAX_HOST_LEN + 16];
	int listen_fd;
	pid_t self;		/* our pid, for the children's getppid() check */

	/* What the children get back before exec. */
	sigset_t old_mask;
	struct sigaction old_pipe;

	int sigfd;
	/*
	 * Without --hosts: every node inherits ready_w as DSM_READY_FD and
	 * libdsm writes one byte (the node id) there at the start of
	 * dsm_init.  A node that ends without having done so did not run a
	 * libdsm job: reported as such, not as a success.  -1 when unused.
	 */
	int ready_r, ready_w;
	bool ready_used;	/* the nodes got DSM_READY_FD */
	int64_t init_deadline;	/* no byte at all by then: not a libdsm program; 0 = off */
	long connect_timeout_s;	/* DSM_CONNECT_TIMEOUT as the nodes see it */
	bool any_inited;
	struct dsm_node nodes[DSMRUN_MAX_NODES];
	int nrunning;
	/* --bind numa|core: node i's CPUs (bind.c), applied before exec. */
	const char *bind;
	cpu_set_t bind_sets[DSMRUN_MAX_NODES];
	char bind_lists[DSMRUN_MAX_NODES][64];

	enum dsm_phase phase;
	int64_t deadline;	/* of the current phase unless PHASE_RUNNING */
	int64_t timeout_at;	/* 0 once fired or without --timeout */
	int status;		/* -1 until the first event that ends the job */
	int culprit;		/* PHASE_SETTLE: the node to blame so far */
	int culprit_wstatus;	/* and how it ended */
	bool dst_broken[3];	/* our stdout/stderr failed: drop output */
};

/* ------------------------------------------------------------------ helpers */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * write(2) until done.  dsmrun is the only writer of the job's forwarded
 * output and writes each line with one call here, so lines of different
 * nodes never mix.
 */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* Someone made our stdout non-blocking. */
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };

				poll(&pfd, 1, 1000);
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line "dsmrun: ..." on stderr, in one write. */
static void __attribute__((format(printf, 1, 2))) msg(const char *fmt, ...)
{
	char line[PATH_MAX + 512];
	size_t len = strlen("dsmrun: ");
	size_t avail = sizeof(line) - len - 1;	/* keep room for '\n' */
	va_list ap;
	int n;

	memcpy(line, "dsmrun: ", len);
	va_start(ap, fmt);
	n = vsnprintf(line + len, avail, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < avail ? (size_t)n : avail - 1;
	line[len++] = '\n';
	write_all(2, line, len);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	char text[PATH_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	msg("%s", text);
	exit(EXIT_USAGE);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: dsmrun -n N [OPTIONS] [--] PROGRAM [ARGS...]\n"
"       dsmrun [-n N] --hosts H1,H2,... [--port P] [OPTIONS] [--] PROGRAM [ARGS...]\n"
"       dsmrun --make-env HOST:PORT\n"
"Start N nodes of the libdsm program PROGRAM on this machine (with --hosts,\n"
"over ssh on those hosts) and wait for them.\n"
"\n"
"  -n, --nodes N        number of nodes to start, 1 to %d (required\n"
"                       without --hosts; with it, default: one per host)\n"
"      --label          prefix every line of output with \"[NODE] \"\n"
"      --restart        every node restores the newest complete checkpoint\n"
"                       in DSM_CHECKPOINT_DIR at dsm_init (DSM_RESTART=1)\n"
"      --timeout SEC    end the job after SEC seconds (0: never); exit 124\n"
"      --restart-on-failure N\n"
"                       after a failure start the job again, from the last\n"
"                       complete checkpoint in DSM_CHECKPOINT_DIR if there is\n"
"                       one (DSM_RESTART=1), at most N times (0 to 100)\n"
"      --bind numa|core bind node i to the CPUs of NUMA domain (or core) i\n"
"                       modulo their number, among the CPUs dsmrun may use\n"
"      --make-env HOST:PORT\n"
"                       print the environment for starting a job with srun\n"
"                       or mpirun, node 0 listening on HOST:PORT, and exit\n"
"      --hosts LIST     start node i on host i modulo the number of hosts in\n"
"                       the comma-separated LIST, over ssh ($DSMRUN_RSH)\n"
"      --port P         with --hosts: node 0 listens on port P of the first\n"
"                       host (default: a random port from %d to %d)\n"
"  -h, --help           show this help and exit\n"
"      --version        show the version and exit\n"
"\n"
"Options end at the first argument that is not one, or at \"--\".\n"
"If a node fails, the others get %d s to exit, then SIGTERM, then SIGKILL;\n"
"dsmrun exits with the first failing node's status (128+N for signal N).\n"
"See dsmrun(1).\n",
		DSMRUN_MAX_NODES, PORT_LO, PORT_HI, GRACE_MS / 1000);
}

/* Whole decimal number in [lo, hi]; no sign, no blanks, no junk. */
static int parse_number(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

/*
 * Is argv[*i] the option SHORT/LONG ("-n 4", "-n4", "--nodes 4",
 * "--nodes=4")?  Then point *val at its argument (NULL if it is missing)
 * and *name at the spelling the user typed, for error messages.
 */
static bool take_opt(int argc, char **argv, int *i, const char *shrt,
		     const char *lng, const char **val, const char **name)
{
	const char *a = argv[*i];
	size_t ll = strlen(lng);

	if ((shrt && strcmp(a, shrt) == 0) || strcmp(a, lng) == 0) {
		*name = a;
		*val = *i + 1 < argc ? argv[++*i] : NULL;
		return true;
	}
	if (shrt && strncmp(a, shrt, 2) == 0 && a[2] != '\0') {
		*name = shrt;
		*val = a + 2;
		return true;
	}
	if (strncmp(a, lng, ll) == 0 && a[ll] == '=') {
		*name = lng;
		*val = a + ll + 1;
		return true;
	}
	return false;
}

/*
 * Can execvp() run PROGRAM?  Asked before anything is started, so that a
 * typo costs one clear line instead of N identical ones from N children.
 * Same search as execvp: PATH (default /bin:/usr/bin) unless the name has
 * a '/', an empty PATH entry meaning the current directory, and EACCES
 * rather than ENOENT if some candidate existed but could not be run.
 */
static int check_executable(const char *prog)
{
	char cand[PATH_MAX];
	const char *path, *p;
	struct stat st;
	bool denied = false;

	if (*prog == '\0')
		return -ENOENT;
	if (strchr(prog, '/')) {
		if (stat(prog, &st) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode) || access(prog, X_OK) < 0)
			return -EACCES;
		return 0;
	}

	path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	for (p = path;; p++) {
		const char *colon = strchrnul(p, ':');
		int dirlen = (int)(colon - p);
		int n;

		if (dirlen == 0)
			n = snprintf(cand, sizeof(cand), "%s", prog);
		else
			n = snprintf(cand, sizeof(cand), "%.*s/%s", dirlen, p, prog);
		if (n > 0 && (size_t)n < sizeof(cand) && stat(cand, &st) == 0) {
			if (!S_ISDIR(st.st_mode) && access(cand, X_OK) == 0)
				return 0;
			denied = true;
		}
		if (*colon == '\0')
			break;
		p = colon;
	}
	return denied ? -EACCES : -ENOENT;
}

/* 32 random bytes as 64 lower-case hex digits. */
static int make_secret(char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[32];
	size_t got = 0;
	size_t i;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(raw); i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[64] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

/*
 * Node 0's listening socket on loopback, port chosen by the kernel.
 * Close-on-exec: only node 0's child clears the flag.
 */
static int make_listener(int *port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = 0,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t salen = sizeof(sa);
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/*
 * A launcher started with fd 0, 1 or 2 closed would hand those numbers out
 * to its own pipes and sockets, and a node's dup2() onto 1 and 2 would then
 * clobber them.  Fill the holes with /dev/null.
 */
static void open_std_fds(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) < 0)
			exit(EXIT_LAUNCH_FAILED);
	}
}

/* ------------------------------------------------------------ --hosts */

/*
 * Is @h a host name or address that may go on a command line unquoted
 * and into DSM_ROOT_ADDR?  Letters, digits, '.', '_', ':' and '-', not
 * first a '-' (ssh would take it for an option); or an IPv6 literal in
 * brackets.
 */
static bool host_ok(const char *h)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._:-";
	size_t len = strlen(h), i, lo = 0, hi = len;

	if (len == 0 || len > MAX_HOST_LEN || h[0] == '-')
		return false;
	if (h[0] == '[' || h[len - 1] == ']') {
		if (len < 3 || h[0] != '[' || h[len - 1] != ']')
			return false;
		lo = 1;
		hi = len - 1;
	}
	for (i = lo; i < hi; i++)
		if (!strchr(ok, h[i]))
			return false;
	return true;
}

/* Split the --hosts LIST into job->hosts, or exit 2 saying what is wrong. */
static void parse_hosts(struct dsm_job *job, const char *list)
{
	char *copy, *p;
	int n = 1;

	for (p = (char *)list; *p; p++)
		n += *p == ',';
	if (n > DSMRUN_MAX_NODES)
		usage_error("--hosts: %d hosts given, at most %d are allowed",
			    n, DSMRUN_MAX_NODES);
	copy = strdup(list);
	job->hosts = calloc((size_t)n, sizeof(*job->hosts));
	if (!copy || !job->hosts) {
		msg("out of memory");
		exit(EXIT_LAUNCH_FAILED);
	}
	job->nhosts = 0;
	for (p = copy;;) {
		char *comma = strchrnul(p, ',');
		bool last = *comma == '\0';

		*comma = '\0';
		if (*p == '\0')
			usage_error("--hosts: empty host name in '%s'", list);
		if (!host_ok(p))
			usage_error("--hosts: '%s' is not a host name or address "
				    "(letters, digits, '.', '_', ':', '-'; IPv6 in [ ])", p);
		job->hosts[job->nhosts++] = p;
		if (last)
			break;
		p = comma + 1;
	}
}

/* $DSMRUN_RSH (default "ssh -o BatchMode=yes") split on blanks. */
static void parse_rsh(struct dsm_job *job)
{
	const char *env = getenv("DSMRUN_RSH");
	char *copy, *tok, *save = NULL;
	int n = 0;

	if (!env || strspn(env, " \t") == strlen(env))
		env = DEFAULT_RSH;
	copy = strdup(env);
	/* Words + host + command + NULL; a word is at least 1 char + blank. */
	job->rsh_argv = calloc(strlen(env) / 2 + 4, sizeof(char *));
	if (!copy || !job->rsh_argv) {
		msg("out of memory");
		exit(EXIT_LAUNCH_FAILED);
	}
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		job->rsh_argv[n++] = tok;
	job->rsh_argc = n;
}

/* Append @s to @f in single quotes, for sh. */
static void sh_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

/* A name fit for "export NAME=...": DSM_ then [A-Za-z0-9_]. */
static bool forwardable(const char *var, size_t namelen)
{
	static const char *const ours[] = { "DSM_NODE_ID", "DSM_NUM_NODES",
		"DSM_ROOT_ADDR", "DSM_LOCAL_NODES", "DSM_JOB_SECRET",
		"DSM_LISTEN_FD", "DSM_NODE_HOST", NULL };
	size_t i;

	if (namelen <= 4 || strncmp(var, "DSM_", 4) != 0)
		return false;
	for (i = 4; i < namelen; i++)
		if (!(var[i] == '_' || (var[i] >= '0' && var[i] <= '9') ||
		      (var[i] >= 'A' && var[i] <= 'Z') ||
		      (var[i] >= 'a' && var[i] <= 'z')))
			return false;
	for (i = 0; ours[i]; i++)
		if (strlen(ours[i]) == namelen && strncmp(var, ours[i], namelen) == 0)
			return false;
	return true;
}

/* The host name as the rsh command wants it: without IPv6 brackets. */
static char *rsh_host(const char *h)
{
	size_t len = strlen(h);

	if (h[0] == '[')
		return strndup(h + 1, len - 2);
	return strdup(h);
}

/*
 * The one sh command line that node @id runs on its host: cd, export the
 * job's variables and every DSM_* of ours, read the secret from stdin,
 * exec PROGRAM.  Malloc'ed; NULL when out of memory.
 */
extern char **environ;

static char *remote_command(const struct dsm_job *job, int id, const char *cwd)
{
	const char *host = job->hosts[id % job->nhosts];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int j, local = 0;
	char **e;

	if (!f)
		return NULL;
	for (j = 0; j < job->nnodes; j++)
		local += strcmp(job->hosts[j % job->nhosts], host) == 0;
	if (cwd) {
		fputs("cd ", f);
		sh_quote(f, cwd);
		fputs(" 2>/dev/null || true; ", f);
	}
	fputs("unset DSM_LISTEN_FD DSM_NODE_HOST; export", f);
	for (e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!eq || !forwardable(*e, (size_t)(eq - *e)))
			continue;
		fprintf(f, " %.*s=", (int)(eq - *e), *e);
		sh_quote(f, eq + 1);
	}
	fprintf(f, " DSM_NODE_ID=%d DSM_NUM_NODES=%d DSM_LOCAL_NODES=%d DSM_ROOT_ADDR=",
		id, job->nnodes, local);
	sh_quote(f, job->root_addr);
	fputs("; IFS= read -r DSM_JOB_SECRET || exit 125; export DSM_JOB_SECRET; exec", f);
	for (j = 0; job->argv[j]; j++) {
		fputc(' ', f);
		sh_quote(f, job->argv[j]);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ----------------------------------------------------- forwarded output */

/*
 * Our stdout or stderr is gone (EPIPE: "dsmrun --label ... | head").
 * Close the nodes' ends of it too, so that their next write fails the way
 * it would have without --label, instead of dsmrun soaking up their output
 * for ever.
 */
static void lose_dst(struct dsm_job *job, int dst)
{
	int i;

	job->dst_broken[dst] = true;
	for (i = 0; i < job->nnodes; i++) {
		struct dsm_stream *s = dst == 1 ? &job->nodes[i].out :
						  &job->nodes[i].err;

		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		s->len = 0;
	}
}

static void emit(struct dsm_job *job, int id, struct dsm_stream *s,
		 const char *data, size_t len, bool add_nl)
{
	char line[16 + STREAM_BUF + 1];
	size_t n;

	if (job->dst_broken[s->dst])
		return;
	n = (size_t)snprintf(line, 16, "[%d] ", id);
	memcpy(line + n, data, len);
	n += len;
	if (add_nl)
		line[n++] = '\n';
	if (write_all(s->dst, line, n) < 0)
		lose_dst(job, s->dst);
}

/* Forward every complete line in s->buf; a full buffer counts as a line. */
static void emit_lines(struct dsm_job *job, int id, struct dsm_stream *s)
{
	char *start = s->buf;
	size_t left = s->len;
	char *nl;

	while ((nl = memchr(start, '\n', left))) {
		size_t l = (size_t)(nl - start) + 1;

		emit(job, id, s, start, l, false);
		start += l;
		left -= l;
	}
	if (left == sizeof(s->buf)) {
		emit(job, id, s, start, left, true);
		left = 0;
	}
	memmove(s->buf, start, left);
	s->len = left;
}

static void stream_close(struct dsm_job *job, int id, struct dsm_stream *s)
{
	if (s->len) {
		emit(job, id, s, s->buf, s->len, true);
		s->len = 0;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* One read.  @return 1 got data, 0 nothing there now, -1 closed (EOF). */
static int stream_read(struct dsm_job *job, int id, struct dsm_stream *s)
{
	ssize_t n;

	if (s->fd < 0)
		return -1;
	n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n > 0) {
		s->len += (size_t)n;
		emit_lines(job, id, s);
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	stream_close(job, id, s);	/* EOF, or an error that means the same */
	return -1;
}

/*
 * Read what is in the pipe now.  Bounded, because a node's background
 * child may still hold the pipe open and keep writing.  With @final the
 * pipe is closed afterwards even if that child is still there.
 */
static void stream_drain(struct dsm_job *job, int id, struct dsm_stream *s,
			 bool final)
{
	int i;

	for (i = 0; i < DRAIN_READS; i++)
		if (stream_read(job, id, s) <= 0)
			break;
	if (final && s->fd >= 0)
		stream_close(job, id, s);
}

/* ---------------------------------------------------------- starting nodes */

/*
 * --hosts: become "RSH HOST CMD", stdin the pipe on which the secret
 * comes.  Our own job variables stay out of the rsh command's
 * environment, in case it hands that on (a local stand-in for ssh would).
 */
static void __attribute__((noreturn))
remote_exec(struct dsm_job *job, int id, int in_r, char *cmd)
{
	char **argv = job->rsh_argv;
	char *host = rsh_host(job->hosts[id % job->nhosts]);

	if (!host) {
		msg("node %d: out of memory", id);
		_exit(EXIT_LAUNCH_FAILED);
	}
	if (dup2(in_r, 0) < 0) {
		msg("node %d: cannot pass it the job secret: %s", id, strerror(errno));
		_exit(EXIT_LAUNCH_FAILED);
	}
	close(in_r);
	unsetenv("DSM_JOB_SECRET");
	unsetenv("DSM_LISTEN_FD");
	unsetenv("DSM_NODE_HOST");
	unsetenv("DSM_READY_FD");
	argv[job->rsh_argc] = host;
	argv[job->rsh_argc + 1] = cmd;
	argv[job->rsh_argc + 2] = NULL;

	sigaction(SIGPIPE, &job->old_pipe, NULL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &job->old_mask, NULL);

	execvp(argv[0], argv);
	msg("node %d: cannot execute %s: %s", id, argv[0], strerror(errno));
	_exit(EXIT_NOEXEC);
}

static void __attribute__((noreturn))
child_exec(struct dsm_job *job, int id, int out_w, int err_w, int in_r,
	   char *cmd)
{
	char num[16];

	/*
	 * Die with dsmrun, whatever kills it; if it already died between
	 * fork() and prctl(), the signal was never armed, so check.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != job->self)
		_exit(EXIT_LAUNCH_FAILED);

	if (job->label) {
		if (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) {
			msg("node %d: cannot redirect its output: %s", id,
			    strerror(errno));
			_exit(EXIT_LAUNCH_FAILED);
		}
		close(out_w);
		close(err_w);
	}
	if (job->hosts)
		remote_exec(job, id, in_r, cmd);

	/* Ours override anything inherited, e.g. from an enclosing job. */
	snprintf(num, sizeof(num), "%d", id);
	if (setenv("DSM_NODE_ID", num, 1) < 0)
		goto nomem;
	snprintf(num, sizeof(num), "%d", job->nnodes);
	if (setenv("DSM_NUM_NODES", num, 1) < 0 ||
	    setenv("DSM_LOCAL_NODES", num, 1) < 0 ||
	    setenv("DSM_JOB_SECRET", job->secret, 1) < 0 ||
	    setenv("DSM_ROOT_ADDR", job->root_addr, 1) < 0 ||
	    setenv("DSM_NODE_HOST", LOOPBACK, 1) < 0)
		goto nomem;
	if (id == 0) {
		if (fcntl(job->listen_fd, F_SETFD, 0) < 0) {
			msg("node 0: cannot pass on the listening socket: %s",
			    strerror(errno));
			_exit(EXIT_LAUNCH_FAILED);
		}
		snprintf(num, sizeof(num), "%d", job->listen_fd);
		if (setenv("DSM_LISTEN_FD", num, 1) < 0)
			goto nomem;
	} else {
		close(job->listen_fd);
		unsetenv("DSM_LISTEN_FD");
	}
	if (job->bind && sched_setaffinity(0, sizeof(cpu_set_t), &job->bind_sets[id]) < 0) {
		msg("node %d: --bind %s: cannot bind it to CPUs %s: %s", id, job->bind,
		    job->bind_lists[id], strerror(errno));
		_exit(EXIT_LAUNCH_FAILED);
	}
	if (job->ready_w >= 0) {
		if (fcntl(job->ready_w, F_SETFD, 0) < 0) {
			msg("node %d: cannot pass on the ready pipe: %s", id, strerror(errno));
			_exit(EXIT_LAUNCH_FAILED);
		}
		snprintf(num, sizeof(num), "%d", job->ready_w);
		if (setenv("DSM_READY_FD", num, 1) < 0)
			goto nomem;
	} else {
		unsetenv("DSM_READY_FD");
	}

	/* Give the program the signal state dsmrun itself was started with. */
	sigaction(SIGPIPE, &job->old_pipe, NULL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &job->old_mask, NULL);

	execvp(job->argv[0], job->argv);
	msg("cannot execute %s: %s", job->argv[0], strerror(errno));
	_exit(EXIT_NOEXEC);

nomem:
	msg("node %d: cannot set its environment: %s", id, strerror(errno));
	_exit(EXIT_LAUNCH_FAILED);
}

/* Undo a half-started job: SIGKILL and reap whatever did start. */
static void __attribute__((noreturn)) abort_start(struct dsm_job *job)
{
	int i;

	for (i = 0; i < job->nnodes; i++) {
		if (!job->nodes[i].running)
			continue;
		kill(job->nodes[i].pid, SIGKILL);
		while (waitpid(job->nodes[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	exit(EXIT_LAUNCH_FAILED);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void start_nodes(struct dsm_job *job)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigset_t mask;
	char *cwd = NULL;
	int port = 0, err, i;
	int ready[2];

	err = make_secret(job->secret);
	if (err < 0) {
		msg("cannot make the job secret: getrandom: %s", strerror(-err));
		exit(EXIT_LAUNCH_FAILED);
	}
	if (job->hosts) {
		const char *h0 = job->hosts[0];

		if (job->port) {
			port = (int)job->port;
		} else {
			uint32_t r;

			/* Separate bytes: the port is public, the secret not. */
			if (getrandom(&r, sizeof(r), 0) != sizeof(r)) {
				msg("cannot pick a port: getrandom: %s", strerror(errno));
				exit(EXIT_LAUNCH_FAILED);
			}
			port = PORT_LO + (int)(r % (PORT_HI - PORT_LO + 1));
		}
		/* A bare IPv6 address gets its brackets, for HOST:PORT. */
		snprintf(job->root_addr, sizeof(job->root_addr),
			 h0[0] != '[' && strchr(h0, ':') ? "[%s]:%d" : "%s:%d",
			 h0, port);
	} else {
		job->listen_fd = make_listener(&port);
		if (job->listen_fd < 0) {
			msg("cannot make node 0's listening socket on %s: %s",
			    LOOPBACK, strerror(-job->listen_fd));
			exit(EXIT_LAUNCH_FAILED);
		}
		snprintf(job->root_addr, sizeof(job->root_addr), "%s:%d",
			 LOOPBACK, port);
		if (pipe2(ready, O_CLOEXEC) < 0) {
			msg("cannot make the ready pipe: %s", strerror(errno));
			exit(EXIT_LAUNCH_FAILED);
		}
		job->ready_r = ready[0];
		job->ready_w = ready[1];
		job->ready_used = true;
		if (set_nonblock(ready[0]) < 0) {
			msg("cannot set up the ready pipe: %s", strerror(errno));
			exit(EXIT_LAUNCH_FAILED);
		}
	}
	job->self = getpid();

	/*
	 * Block before the first fork: a node that dies at once, or a ^C
	 * during the start, then stays pending for the signalfd.  An
	 * inherited SIG_IGN for SIGCHLD would make the kernel reap the
	 * nodes behind our back, so that goes too.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &job->old_mask);
	signal(SIGCHLD, SIG_DFL);
	job->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (job->sigfd < 0) {
		msg("cannot make a signalfd: %s", strerror(errno));
		exit(EXIT_LAUNCH_FAILED);
	}
	/* A reader of --label output going away must not kill us. */
	sigaction(SIGPIPE, &ign, &job->old_pipe);

	if (job->hosts)
		cwd = getcwd(NULL, 0);	/* NULL: the nodes start in $HOME */

	for (i = 0; i < job->nnodes; i++) {
		struct dsm_node *n = &job->nodes[i];
		int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
		int inp[2] = { -1, -1 };
		char *cmd = NULL;
		pid_t pid;

		if (job->hosts) {
			cmd = remote_command(job, i, cwd);
			if (!cmd) {
				msg("cannot make the command line of node %d: %s", i,
				    strerror(errno));
				abort_start(job);
			}
			/* Close-on-exec here too; the child dup2()s it onto 0. */
			if (pipe2(inp, O_CLOEXEC) < 0) {
				msg("cannot make the stdin pipe of node %d: %s", i,
				    strerror(errno));
				abort_start(job);
			}
		}

		n->out.fd = n->err.fd = -1;
		n->out.dst = 1;
		n->err.dst = 2;
		/* Close-on-exec, so no node holds another node's pipe. */
		if (job->label &&
		    (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)) {
			msg("cannot make the output pipes of node %d: %s", i,
			    strerror(errno));
			abort_start(job);
		}
		pid = fork();
		if (pid < 0) {
			msg("cannot start node %d: fork: %s", i, strerror(errno));
			abort_start(job);
		}
		if (pid == 0)
			child_exec(job, i, outp[1], errp[1], inp[0], cmd);

		n->pid = pid;
		n->running = true;
		job->nrunning++;
		free(cmd);
		if (job->hosts) {
			/*
			 * 65 bytes into an empty pipe: never blocks, never
			 * partial.  If the child is already gone (EPIPE, with
			 * SIGPIPE ignored), reap() will say what happened.
			 */
			char line[sizeof(job->secret) + 1];

			close(inp[0]);
			memcpy(line, job->secret, 64);
			line[64] = '\n';
			if (write(inp[1], line, 65) < 0 && errno != EPIPE)
				msg("cannot pass node %d the job secret: %s", i,
				    strerror(errno));
			explicit_bzero(line, sizeof(line));
			close(inp[1]);
		}
		if (job->label) {
			close(outp[1]);
			close(errp[1]);
			n->out.fd = outp[0];
			n->err.fd = errp[0];
			/* The loop reads only what is there; drains must not block. */
			if (set_nonblock(outp[0]) < 0 || set_nonblock(errp[0]) < 0) {
				msg("cannot set up the output pipes of node %d: %s",
				    i, strerror(errno));
				abort_start(job);
			}
		}
	}
	/* Node 0 has its own copy; ours would keep the port open after it. */
	if (job->listen_fd >= 0)
		close(job->listen_fd);
	job->listen_fd = -1;
	/* Same for the ready pipe: only the nodes may hold its write end. */
	if (job->ready_w >= 0)
		close(job->ready_w);
	job->ready_w = -1;
	free(cwd);
}

/* ------------------------------------------------------------- the waiting */

static void set_status(struct dsm_job *job, int status)
{
	if (job->status < 0)
		job->status = status;
}

static void signal_running(struct dsm_job *job, int sig)
{
	int i;

	/* Only unreaped pids: they cannot have been reused. */
	for (i = 0; i < job->nnodes; i++)
		if (job->nodes[i].running)
			kill(job->nodes[i].pid, sig);
}

static void term_all(struct dsm_job *job)
{
	signal_running(job, SIGTERM);
	job->phase = PHASE_TERM;
	job->deadline = now_ms() + TERM_MS;
}

static void kill_all(struct dsm_job *job)
{
	signal_running(job, SIGKILL);
	job->phase = PHASE_KILLED;
	job->deadline = now_ms() + GIVEUP_MS;
}

/* Did node @id end without having called dsm_init (as far as we can know)? */
static bool never_inited(const struct dsm_job *job, int id)
{
	return job->ready_used && !job->nodes[id].inited;
}

/*
 * Name the node that ended the job, and start the grace period.  Called
 * when the settle window closes (or everything has exited).
 */
static void verdict(struct dsm_job *job)
{
	int id = job->culprit, wstatus = job->culprit_wstatus;
	struct dsm_node *n = &job->nodes[id];
	char who[MAX_HOST_LEN + 64], hint[MAX_HOST_LEN + 128] = "";

	/* With --hosts, the pid is that of our local ssh client. */
	if (job->hosts) {
		snprintf(who, sizeof(who), "node %d on %s (local pid %d)", id,
			 job->hosts[id % job->nhosts], (int)n->pid);
		if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 255)
			snprintf(hint, sizeof(hint),
				 " (255 is also what ssh exits with when it cannot connect)");
		else if (id == 0 && !job->port && WIFEXITED(wstatus) &&
			 WEXITSTATUS(wstatus) < 125)
			snprintf(hint, sizeof(hint),
				 " (it was to listen on %s; if that port is taken, choose one with --port)",
				 job->root_addr);
	} else {
		snprintf(who, sizeof(who), "node %d (pid %d)", id, (int)n->pid);
	}

	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		/* Only never_inited() nodes get here with status 0. */
		msg("%s exited with status 0 without calling dsm_init: %s is not a libdsm "
		    "program, or it ended before starting the job; ending the job",
		    who, job->argv[0]);
		set_status(job, 1);
	} else if (WIFEXITED(wstatus)) {
		msg("%s exited with status %d%s; ending the job%s",
		    who, WEXITSTATUS(wstatus),
		    never_inited(job, id) ? " before calling dsm_init" : "", hint);
		set_status(job, WEXITSTATUS(wstatus));
	} else {
		int sig = WTERMSIG(wstatus);

		msg("%s was killed by signal %d (%s%s); ending the job",
		    who, sig, strsignal(sig),
		    WCOREDUMP(wstatus) ? ", core dumped" : "");
		set_status(job, 128 + sig);
	}
	job->phase = PHASE_GRACE;
	job->deadline = now_ms() + GRACE_MS - SETTLE_MS;
}

static void node_exited(struct dsm_job *job, int id, int wstatus)
{
	/* Nodes finish at their own pace; but a success without a job is none. */
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 && !never_inited(job, id))
		return;
	if (!WIFEXITED(wstatus) && !WIFSIGNALED(wstatus))
		return;

	/*
	 * A node killed by a signal takes the others down within
	 * microseconds (they see the lost connection and exit 1), and
	 * waitpid() returns children in no particular order.  So the first
	 * failure opens a short window in which a death by signal wins over
	 * a plain non-zero exit; after it, failures are consequences, or our
	 * own SIGTERM.
	 */
	if (job->phase == PHASE_RUNNING) {
		job->culprit = id;
		job->culprit_wstatus = wstatus;
		job->phase = PHASE_SETTLE;
		job->deadline = now_ms() + SETTLE_MS;
	} else if (job->phase == PHASE_SETTLE && WIFSIGNALED(wstatus) &&
		   !WIFSIGNALED(job->culprit_wstatus)) {
		job->culprit = id;
		job->culprit_wstatus = wstatus;
	}
}

/*
 * Note which nodes have called dsm_init (the bytes of the ready pipe).
 * Read before every reap: a node's byte is in the pipe before its exit.
 */
static void read_ready(struct dsm_job *job)
{
	unsigned char b[DSMRUN_MAX_NODES];
	ssize_t n, k;

	while (job->ready_r >= 0) {
		n = read(job->ready_r, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				close(job->ready_r);	/* every node gone: EOF */
				job->ready_r = -1;
			}
			return;
		}
		for (k = 0; k < n; k++) {
			if (b[k] < job->nnodes)
				job->nodes[b[k]].inited = true;
			job->any_inited = true;
		}
	}
}

static void reap(struct dsm_job *job)
{
	read_ready(job);
	for (;;) {
		int wstatus, i;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);

		if (pid <= 0)
			return;
		/* Not a node: a child we inherited from whoever exec'd us. */
		for (i = 0; i < job->nnodes; i++)
			if (job->nodes[i].running && job->nodes[i].pid == pid)
				break;
		if (i == job->nnodes)
			continue;

		job->nodes[i].running = false;
		job->nrunning--;
		/* Its last words belong before our verdict on it. */
		if (job->label) {
			stream_drain(job, i, &job->nodes[i].out, false);
			stream_drain(job, i, &job->nodes[i].err, false);
		}
		node_exited(job, i, wstatus);
	}
}

static void got_signal(struct dsm_job *job, int sig)
{
	switch (job->phase) {
	case PHASE_SETTLE:
		verdict(job);
		/* fall through */
	case PHASE_RUNNING:
	case PHASE_GRACE:
		msg("got signal %d (%s); ending the job", sig, strsignal(sig));
		set_status(job, 128 + sig);
		term_all(job);
		break;
	case PHASE_TERM:
		/* Asked twice: the user does not want to wait for SIGTERM. */
		kill_all(job);
		break;
	case PHASE_KILLED:
		break;
	}
}

/* Read the signalfd empty.  @return true if a SIGCHLD was among them. */
static bool read_signals(struct dsm_job *job)
{
	struct signalfd_siginfo si[16];
	bool chld = false;

	for (;;) {
		ssize_t n = read(job->sigfd, si, sizeof(si));
		size_t i;

		if (n <= 0)
			return chld;
		/*
		 * The kernel hands out lower signal numbers first, so a ^C
		 * that also killed the nodes is seen before their SIGCHLD
		 * and the job ends as interrupted, not as a failed node.
		 */
		for (i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			if (si[i].ssi_signo == SIGCHLD)
				chld = true;
			else
				got_signal(job, (int)si[i].ssi_signo);
		}
	}
}

/* @return false when it is time to stop waiting for good. */
static bool check_deadlines(struct dsm_job *job)
{
	int64_t now = now_ms();

	if (job->timeout_at && now >= job->timeout_at) {
		job->timeout_at = 0;
		if (job->phase == PHASE_SETTLE)
			verdict(job);
		if (job->phase == PHASE_RUNNING || job->phase == PHASE_GRACE) {
			msg("job timed out after %ld s; ending it", job->timeout_s);
			set_status(job, EXIT_TIMEOUT);
			term_all(job);
		}
	}
	/*
	 * Nodes that are alive but none of which has called dsm_init after
	 * the time a node may take to connect: not libdsm programs, which
	 * would otherwise keep us waiting for ever.
	 */
	if (job->init_deadline && now >= job->init_deadline) {
		job->init_deadline = 0;
		read_ready(job);
		if (!job->any_inited && job->phase == PHASE_RUNNING) {
			msg("no node has called dsm_init %ld s after the start (DSM_CONNECT_TIMEOUT): "
			    "is %s a libdsm program? ending the job",
			    job->connect_timeout_s, job->argv[0]);
			set_status(job, 1);
			term_all(job);
		}
	}
	if (job->phase == PHASE_RUNNING || now < job->deadline)
		return true;

	switch (job->phase) {
	case PHASE_SETTLE:
		verdict(job);
		break;
	case PHASE_GRACE:
		term_all(job);
		break;
	case PHASE_TERM:
		kill_all(job);
		break;
	case PHASE_KILLED:
		msg("%d node(s) still there %d s after SIGKILL; giving up on them",
		    job->nrunning, GIVEUP_MS / 1000);
		return false;
	case PHASE_RUNNING:
		break;
	}
	return true;
}

static int poll_timeout(const struct dsm_job *job)
{
	int64_t next = INT64_MAX, now;

	if (job->timeout_at)
		next = job->timeout_at;
	if (job->init_deadline && job->init_deadline < next)
		next = job->init_deadline;
	if (job->phase != PHASE_RUNNING && job->deadline < next)
		next = job->deadline;
	if (next == INT64_MAX)
		return -1;
	now = now_ms();
	if (next <= now)
		return 0;
	/* +1: poll() rounds down, and waking early would just spin. */
	return next - now > 3600000 ? 3600000 : (int)(next - now) + 1;
}

static int wait_job(struct dsm_job *job)
{
	struct pollfd pfd[1 + 2 * DSMRUN_MAX_NODES];
	struct dsm_stream *which[1 + 2 * DSMRUN_MAX_NODES];
	int owner[1 + 2 * DSMRUN_MAX_NODES];
	int i, k, npfd;

	if (job->timeout_s)
		job->timeout_at = now_ms() + (int64_t)job->timeout_s * 1000;
	if (job->ready_used)
		job->init_deadline = now_ms() + (int64_t)job->connect_timeout_s * 1000;

	while (job->nrunning > 0) {
		npfd = 0;
		pfd[npfd++] = (struct pollfd){ .fd = job->sigfd, .events = POLLIN };
		for (i = 0; i < job->nnodes; i++) {
			struct dsm_stream *s[2] = { &job->nodes[i].out,
						    &job->nodes[i].err };

			for (k = 0; k < 2; k++) {
				if (s[k]->fd < 0)
					continue;
				which[npfd] = s[k];
				owner[npfd] = i;
				pfd[npfd++] = (struct pollfd){ .fd = s[k]->fd,
							       .events = POLLIN };
			}
		}

		if (poll(pfd, (nfds_t)npfd, poll_timeout(job)) < 0 &&
		    errno != EINTR && job->phase != PHASE_KILLED) {
			/* Cannot wait properly any more: end it the quick way. */
			msg("poll: %s; ending the job", strerror(errno));
			set_status(job, EXIT_LAUNCH_FAILED);
			kill_all(job);
		}

		/*
		 * Signals first (see read_signals), then output, then the
		 * dead, whose pipes reap() drains on its own anyway.  Reaping
		 * on every round, not only after a SIGCHLD, costs one
		 * syscall and cannot miss a child.
		 */
		if (pfd[0].revents)
			read_signals(job);
		for (k = 1; k < npfd; k++)
			if (pfd[k].revents)
				stream_read(job, owner[k], which[k]);
		reap(job);
		if (!check_deadlines(job))
			break;
	}

	if (job->phase == PHASE_SETTLE)	/* all exited inside the window */
		verdict(job);

	/* Everything the nodes wrote before they exited is in the pipes. */
	for (i = 0; i < job->nnodes; i++) {
		if (job->nodes[i].out.fd >= 0)
			stream_drain(job, i, &job->nodes[i].out, true);
		if (job->nodes[i].err.fd >= 0)
			stream_drain(job, i, &job->nodes[i].err, true);
	}
	close(job->sigfd);
	return job->status < 0 ? 0 : job->status;
}

/* ------------------------------------------------------------- --make-env */

/*
 * For srun/mpirun, which start the nodes themselves: the same secret must
 * reach every node, and node 0 must listen where the others look for it.
 * The host is checked against a conservative set of characters because
 * the output is meant for eval in a shell.
 */
static int make_env(const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	char secret[65];
	const char *p;
	long port;
	int err;

	if (!colon || colon == hostport ||
	    parse_number(colon + 1, 1, 65535, &port) < 0)
		usage_error("--make-env needs HOST:PORT with a PORT from 1 to 65535, got '%s'",
			    hostport);
	for (p = hostport; p < colon; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789.-_:[]", *p))
			usage_error("--make-env: '%.*s' is not a host name or address",
				    (int)(colon - hostport), hostport);

	err = make_secret(secret);
	if (err < 0) {
		msg("cannot make the job secret: getrandom: %s", strerror(-err));
		return EXIT_LAUNCH_FAILED;
	}
	printf("export DSM_ROOT_ADDR=%s\n", hostport);
	printf("export DSM_JOB_SECRET=%s\n", secret);
	explicit_bzero(secret, sizeof(secret));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		msg("cannot write the environment: %s", strerror(errno));
		return EXIT_LAUNCH_FAILED;
	}
	return 0;
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static struct dsm_job job;
	const char *make_env_arg = NULL;
	const char *val, *name;
	long v, restarts = 0;
	int i, err;

	open_std_fds();
	job.status = -1;
	job.sigfd = -1;
	job.listen_fd = -1;
	job.ready_r = job.ready_w = -1;
	/* The nodes' own limit for connecting, which ours follows (dsm(7)). */
	job.connect_timeout_s = 30;
	if (getenv("DSM_CONNECT_TIMEOUT") &&
	    parse_number(getenv("DSM_CONNECT_TIMEOUT"), 1, 3600, &v) == 0)
		job.connect_timeout_s = v;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;		/* PROGRAM; "-" is a (strange) name too */

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("dsmrun (libdsm) %s\n", PACKAGE_VERSION);
			return 0;
		}
		if (strcmp(a, "--label") == 0) {
			job.label = true;
			continue;
		}
		if (take_opt(argc, argv, &i, NULL, "--restart-on-failure", &val, &name)) {
			if (!val || parse_number(val, 0, 100, &restarts) < 0)
				usage_error("--restart-on-failure needs a number of restarts from 0 "
					    "to 100, got '%s'", val ? val : "");
			continue;
		}
		/* Every node restores the newest checkpoint at dsm_init. */
		if (strcmp(a, "--restart") == 0) {
			if (setenv("DSM_RESTART", "1", 1) < 0)
				usage_error("--restart: cannot set DSM_RESTART: %s", strerror(errno));
			continue;
		}
		if (take_opt(argc, argv, &i, "-n", "--nodes", &val, &name)) {
			if (!val)
				usage_error("%s needs a node count from 1 to %d",
					    name, DSMRUN_MAX_NODES);
			if (parse_number(val, 1, DSMRUN_MAX_NODES, &v) < 0)
				usage_error("%s needs a node count from 1 to %d, got '%s'",
					    name, DSMRUN_MAX_NODES, val);
			job.nnodes = (int)v;
			continue;
		}
		if (take_opt(argc, argv, &i, NULL, "--timeout", &val, &name)) {
			if (!val)
				usage_error("--timeout needs a whole number of seconds (0 for none)");
			if (parse_number(val, 0, INT32_MAX, &v) < 0)
				usage_error("--timeout needs a whole number of seconds (0 for none), got '%s'",
					    val);
			job.timeout_s = v;
			continue;
		}
		if (take_opt(argc, argv, &i, NULL, "--hosts", &val, &name)) {
			if (!val)
				usage_error("--hosts needs a comma-separated list of hosts");
			parse_hosts(&job, val);
			continue;
		}
		if (take_opt(argc, argv, &i, NULL, "--port", &val, &name)) {
			if (!val || parse_number(val, 1, 65535, &v) < 0)
				usage_error("--port needs a TCP port from 1 to 65535%s%s%s",
					    val ? ", got '" : "", val ? val : "",
					    val ? "'" : "");
			job.port = v;
			continue;
		}
		if (take_opt(argc, argv, &i, NULL, "--bind", &val, &name)) {
			if (!val || (strcmp(val, "numa") && strcmp(val, "core") && strcmp(val, "none")))
				usage_error("--bind needs numa, core or none%s%s%s",
					    val ? ", got '" : "", val ? val : "", val ? "'" : "");
			job.bind = strcmp(val, "none") ? val : NULL;
			continue;
		}
		if (take_opt(argc, argv, &i, NULL, "--make-env", &val, &name)) {
			if (!val)
				usage_error("--make-env needs HOST:PORT, where node 0 will listen");
			make_env_arg = val;
			continue;
		}
		usage_error("unknown option '%s'; see dsmrun --help", a);
	}

	if (make_env_arg)
		return make_env(make_env_arg);
	if (job.bind && job.hosts)
		usage_error("--bind binds nodes started on this machine; with --hosts, bind on each "
			    "host (DSM_BIND binds a node's threads)");
	if (job.port && !job.hosts)
		usage_error("--port goes with --hosts; without it node 0 listens on a port the kernel picks");
	if (job.nnodes == 0 && job.hosts)
		job.nnodes = job.nhosts;
	if (job.nnodes == 0)
		usage_error("-n N is required: the number of nodes to start, 1 to %d",
			    DSMRUN_MAX_NODES);
	if (i >= argc)
		usage_error("no program given");
	/* Each attempt below runs in a child of the supervisor. */
	if (restarts > 0)
		dsmrun_supervise(restarts);

	job.argv = argv + i;
	if (job.hosts) {
		/* PROGRAM is looked for on the other hosts; here, only ssh. */
		parse_rsh(&job);
		err = check_executable(job.rsh_argv[0]);
		if (err < 0) {
			msg("cannot execute %s (the command that starts remote nodes, DSMRUN_RSH): %s",
			    job.rsh_argv[0], strerror(-err));
			return EXIT_NOEXEC;
		}
		start_nodes(&job);
		return wait_job(&job);
	}
	err = check_executable(job.argv[0]);
	if (err < 0) {
		msg("cannot execute %s: %s", job.argv[0], strerror(-err));
		return EXIT_NOEXEC;
	}
	if (job.bind) {
		char why[256];

		if (dsmrun_bind_sets(job.bind, job.nnodes, job.bind_sets, job.bind_lists,
				     why, sizeof(why)) < 0) {
			msg("%s", why);
			return EXIT_LAUNCH_FAILED;
		}
	}

	start_nodes(&job);
	return wait_job(&job);
}
