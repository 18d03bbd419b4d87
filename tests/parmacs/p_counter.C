/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * p_counter.C - a locked counter in SPLASH-2 style: one CREATE of the
 * function per extra worker, the main thread calls it itself, workers
 * take their number from a locked counter (as every SPLASH-2 program
 * does), and GETSUB hands out tasks in two rounds.
 *
 * usage: p_counter [P]        P workers in all (default 4)
 *
 * Every node checks the result after WAIT_FOR_END; node 0 prints one
 * "p_counter: ok" line.  Exit 1 with a line on stderr if anything is wrong.
 */
#include <stdio.h>
#include <stdlib.h>

MAIN_ENV

#define ITERS	200	/* locked increments per worker */
#define TASKS	97	/* subscripts GETSUB hands out per round */
#define MAXP	64

struct GlobalMemory {
	LOCKDEC(idlock)
	LOCKDEC(countlock)
	BARDEC(start)
	GSDEC(tasks)
	long id;		/* next worker number */
	long count;		/* ITERS per worker, under countlock */
	long taken[TASKS];	/* times each task was handed out */
	long pid_seen[MAXP];	/* GET_PID of every worker, under countlock */
};

static struct GlobalMemory *Global;
static long P;

static void SlaveStart(void);

int main(int argc, char *argv[])
{
	unsigned long start, end;
	long i, bad = 0;

	P = argc > 1 ? atol(argv[1]) : 4;
	if (P < 1 || P > MAXP) {
		fprintf(stderr, "p_counter: P must be 1 to %d\n", MAXP);
		exit(2);
	}
	MAIN_INITENV(,1000000)
	CLOCK(start)

	Global = (struct GlobalMemory *) G_MALLOC(sizeof(struct GlobalMemory));
	LOCKINIT(Global->idlock)
	LOCKINIT(Global->countlock)
	BARINIT(Global->start)
	GSINIT(Global->tasks)
	Global->id = 0;
	Global->count = 0;

	for (i = 1; i < P; i++) {
		CREATE(SlaveStart)
	}
	SlaveStart();
	WAIT_FOR_END(P - 1)
	CLOCK(end)

	if (Global->id != P) {
		fprintf(stderr, "p_counter: %ld workers took a number, expected %ld\n", Global->id, P);
		bad++;
	}
	if (Global->count != P * ITERS) {
		fprintf(stderr, "p_counter: count %ld, expected %ld\n", Global->count, P * ITERS);
		bad++;
	}
	for (i = 0; i < TASKS; i++)
		if (Global->taken[i] != 2) {
			fprintf(stderr, "p_counter: task %ld handed out %ld times, expected 2\n",
				i, Global->taken[i]);
			bad++;
			break;
		}
	for (i = 0; i < P; i++)
		if (Global->pid_seen[i] != 1) {
			fprintf(stderr, "p_counter: GET_PID %ld seen %ld times\n", i, Global->pid_seen[i]);
			bad++;
			break;
		}
	if (bad)
		exit(1);
	printf("p_counter: ok P=%ld nodes=%d count=%ld (%lu us)\n", P, dsm_num_nodes(),
	       Global->count, end - start);
	MAIN_END
}

static void SlaveStart(void)
{
	long MyNum, i, sub, pid, round;

	LOCK(Global->idlock)
	MyNum = Global->id;
	Global->id++;
	UNLOCK(Global->idlock)
	(void)MyNum;

	BARRIER(Global->start, P)
	for (i = 0; i < ITERS; i++) {
		LOCK(Global->countlock)
		Global->count++;
		UNLOCK(Global->countlock)
	}
	/* Two rounds: the second starts only after all P had their -1. */
	for (round = 0; round < 2; round++) {
		for (;;) {
			GETSUB(Global->tasks, sub, TASKS - 1, P)
			if (sub < 0)
				break;
			Global->taken[sub]++;
		}
		BARRIER(Global->start, P)
	}
	GET_PID(pid)
	LOCK(Global->countlock)
	Global->pid_seen[pid]++;
	UNLOCK(Global->countlock)
	BARRIER(Global->start, P)
}
