#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# run-netem-scaling.sh - does an app's time on N nodes grow with network
# latency as its messages say it should?
#
# usage: benchmarks/run-netem-scaling.sh [BUILDDIR] [-n NODES] [-d DELAY]
#            [-m MODEL] [-r RUNS] [-a APPS] [-o OUTDIR]
#
# Runs the suite (dsm-bench, default sizes) three times: on 1 node; on
# NODES nodes (4), each in its own network namespace (dsm-bench --netns);
# and the same with DELAY (100us) of one-way latency on every node's link
# (tc netem).  Needs root.  Then, per app, one Markdown row:
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
#                   computes; near 1: the node waits for each; above 1: the
#                   delay costs more than its messages (reordering,
#                   timeouts, retransmission), a protocol problem.
#
# Messages do not vary from run to run; the times are medians of RUNS (3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${TOP_BUILDDIR:-$here/..}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	build=$1
	shift
fi
nodes=4 delay=100us model=release runs=3 apps= out=
while getopts "n:d:m:r:a:o:" opt; do
	case $opt in
	n) nodes=$OPTARG ;;
	d) delay=$OPTARG ;;
	m) model=$OPTARG ;;
	r) runs=$OPTARG ;;
	a) apps=$OPTARG ;;
	o) out=$OPTARG ;;
	*) echo "usage: $0 [BUILDDIR] [-n NODES] [-d DELAY] [-m MODEL] [-r RUNS] [-a APPS] [-o OUTDIR]" >&2
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
[ -n "$out" ] || out=$(mktemp -d)
common=(--build "$build" --models "$model" --runs "$runs")
[ -n "$apps" ] && common+=(--apps "$apps")

"$bench" "${common[@]}" --nodes 1 --out "$out/one" >/dev/null
"$bench" "${common[@]}" --nodes "$nodes" --netns --out "$out/flat" >/dev/null
"$bench" "${common[@]}" --nodes "$nodes" --netns --delay "$delay" --out "$out/delay" >/dev/null

echo "### $nodes nodes ($model), each in its own network namespace: $delay one-way delay against none"
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
