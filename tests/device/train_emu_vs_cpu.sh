#!/usr/bin/env bash
# train_emu_vs_cpu.sh — the device path of ./train, run anywhere: build-emu/train is a ./train whose CUDA
# device is the CPU emulation (make train-emu), with device memory closed to host code outside kernels and
# copies. A cut-down continual run (2 built-in tasks, 5 steps each, 4 test items, every method of
# --compare all) on `--device cuda --precision f32` against the same run on `--device cpu`:
#   1. per-step losses within 1e-4 relative and the same accuracy matrices (compare_runs equal);
#   2. every training step on the device moves only ids in and a few scalars out (compare_runs budget);
#   3. a kill -9 in the middle of a device run, then --resume, ends with the uninterrupted run's results;
#   4. ./generate --run on that run folder answers the same on the device as on the CPU (same answers,
#      selection weights within 1e-4);
#   5. faults on the device (injected by the emulation): a kernel launch that fails mid-run, then a device too
#      small for the model, each stop with a clear error, the last checkpoint intact, and resume to the same end.
# Needs: TRAIN_CPU, TRAIN_EMU, GENERATE_CPU, GENERATE_EMU (the programs) and COMPARE (build/compare_runs). About 4 minutes on 2 cores.
set -euo pipefail

: "${TRAIN_CPU:?the CPU ./train}" "${TRAIN_EMU:?build-emu/train}" "${COMPARE:?build/compare_runs}"
: "${GENERATE_CPU:?the CPU ./generate}" "${GENERATE_EMU:?build-emu/generate}"
work=$(mktemp -d /tmp/sapt_device_test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Small enough for the emulation (which runs every GPU thread as a fiber): a 30-step backbone, 40 training
# instances per task in batches of 8 (5 steps), 3-step generators.
small=(--max-train-per-task 40 --max-test-per-task 4 --pretrain-steps 30 --epochs 1 --batch-size 8
       --generator-steps 3 --threads 2 --tasks sentiment,topic --seed 1)

start=$(date +%s)
"$TRAIN_CPU" --device cpu --precision f32 --compare all "${small[@]}" --out "$work/cpu" > "$work/cpu.log" 2>&1 \
    || { cat "$work/cpu.log"; exit 1; }
"$TRAIN_EMU" --device cuda --precision f32 --compare all "${small[@]}" --out "$work/device" > "$work/device.log" 2>&1 \
    || { tail -40 "$work/device.log"; exit 1; }
echo "--compare all on the CPU and on the emulated device: $(( $(date +%s) - start )) s"
"$COMPARE" equal "$work/cpu" "$work/device"
"$COMPARE" budget "$work/device"

# kill -9 at a training step of the second task (checkpoints every step), then --resume.
start=$(date +%s)
one=(--device cuda --precision f32 --method sapt --checkpoint-every 1 "${small[@]}")
"$TRAIN_EMU" "${one[@]}" --out "$work/whole" > "$work/whole.log" 2>&1 || { tail -40 "$work/whole.log"; exit 1; }
"$TRAIN_EMU" "${one[@]}" --out "$work/killed" > "$work/killed.log" 2>&1 &
pid=$!
killed=no
for _ in $(seq 1 1200); do
    if grep -q '"task":"sapt task 2/2 topic"' "$work/killed/sapt/log.jsonl" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null && killed=yes
        break
    fi
    sleep 0.05
done
wait "$pid" 2>/dev/null || true
if [ "$killed" != yes ]; then
    echo "FAIL: the device run finished before it could be killed in its second task"
    exit 1
fi
"$TRAIN_EMU" --resume "$work/killed" > "$work/resumed.log" 2>&1 || { tail -40 "$work/resumed.log"; exit 1; }
"$COMPARE" matrices "$work/whole" "$work/killed"
echo "kill -9 in task 2 on the emulated device and --resume: $(( $(date +%s) - start )) s"

# The trained run answers questions on the device as on the CPU (SALS routes each input, no task id).
printf '%s\n' '{"input": "the food was great and the staff were friendly"}' '{"input": "terrible service, never again"}' \
    '{"input": "the match ended in a draw"}' > "$work/questions.jsonl"
"$GENERATE_CPU" --run "$work/whole" --input "$work/questions.jsonl" --output "$work/answers_cpu.jsonl" --device cpu \
    > "$work/generate_cpu.log" 2>&1 || { cat "$work/generate_cpu.log"; exit 1; }
"$GENERATE_EMU" --run "$work/whole" --input "$work/questions.jsonl" --output "$work/answers_device.jsonl" --device cuda \
    > "$work/generate_device.log" 2>&1 || { cat "$work/generate_device.log"; exit 1; }
"$COMPARE" answers "$work/answers_cpu.jsonl" "$work/answers_device.jsonl"

# A kernel launch that fails in the second task (launch 5000 of about 8000), then a resume on a device of 1 MiB.
start=$(date +%s)
if SAPT_EMU_FAIL_LAUNCH=5000 "$TRAIN_EMU" "${one[@]}" --out "$work/faulted" > "$work/faulted.log" 2>&1; then
    echo "FAIL: the run with a failing kernel launch finished (expected exit 1)"
    exit 1
fi
grep -q "kernel launch 5000 failed (injected" "$work/faulted.log" || { echo "FAIL: no launch error"; cat "$work/faulted.log"; exit 1; }
cp "$work/faulted/sapt/checkpoint.safetensors" "$work/checkpoint.before"
if SAPT_EMU_DEVICE_MIB=1 "$TRAIN_EMU" --resume "$work/faulted" > "$work/small.log" 2>&1; then
    echo "FAIL: a 1 MiB device held the model (expected exit 1)"
    exit 1
fi
grep -q "out of GPU memory" "$work/small.log" || { echo "FAIL: no out-of-memory error"; cat "$work/small.log"; exit 1; }
cmp "$work/faulted/sapt/checkpoint.safetensors" "$work/checkpoint.before" \
    || { echo "FAIL: the checkpoint changed after the out-of-memory error"; exit 1; }
"$TRAIN_EMU" --resume "$work/faulted" > "$work/after_fault.log" 2>&1 || { tail -40 "$work/after_fault.log"; exit 1; }
"$COMPARE" matrices "$work/whole" "$work/faulted"
echo "a failing launch and a 1 MiB device: clear errors ($(grep -m1 'out of GPU memory' "$work/small.log" | cut -c1-90)...), checkpoint intact, resumed: $(( $(date +%s) - start )) s"
echo "device path of ./train and ./generate: 5 passed, 0 failed"
