#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# run-models.sh - the benchmarks under each consistency model, side by side.
#
# usage: benchmarks/run-models.sh [BUILDDIR]
#
# 1. benchmarks/kernels falseshare and locks on $NODES nodes (4) under
#    every model in $MODELS (sequential release weak), $RUNS times each
#    (5; run r of every model before run r + 1 of any, so a drift in the
#    machine's load reaches all models alike).  One Markdown table per
#    kernel: the median time and the median of each counter (sums over the
#    nodes, from the kernel's DSM_KERNEL_STATS line), with ratios to
#    sequential consistency.  The counters should hardly move from run to
#    run; any that moves by more than 1% is named under the table.
# 2. benchmarks/microbench (2 nodes) under every model, one table each.
# 3. benchmarks/diffbench: diff creation per 4 KiB page against memcmp of
#    the same page, in the same run.
#
# BUILDDIR is the top of the build tree; by default $TOP_BUILDDIR, else the
# top of the tree this script lives in.  Environment: RUNS, NODES, MODELS,
# FALSESHARE_ARGS, LOCKS_ARGS (extra kernel options), MICROBENCH_ARGS (for
# example "-r 7 -s 250"), DIFFBENCH_ARGS, JOB_TIMEOUT (seconds per job,
# 600), SKIP (words among: kernels microbench diffbench).  Exit status: 0,
# or 1 if a job failed (its output is shown; the tables leave it out).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
builddir=${TOP_BUILDDIR:-$here/..}
if [ $# -gt 0 ]; then
	builddir=$1
	shift
fi
if [ $# -gt 0 ]; then
	echo "usage: $0 [BUILDDIR]" >&2
	exit 2
fi

RUNS=${RUNS:-5}
NODES=${NODES:-4}
MODELS=${MODELS:-sequential release weak}
JOB_TIMEOUT=${JOB_TIMEOUT:-600}
SKIP=${SKIP:-}

dsmrun=$builddir/tools/dsmrun/dsmrun
kernels=$builddir/benchmarks/kernels
microbench=$builddir/benchmarks/microbench
diffbench=$builddir/benchmarks/diffbench
for f in "$dsmrun" "$kernels" "$microbench" "$diffbench"; do
	if [ ! -x "$f" ]; then
		echo "run-models.sh: $f: not found or not executable (build first: make benchmarks/kernels benchmarks/microbench benchmarks/diffbench)" >&2
		exit 1
	fi
done

# Each node's summary (DSM_STATS=1) would interleave with the output.
unset DSM_STATS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

skipped() {
	case " $SKIP " in *" $1 "*) return 0 ;; esac
	return 1
}

# Run one job; its stdout in $1, its stderr shown on failure.
job() {
	out=$1
	shift
	rc=0
	"$@" >"$out" 2>"$out.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "run-models.sh: FAILED (exit $rc): $*" >&2
		cat "$out" "$out.err" >&2
		failed=1
		rm -f "$out"
		return 1
	fi
	return 0
}

# field FILE NAME: NAME=VALUE from the DSM_KERNEL lines of FILE.
field() {
	sed -n "s/^DSM_KERNEL.* $2=\([0-9.]*\).*/\1/p" "$1"
}

# Median of the numbers on stdin (mean of the middle two for an even count).
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "";
		      else if (NR % 2) printf "%.10g\n", v[(NR + 1) / 2];
		      else printf "%.10g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# a / b with 2 decimals, or "-".
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-";
		else printf "%.2f\n", a / b }'
}

# The column of the table for counter NAME: its median over the runs.
COUNTERS="msgs bytes read_faults write_faults pages_fetched twins diffs diff_bytes notices invalidations"

echo "# libdsm: benchmarks per consistency model"
echo
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; $(date -u '+%Y-%m-%d %H:%M UTC')"

