#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_mpirun.sh - libdsm programs started by Open MPI's mpirun instead of
# dsmrun: rank and size come from OMPI_COMM_WORLD_RANK/SIZE, node 0's
# address and the job's secret from `dsmrun --make-env` (README, dsm(7)).
# The multi-node test programs run under every consistency model, with
# several application threads per node in t_threads and t_counter.
# Skips (exit 77) saying why when mpirun is not installed.
set -uo pipefail

bindir=${TEST_BINDIR:-$(dirname "$0")/../multinode}
dsmrun=${DSMRUN:-$bindir/../../tools/dsmrun/dsmrun}
command -v mpirun >/dev/null || { echo "SKIP: Open MPI's mpirun is not installed (apt-get install openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
passed=0 failed=0

# run NAME MODEL NODES PROG ARGS...: a fresh secret and port per job.
# DSM_LOG=info makes every node say "node I of N up: MODEL consistency",
# which shows that the rank, the size and the model all arrived.
run() {
	local name=$1 model=$2 n=$3 out rc=0 up
	shift 3
	out=$(mktemp)
	eval "$("$dsmrun" --make-env "127.0.0.1:$((20000 + (RANDOM % 30000)))")"
	DSM_CONSISTENCY=$model DSM_LOG=info timeout 120 mpirun --oversubscribe -n "$n" \
		-x DSM_ROOT_ADDR -x DSM_JOB_SECRET -x DSM_CONSISTENCY -x DSM_LOG "$@" >"$out" 2>&1 || rc=$?
	up=$(grep -c "of $n up: $model consistency" "$out")
	if [ "$rc" = 0 ] && [ "$up" = "$n" ]; then
		passed=$((passed + 1)); echo "PASS: mpirun -n $n, $model: $name"
	else
		failed=$((failed + 1)); echo "FAIL: mpirun -n $n, $model: $name (exit $rc, $up of $n nodes up)"
		sed 's/^/  | /' "$out" | tail -n 20
	fi
	rm -f "$out"
}

for model in sequential release weak; do
	run "lock-protected counter" "$model" 3 "$bindir/t_counter" 3 200
	run "jacobi bit for bit" "$model" 4 "$bindir/t_jacobi" 66 130 20
	run "visibility after release/acquire" "$model" 4 "$bindir/t_visibility"
	run "several threads per node" "$model" 4 "$bindir/t_threads" 3 4 3
done
run "flag spin-loop" sequential 4 "$bindir/t_flag" 64 6
run "syscalls into shared pages" release 2 "$bindir/t_syscalls" 3

# Without the secret a multi-node job must refuse to start, with one line.
out=$(mktemp)
if env -u DSM_JOB_SECRET timeout 60 mpirun --oversubscribe -n 2 -x DSM_ROOT_ADDR \
	"$bindir/t_counter" >"$out" 2>&1; then
	failed=$((failed + 1)); echo "FAIL: mpirun without DSM_JOB_SECRET started anyway"
elif grep -q "DSM_JOB_SECRET is not set" "$out"; then
	passed=$((passed + 1)); echo "PASS: mpirun without DSM_JOB_SECRET refused, naming it"
else
	failed=$((failed + 1)); echo "FAIL: mpirun without DSM_JOB_SECRET: no clear message"; sed 's/^/  | /' "$out"
fi
rm -f "$out"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
