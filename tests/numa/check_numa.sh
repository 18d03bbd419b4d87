#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_numa.sh - NUMA behaviour that any machine can check, one domain or
# more: DSM_BIND and DSM_NUMA values, the topology in DSM_LOG=info and in
# the DSM_STATS JSON, dsmrun --bind numa|core, DSM_BIND's thread binding,
# benchmarks/numabench's options.
# (check_numa2.sh has what needs two domains.)  Prints PASS:/FAIL: per case
# and ends with "N passed, N failed".
set -uo pipefail
build=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
dsmrun=${DSMRUN:-$build/tools/dsmrun/dsmrun}
prog=$build/tests/numa/t_numa
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# run NAME ENV... -- ARGS...: dsmrun with a 60 s limit; output in $tmp/NAME
run() {
	local name=$1; shift
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" DSM_HEAP_SIZE=64M "$dsmrun" --timeout 60 "$@" >"$tmp/$name" 2>&1
}

grep -q HAVE_HWLOC\ 1 "$build/config.h" 2>/dev/null || {
	echo "SKIP: libdsm was built without hwloc (DSM_NUMA, DSM_BIND and --bind need it)"
	exit 77
}

# Values: a bad one is refused naming its variable; every good one runs.
for v in DSM_BIND=bogus DSM_NUMA=sometimes DSM_NUMA_PERIOD_MS=0 DSM_NUMA_SAMPLE=x; do
	if run bad "$v" -- -n 1 "$prog" affinity; then
		fail "$v was accepted"
	elif grep -q "${v%%=*}" "$tmp/bad"; then
		pass "$v refused, naming ${v%%=*}"
	else
		fail "$v refused without naming ${v%%=*}: $(tail -1 "$tmp/bad")"
	fi
done
for v in first-touch interleave migrate off; do
	if run good DSM_NUMA=$v DSM_BIND=numa -- -n 2 "$prog" affinity; then
		pass "DSM_NUMA=$v DSM_BIND=numa runs on 2 nodes"
	else
		fail "DSM_NUMA=$v DSM_BIND=numa: $(tail -3 "$tmp/good")"
	fi
done

# The topology: DSM_LOG=info and the JSON (node 0's object).
ndom=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
[ "$ndom" -ge 1 ] || ndom=1
if run info DSM_LOG=info -- -n 1 "$prog" affinity &&
	grep -q "NUMA: $ndom NUMA domain" "$tmp/info"; then
	pass "DSM_LOG=info names the $ndom NUMA domain(s): $(grep -o 'NUMA: .*' "$tmp/info" | head -1)"
else
	fail "DSM_LOG=info does not describe $ndom domain(s): $(grep NUMA "$tmp/info" | head -2)"
fi
if run json DSM_STATS="$tmp/stats.json" -- -n 2 "$prog" affinity &&
	grep -q '"numa": {"policy": "off"' "$tmp/stats.json" &&
	grep -q '"numa_replications": 0, "numa_freezes": 0' "$tmp/stats.json"; then
	pass "the DSM_STATS JSON has the topology and the numa_* counters"
else
	fail "the DSM_STATS JSON lacks the topology or counters: $(head -c 600 "$tmp/stats.json" 2>/dev/null)"
fi

# dsmrun --bind numa: node i on domain i mod D (all of domain 0's CPUs here
# when there is one domain).
cpus_of_node() { cat "/sys/devices/system/node/node$1/cpulist" 2>/dev/null; }
if [ -r /sys/devices/system/node/node0/cpulist ]; then
	if run bindnuma -- -n 2 --bind numa "$prog" affinity; then
		ok=1
		doms=($(ls -d /sys/devices/system/node/node[0-9]* | sed 's/.*node//' | sort -n))
		for i in 0 1; do
			want=$(cpus_of_node "${doms[$((i % ${#doms[@]}))]}")
			got=$(sed -n "s/^node $i main cpus //p" "$tmp/bindnuma")
			[ "$got" = "$want" ] || { ok=0; fail "--bind numa: node $i on CPUs '$got', not '$want'"; }
		done
		[ $ok = 1 ] && pass "--bind numa: each node on its domain's CPUs ($(grep -c 'main cpus' "$tmp/bindnuma") nodes)"
	else
		fail "--bind numa: $(tail -3 "$tmp/bindnuma")"
	fi
