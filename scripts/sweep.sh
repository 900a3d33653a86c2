#!/usr/bin/env bash
# Benchmark sweeps for 2 and 4 local ranks, Strata beside Open MPI (-M 1, same run), drawn as
# bus bandwidth and latency against size into docs/sweep-<bench>-np<N>.png (gnuplot).
#   scripts/sweep.sh [BENCH...]   (default: all_reduce_perf all_gather_perf)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
[ -x "$root/build/bin/all_reduce_perf" ] || "$root/scripts/build.sh"
benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(all_reduce_perf all_gather_perf)
out=$root/docs
for bench in "${benches[@]}"; do
  for np in 2 4; do
    data=$(mktemp)
    "$root/scripts/mpirun.sh" -np "$np" "$root/build/bin/$bench" -b 8 -e 128M -f 2 -M 1 -n 10 -w 3 -R 3 \
      | tee "$out/sweep-$bench-np$np.txt" | grep -v '^#' > "$data"
    # columns: size strata_us strata_busbw mpi_us  (mpi busbw = strata busbw * strata_us / mpi_us)
    awk '{ print $1, $6, $8, $10, ($10 > 0 ? $8 * $6 / $10 : 0) }' "$data" > "$data.dat"
    gnuplot <<GP
set terminal pngcairo size 1200,480 font ",10" noenhanced
set output "$out/sweep-$bench-np$np.png"
set multiplot layout 1,2 title "$bench, $np ranks on $(hostname) ($(nproc) cores), $(date -u +%F): Strata vs Open MPI in the same run"
set logscale x 2
set format x "%.0b%B"
set xlabel "size (bytes)"
set grid
set key top left
set ylabel "bus bandwidth (GB/s)"
plot "$data.dat" using 1:3 with linespoints title "Strata", "" using 1:5 with linespoints title "Open MPI"
set logscale y 10
set ylabel "time (us)"
plot "$data.dat" using 1:2 with linespoints title "Strata", "" using 1:4 with linespoints title "Open MPI"
unset multiplot
GP
    rm -f "$data" "$data.dat"
    echo "wrote $out/sweep-$bench-np$np.png"
  done
done
