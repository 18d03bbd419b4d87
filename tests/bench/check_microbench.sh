#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_microbench.sh - benchmarks/run-microbench.sh end to end, as the
# README gives it, under each consistency model, at a tiny size: it must
# exit 0 and print every floor and operation row with a number, and the
# barrier of 4 nodes.  (Under sequential consistency, whose homes are dealt
# page by page, microbench once could not find pages for its pools and
# printed no table at all.)  With 2 CPUs or more and hwloc, the nodes must
# run bound, one per core, and the table must say so.
set -uo pipefail

top_build=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_src=${TOP_SRCDIR:-$top_build/..}
script=$top_src/benchmarks/run-microbench.sh
passed=0 failed=0

if [ ! -x "$top_build/benchmarks/microbench" ] || [ ! -r "$script" ]; then
	echo "FAIL: microbench was not built, or $script is missing"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_microbench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
show() { sed 's/^/  | /' "$@"; }

bound=0
if [ "$(nproc)" -ge 2 ] && grep -q '^#define HAVE_HWLOC 1' "$top_build/config.h" 2>/dev/null; then
	bound=1
fi

for model in sequential release weak; do
	DSM_CONSISTENCY=$model sh "$script" "$top_build" -- -r 1 -s 20 >"$tmp/o" 2>"$tmp/e"
	rc=$?
	if [ "$rc" != 0 ]; then
		fail "$model: exit $rc"
		show "$tmp/e" "$tmp/o"
		continue
	fi
	# Rows a, d, e and f exist under every model, each with a median.
	missing=
	for op in a d e f; do
		grep -Eq "^$op\. .* [0-9]+\.[0-9]+ +[0-9]+\.[0-9]+ " "$tmp/o" || missing="$missing $op"
	done
	for fl in "SIGSEGV \\+ mprotect" "the same, a store to a read-only page" \
		  "TCP round trip, 64 B" "TCP round trip, 4 KiB"; do
		grep -Eq "^$fl.* [0-9]+\.[0-9]+ +[0-9]+\.[0-9]+$" "$tmp/o" || missing="$missing '$fl'"
	done
	# The targets, each a ratio with its verdict.
	targets="a\\. remote read fault / \\(fault \\+ tcp4k\\)|e\\. lock, manager remote / tcp64"
	[ "$model" = sequential ] || targets="$targets|d\\. twin write / wfault"
	n=$(grep -Ec "^  ($targets) +[0-9]+\\.[0-9]+ +\\(target <= [0-9.]+: (met|not met)\\)$" "$tmp/o")
	[ "$n" = "$(echo "$targets" | tr '|' '\n' | wc -l)" ] || missing="$missing targets($n)"
	grep -Eq "^DSM_BARRIER_BENCH nodes=4 model=$model .*ratio=[0-9.]+" "$tmp/o" ||
		missing="$missing barrierbench"
	grep -q "^ERROR" "$tmp/o" && missing="$missing (ERROR line)"
	if [ -n "$missing" ]; then
		fail "$model: no number for:$missing"
		show "$tmp/o" "$tmp/e"
	elif [ "$bound" = 1 ] && ! grep -q "node 1 bound to one CPU" "$tmp/o"; then
		fail "$model: 2 CPUs and hwloc, but the table does not say node 1 is bound"
		show "$tmp/o"
	else
		pass "$model: every floor and operation measured, barrier of 4 too$([ "$bound" = 1 ] && echo ", nodes bound")"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
