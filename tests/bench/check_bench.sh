#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_bench.sh - the suite runner dsm-bench(1) end to end, on a tiny suite
# (jacobi, small size, sequential consistency, 1 and 2 nodes, 2 runs):
# it must exit 0 and leave the CSV files, the Markdown table and PNG plots.
# Also: a bad option is one line and exit 2; an unsupported model is
# skipped, not fatal; with root, the --netns mode runs and leaves no
# namespace behind, also when it is interrupted.
#
# Skips (exit 77) only when gnuplot is missing: the plots are half the job.
set -uo pipefail

top_build=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bench=$top_build/benchmarks/dsm-bench
passed=0 failed=0

command -v gnuplot >/dev/null 2>&1 || { echo "SKIP: gnuplot is not installed (apt-get install gnuplot-nox)"; exit 77; }
if [ ! -x "$bench" ]; then
	echo "FAIL: $bench was not built"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# show FILE...: a failure's evidence, indented.
show() { sed 's/^/  | /' "$@"; }

# csv_col CSV NAME: the column number of NAME in CSV's header (empty if none).
csv_col() {
	head -n 1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1
}

# ------------------------------------------------ a bad option, a bad value
"$bench" --build "$top_build" --no-such-option >"$tmp/o" 2>"$tmp/e"
rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && [ ! -s "$tmp/o" ] && grep -q "no-such-option" "$tmp/e"; then
	pass "unknown option: one line, exit 2: $(cat "$tmp/e")"
else
	fail "unknown option: exit $rc, stderr:"; show "$tmp/e" "$tmp/o"
fi
"$bench" --build "$top_build" --models sequential,eventual >"$tmp/o" 2>"$tmp/e"
rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "eventual" "$tmp/e"; then
	pass "unknown model: one line, exit 2: $(cat "$tmp/e")"
else
	fail "unknown model: exit $rc, stderr:"; show "$tmp/e"
fi

# ------------------------------------------------------------ the tiny suite
out=$tmp/res
"$bench" --build "$top_build" --apps jacobi --size small --models sequential \
	--nodes 1,2 --runs 2 --timeout 120 --out "$out" >"$tmp/o" 2>"$tmp/e"
rc=$?
if [ "$rc" = 0 ]; then
	pass "tiny suite: exit 0"
else
	fail "tiny suite: exit $rc"; show "$tmp/e"
fi
csv=$out/suite.csv
want="app,model,transport,network,nodes,threads,size,runs,passed_runs,median_seconds,min_seconds,max_seconds,speedup,check"
if [ -s "$csv" ] && [ "$(head -n 1 "$csv" | cut -d, -f1-14)" = "$want" ] && [ -n "$(csv_col "$csv" msgs_sent)" ]; then
	pass "suite.csv header: $want,<DSM_STATS counters>"
else
	fail "suite.csv header"; [ -f "$csv" ] && show "$csv"
fi
if [ -s "$csv" ]; then
	c_msgs=$(csv_col "$csv" msgs_sent)
	rows=$(awk -F, -v m="${c_msgs:-0}" 'NR > 1 && $1 == "jacobi" && $2 == "sequential" && $14 == "passed" &&
		$8 == 2 && $9 == 2 && $10 + 0 > 0 && (($5 == 1 && $13 == "1.00") || ($5 == 2 && $m + 0 > 0)) { n++ }
		END { print n + 0 }' "$csv")
	if [ "$rows" = 2 ] && [ "$(wc -l <"$csv")" = 3 ]; then
		pass "suite.csv: the 1- and 2-node rows passed, 2 runs each, messages on 2 nodes"
	else
		fail "suite.csv rows ($rows good of $(($(wc -l <"$csv") - 1)))"; show "$csv"
	fi
fi
raw=$out/suite-runs.csv
if [ -s "$raw" ] && [ "$(awk -F, 'NR > 1 && $10 == "passed"' "$raw" | wc -l)" = 4 ]; then
	pass "suite-runs.csv: 4 passed runs"
else
	fail "suite-runs.csv"; [ -f "$raw" ] && show "$raw"
fi
if [ -s "$out/suite.md" ] && grep -q '^| jacobi | sequential | 2 |' "$out/suite.md" && grep -q '^| jacobi' "$tmp/o"; then
	pass "suite.md written and printed"
else
	fail "suite.md"; show "$tmp/o"
fi
pngs=0
for f in "$out"/*.png; do
	[ -f "$f" ] && [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && pngs=$((pngs + 1))
done
if [ "$pngs" -ge 1 ]; then
	pass "$pngs PNG plots ($(cd "$out" && echo *.png))"
else
	fail "no PNG with the PNG signature in $out"; show "$tmp/e"
fi
progress=$(grep -c '^\[[0-9]*/4\] jacobi model=sequential nodes=[12] run [12]/2: .* s, [0-9]* msgs, check passed$' "$tmp/e")
if [ "$progress" = 4 ]; then
	pass "one progress line per run on stderr"
