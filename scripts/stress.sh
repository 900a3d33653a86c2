#!/usr/bin/env bash
# Randomized differential stress of the real library (tests/mpi/test_collectives.c --stress):
# random collectives, algorithms (auto and forced), dtypes, ops, counts (0 to 64 MiB, odd and
# unaligned), in place or not, blocking and nonblocking, on 2-8 ranks over shm, over UCX and
# across pretend hosts, every element checked against an independent reference. Every run is
# bounded in time; a failure prints the seed and the exact call, and how to replay it.
# Usage: scripts/stress.sh [--minutes N] [--seed S] [--build DIR] [--configs shm,ucx,fakehost]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=5 seed=1 build=$root/build
configs=("shm" "ucx" "fakehost")
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --configs) IFS=, read -r -a configs <<< "$2"; shift 2 ;;
    *) echo "usage: $0 [--minutes N] [--seed S] [--build DIR]"; exit 2 ;;
  esac
done
tc=$build/bin/test_collectives
[ -x "$tc" ] || { echo "stress: $tc not built (scripts/build.sh)"; exit 2; }
mpirun=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpirun+=(--allow-run-as-root)
end=$(( $(date +%s) + minutes * 60 ))
run=0 fails=0 calls=0
while [ "$(date +%s)" -lt "$end" ]; do
  s=$(( seed * 1000003 + run ))
  np=$(( 2 + (s * 5 + run / 3) % 7 ))      # 2..8 ranks
  cfg=${configs[$(( run % ${#configs[@]} ))]} # shm, ucx, pretend hosts in turn
  secs=15
  left=$(( end - $(date +%s) ))
  [ "$left" -lt 25 ] && secs=$(( left > 6 ? left - 5 : 1 ))
  env=(-x STRATA_TIMEOUT_MS=20000)
  pre=()
  case $cfg in
    ucx) env+=(-x STRATA_TRANSPORTS=ucx) ;;
    fakehost) env+=(-x PPN=$(( np > 3 ? 2 : 1 )) -x PPS=$(( np > 3 ? 4 : 2 ))); pre=("$root/tests/emu/fakehost.sh") ;;
  esac
  cmd=("${mpirun[@]}" "${env[@]}" -np "$np" "${pre[@]}" "$tc" --stress "$s" "$secs")
  # bounded: the run's own time, the slowest call's timeout and start-up
  out=$(timeout $(( secs + 90 )) "${cmd[@]}" 2>&1)
  rc=$?
  n=$(printf '%s\n' "$out" | sed -n 's/^stress: seed [0-9]*, \([0-9]*\) calls.*/\1/p' | head -1)
  calls=$(( calls + ${n:-0} ))
  if [ $rc -ne 0 ]; then
    fails=$(( fails + 1 ))
    echo "stress: FAILED (exit $rc) seed $s, $np ranks, $cfg:"
    printf '%s\n' "$out" | grep -E "stress seed|FAIL|timed out|WARN" | head -20
    echo "  reproduce: ${cmd[*]}"
    [ $rc -eq 124 ] && echo "  (the run did not end within $(( secs + 90 )) s: a hang)"
  else
    echo "stress: seed $s, $np ranks, $cfg: ${n:-0} calls, all checked"
  fi
  run=$(( run + 1 ))
done
echo "stress: $run runs, $calls calls, $fails failed (seed $seed, $minutes min)"
[ $fails -eq 0 ]
