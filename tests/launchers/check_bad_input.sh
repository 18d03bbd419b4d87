#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_bad_input.sh - bad input everywhere: every row of the table of
# refused values in dsm(7) (BAD INPUT), one case each.  Every case must end
# (never hang: each runs under `timeout -s KILL`), with the exit status the
# row names ("nz": any failure), and with a line that contains the row's
# text, naming the problem; and it must not flood (at most MAX_LINES lines).
#
# One row is one line:  row NAME STATUS TEXT COMMAND [ARGS...]
# The programs: dsmrun, dsm-bench, and t_badapi (this directory), a libdsm
# program that misuses the API on demand or just starts and ends ("ok"),
# which is what the rows for variables and --dsm-* options feed.
set -uo pipefail

bindir=${TEST_BINDIR:-$(cd "$(dirname "$0")/../multinode" && pwd)}
top_build=${TOP_BUILDDIR:-$(cd "$bindir/../.." && pwd)}
dsmrun=${DSMRUN:-$top_build/tools/dsmrun/dsmrun}
bench=$top_build/benchmarks/dsm-bench
badapi=$top_build/tests/launchers/t_badapi
LIMIT=20		# seconds per case; the slowest rows wait for a 2 s timeout
MAX_LINES=6		# a few nodes' line each plus the launcher's

