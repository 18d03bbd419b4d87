#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# run-microbench.sh - run the 2-node micro-benchmark and print its table,
# then the barrier of 4 nodes (barrierbench) against a TCP round trip.
#
# usage: benchmarks/run-microbench.sh [BUILDDIR] [-- MICROBENCH-ARGS...]
#
# BUILDDIR is the top of the build tree (where tools/dsmrun/dsmrun and
# benchmarks/microbench were built); by default $TOP_BUILDDIR, else the top
# of the tree this script lives in (an in-tree build).  $DSMRUN,
# $MICROBENCH and $BARRIERBENCH override the paths one by one.  Everything
# after "--" goes to microbench (for example: -- -r 7 -s 500).
# DSM_CONSISTENCY picks the model (libdsm's default: release); the table's
# first line names it, and run-models.sh runs it under all three.
# Each node is bound to a core of its own (dsmrun --bind core) when this
# machine has 2 or more and hwloc is built in: a floor and an operation
# then cross CPUs alike, as between machines.  DSM_BENCH_BIND=none (or
# numa) overrides.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
builddir=${TOP_BUILDDIR:-$here/..}
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	builddir=$1
	shift
fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
	shift
fi

dsmrun=${DSMRUN:-$builddir/tools/dsmrun/dsmrun}
microbench=${MICROBENCH:-$builddir/benchmarks/microbench}
barrierbench=${BARRIERBENCH:-$builddir/benchmarks/barrierbench}
for f in "$dsmrun" "$microbench" "$barrierbench"; do
	if [ ! -x "$f" ]; then
		echo "run-microbench.sh: $f: not found or not executable (build first, or give the build dir: $0 BUILDDIR)" >&2
		exit 1
	fi
done

bind=${DSM_BENCH_BIND:-core}
if [ "$bind" = core ] && { [ "$(nproc)" -lt 2 ] ||
	! grep -q '^#define HAVE_HWLOC 1' "$builddir/config.h" 2>/dev/null; }; then
	echo "run-microbench.sh: nodes not bound (one CPU, or dsmrun built without hwloc)" >&2
	bind=none
fi

# Each node's summary (DSM_STATS=1) would interleave with the table.
unset DSM_STATS
"$dsmrun" --bind "$bind" -n 2 "$microbench" "$@"
# The barrier has its own line: microbench is a 2-node program.
"$dsmrun" --bind "$bind" -n 4 "$barrierbench"
