#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_netns.sh - nodes on stand-in machines: each node in its own network
# namespace, joined by veth pairs to a bridge, with `tc netem` delay on every
# link.  The nodes are started the way srun or mpirun start them (rank,
# size, root address and secret in the environment, no dsmrun), so this also
# tests that start-up path and listening on a non-loopback address.
#
# Needs root and iproute2, or it skips (exit 77) saying why; without netem
# (this host's kernel) the links get no added delay, and it says so.
set -uo pipefail

bindir=${TEST_BINDIR:-$(dirname "$0")/../multinode}
N=${NETNS_NODES:-3}
DELAY=${NETNS_DELAY:-1ms}
tag="dsmt$$"
net="10.241.$(( $$ % 200 )).0"
prefix=${net%.0}
passed=0 failed=0

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v tc >/dev/null || skip "tc (iproute2) is not installed"

# The namespace plumbing (and its cleanup) is dsm-bench's, shared.
lib=${TOP_SRCDIR:-$(dirname "$0")/../..}/benchmarks/netns-lib.sh
if [ ! -r "$lib" ]; then
	echo "FAIL: cannot read $lib"
	exit 1
fi
# shellcheck source=../../benchmarks/netns-lib.sh
. "$lib"

trap 'netns_cleanup "$tag"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Node I in namespace $(netns_name $tag I) at $prefix.(I+1), a bridge
# between them, netem delay on every node's link (this host's kernel has no
# netem: then the links get no added delay, and the test says so).
netns_setup "$tag" "$N" "$prefix" "$DELAY"
case $? in
0) ;;
3) echo "netns: $NETNS_ERROR: links without added delay"; DELAY=none ;;
*) skip "$NETNS_ERROR" ;;
esac

secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
root="$prefix.1:$((20000 + $$ % 20000))"

# start_node I TIMEOUT OUT [VAR=VALUE...] PROG ARGS...: node I in its own
# namespace, started the way srun or mpirun start nodes (the job in the
# environment); output appended to OUT, its pid appended to pids.
start_node() {
	local i=$1 tmo=$2 out=$3
	shift 3
	ip netns exec "$(netns_name "$tag" "$i")" env DSM_NODE_ID="$i" DSM_NUM_NODES="$N" \
		DSM_ROOT_ADDR="$root" DSM_JOB_SECRET="$secret" \
		timeout "$tmo" env "$@" >>"$out" 2>&1 &
	pids+=($!)
}

# run NAME TIMEOUT PROG ARGS...: start one node per namespace, wait for all.
run() {
	local name=$1 tmo=$2 out rc=0 pids=()
	shift 2
	out=$(mktemp)
	for i in $(seq 0 $((N - 1))); do
		start_node "$i" "$tmo" "$out" DSM_CONNECT_TIMEOUT=20 "$@"
	done
	for p in "${pids[@]}"; do wait "$p" || rc=$?; done
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1)); echo "PASS: $name"
	else
		failed=$((failed + 1)); echo "FAIL: $name (exit $rc)"; sed 's/^/  | /' "$out"
	fi
	rm -f "$out"
}

echo "netns: $N nodes on $prefix.0/24, netem delay per link: $DELAY, root $root"
for model in sequential release weak; do
	export DSM_CONSISTENCY=$model
	run "lock-protected counter across namespaces ($model)" 120 "$bindir/t_counter"
	run "false sharing across namespaces ($model)" 120 "$bindir/t_falseshare"
	run "jacobi bit for bit across namespaces ($model)" 180 "$bindir/t_jacobi"
	run "vector time across namespaces ($model)" 120 "$bindir/t_vclock" 5
	run "several writers of one page across namespaces ($model)" 120 \
		"$bindir/t_multiwriter" 5 10
	T_VISIBILITY_DIR=$(mktemp -d) run "visibility of writes across namespaces ($model)" 120 \
		"$bindir/t_visibility"
done
export DSM_CONSISTENCY=sequential
run "plain-store flag across namespaces" 120 "$bindir/t_flag"

