#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# run-netem-scaling.sh - does an app's time on N nodes grow with network
# latency as its messages say it should?
#
# usage: benchmarks/run-netem-scaling.sh [BUILDDIR] [-n NODES] [-d DELAY]
#            [-m MODEL] [-r RUNS] [-a APPS] [-s SIZE] [-o OUTDIR]
#
# Runs the suite (dsm-bench, at SIZE: default or small) three times: on 1
# node; on NODES nodes (4), each in its own network namespace (dsm-bench
# --netns); and the same with DELAY (100us) of one-way latency on every
# node's link (tc netem).  Needs root, and a kernel with netem (else exit
# 77, saying so, before any run).  Then, per app, one Markdown row:
#
#   msgs/s compute  messages received by all nodes, per second of the
#                   1-node run (the app's work without communication):
#                   how much talking the work needs;
#   extra s         the N-node time with the delay minus without it;
#   predicted s     messages / NODES x DELAY: what the delay would cost if
#                   every message a node receives were waited for one at
#                   a time, with nothing overlapping it (each node receives
#                   about messages / NODES, each one DELAY late);
#   extra/predicted below 1: messages overlap or arrive while the node
#                   computes (runs of pages in one reply, requests in
#                   flight together); near 1: the node waits for each; a
#                   little above 1: one wait spans several hops (a request
#                   forwarded to the owner under sequential consistency, a
#                   barrier's tree); far above: the delay costs more than
#                   its messages (reordering, timeouts, retransmission), a
#                   protocol problem.
#
# Messages do not vary from run to run; the times are medians of RUNS (3).
#
# Where the kernel has no netem (sch_netem), run it in the guest of
# ../shared/tools/vm, which has: there code runs 10-50 x slower, so give
# -s small and a delay of a millisecond or more, which then outweighs the
# emulated CPU's noise, e.g.
#   run-in-vm.sh --smp 2 --sh 'benchmarks/run-netem-scaling.sh build -s small -d 2ms -o out'
# (the current directory is shared with the guest; its /tmp is not).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${TOP_BUILDDIR:-$here/..}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	build=$1
	shift
fi
nodes=4 delay=100us model=release runs=3 apps= size=default out=
while getopts "n:d:m:r:a:s:o:" opt; do
	case $opt in
	n) nodes=$OPTARG ;;
	d) delay=$OPTARG ;;
	m) model=$OPTARG ;;
	r) runs=$OPTARG ;;
	a) apps=$OPTARG ;;
	s) size=$OPTARG ;;
	o) out=$OPTARG ;;
	*) echo "usage: $0 [BUILDDIR] [-n NODES] [-d DELAY] [-m MODEL] [-r RUNS] [-a APPS] [-s SIZE] [-o OUTDIR]" >&2
	   exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "run-netem-scaling.sh: needs root (network namespaces and tc netem)" >&2
	exit 77
fi
case $delay in
*us) delay_s=$(awk -v d="${delay%us}" 'BEGIN { print d / 1e6 }') ;;
*ms) delay_s=$(awk -v d="${delay%ms}" 'BEGIN { print d / 1e3 }') ;;
*) echo "run-netem-scaling.sh: -d $delay: give microseconds or milliseconds (100us, 1ms)" >&2
   exit 2 ;;
esac
bench=$build/benchmarks/dsm-bench
[ -x "$bench" ] || { echo "run-netem-scaling.sh: $bench: not built" >&2; exit 1; }

# Before minutes of runs: can this kernel delay a link at all?
# shellcheck source=netns-lib.sh
. "$here/netns-lib.sh"
probe=nsp$$
trap 'netns_cleanup "$probe"' EXIT
rc=0
netns_setup "$probe" 1 10.253.0 "$delay" || rc=$?
netns_cleanup "$probe"
trap - EXIT
case $rc in
0) ;;
3) echo "run-netem-scaling.sh: $NETNS_ERROR (run it in ../shared/tools/vm's guest: see the top of this script)" >&2
   exit 77 ;;
*) echo "run-netem-scaling.sh: $NETNS_ERROR" >&2
   exit 1 ;;
esac
[ -n "$out" ] || out=$(mktemp -d)
common=(--build "$build" --models "$model" --runs "$runs" --size "$size")
[ -n "$apps" ] && common+=(--apps "$apps")

"$bench" "${common[@]}" --nodes 1 --out "$out/one" >/dev/null
"$bench" "${common[@]}" --nodes "$nodes" --netns --out "$out/flat" >/dev/null
"$bench" "${common[@]}" --nodes "$nodes" --netns --delay "$delay" --out "$out/delay" >/dev/null

echo "### $nodes nodes ($model, $size sizes), each in its own network namespace: $delay one-way delay against none"
echo
echo "| app | 1 node s | $nodes nodes s | with $delay s | messages | msgs/s compute | extra s | predicted s | extra/predicted |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
# suite.csv: app,model,...,nodes(5),...,median_seconds(10),...,msgs_recv(24)
awk -F, -v n="$nodes" -v d="$delay_s" '
	FNR == 1 { file++; next }
	$14 != "passed" { bad[$1] = 1 }
	file == 1 { one[$1] = $10; order[++apps] = $1 }
	file == 2 { flat[$1] = $10 }
	file == 3 { del[$1] = $10; msgs[$1] = $24 }
	END {
		for (i = 1; i <= apps; i++) {
			a = order[i]
			if (bad[a] || !(a in flat) || !(a in del)) {
				printf "| %s | failed or missing: see the runs logs |||||||| \n", a
				continue
			}
			extra = del[a] - flat[a]
			pred = msgs[a] / n * d
			printf "| %s | %.3f | %.3f | %.3f | %d | %.0f | %.3f | %.3f | %.2f |\n", a,
			       one[a], flat[a], del[a], msgs[a], msgs[a] / one[a], extra, pred,
			       (pred > 0 ? extra / pred : 0)
		}
	}' "$out/one/suite.csv" "$out/flat/suite.csv" "$out/delay/suite.csv"
echo
echo "(runs and logs: $out)"
