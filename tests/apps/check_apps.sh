#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# check_apps.sh - every app of the suite passes its own check at its small
# size on 1, 2 and 4 nodes under every consistency model, and with two
# application threads per node on 2 nodes.
#
# The apps and their small arguments come from benchmarks/suite.conf (the
# table dsm-bench uses too), so an app added there is tested here.  A run
# passes when the job exits 0 and node 0's DSM_RESULT line says
# check=passed for the right node count and model; anything else prints the
# run's output.  The last line, "N passed, N failed", is what
# scripts/test.sh counts.
#
# Environment (make check sets them): DSMRUN, TOP_BUILDDIR, TOP_SRCDIR.
set -u

dsmrun=${DSMRUN:?DSMRUN is not set (run through make check)}
apps=${TOP_BUILDDIR:?TOP_BUILDDIR is not set}/apps
conf=${TOP_SRCDIR:?TOP_SRCDIR is not set}/benchmarks/suite.conf
models="sequential release weak"
timeout=${APPS_TIMEOUT:-120}
passed=0 failed=0

# run APP NODES MODEL THREADS ARGS...: one job, judged by its result line.
run() {
	local app=$1 n=$2 model=$3 threads=$4 out rc line what
	shift 4
	what="$app -n $n, $model, $threads thread(s): $app $*"
	out=$(DSM_CONSISTENCY=$model timeout "$timeout" "$dsmrun" -n "$n" \
		"$apps/$app" -t "$threads" "$@" 2>&1)
	rc=$?
	line=$(grep '^DSM_RESULT ' <<<"$out" | tail -1)
	if [ $rc -eq 0 ] && grep -q " app=$app nodes=$n model=$model .*threads=$threads .*check=passed" \
		<<<"$line"; then
		passed=$((passed + 1))
		echo "PASS: $what"
	else
		failed=$((failed + 1))
		echo "FAIL: $what (exit $rc${line:+, $line})"
		sed 's/^/  | /' <<<"$out" | tail -20
	fi
}

[ -r "$conf" ] || { echo "check_apps.sh: $conf: not readable"; exit 99; }
while IFS=$'\t' read -r app small _; do
	case $app in '' | '#'*) continue ;; esac
	if [ ! -x "$apps/$app" ]; then
		failed=$((failed + 1))
		echo "FAIL: $app is in suite.conf but $apps/$app was not built"
		continue
	fi
	read -r -a args <<<"$small"
	for model in $models; do
		for n in 1 2 4; do
			run "$app" "$n" "$model" 1 "${args[@]}"
		done
		run "$app" 2 "$model" 2 "${args[@]}"
	done
done <"$conf"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $((passed + failed)) -gt 0 ]
