#!/usr/bin/env bash
# Build and run every test (ctest): unit, in-process plans, multi-process over shm and UCX,
# fault injection. SANITIZE=1 builds with AddressSanitizer + UBSan into build-asan/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
if [ "${SANITIZE:-0}" = 1 ]; then
  export BUILD_DIR=${BUILD_DIR:-$root/build-asan} BUILD_TYPE=RelWithDebInfo
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # Open MPI's own allocations are not ours to judge
  # CUDA off here: the device paths run under the sanitizers on the emulated device
  "$root/scripts/build.sh" -DSTRATA_WERROR=ON -DSTRATA_SANITIZE=ON -DSTRATA_BUILD_BENCHMARKS=OFF -DSTRATA_CUDA=OFF
else
  export BUILD_DIR=${BUILD_DIR:-$root/build}
  "$root/scripts/build.sh" -DSTRATA_WERROR=ON
fi
cd "$BUILD_DIR"
ctest --output-on-failure ${CTEST_ARGS:-}
