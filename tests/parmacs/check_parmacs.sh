#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# check_parmacs.sh - PARMACS programs converted with c.m4.dsm run right on
# 1, 2 and 4 nodes under every consistency model, with one and several
# workers per node; and what cannot map fails with a clear message.
#
# A run passes when the job exits 0 and its output holds exactly one
# "PROG: ok P=.. nodes=N" line (node 0's: the sequential part prints only
# there); each program checks its own results on every node.  Negative
# cases pass when the job (or m4) fails and says why.  The last line,
# "N passed, N failed", is what scripts/test.sh counts.
#
# Environment (make check sets them): DSMRUN, TOP_BUILDDIR, TOP_SRCDIR;
# M4 (default m4).
set -u

dsmrun=${DSMRUN:?DSMRUN is not set (run through make check)}
bindir=${TOP_BUILDDIR:?TOP_BUILDDIR is not set}/tests/parmacs
srcdir=${TOP_SRCDIR:?TOP_SRCDIR is not set}
m4=${M4:-m4}
timeout=${PARMACS_TIMEOUT:-60}
models="sequential release weak"
passed=0 failed=0

pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	sed 's/^/  | /' <<<"$2" | tail -20
}

# run PROG NODES MODEL P ARGS...: one job, judged by its exit status and ok line.
run() {
	local prog=$1 n=$2 model=$3 p=$4 out rc oks what
	shift 4
	what="$prog -n $n, $model, P=$p ($(((p + n - 1) / n)) worker(s) on node 0)"
	out=$(DSM_CONSISTENCY=$model timeout "$timeout" "$dsmrun" -n "$n" \
		"$bindir/$prog" "$p" "$@" 2>&1)
	rc=$?
	oks=$(grep -c "^$prog: ok P=$p nodes=$n " <<<"$out")
	if [ $rc -eq 0 ] && [ "$oks" -eq 1 ]; then
		pass "$what"
	else
		fail "$what (exit $rc, $oks ok line(s))" "$out"
	fi
}

# refuse WHAT PATTERN CMD...: CMD must fail, and its output match PATTERN.
refuse() {
	local what=$1 pattern=$2 out rc
	shift 2
	out=$(timeout "$timeout" "$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q -- "$pattern" <<<"$out"; then
		pass "$what fails: $(grep -m1 -- "$pattern" <<<"$out" | sed "s/^[[:space:]]*//")"
	else
		fail "$what (exit $rc, expected a failure saying /$pattern/)" "$out"
	fi
}

for prog in p_counter p_stencil p_init p_alock; do
	if [ ! -x "$bindir/$prog" ]; then
		failed=$((failed + 1))
		echo "FAIL: $bindir/$prog was not built"
	fi
done

for model in $models; do
	for n in 1 2 4; do
		# p_counter: 4 workers (4, 2, 1 per node); SPLASH-2 CREATE(fn).
		run p_counter "$n" "$model" 4
		# p_stencil: one more worker than nodes (uneven); SPLASH-3 CREATE(fn, n).
		run p_stencil "$n" "$model" $((n + 1)) 48 8
		# p_init: two workers per node, two parallel parts.
		run p_init "$n" "$model" $((2 * n)) 20000
		# p_alock: a lock array, a lock made by a worker, a pause, a semaphore.
		run p_alock "$n" "$model" $((n + 2)) 200
	done
done

# What cannot map.
refuse "m4 on a monitor (MENTER)" "bad_monitor.C:[0-9]*: .*MENTER.* cannot map onto libdsm" \
	"$m4" "$srcdir/parmacs/c.m4.dsm" "$srcdir/tests/parmacs/bad_monitor.C"
refuse "CREATE(fn) for 2 workers on 4 nodes" "every node needs a worker" \
	"$dsmrun" -n 4 "$bindir/p_counter" 2
refuse "CREATE(fn, 1) on 2 nodes" "every node needs a worker" \
	"$dsmrun" -n 2 "$bindir/p_stencil" 1 16 2
refuse "no CREATE (1 worker) on 2 nodes" "WAIT_FOR_END without CREATE on 2 nodes" \
	"$dsmrun" -n 2 "$bindir/p_counter" 1

echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $((passed + failed)) -gt 0 ]
