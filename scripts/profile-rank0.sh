#!/usr/bin/env bash
# Profile rank 0 of an mpirun job with perf (software clock; works in VMs without PMU):
#   scripts/mpirun.sh -np 2 scripts/profile-rank0.sh build/bin/all_reduce_perf -b 32K -e 32K -n 20000
#   perf report -i /tmp/strata-rank0.perf --no-children
if [ "${OMPI_COMM_WORLD_RANK:-0}" = "0" ]; then
  exec perf record -e cpu-clock -g -o "${PERF_OUT:-/tmp/strata-rank0.perf}" "$@"
fi
exec "$@"
