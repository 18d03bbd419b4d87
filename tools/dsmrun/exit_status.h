/* SPDX-License-Identifier: BSD-3-Clause */
/* exit_status.h - the exit statuses of dsmrun itself, besides a node's own
 * (dsmrun(1), EXIT STATUS): dsmrun.c and supervise.c both end with them. */
#ifndef DSMRUN_EXIT_STATUS_H
#define DSMRUN_EXIT_STATUS_H

#define EXIT_USAGE		2
#define EXIT_TIMEOUT		124	/* --timeout expired, like timeout(1) */
#define EXIT_LAUNCH_FAILED	125	/* dsmrun could not set the job up */
#define EXIT_NOEXEC		127	/* PROGRAM cannot be executed */

#endif /* DSMRUN_EXIT_STATUS_H */
