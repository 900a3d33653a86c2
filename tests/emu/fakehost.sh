#!/bin/sh
# Pretend each group of PPN ranks is a host and each group of PPS ranks a site, on one
# machine: STRATA_HOSTID and STRATA_SITE from the launcher's rank (Open MPI or torchrun).
# Uneven shapes: PPN=3 PPS=5 gives hosts of 3,2 | 1,3,1 ... ranks. Used by ctest.
r=${OMPI_COMM_WORLD_RANK:-${RANK:-0}}
export STRATA_HOSTID=h$((r / ${PPN:-2}))
export STRATA_SITE=s$((r / ${PPS:-4}))
exec "$@"
