#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# run-demo.sh - the README's main job in one command: set up and build
# (scripts/setup.sh), then run the short version of the application suite
# with dsm-bench(1): every app that is built, at its default size, on 4 local
# nodes and on 1 (the baseline of the speedups), under each consistency model
# (a model this build does not support is reported and skipped), 3 runs each.  Prints the Markdown table and where the table, the
# CSV files and the plots are: results/ at the top of the source tree, or
# $RESULTS_DIR.  Extra arguments go to dsm-bench (e.g. --apps jacobi,
# --nodes 1,4, or with root --netns).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
"$top/scripts/setup.sh"
exec "$build/benchmarks/dsm-bench" --build "$build" --quick \
	--out "${RESULTS_DIR:-$top/results}" "$@"
