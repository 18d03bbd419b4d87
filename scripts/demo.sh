#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# demo.sh - the README's main demo: apps/jacobi on 1, 2 and 4 local nodes
# under every consistency model this build supports, as a Markdown table,
# a CSV file and a plot.
#
# usage: scripts/demo.sh [BUILDDIR]
#
# BUILDDIR is the top of the build tree, where tools/dsmrun/dsmrun and
# apps/jacobi were built (default: the top of the tree this script lives in,
# i.e. an in-tree build).  Results go to results/ at the top of the source
# tree (demo.csv, demo.md, demo.png).  Knobs, all optional, from the
# environment:
#   DEMO_NODES="1 2 4"    node counts (speedups are over the first)
#   DEMO_RUNS=3           runs per point; the median run is reported
#   DEMO_ARGS=""          extra jacobi arguments (e.g. "-n 512 -i 50")
#   DEMO_TIMEOUT=300      seconds before one run is killed
#   RESULTS_DIR           where the results go instead
#
# A model counts as supported when a one-node run under it succeeds.
set -u

here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-$here/..}
dsmrun=$builddir/tools/dsmrun/dsmrun
jacobi=$builddir/apps/jacobi
nodes_list=${DEMO_NODES:-1 2 4}
runs=${DEMO_RUNS:-3}
read -r -a jargs <<<"${DEMO_ARGS:-}"
run_timeout=${DEMO_TIMEOUT:-300}
results=${RESULTS_DIR:-$here/../results}

for f in "$dsmrun" "$jacobi"; do
	if [ ! -x "$f" ]; then
		echo "demo.sh: $f: not found or not executable (build first, or give the build dir: $0 BUILDDIR)" >&2
		exit 1
	fi
done
mkdir -p "$results" || exit 1
results=$(cd "$results" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dsm-demo.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# The variables we set per run must not be overridden from outside, and a
# DSM_STATS=1 summary on stderr would only be noise here.
unset DSM_STATS DSM_CONSISTENCY

have_timeout=
command -v timeout >/dev/null 2>&1 && have_timeout=1

# run_jacobi MODEL NODES OUT STATS [JACOBI-ARGS...]: one run; its exit code.
run_jacobi() {
	local model=$1 n=$2 out=$3 stats=$4
	shift 4
	if [ -n "$have_timeout" ]; then
		DSM_CONSISTENCY=$model DSM_STATS=$stats \
			timeout "$run_timeout" "$dsmrun" -n "$n" "$jacobi" "$@" >"$out" 2>&1
	else
		DSM_CONSISTENCY=$model DSM_STATS=$stats \
			"$dsmrun" -n "$n" "$jacobi" "$@" >"$out" 2>&1
	fi
}

# result_field FILE KEY: KEY's value on the DSM_RESULT line of FILE.
result_field() {
	sed -n 's/^.*DSM_RESULT .*[[:space:]]'"$2"'=\([^[:space:]]*\).*$/\1/p' "$1" | tail -n 1
}

# stats_sums FILE: "read_faults write_faults pages_fetched msgs bytes",
# each summed over the nodes of DSM_STATS's JSON array (messages and bytes
# as sent, so each is counted once); "n/a ..." if the file is missing.
stats_sums() {
	if [ ! -s "$1" ]; then
		echo "n/a n/a n/a n/a n/a"
	elif command -v python3 >/dev/null 2>&1; then
		python3 - "$1" <<'PY' || echo "n/a n/a n/a n/a n/a"
import json, sys
nodes = json.load(open(sys.argv[1]))
keys = ("read_faults", "write_faults", "pages_fetched", "msgs_sent", "bytes_sent")
print(" ".join(str(sum(int(n.get(k, 0)) for n in nodes)) for k in keys))
PY
	else
		local k line=
		for k in read_faults write_faults pages_fetched msgs_sent bytes_sent; do
			line="$line $(grep -o "\"$k\"[[:space:]]*:[[:space:]]*[0-9]*" "$1" |
				awk -F: '{ s += $2 } END { printf "%d", s }')"
		done
		echo $line
	fi
}

# ---------------------------------------------------------------- models
models=
for m in sequential release weak; do
	if run_jacobi "$m" 1 "$work/probe-$m.out" "$work/probe-$m.json" -n 64 -i 2 &&
	   [ "$(result_field "$work/probe-$m.out" model)" = "$m" ] &&
	   [ "$(result_field "$work/probe-$m.out" check)" = passed ]; then
		models="$models $m"
	else
		echo "demo.sh: consistency model '$m' not supported by this build (1-node probe failed)"
	fi
done
if [ -z "$models" ]; then
	echo "demo.sh: no consistency model works; the 1-node probe said:" >&2
	cat "$work/probe-sequential.out" >&2
	exit 1
fi
echo "demo.sh: models:$models; nodes: $nodes_list; $runs runs each; jacobi ${jargs[*]:-(default arguments)}"

# ------------------------------------------------------------------ runs
csv=$results/demo.csv
md=$results/demo.md
echo "model,nodes,runs,median_seconds,speedup,read_faults,write_faults,pages_fetched,messages,bytes,check" >"$csv"
failed=0
size=		# SIZE x ITERS, as the first run that printed it says
read -r first_n _ <<<"$nodes_list"