fi

# dsmrun --bind core: node i on core i mod C (the cores dsmrun may use).
mapfile -t cores < <(for c in $(taskset -cp $$ 2>/dev/null | sed 's/.*: //' | tr ',' '\n' |
	awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }'); do
	cat "/sys/devices/system/cpu/cpu$c/topology/core_cpus_list" 2>/dev/null ||
		cat "/sys/devices/system/cpu/cpu$c/topology/thread_siblings_list"; done | awk '!seen[$0]++')
if [ "${#cores[@]}" -ge 1 ]; then
	if run bindcore -- -n 2 --bind core "$prog" affinity; then
		ok=1
		for i in 0 1; do
			want=${cores[$((i % ${#cores[@]}))]}
			got=$(sed -n "s/^node $i main cpus //p" "$tmp/bindcore")
			[ "$got" = "$want" ] || { ok=0; fail "--bind core: node $i on CPUs '$got', not core '$want'"; }
		done
		[ $ok = 1 ] && pass "--bind core: node 0 on CPUs ${cores[0]}, node 1 on ${cores[$((1 % ${#cores[@]}))]}"
	else
		fail "--bind core: $(tail -3 "$tmp/bindcore")"
	fi
	# DSM_BIND=core: the main thread is thread 0, dsm_bind_thread(1) the next core.
	if run bindthr DSM_BIND=core -- -n 1 "$prog" affinity; then
		m=$(sed -n 's/^node 0 main cpus //p' "$tmp/bindthr")
		t=$(sed -n 's/^node 0 thread1 cpus //p' "$tmp/bindthr")
		if [ "$m" = "${cores[0]}" ] && [ "$t" = "${cores[$((1 % ${#cores[@]}))]}" ]; then
			pass "DSM_BIND=core: main thread on CPUs $m, thread 1 on $t"
		else
			fail "DSM_BIND=core: main thread on '$m', thread 1 on '$t' (cores: ${cores[*]})"
		fi
	else
		fail "DSM_BIND=core: $(tail -3 "$tmp/bindthr")"
	fi
fi
if "$dsmrun" --bind numa --hosts a,b "$prog" affinity >"$tmp/hosts" 2>&1; then
	fail "--bind with --hosts was accepted"
elif grep -q -- "--bind" "$tmp/hosts"; then
	pass "--bind with --hosts refused: $(head -1 "$tmp/hosts")"
else
	fail "--bind with --hosts refused without naming --bind: $(head -1 "$tmp/hosts")"
fi
if "$dsmrun" -n 1 --bind sideways "$prog" affinity >"$tmp/bad" 2>&1; then
	fail "--bind sideways was accepted"
else
	pass "--bind sideways refused: $(head -1 "$tmp/bad")"
fi

# benchmarks/numabench: both initializations run (one domain: nothing is
# remote); a bad -i is refused.
bench=$build/benchmarks/numabench
for init in serial parallel; do
	if run bench$init DSM_BIND=numa DSM_NUMA=first-touch -- -n 1 "$bench" own -i $init \
		-p 16 -f 2 -t 0.2 && grep -q "^DSM_NUMA_BENCH variant=own init=$init " "$tmp/bench$init"; then
		pass "numabench own -i $init: $(grep -o 'ns_per_page=[^ ]* remote_pct=[^ ]*' "$tmp/bench$init")"
	else
		fail "numabench own -i $init: $(tail -2 "$tmp/bench$init")"
	fi
done
if run benchbad -- -n 1 "$bench" own -i sideways; then
	fail "numabench -i sideways was accepted"
elif grep -q "usage: numabench" "$tmp/benchbad"; then
	pass "numabench -i sideways refused with the usage"
else
	fail "numabench -i sideways refused without the usage: $(tail -1 "$tmp/benchbad")"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
