#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sanitize.sh - the sanitizer stage of .ci/run (issue 12): build libdsm twice
# more, out of tree, and run the tests that can find memory errors, undefined
# behaviour and data races in the runtime.  Ends with "N passed, N failed"
# and the stage's duration.
#
# 1. $BUILD_DIR-asan: -fsanitize=address,undefined, nothing recovers.
#    - The unit tests and conformance suites (every tests/unit/check_* and
#      tests/conformance/check_* this tree builds), both fault backends.
#    - The multi-node programs tests/multinode/t_* on 3 nodes (odd, so homes
#      are spread unevenly; t_visibility needs 3) under every consistency
#      model x both fault backends (sigsegv, userfaultfd), at the sizes
#      check_multinode uses.
#    - Cases only the check_multinode driver runs: a killed node, a wrong job
#      secret, bad variables and DSM_STATS (error and exit paths leak first).
# 2. $BUILD_DIR-tsan: -fsanitize=thread, the threaded tests (see below).
#
# Why these sanitizer options (the runtime's fault handling needs some):
#  - DSM_HEAP_BASE: the shared heap sits at one fixed address on every node,
#    by default 0x100000000000, which is inside ASan's shadow memory
#    (0x02008fff7000-0x10007fff7fff on x86-64) and outside TSan's application
#    ranges.  0x200000000000 is in ASan's high application memory;
#    0x4000000000 is in TSan's low application range (it ends at
#    0x8000000000).  Both are 64 KiB aligned and free of PIE, libs and stacks.
#  - ASan handle_segv=0, handle_sigbus=0 for the Check programs: the fault
#    backends' suites assert that SIGSEGV/SIGBUS have the kernel's default
#    disposition before a backend is installed and after it is closed, and
#    that a fault outside the heap kills the process by the signal
#    (tcase_add_test_raise_signal).  ASan's own deadly-signal handler would
#    be that "previous handler" and turn the death into exit 1.
#  - ASan allow_user_segv_handler=1 (keeping handle_segv/handle_sigbus on) for
#    the multi-node programs: the runtime's SIGSEGV (sigsegv backend) and
#    SIGBUS (userfaultfd backend, UFFD_FEATURE_SIGBUS) handlers must replace
#    ASan's, and then forward a fault that is not in the shared heap to the
#    handler they replaced, which is ASan's: a wild access still gets a
#    report with a stack.  (It is the default in GCC 12's libasan; stated so
#    that an older runtime does not silently keep the fault for itself.)
#    use_sigaltstack stays at its default (1): ASan's handler runs on its own
#    stack; the runtime's handlers run on the thread's stack, which they may
#    (they only block in futex waits, never recurse).
#  - detect_leaks=1 (LeakSanitizer) everywhere: the runtime frees what it
#    allocated at dsm_finalize and needs no suppressions.  A node that ends
#    through a fatal path calls _exit and is not leak-checked.
#  - CK_TIMEOUT_MULTIPLIER=4: the Check timeouts are sized for -O2 without
#    instrumentation; ASan is 2-4x slower (check_diff's exhaustive test_bound).
#  - UBSan print_stacktrace=1; -fno-sanitize-recover=all makes any UB fatal.
#
# ThreadSanitizer and the fault handling: see run_tsan below.
#
# Environment: BUILD_DIR (the base name, default build/), ASAN_BUILD_DIR,
# TSAN_BUILD_DIR, SANITIZE_NODES (3), SANITIZE_SKIP_TSAN=1.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
base=${BUILD_DIR:-$top/build}
asan_dir=${ASAN_BUILD_DIR:-$base-asan}
tsan_dir=${TSAN_BUILD_DIR:-$base-tsan}
nodes=${SANITIZE_NODES:-3}
jobs=$(nproc)
t0=$(date +%s)
passed=0 failed=0

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# A sanitizer report in a log, even from a node whose exit status got lost.
san_report='ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer|ThreadSanitizer: (CHECK|unexpected)|AddressSanitizer: (CHECK|unexpected)'

# Show why a case failed: the first sanitizer report, else the log's end.
show_log() {
	local log=$1 n
	n=$(grep -nE "$san_report" "$log" | head -1 | cut -d: -f1)
	if [ -n "$n" ]; then
		sed -n "$((n > 3 ? n - 3 : 1)),$((n + 40))p" "$log" | sed 's/^/    /'
	else
		tail -25 "$log" | sed 's/^/    /'
	fi
}

# configure_dir DIR CFLAGS LDFLAGS: configure DIR once (its Makefile then
# says which test programs this tree has: check_programs).
configure_dir() {
	local dir=$1 cflags=$2 ldflags=$3
	if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
		(cd "$top" && ./autogen.sh) >/dev/null 2>&1 || { fail "autogen.sh in $top"; return 1; }
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		if ! (cd "$dir" && "$top/configure" --quiet CFLAGS="$cflags" LDFLAGS="$ldflags") \
			>"$dir/sanitize-configure.log" 2>&1; then
			fail "configure $dir ($cflags)"
			show_log "$dir/sanitize-configure.log"
			return 1
		fi
	fi
}

