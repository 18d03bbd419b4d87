#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_ckpt.sh - checkpoints, rollback and restart (runtime/ft, dsm(7)).
#
#  1. rollback: t_ckpt checkpoints, changes data and allocations, rolls
#     back and checks, on 2, 4 and 8 nodes under every consistency model
#     and both fault backends;
#  2. restart: jacobi --checkpoint-every, a random node killed with
#     SIGKILL at random moments, restarted each time with --restart: the
#     final grid bit for bit that of a run without failures;
#  3. damaged checkpoints (truncated, a flipped bit, a missing file, a
#     manifest of a job of another size) refused with one line naming the
#     file, and the epoch before used;
#  4. a node killed while a checkpoint is being written: that epoch never
#     commits and the one before is restored;
#  5. dsmrun --restart-on-failure: a node of a checkpointing jacobi killed,
#     the launcher restarts the job from the last checkpoint by itself;
#  6. restart, as in 2: sor --checkpoint-every, a random node killed twice
#     at random moments, restarted: the final grid bit for bit that of a
#     run without failures.
# Every run is under `timeout -s KILL`.  Ends with "N passed, N failed".
set -uo pipefail

bindir=${TEST_BINDIR:-$(cd "$(dirname "$0")/../multinode" && pwd)}
top_build=${TOP_BUILDDIR:-$(cd "$bindir/../.." && pwd)}
dsmrun=${DSMRUN:-$top_build/tools/dsmrun/dsmrun}
tckpt=$top_build/tests/ckpt/t_ckpt
jacobi=$top_build/apps/jacobi
sor=$top_build/apps/sor
LIMIT=60

