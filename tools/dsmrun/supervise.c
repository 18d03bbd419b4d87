/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * supervise.c - dsmrun --restart-on-failure N: start the job again after
 * a failure, from the last complete checkpoint (dsm(7), CHECKPOINTS), at
 * most N times.
 *
 * The supervisor is a fork of dsmrun taken after the command line was
 * checked: each attempt is a child that runs the job as a plain dsmrun
 * would (its own job secret, listener and nodes), so nothing of a failed
 * attempt leaks into the next.  The supervisor only waits, decides and
 * says so.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/dsmrun/exit_status.h"
#include "tools/dsmrun/supervise.h"

/* Does dir hold a committed epoch (a manifest, written last)?  The nodes
 * verify it; an epoch they refuse makes the attempt fail, and count. */
static bool have_checkpoint(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);

		found = strncmp(e->d_name, "epoch-", 6) == 0 && n > 9 &&
			strcmp(e->d_name + n - 9, ".manifest") == 0;
	}
	closedir(d);
	return found;
}

static int exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	return 128 + (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
}

int dsmrun_supervise(long max_restarts)
{
	const char *dir = getenv("DSM_CHECKPOINT_DIR");
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_term;
	bool interrupted = false;

	if (!dir || !*dir)
		dir = "./dsm-checkpoint";
	for (long attempt = 0;; attempt++) {
		int wstatus, code;
		pid_t pid;

		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "dsmrun: cannot fork for --restart-on-failure: %s\n",
				strerror(errno));
			exit(EXIT_LAUNCH_FAILED);
		}
		if (pid == 0)
			return 0;
		/* Ctrl-C reaches the attempt's process group (its dsmrun ends the
		 * job); the supervisor only notes it and does not restart. */
		sigaction(SIGINT, &ign, &old_int);
		sigaction(SIGTERM, &ign, &old_term);
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		code = exit_code(wstatus);
		interrupted = WIFSIGNALED(wstatus) &&
			      (WTERMSIG(wstatus) == SIGINT || WTERMSIG(wstatus) == SIGTERM);
		if (code == 0 || code == EXIT_USAGE || code == EXIT_NOEXEC || interrupted)
			exit(code);
		if (attempt == max_restarts) {
			fprintf(stderr, "dsmrun: the job failed (exit %d); not restarting it again "
				"(--restart-on-failure %ld)\n", code, max_restarts);
			exit(code);
		}
		if (have_checkpoint(dir)) {
			setenv("DSM_RESTART", "1", 1);
			fprintf(stderr, "dsmrun: the job failed (exit %d); restarting it from the last "
				"complete checkpoint in %s (restart %ld of %ld)\n", code, dir,
				attempt + 1, max_restarts);
		} else {
			unsetenv("DSM_RESTART");
			fprintf(stderr, "dsmrun: the job failed (exit %d) before any checkpoint in %s; "
				"starting it again from the beginning (restart %ld of %ld)\n", code,
				dir, attempt + 1, max_restarts);
		}
	}
}
