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

# Each node's summary (DSM_STATS=1) would interleave with the table.
unset DSM_STATS
"$dsmrun" -n 2 "$microbench" "$@"
# The barrier has its own line: microbench is a 2-node program.
"$dsmrun" -n 4 "$barrierbench"
