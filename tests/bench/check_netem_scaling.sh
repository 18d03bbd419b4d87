#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_netem_scaling.sh - benchmarks/run-netem-scaling.sh end to end, as
# the README gives it for the guest: jacobi at its small size on 1 node,
# then on 4 nodes in network namespaces without and with a netem delay of
# 2 ms.  Its row must give every figure as a number, with messages, and a
# delay run slower than the flat one by a good part of what the delay
# predicts (at least a tenth: with no delay on the links, or one that
# never reached them, the two runs take the same time).  Needs root and a
# kernel with sch_netem: elsewhere (this project's CI host) it skips with
# exit 77, and runs in the guest of ../shared/tools/vm
# (scripts/guest-tests.sh).
set -uo pipefail

top_build=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_src=${TOP_SRCDIR:-$top_build/..}
script=$top_src/benchmarks/run-netem-scaling.sh

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: network namespaces and tc netem need root"
	exit 77
fi
if [ ! -x "$top_build/benchmarks/dsm-bench" ] || [ ! -r "$script" ]; then
	echo "FAIL: dsm-bench was not built, or $script is missing"
	echo "0 passed, 1 failed"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_netem_scaling.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

bash "$script" "$top_build" -n 4 -d 2ms -r 1 -s small -a jacobi -o "$tmp/out" >"$tmp/o" 2>"$tmp/e"
rc=$?
if [ "$rc" = 77 ]; then
	echo "SKIP: $(tail -1 "$tmp/e")"
	exit 77
fi
# | jacobi | 1 node s | 4 nodes s | with 2ms s | messages | msgs/s | extra s | predicted s | ratio |
row=$(grep '^| jacobi |' "$tmp/o")
verdict=$(echo "$row" | awk -F'|' '
	function num(x) { return x ~ /^ *-?[0-9]+(\.[0-9]+)? *$/ }
	{
		for (i = 3; i <= 10; i++)
			if (!num($i)) { print "column " i - 1 " is not a number"; exit }
		if ($6 + 0 <= 0) { print "no messages counted"; exit }
		if ($9 + 0 <= 0) { print "no time predicted"; exit }
		if ($8 + 0 < ($9 + 0) / 10) {
			printf "the delay added %.3f s where it predicts %.3f s: was it applied?\n", $8, $9
			exit
		}
		print "ok"
	}')
if [ "$rc" = 0 ] && [ "$verdict" = ok ]; then
	echo "PASS: run-netem-scaling.sh, jacobi on 4 nodes with 2 ms: $row"
	echo "1 passed, 0 failed"
	exit 0
fi
echo "FAIL: run-netem-scaling.sh exit $rc: ${verdict:-no jacobi row}"
sed 's/^/  | /' "$tmp/o" "$tmp/e"
echo "0 passed, 1 failed"
exit 1
