#!/usr/bin/env bash
# Median Strata-vs-Open-MPI ratios over several launches, both MPI flavours.
#   scripts/compare.sh BENCH NP RUNS [benchmark flags...]
# e.g. scripts/compare.sh all_reduce_perf 2 5 -b 8 -e 64M -f 4
# Each launch times Strata and MPI alternately (-M 1) in the same run; the table gives, per
# size and flavour (default = ob1/vader/tuned, ucx = pml ucx), the median of Strata's time,
# MPI's time and the per-launch ratio Strata/MPI (< 1: Strata faster), out-of-place and in-place.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$1 np=$2 runs=$3
shift 3
out=$(mktemp -d)
# the placement of the two vCPUs in a launch (docs/TUNING.md): near or far, from the cache-line
# latency the one-host init measures (rank 0's INFO line); "-" where there is none
placement() {
  local ns
  ns=$(grep -o 'cache line between ranks 0 and 1 [-0-9]* ns' "$1" | head -1 | awk '{print $8}')
  if [ -z "$ns" ] || [ "$ns" -le 0 ]; then echo -; else awk -v x="$ns" 'BEGIN { printf "~%dns\n", 2 ^ int(log(x) / log(2) + 0.5) }'; fi
}
for i in $(seq 1 "$runs"); do
  for flavour in default ucx; do
    extra=()
    [ "$flavour" = ucx ] && extra=(--mca pml ucx --mca pml_ucx_tls any --mca pml_ucx_devices any)
    "$root/scripts/mpirun.sh" -np "$np" "${extra[@]}" -x STRATA_DEBUG=INFO "$root/build/bin/$bench" -M 1 "$@" \
      2>"$out/err" > "$out/launch"
    pl=$(placement "$out/err")
    grep -v '^#' "$out/launch" | awk -v f="$flavour" -v pl="$pl" 'NF > 10 {print f, $1, $6, $10, $11, $12, $16, pl}' >> "$out/all.txt"
  done
done
echo "# $bench -np $np, $runs launches per MPI flavour, $(date -u +%F) on $(hostname) ($(nproc) cores); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# columns: size, then per flavour: strata_us mpi_us ratio(oop)  strata_us mpi_us ratio(in-place); ratio = median over launches of Strata/MPI"
echo "# launches (both flavours) by placement of the vCPUs: $(awk '$2 == first || !first { first = $2; print }' "$out/all.txt" | awk '{c[$8]++} END {for (p in c) printf "%s %d  ", p, c[p]}')"
for sel in all $(awk '{print $NF}' "$out/all.txt" | sort -u | grep -v "^-$"); do
[ "$sel" = all ] || echo "# only the launches in the $sel placement"
awk -v sel="$sel" '
function med(arr, n,    i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
  return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2 }
sel != "all" && $8 != sel { next }
{ k = $1 SUBSEP $2; n[k]++; s1[k, n[k]] = $3; m1[k, n[k]] = $4; s2[k, n[k]] = $6; m2[k, n[k]] = $7
  r1[k, n[k]] = ($4 > 0 ? $3 / $4 : 0); r2[k, n[k]] = ($7 > 0 ? $6 / $7 : 0); sizes[$2] = 1 }
END {
  printf "%12s | %-44s | %-44s\n", "size(B)", "vs MPI default: strata mpi ratio | ip: strata mpi ratio", "vs MPI pml ucx: strata mpi ratio | ip: strata mpi ratio"
  ns = asorti(sizes, order, "@ind_num_asc")
  for (q = 1; q <= ns; q++) {
    sz = order[q]; line = sprintf("%12s", sz)
    split("default ucx", fl, " ")
    for (f = 1; f <= 2; f++) {
      k = fl[f] SUBSEP sz; c = n[k]
      if (!c) { line = line sprintf(" | %-44s", "n/a"); continue }
      for (i = 1; i <= c; i++) { a[i] = s1[k, i]; b[i] = m1[k, i]; r[i] = r1[k, i]; d[i] = s2[k, i]; e[i] = m2[k, i]; g[i] = r2[k, i] }
      line = line sprintf(" | %8.2f %8.2f %5.2f | %8.2f %8.2f %5.2f", med(a, c), med(b, c), med(r, c), med(d, c), med(e, c), med(g, c))
    }
    print line
  }
}' "$out/all.txt"
done
rm -rf "$out"
