#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_failure.sh - failure detection (dsm(7), FAILURES), on 4-node jobs
# of t_hang with DSM_FAILURE_TIMEOUT=2:
#   1. a node stopped with SIGSTOP (hung, not dead: its connections stay
#      open) ends the job within twice the timeout, with a line naming it,
#      and dsmrun exits non-zero (the other nodes may name it too, or the
#      first node that ended, whichever they see first);
#   2. a node that computes for 3 times the timeout without a word to
#      anyone is not taken for a hung one: the job succeeds;
#   3. a node killed with SIGKILL still ends the job at once.
# Every job runs under `timeout -s KILL`: the test never hangs.
set -uo pipefail

top_build=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
dsmrun=${DSMRUN:-$top_build/tools/dsmrun/dsmrun}
hang=$top_build/tests/ft/t_hang
T=2			# DSM_FAILURE_TIMEOUT, seconds
LIMIT=60		# seconds per job before `timeout` kills it
# dsmrun, once a node failed, gives the others 5 s to end on their own,
# then SIGTERM, and SIGKILL 2 s later (a stopped node only dies of that).
DSMRUN_END=7

for f in "$dsmrun" "$hang"; do
	[ -x "$f" ] || { echo "FAIL: $f was not built"; echo "0 passed, 1 failed"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_failure.XXXXXX") || exit 1
victim=
cleanup() {
	# A stopped node that outlived a failed case must not stay behind.
	[ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# Nothing from an enclosing job or the caller's environment.
for v in $(env | sed -n 's/^\(DSM_[A-Z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
export DSM_FAILURE_TIMEOUT=$T

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() {
	failed=$((failed + 1)); echo "FAIL: $*"
	sed 's/^/  | /' "$tmp/out" | tail -n 20
}
now_ms() { date +%s%3N; }

# start_job ARGS...: a 4-node t_hang job in the background ($job, $tmp/out).
start_job() {
	timeout -s KILL "$LIMIT" "$dsmrun" -n 4 "$hang" "$@" >"$tmp/out" 2>&1 </dev/null &
	job=$!
}

# node_pid N: node N's pid, from t_hang's line; waits up to 30 s for it.
node_pid() {
	local pid
	for _ in $(seq 300); do
		pid=$(sed -n "s/.*t_hang: node $1: pid \([0-9]*\).*/\1/p" "$tmp/out" | head -n 1)
		[ -n "$pid" ] && { echo "$pid"; return 0; }
		kill -0 "$job" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# wait_line TEXT: ms until a line with TEXT appears (up to LIMIT s), or fail.
wait_line() {
	local t0 i
	t0=$(now_ms)
	for ((i = 0; i < LIMIT * 20; i++)); do
		grep -qF -- "$1" "$tmp/out" && { echo $(($(now_ms) - t0)); return 0; }
		sleep 0.05
	done
	return 1
}

# ------------------------------------------------- 1. a node stops (SIGSTOP)
start_job barriers 600
if ! pid=$(node_pid 2); then
	wait "$job"; fail "SIGSTOP: the job did not start (exit $?)"
else
	sleep 1				# well into its barriers
	victim=$pid
	t0=$(now_ms)
	kill -STOP "$pid"
	detect=$(wait_line "node 2 sent nothing for $T s (DSM_FAILURE_TIMEOUT)") || detect=
	wait "$job"; rc=$?
	end=$(($(now_ms) - t0))
	kill -KILL "$pid" 2>/dev/null
	victim=
	if [ -z "$detect" ]; then
		fail "SIGSTOP: no node said that node 2 sent nothing for $T s (exit $rc after $end ms)"
	elif [ "$rc" = 0 ] || [ "$rc" = 137 ]; then
		fail "SIGSTOP: dsmrun exit $rc, expected a node's failure"
	elif [ "$detect" -gt $((2 * T * 1000)) ]; then
		fail "SIGSTOP: detected after $detect ms, more than twice DSM_FAILURE_TIMEOUT=$T"
	elif [ "$end" -gt $(((2 * T + DSMRUN_END + 3) * 1000)) ]; then
		fail "SIGSTOP: the job ended $end ms after the stop (detected after $detect ms)"
	else
		pass "SIGSTOP of node 2: detected after $detect ms, job ended after $end ms, exit $rc:" \
			"$(grep -m 1 "sent nothing" "$tmp/out")"
	fi
fi

# --------------------------------------- 2. a node computes, silent but alive
t0=$(now_ms)
timeout -s KILL "$LIMIT" "$dsmrun" -n 4 "$hang" compute $((3 * T)) >"$tmp/out" 2>&1 </dev/null
rc=$?
end=$(($(now_ms) - t0))
if [ "$rc" != 0 ]; then
	fail "computing node: exit $rc after $end ms, expected success"
elif grep -q "sent nothing" "$tmp/out"; then
	fail "computing node: taken for a hung one"
elif [ "$end" -lt $((3 * T * 1000)) ]; then
	fail "computing node: the job took $end ms, less than the $((3 * T)) s of computing"
else
	pass "node 3 computing for $((3 * T)) s with DSM_FAILURE_TIMEOUT=$T: job succeeded in $end ms"
fi

# --------------------------------------------------- 3. a node dies (SIGKILL)
start_job barriers 600
if ! pid=$(node_pid 2); then
	wait "$job"; fail "SIGKILL: the job did not start (exit $?)"
else
	sleep 1
	t0=$(now_ms)
	kill -KILL "$pid"
	detect=$(wait_line "lost node 2") || detect=
	wait "$job"; rc=$?
	end=$(($(now_ms) - t0))
	if [ -z "$detect" ]; then
		fail "SIGKILL: no node said it lost node 2 (exit $rc after $end ms)"
	elif [ "$rc" = 0 ]; then
		fail "SIGKILL: dsmrun exit 0"
	elif [ "$end" -gt 5000 ]; then
		fail "SIGKILL: the job ended $end ms after the kill, expected within 5 s"
	else
		pass "SIGKILL of node 2: detected after $detect ms, job ended after $end ms, exit $rc"
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
