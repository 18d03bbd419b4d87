#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Generate ./configure from configure.ac (needs autoconf, automake, libtool, pkg-config).
set -e
cd "$(dirname "$0")"
mkdir -p build-aux m4
autoreconf -fi
