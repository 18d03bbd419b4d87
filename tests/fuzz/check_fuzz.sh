#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_fuzz.sh - run each libFuzzer target (tests/fuzz) for FUZZ_TIME
# seconds (default 25; two targets, under a minute) from the seed corpus in
# the tree, and report executions and coverage.  A crash fails the test and
# leaves the input in the build tree as tests/fuzz/crash-TARGET-*: fix the
# bug, then add the input to tests/fuzz/corpus/TARGET as its regression.
set -u
top_builddir=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_srcdir=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FUZZ_TIME=${FUZZ_TIME:-25}
targets="wire handshake"
passed=0 failed=0

for t in $targets; do
	if [ ! -x "$top_builddir/tests/fuzz/fuzz_$t" ]; then
		echo "SKIP: fuzz_$t not built: configure found no clang that links -fsanitize=fuzzer" \
			"(apt-get install clang, then configure again)"
		exit 77
	fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $targets; do
	bin=$top_builddir/tests/fuzz/fuzz_$t
	seeds=$top_srcdir/tests/fuzz/corpus/$t
	mkdir -p "$work/$t"
	# New inputs go to a scratch directory; the seeds in the tree stay as they are.
	"$bin" -max_total_time="$FUZZ_TIME" -print_final_stats=1 -rss_limit_mb=1024 \
		-artifact_prefix="$top_builddir/tests/fuzz/crash-$t-" \
		"$work/$t" "$seeds" >"$work/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log")
	last=$(grep -E '^#[0-9]+.*cov: ' "$work/$t.log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		echo "PASS: fuzz_$t: ${runs:-?} executions in ${FUZZ_TIME} s (${rate:-?} exec/s)," \
			"cov: ${cov:-?} edges, ft: ${ft:-?}, corpus: ${corp:-?}"
	else
		failed=$((failed + 1))
		echo "FAIL: fuzz_$t exited $rc after ${runs:-?} executions; the input is in" \
			"$top_builddir/tests/fuzz/crash-$t-*"
		grep -E 'ERROR|SUMMARY|#[0-9]+ +in |Test unit written' "$work/$t.log" | head -n 20 | sed 's/^/  | /'
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