for f in "$dsmrun" "$badapi"; do
	[ -x "$f" ] || { echo "FAIL: $f was not built"; echo "0 passed, 1 failed"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_bad_input.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# Nothing from an enclosing job or the caller's environment.
for v in $(env | sed -n 's/^\(DSM_[A-Z0-9_]*\)=.*/\1/p; s/^\(SLURM_[A-Z0-9_]*\)=.*/\1/p;
	s/^\(OMPI_COMM_WORLD_[A-Z_]*\)=.*/\1/p; s/^\(PMI_[A-Z_]*\)=.*/\1/p'); do
	unset "$v"
done

passed=0 failed=0
row() {
	local name=$1 want=$2 text=$3 rc=0 t0=$SECONDS lines
	shift 3
	timeout -s KILL "$LIMIT" "$@" >"$tmp/out" 2>&1 </dev/null || rc=$?
	lines=$(wc -l <"$tmp/out")
	if [ "$rc" = 137 ] && [ $((SECONDS - t0)) -ge "$LIMIT" ]; then
		failed=$((failed + 1)); echo "FAIL: $name: hung (killed after $LIMIT s)"
	elif { [ "$want" = nz ] && [ "$rc" = 0 ]; } || { [ "$want" != nz ] && [ "$rc" != "$want" ]; }; then
		failed=$((failed + 1)); echo "FAIL: $name: exit $rc, expected ${want/nz/non-zero}"
	elif ! grep -qF -- "$text" "$tmp/out"; then
		failed=$((failed + 1)); echo "FAIL: $name: no line saying \"$text\""
	elif [ "$lines" -gt "$MAX_LINES" ]; then
		failed=$((failed + 1)); echo "FAIL: $name: $lines lines of output, more than $MAX_LINES"
	else
		passed=$((passed + 1)); echo "PASS: $name (exit $rc): $(grep -F -m 1 -- "$text" "$tmp/out")"
		return
	fi
	sed 's/^/  | /' "$tmp/out" | head -n 20
}

# A port nothing listens on.
closed_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	echo 1
}
# two_nodes "VARS OF NODE 0" "VARS OF NODE 1": a job of two nodes started
# by hand, as srun would, each node with its own extra variables; exits
# with the first non-zero status.  (Exported: `row` runs it in `bash -c`.)
two_nodes() {
	local port rc0=0 rc1=0 pid
	port=$(closed_port)
	env DSM_NODE_ID=0 DSM_NUM_NODES=2 DSM_ROOT_ADDR=127.0.0.1:$port DSM_CONNECT_TIMEOUT=2 \
		$1 "$badapi" ok &
	pid=$!
	env DSM_NODE_ID=1 DSM_NUM_NODES=2 DSM_ROOT_ADDR=127.0.0.1:$port DSM_CONNECT_TIMEOUT=2 \
		$2 "$badapi" ok || rc1=$?
	wait "$pid" || rc0=$?
	[ "$rc0" != 0 ] && return "$rc0"
	return "$rc1"
}
export -f two_nodes closed_port
export badapi
secret=$(printf '%064d' 0)
job1="DSM_NODE_ID=1 DSM_NUM_NODES=2 DSM_JOB_SECRET=$secret DSM_CONNECT_TIMEOUT=2"
job0="DSM_NODE_ID=0 DSM_NUM_NODES=2 DSM_JOB_SECRET=$secret DSM_CONNECT_TIMEOUT=2"
long=$(printf 'x%.0s' $(seq 4100))
printf '#!/bin/sh\n' >"$tmp/noexec"	# not executable
ok=("$badapi" ok)

# ------------------------------------------------------------ dsmrun options
row "dsmrun -n 0" 2 "-n needs a node count from 1 to 64, got '0'" "$dsmrun" -n 0 "${ok[@]}"
row "dsmrun -n 100000" 2 "-n needs a node count from 1 to 64, got '100000'" "$dsmrun" -n 100000 "${ok[@]}"
row "dsmrun -n 65" 2 "got '65'" "$dsmrun" -n 65 "${ok[@]}"
row "dsmrun -n four" 2 "got 'four'" "$dsmrun" -n four "${ok[@]}"
row "dsmrun -n without a value" 2 "-n needs a node count from 1 to 64" "$dsmrun" -n
row "dsmrun without -n" 2 "-n N is required" "$dsmrun" "${ok[@]}"
row "dsmrun without a program" 2 "no program given" "$dsmrun" -n 2
row "dsmrun --timeout -1" 2 "--timeout needs a whole number of seconds (0 for none), got '-1'" "$dsmrun" --timeout=-1 -n 1 "${ok[@]}"
row "dsmrun --timeout 1m" 2 "got '1m'" "$dsmrun" --timeout 1m -n 1 "${ok[@]}"
row "dsmrun --restart-on-failure many" 2 "--restart-on-failure needs a number of restarts from 0 to 100, got 'many'" "$dsmrun" --restart-on-failure many -n 1 "${ok[@]}"
row "dsmrun --hosts a,,b" 2 "--hosts: empty host name in 'a,,b'" "$dsmrun" --hosts a,,b "${ok[@]}"
row "dsmrun --hosts '-oProxyCommand=x'" 2 "is not a host name or address" "$dsmrun" --hosts=-oProxyCommand=x "${ok[@]}"
row "dsmrun --hosts with 65 hosts" 2 "65 hosts given, at most 64" "$dsmrun" --hosts "$(seq -s, 1 65)" "${ok[@]}"
row "dsmrun --port 0" 2 "--port needs a TCP port from 1 to 65535, got '0'" "$dsmrun" --hosts a --port 0 "${ok[@]}"
row "dsmrun --port without --hosts" 2 "--port goes with --hosts" "$dsmrun" -n 2 --port 7000 "${ok[@]}"
row "dsmrun --make-env without a port" 2 "--make-env needs HOST:PORT" "$dsmrun" --make-env node01
row "dsmrun --make-env port 70000" 2 "got 'node01:70000'" "$dsmrun" --make-env node01:70000
row "dsmrun --make-env 'a;b:7000'" 2 "'a;b' is not a host name or address" "$dsmrun" --make-env 'a;b:7000'
row "dsmrun unknown option" 2 "unknown option '--frobnicate'" "$dsmrun" --frobnicate -n 2 "${ok[@]}"
row "dsmrun missing program" 127 "cannot execute /nonexistent/prog: No such file or directory" "$dsmrun" -n 2 /nonexistent/prog
row "dsmrun program not executable" 127 "Permission denied" "$dsmrun" -n 2 "$tmp/noexec"
row "dsmrun program is a directory" 127 "Permission denied" "$dsmrun" -n 2 "$tmp"
row "dsmrun non-libdsm program that succeeds" 1 "without calling dsm_init: /bin/true is not a libdsm program" "$dsmrun" -n 2 /bin/true
row "dsmrun non-libdsm program that fails" 1 "exited with status 1 before calling dsm_init" "$dsmrun" -n 2 /bin/false
row "dsmrun non-libdsm program that never ends" 1 "no node has called dsm_init 2 s after the start" env DSM_CONNECT_TIMEOUT=2 "$dsmrun" -n 2 sleep 60
row "dsmrun --timeout expires" 124 "job timed out after 1 s" "$dsmrun" --timeout 1 -n 1 sleep 60
row "DSMRUN_RSH not executable" 127 "cannot execute /nonexistent/ssh (the command that starts remote nodes, DSMRUN_RSH)" env DSMRUN_RSH=/nonexistent/ssh "$dsmrun" --hosts a "${ok[@]}"
if [ -x "$bench" ]; then
	row "dsm-bench --launcher mpi" 2 "--launcher: 'mpi' is neither local nor srun" "$bench" --build "$top_build" --launcher mpi
	row "dsm-bench --root-host without srun" 2 "--root-host goes with --launcher srun" "$bench" --build "$top_build" --root-host a
	row "dsm-bench --bind socket" 2 "--bind: 'socket' is neither numa, core nor none" "$bench" --build "$top_build" --bind socket
	row "dsm-bench --bind with --netns" 2 "--bind goes with the local launcher without --netns" "$bench" --build "$top_build" --bind core --netns
fi

# ---------------------------------------------------- variables (dsm_init)
row "DSM_CONSISTENCY=eventual" 1 "DSM_CONSISTENCY='eventual': expected sequential, release or weak" env DSM_CONSISTENCY=eventual "${ok[@]}"
row "DSM_TRANSPORT=udp" 1 "DSM_TRANSPORT='udp': expected tcp or rdma" env DSM_TRANSPORT=udp "${ok[@]}"
row "DSM_HEAP_SIZE=lots" 1 "DSM_HEAP_SIZE='lots': expected bytes with an optional K, M, G or T suffix" env DSM_HEAP_SIZE=lots "${ok[@]}"
row "DSM_HEAP_SIZE=512K" 1 "DSM_HEAP_SIZE='512K': must be from 1M to 16T" env DSM_HEAP_SIZE=512K "${ok[@]}"
row "DSM_HEAP_SIZE=17T" 1 "DSM_HEAP_SIZE='17T': must be from 1M to 16T" env DSM_HEAP_SIZE=17T "${ok[@]}"
row "DSM_HEAP_SIZE not a multiple of the page" 1 "DSM_HEAP_SIZE='1100000': must be a multiple of DSM_PAGE_SIZE" env DSM_HEAP_SIZE=1100000 "${ok[@]}"
row "DSM_HEAP_SIZE under two pages per node" 1 "too small for this many nodes and this page size" env DSM_HEAP_SIZE=1M DSM_PAGE_SIZE=1M "${ok[@]}"
row "DSM_HEAP_SIZE that cannot be mapped" 1 "shared heap: cannot map 17592186044416 bytes at the fixed address 0x700000000000" env DSM_HEAP_SIZE=16T DSM_HEAP_BASE=0x700000000000 "${ok[@]}"
row "DSM_PAGE_SIZE=3K" 1 "DSM_PAGE_SIZE='3K': expected 4K times a power of two" env DSM_PAGE_SIZE=3K "${ok[@]}"
row "DSM_PAGE_SIZE=2M under release" 1 "DSM_PAGE_SIZE='2M': release and weak consistency take pages up to 1M" env DSM_PAGE_SIZE=2M "${ok[@]}"
row "DSM_FAULT_BACKEND=mmap" 1 "DSM_FAULT_BACKEND='mmap': expected sigsegv or userfaultfd" env DSM_FAULT_BACKEND=mmap "${ok[@]}"
row "DSM_NUMA=on" 1 "DSM_NUMA='on': expected off, first-touch, interleave or migrate" env DSM_NUMA=on "${ok[@]}"
row "DSM_STATS path too long" 1 "DSM_STATS='x" env DSM_STATS="$long" "${ok[@]}"
row "DSM_STATS in a missing directory" 1 "DSM_STATS=/nonexistent/dir/s.json: node 0 cannot write the statistics in /nonexistent/dir" env DSM_STATS=/nonexistent/dir/s.json "${ok[@]}"
row "DSM_CHECKPOINT_DIR empty" 1 "DSM_CHECKPOINT_DIR='': expected a directory path" env DSM_CHECKPOINT_DIR= "${ok[@]}"
row "DSM_RESTART=2" 1 "DSM_RESTART='2': expected 0 or 1" env DSM_RESTART=2 "${ok[@]}"
row "DSM_RESTART=1 without a checkpoint" 1 "DSM_RESTART=1: no usable checkpoint" env DSM_RESTART=1 DSM_CHECKPOINT_DIR="$tmp/no-checkpoints" "${ok[@]}"
row "DSM_LOG=verbose" 1 "DSM_LOG='verbose': expected error, warn, info or debug" env DSM_LOG=verbose "${ok[@]}"
row "DSM_HEAP_BASE unaligned" 1 "DSM_HEAP_BASE='0x1234': expected a 64 KiB-aligned user address" env DSM_HEAP_BASE=0x1234 "${ok[@]}"
row "DSM_HEAP_BASE beyond user space" 1 "DSM_HEAP_BASE='0x800000000000'" env DSM_HEAP_BASE=0x800000000000 "${ok[@]}"
row "DSM_HOME_BLOCK=0" 1 "DSM_HOME_BLOCK='0': expected a number of pages from 1 to 1048576" env DSM_HOME_BLOCK=0 "${ok[@]}"
row "DSM_HOMES=random" 1 "DSM_HOMES='random': expected first-touch or static" env DSM_HOMES=random "${ok[@]}"
row "DSM_POLL_US=2000000" 1 "DSM_POLL_US='2000000': expected microseconds from 0 to 1000000" env DSM_POLL_US=2000000 "${ok[@]}"
row "DSM_CONNECT_TIMEOUT=0" 1 "DSM_CONNECT_TIMEOUT='0': expected seconds from 1 to 3600" env DSM_CONNECT_TIMEOUT=0 "${ok[@]}"
row "DSM_FAILURE_TIMEOUT=0" 1 "DSM_FAILURE_TIMEOUT='0': expected seconds from 1 to 3600" env DSM_FAILURE_TIMEOUT=0 "${ok[@]}"
row "DSM_FAILURE_TIMEOUT=abc" 1 "DSM_FAILURE_TIMEOUT='abc': expected seconds from 1 to 3600" env DSM_FAILURE_TIMEOUT=abc "${ok[@]}"
row "DSM_RDMA_DEVICE=a/b" 1 "DSM_RDMA_DEVICE='a/b': expected an RDMA device name" env DSM_RDMA_DEVICE=a/b "${ok[@]}"
row "DSM_RDMA_PORT=0" 1 "DSM_RDMA_PORT='0': expected a port number from 1 to 255" env DSM_RDMA_PORT=0 "${ok[@]}"
row "DSM_RDMA_GID_INDEX=256" 1 "DSM_RDMA_GID_INDEX='256': expected a GID table index from 0 to 255" env DSM_RDMA_GID_INDEX=256 "${ok[@]}"
row "misspelled variable (a warning, runs)" 0 "DSM_CONSISTENSY is set but is not a libdsm variable" env DSM_CONSISTENSY=weak "${ok[@]}"
# Added with NUMA placement and checkpoints: a row each while they exist.
grep -q '"DSM_BIND"' "${TOP_SRCDIR:-$top_build/..}/runtime/base/config.c" 2>/dev/null &&
	row "DSM_BIND=socket" 1 "DSM_BIND='socket': expected none, numa or core" env DSM_BIND=socket "${ok[@]}"
grep -q '"DSM_NUMA_PERIOD_MS"' "${TOP_SRCDIR:-$top_build/..}/runtime/base/config.c" 2>/dev/null &&
	row "DSM_NUMA_PERIOD_MS=0" 1 "DSM_NUMA_PERIOD_MS='0': expected milliseconds from 1 to 10000" env DSM_NUMA_PERIOD_MS=0 "${ok[@]}"
grep -q '"DSM_NUMA_SAMPLE"' "${TOP_SRCDIR:-$top_build/..}/runtime/base/config.c" 2>/dev/null &&
	row "DSM_NUMA_SAMPLE=many" 1 "DSM_NUMA_SAMPLE='many': expected a number of pages from 0 to 1048576" env DSM_NUMA_SAMPLE=many "${ok[@]}"

# ----------------------------------------------------- the job's variables
row "DSM_NODE_ID out of range" 1 "DSM_NODE_ID='2': node id must be 0 to the node count minus one" env DSM_NODE_ID=2 DSM_NUM_NODES=2 "${ok[@]}"
row "DSM_NUM_NODES=65" 1 "DSM_NUM_NODES='65': node count must be 1 to 64" env DSM_NODE_ID=0 DSM_NUM_NODES=65 "${ok[@]}"
row "DSM_NUM_NODES=0" 1 "DSM_NUM_NODES='0': node count must be 1 to 64" env DSM_NODE_ID=0 DSM_NUM_NODES=0 "${ok[@]}"
row "DSM_NODE_ID without a node count" 1 "DSM_NODE_ID is set but no node count is" env DSM_NODE_ID=0 "${ok[@]}"
row "DSM_NUM_NODES without a node id" 1 "DSM_NUM_NODES is set but no node id is" env DSM_NUM_NODES=2 "${ok[@]}"
row "SLURM_PROCID without SLURM_NTASKS" 1 "SLURM_PROCID is set but no node count is" env SLURM_PROCID=0 "${ok[@]}"
row "SLURM_PROCID out of range" 1 "SLURM_PROCID='5': node id must be 0 to the node count minus one" env SLURM_PROCID=5 SLURM_NTASKS=2 "${ok[@]}"
row "OMPI_COMM_WORLD_SIZE=100" 1 "OMPI_COMM_WORLD_SIZE='100': node count must be 1 to 64" env OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=100 "${ok[@]}"
row "DSM_LOCAL_NODES=65" 1 "DSM_LOCAL_NODES='65': expected 0 to 64" env DSM_NODE_ID=0 DSM_NUM_NODES=1 DSM_LOCAL_NODES=65 "${ok[@]}"
row "DSM_LISTEN_FD=fd3" 1 "DSM_LISTEN_FD='fd3': expected a file descriptor number" env DSM_NODE_ID=0 DSM_NUM_NODES=1 DSM_LISTEN_FD=fd3 "${ok[@]}"
row "DSM_LISTEN_FD not a listener" 1 "DSM_LISTEN_FD=99: not a listening socket" env $job0 DSM_ROOT_ADDR=127.0.0.1:$(closed_port) DSM_LISTEN_FD=99 "${ok[@]}"
row "DSM_ROOT_ADDR without a port" 1 "DSM_ROOT_ADDR='node01': a job of 2 nodes needs node 0's HOST:PORT" env $job1 DSM_ROOT_ADDR=node01 "${ok[@]}"
row "DSM_ROOT_ADDR unset" 1 "DSM_ROOT_ADDR='': a job of 2 nodes needs node 0's HOST:PORT" env $job1 "${ok[@]}"
row "DSM_JOB_SECRET unset" 1 "DSM_JOB_SECRET is not set" env DSM_NODE_ID=1 DSM_NUM_NODES=2 DSM_ROOT_ADDR=127.0.0.1:7000 "${ok[@]}"
row "DSM_JOB_SECRET malformed" 1 "DSM_JOB_SECRET='<hidden>': expected 64 hexadecimal digits" env DSM_NODE_ID=1 DSM_NUM_NODES=2 DSM_ROOT_ADDR=127.0.0.1:7000 DSM_JOB_SECRET=xyz "${ok[@]}"
row "unreachable peer (node 0 not there)" 1 "cannot reach node 0 at DSM_ROOT_ADDR=127.0.0.1:" env $job1 DSM_ROOT_ADDR=127.0.0.1:$(closed_port) "${ok[@]}"
row "unreachable peer (no route)" 1 "cannot reach node 0 at DSM_ROOT_ADDR=192.0.2.1:7000" env $job1 DSM_ROOT_ADDR=192.0.2.1:7000 "${ok[@]}"
row "peers that never come (node 0 alone)" 1 "waiting for node 1 to connect" env $job0 DSM_ROOT_ADDR=127.0.0.1:$(closed_port) "${ok[@]}"
row "DSM_JOB_SECRET not the same on every node" 1 "did not prove the job's secret; is DSM_JOB_SECRET the same on every node?" bash -c 'two_nodes "DSM_JOB_SECRET=$1" "DSM_JOB_SECRET=$2"' _ "$secret" "$(printf '%064d' 1)"
row "DSM_NODE_HOST not of this machine" 1 "cannot listen on 192.0.2.1 for the other nodes: Cannot assign requested address (DSM_NODE_HOST" bash -c 'two_nodes "DSM_JOB_SECRET=$1 DSM_NODE_HOST=192.0.2.1" "DSM_JOB_SECRET=$1 DSM_NODE_HOST=192.0.2.1"' _ "$secret"
row "DSM_ROOT_ADDR not on node 0's machine" 1 "node 0 cannot listen at DSM_ROOT_ADDR=192.0.2.1:7000" env $job0 DSM_ROOT_ADDR=192.0.2.1:7000 "${ok[@]}"

# ----------------------------------------------------------- --dsm-* options
row "--dsm-foo=1" 1 "option '--dsm-foo=1': not a libdsm option" "${ok[@]}" --dsm-foo=1
row "--dsm-consistency without a value" 1 "option '--dsm-consistency' needs a value" "${ok[@]}" --dsm-consistency
row "--dsm-consistency=eventual" 1 "DSM_CONSISTENCY='eventual'" "${ok[@]}" --dsm-consistency=eventual

# ------------------------------------------------------------- API misuse
row "dsm_init twice" 1 "dsm_init: called again; libdsm is already initialized" "$badapi" double-init
row "dsm_finalize twice" 1 "dsm_finalize: libdsm is not initialized" "$badapi" finalize-twice
row "dsm_free of a malloc() pointer" 1 "not a pointer into the shared heap" "$badapi" free-foreign
row "dsm_free inside a block" 1 "not the start of an allocated block" "$badapi" free-interior
row "dsm_lock_acquire(DSM_MAX_LOCKS)" 1 "dsm_lock_acquire(4096): lock id out of range (0 to 4095" "$badapi" lock-range
row "dsm_lock_release(UINT_MAX)" 1 "dsm_lock_release(4294967295): lock id out of range" "$badapi" unlock-range
row "dsm_lock_release without holding it" 1 "dsm_lock_release(7): node 0 does not hold this lock" "$badapi" unlock-notheld
row "dsm_free of a foreign pointer on 2 nodes" 1 "not a pointer into the shared heap" "$dsmrun" -n 2 "$badapi" free-foreign

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
