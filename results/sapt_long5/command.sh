# run from the repo root, shared data at ../shared (SAPT_SHARED layout); started Wed Nov 25 21:26:52 UTC 2026
# wall time of this command: 4:25.64 (backbone already cached; building it, 200 denoising steps, took a further 240.1 s in an earlier identical invocation)
./train --data ../shared/data/CL_Benchmark --order long15_starts_yelp --tasks amazon,mnli,cb,copa,qqp \
  --pretrain-steps 200 --method sapt,seqlora --max-train-per-task 100 --max-test-per-task 50 \
  --max-source-len 96 --epochs 15 --batch-size 16 --lr 3e-3 --lora-r 8 --lora-alpha 16 \
  --kl 0.5 --generator-steps 100 --pseudo-fraction 0.05 --seed 42 --threads 2 --out runs/sapt_long5
