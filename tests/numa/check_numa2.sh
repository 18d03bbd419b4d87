#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_numa2.sh - NUMA behaviour that needs two domains, checked with
# move_pages(2)'s query mode (t_numa.c): first-touch and interleave
# placement, a page migrated to the one domain that uses it, a read-only
# replica on each domain's node, a page two domains fight over frozen, a
# page another domain takes over for stretches followed at once, unfrozen;
# numabench's serial and parallel initializations under first-touch.
# Skips (exit 77) on a machine with one NUMA domain; runs for real in the
# guest of ../shared/tools/vm (scripts/guest-tests.sh).  Prints PASS:/FAIL:
# per case and ends with "N passed, N failed".
set -uo pipefail
build=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
dsmrun=${DSMRUN:-$build/tools/dsmrun/dsmrun}
prog=$build/tests/numa/t_numa
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | sed 's/.*node//' | tr '\n' ' ')
set -- $nodes
if [ $# -lt 2 ]; then
	echo "SKIP: this machine has one NUMA domain (/sys/devices/system/node lists node${nodes% } only); these tests run in the guest of ../shared/tools/vm (scripts/guest-tests.sh)"
	exit 77
fi
grep -q HAVE_HWLOC\ 1 "$build/config.h" 2>/dev/null || {
	echo "SKIP: libdsm was built without hwloc (DSM_NUMA needs it)"
	exit 77
}

# case NAME ENV... -- DSMRUN-ARGS...: t_numa's own PASS/FAIL lines count.
case_() {
	local name=$1; shift
	local envs=() rc p f
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	echo "--- $name"
	env "${envs[@]}" DSM_HEAP_SIZE=16M "$dsmrun" --timeout 100 "$@" >"$tmp/out" 2>&1
	rc=$?
	cat "$tmp/out"
	p=$(grep -c '^PASS: ' "$tmp/out") f=$(grep -c '^FAIL: ' "$tmp/out")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL: $name: exit $rc"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f))
}

case_ first-touch DSM_NUMA=first-touch DSM_BIND=numa -- -n 1 "$prog" first-touch 32
case_ interleave DSM_NUMA=interleave -- -n 1 "$prog" interleave 32
case_ migrate DSM_NUMA=migrate DSM_BIND=numa DSM_STATS=1 -- -n 1 "$prog" migrate
case_ freeze DSM_NUMA=migrate DSM_BIND=numa DSM_STATS=1 -- -n 1 "$prog" freeze
case_ takeover DSM_NUMA=migrate DSM_BIND=numa DSM_STATS=1 -- -n 1 "$prog" takeover
case_ replicate DSM_NUMA=migrate DSM_STATS=1 -- -n 2 --bind numa "$prog" replicate

# benchmarks/numabench's initializations under first-touch: serial (the
# main thread) puts the array on the first domain, so half of the pages
# are remote for the thread on the second; parallel (each thread its own
# half) leaves none remote.
bench_() {
	local init=$1 lo=$2 hi=$3 r
	echo "--- numabench -i $init"
	DSM_BIND=numa DSM_NUMA=first-touch DSM_HEAP_SIZE=16M "$dsmrun" --timeout 100 -n 1 \
		"$build/benchmarks/numabench" own -i "$init" -p 32 -f 1 -t 0.3 >"$tmp/out" 2>&1
	cat "$tmp/out"
	r=$(sed -n 's/.* remote_pct=\([0-9.]*\).*/\1/p' "$tmp/out")
	if [ -n "$r" ] && awk -v r="$r" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(r >= lo && r <= hi) }'; then
		echo "PASS: numabench -i $init, first-touch: remote_pct $r, within [$lo, $hi]"
		passed=$((passed + 1))
	else
		echo "FAIL: numabench -i $init, first-touch: remote_pct '$r', not within [$lo, $hi]"
		failed=$((failed + 1))
	fi
}
bench_ serial 40 60
bench_ parallel 0 5

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
