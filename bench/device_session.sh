#!/usr/bin/env bash
# device_session.sh BUILD — everything a lent GPU machine is asked in one call, so that a short lease is
# spent on the GPU and not on starts: the card and host it found, `make test-cuda` (every kernel against
# the CPU reference, the official SAPT fixtures, a short training run against the CPU run), then the product
# itself: `./train --device cuda` on the built-in default next to the CPU run's wall time and winners, and
# `--compare all` on the device; then `make bench-cuda` (the step ./train runs beside HF transformers + PEFT)
# and the kernel lab's attention timings; SANITIZE_SECONDS > 0 adds the kernel checks under
# compute-sanitizer's memcheck. BUILD holds test_cuda, bin/train and bench/{cuda_real_step,cuda_train_step,
# record} built on the development machine with
#   make CUDA=1 BUILD=build-dev PROGRAM_DIR=build-dev/bin/ OPT="-O3 -march=x86-64-v3" build-dev/test_cuda \
#     build-dev/bin/train build-dev/bench/cuda_real_step build-dev/bench/cuda_train_step build-dev/bench/record
# and carried with runs/cache (the built-in backbone, built by a CPU ./train here) and runs/builtin_cpu (that
# CPU run's report, for the winners).
# (x86-64-v3: the GPU host's processor is not known in advance). Logs and bench/results.jsonl go to $OUT
# where it is set (the device tool), else to /tmp/device_out. Each part has its own time limit.
set -u
BUILD=${1:-build-dev}
OUT=${OUT:-/tmp/device_out}
mkdir -p "$OUT"

echo "== host and card"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv
grep -m1 'model name' /proc/cpuinfo
nproc

# cuBLAS, cudart and cuDNN come from the machine: where the rpath (CUDA_HOME/lib64) lacks one, look for it.
missing=$(ldd "$BUILD/test_cuda" | awk '/not found/ {print $1}')
for lib in $missing; do
    found=$(find /usr /opt -name "$lib" 2>/dev/null | head -1)
    echo "library $lib: ${found:-NOT FOUND}"
    [ -n "$found" ] && export LD_LIBRARY_PATH="$(dirname "$found")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done

echo "== make test-cuda"
# The SAPT fixtures travel in .devshared/ (a copy of ../shared/fixtures/sapt_official kept out of git).
export SAPT_SHARED=$PWD/.devshared SAPT_REQUIRE_SHARED=1
timeout "${TEST_SECONDS:-240}" "./$BUILD/test_cuda" --durations yes >"$OUT/test_cuda.log" 2>&1
echo "test_cuda exit $?"
grep -v '^[0-9.]* s: ' "$OUT/test_cuda.log" | tail -25
grep '^[0-9.]* s: ' "$OUT/test_cuda.log" | sort -rn | head -5

if [ "${SANITIZE_SECONDS:-0}" -gt 0 ]; then
    # The kernel checks again under compute-sanitizer's memcheck: out-of-bounds and misaligned device
    # accesses, which guard bytes would only catch on the buffers' edges.
    sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
    if [ -n "$sanitizer" ]; then
        echo "== compute-sanitizer memcheck, every kernel against the CPU reference"
        timeout "$SANITIZE_SECONDS" "$sanitizer" --tool memcheck --error-exitcode 3 \
            "./$BUILD/test_cuda" "~[cuda-e2e]" >"$OUT/memcheck.log" 2>&1
        echo "memcheck exit $?"
        tail -6 "$OUT/memcheck.log"
    else
        echo "compute-sanitizer not found: memcheck not run"
    fi
fi

echo "== ./train --device cuda on the built-in default (backbone cached), next to the CPU run"
start=$(date +%s.%N)
timeout "${TRAIN_SECONDS:-180}" "./$BUILD/bin/train" --device cuda --out "$OUT/builtin_cuda" >"$OUT/train_cuda.log" 2>&1
echo "train --device cuda exit $? in $(echo "$(date +%s.%N) - $start" | bc) s"
tail -12 "$OUT/train_cuda.log"
[ -f runs/builtin_cpu/report.md ] && { echo "-- the CPU run's summary:"; grep -A4 -i "summary\|^| method" runs/builtin_cpu/report.md | head -12; }
echo "== ./train --device cuda --compare all (built-in, 3 epochs)"
start=$(date +%s.%N)
timeout "${COMPARE_SECONDS:-240}" "./$BUILD/bin/train" --device cuda --compare all --epochs 3 --out "$OUT/compare_cuda" \
    >"$OUT/compare_cuda.log" 2>&1
echo "compare all exit $? in $(echo "$(date +%s.%N) - $start" | bc) s"
tail -20 "$OUT/compare_cuda.log"

echo "== attention alone (kernel lab): fused kernel, GEMM path, the Auto choice"
for path in fused gemm auto; do
    SAPT_CUDA_ATTENTION=$path timeout 60 "./$BUILD/bench/cuda_train_step" --attention | sed "s/^attention/$path: attention/"
done
echo "== where a step's time goes (kernel lab)"
timeout 60 "./$BUILD/bench/cuda_train_step" --phases

echo "== make bench-cuda"
timeout "${BENCH_SECONDS:-240}" bash bench/run_cuda.sh "$BUILD" >"$OUT/bench_cuda.log" 2>&1
echo "bench exit $?"
cat "$OUT/bench_cuda.log"
if [ -f bench/results.jsonl ]; then cp bench/results.jsonl "$OUT/results.jsonl"; else echo "no benchmark records"; fi
