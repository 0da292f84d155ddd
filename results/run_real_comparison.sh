#!/usr/bin/env bash
# The CPU-scale real comparison of every method (results/{long_sequence5,superni5}/compare.{md,json,png}):
# Long_Sequence, the first 5 tasks of long15_starts_yelp that have test data (yelp has none), exact match;
# SuperNI, the first 5 tasks of superni_order1, ROUGE-L. Every method of a benchmark runs on the same
# backbone, subsample, order and budget. The backbone of each benchmark is our tiny T5 (d_model 64, 2+2
# layers, 400-piece BPE) with its tokenizer trained and its weights pretrained (200 denoising steps) on the
# training prompts and labels of those 5 tasks (--pretrain-steps; cached under runs/cache/, built by the
# first command that needs it). No data is written under results/ (only the tables and the logs).
#
# SuperNI is run as four method subsets side by side and joined by results/merge_compare.cpp: on the
# shared 2-core machine one process for all 12 methods would not have finished in time. Every run is
# deterministic, so each subset computes the same single-task reference (the merge checks it) and the same
# rows as `--compare all` with the same arguments would.
# Usage, from the repository root after `make train`: bash results/run_real_comparison.sh [CL_BENCHMARK_DIR]
set -euo pipefail
DATA=${1:-../shared/data/CL_Benchmark}
COMMON=(--data "$DATA" --pretrain-steps 200 --max-train-per-task 100 --batch-size 16 --lr 3e-3
        --lora-r 8 --lora-alpha 16 --kl 0.5 --generator-steps 100 --pseudo-fraction 0.05 --seed 42 --threads 1)
LONG=(--order long15_starts_yelp --tasks amazon,mnli,cb,copa,qqp
      --max-test-per-task 50 --max-source-len 96 --epochs 15)
SUPERNI=(--order superni_order1
         --tasks task1572_samsum_summary,task363_sst2_polarity_classification,task1290_xsum_summarization,task181_outcome_extraction,task002_quoref_answer_generation
         --max-test-per-task 40 --max-source-len 192 --epochs 12)
export OMP_NUM_THREADS=1

./train "${COMMON[@]}" "${LONG[@]}" --compare all --out runs/cmp_long5 > runs/cmp_long5.log 2>&1 &
# Build the SuperNI backbone once before the subsets start, so they do not all build it.
./train "${COMMON[@]}" "${SUPERNI[@]}" --method seqlora --max-steps 1 --stop-after 1 --out runs/cmp_superni5_backbone \
    > /dev/null
./train "${COMMON[@]}" "${SUPERNI[@]}" --compare sapt,sapt-prompt --out runs/cmp_superni5_b \
    > runs/cmp_superni5_b.log 2>&1 &
./train "${COMMON[@]}" "${SUPERNI[@]}" --compare seqlora,inclora,replay,ewc,lwf --out runs/cmp_superni5_c \
    > runs/cmp_superni5_c.log 2>&1 &
./train "${COMMON[@]}" "${SUPERNI[@]}" --compare l2p,seqft --out runs/cmp_superni5_d \
    > runs/cmp_superni5_d.log 2>&1 &
./train "${COMMON[@]}" "${SUPERNI[@]}" --compare olora,mtl --out runs/cmp_superni5_e \
    > runs/cmp_superni5_e.log 2>&1 &
wait

g++ -std=c++17 -O2 -fopenmp -I. results/merge_compare.cpp build/libsapt.a -o runs/merge_compare -lutf8proc
runs/merge_compare runs/cmp_superni5 runs/cmp_superni5_{c,d,e,b}/compare.json > /dev/null

mkdir -p results/long_sequence5 results/superni5
cp runs/cmp_long5/compare.{md,json,png} results/long_sequence5/
cp runs/cmp_long5.log results/long_sequence5/run.log
cp runs/cmp_superni5/compare.{md,json,png} results/superni5/
cat runs/cmp_superni5_{c,d,e,b}.log > results/superni5/run.log
