#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_rdma.sh - the multi-node tests over DSM_TRANSPORT=rdma: real
# processes through dsmrun, under all three models, on the first RDMA
# device (in CI: Soft-RoCE rxe0 in the guest of ../shared/tools/vm); then
# strangers at a node's rdma_cm listener, and kill -9 of a node.
#
# Skips (exit 77, saying why) where there is no RDMA device or the library
# was built without verbs.  Sizes are small: the guest's CPU is emulated.
set -uo pipefail

bindir=${TEST_BINDIR:-$(dirname "$0")/../multinode}
dsmrun=${DSMRUN:-$bindir/../../tools/dsmrun/dsmrun}
stranger=${RDMA_STRANGER:-$bindir/../rdma/rdma_stranger}
passed=0 failed=0

skip() { echo "SKIP: $*"; exit 77; }
devs=$(ls /sys/class/infiniband 2>/dev/null)
[ -n "$devs" ] || skip "no RDMA device on this host (/sys/class/infiniband is empty);" \
	".ci/run runs these tests in the Soft-RoCE guest of shared/tools/vm"
[ -x "$stranger" ] || skip "libdsm was built without the verbs and rdma_cm headers"

# Every node pins its heap's runtime view (no on-demand paging on
# Soft-RoCE): keep heaps small, as the guest's memory is.
export DSM_TRANSPORT=rdma DSM_HEAP_SIZE=${RDMA_HEAP_SIZE:-32M} DSM_CONNECT_TIMEOUT=60
echo "rdma: device(s) $devs, heap $DSM_HEAP_SIZE per node"

# run NAME TIMEOUT NODES PROG ARGS...: one job through dsmrun; it must
# exit 0, and every node must say it came up over rdma.
run() {
	local name=$1 tmo=$2 n=$3 out rc=0 up
	shift 3
	out=$(mktemp)
	DSM_LOG=info timeout "$tmo" "$dsmrun" -n "$n" "$@" >"$out" 2>&1 || rc=$?
	up=$(grep -c "up: .*rdma transport" "$out")
	if [ "$rc" = 0 ] && [ "$up" = "$n" ]; then
		passed=$((passed + 1)); echo "PASS: $name"
	else
		failed=$((failed + 1)); echo "FAIL: $name (exit $rc, $up of $n nodes up over rdma)"
		grep -v ": info: " "$out" | tail -30 | sed 's/^/  | /'
	fi
	rm -f "$out"
}

for model in sequential release weak; do
	export DSM_CONSISTENCY=$model
	run "lock-protected counter over rdma ($model)" 180 4 "$bindir/t_counter" 2 50
	run "false sharing over rdma ($model)" 180 4 "$bindir/t_falseshare" 4 3
	run "jacobi bit for bit over rdma ($model)" 180 2 "$bindir/t_jacobi" 34 66 10
	run "threads of several nodes over rdma ($model)" 180 2 "$bindir/t_threads" 3 4 3
	T_VISIBILITY_DIR=$(mktemp -d) run "visibility of writes over rdma ($model)" 180 3 \
		"$bindir/t_visibility"
done
unset DSM_CONSISTENCY

# Refused before anything else happens: a node with another secret.
out=$(mktemp)
rc=0
timeout 60 "$dsmrun" -n 2 /bin/sh -c 'if [ "$DSM_NODE_ID" = 1 ]; then
	DSM_JOB_SECRET=0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0
	export DSM_JOB_SECRET; fi; exec "$@"' sh "$bindir/t_counter" 1 1 >"$out" 2>&1 || rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -qi "authentic" "$out"; then
	passed=$((passed + 1)); echo "PASS: a node with a wrong secret is refused (exit $rc)"
else
	failed=$((failed + 1)); echo "FAIL: wrong secret: exit $rc"; sed 's/^/  | /' "$out"
fi
rm -f "$out"