# Strangers on the network: one sends garbage to node 0's listener, one a
# well-formed HELLO claiming to be node 1 but cannot prove the secret.
# Node 0 must reject both with a warning and still run the real job.
stranger() {	# stranger FILE: send FILE to node 0 from the last namespace
	# Retry the connect: node 0 may not listen yet (slow under emulation).
	ip netns exec "$(netns_name "$tag" $((N - 1)))" bash -c "
		for i in \$(seq 1 200); do
			exec 3<>/dev/tcp/${root%:*}/${root##*:} && break
			sleep 0.1
		done 2>/dev/null
		cat '$1' >&3 && sleep 1" || echo "netns: a stranger could not reach node 0 at $root"
}
junk=$(mktemp) fake=$(mktemp) out=$(mktemp)
printf 'GET / HTTP/1.0\r\nHost: node0\r\nUser-Agent: stranger\r\n\r\n' > "$junk"
{
	# HELLO frame: magic "DSM1", version 1, type 1, src 1, len 152 (struct
	# dsm_hello: it grows with struct dsm_job_settings), then aux/arg0/arg1
	# and a payload of zeros (dst 0) ...
	printf 'DSM1\001\001\001\000\230\000\000\000'; head -c $((20 + 152)) /dev/zero
	# ... then an AUTH frame (type 2, len 32) whose MAC is all zeros.
	printf 'DSM1\001\002\001\000\040\000\000\000'; head -c $((20 + 32)) /dev/zero
} > "$fake"
pids=()
start_node 0 60 "$out" "$bindir/t_counter"
stranger "$junk"
stranger "$fake"
for i in $(seq 1 $((N - 1))); do
	start_node "$i" 60 "$out" "$bindir/t_counter"
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
rejected=$(grep -c "rejected a connection" "$out")
if [ "$rc" = 0 ] && [ "$rejected" -ge 2 ]; then
	passed=$((passed + 1)); echo "PASS: two strangers rejected ($rejected warnings), the job still ran"
else
	failed=$((failed + 1)); echo "FAIL: strangers: exit $rc, $rejected rejections"; sed 's/^/  | /' "$out"
fi
grep "rejected a connection" "$out" | sed 's/^/  | /'
rm -f "$out" "$junk" "$fake"

# A node on another machine dies: the others must say so and exit within 5 s.
piddir=$(mktemp -d)
out=$(mktemp)
pids=()
for i in $(seq 0 $((N - 1))); do
	start_node "$i" 60 "$out" DSM_TEST_PIDDIR="$piddir" "$bindir/t_spin"
done
victim=$((N - 1))
for _ in $(seq 1 200); do [ -s "$piddir/node$victim.pid" ] && break; sleep 0.1; done
if [ -s "$piddir/node$victim.pid" ]; then
	start=$(date +%s%N)
	kill -9 "$(cat "$piddir/node$victim.pid")"
	for p in "${pids[@]}"; do { wait "$p"; } 2>/dev/null; done
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	lost=$(grep -c "lost node $victim" "$out")
	if [ "$ms" -le 5000 ] && [ "$lost" -ge $((N - 1)) ]; then
		passed=$((passed + 1)); echo "PASS: kill -9 of node $victim: $lost nodes reported it, job ended in $ms ms"
	else
		failed=$((failed + 1)); echo "FAIL: kill -9 of node $victim: $lost reports, $ms ms"; sed 's/^/  | /' "$out"
	fi
else
	failed=$((failed + 1)); echo "FAIL: kill test: node $victim never started"; sed 's/^/  | /' "$out"
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
fi
rm -rf "$piddir" "$out"

# dsmrun --hosts: nodes started through an rsh command, here a stand-in for
# ssh that maps the host name (a namespace's address) to its namespace.  The
# job secret must reach the nodes on stdin, never on a command line.
dsmrun=${DSMRUN:-$bindir/../../tools/dsmrun/dsmrun}
rsh=$(mktemp) out=$(mktemp) seen=$(mktemp)
nsprefix=$(netns_name "$tag" "")	# node I's namespace is $nsprefix$I
cat > "$rsh" <<EOF
#!/bin/sh
host=\$1; shift
exec ip netns exec "$nsprefix\$(( \${host##*.} - 1 ))" sh -c "\$*"
EOF
chmod +x "$rsh"
hosts=$(seq -s, -f "$prefix.%g" 1 "$N")
DSMRUN_RSH="$rsh" DSM_CONNECT_TIMEOUT=20 timeout 120 "$dsmrun" -n "$N" --hosts "$hosts" \
	--label "$bindir/t_counter" >"$out" 2>&1 &
job=$!
samples=0 leaks=0 running=0
while kill -0 "$job" 2>/dev/null; do
	args=$(ps -eww -o args=)
	samples=$((samples + 1))
	if grep -Eq '[0-9a-fA-F]{64}' <<<"$args"; then
		leaks=$((leaks + 1))
		grep -E '[0-9a-fA-F]{64}' <<<"$args" >>"$seen"
	fi
	grep -q "t_counter" <<<"$args" && running=$((running + 1))
	sleep 0.02
done
rc=0; wait "$job" || rc=$?
if [ "$rc" = 0 ] && [ "$leaks" = 0 ]; then
	passed=$((passed + 1))
	echo "PASS: dsmrun --hosts across namespaces, no secret in $samples ps samples ($running during the job)"
else
	failed=$((failed + 1))
	echo "FAIL: dsmrun --hosts: exit $rc, a 64-hex string on a command line in $leaks of $samples ps samples"
	sed 's/^/  | /' "$out" "$seen"
fi
rm -f "$rsh" "$out" "$seen"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
