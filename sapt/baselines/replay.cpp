// replay.cpp — the replay memory and its hooks. See replay.h.
#include "sapt/baselines/replay.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "engine/error.h"
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
    // The memory is text: the instances themselves, as JSON in the checkpoint's metadata.
    hooks.save = [memory](MethodCheckpoint& out) {
        nlohmann::json instances = nlohmann::json::array();
        for (const Instance& i : memory->instances) {
            instances.push_back({{"index", i.index}, {"id", i.id}, {"input", i.input}, {"outputs", i.outputs},
                                 {"label", i.label}, {"prompt", i.prompt}});
        }
        out.metadata = nlohmann::json{{"per_task", memory->per_task}, {"instances", instances}}.dump();
    };
    hooks.restore = [memory](const SafeTensorsFile& file) {
        try {
            const nlohmann::json j = nlohmann::json::parse(method_metadata(file));
            memory->per_task = j.at("per_task").get<std::vector<int>>();
            memory->instances.clear();
            for (const nlohmann::json& i : j.at("instances")) {
                Instance instance;
                instance.index = i.at("index").get<int>();
                instance.id = i.at("id").get<std::string>();
                instance.input = i.at("input").get<std::string>();
                instance.outputs = i.at("outputs").get<std::vector<std::string>>();
                instance.label = i.at("label").get<std::string>();
                instance.prompt = i.at("prompt").get<std::string>();
                memory->instances.push_back(instance);
            }
        } catch (const nlohmann::json::exception& e) {
            fail(file.path, std::string("malformed replay memory in method.state (") + e.what() + ")");
        }
    };
    return hooks;
}