for m in $models; do
	base=nan
	for n in $nodes_list; do
		: >"$work/times"
		passed=0
		for ((r = 1; r <= runs; r++)); do
			out=$work/$m-$n-$r.out
			run_jacobi "$m" "$n" "$out" "$work/$m-$n-$r.json" "${jargs[@]}"
			rc=$?
			secs=$(result_field "$out" seconds)
			[ -z "$size" ] && size=$(result_field "$out" size)
			if [ $rc -eq 0 ] && [ "$(result_field "$out" check)" = passed ]; then
				passed=$((passed + 1))
			else
				echo "demo.sh: $m, $n nodes, run $r failed (exit $rc):" >&2
				tail -n 5 "$out" >&2
			fi
			printf '%s\n' "$m $n $r ${secs:-nan}" >>"$work/times"
			printf '  %-10s %2d nodes  run %d: %s s\n' "$m" "$n" "$r" "${secs:-failed}"
		done
		# The median run (of those that printed a time): its time and stats.
		med=$(grep -v ' nan$' "$work/times" | sort -k4,4g |
			awk '{ line[NR] = $0 } END { if (NR) print line[int((NR + 1) / 2)] }')
		if [ -z "$med" ]; then
			secs=nan
			set -- n/a n/a n/a n/a n/a
		else
			set -- $med
			secs=$4
			set -- $(stats_sums "$work/$m-$n-$3.json")
		fi
		# Speedups are over the first node count's median.
		[ "$n" = "$first_n" ] && base=$secs
		speedup=$(awk -v b="$base" -v s="$secs" \
			'BEGIN { if (b == "nan" || s == "nan" || s + 0 <= 0) print "n/a"; else printf "%.2f", b / s }')
		if [ "$passed" -eq "$runs" ]; then
			check=passed
		else
			check="failed ($((runs - passed))/$runs)"
			failed=1
		fi
		echo "$m,$n,$runs,$secs,$speedup,$1,$2,$3,$4,$5,$check" >>"$csv"
	done
done

# ----------------------------------------------------------------- table
if [ -n "$size" ]; then
	title="jacobi ${size%x*}x${size%x*} grid, ${size#*x} iterations"
else
	title="jacobi ${jargs[*]:-}"
fi
{
	echo "$title on this machine ($(nproc 2>/dev/null || echo '?') cores): median of $runs runs;"
	echo "speedup over the ${first_n}-node run of the same model; counts from DSM_STATS for the whole median run, summed over nodes (messages and bytes as sent)."
	echo
	echo "| model | nodes | median s | speedup | read faults | write faults | pages fetched | messages | bytes | check |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	tail -n +2 "$csv" | awk -F, '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $4, $5, $6, $7, $8, $9, $10, $11 }'
} >"$md"
echo
cat "$md"
echo

# ------------------------------------------------------------------ plot
png=$results/demo.png
plotted=
if ! awk -F, 'NR > 1 && $4 != "nan" { ok = 1 } END { exit !ok }' "$csv"; then
	echo "demo.sh: plot skipped: no run succeeded, nothing to plot"
elif ! command -v gnuplot >/dev/null 2>&1; then
	echo "demo.sh: plot skipped: gnuplot is not installed (apt-get install gnuplot-nox)"
else
	terms=$(gnuplot -e 'set terminal' 2>&1)
	if grep -qw pngcairo <<<"$terms"; then
		term="pngcairo size 1100,450 font 'sans,10'"
	elif grep -qw png <<<"$terms"; then
		term="png size 1100,450"
	else
		term=
		echo "demo.sh: plot skipped: this gnuplot has neither the pngcairo nor the png terminal"
	fi
	if [ -n "$term" ]; then
		gp=$work/demo.gp
		{
			echo "set terminal $term"
			echo "set output '$png'"
			echo "set datafile separator ','"
			echo "set datafile missing 'n/a'"
			echo "set key top left"
			echo "set grid"
			echo "set offsets graph 0.05, graph 0.05, graph 0.05, 0"
			echo "set style data linespoints"
			echo "set pointsize 1.3"
			echo "set xlabel 'nodes'"
			echo "set xtics ($(echo $nodes_list | sed 's/ /, /g'))"
			echo "set multiplot layout 1,2 title '$title: median of $runs runs'"
			echo "set ylabel 'seconds'"
			echo "set yrange [0:*]"
			printf "plot"
			sep=
			for m in $models; do
				printf "%s '%s' using 2:(strcol(1) eq '%s' ? \$4 : NaN) every ::1 pointtype 7 linewidth 2 title '%s'" \
					"$sep" "$csv" "$m" "$m"
				sep=","
			done
			echo
			echo "set ylabel 'messages (all nodes)'"
			printf "plot"
			sep=
			for m in $models; do
				printf "%s '%s' using 2:(strcol(1) eq '%s' ? \$9 : NaN) every ::1 pointtype 7 linewidth 2 title '%s'" \
					"$sep" "$csv" "$m" "$m"
				sep=","
			done
			echo
			echo "unset multiplot"
		} >"$gp"
		if gnuplot "$gp" 2>"$work/gnuplot.err"; then
			plotted=1
		else
			echo "demo.sh: plot failed: $(head -n 3 "$work/gnuplot.err")"
		fi
	fi
fi

echo "table: $md (CSV: $csv)"
if [ -n "$plotted" ]; then
	echo "plot:  $png"
fi
exit $failed
