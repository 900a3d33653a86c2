#!/usr/bin/env bash
# Configure and build into BUILD_DIR (default build/). Extra arguments go to cmake.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@" >/dev/null
cmake --build "$build" -j"$(nproc)" 2>&1 | grep -vE '^\[|^-- |Scanning|Built target|Consolidate' || true
test -f "$build/lib/libstrata.so"
