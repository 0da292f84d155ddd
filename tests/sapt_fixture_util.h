// sapt_fixture_util.h — what the tests of the official SAPT fixtures share, on the CPU
// (tests/test_sapt_fixtures.cpp) and on the GPU (tests/cuda/test_cuda_end_to_end.cpp): the list of fixture
// cases, the SAPT options of a case, and the official name of each of our trainable tensors. Not the
// comparisons: each test keeps its own tolerances.
#pragma once
#include <catch2/catch.hpp>

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "sapt/sapt.h"
#include "tests/test_util.h"

// Case folders from SAPT_FIXTURES (colon-separated), else every folder of <shared>/fixtures/sapt_official
// that holds an io.safetensors; empty (the caller skips) where ../shared is absent.
inline std::vector<std::string> sapt_fixture_cases() {
    std::vector<std::string> cases;
    const char* env = std::getenv("SAPT_FIXTURES");
    if (env && *env) {
        std::stringstream list(env);
        std::string dir;
        while (std::getline(list, dir, ':')) {
            if (!dir.empty()) cases.push_back(dir);
        }
        return cases;
    }
    const std::string root = shared_path("fixtures/sapt_official");
    if (root.empty()) return cases;
    DIR* d = opendir(root.c_str());
    REQUIRE(d != nullptr);
    while (dirent* entry = readdir(d)) {
        const std::string name = entry->d_name;
        if (name[0] != '.' && path_exists(root + "/" + name + "/io.safetensors")) cases.push_back(root + "/" + name);
    }
    closedir(d);
    std::sort(cases.begin(), cases.end());
    return cases;
}

// Official name (the fixture's grad.<name> without "grad.") -> our trainable tensor.
inline std::map<std::string, Tensor> official_trainable_names(const SaptState& state) {
    const std::string prefix = state.model_kind == ModelKind::T5 ? "encoder." : "model.";
    std::map<std::string, Tensor> names = {
        {prefix + "prompt_key", state.sals.key},
        {prefix + "trans_input.0.weight", state.sals.down},
        {prefix + "trans_input.1.weight", state.sals.up},
        {prefix + "trans_input.3.weight", state.sals.norm_weight},
        {prefix + "trans_input.3.bias", state.sals.norm_bias},
    };
    for (const LoraBank& bank : state.lora) {
        const std::string base = bank.site.module + ".lora_" + std::string(1, bank.site.projection);
        names[base + ".lora_A"] = bank.current_A;
        names[base + ".lora_B"] = bank.current_B;
    }
    return names;
}

// The SAPT options a case was produced with (its config.json "sapt" block), under --compat official.
inline SaptOptions sapt_fixture_options(const nlohmann::json& config) {
    SaptOptions options;
    options.lora_rank = config["sapt"]["lora_r"].get<int>();
    options.lora_alpha = config["sapt"]["lora_alpha"].get<float>();
    options.trans_hidden = config["sapt"]["trans_hidden"].get<int>();
    options.compat_official = true;
    return options;
}
