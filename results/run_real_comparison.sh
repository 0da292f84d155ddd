#!/usr/bin/env bash
# The CPU-scale real comparison of every method (results/{long_sequence5,superni5}/compare.{md,json,png}):
# Long_Sequence, the first 5 tasks of long15_starts_yelp that have test data (yelp has none), and SuperNI,
# the first 5 tasks of superni_order1 (ROUGE-L); every method on the same backbone (the embedded default's
# tiny T5, built into runs/cache/ by a plain ./train), the same subsample, order and budget. The two
# benchmarks run side by side, one thread each. No data is written under results/ (only the tables).
# Usage, from the repository root after `make`: bash results/run_real_comparison.sh [CL_BENCHMARK_DIR]
set -euo pipefail
DATA=${1:-../shared/data/CL_Benchmark}
BACKBONE=$(ls -d runs/cache/t5_s1_* 2>/dev/null | head -n 1 || true)
if [ -z "$BACKBONE" ]; then
    ./train --method seqlora --out runs/backbone_only > /dev/null  # builds and caches the tiny T5
    BACKBONE=$(ls -d runs/cache/t5_s1_* | head -n 1)
fi
COMMON=(--data "$DATA" --model "$BACKBONE" --tokenizer "$BACKBONE/tokenizer.model" --compare all
        --max-train-per-task 64 --max-test-per-task 24 --max-source-len 192 --max-target-len 50
        --epochs 2 --batch-size 8 --lr 3e-3 --lora-r 8 --lora-alpha 16 --generator-steps 100
        --pseudo-fraction 0.1 --seed 42 --threads 1)
./train "${COMMON[@]}" --order long15_starts_yelp --tasks amazon,mnli,cb,copa,qqp --kl 0.1 \
    --out runs/compare_long5 > runs/compare_long5.log 2>&1 &
./train "${COMMON[@]}" --order superni_order1 --kl 0.5 \
    --tasks task1572_samsum_summary,task363_sst2_polarity_classification,task1290_xsum_summarization,task181_outcome_extraction,task002_quoref_answer_generation \
    --out runs/compare_superni5 > runs/compare_superni5.log 2>&1 &
wait
mkdir -p results/long_sequence5 results/superni5
cp runs/compare_long5/compare.{md,json,png} results/long_sequence5/
cp runs/compare_superni5/compare.{md,json,png} results/superni5/
