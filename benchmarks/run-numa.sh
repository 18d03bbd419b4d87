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
# 12 runs of numabench's default 6 phases of 1.5 s: about 5 minutes there.
# Prints each run's DSM_NUMA_BENCH line, then one Markdown table per
# variant: time per page swept, remote share and the policy's counters,
# with ratios to DSM_NUMA=off.
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
for label in $labels; do
	for policy in off first-touch interleave migrate; do
		DSM_BIND=numa DSM_NUMA=$policy DSM_HEAP_SIZE=64M "$dsmrun" --timeout 300 -n 1 \
			"$bench" $(args_of "$label") "$@" | grep '^DSM_NUMA_BENCH' |
			sed "s/^DSM_NUMA_BENCH /DSM_NUMA_BENCH label=$label /" | tee -a "$out"
	done
done
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
for label in $labels; do
	echo
	echo "### $label: $(grep "label=$label " "$out" | head -1 | sed 's/.*init=\([a-z]*\) .*pages=\([0-9]*\) phases=\([0-9]*\).*/\2 pages, \3 phases, \1 initialization/')"
	echo
	echo "| DSM_NUMA | ns/page | vs off | remote % | vs off | migrations | replications | freezes |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	base_t=$(grep "label=$label .*policy=off " "$out" | field ns_per_page)
	base_r=$(grep "label=$label .*policy=off " "$out" | field remote_pct)
	for policy in off first-touch interleave migrate; do
		line=$(grep "label=$label .*policy=$policy " "$out")
		t=$(echo "$line" | field ns_per_page)
		r=$(echo "$line" | field remote_pct)
		awk -v p="$policy" -v t="$t" -v r="$r" -v bt="$base_t" -v br="$base_r" \
		    -v m="$(echo "$line" | field migrations)" -v rep="$(echo "$line" | field replications)" \
		    -v z="$(echo "$line" | field freezes)" 'BEGIN {
			printf "| %s | %.1f | %.2f | %.1f | %s | %s | %s | %s |\n", p, t,
			       (bt > 0 ? t / bt : 0), r, (br > 0 ? sprintf("%.2f", r / br) : "-"), m, rep, z
		}'
	done
done
