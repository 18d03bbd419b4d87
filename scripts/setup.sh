#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# setup.sh - install what libdsm needs (Debian 12; as root, or with sudo) and
# build it out of tree in build/ (or $BUILD_DIR).  Idempotent: a second run
# only rebuilds what changed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}

pkgs="build-essential autoconf automake libtool pkg-config check libhwloc-dev
libibverbs-dev librdmacm-dev gnuplot-nox iproute2 python3 openmpi-bin
libssl-dev clang slurm-wlm munge"
missing=()
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "setup: installing ${missing[*]}" >&2
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
	echo "setup: generating configure" >&2
	(cd "$top" && ./autogen.sh) >&2
fi
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
	echo "setup: configuring in $build" >&2
	(cd "$build" && "$top/configure" --quiet) >&2
fi
echo "setup: building in $build" >&2
make -C "$build" -j"$(nproc)" >&2
echo "setup: libdsm is built in $build" >&2
