#!/usr/bin/env bash
# Chaos: kill (SIGKILL) or stop (SIGSTOP) random ranks at random moments of a random mix of
# verified collectives, then shrink, check, grow back with new processes, check again
# (tests/ft/test_recover.c). Transports, rank counts, victims and extra deaths during the
# shrink vary per trial. A trial passes when every survivor is correct or got a clear
# error; it fails on wrong data or a hang (each trial is bounded).
# Usage: scripts/chaos.sh [--trials N] [--seed S] [--build DIR] [--log DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
trials=20 seed=$(date +%s) build=${BUILD_DIR:-$root/build} log=/tmp/strata-chaos
while [ $# -gt 0 ]; do
  case "$1" in
    --trials) trials=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    *) echo "usage: $0 [--trials N] [--seed S] [--build DIR] [--log DIR]" >&2; exit 2 ;;
  esac
done
bin=$build/bin/test_recover
[ -x "$bin" ] || { echo "chaos: $bin not built (scripts/build.sh)" >&2; exit 2; }
has_ucx=0
grep -q "UCX_FOUND:INTERNAL=1\|HAVE_UCX" "$build/CMakeCache.txt" 2>/dev/null && has_ucx=1
mkdir -p "$log"
RANDOM=$seed
ok=0 clear=0 wrong=0 hung=0
declare -A by_cfg
echo "chaos: $trials trial(s), seed $seed, logs in $log"
for t in $(seq 1 "$trials"); do
  P=$((3 + RANDOM % 6))
  mode=kill; [ $((RANDOM % 3)) -eq 0 ] && mode=stop
  nv=1; [ $P -ge 5 ] && [ $((RANDOM % 3)) -eq 0 ] && nv=2
  cfgs=(shm hosts); [ $has_ucx = 1 ] && cfgs+=(ucx provider)
  cfg=${cfgs[$((RANDOM % ${#cfgs[@]}))]}
  env=(RECOVER_MIX=1 STRATA_TIMEOUT_MS=2000)
  case $cfg in
    ucx) env+=(STRATA_TRANSPORTS=ucx); [ $mode = stop ] && env+=(STRATA_UCX_ERRMODE=peer) ;;
    hosts) env+=(RECOVER_PPN=2) ;;
    provider) # the second half is another site (provider) of pretend hosts: all of it dies
      [ $P -lt 4 ] && P=4
      half=$((P / 2)); nv=$((P - half))
      v=$(seq -s, $half $((P - 1)))
      env+=(RECOVER_PPN=2 RECOVER_SITES=$half RECOVER_VICTIMS=$v) ;;
  esac
  if [ $cfg != provider ] && [ $((P - nv)) -ge 3 ] && [ $((RANDOM % 4)) -eq 0 ]; then
    env+=(RECOVER_SHRINK_DIE=1)
  fi
  s=$RANDOM
  f=$log/trial-$t.log
  echo "env ${env[*]} $bin $P $mode $nv $s" > "$f"
  env "${env[@]}" timeout 240 "$bin" $P $mode $nv $s >> "$f" 2>&1
  rc=$?
  case $rc in
    0) ok=$((ok + 1)); res=recovered ;;
    3) wrong=$((wrong + 1)); res="WRONG DATA" ;;
    4|124|137) hung=$((hung + 1)); res=HUNG ;;
    *) clear=$((clear + 1)); res="clear error (exit $rc)" ;;
  esac
  k="$cfg $mode"
  by_cfg[$k]="${by_cfg[$k]:-} $res"
  printf 'trial %3d: %-8s %-4s P=%d victims=%d seed %5d: %s  %s\n' "$t" "$cfg" "$mode" "$P" "$nv" "$s" "$res" \
    "$(grep -o 'detected within.*' "$f" | head -1)"
done
echo "chaos: $trials trials: $ok recovered, $clear clear errors, $wrong wrong data, $hung hung (seed $seed)"
[ $wrong -eq 0 ] && [ $hung -eq 0 ]