if ! skipped kernels; then
	for kern in falseshare locks; do
		case $kern in
		falseshare) kargs=${FALSESHARE_ARGS:-} ;;
		locks) kargs=${LOCKS_ARGS:-} ;;
		esac
		r=1
		while [ "$r" -le "$RUNS" ]; do
			for m in $MODELS; do
				# shellcheck disable=SC2086 # kargs: words on purpose
				job "$tmp/$kern.$m.$r" env DSM_CONSISTENCY="$m" \
					"$dsmrun" -n "$NODES" --timeout "$JOB_TIMEOUT" \
					"$kernels" "$kern" $kargs || true
			done
			r=$((r + 1))
		done

		echo
		echo "## $kern, $NODES nodes, median of $RUNS runs${kargs:+ (options: $kargs)}"
		echo
		echo "| model | median s | × seq time | messages | × seq msgs | bytes | × seq bytes | read faults | write faults | fetched | twins | diffs | diff bytes | notices | invalidations |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		notes=""
		seq_s="" seq_msgs="" seq_bytes=""
		for m in $MODELS; do
			files=""
			for f in "$tmp/$kern.$m".*; do
				case $f in *.err | *'*') ;; *) files="$files$f
" ;; esac
			done
			files=$(printf '%s' "$files")
			if [ -z "$files" ]; then
				echo "| $m | failed | | | | | | | | | | | | | |"
				continue
			fi
			n=$(echo "$files" | wc -l)
			# shellcheck disable=SC2086
			s=$(for f in $files; do field "$f" seconds; done | median)
			row="| $m | $(printf '%.3f' "$s")"
			varies=""
			for c in $COUNTERS; do
				# shellcheck disable=SC2086
				vals=$(for f in $files; do field "$f" "$c"; done)
				med=$(echo "$vals" | median)
				eval "med_$c=\$(printf '%.0f' \"\$med\")"
				# Say so if a counter moved by more than 1% between runs.
				spread=$(echo "$vals" | awk -v med="$med" -v c="$c" '
					NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 }
					END { if (med > 0 && (hi - lo) > 0.01 * med)
						printf "%s %s..%s (%.1f%%)", c, lo, hi, 100 * (hi - lo) / med }')
				if [ -n "$spread" ]; then
					varies="${varies:+$varies, }$spread"
				fi
			done
			# shellcheck disable=SC2086
			srange=$(for f in $files; do field "$f" seconds; done | sort -g |
				awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f s", lo, hi }')
			if [ -z "$varies" ]; then
				varies="within 1% of the median in every run"
			else
				varies="that vary by more than 1%: $varies"
			fi
			notes="$notes
- $m: $n runs, time $srange; counters $varies"
			# shellcheck disable=SC2154 # med_*: set by the eval above
			if [ "$m" = sequential ]; then
				seq_s=$s seq_msgs=$med_msgs seq_bytes=$med_bytes
			fi
			# shellcheck disable=SC2154 # med_*: set by the eval above
			printf '%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
				"$row" "$(ratio "$s" "$seq_s")" \
				"$med_msgs" "$(ratio "$med_msgs" "$seq_msgs")" \
				"$med_bytes" "$(ratio "$med_bytes" "$seq_bytes")" \
				"$med_read_faults" "$med_write_faults" "$med_pages_fetched" \
				"$med_twins" "$med_diffs" "$med_diff_bytes" "$med_notices" \
				"$med_invalidations"
		done
		echo
		echo "Counters are sums over the nodes for the timed region (messages and bytes as received)."
		echo "× seq: ratio to sequential consistency in the same table.${notes}"
	done
fi

if ! skipped microbench; then
	for m in $MODELS; do
		echo
		echo "## microbench, 2 nodes, DSM_CONSISTENCY=$m"
		echo
		# shellcheck disable=SC2086
		if job "$tmp/mb.$m" env DSM_CONSISTENCY="$m" "$dsmrun" -n 2 \
			--timeout "$JOB_TIMEOUT" "$microbench" ${MICROBENCH_ARGS:-}; then
			echo '```'
			cat "$tmp/mb.$m"
			echo '```'
		fi
	done
fi

if ! skipped diffbench; then
	echo
	echo "## diffbench: diff of a 4 KiB page against memcmp of the same page"
	echo
	# shellcheck disable=SC2086
	if job "$tmp/diffbench" "$diffbench" ${DIFFBENCH_ARGS:-}; then
		echo '```'
		cat "$tmp/diffbench"
		echo '```'
	fi
fi

exit "$failed"
