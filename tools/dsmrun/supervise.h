/* SPDX-License-Identifier: BSD-3-Clause */
/* supervise.h - dsmrun --restart-on-failure (supervise.c). */
#ifndef DSMRUN_SUPERVISE_H
#define DSMRUN_SUPERVISE_H

/*
 * Run the job up to 1 + max_restarts times: returns 0 in a child process,
 * which goes on to start the job's nodes; the supervising parent never
 * returns but exits with the last job's status.  After a job that failed
 * (a node failed, was killed, hung: any exit but 0, a usage error (2), a
 * program that cannot be executed (127) or dsmrun itself interrupted), the
 * next one restores the newest complete checkpoint (DSM_RESTART=1) if
 * DSM_CHECKPOINT_DIR (default ./dsm-checkpoint) holds a committed epoch,
 * and starts over otherwise; one line on stderr says which.
 */
int dsmrun_supervise(long max_restarts);

#endif /* DSMRUN_SUPERVISE_H */
