#!/usr/bin/env bash
# run.sh — every benchmark of sapt.cpp, one section each; `make bench` runs it from the repo root after
# building build/bench/*. Each section prints its table and appends JSON lines to bench/results.jsonl, a
# git-ignored log (bench/record.h; shell sections record with build/bench/record NAME OURS PEER PEER_NAME UNIT
# THREADS); the published figures are in bench/README.md.
# Threads: OMP_NUM_THREADS if set, else every core, for our side and the peer alike.
# Usage: bash bench/run.sh [BUILD_DIR]   (default build)
set -euo pipefail
BUILD=${1:-build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
echo "sapt.cpp benchmarks: build dir $BUILD, $OMP_NUM_THREADS threads, results -> bench/results.jsonl"

# ---- GEMM: cpu_gemm vs torch.matmul (OpenBLAS via /usr/bin/python3) ------------------------------------
echo
echo "== gemm"
echo "peer BLAS: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)"
"$BUILD/bench/gemm"

# ---- tokenizer: our encoder vs spm_encode on CL_Benchmark inputs + definitions ------------------------
echo
echo "== tokenizer"
if command -v spm_encode > /dev/null && [ -d "${SAPT_SHARED:-../shared}/data/CL_Benchmark" ]; then
    "$BUILD/bench/tokenizer" --shared "${SAPT_SHARED:-../shared}" --tokenize ./tokenize
else
    echo "tokenizer bench skipped: needs spm_encode (apt-get install sentencepiece) and \$SAPT_SHARED/data/CL_Benchmark"
fi

# ---- models: T5-small-shaped LoRA training step and KV-cache greedy generation vs plain PyTorch (same
# threads), then the resident memory of loading a checkpoint (mmap: no private copy of the weights) ----
echo
echo "== models"
"$BUILD/bench/models"
"$BUILD/bench/models_memory"

# ---- SAPT step time: a full training step with 15 tasks vs 1 task (target t15/t1 <= 1.15, lower is
# better; the record's ratio is 1.15 / (t15/t1), > 1 = target met). Passive OpenMP waiting, as ./train
# runs, so that a busy machine does not turn every small op into a fight for the cores ----------------
echo
echo "== sapt step time"
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$BUILD/bench/sapt_step"
