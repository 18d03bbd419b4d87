#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_slurm.sh - libdsm jobs under a real Slurm: the multi-node test
# programs through `srun -n 4` under every consistency model, and the
# application suite through `dsm-bench --launcher srun`.
#
# Installs nothing: Slurm and MUNGE come from Debian (slurm-wlm, munge;
# scripts/setup.sh installs them).  As root, the test starts a private
# one-node cluster in a temporary directory: munged with its own key and
# socket, slurmctld and slurmd on private ports, the node declared with 8
# CPUs (SlurmdParameters=config_overrides) so that srun -n 4 fits on a
# 2-CPU machine; no cgroups, no systemd (proctrack/linuxproc, task/none).
# Every daemon is stopped on exit, however the test ends.  Without root,
# without the packages, or when the node does not come up, it skips (77)
# and says why.
#
# The nodes get rank and size from SLURM_PROCID/SLURM_NTASKS, node 0's
# address and the job's secret from `dsmrun --make-env` (README, dsm(7)).
set -uo pipefail

bindir=${TEST_BINDIR:-$(cd "$(dirname "$0")/../multinode" && pwd)}
top_build=${TOP_BUILDDIR:-$(cd "$bindir/../.." && pwd)}
dsmrun=${DSMRUN:-$top_build/tools/dsmrun/dsmrun}
bench=$top_build/benchmarks/dsm-bench
export PATH=$PATH:/usr/sbin:/sbin
JOB_TIMEOUT=60		# one srun job; the whole test stays under ~3 minutes
UP_TIMEOUT=30		# for the node to become idle

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "starting slurmctld and slurmd needs root"
for c in munged munge slurmctld slurmd srun sinfo scontrol; do
	command -v "$c" >/dev/null 2>&1 ||
		skip "$c is not installed (apt-get install slurm-wlm munge)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_slurm.XXXXXX") || exit 1
chmod 755 "$tmp"	# munged wants its socket's directories searchable
daemon_pids=()
cleanup() {
	local p i
	trap '' INT TERM HUP
	for p in "${daemon_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	# slurmd and slurmctld take a moment to save state; then no mercy.
	for i in $(seq 50); do
		for p in "${daemon_pids[@]}"; do kill -0 "$p" 2>/dev/null && break; p=; done
		[ -z "${p:-}" ] && break
		sleep 0.1
	done
	for p in "${daemon_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${daemon_pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A port nobody listens on, from a range away from the kernel's ephemeral one.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	echo 0
}

# --------------------------------------------------------------- the cluster
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" && chmod 700 "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/munge/key" && chmod 400 "$tmp/munge/key"
sock=$tmp/munge/sock
# -f: munged refuses root and /tmp paths otherwise.
munged -F -f --socket="$sock" --key-file="$tmp/munge/key" --pid-file="$tmp/munge/pid" \
	--seed-file="$tmp/munge/seed" --log-file="$tmp/munge/log" >"$tmp/munged.out" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
munge -S "$sock" -n 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1 ||
	skip "munged did not start here: $(tail -n 1 "$tmp/munged.out")"

host=$(hostname -s)
ctld_port=$(free_port)
slurmd_port=$(free_port)
[ "$ctld_port" != 0 ] && [ "$slurmd_port" != 0 ] && [ "$ctld_port" != "$slurmd_port" ] ||
	skip "no free TCP port for slurmctld and slurmd"
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=dsmcheck
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=dsmcheck Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
# The job environment must not hold another cluster's or a launcher's variables.
unset SLURM_JOB_ID SLURM_JOBID SLURM_JOB_NODELIST SLURM_NODELIST SLURM_PROCID SLURM_NTASKS \
	DSM_NODE_ID DSM_NUM_NODES DSM_ROOT_ADDR DSM_JOB_SECRET DSM_LISTEN_FD DSM_LOCAL_NODES \
	DSM_NODE_HOST DSM_CONSISTENCY DSM_STATS

slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
daemon_pids+=($!)
slurmd -D -N "$host" -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 &
daemon_pids+=($!)
state=
for _ in $(seq $((UP_TIMEOUT * 5))); do
	state=$(sinfo -h -N -n "$host" -o %t 2>/dev/null)
	[ "$state" = idle ] && break
	for p in "${daemon_pids[@]}"; do
		kill -0 "$p" 2>/dev/null ||
			skip "a Slurm daemon exited at start: $(grep -h -m 1 -i 'error\|fatal' "$tmp"/slurm*.out "$tmp"/*.log 2>/dev/null | tail -n 1)"
	done
	sleep 0.2
done
[ "$state" = idle ] || skip "the Slurm node is '${state:-unknown}', not idle, ${UP_TIMEOUT} s after starting slurmctld and slurmd"
echo "# one-node Slurm cluster up: node $host, 8 CPUs declared, slurmctld port $ctld_port, slurmd port $slurmd_port"

# ---------------------------------------------------------------- the jobs
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# job NAME MODEL NODES PROG ARGS...: one srun job with a fresh secret and
# port; DSM_LOG=info makes every node say "node I of N up: MODEL
# consistency", which shows that the rank, the size and the model arrived.
job() {
	local name=$1 model=$2 n=$3 out rc=0 up
	shift 3
	out=$tmp/job.out
	eval "$("$dsmrun" --make-env "127.0.0.1:$(free_port)")"
	DSM_ROOT_ADDR=$DSM_ROOT_ADDR DSM_JOB_SECRET=$DSM_JOB_SECRET DSM_CONSISTENCY=$model DSM_LOG=info \
		timeout "$JOB_TIMEOUT" srun -n "$n" --kill-on-bad-exit=1 "$@" >"$out" 2>&1 || rc=$?
	unset DSM_ROOT_ADDR DSM_JOB_SECRET
	up=$(grep -c "of $n up: $model consistency" "$out")
	if [ "$rc" = 0 ] && [ "$up" = "$n" ]; then
		pass "srun -n $n, $model: $name"
	else
		fail "srun -n $n, $model: $name (exit $rc, $up of $n nodes up)"
		sed 's/^/  | /' "$out" | tail -n 20
	fi
}

start=$SECONDS
for model in sequential release weak; do
	job "lock-protected counter" "$model" 4 "$bindir/t_counter" 3 200
	job "jacobi bit for bit" "$model" 4 "$bindir/t_jacobi" 66 130 20
	job "visibility after release/acquire" "$model" 4 "$bindir/t_visibility"
	job "several threads per node" "$model" 4 "$bindir/t_threads" 3 4 3
done
job "flag spin-loop" sequential 4 "$bindir/t_flag" 64 6

# Without node 0's address a multi-node job refuses to start, saying so.
out=$tmp/job.out
if timeout "$JOB_TIMEOUT" srun -n 2 --kill-on-bad-exit=1 "$bindir/t_counter" >"$out" 2>&1; then
	fail "srun without DSM_ROOT_ADDR started anyway"
elif grep -q "DSM_ROOT_ADDR=''" "$out"; then
	pass "srun without DSM_ROOT_ADDR refused, naming it"
else
	fail "srun without DSM_ROOT_ADDR: no clear message"; sed 's/^/  | /' "$out"
fi

# The suite runner through srun: a small subset, every model, 1 and 4 nodes.
if [ -x "$bench" ]; then
	res=$tmp/bench
	timeout 150 "$bench" --build "$top_build" --launcher srun --root-host 127.0.0.1 \
		--apps jacobi --size small --models sequential,release,weak --nodes 1,4 --runs 1 \
		--timeout "$JOB_TIMEOUT" --out "$res" >"$tmp/bench.out" 2>&1
	rc=$?
	rows=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "check") c = i; next }
		c && $c == "passed" { n++ } END { print n + 0 }' "$res/suite.csv" 2>/dev/null)
	net=$(sed -n '2p' "$res/suite.csv" 2>/dev/null | cut -d, -f4)
	if [ "$rc" = 0 ] && [ "$rows" = 6 ] && [ "$net" = srun ]; then
		pass "dsm-bench --launcher srun: jacobi, 3 models x 1,4 nodes passed"
	else
		fail "dsm-bench --launcher srun: exit $rc, $rows of 6 points passed, network '$net'"
		tail -n 20 "$tmp/bench.out" | sed 's/^/  | /'
	fi
else
	fail "$bench was not built"
fi

echo "# jobs took $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
