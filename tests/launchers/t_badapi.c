/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_badapi - one misuse of the libdsm API per run, for check_bad_input.sh.
 *
 * usage: t_badapi CASE
 *
 *   ok              dsm_init and dsm_finalize, nothing else (for the rows
 *                   that feed a bad variable or option to dsm_init)
 *   double-init     dsm_init twice
 *   free-foreign    dsm_free of a malloc() pointer
 *   free-interior   dsm_free of a pointer into a dsm_malloc block
 *   lock-range      dsm_lock_acquire(DSM_MAX_LOCKS)
 *   unlock-range    dsm_lock_release(UINT_MAX)
 *   unlock-notheld  dsm_lock_release of a lock this node does not hold
 *   finalize-twice  dsm_finalize twice
 *
 * The runtime must refuse each one with an error code (where the call
 * returns one) and a line on stderr that names the problem, and the node
 * must go on working: every case ends with a lock round trip and
 * dsm_finalize.  Exit status: 1 when the misuse was refused (what the test
 * expects, after the line "t_badapi: refused: ..."), 0 for "ok", 3 when the
 * runtime accepted the misuse without a word of error.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dsm.h>

static int init(int *argc, char ***argv)
{
	int rc = dsm_init(argc, argv);

	if (rc < 0) {
		fprintf(stderr, "t_badapi: dsm_init: %s\n", dsm_strerror(rc));
		exit(1);
	}
	return rc;
}

/* The node still works after the misuse, and ends cleanly. */
static void finish(void)
{
	if (dsm_lock_acquire(0) < 0 || dsm_lock_release(0) < 0) {
		fprintf(stderr, "t_badapi: locks broken after the misuse\n");
		exit(2);
	}
	if (dsm_finalize() < 0) {
		fprintf(stderr, "t_badapi: dsm_finalize failed after the misuse\n");
		exit(2);
	}
}

/* A call that returns a code: negative means refused. */
static int expect_refused(const char *what, int rc)
{
	finish();
	if (rc >= 0) {
		fprintf(stderr, "t_badapi: %s was accepted (returned %d)\n", what, rc);
		return 3;
	}
	fprintf(stderr, "t_badapi: refused: %s: %s\n", what, dsm_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "ok")) {
		init(&argc, &argv);
		finish();
		return 0;
	}
	if (!strcmp(c, "double-init")) {
		init(&argc, &argv);
		return expect_refused("a second dsm_init", dsm_init(&argc, &argv));
	}
	if (!strcmp(c, "free-foreign") || !strcmp(c, "free-interior")) {
		char *p;

		init(&argc, &argv);
		if (!strcmp(c, "free-foreign")) {
			p = malloc(64);
			dsm_free(p);	/* void: the line on stderr is the refusal */
			free(p);	/* still ours: libdsm must not have touched it */
		} else {
			p = dsm_malloc(256);
			if (!p) {
				fprintf(stderr, "t_badapi: dsm_malloc failed\n");
				return 2;
			}
			dsm_free(p + 16);
			dsm_free(p);	/* the block itself is still allocated */
		}
		finish();
		fprintf(stderr, "t_badapi: refused: %s (dsm_free returns nothing)\n", c);
		return 1;
	}
	if (!strcmp(c, "lock-range")) {
		init(&argc, &argv);
		return expect_refused("dsm_lock_acquire(DSM_MAX_LOCKS)", dsm_lock_acquire(DSM_MAX_LOCKS));
	}
	if (!strcmp(c, "unlock-range")) {
		init(&argc, &argv);
		return expect_refused("dsm_lock_release(UINT_MAX)", dsm_lock_release(UINT_MAX));
	}
	if (!strcmp(c, "unlock-notheld")) {
		init(&argc, &argv);
		return expect_refused("dsm_lock_release(7) without holding it", dsm_lock_release(7));
	}
	if (!strcmp(c, "finalize-twice")) {
		int rc;

		init(&argc, &argv);
		finish();
		rc = dsm_finalize();
		if (rc >= 0) {
			fprintf(stderr, "t_badapi: a second dsm_finalize was accepted\n");
			return 3;
		}
		fprintf(stderr, "t_badapi: refused: a second dsm_finalize: %s\n", dsm_strerror(rc));
		return 1;
	}
	fprintf(stderr, "usage: t_badapi ok|double-init|free-foreign|free-interior|lock-range|"
		"unlock-range|unlock-notheld|finalize-twice\n");
	return 2;
}