else
	fail "progress lines: $progress of 4"; show "$tmp/e"
fi

# ------------------------- a model this build may not support: skipped, not fatal
"$bench" --build "$top_build" --apps jacobi --size small --models sequential,release \
	--nodes 1 --runs 1 --timeout 120 --out "$tmp/res2" >"$tmp/o" 2>"$tmp/e"
rc=$?
if [ "$rc" = 0 ] && grep -q '^jacobi,release,.*,passed,' "$tmp/res2/suite.csv"; then
	pass "release is supported: it ran and passed"
elif [ "$rc" = 0 ] && grep -q "model release is not supported by this build, skipping" "$tmp/e" &&
     ! grep -q '^jacobi,release,' "$tmp/res2/suite.csv" && grep -q '^jacobi,sequential,.*,passed,' "$tmp/res2/suite.csv"; then
	pass "release unsupported: said once, skipped, exit 0"
else
	fail "models sequential,release: exit $rc"; show "$tmp/e"
fi

# ------------------------------------------------------ network namespaces
netns_gone() {	# netns_gone PID: no namespace of dsm-bench PID is left
	! ip netns list 2>/dev/null | grep -q "^dsmb$1\(br\|n[0-9]\)"
}
if [ "$(id -u)" != 0 ]; then
	echo "netns part skipped: needs root"
elif ! ip netns add "chkb$$" 2>/dev/null; then
	echo "netns part skipped: cannot create network namespaces here"
else
	ip netns del "chkb$$"
	"$bench" --build "$top_build" --apps jacobi --size small --models sequential \
		--nodes 2 --runs 1 --netns --out "$tmp/res3" >"$tmp/o" 2>"$tmp/e" &
	pid=$!
	wait "$pid"
	rc=$?
	if [ "$rc" = 0 ] && grep -q '^jacobi,sequential,tcp,netns.*,passed,' "$tmp/res3/suite.csv" && netns_gone "$pid"; then
		pass "--netns: 2 nodes in namespaces passed, namespaces removed"
	else
		fail "--netns: exit $rc"; show "$tmp/e"; ip netns list | show
	fi

	# A delay needs netem: without it, one line and a failure, not a silent
	# run without delay.
	"$bench" --build "$top_build" --apps jacobi --size small --models sequential \
		--nodes 2 --runs 1 --netns --delay 100us --rate 1gbit --out "$tmp/res4" >"$tmp/o" 2>"$tmp/e" &
	pid=$!
	wait "$pid"
	rc=$?
	if [ "$rc" = 0 ] && grep -q '^jacobi,sequential,tcp,netns delay=100us rate=1gbit,.*,passed,' "$tmp/res4/suite.csv" && netns_gone "$pid"; then
		pass "--netns --delay 100us --rate 1gbit: ran with netem"
	elif [ "$rc" = 1 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "netem" "$tmp/e" && netns_gone "$pid"; then
		pass "--delay without netem in this kernel: $(cat "$tmp/e")"
	else
		fail "--netns --delay: exit $rc"; show "$tmp/e"; ip netns list | show
	fi

	# Interrupted mid-run (SIGINT as from ^C): nothing may be left behind.
	# Job control puts it in its own process group; else a background job
	# would ignore SIGINT.
	set -m
	"$bench" --build "$top_build" --apps jacobi --models sequential --nodes 2 --runs 50 \
		--netns --out "$tmp/res5" >"$tmp/o" 2>"$tmp/e" &
	pid=$!
	set +m
	for _ in $(seq 1 100); do	# until the first run is under way
		grep -q "results in" "$tmp/e" && ! netns_gone "$pid" && break
		sleep 0.1
	done
	sleep 1
	nodes=$(for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^dsmb$pid"); do
		ip netns pids "$ns"; done)
	kill -INT "$pid"
	wait "$pid"
	rc=$?
	left=$(ip netns list 2>/dev/null | grep -c "^dsmb$pid\(br\|n[0-9]\)")
	alive=0
	for p in $nodes; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
	if [ "$rc" = 130 ] && [ "$left" = 0 ] && [ "$alive" = 0 ] && grep -q "interrupted" "$tmp/e"; then
		pass "--netns interrupted by SIGINT: exit 130, no namespace left, its $(echo $nodes | wc -w) processes gone"
	else
		fail "--netns interrupted: exit $rc, $left namespaces and $alive node processes left"; show "$tmp/e"
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
