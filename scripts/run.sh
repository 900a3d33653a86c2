#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build, and run the
# allreduce benchmark on local ranks beside Open MPI's own (-M 1).
#   scripts/run.sh [NRANKS] [extra all_reduce_perf flags]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" -DSTRATA_WERROR=ON
np=${1:-2}
shift || true
"$root/build/bin/strata_info" -n "$np" | head -8
"$root/scripts/mpirun.sh" -np "$np" "$root/build/bin/all_reduce_perf" -b 8 -e 128M -f 2 -M 1 "$@"
