#!/usr/bin/env bash
# Is each default within 10% of the best setting of its knob? For every knob and value below,
# BENCH runs (Strata alone, defaults otherwise) RUNS times, the settings taking turns launch by
# launch; per knob and size the table gives the median time with the defaults, the best value
# and its median, and defaults/best (> 1.10: the default misses the knob's best by over 10%).
#   scripts/knobs.sh BENCH NP RUNS [benchmark flags...]
# e.g. scripts/knobs.sh all_reduce_perf 2 3 -b 8K -e 64M -f 4 -n 10
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$1 np=$2 runs=$3
shift 3
knobs=(
  "STRATA_SHM_SLICE_MIN 16384 32768 131072 262144"
  "STRATA_SHM_PIPE_MIN 8192 16384 65536 131072"
  "STRATA_SHM_PIPE 2 8"
  "STRATA_RING_CHUNK 131072 1048576 4194304"
)
# the algorithm itself is a knob too: every one-host algorithm of the benchmark's collective
case "$bench" in
  all_reduce_perf) knobs+=("STRATA_ALGO allreduce:shm allreduce:ring allreduce:recursive_doubling allreduce:rabenseifner allreduce:direct") ;;
  all_gather_perf) knobs+=("STRATA_ALGO allgather:shm allgather:ring allgather:recursive_doubling allgather:bruck") ;;
  reduce_scatter_perf) knobs+=("STRATA_ALGO reduce_scatter:shm reduce_scatter:ring reduce_scatter:recursive_halving") ;;
  broadcast_perf) knobs+=("STRATA_ALGO broadcast:shm broadcast:binomial broadcast:scatter_allgather") ;;
esac
out=$(mktemp)
one() { # label, then mpirun -x arguments
  local label=$1
  shift
  "$root/scripts/mpirun.sh" -np "$np" "$@" -x STRATA_DEBUG=INFO "$root/build/bin/$bench" "${flags[@]}" 2>"$out.err" >"$out.one"
  local ns pl
  ns=$(grep -o 'cache line between ranks 0 and 1 [-0-9]* ns' "$out.err" | head -1 | awk '{print $8}')
  if [ -z "$ns" ] || [ "$ns" -le 0 ]; then pl=-; else pl=$(awk -v x="$ns" 'BEGIN { printf "~%dns\n", 2 ^ int(log(x) / log(2) + 0.5) }'); fi
  grep -v '^#' "$out.one" | awk -v l="$label" -v pl="$pl" 'NF > 10 { print l, $1, $6, $10, pl }' >> "$out"
}
flags=("$@")
for i in $(seq 1 "$runs"); do
  one "default -"
  for k in "${knobs[@]}"; do
    read -r name vals <<< "$k"
    for v in $vals; do one "$name $v" -x "$name=$v"; done
  done
done
echo "# $bench -np $np, $runs launches per setting, $(date -u +%F) on $(hostname) ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# per knob and size: median us with the defaults, the knob's best value (median us), defaults/best; out of place | in place"
echo "# launches by placement of the vCPUs (docs/TUNING.md): $(awk '$3 == first || !first { first = $3; print }' "$out" | awk '{c[$6]++} END {for (p in c) printf "%s %d  ", p, c[p]}')"
for sel in all $(awk '{print $NF}' "$out" | sort -u | grep -v "^-$"); do
[ "$sel" = all ] || echo "# only the launches in the $sel placement"
awk -v sel="$sel" '
function med(s,    a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
sel != "all" && $6 != sel { next }
{ k = $1 SUBSEP $2 SUBSEP $3; o[k] = o[k] " " $4; p[k] = p[k] " " $5; knob[$1] = 1; val[$1 SUBSEP $2] = 1; size[$3] = 1 }
END {
  ns = asorti(size, sz, "@ind_num_asc")
  for (kn in knob) {
    if (kn == "default") continue
    printf "%s\n", kn
    for (q = 1; q <= ns; q++) {
      s = sz[q]
      if (o["default" SUBSEP "-" SUBSEP s] == "") continue
      d1 = med(o["default" SUBSEP "-" SUBSEP s]); d2 = med(p["default" SUBSEP "-" SUBSEP s])
      b1 = d1; v1 = "default"; b2 = d2; v2 = "default"
      for (kv in val) {
        split(kv, x, SUBSEP); if (x[1] != kn) continue
        if (o[kn SUBSEP x[2] SUBSEP s] == "") continue
        m1 = med(o[kn SUBSEP x[2] SUBSEP s]); m2 = med(p[kn SUBSEP x[2] SUBSEP s])
        if (m1 < b1) { b1 = m1; v1 = x[2] }
        if (m2 < b2) { b2 = m2; v2 = x[2] }
      }
      printf "  %10s  %9.2f  %8s (%9.2f) %5.2f | %9.2f  %8s (%9.2f) %5.2f\n", s, d1, v1, b1, d1 / b1, d2, v2, b2, d2 / b2
    }
  }
}' "$out"
done
rm -f "$out" "$out.err" "$out.one"
