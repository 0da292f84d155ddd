#!/usr/bin/env bash
# The paper's experiments, one command each, with the official hyper-parameters (--preset, sapt/presets.h)
# and three seeds (--seeds: OUT/compare.md, .json, .png with mean ± sample std; each seed in OUT/seed-<N>/,
# each resumable with ./train --resume OUT). Every SAPT run folder also holds the selection heat-map after
# every task (selection_<method>_after_T<j>.png). The first entries are GPU-scale runs (T5-large / LLaMA-2
# backbones, --device cuda; on a CPU they take days); the cpu-* entries run on the 2-core machine.
#
# Usage, from the repository root after `make train` (or `make CUDA=1 train`):
#   bash results/experiments.sh list                 every experiment and its command
#   bash results/experiments.sh NAME [extra flags]   run one (extra flags override the preset, e.g. --threads 8)
# Environment: DATA (CL_Benchmark root, default ../shared/data/CL_Benchmark), T5 (a Hugging Face T5 folder,
# e.g. t5-large), LLAMA (a LLaMA-2 folder), DEVICE (default cuda), SEEDS (default 1,2,3), OUT (default runs/exp).
#
# What the ablations remove (sapt/ablations.h): sapt-no-arm has no attentive reflection (no pseudo-sample
# generators, no KL); sapt-no-sals has no shared attentive learning (each task's block trained alone at
# weight 1, the keys and projector learned apart as a task classifier plus the reflection, test inputs
# routed by the selection as in SAPT).
set -euo pipefail
DATA=${DATA:-../shared/data/CL_Benchmark}
T5=${T5:-t5-large}
LLAMA=${LLAMA:-Llama-2-7b-hf}
DEVICE=${DEVICE:-cuda}
SEEDS=${SEEDS:-1,2,3}
OUT=${OUT:-runs/exp}

T5_RUN="./train --data $DATA --model $T5 --device $DEVICE --seeds $SEEDS"
LLAMA_RUN="./train --data $DATA --model $LLAMA --device $DEVICE --seeds $SEEDS"

# CPU scale (no --model): the tiny T5 pretrained on the tasks' own text, the budget of
# results/run_real_comparison.sh, 5 tasks of each benchmark; the built-in suite for the quickest check.
CPU_REAL="./train --data $DATA --pretrain-steps 200 --max-train-per-task 100 --batch-size 16 --lr 3e-3 --lora-r 8 \
  --lora-alpha 16 --kl 0.5 --generator-steps 100 --pseudo-fraction 0.05 --threads 1 --seeds $SEEDS"
CPU_LONG="$CPU_REAL --order long15_starts_yelp --tasks amazon,mnli,cb,copa,qqp --max-test-per-task 50 \
  --max-source-len 96 --epochs 15"
CPU_BUILTIN="./train --threads 1 --seeds $SEEDS"

# name|command (without --out; the name is the run folder under $OUT)
EXPERIMENTS=(
  # The main table: every method, both benchmarks, both task orders of each (T5).
  "main-superni-order1|$T5_RUN --preset t5-superni --order superni_order1 --compare all"
  "main-superni-order2|$T5_RUN --preset t5-superni --order superni_order2 --compare all"
  "main-longseq-yelp|$T5_RUN --preset t5-longseq --order long15_starts_yelp --compare all"
  "main-longseq-mnli|$T5_RUN --preset t5-longseq --order long15_starts_mnli --compare all"
  # The ablation table: SAPT against SAPT without ARM and SAPT without SALS.
  "ablation-superni|$T5_RUN --preset t5-superni --compare sapt,sapt-no-arm,sapt-no-sals"
  "ablation-longseq|$T5_RUN --preset t5-longseq --compare sapt,sapt-no-arm,sapt-no-sals"
  # Pseudo samples per training instance, 1 % to 10 % (the official amount is 2 %): one table, a row per
  # fraction (sapt@0.01 ...), each fraction's runs in pseudo-<F>/.
  "pseudo-superni|$T5_RUN --preset t5-superni --compare sapt --pseudo-fraction 0.01,0.02,0.05,0.1"
  "pseudo-longseq|$T5_RUN --preset t5-longseq --compare sapt --pseudo-fraction 0.01,0.02,0.05,0.1"
  # SAPT-Prompt against SAPT-LoRA.
  "prompt-vs-lora-superni|$T5_RUN --preset t5-superni --compare sapt,sapt-prompt"
  "prompt-vs-lora-longseq|$T5_RUN --preset t5-longseq --compare sapt,sapt-prompt"
  # LLaMA-2: SAPT and the main baselines.
  "llama2-superni|$LLAMA_RUN --preset llama2-superni --compare seqlora,inclora,replay,olora,sapt"
  "llama2-longseq|$LLAMA_RUN --preset llama2-longseq --compare seqlora,inclora,replay,olora,sapt"
  # CPU scale, the same experiments on the tiny backbone.
  "cpu-builtin-main|$CPU_BUILTIN --compare all"
  "cpu-builtin-ablation|$CPU_BUILTIN --compare sapt,sapt-no-arm,sapt-no-sals"
  "cpu-builtin-pseudo|$CPU_BUILTIN --compare sapt --pseudo-fraction 0.01,0.02,0.05,0.1"
  "cpu-long5-pseudo|$CPU_LONG --compare sapt --pseudo-fraction 0.01,0.02,0.05,0.1"
  "cpu-long5-main|$CPU_LONG --compare all"
  "cpu-long5-ablation|$CPU_LONG --compare sapt,sapt-no-arm,sapt-no-sals,sapt-prompt"
)

if [[ $# -lt 1 || $1 == list ]]; then
  for e in "${EXPERIMENTS[@]}"; do printf '%-24s %s --out %s/%s\n' "${e%%|*}" "${e#*|}" "$OUT" "${e%%|*}"; done
  exit 0
fi
name=$1
shift
for e in "${EXPERIMENTS[@]}"; do
  if [[ ${e%%|*} == "$name" ]]; then
    # The run's folder is its name: run the same command again, or ./train --resume $OUT/$name, to go on.
    exec ${e#*|} --out "$OUT/$name" "$@"
  fi
done
echo "results/experiments.sh: unknown experiment '$name' (expected one of: $(for e in "${EXPERIMENTS[@]}"; do printf '%s ' "${e%%|*}"; done)or list)" >&2
exit 1
