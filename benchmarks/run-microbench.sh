#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# run-microbench.sh - run the 2-node micro-benchmark and print its table.
#
# usage: benchmarks/run-microbench.sh [BUILDDIR] [-- MICROBENCH-ARGS...]
#
# BUILDDIR is the top of the build tree (where tools/dsmrun/dsmrun and
# benchmarks/microbench were built); by default $TOP_BUILDDIR, else the top
# of the tree this script lives in (an in-tree build).  $DSMRUN and
# $MICROBENCH override the two paths one by one.  Everything after "--"
# goes to microbench (for example: -- -r 7 -s 500).  DSM_CONSISTENCY picks
# the model (libdsm's default: release); the table's first line names it,
# and run-models.sh runs it under all three.
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
for f in "$dsmrun" "$microbench"; do
	if [ ! -x "$f" ]; then
		echo "run-microbench.sh: $f: not found or not executable (build first, or give the build dir: $0 BUILDDIR)" >&2
		exit 1
	fi
done

# Each node's summary (DSM_STATS=1) would interleave with the table.
unset DSM_STATS
exec "$dsmrun" -n 2 "$microbench" "$@"
