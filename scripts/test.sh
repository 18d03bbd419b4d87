#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test.sh - set up (scripts/setup.sh), then run the whole test suite
# (`make check`) and end with one line "N passed, N failed, N skipped":
# N counts the Check test cases of every test program and the cases of every
# script test (from its last "N passed, N failed" line), and a program that
# skipped (exit 77, saying why) counts as one skipped.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}

"$top/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }
make -C "$build" -j"$(nproc)" check
rc=$?

passed=0 failed=0 skipped=0
for log in $(find "$build/tests" -name '*.log' ! -name test-suite.log); do
	trs=${log%.log}.trs
	res=$(sed -n 's/^:test-result: //p' "$trs" 2>/dev/null | head -1)
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -1)
	# A script test ends with its own "N passed, N failed" line.
	own=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
	if [ "$res" = SKIP ]; then
		skipped=$((skipped + 1))
		# the test's own "SKIP: why" line, else its last line
		why=$(grep -m1 '^SKIP: ' "$log" || grep -v '^$' "$log" | tail -1)
		echo "skipped: ${log#$build/}: $why"
	elif [ -n "$line" ]; then
		checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
		fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
		errs=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
		passed=$((passed + checks - fails - errs))
		failed=$((failed + fails + errs))
	elif [ -n "$own" ]; then
		passed=$((passed + ${own%% passed*}))
		fails=${own#*, }
		fails=${fails%% failed}
		failed=$((failed + fails))
		# A script that failed without counting it is still one failure.
		if [ "$res" != PASS ] && [ "$fails" = 0 ]; then
			failed=$((failed + 1))
		fi
	elif [ "$res" = PASS ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
if [ $rc -ne 0 ] && [ $failed -eq 0 ]; then
	failed=1	# make itself failed (a build error, a crashed test)
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $rc -eq 0 ] && [ $failed -eq 0 ]
