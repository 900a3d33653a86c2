#!/usr/bin/env bash
# A/B timing of one nccl-tests-style benchmark, launch by launch alternating two variants
# (two builds, or one build under two environments), medians over launches.
#
#   scripts/ab.sh [--launches N] [--np P] A B -- BENCH [bench args...]
#
# A and B are each BUILD_DIR or BUILD_DIR,VAR=value[,VAR=value...]; BENCH is a binary
# name under BUILD_DIR/bin. Example, the cost of STRATA_CHECK=1 per call:
#   scripts/ab.sh --np 4 build build,STRATA_CHECK=1 -- all_reduce_perf -b 8 -e 64M -f 8388608
# Prints per size the median out-of-place and in-place times of each and the ratio B/A.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
launches=6
np=2
while [ $# -gt 0 ]; do
    case "$1" in
        --launches) launches="$2"; shift 2 ;;
        --np) np="$2"; shift 2 ;;
        *) break ;;
    esac
done
[ $# -ge 4 ] && [ "$3" = "--" ] || { sed -n '2,11p' "$0" >&2; exit 2; }
A="$1"; B="$2"; shift 3
bench="$1"; shift
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# run VARIANT LABEL ARGS...: one launch, the table rows appended to $tmp/LABEL
run() {
    local spec="$1" label="$2" dir envs=()
    shift 2
    IFS=, read -r -a parts <<<"$spec"
    dir="${parts[0]}"
    envs=("${parts[@]:1}")
    [ -x "$dir/bin/$bench" ] || { echo "ab.sh: no $dir/bin/$bench" >&2; exit 2; }
    env "${envs[@]}" "$here/mpirun.sh" -np "$np" "$dir/bin/$bench" "$@" 2>&1 |
        awk '!/^#/ && NF >= 12 && $1 ~ /^[0-9]+$/ { print $1, $6, $10 }' >>"$tmp/$label"
}

for ((l = 0; l < launches; l++)); do
    if ((l % 2 == 0)); then run "$A" a "$@"; run "$B" b "$@"
    else run "$B" b "$@"; run "$A" a "$@"; fi
done

med() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
    else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# $bench -np $np, $launches launches each, alternating; $(date -u +%F) on $(hostname) ($(nproc) cores); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# A = $A"
echo "# B = $B"
echo "# size(B) | A oop us | B oop us | B/A oop | A ip us | B ip us | B/A ip"
for size in $(awk '{ print $1 }' "$tmp/a" | sort -gu); do
    ao=$(awk -v s="$size" '$1 == s { print $2 }' "$tmp/a" | med)
    bo=$(awk -v s="$size" '$1 == s { print $2 }' "$tmp/b" | med)
    ai=$(awk -v s="$size" '$1 == s { print $3 }' "$tmp/a" | med)
    bi=$(awk -v s="$size" '$1 == s { print $3 }' "$tmp/b" | med)
    awk -v s="$size" -v ao="$ao" -v bo="$bo" -v ai="$ai" -v bi="$bi" 'BEGIN {
        printf "%10d | %9.2f | %9.2f | %5.2f | %9.2f | %9.2f | %5.2f\n", s, ao, bo, bo / ao, ai, bi, bi / ai }'
done
