/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * check_multinode - multi-node integration tests, run through dsmrun.
 *
 * `make check` exports DSMRUN (the launcher) and TEST_BINDIR (where the t_*
 * programs of this directory are built).  Every test here starts a whole job
 * in its own process group with a captured output and its own timeout, so a
 * hung job fails its test instead of hanging the suite, and no node outlives
 * its test.
 *
 * The programs t_* each check themselves and exit 0 (good), 1 (one line on
 * stderr says what was wrong) or 77 (does not apply to this configuration:
 * counted as a pass with a SKIP note, Check has no skip).  They run on 1, 2,
 * 4 and 8 nodes under every consistency model in models[], once without the
 * launcher (a job of one node), and on 3 nodes with 16K pages.  Then come the
 * cases only a driver can check: killing a node, bad variables, a wrong job
 * secret, and the DSM_STATS output.
 *
 * CK_RUN_CASE=<tcase name> runs one case; CK_FORK=no for gdb.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

/*
 * Consistency models every program runs under (a matrix: each program on
 * each node count under each model).  A program that only makes sense
 * under some models says so and exits 77 under the others.
 */
static const char *const models[] = { "sequential", "release", "weak" };
#define NMODELS ((int)(sizeof(models) / sizeof(models[0])))

static const int node_counts[] = { 1, 2, 4, 8 };
#define NCOUNTS ((int)(sizeof(node_counts) / sizeof(node_counts[0])))

/*
 * The self-checking programs and their (small) problem sizes: the machine
 * may have only two cores for eight nodes, and the whole suite must stay
 * within a few minutes.
 */
struct prog_case {
	const char *name;
	const char *args[6];
	const char *env[4];
};

static const struct prog_case progs[] = {
	{ .name = "t_counter",    .args = { "3", "200" } },	/* THREADS ITERATIONS */
	{ .name = "t_flag",       .args = { "64", "6" } },	/* PAGES ROUNDS */
	{ .name = "t_falseshare", .args = { "4", "5" } },	/* PAGES ROUNDS */
	{ .name = "t_jacobi",     .args = { "66", "130", "20" } }, /* ROWS COLS ITERATIONS */
	{ .name = "t_threads",    .args = { "3", "4", "3" } },	/* THREADS PAGES ROUNDS */
	{ .name = "t_alloc",      .env = { "DSM_HEAP_SIZE=4M" } }, /* small heap: ENOMEM */
	{ .name = "t_api" },
	{ .name = "t_syscalls",   .args = { "3" } },		/* ROUNDS */
	{ .name = "t_vclock",     .args = { "5" } },		/* ROUNDS */
	{ .name = "t_visibility" },				/* 3 nodes or more */
	{ .name = "t_multiwriter", .args = { "6", "10" } },	/* ROUNDS WRITES */
	{ .name = "t_sweep",      .args = { "64", "3" } },	/* PAGES ROUNDS */
	{ .name = "t_lockvc",     .args = { "60" },		/* ROUNDS */
	  .env = { "DSM_TEST_RELEASE_DELAY_US=500" } },	/* widens a release's window */
	{ .name = "t_waiter",     .args = { "100" } },		/* ROUNDS */
	{ .name = "t_waiter",     .args = { "100" },		/* a waiter that polls */
	  .env = { "DSM_POLL_US=20" } },			/* before it sleeps */
	{ .name = "t_homewrite",  .args = { "100" } },		/* ROUNDS */
	{ .name = "t_lockfifo" },				/* asks 100 ms apart */
};
#define NPROGS ((int)(sizeof(progs) / sizeof(progs[0])))

/* One job's limit; Check's own limit per test (tcase_set_timeout) is above it. */
#define JOB_TIMEOUT 90
#define TCASE_TIMEOUT 150

static const char *dsmrun;
static const char *bindir;

/* ------------------------------------------------------------ job runner */

struct job {
	pid_t pid;		/* also the job's process group */
	int outfd;		/* unlinked temp file: stdout + stderr */
	double start;
};