for f in "$dsmrun" "$tckpt" "$jacobi" "$sor"; do
	[ -x "$f" ] || { echo "FAIL: $f was not built"; echo "0 passed, 1 failed"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_ckpt.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# Nothing from an enclosing job or the caller's environment.
for v in $(env | sed -n 's/^\(DSM_[A-Z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
export DSM_CHECKPOINT_DIR=$tmp/ck

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() {
	failed=$((failed + 1)); echo "FAIL: $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/  | /' "$2" | head -n 20
}
run() {	# run OUT COMMAND...: exit status of COMMAND, output in OUT
	local out=$1
	shift
	timeout -s KILL "$LIMIT" "$@" >"$out" 2>&1 </dev/null
}

# --- 1. rollback everywhere -------------------------------------------------
backends="sigsegv"
if DSM_FAULT_BACKEND=userfaultfd run "$tmp/probe" "$tckpt" rollback; then
	backends="sigsegv userfaultfd"
else
	echo "SKIP: userfaultfd is not usable here: $(head -n 1 "$tmp/probe")"
fi
for b in $backends; do
	for n in 2 4 8; do
		for m in sequential release weak; do
			rm -rf "$DSM_CHECKPOINT_DIR"
			name="rollback, $n nodes, $m, $b"
			if DSM_FAULT_BACKEND=$b DSM_CONSISTENCY=$m run "$tmp/out" "$dsmrun" -n "$n" \
			   "$tckpt" rollback; then
				pass "$name"
			else
				fail "$name" "$tmp/out"
			fi
		done
	done
done

# --- 2. jacobi killed at random moments, restarted ----------------------------
# kill_restart NAME APP KILLS ARGS...: the reference, APP ARGS on 4 nodes
# without failures (its checksum in $want, empty if it failed); then KILLS
# times APP started (with --restart once a checkpoint is there) and a random
# node killed with SIGKILL at a random moment; then a last --restart must
# end with the reference's checksum and a passed check.
kill_restart() {
	local name=$1 app=$2 nkills=$3 k job kills=0 restarts=0 restart victims
	shift 3
	local args=("$@")	# set -- below takes the positional parameters
	want=
	rm -rf "$DSM_CHECKPOINT_DIR"
	if ! run "$tmp/ref" "$dsmrun" -n 4 "$app" "${args[@]}" ||
	   ! want=$(grep -o 'checksum [0-9a-f]*' "$tmp/ref"); then
		want=
		fail "$name: the run without failures failed" "$tmp/ref"
		return
	fi
	rm -rf "$DSM_CHECKPOINT_DIR"
	for k in $(seq "$nkills"); do
		restart=()
		ls "$DSM_CHECKPOINT_DIR"/*.manifest >/dev/null 2>&1 && restart=(--restart)
		[ ${#restart[@]} -gt 0 ] && restarts=$((restarts + 1))
		"$dsmrun" -n 4 "${restart[@]}" "$app" "${args[@]}" >"$tmp/kill$k" 2>&1 </dev/null &
		job=$!
		# After start-up (about half a second here), before the end.
		sleep "$((1 + RANDOM % 2)).$((RANDOM % 10))"
		victims=$(cat /proc/$job/task/*/children 2>/dev/null)
		set -- $victims
		if [ $# -gt 0 ]; then
			shift $((RANDOM % $#))
			kill -9 "$1" 2>/dev/null && kills=$((kills + 1))
		fi
		wait "$job"
	done
	if run "$tmp/final" "$dsmrun" -n 4 --restart "$app" "${args[@]}" &&
	   [ "$(grep -o 'checksum [0-9a-f]*' "$tmp/final")" = "$want" ] &&
	   grep -q 'check passed' "$tmp/final"; then
		pass "$name: $kills nodes killed with SIGKILL, $((restarts + 1)) restarts: $want" \
		     "as without failures ($(grep -o 'restarted from checkpoint epoch [0-9]* at [a-z]* [0-9]*' "$tmp/final"))"
	else
		fail "$name after $kills kills: not the result of the run without failures ($want)" \
		     "$tmp/final"
	fi
}
jargs=(-n 384 -i 4000 --checkpoint-every 25)
kill_restart jacobi "$jacobi" 4 "${jargs[@]}"
jacobi_want=$want

# --- 3. damaged checkpoints ----------------------------------------------------
# save: 4 nodes, versions 1..3 (epochs 2 and 3 kept); then damage epoch 3.
save3() {
	rm -rf "$DSM_CHECKPOINT_DIR"
	run "$tmp/save" "$dsmrun" -n "${1:-4}" "$tckpt" save 3 ||
		{ fail "t_ckpt save 3" "$tmp/save"; return 1; }
}
# expect NAME FILE-TEXT REASON-TEXT: the restart refuses with one line
# naming the file and the reason, and restores version 2 (epoch 2).
expect_fallback() {
	local name=$1 file=$2 reason=$3 lines
	if ! run "$tmp/out" "$dsmrun" -n 4 --restart "$tckpt" restart; then
		fail "$name: the restart failed" "$tmp/out"
		return
	fi
	lines=$(grep -c 'refused' "$tmp/out")
	if [ "$lines" != 1 ]; then
		fail "$name: $lines lines refusing a checkpoint, not 1" "$tmp/out"
	elif ! grep 'refused' "$tmp/out" | grep -qF "$file"; then
		fail "$name: the refusal does not name $file" "$tmp/out"
	elif ! grep 'refused' "$tmp/out" | grep -qF "$reason"; then
		fail "$name: the refusal does not say \"$reason\"" "$tmp/out"
	elif ! grep -q 'restored epoch 2, version 2' "$tmp/out"; then
		fail "$name: epoch 2 was not the one restored" "$tmp/out"
	else
		pass "$name: $(grep 'refused' "$tmp/out")"
	fi
}
# flip FILE OFFSET: one bit of the byte at OFFSET.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 16)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
ck=$DSM_CHECKPOINT_DIR
if save3; then
	f=$ck/epoch-00000003.node-0002.dsmck
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	expect_fallback "truncated node file" "epoch-00000003.node-0002.dsmck" "truncated"
fi
if save3; then
	f=$ck/epoch-00000003.node-0001.dsmck
	flip "$f" $(($(stat -c %s "$f") / 2))
	expect_fallback "one bit flipped in a node file" "epoch-00000003.node-0001.dsmck" "SHA-256"
fi
if save3; then
	flip "$ck/epoch-00000003.manifest" 200
	expect_fallback "a corrupted manifest" "epoch-00000003.manifest" "SHA-256"
fi
if save3; then
	rm -f "$ck/epoch-00000003.node-0003.dsmck"
	expect_fallback "a node file missing" "epoch-00000003.node-0003.dsmck" "No such file"
fi
# Another job's size: a 2-node job's epochs 2 and 3, then a 4-node job's
# epoch 4 in the same directory; a 2-node restart refuses 4, takes 3.
if save3 2; then
	if run "$tmp/save" "$dsmrun" -n 4 "$tckpt" save 1 &&
	   run "$tmp/out" "$dsmrun" -n 2 --restart "$tckpt" restart &&
	   [ "$(grep -c refused "$tmp/out")" = 1 ] &&
	   grep refused "$tmp/out" | grep -q 'epoch-00000004.manifest.*a job of 4 nodes, this job has 2' &&
	   grep -q 'restored epoch 3, version 3' "$tmp/out"; then
		pass "a checkpoint of a job of 4 nodes, restarted with 2: $(grep refused "$tmp/out")"
	else
		fail "a checkpoint of another node count was not refused for the one before" "$tmp/out"
	fi
	# No usable epoch at all: dsm_init fails, with one line saying so.
	rm -f "$ck"/epoch-00000003.*
	if ! run "$tmp/out" "$dsmrun" -n 2 --restart "$tckpt" restart &&
	   [ "$(grep -c 'no usable checkpoint' "$tmp/out")" = 1 ]; then
		pass "no usable checkpoint: $(grep 'no usable checkpoint' "$tmp/out")"
	else
		fail "no usable checkpoint: not one line and a failure" "$tmp/out"
	fi
fi

# --- 4. a node killed while a checkpoint is being written -------------------
# t_ckpt loop writes 24 MiB per node per checkpoint; kill node 2 while its
# file of some epoch after the second is still a temporary one.
killed_during=
for attempt in 1 2 3; do
	rm -rf "$ck"
	"$dsmrun" -n 4 "$tckpt" loop 24 >"$tmp/loop" 2>&1 </dev/null &
	job=$!
	victim= epoch=
	for _ in $(seq 2000); do
		t=$(ls "$ck" 2>/dev/null | grep -m 1 -E '^epoch-0*([3-9]|[1-9][0-9]+)\.node-0002\.dsmck\.tmp$')
		if [ -n "$t" ]; then
			epoch=${t#epoch-}
			epoch=${epoch%%.*}
			for p in $(cat /proc/$job/task/*/children 2>/dev/null); do
				tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx DSM_NODE_ID=2 && victim=$p
			done
			[ -n "$victim" ] && kill -9 "$victim"
			break
		fi
		sleep 0.005
	done
	[ -z "$victim" ] && kill -9 $(cat /proc/$job/task/*/children 2>/dev/null) 2>/dev/null
	wait "$job"
	# Too late if that epoch committed after all: try again.
	if [ -n "$victim" ] && [ ! -e "$ck/epoch-$epoch.manifest" ]; then
		killed_during=$((10#$epoch))
		break
	fi
done
if [ -z "$killed_during" ]; then
	fail "could not kill a node while it wrote a checkpoint (3 attempts)" "$tmp/loop"
elif run "$tmp/out" "$dsmrun" -n 4 --restart "$tckpt" restart 24 &&
     grep -q "restored epoch $((killed_during - 1)), version" "$tmp/out"; then
	pass "node 2 killed while writing epoch $killed_during: $(grep 'restored epoch' "$tmp/out")"
else
	fail "node 2 killed while writing epoch $killed_during: epoch $((killed_during - 1)) was not restored" \
	     "$tmp/out"
fi

# --- 5. dsmrun --restart-on-failure: the launcher restarts by itself -----------
# One node of the first attempt killed; the supervisor starts the job again
# from the last complete checkpoint, and the result is the failure-free one.
want=$jacobi_want
if [ -n "$want" ]; then
	rm -rf "$DSM_CHECKPOINT_DIR"
	timeout -s KILL "$LIMIT" "$dsmrun" --restart-on-failure 2 -n 4 "$jacobi" "${jargs[@]}" \
		>"$tmp/rof" 2>&1 </dev/null &
	job=$!
	sleep "1.$((RANDOM % 10))"
	# timeout -> the supervising dsmrun -> the first attempt's dsmrun -> nodes
	super=$(cat /proc/$job/task/*/children 2>/dev/null | tr -s ' ' '\n' | grep -m1 .)
	attempt=$(cat /proc/"${super:-0}"/task/*/children 2>/dev/null | tr -s ' ' '\n' | grep -m1 .)
	victims=$(cat /proc/"${attempt:-0}"/task/*/children 2>/dev/null)
	set -- $victims
	[ $# -gt 0 ] && shift $((RANDOM % $#)) && kill -9 "$1" 2>/dev/null
	wait "$job"
	rc=$?
	if [ "$rc" = 0 ] && grep -q 'restarting it from the last complete checkpoint' "$tmp/rof" &&
	   [ "$(grep -o 'checksum [0-9a-f]*' "$tmp/rof" | tail -1)" = "$want" ]; then
		pass "dsmrun --restart-on-failure 2: a node killed, restarted from the last checkpoint: $want"
	else
		fail "dsmrun --restart-on-failure 2 after a kill: exit $rc, not the failure-free result" "$tmp/rof"
	fi
fi

# --- 6. sor killed at random moments, restarted -------------------------------
# About 8 s a run here: a reference, two killed, the last restart.
kill_restart sor "$sor" 2 -n 384 -i 1500 --checkpoint-every 25

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
