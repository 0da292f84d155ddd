// replay.h — Replay (experience replay, e.g. de Masson d'Autume et al., NeurIPS 2019; the "Replay" row of
// SAPT's and O-LoRA's tables) on SeqLoRA: after each task a random subset of its real training instances
// is kept, as many as SAPT's pseudo samples (floor(2% of the training set), at least 1: generator.h's
// pseudo_sample_count), and every later task trains on its own instances mixed with the whole memory.
// Not here: the LoRA itself (sapt/lora.h) or SAPT's generated samples (sapt/generator.h).
#pragma once
#include <cstdint>

#include "sapt/baselines/hooks.h"

struct ReplayMemory {
    float fraction = 0.02f;
    std::vector<Instance> instances;  // every earlier task's kept instances, oldest task first
    std::vector<int> per_task;        // how many each finished task contributed
};

// Keeps pseudo_sample_count(train.size(), memory.fraction) instances of `train`, drawn without
// replacement by an Rng seeded from (seed, task).
void replay_memory_add(ReplayMemory& memory, const std::vector<Instance>& train, uint64_t seed, int task);

MethodHooks replay_hooks(const BaselineOptions& options);