struct job_result {
	int status;		/* exit code, 128+sig if killed, -1 if timed out */
	int timed_out;
	double secs;
	char *out;		/* whole output, NUL-terminated */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Start argv[0] with the extra environment env ("NAME=VALUE" sets, "NAME"
 * alone unsets), in a new process group, output to an unlinked temp file.
 */
static void job_start(struct job *j, char *const argv[], const char *const env[])
{
	char path[] = "/tmp/check_multinode.XXXXXX";
	int i;

	j->outfd = mkstemp(path);
	ck_assert_msg(j->outfd >= 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	fflush(NULL);
	j->start = now();
	j->pid = fork();
	ck_assert_msg(j->pid >= 0, "fork: %s", strerror(errno));
	if (j->pid == 0) {
		setpgid(0, 0);
		dup2(j->outfd, STDOUT_FILENO);
		dup2(j->outfd, STDERR_FILENO);
		close(j->outfd);
		/* These change what a program prints or does at finalize. */
		unsetenv("DSM_STATS");
		unsetenv("DSM_RESTART");
		for (i = 0; env && env[i]; i++) {
			const char *eq = strchr(env[i], '=');

			if (eq) {
				char name[128];

				snprintf(name, sizeof(name), "%.*s", (int)(eq - env[i]), env[i]);
				setenv(name, eq + 1, 1);
			} else {
				unsetenv(env[i]);
			}
		}
		execv(argv[0], argv);
		fprintf(stderr, "check_multinode: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* Also from here, so a kill of the group cannot race the child's setpgid. */
	setpgid(j->pid, j->pid);
}

static char *read_all(int fd)
{
	off_t len = lseek(fd, 0, SEEK_END);
	char *buf;
	ssize_t n, got = 0;

	ck_assert_msg(len >= 0, "lseek: %s", strerror(errno));
	buf = malloc((size_t)len + 1);
	ck_assert(buf != NULL);
	while (got < len) {
		n = pread(fd, buf + got, (size_t)(len - got), got);
		if (n <= 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	return buf;
}

/* Is pid still running (not gone, not a zombie)? */
static int alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	if (kill(pid, 0) != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');		/* state follows "(comm)" */
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/*
 * Wait for the job until the absolute time deadline; past it, kill the
 * whole process group.  Whatever happened, no process of the group is left.
 */
static void job_wait(struct job *j, double deadline, struct job_result *r)
{
	int st;
	pid_t w;

	memset(r, 0, sizeof(*r));
	for (;;) {
		w = waitpid(j->pid, &st, WNOHANG);
		if (w == j->pid)
			break;
		if (w < 0 && errno != EINTR)
			ck_abort_msg("waitpid: %s", strerror(errno));
		if (now() > deadline) {
			kill(-j->pid, SIGKILL);
			while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
				;
			r->timed_out = 1;
			break;
		}
		sleep_ms(10);
	}
	r->secs = now() - j->start;
	if (r->timed_out)
		r->status = -1;
	else if (WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	else
		r->status = 128 + WTERMSIG(st);
	/* Nodes left behind by the launcher would load the next tests. */
	if (kill(-j->pid, 0) == 0) {
		kill(-j->pid, SIGKILL);
		if (!r->timed_out)
			fprintf(stderr, "note: processes of the job were still there "
				"after its launcher exited; killed them\n");
	}
	r->out = read_all(j->outfd);
	close(j->outfd);
}

static void run_job(char *const argv[], const char *const env[], double timeout,
		    struct job_result *r)
{
	struct job j;

	job_start(&j, argv, env);
	job_wait(&j, j.start + timeout, r);
}

/* The last part of the output, for failure messages (Check's are short). */
static const char *tail(const char *out)
{
	size_t len = strlen(out);

	return len > 1200 ? out + len - 1200 : out;
}

/* Print the whole output to the log: the failure message has only the tail. */
static void dump_output(const char *what, const struct job_result *r)
{
	fprintf(stderr, "---- output of %s (exit %d%s, %.1f s) ----\n%s"
		"---- end of output ----\n", what, r->status,
		r->timed_out ? ", timed out" : "", r->secs, r->out);
}

static char *prog_path(const char *name)
{
	char *p;

	ck_assert(asprintf(&p, "%s/%s", bindir, name) > 0);
	return p;
}

/*
 * argv for `dsmrun -n N --label --timeout T -- PROG ARGS...`.  dsmrun's own
 * timeout, a little below ours, gives the better message if a job hangs.
 */
static char **dsmrun_argv(int nodes, int timeout, const char *prog,
			  const char *const args[])
{
	static char nbuf[16], tbuf[16];
	static char *argv[32];
	int a = 0, i;

	snprintf(nbuf, sizeof(nbuf), "%d", nodes);
	snprintf(tbuf, sizeof(tbuf), "%d", timeout);
	argv[a++] = (char *)dsmrun;
	argv[a++] = "-n";
	argv[a++] = nbuf;
	argv[a++] = "--label";
	argv[a++] = "--timeout";
	argv[a++] = tbuf;
	argv[a++] = "--";
	argv[a++] = (char *)prog;
	for (i = 0; args && args[i] && a < 31; i++)
		argv[a++] = (char *)args[i];
	argv[a] = NULL;
	return argv;
}

/* Count the lines of out that contain needle, case-insensitively. */
static int count_lines_with(const char *out, const char *needle)
{
	const char *line = out, *nl;
	int n = 0;

	while (*line) {
		char buf[4096];
		size_t len;

		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		if (strcasestr(buf, needle))
			n++;
		line += len + (nl ? 1 : 0);
	}
	return n;
}

/* ----------------------------------------------- the self-checking programs */

/*
 * Run one program on nodes nodes (direct: without dsmrun, one node) under
 * model, with extra ("NAME=VALUE" or NULL) added to its environment.
 */
static void run_program(const struct prog_case *pc, int nodes, const char *model,
			int direct, const char *extra)
{
	const char *env[8];
	struct job_result r;
	char what[256], mbuf[64], *path, **argv, *dargv[8];
	int e = 0, i;

	path = prog_path(pc->name);
	if (access(path, X_OK) != 0)
		ck_abort_msg("%s is missing (built by `make check`?)", path);

	snprintf(mbuf, sizeof(mbuf), "DSM_CONSISTENCY=%s", model);
	env[e++] = mbuf;
	for (i = 0; pc->env[i] && e < 6; i++)
		env[e++] = pc->env[i];
	if (extra)
		env[e++] = extra;
	env[e] = NULL;

	if (direct) {
		/* No launcher at all: a job of one node. */
		dargv[0] = path;
		for (i = 0; i < 6 && pc->args[i]; i++)
			dargv[i + 1] = (char *)pc->args[i];
		dargv[i + 1] = NULL;
		argv = dargv;
		snprintf(what, sizeof(what), "%s without dsmrun (%s%s%s)", pc->name,
			 model, extra ? ", " : "", extra ? extra : "");
	} else {
		argv = dsmrun_argv(nodes, JOB_TIMEOUT - 5, path, pc->args);
		snprintf(what, sizeof(what), "%s -n %d (%s%s%s)", pc->name, nodes,
			 model, extra ? ", " : "", extra ? extra : "");
	}

	run_job(argv, env, JOB_TIMEOUT, &r);

	if (r.status == 77) {
		/* Check has no skip: count it as a pass, and say so in the log. */
		printf("SKIP %s: %s", what, r.out[0] ? r.out : "(no reason given)\n");
	} else {
		printf("%-6s %s in %.1f s\n", r.status == 0 ? "ok" : "FAIL", what, r.secs);
		if (r.status != 0)
			dump_output(what, &r);
	}
	fflush(stdout);
	ck_assert_msg(!r.timed_out, "%s: no result after %d s (killed):\n%s",
		      what, JOB_TIMEOUT, tail(r.out));
	ck_assert_msg(r.status == 0 || r.status == 77, "%s: exit %d:\n%s",
		      what, r.status, tail(r.out));
	free(r.out);
	free(path);
}

/* _i = (program * NMODELS + model) * NCOUNTS + node count index */
START_TEST(test_program)
{
	const struct prog_case *pc = &progs[_i / (NMODELS * NCOUNTS)];
	const char *model = models[(_i / NCOUNTS) % NMODELS];

	run_program(pc, node_counts[_i % NCOUNTS], model, 0, NULL);
}
END_TEST

/* _i = program * NMODELS + model */
START_TEST(test_program_no_launcher)
{
	run_program(&progs[_i / NMODELS], 1, models[_i % NMODELS], 1, NULL);
}
END_TEST

/*
 * A coherence unit larger than the hardware page (DSM_PAGE_SIZE is 4K
 * times a power of two): 3 nodes, so homes do not line up with powers of
 * two either.  _i = program * NMODELS + model.
 */
START_TEST(test_program_big_pages)
{
	run_program(&progs[_i / NMODELS], 3, models[_i % NMODELS], 0,
		    "DSM_PAGE_SIZE=16K");
}
END_TEST

/*
 * Long runs: 100,000 lock handoffs and 10,000 barriers between 2 nodes
 * under release consistency, the only model that keeps write notices;
 * t_longrun fails if the notices held (a gauge in the stats) grow with
 * the run instead of being collected.
 */
START_TEST(test_longrun)
{
	static const struct prog_case longrun = {
		.name = "t_longrun", .args = { "100000", "10000" },
	};

	run_program(&longrun, 2, "release", 0, NULL);
}
END_TEST

/* ----------------------------------------------------- killing one node */

static pid_t read_pidfile(const char *dir, int node)
{
	char path[4096];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/node%d.pid", dir, node);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

static void remove_dir(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "note: could not remove %s\n", dir);
}

/*
 * kill -9 of node 2 of 4 ends the job: dsmrun exits non-zero within 5 s of
 * the kill, names node 2 and signal 9, and a surviving node said it lost
 * node 2 (the runtime's "lost node 2"), and no node is left running.
 */
START_TEST(test_kill_node)
{
	static const char *const args[] = { "60", NULL };
	const int victim = 2, nodes = 4;
	char dir[] = "/tmp/check_multinode_pids.XXXXXX";
	char envbuf[128], *path, **argv, *line;
	const char *env[3];
	pid_t pids[4];
	struct job_result r;
	struct job j;
	double t_kill, deadline, after;
	int n, got, survivor_msg = 0, launcher_msg = 0, status, ended = 0;

	ck_assert(mkdtemp(dir) != NULL);
	snprintf(envbuf, sizeof(envbuf), "DSM_TEST_PIDDIR=%s", dir);
	env[0] = envbuf;
	env[1] = "DSM_CONSISTENCY=sequential";
	env[2] = NULL;
	path = prog_path("t_spin");
	argv = dsmrun_argv(nodes, 80, path, args);

	job_start(&j, argv, env);

	/* Wait until every node is past dsm_init and its barrier. */
	deadline = now() + 40;
	for (;;) {
		for (got = 0, n = 0; n < nodes; n++)
			got += (pids[n] = read_pidfile(dir, n)) > 0;
		if (got == nodes || now() > deadline)
			break;
		if (waitpid(j.pid, &status, WNOHANG) == j.pid) {
			ended = 1;
			break;
		}
		sleep_ms(20);
	}
	if (got != nodes) {
		if (ended) {
			r.out = read_all(j.outfd);
			kill(-j.pid, SIGKILL);
		} else {
			job_wait(&j, now(), &r);
		}
		remove_dir(dir);
		ck_abort_msg("only %d of %d nodes of t_spin wrote their pid (%s):\n%s",
			     got, nodes, ended ? "the job ended" : "40 s", tail(r.out));
	}

	ck_assert_int_eq(kill(pids[victim], SIGKILL), 0);
	t_kill = now();
	job_wait(&j, t_kill + 20, &r);
	after = now() - t_kill;
	remove_dir(dir);

	printf("kill -9 node %d: dsmrun exited %d, %.2f s after the kill\n",
	       victim, r.status, after);
	dump_output("t_spin -n 4, node 2 killed", &r);
	fflush(stdout);

	ck_assert_msg(!r.timed_out, "dsmrun still running 20 s after node %d was "
		      "killed:\n%s", victim, tail(r.out));
	ck_assert_msg(r.status != 0, "dsmrun exited 0 although node %d was killed:\n%s",
		      victim, tail(r.out));
	ck_assert_msg(after <= 5.0, "dsmrun took %.2f s (> 5 s) to end the job after "
		      "node %d was killed:\n%s", after, victim, tail(r.out));

	for (line = r.out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char buf[4096];
		size_t len = strcspn(line, "\n");

		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		if (!strcasestr(buf, "node 2"))
			continue;
		if (strcasestr(buf, "signal 9"))
			launcher_msg = 1;
		else if (!strstr(buf, "dsmrun:"))
			survivor_msg = 1;
	}
	/*
	 * The killed node is the news, even when the survivors' own exits
	 * (they notice the lost peer within microseconds) reach the launcher
	 * first.
	 */
	ck_assert_msg(launcher_msg, "no line names node 2 and signal 9 (did dsmrun "
		      "blame a survivor that exited because of it?):\n%s", tail(r.out));
	ck_assert_msg(survivor_msg, "no surviving node printed a message naming the "
		      "lost node 2:\n%s", tail(r.out));

	for (n = 0; n < nodes; n++)
		ck_assert_msg(n == victim || !alive(pids[n]),
			      "node %d (pid %ld) still running after dsmrun exited",
			      n, (long)pids[n]);
	free(r.out);
	free(path);
}
END_TEST

/* ------------------------------------------------------------ bad values */

/* Values API.md does not allow: dsm_init must refuse them, naming the variable. */
static const char *const bad_values[][2] = {
	{ "DSM_CONSISTENCY",   "bogus" },
	{ "DSM_HEAP_SIZE",     "12Q" },
	{ "DSM_PAGE_SIZE",     "3000" },
	{ "DSM_PAGE_SIZE",     "12K" },		/* 4K times 3: not a power of two */
	{ "DSM_FAULT_BACKEND", "nope" },
	{ "DSM_LOG",           "loud" },
	{ "DSM_TRANSPORT",     "pigeon" },
	{ "DSM_NUMA",          "sometimes" },
	{ "DSM_RESTART",       "maybe" },
};
#define NBAD ((int)(sizeof(bad_values) / sizeof(bad_values[0])))

START_TEST(test_bad_variable)
{
	static const char *const args[] = { "1", "1", NULL };
	const char *name = bad_values[_i][0], *value = bad_values[_i][1];
	char envbuf[128], what[160], *path;
	const char *env[3];
	struct job_result r;

	snprintf(envbuf, sizeof(envbuf), "%s=%s", name, value);
	snprintf(what, sizeof(what), "t_counter -n 2 with %s", envbuf);
	env[0] = envbuf;
	/* The model is named unless it is the variable under test. */
	env[1] = strcmp(name, "DSM_CONSISTENCY") ? "DSM_CONSISTENCY=sequential" : NULL;
	env[2] = NULL;
	path = prog_path("t_counter");

	run_job(dsmrun_argv(2, 25, path, args), env, 30, &r);
	printf("%s: exit %d in %.1f s\n", what, r.status, r.secs);
	dump_output(what, &r);
	fflush(stdout);

	ck_assert_msg(!r.timed_out, "%s: no exit within 30 s:\n%s", what, tail(r.out));
	ck_assert_msg(r.status != 0, "%s: job succeeded, the value must be refused "
		      "at dsm_init:\n%s", what, tail(r.out));
	ck_assert_msg(strstr(r.out, name) != NULL, "%s: exit %d but no message names "
		      "%s:\n%s", what, r.status, name, tail(r.out));
	free(r.out);
	free(path);
}
END_TEST


/* --------------------------------------------------------- wrong secret */

/*
 * Node 1 starts with another secret than the job's: authentication must
 * fail with a clear message, and the job end with a non-zero exit.
 */
START_TEST(test_wrong_secret)
{
	static const char wrapper[] =
		"if [ -z \"$DSM_JOB_SECRET\" ] || [ -z \"$DSM_NODE_ID\" ]; then "
		"echo \"wrapper: launcher did not set DSM_JOB_SECRET/DSM_NODE_ID\"; fi; "
		"if [ \"$DSM_NODE_ID\" = 1 ]; then "
		"DSM_JOB_SECRET=0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0; "
		"export DSM_JOB_SECRET; fi; exec \"$@\"";
	const char *args[] = { "-c", wrapper, "sh", NULL, "1", "1", NULL };
	const char *env[] = { "DSM_CONSISTENCY=sequential", NULL };
	const char *what = "t_counter -n 2, node 1 with a wrong DSM_JOB_SECRET";
	struct job_result r;
	char *path;

	path = prog_path("t_counter");
	args[3] = path;
	run_job(dsmrun_argv(2, 35, "/bin/sh", args), env, 40, &r);
	printf("%s: exit %d in %.1f s\n", what, r.status, r.secs);
	dump_output(what, &r);
	fflush(stdout);

	ck_assert_msg(!r.timed_out, "%s: hung (killed after 40 s):\n%s", what, tail(r.out));
	ck_assert_msg(r.status != 0, "%s: job succeeded:\n%s", what, tail(r.out));
	ck_assert_msg(strcasestr(r.out, "authentic") != NULL, "%s: exit %d but no "
		      "message about authentication:\n%s", what, r.status, tail(r.out));
	free(r.out);
	free(path);
}
END_TEST

/* ------------------------------------------------------------ statistics */

static const char *const stat_fields[] = {
	"read_faults", "write_faults", "pages_fetched", "pages_sent",
	"invalidations", "diffs_created", "diffs_applied", "diff_bytes",
	"msgs_sent", "msgs_recv", "bytes_sent", "bytes_recv",
	"lock_acquires", "barriers", "numa_migrations",
};
#define NFIELDS ((int)(sizeof(stat_fields) / sizeof(stat_fields[0])))

/* A minimal JSON reader: enough to walk an array of flat objects. */
struct jp {
	const char *s;
	const char *err;
};

static void j_ws(struct jp *p)
{
	while (isspace((unsigned char)*p->s))
		p->s++;
}

static int j_error(struct jp *p, const char *msg)
{
	if (!p->err)
		p->err = msg;
	return -1;
}

static int j_string(struct jp *p, char *out, size_t size)
{
	size_t n = 0;

	if (*p->s != '"')
		return j_error(p, "expected a string");
	p->s++;
	while (*p->s && *p->s != '"') {
		char c = *p->s++;

		if (c == '\\') {
			if (!*p->s)
				break;
			c = *p->s++;
			if (c == 'u') {		/* keep it simple: no key needs it */
				if (strlen(p->s) < 4)
					break;
				p->s += 4;
				c = '?';
			}
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	if (*p->s != '"')
		return j_error(p, "unterminated string");
	p->s++;
	out[n] = '\0';
	return 0;
}

static int j_skip_value(struct jp *p);

static int j_skip_container(struct jp *p, char close)
{
	char key[256];

	p->s++;
	j_ws(p);
	if (*p->s == close) {
		p->s++;
		return 0;
	}
	for (;;) {
		j_ws(p);
		if (close == '}') {
			if (j_string(p, key, sizeof(key)))
				return -1;
			j_ws(p);
			if (*p->s++ != ':')
				return j_error(p, "expected ':'");
		}
		if (j_skip_value(p))
			return -1;
		j_ws(p);
		if (*p->s == ',') {
			p->s++;
			continue;
		}
		if (*p->s == close) {
			p->s++;
			return 0;
		}
		return j_error(p, "expected ',' or a closing bracket");
	}
}

static int j_skip_value(struct jp *p)
{
	char buf[256];

	j_ws(p);
	switch (*p->s) {
	case '"':
		return j_string(p, buf, sizeof(buf));
	case '{':
		return j_skip_container(p, '}');
	case '[':
		return j_skip_container(p, ']');
	}
	if (!strncmp(p->s, "true", 4) || !strncmp(p->s, "null", 4)) {
		p->s += 4;
		return 0;
	}
	if (!strncmp(p->s, "false", 5)) {
		p->s += 5;
		return 0;
	}
	if (*p->s == '-' || isdigit((unsigned char)*p->s)) {
		p->s++;
		while (isdigit((unsigned char)*p->s) || strchr(".eE+-", *p->s))
			p->s++;
		return 0;
	}
	return j_error(p, "unexpected character");
}

/* A non-negative integer (the counters are uint64_t). */
static int j_uint(struct jp *p, unsigned long long *v)
{
	char *end;

	j_ws(p);
	if (!isdigit((unsigned char)*p->s))
		return j_error(p, "a counter is not a non-negative integer");
	errno = 0;
	*v = strtoull(p->s, &end, 10);
	if (errno || *end == '.' || *end == 'e' || *end == 'E')
		return j_error(p, "a counter is not an integer");
	p->s = end;
	return 0;
}

struct node_stats {
	long long node;			/* -1 until seen */
	unsigned long long v[NFIELDS];
	int have[NFIELDS];
};

/* Parse DSM_STATS's file: fills st[0..*n-1]; NULL, or what was wrong. */
static const char *parse_stats(const char *text, struct node_stats *st, int max, int *n)
{
	struct jp p = { text, NULL };
	char key[256];
	unsigned long long v;
	int f;

	*n = 0;
	j_ws(&p);
	if (*p.s++ != '[')
		return "not a JSON array";
	j_ws(&p);
	if (*p.s == ']')
		return NULL;
	for (;;) {
		struct node_stats *o;

		j_ws(&p);
		if (*p.s != '{')
			return "an element of the array is not an object";
		if (*n == max)
			return "more objects than nodes";
		o = &st[(*n)++];
		memset(o, 0, sizeof(*o));
		o->node = -1;
		p.s++;
		j_ws(&p);
		while (*p.s != '}') {
			if (j_string(&p, key, sizeof(key)))
				return p.err;
			j_ws(&p);
			if (*p.s++ != ':')
				return "expected ':' after a key";
			for (f = 0; f < NFIELDS; f++)
				if (!strcmp(key, stat_fields[f]))
					break;
			if (!strcmp(key, "node")) {
				if (j_uint(&p, &v))
					return "\"node\" is not a non-negative integer";
				o->node = (long long)v;
			} else if (f < NFIELDS) {
				if (j_uint(&p, &o->v[f]))
					return p.err;
				o->have[f] = 1;
			} else if (j_skip_value(&p)) {
				return p.err;
			}
			j_ws(&p);
			if (*p.s == ',') {
				p.s++;
				j_ws(&p);
			} else if (*p.s != '}') {
				return "expected ',' or '}' in an object";
			}
		}
		p.s++;
		j_ws(&p);
		if (*p.s == ',') {
			p.s++;
			continue;
		}
		if (*p.s == ']')
			break;
		return "expected ',' or ']' after an object";
	}
	p.s++;
	j_ws(&p);
	if (*p.s)
		return "text after the closing ']'";
	return NULL;
}

/*
 * DSM_STATS=<path> on 4 nodes: node 0 writes one JSON array of 4 objects,
 * "node" 0..3, every field of struct dsm_stats, with plausible values for
 * t_counter (2 threads x 50 lock-protected increments per node).
 */
START_TEST(test_stats_file)
{
	static const char *const args[] = { "2", "50", NULL };
	const int nodes = 4, nthreads = 2, iters = 50;
	char dir[] = "/tmp/check_multinode_stats.XXXXXX";
	char envbuf[300], file[200], *path, *text;
	const char *env[3], *err;
	struct node_stats st[8];
	struct job_result r;
	int n, k, f, fd, seen[4] = { 0 };
	int lk = -1, bar = -1, ms = -1, mr = -1;

	ck_assert(mkdtemp(dir) != NULL);
	snprintf(file, sizeof(file), "%s/stats.json", dir);
	snprintf(envbuf, sizeof(envbuf), "DSM_STATS=%s", file);
	env[0] = envbuf;
	env[1] = "DSM_CONSISTENCY=sequential";
	env[2] = NULL;
	path = prog_path("t_counter");

	run_job(dsmrun_argv(nodes, 55, path, args), env, JOB_TIMEOUT, &r);
	printf("t_counter -n 4 with DSM_STATS=<file>: exit %d in %.1f s\n", r.status, r.secs);
	if (r.status)
		dump_output("t_counter -n 4 with DSM_STATS=<file>", &r);
	ck_assert_msg(r.status == 0, "t_counter -n 4 with DSM_STATS=%s: exit %d:\n%s",
		      file, r.status, tail(r.out));

	fd = open(file, O_RDONLY);
	ck_assert_msg(fd >= 0, "DSM_STATS=%s: no file written: %s", file, strerror(errno));
	text = read_all(fd);
	close(fd);
	remove_dir(dir);
	printf("stats file:\n%s\n", text);
	fflush(stdout);

	err = parse_stats(text, st, 8, &n);
	ck_assert_msg(err == NULL, "DSM_STATS file: %s:\n%.1500s", err, text);
	ck_assert_msg(n == nodes, "DSM_STATS file has %d objects, expected %d:\n%.1500s",
		      n, nodes, text);
	for (f = 0; f < NFIELDS; f++) {
		if (!strcmp(stat_fields[f], "lock_acquires"))
			lk = f;
		if (!strcmp(stat_fields[f], "barriers"))
			bar = f;
		if (!strcmp(stat_fields[f], "msgs_sent"))
			ms = f;
		if (!strcmp(stat_fields[f], "msgs_recv"))
			mr = f;
	}
	for (k = 0; k < n; k++) {
		ck_assert_msg(st[k].node >= 0 && st[k].node < nodes,
			      "DSM_STATS object %d: \"node\" missing or out of range (%lld)",
			      k, st[k].node);
		ck_assert_msg(!seen[st[k].node]++, "DSM_STATS: node %lld appears twice",
			      st[k].node);
		for (f = 0; f < NFIELDS; f++)
			ck_assert_msg(st[k].have[f], "DSM_STATS: node %lld has no \"%s\"",
				      st[k].node, stat_fields[f]);
		ck_assert_msg(st[k].v[lk] >= (unsigned long long)nthreads * iters,
			      "DSM_STATS: node %lld lock_acquires %llu, but it acquired "
			      "locks %d times", st[k].node, st[k].v[lk], nthreads * iters);
		/* t_counter's 2 barriers, plus the one of dsm_finalize maybe. */
		ck_assert_msg(st[k].v[bar] >= 2, "DSM_STATS: node %lld barriers %llu, "
			      "expected at least 2", st[k].node, st[k].v[bar]);
		ck_assert_msg(st[k].v[ms] > 0 && st[k].v[mr] > 0,
			      "DSM_STATS: node %lld msgs_sent %llu msgs_recv %llu on 4 nodes",
			      st[k].node, st[k].v[ms], st[k].v[mr]);
	}
	free(text);
	free(r.out);
	free(path);
}
END_TEST

/* DSM_STATS=1: each node prints its summary on stderr at finalize. */
START_TEST(test_stats_stderr)
{
	static const char *const args[] = { "1", "20", NULL };
	const char *env1[] = { "DSM_CONSISTENCY=sequential", "DSM_STATS=1", NULL };
	const char *env0[] = { "DSM_CONSISTENCY=sequential", "DSM_STATS=0", NULL };
	struct job_result r1, r0;
	char *path;
	int lines1, lines0;

	path = prog_path("t_counter");
	run_job(dsmrun_argv(2, 55, path, args), env1, JOB_TIMEOUT, &r1);
	dump_output("t_counter -n 2 with DSM_STATS=1", &r1);
	run_job(dsmrun_argv(2, 55, path, args), env0, JOB_TIMEOUT, &r0);
	fflush(stdout);
	ck_assert_msg(r1.status == 0, "DSM_STATS=1: exit %d:\n%s", r1.status, tail(r1.out));
	ck_assert_msg(r0.status == 0, "DSM_STATS=0: exit %d:\n%s", r0.status, tail(r0.out));

	/* Every summary mentions faults; nothing else in this job does. */
	lines1 = count_lines_with(r1.out, "fault");
	lines0 = count_lines_with(r0.out, "fault");
	ck_assert_msg(lines0 == 0, "DSM_STATS=0 printed statistics:\n%s", tail(r0.out));
	ck_assert_msg(lines1 >= 2, "DSM_STATS=1 on 2 nodes: %d line(s) about faults, "
		      "expected a summary from each node:\n%s", lines1, tail(r1.out));
	free(r1.out);
	free(r0.out);
	free(path);
}
END_TEST

/* ------------------------------------------------------------------ main */

static Suite *multinode_suite(void)
{
	Suite *s = suite_create("multinode");
	TCase *tc;
	int p;

	/* One case per program, so CK_RUN_CASE=t_jacobi runs just that one. */
	for (p = 0; p < NPROGS; p++) {
		tc = tcase_create(progs[p].name);
		tcase_set_timeout(tc, TCASE_TIMEOUT);
		tcase_add_loop_test(tc, test_program, p * NMODELS * NCOUNTS,
				    (p + 1) * NMODELS * NCOUNTS);
		suite_add_tcase(s, tc);
	}

	tc = tcase_create("no_launcher");
	tcase_set_timeout(tc, TCASE_TIMEOUT);
	tcase_add_loop_test(tc, test_program_no_launcher, 0, NPROGS * NMODELS);
	suite_add_tcase(s, tc);

	tc = tcase_create("big_pages");
	tcase_set_timeout(tc, TCASE_TIMEOUT);
	tcase_add_loop_test(tc, test_program_big_pages, 0, NPROGS * NMODELS);
	suite_add_tcase(s, tc);

	tc = tcase_create("longrun");
	tcase_set_timeout(tc, TCASE_TIMEOUT);
	tcase_add_test(tc, test_longrun);
	suite_add_tcase(s, tc);

	tc = tcase_create("kill_node");
	tcase_set_timeout(tc, TCASE_TIMEOUT);
	tcase_add_test(tc, test_kill_node);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_variables");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_bad_variable, 0, NBAD);
	suite_add_tcase(s, tc);

	tc = tcase_create("wrong_secret");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_wrong_secret);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_set_timeout(tc, TCASE_TIMEOUT);
	tcase_add_test(tc, test_stats_file);
	tcase_add_test(tc, test_stats_stderr);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	dsmrun = getenv("DSMRUN");
	bindir = getenv("TEST_BINDIR");
	if (!dsmrun || !*dsmrun || !bindir || !*bindir) {
		fprintf(stderr, "check_multinode: DSMRUN and TEST_BINDIR must be set "
			"(`make check` exports them)\n");
		return 99;	/* automake: hard error */
	}
	if (access(dsmrun, X_OK) != 0) {
		fprintf(stderr, "check_multinode: launcher %s: %s\n", dsmrun, strerror(errno));
		return 99;
	}

	sr = srunner_create(multinode_suite());
	srunner_run_all(sr, getenv("CK_VERBOSITY") ? CK_ENV : CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
