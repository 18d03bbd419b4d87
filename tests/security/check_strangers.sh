#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_strangers.sh - strangers at node 0's bootstrap port cannot stop a
# real job from starting (the bound in dsm(7), SECURITY).
#
# Node 0 is started first (through a stand-in for ssh that holds the other
# nodes back), so the strangers are ahead of every real node in its accept
# queue: 64 that connect and send nothing (twice the cap on pending
# handshakes), 8 that stop half-way through a HELLO, one that sends
# garbage and one that sends a HELLO and a MAC made with another secret.
# Then nodes 1-3 start; the 4-node job must finish within BOUND_MS.
# Handled one after another, the silent strangers alone would hold node 0
# for 64 handshake deadlines (over 3 minutes).  The same accept loop serves
# every node's data listener; tests/unit/check_handshake covers it there.
set -u
top_builddir=${TOP_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
dsmrun=${DSMRUN:-$top_builddir/tools/dsmrun/dsmrun}
bindir=${TEST_BINDIR:-$top_builddir/tests/multinode}
stranger=$top_builddir/tests/security/tcp_stranger
BOUND_MS=${BOUND_MS:-10000}
passed=0 failed=0

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

for f in "$dsmrun" "$bindir/t_counter" "$stranger"; do
	[ -x "$f" ] || { echo "SKIP: $f not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to pick a free port"; exit 77; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	{ echo "SKIP: cannot bind a TCP port on 127.0.0.1"; exit 77; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# The stand-in for ssh: runs the node here, but nodes other than 0 wait
# for the gate.
cat >"$work/rsh" <<EOS
#!/bin/sh
shift
case "\$*" in
*"DSM_NODE_ID=0 "*) ;;
*) while [ ! -e "$work/gate" ]; do sleep 0.02; done ;;
esac
exec sh -c "\$*"
EOS
chmod +x "$work/rsh"

addr=127.0.0.1:$port
DSMRUN_RSH="$work/rsh" DSM_CONNECT_TIMEOUT=30 timeout 90 "$dsmrun" -n 4 \
	--hosts 127.0.0.1 --port "$port" "$bindir/t_counter" >"$work/job.out" 2>&1 &
job=$!

"$stranger" silent "$addr" 64 >"$work/silent.out" 2>&1 &
pids+=($!)
"$stranger" partial "$addr" 8 >"$work/partial.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 1000); do
	grep -q ready "$work/silent.out" && grep -q ready "$work/partial.out" && break
	kill -0 "$job" 2>/dev/null || break
	sleep 0.02
done
if grep -q ready "$work/silent.out" && grep -q ready "$work/partial.out"; then
	pass "64 silent and 8 half-HELLO strangers connected to node 0 at $addr"
else
	fail "the strangers could not connect to node 0 at $addr"
	sed 's/^/  | /' "$work"/*.out
fi

# Rejected at once, while the silent ones are still pending.
for mode in garbage forged; do
	t0=$(date +%s%N)
	"$stranger" "$mode" "$addr"
	rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	if [ "$rc" = 0 ] && [ "$ms" -lt 2000 ]; then
		pass "a $mode stranger was closed by node 0 after $ms ms"
	else
		fail "a $mode stranger: exit $rc after $ms ms (0 within 2000 ms expected)"
	fi
done

t0=$(date +%s%N)
touch "$work/gate"
rc=0; wait "$job" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$rc" = 0 ] && [ "$ms" -le "$BOUND_MS" ]; then
	pass "a 4-node job started behind the strangers and finished in $ms ms (bound $BOUND_MS ms)"
else
	fail "the 4-node job behind the strangers: exit $rc after $ms ms (bound $BOUND_MS ms)"
	sed 's/^/  | /' "$work/job.out"
fi

check_warn() {	# description, pattern
	if grep -q "warning: rejected a connection from .*$2" "$work/job.out"; then
		pass "node 0 warned: $1"
	else
		fail "no warning from node 0 for $1"
		sed 's/^/  | /' "$work/job.out"
	fi
}
check_warn "garbage" "bad magic"
check_warn "the forged MAC" "authentication failed"
check_warn "strangers beyond the cap of pending handshakes" "too many unauthenticated connections"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
