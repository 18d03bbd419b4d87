/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * p_init.C - a G_MALLOC'd shared array initialised before CREATE, read by
 * the workers; G_MALLOC from the workers (each publishes its own block);
 * G_FREE; and a second CREATE ... WAIT_FOR_END after the first, on memory
 * G_MALLOC'd in between.
 *
 * usage: p_init [P [LEN]]      P workers, LEN longs (default 4 20000)
 *
 * Every node checks after each WAIT_FOR_END; node 0 prints one
 * "p_init: ok" line.  Exit 1 with a line on stderr if anything is wrong.
 */
#include <stdio.h>
#include <stdlib.h>

MAIN_ENV

#define MAXP	64

struct GlobalMemory {
	LOCKDEC(idlock)
	BARDEC(bar)
	long id;
	long *data;		/* LEN values set before CREATE */
	long *part[MAXP];	/* worker i's G_MALLOC'd block: its partial sum */
	long bad;		/* values a worker found wrong */
	long total;		/* sum of the parts, by worker 0 */
	long *again;		/* G_MALLOC'd after the first WAIT_FOR_END */
	long id2;
};

static struct GlobalMemory *Global;
static long P, LEN;

static void First(void);
static void Second(void);

static long value(long i)
{
	return (i * i) % 1009 + 7;
}

int main(int argc, char *argv[])
{
	long i, expect = 0;
	char *small[3];

	P = argc > 1 ? atol(argv[1]) : 4;
	LEN = argc > 2 ? atol(argv[2]) : 20000;
	if (P < 1 || P > MAXP || LEN < P) {
		fprintf(stderr, "usage: p_init [P [LEN]]\n");
		exit(2);
	}
	MAIN_INITENV(,1000000)

	/* Several allocations, small ones sharing pages, in the same order everywhere. */
	Global = (struct GlobalMemory *) G_MALLOC(sizeof(struct GlobalMemory));
	for (i = 0; i < 3; i++) {
		small[i] = (char *) G_MALLOC(40 + i);
		small[i][0] = (char)('a' + i);
	}
	Global->data = (long *) G_MALLOC(LEN * sizeof(long));
	LOCKINIT(Global->idlock)
	BARINIT(Global->bar)
	Global->id = 0;
	for (i = 0; i < LEN; i++) {
		Global->data[i] = value(i);
		expect += value(i);
	}

	for (i = 1; i < P; i++) {
		CREATE(First)
	}
	First();
	WAIT_FOR_END(P - 1)

	if (Global->bad || Global->total != expect) {
		fprintf(stderr, "p_init: %ld wrong values seen, total %ld, expected %ld\n",
			Global->bad, Global->total, expect);
		exit(1);
	}
	for (i = 0; i < 3; i++)
		if (small[i][0] != 'a' + i) {
			fprintf(stderr, "p_init: small block %ld holds %c\n", i, small[i][0]);
			exit(1);
		}

	/* Sequential again: a collective allocation, then a second parallel part. */
	Global->again = (long *) G_MALLOC(P * sizeof(long));
	for (i = 0; i < P; i++)
		if (Global->again[i] != 0) {
			fprintf(stderr, "p_init: G_MALLOC after WAIT_FOR_END is not zeroed\n");
			exit(1);
		}
	Global->id2 = 0;
	CREATE(Second, P)
	WAIT_FOR_END(P)
	for (i = 0; i < P; i++)
		if (Global->again[i] != i + 1) {
			fprintf(stderr, "p_init: second part: worker %ld wrote %ld\n", i, Global->again[i]);
			exit(1);
		}
	printf("p_init: ok P=%ld nodes=%d total=%ld\n", P, dsm_num_nodes(), Global->total);
	MAIN_END
}

static void First(void)
{
	long MyNum, i, lo, hi, sum = 0, bad = 0, *mine;

	LOCK(Global->idlock)
	MyNum = Global->id;
	Global->id++;
	UNLOCK(Global->idlock)

	lo = MyNum * LEN / P;
	hi = (MyNum + 1) * LEN / P;
	for (i = lo; i < hi; i++) {
		if (Global->data[i] != value(i))
			bad++;
		sum += Global->data[i];
	}
	mine = (long *) G_MALLOC(sizeof(long));
	*mine = sum;
	LOCK(Global->idlock)
	Global->part[MyNum] = mine;
	Global->bad += bad;
	UNLOCK(Global->idlock)
	BARRIER(Global->bar, P)
	if (MyNum == 0) {
		for (i = 0; i < P; i++)
			Global->total += *Global->part[i];
	}
	BARRIER(Global->bar, P)
	G_FREE(mine)
}

static void Second(void)
{
	long MyNum;

	LOCK(Global->idlock)
	MyNum = Global->id2;
	Global->id2++;
	UNLOCK(Global->idlock)
	Global->again[MyNum] = MyNum + 1;
}
