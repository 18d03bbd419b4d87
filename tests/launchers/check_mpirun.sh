#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_mpirun.sh - libdsm programs started by Open MPI's mpirun instead of
# dsmrun: rank and size come from OMPI_COMM_WORLD_RANK/SIZE, node 0's
# address and the job's secret from `dsmrun --make-env` (README, dsm(7)).
# Skips (exit 77) saying why when mpirun is not installed.
set -uo pipefail

bindir=${TEST_BINDIR:-$(dirname "$0")/../multinode}
dsmrun=${DSMRUN:-$bindir/../../tools/dsmrun/dsmrun}
command -v mpirun >/dev/null || { echo "SKIP: Open MPI's mpirun is not installed (apt-get install openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
passed=0 failed=0

# run NAME NODES PROG ARGS...: a fresh secret and port per job
run() {
	local name=$1 n=$2 out rc=0
	shift 2
	out=$(mktemp)
	eval "$("$dsmrun" --make-env "127.0.0.1:$((20000 + (RANDOM % 30000)))")"
	timeout 120 mpirun --oversubscribe -n "$n" -x DSM_ROOT_ADDR -x DSM_JOB_SECRET "$@" >"$out" 2>&1 || rc=$?
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1)); echo "PASS: $name"
	else
		failed=$((failed + 1)); echo "FAIL: $name (exit $rc)"; sed 's/^/  | /' "$out"
	fi
	rm -f "$out"
}

run "mpirun -n 3: lock-protected counter" 3 "$bindir/t_counter"
run "mpirun -n 4: jacobi bit for bit" 4 "$bindir/t_jacobi"
run "mpirun -n 2: syscalls into shared pages" 2 "$bindir/t_syscalls"

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