# A device or port that is not there: one line naming the variable on
# every node, a non-zero exit, no wait for the connect timeout.
for bad in DSM_RDMA_DEVICE=nosuch0 DSM_RDMA_PORT=9; do
	out=$(mktemp)
	rc=0
	start=$(date +%s)
	env "$bad" timeout 60 "$dsmrun" -n 2 "$bindir/t_counter" 1 1 >"$out" 2>&1 || rc=$?
	secs=$(( $(date +%s) - start ))
	if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$secs" -lt 30 ] &&
		[ "$(grep -c "error: ${bad%%=*}='${bad#*=}'" "$out")" -ge 1 ]; then
		passed=$((passed + 1)); echo "PASS: $bad refused in $secs s: $(grep -m1 "error: ${bad%%=*}" "$out")"
	else
		failed=$((failed + 1)); echo "FAIL: $bad: exit $rc after $secs s"; sed 's/^/  | /' "$out"
	fi
	rm -f "$out"
done

# Strangers at node 0's rdma_cm listener while a job runs (nodes started
# as srun starts them): a forged request (libdsm's format, a MAC made
# without the secret), one with no data, one with junk.  Each must be
# rejected, and the job must go on; then kill -9 of the last node must be
# reported by the others, by id, within 10 s (emulated CPU), not hang.
N=3
secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
root="127.0.0.1:$((20000 + $$ % 20000))"
piddir=$(mktemp -d)
logs=$(mktemp -d)
pids=()
for i in $(seq 0 $((N - 1))); do
	env DSM_NODE_ID="$i" DSM_NUM_NODES=$N DSM_ROOT_ADDR="$root" DSM_JOB_SECRET="$secret" \
		DSM_LOG=info DSM_TEST_PIDDIR="$piddir" DSM_CONSISTENCY=release \
		timeout 120 "$bindir/t_spin" 90 >"$logs/node$i" 2>&1 &
	pids+=($!)
done
victim=$((N - 1))
for _ in $(seq 1 600); do [ -s "$piddir/node$victim.pid" ] && break; sleep 0.1; done
listen=$(sed -nE 's/.*rdma: node 0 listens at \[?([^]]*)\]?:([0-9]+) .*/\1 \2/p' "$logs/node0" | head -1)
if [ -s "$piddir/node$victim.pid" ] && [ -n "$listen" ]; then
	srcs=0
	for mode in forged empty junk; do
		if "$stranger" ${listen% *} ${listen#* } 1 "$mode"; then
			srcs=$((srcs + 1))
		fi
	done
	sleep 1
	rejected=$(grep -c "rejected a connection" "$logs/node0")
	alive=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
	if [ "$srcs" = 3 ] && [ "$rejected" -ge 3 ] && [ "$alive" = "$N" ] &&
		grep -q "did not prove the job's secret" "$logs/node0"; then
		passed=$((passed + 1))
		echo "PASS: three strangers at node 0's rdma_cm listener rejected, the job went on"
	else
		failed=$((failed + 1))
		echo "FAIL: strangers: $srcs of 3 saw a rejection, node 0 warned $rejected times, $alive of $N nodes alive"
		cat "$logs"/node* | grep -v ": info: " | sed 's/^/  | /'
	fi
	grep "rejected a connection" "$logs/node0" | sed 's/^/  | /'
	start=$(date +%s%N)
	kill -9 "$(cat "$piddir/node$victim.pid")"
	for p in "${pids[@]}"; do { wait "$p"; } 2>/dev/null; done
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	lost=$(cat "$logs"/node* | grep -c "lost node $victim")
	if [ "$ms" -le 10000 ] && [ "$lost" -ge $((N - 1)) ]; then
		passed=$((passed + 1))
		echo "PASS: kill -9 of node $victim: $lost nodes reported it, job ended in $ms ms"
		grep -h "lost node $victim" "$logs"/node* | sed 's/^/  | /'
	else
		failed=$((failed + 1))
		echo "FAIL: kill -9 of node $victim: $lost reports, $ms ms"
		cat "$logs"/node* | grep -v ": info: " | sed 's/^/  | /'
	fi
else
	failed=$((failed + 2))
	echo "FAIL: strangers and kill -9: the job never came up (or node 0 did not say where it listens)"
	cat "$logs"/node* | sed 's/^/  | /'
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
fi
rm -rf "$piddir" "$logs"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
