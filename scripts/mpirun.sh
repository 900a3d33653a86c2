#!/usr/bin/env bash
# mpirun with the options this class of machine needs: root allowed, more ranks than
# cores allowed (Open MPI then yields when idle), no binding conflicts.
args=(--oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
exec mpirun "${args[@]}" "$@"
