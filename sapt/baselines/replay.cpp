// replay.cpp — the replay memory and its hooks. See replay.h.
#include "sapt/baselines/replay.h"

#include <memory>

#include "engine/rng.h"
#include "sapt/generator.h"

void replay_memory_add(ReplayMemory& memory, const std::vector<Instance>& train, uint64_t seed, int task) {
    int keep = train.empty() ? 0 : pseudo_sample_count((int)train.size(), memory.fraction);
    keep = std::min(keep, (int)train.size());
    Rng rng = rng_make(seed, 5000 + (uint64_t)task);
    std::vector<int> order((size_t)train.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = (int)i;
    rng_shuffle(rng, order);
    for (int k = 0; k < keep; k++) memory.instances.push_back(train[(size_t)order[(size_t)k]]);
    memory.per_task.push_back(keep);
}

MethodHooks replay_hooks(const BaselineOptions& options) {
    MethodHooks hooks;
    auto memory = std::make_shared<ReplayMemory>();
    memory->fraction = options.replay_fraction;
    const uint64_t seed = options.seed;
    hooks.extra_training_instances = [memory](int) { return memory->instances; };
    hooks.after_task = [memory, seed](int task, const std::vector<Instance>& train, const std::vector<EncodedExample>&) {
        replay_memory_add(*memory, train, seed, task);
    };
    return hooks;
}
