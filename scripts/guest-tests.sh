#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# guest-tests.sh - the tests that need the guest of ../shared/tools/vm
# (Debian's kernel: netem, Soft-RoCE rxe0, 2 NUMA nodes), run in its one
# boot by .ci/run:
#   1. the network-namespace test with a real `tc netem` delay on every link,
#      and run-netem-scaling.sh (an app's time against the delay);
#   2. the transport conformance suite, which there runs rdma too;
#   3. the multi-node tests over DSM_TRANSPORT=rdma (tests/rdma/check_rdma.sh);
#   4. the NUMA tests that need two domains (tests/numa/check_numa2.sh).
# Each part prints its own lines; the last line adds them up:
# "N passed, N failed".  BUILD_DIR is the host's build tree (shared).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
passed=0 failed=0

# Add up a part's own "N passed, N failed" line; a part that failed
# without counting it is one failure.
count() {
	local name=$1 rc=$2 log=$3 line p f
	# (no process substitution: the guest has no /dev/fd)
	line=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$log" | tail -1)
	p=${line% *} f=${line#* }
	p=${p:-0} f=${f:-0}
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ "$f" = 0 ]; then
		echo "guest: $name failed (exit $rc) without counting a failure"
		f=1
	fi
	[ "$rc" = 77 ] && echo "guest: $name skipped: $(grep -v '^$' "$log" | tail -1)"
	passed=$((passed + p)) failed=$((failed + f))
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "guest: network namespaces with netem delay"
modprobe sch_netem 2>/dev/null
TEST_BINDIR="$build/tests/multinode" NETNS_DELAY=${NETNS_DELAY:-2ms} \
	bash "$top/tests/netns/check_netns.sh" 2>&1 | tee "$log"
count netns "${PIPESTATUS[0]}" "$log"

echo "guest: an app's time against netem delay (run-netem-scaling.sh)"
TOP_BUILDDIR="$build" TOP_SRCDIR="$top" \
	bash "$top/tests/bench/check_netem_scaling.sh" 2>&1 | tee "$log"
count netem-scaling "${PIPESTATUS[0]}" "$log"

echo "guest: transport conformance suite (loop, tcp, rdma)"
"$build/tests/conformance/check_transports" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# Check's summary: "100%: Checks: N, Failures: F, Errors: E"
sed -nE 's/^[0-9]+%: Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' "$log" |
	tail -1 | { read -r c f e && echo "$((c - f - e)) passed, $((f + e)) failed"; } >>"$log"
tail -1 "$log"
count conformance "$rc" "$log"

if [ -f "$top/tests/rdma/check_rdma.sh" ]; then
	echo "guest: multi-node tests over DSM_TRANSPORT=rdma"
	TEST_BINDIR="$build/tests/multinode" DSMRUN="$build/tools/dsmrun/dsmrun" \
		bash "$top/tests/rdma/check_rdma.sh" 2>&1 | tee "$log"
	count rdma "${PIPESTATUS[0]}" "$log"
fi

if [ -f "$top/tests/numa/check_numa2.sh" ]; then
	echo "guest: NUMA placement, migration, replication and freezing on 2 domains"
	TOP_BUILDDIR="$build" DSMRUN="$build/tools/dsmrun/dsmrun" \
		bash "$top/tests/numa/check_numa2.sh" 2>&1 | tee "$log"
	count numa "${PIPESTATUS[0]}" "$log"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
