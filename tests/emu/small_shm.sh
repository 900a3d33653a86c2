#!/usr/bin/env bash
# Ranks on a host whose /dev/shm is tiny (containers default to 64 MiB; here 4 MiB): the
# library must never die of SIGBUS. It shrinks its inboxes and staging slots, turns the
# shared-memory collectives off if they still do not fit, and every result stays right.
# Usage: small_shm.sh SIZE NP MPIRUN... -- TEST ARGS...   (exit 77: no mount namespace here)
set -u
size=$1 np=$2
shift 2
if ! unshare -m true 2>/dev/null; then echo "skipped: no namespaces (unshare -m)"; exit 77; fi
exec unshare -m bash -c '
  mount -t tmpfs -o size='"$size"' tmpfs /dev/shm || { echo "cannot mount a tmpfs on /dev/shm"; exit 1; }
  df -h /dev/shm | tail -1
  "$@"
' small_shm "$@"
