#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# run-numa.sh - benchmarks/numabench under every DSM_NUMA policy: the
# threads of one node on two NUMA domains, on their own halves of a shared
# array (own) and with the halves swapping every phase (swap), the array
# initialized by the main thread as a serial program does (first-touch
# puts it all on the first domain); and own with each thread initializing
# its own half (own-init: first-touch places each half on its user's
# domain, interleave half of it elsewhere).
#
# usage: benchmarks/run-numa.sh [BUILDDIR] [numabench options]
#
# Needs two NUMA domains (else it says so and exits 77): on a one-domain
# machine run it in the guest of ../shared/tools/vm, which shares the
# current directory at the same path:
#   cd /work/numa && ../shared/tools/vm/run-in-vm.sh --timeout 1700 --sh \
#       'cd /work/numa && benchmarks/run-numa.sh build'
# ROUNDS (2) rounds of 12 runs of numabench's default 6 phases of 1.5 s:
# about 7 minutes there.
# Prints each run's DSM_NUMA_BENCH line, then one Markdown table per
# variant: time per page swept (mean of the rounds, and their range),
# remote share and the policy's counters (means), with ratios to
# DSM_NUMA=off.
set -u
build=${1:-${TOP_BUILDDIR:-build}}
[ $# -gt 0 ] && shift
bench=$build/benchmarks/numabench
dsmrun=$build/tools/dsmrun/dsmrun
n=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
if [ "$n" -lt 2 ]; then
	echo "run-numa.sh: this machine has one NUMA domain: run it in the guest of ../shared/tools/vm"
	exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
labels="own swap own-init"
# a variant's numabench arguments
args_of() {
	case $1 in
	own-init) echo "own -i parallel" ;;
	*) echo "$1 -i serial" ;;
	esac
}
policies="off first-touch interleave migrate"
rounds=${ROUNDS:-2}
# Every round runs every variant under every policy, the policies in the
# opposite order to the round before: the guest's speed drifts with the
# host's load, and the mean of the rounds cancels a steady drift.
r=0
while [ "$r" -lt "$rounds" ]; do
	r=$((r + 1))
	order=$policies
	[ $((r % 2)) = 0 ] && order=$(echo "$policies" | tr ' ' '\n' | tac | tr '\n' ' ')
	for label in $labels; do
		for policy in $order; do
			DSM_BIND=numa DSM_NUMA=$policy DSM_HEAP_SIZE=64M "$dsmrun" --timeout 300 -n 1 \
				"$bench" $(args_of "$label") "$@" | grep '^DSM_NUMA_BENCH' |
				sed "s/^DSM_NUMA_BENCH /DSM_NUMA_BENCH label=$label round=$r /" | tee -a "$out"
		done
	done
done
for label in $labels; do
	echo
	echo "### $label: $(grep "label=$label " "$out" | head -1 | sed 's/.*init=\([a-z]*\) .*pages=\([0-9]*\) phases=\([0-9]*\).*/\2 pages, \3 phases, \1 initialization/'), mean of $rounds rounds"
	echo
	echo "| DSM_NUMA | ns/page | (min-max) | vs off | remote % | vs off | migrations | replications | freezes |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	grep "label=$label " "$out" | awk -v order="$policies" '
		{
			for (i = 2; i <= NF; i++) {
				split($i, kv, "=")
				v[kv[1]] = kv[2]
			}
			p = v["policy"]
			n[p]++
			t[p] += v["ns_per_page"]
			r[p] += v["remote_pct"]
			m[p] += v["migrations"]
			rep[p] += v["replications"]
			z[p] += v["freezes"]
			if (!(p in lo) || v["ns_per_page"] < lo[p]) lo[p] = v["ns_per_page"]
			if (!(p in hi) || v["ns_per_page"] > hi[p]) hi[p] = v["ns_per_page"]
		}
		END {
			bt = n["off"] ? t["off"] / n["off"] : 0
			br = n["off"] ? r["off"] / n["off"] : 0
			k = split(order, ps, " ")
			for (i = 1; i <= k; i++) {
				p = ps[i]
				if (!n[p])
					continue
				tm = t[p] / n[p]
				rm = r[p] / n[p]
				printf "| %s | %.1f | %.0f-%.0f | %.2f | %.1f | %s | %.0f | %.0f | %.0f |\n", p, tm,
				       lo[p], hi[p], (bt > 0 ? tm / bt : 0), rm,
				       (br > 0 ? sprintf("%.2f", rm / br) : "-"), m[p] / n[p], rep[p] / n[p],
				       z[p] / n[p]
			}
		}'
done
