/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * p_alock.C - an array of locks (ALOCKDEC, ALOCKINIT, ALOCK, AULOCK)
 * guarding histogram bins that every worker updates; a lock that a worker
 * initializes (LOCKINIT after CREATE); a pause flag (SETPAUSE, WAITPAUSE)
 * and a semaphore (SEMP, SEMV) by which worker 0 hands a value to the
 * others.
 *
 * usage: p_alock [P [UPDATES]]     P workers (default 4, 300 updates each)
 *
 * Every node checks after WAIT_FOR_END; node 0 prints one "p_alock: ok"
 * line.  Exit 1 with a line on stderr if anything is wrong.
 */
#include <stdio.h>
#include <stdlib.h>

MAIN_ENV

#define NBINS	64

struct GlobalMemory {
	LOCKDEC(idlock)
	ALOCKDEC(binlock, NBINS)
	BARDEC(bar)
	PAUSEDEC(ready)
	SEMDEC(tokens)
	LOCKDEC(latelock)	/* initialized by worker 0 */
	long id;
	long bins[NBINS];
	long handed;		/* worker 0's value for the others */
	long got;		/* workers that saw it, under latelock */
	long late;		/* under latelock */
};

static struct GlobalMemory *Global;
static long P, UPDATES;

static void SlaveStart(void);

static long bin_of(long worker, long j)
{
	return (worker * 7919 + j * 104729) % NBINS;
}

int main(int argc, char *argv[])
{
	long expect[NBINS] = { 0 };
	long i, w, j;

	P = argc > 1 ? atol(argv[1]) : 4;
	UPDATES = argc > 2 ? atol(argv[2]) : 300;
	if (P < 1 || UPDATES < 1) {
		fprintf(stderr, "usage: p_alock [P [UPDATES]]\n");
		exit(2);
	}
	MAIN_INITENV(,1000000)

	Global = (struct GlobalMemory *) G_MALLOC(sizeof(struct GlobalMemory));
	LOCKINIT(Global->idlock)
	ALOCKINIT(Global->binlock, NBINS)
	BARINIT(Global->bar)
	PAUSEINIT(Global->ready)
	SEMINIT(Global->tokens, 0)
	Global->id = 0;

	CREATE(SlaveStart, P)
	WAIT_FOR_END(P)

	for (w = 0; w < P; w++)
		for (j = 0; j < UPDATES; j++)
			expect[bin_of(w, j)] += 1 + (j & 3);
	for (i = 0; i < NBINS; i++)
		if (Global->bins[i] != expect[i]) {
			fprintf(stderr, "p_alock: bin %ld holds %ld, expected %ld\n", i,
				Global->bins[i], expect[i]);
			exit(1);
		}
	if (Global->got != P - 1 || Global->late != P) {
		fprintf(stderr, "p_alock: %ld workers got the handed value (expected %ld), "
			"late lock counted %ld (expected %ld)\n", Global->got, P - 1, Global->late, P);
		exit(1);
	}
	printf("p_alock: ok P=%ld nodes=%d bins=%d\n", P, dsm_num_nodes(), NBINS);
	MAIN_END
}

static void SlaveStart(void)
{
	long MyNum, j, b, i;

	LOCK(Global->idlock)
	MyNum = Global->id;
	Global->id++;
	UNLOCK(Global->idlock)

	for (j = 0; j < UPDATES; j++) {
		b = bin_of(MyNum, j);
		ALOCK(Global->binlock, b)
		Global->bins[b] += 1 + (j & 3);
		AULOCK(Global->binlock, b)
	}

	if (MyNum == 0) {
		/* A lock made after CREATE, and a value, handed over two ways. */
		LOCKINIT(Global->latelock)
		LOCK(Global->latelock)
		Global->handed = 4242;
		UNLOCK(Global->latelock)
		SETPAUSE(Global->ready)
		for (i = 1; i < P; i++) {
			SEMV(Global->tokens)
		}
	} else {
		WAITPAUSE(Global->ready)
		SEMP(Global->tokens)
		LOCK(Global->latelock)
		if (Global->handed == 4242)
			Global->got++;
		UNLOCK(Global->latelock)
	}
	LOCK(Global->latelock)
	Global->late++;
	UNLOCK(Global->latelock)
	BARRIER(Global->bar, P)
}