# build DIR TARGETS...: make them in the configured DIR.
build() {
	local dir=$1
	shift
	if ! make -C "$dir" -j"$jobs" "$@" >"$dir/sanitize-make.log" 2>&1; then
		fail "build in $dir"
		grep -E 'error|Error' "$dir/sanitize-make.log" | head -20 | sed 's/^/    /'
		return 1
	fi
}

# The Check programs of tests/unit and tests/conformance this tree has (the
# list changes as modules come and go; ask the Makefile, not a fixed list).
check_programs() {
	local dir=$1 src name
	for src in "$top"/tests/unit/check_*.c "$top"/tests/conformance/check_*.c; do
		name=${src#$top/}
		name=${name%.c}
		grep -q "^$name\\\$(EXEEXT):" "$dir/Makefile" 2>/dev/null && echo "$name"
	done
}

# run_check DIR LABEL PROG [CK_RUN_CASE]: one Check program; its test cases
# count (as in scripts/test.sh), exit 77 is a skip.  One PASS/FAIL line.
run_check() {
	local dir=$1 label=$2 prog=$3 case=${4:-} log line checks fails errs rc
	log=$dir/sanitize-logs/${prog//\//_}${case:+.$case}.log
	mkdir -p "$dir/sanitize-logs"
	# (An empty CK_RUN_CASE would select no case at all.)
	if [ -n "$case" ]; then
		(cd "$dir" && CK_RUN_CASE=$case timeout 600 "./$prog") >"$log" 2>&1
	else
		(cd "$dir" && timeout 600 "./$prog") >"$log" 2>&1
	fi
	rc=$?
	# (Check may print it after "Running suite(s):" on the same line.)
	line=$(grep -oE '[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -1)
	if [ $rc = 77 ]; then
		echo "SKIP: $label $prog: $(grep -m1 '^SKIP' "$log" || tail -1 "$log")"
		return
	fi
	if [ -z "$line" ]; then
		fail "$label $prog${case:+ ($case)}: exit $rc, no Check summary"
		show_log "$log"
		return
	fi
	checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	errs=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	if [ "$checks" = 0 ]; then
		fail "$label $prog${case:+ ($case)}: ran no test case"
		return
	fi
	# A report after the summary (LeakSanitizer at exit) fails the program.
	if [ $rc != 0 ] || grep -qE "$san_report" "$log"; then
		[ $((fails + errs)) = 0 ] && fails=1
	fi
	passed=$((passed + checks - fails - errs))
	failed=$((failed + fails + errs))
	if [ $((fails + errs)) = 0 ]; then
		echo "PASS: $label $prog${case:+ ($case)} ($checks checks)"
	else
		echo "FAIL: $label $prog${case:+ ($case)}: $((fails + errs)) of $checks failed (log: $log)"
		grep -E ':[EF]:' "$log" | head -10 | sed 's/^/    /'
		show_log "$log"
	fi
}

# run_job DIR LABEL NODES "ENV..." PROG ARGS...: one multi-node job through
# dsmrun; exit 77 (the program does not apply to this model) is a skip.
run_job() {
	local dir=$1 label=$2 n=$3 env=$4 prog=$5 log rc
	shift 5
	log=$dir/sanitize-logs/$prog.${label// /_}.log
	mkdir -p "$dir/sanitize-logs"
	# shellcheck disable=SC2086  # env is a list of NAME=VALUE words
	env $env timeout 150 "$dir/tools/dsmrun/dsmrun" -n "$n" --label --timeout 120 -- \
		"$dir/tests/multinode/$prog" "$@" >"$log" 2>&1
	rc=$?
	if [ $rc = 77 ] && ! grep -qE "$san_report" "$log"; then
		echo "SKIP: $prog -n $n ($label): $(grep -v '^\[[0-9]*\] *$' "$log" | tail -1)"
	elif [ $rc = 0 ] && ! grep -qE "$san_report" "$log"; then
		pass "$prog -n $n ($label)"
	else
		fail "$prog -n $n ($label): exit $rc (log: $log)"
		show_log "$log"
	fi
}

# The self-checking programs at check_multinode's sizes (its progs[]).
multinode_progs=(
	"t_counter 3 200" "t_flag 64 6" "t_falseshare 4 5" "t_jacobi 66 130 20"
	"t_threads 3 4 3" "t_alloc" "t_api" "t_syscalls 3" "t_vclock 5"
	"t_visibility" "t_multiwriter 6 10" "t_sweep 64 3" "t_lockvc 60" "t_waiter 100"
)
multinode_targets() {
	local p
	for p in "${multinode_progs[@]}"; do
		echo "tests/multinode/${p%% *}"
	done
}

run_asan() {
	local dir=$asan_dir prog p m be extra backends
	echo "sanitize: ASan+UBSan build in $dir"
	# shellcheck disable=SC2046  # word lists of make targets
	configure_dir "$dir" \
		'-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
		'-fsanitize=address,undefined' || return
	build "$dir" libdsm.la tools/dsmrun/dsmrun tests/multinode/check_multinode \
		tests/multinode/t_spin $(check_programs "$dir") $(multinode_targets) || return

	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export CK_TIMEOUT_MULTIPLIER=4
	export DSM_HEAP_BASE=0x200000000000

	# Unit and conformance suites: the fault backends' tests need the
	# kernel's own SIGSEGV/SIGBUS dispositions (see the top).
	for prog in $(check_programs "$dir"); do
		ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:detect_leaks=1 run_check "$dir" asan "$prog"
	done

	# Which fault backends this host runs (userfaultfd needs Linux 6.4 and
	# the permission; check_uffd said SKIP above if it cannot).
	backends="sigsegv"
	if grep -q 'Checks: [1-9]' "$dir/sanitize-logs/tests_unit_check_uffd.log" 2>/dev/null; then
		backends="sigsegv userfaultfd"
	else
		echo "SKIP: the userfaultfd backend cannot run here (see check_uffd above)"
	fi

	export ASAN_OPTIONS=allow_user_segv_handler=1:detect_leaks=1
	for be in $backends; do
		for m in sequential release weak; do
			for p in "${multinode_progs[@]}"; do
				extra=""
				[ "${p%% *}" = t_alloc ] && extra="DSM_HEAP_SIZE=4M"	# ENOMEM path
				[ "${p%% *}" = t_lockvc ] && extra="DSM_TEST_RELEASE_DELAY_US=500"
				# shellcheck disable=SC2086  # p is "PROG ARGS..."
				run_job "$dir" "asan $m $be" "$nodes" \
					"DSM_CONSISTENCY=$m DSM_FAULT_BACKEND=$be $extra" $p
			done
		done
	done

	# The driver's cases on error and exit paths (its own matrix of
	# programs x node counts is what the loop above replaces).
	for c in kill_node wrong_secret bad_variables stats; do
		DSMRUN=$dir/tools/dsmrun/dsmrun TEST_BINDIR=$dir/tests/multinode \
			run_check "$dir" asan tests/multinode/check_multinode "$c"
	done
	unset ASAN_OPTIONS DSM_HEAP_BASE
}

# ThreadSanitizer: the programs whose nodes run several application threads
# (t_counter, t_threads: every thread faults, locks and synchronizes; and
# t_waiter, whose lock grants and barrier releases the waiting application
# thread delivers while the service thread delivers the rest), plus
# the fault backends' and the transports' own suites, whose service and
# handler threads race with the caller by design.  Under both fault
# backends: userfaultfd resolves faults in the runtime's handler thread
# while the faulting thread sleeps in the kernel, which TSan sees as
# ordinary threads; with sigsegv the runtime's handler runs in the
# faulting thread, inside TSan's signal wrapper, which delivers a
# synchronous SIGSEGV at once.  DSM_HEAP_BASE moves the heap into TSan's
# low application range (see the top); TSan's deadlock detector is off
# (detect_deadlocks=0) because the runtime's page-lock stripes are taken in
# address order, two at a time at most, which the detector cannot know.
run_tsan() {
	local dir=$tsan_dir m be p backends
	echo "sanitize: TSan build in $dir"
	configure_dir "$dir" '-O1 -g -fsanitize=thread -fno-omit-frame-pointer' \
		'-fsanitize=thread' || return
	build "$dir" libdsm.la tools/dsmrun/dsmrun tests/unit/check_fault tests/unit/check_uffd \
		tests/conformance/check_transports \
		tests/multinode/t_counter tests/multinode/t_threads tests/multinode/t_waiter || return

	export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:detect_deadlocks=0"
	export CK_TIMEOUT_MULTIPLIER=4
	export DSM_HEAP_BASE=0x4000000000 DSM_TEST_HEAP_BASE=0x4000000000
	# As under ASan: the fault suites want the kernel's own SIGSEGV/SIGBUS.
	for prog in tests/unit/check_fault tests/unit/check_uffd tests/conformance/check_transports; do
		TSAN_OPTIONS="$TSAN_OPTIONS:handle_segv=0:handle_sigbus=0" run_check "$dir" tsan "$prog"
	done
	backends="sigsegv"
	if grep -q 'Checks: [1-9]' "$dir/sanitize-logs/tests_unit_check_uffd.log" 2>/dev/null; then
		backends="sigsegv userfaultfd"
	fi
	for be in $backends; do
		for m in sequential release weak; do
			for p in "t_counter 3 100" "t_threads 3 4 3" "t_waiter 100"; do
				# shellcheck disable=SC2086  # p is "PROG ARGS..."
				run_job "$dir" "tsan $m $be" 2 "DSM_CONSISTENCY=$m DSM_FAULT_BACKEND=$be" $p
			done
		done
	done
	unset TSAN_OPTIONS DSM_HEAP_BASE DSM_TEST_HEAP_BASE
}

run_asan
if [ "${SANITIZE_SKIP_TSAN:-0}" != 1 ]; then
	run_tsan
fi

echo "sanitize: the stage took $(($(date +%s) - t0)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
