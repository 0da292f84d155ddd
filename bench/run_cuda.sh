#!/usr/bin/env bash
# run_cuda.sh BUILD — what `make bench-cuda` runs: the training step ./train runs (BUILD/bench/cuda_real_step:
# models/ + engine + autograd, SAPT-LoRA with 15 tasks' adapters) at T5-large and LLaMA-2-7B (LLAMA_LAYERS of
# 32 layers, 4 by default, batch 16) shapes, then HF transformers + PEFT LoRA at the same shapes
# (bench/cuda_hf_peft.py) on the same GPU, and one bench/record line per shape that both sides measured.
# It pairs the JSON lines of both; it times nothing itself. Without a GPU, or without transformers + peft,
# it says so and records only what ran. (bench/cuda_train_step, the hand-written kernel lab, is not run here.)
set -u
BUILD=${1:-build-cuda}
ours_out=$(mktemp) peer_out=$(mktemp)
trap 'rm -f "$ours_out" "$peer_out"' EXIT

LLAMA_LAYERS=${LLAMA_LAYERS:-4}
export LLAMA_LAYERS
for shape in "t5large" "llama7b --layers $LLAMA_LAYERS --batch 16"; do
    # shellcheck disable=SC2086
    "./$BUILD/bench/cuda_real_step" $shape | tee -a "$ours_out"
    status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        echo "bench-cuda: cuda_real_step $shape failed (exit $status); HF + PEFT not run, nothing paired" >&2
        exit "$status"
    fi
done
if ! grep -q '^{' "$ours_out"; then
    echo "SKIPPED: HF transformers + PEFT peer, since our step measured nothing (no CUDA device)"
    exit 0
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch, transformers, peft" 2>/dev/null; then
    echo "SKIPPED: HF transformers + PEFT peer ($PYTHON cannot import torch, transformers and peft); ours above is unpaired"
    exit 0
fi
echo "HF transformers + PEFT LoRA, same shapes, same GPU:"
"$PYTHON" bench/cuda_hf_peft.py | tee "$peer_out"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo "bench-cuda: bench/cuda_hf_peft.py failed (exit $status); records only for the shapes it printed" >&2
fi

# Our {"name": "t5large", "tokens_per_s": ..., "mfu": ...} against the peer's line of the same name.
printf '\n%-10s %14s %14s %9s %9s\n' shape "ours tok/s" "HF+PEFT tok/s" "ours MFU" "HF MFU"
while read -r shape ours ours_mfu; do
    peer_line=$("$PYTHON" -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        record = json.loads(line)
        if record["name"] == sys.argv[2]:
            print(record["tokens_per_s"], record["mfu"])
' "$peer_out" "$shape")
    if [ -z "$peer_line" ]; then
        echo "$shape: no HF + PEFT figure, not recorded"
        continue
    fi
    read -r peer peer_mfu <<<"$peer_line"
    printf '%-10s %14s %14s %9s %9s\n' "$shape" "$ours" "$peer" "$ours_mfu" "$peer_mfu"
    # threads: bench/record takes >= 1; 1 = one GPU, as cuda_train_step's own record.
    "./$BUILD/bench/record" "cuda_${shape}_sapt_lora_step" "$ours" "$peer" "HF transformers + PEFT LoRA" \
        "tokens/s" 1
done < <("$PYTHON" -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        record = json.loads(line)
        print(record["name"], record["tokens_per_s"], record["mfu"])
' "$ours_out")
