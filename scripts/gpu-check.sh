#!/usr/bin/env bash
# GPU checks, on a machine with an NVIDIA GPU (CUDA toolkit at /usr/local/cuda):
#   1. build with CUDA (architectures 80, 90 + PTX)
#   2. the CUDA kernels against the CPU kernels, every dtype x op (test_cuda_kernels)
#   3. the correctness suite with device buffers, 1-4 ranks sharing GPU 0, every dtype x op
#      (direct IPC path), the stream twins with the stream-ordering test, the staged path
#   4. kernel benchmark: reduction 2->1 against cudaMemcpy D2D at 256 MiB
#   5. 2 ranks on one GPU, allreduce 64 MiB float32, device buffers (busbw vs the copy bandwidth)
#   6. with 2+ GPUs: the same against NCCL in the same run (-N 1)
# Writes everything to ${OUT:-gpu-check}.log as well. Exit status: 0 when every check passed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
log=${OUT:-$root/gpu-check}.log
exec > >(tee "$log") 2>&1
fail=0
step() { echo; echo "==== $* ===="; }
mpi=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)

step "machine"
date -u; uname -a
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv || { echo "no nvidia-smi: no GPU here"; exit 77; }
ngpu=$(nvidia-smi -L | wc -l)

step "build (CUDA)"
export PATH=/usr/local/cuda/bin:$PATH
BUILD_DIR=$build "$root/scripts/build.sh" -DSTRATA_CUDA=ON || { echo "build failed"; exit 1; }
grep -q "STRATA_HAVE_CUDA:INTERNAL=ON\|STRATA_HAVE_CUDA=1" "$build/CMakeCache.txt" || grep -q cuda_dev "$build/CMakeFiles/strata_objs.dir/build.make" 2>/dev/null || true

step "CUDA kernels vs CPU kernels (every dtype x op)"
"$build/bin/test_cuda_kernels" || fail=1

step "correctness suite, device buffers (ctest dev_gpu_* gpu_kernels)"
(cd "$build" && ctest -R "^(dev_gpu_|gpu_kernels)" --output-on-failure) || fail=1
for np in 1 2 3 4; do
  "${mpi[@]}" -np $np "$build/bin/test_collectives" --device --full --quick 2>&1 | grep -E "checks|device calls|FAIL" | head -6
done

step "kernel benchmark (256 MiB)"
"$build/bin/kernel_perf" 256 20 || fail=1

step "2 ranks on GPU 0: allreduce float32 device buffers"
"${mpi[@]}" -np 2 "$build/bin/all_reduce_perf" -b 1M -e 64M -f 4 -D 1 -n 20 -w 5 || fail=1
STRATA_DEV_PATH=staged "${mpi[@]}" -x STRATA_DEV_PATH -np 2 "$build/bin/all_reduce_perf" -b 64M -e 64M -D 1 -n 10 || fail=1

if [ "$ngpu" -ge 2 ]; then
  step "2 ranks on 2 GPUs: Strata vs NCCL in the same run (-N 1)"
  cat > "$build/gpu-bind.sh" <<'EOS'
#!/usr/bin/env bash
export CUDA_VISIBLE_DEVICES=${OMPI_COMM_WORLD_LOCAL_RANK:-0}
exec "$@"
EOS
  chmod +x "$build/gpu-bind.sh"
  "${mpi[@]}" -np 2 "$build/gpu-bind.sh" "$build/bin/all_reduce_perf" -b 1M -e 256M -f 4 -D 1 -N 1 || fail=1
fi

step "result"
echo "gpu-check: $([ $fail = 0 ] && echo PASSED || echo FAILED) (log: $log)"
exit $fail
