#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# run-demo.sh - the README's main job in one command: set up and build
# (scripts/setup.sh), then run the demo (scripts/demo.sh): the apps on 1, 2
# and 4 local nodes under every consistency model this build supports, a
# Markdown table on stdout and results/demo.{csv,md,png}.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
"$top/scripts/setup.sh"
exec "$top/scripts/demo.sh" "$build"
