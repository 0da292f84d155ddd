// sapt_fixture_util.h — what the tests of the official SAPT fixtures share, on the CPU
// (tests/test_sapt_fixtures.cpp) and on the GPU (tests/cuda/test_cuda_end_to_end.cpp): the list of fixture
// cases, the SAPT options of a case, the official name of each of our trainable tensors, and a case's
// forward pass up to the total loss. Not the comparisons: each test keeps its own tolerances.
#pragma once
#include <catch2/catch.hpp>

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/safetensors.h"
#include "sapt/sapt.h"
#include "tests/test_models_util.h"
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

// Compares one of our tensors with the fixture's: check(kind, name, got, want), kind grouping the errors
// ("selection", "logits", "loss").
using FixtureCheck = std::function<void(const std::string&, const std::string&, const Tensor&, const Tensor&)>;

// What a case's forward leaves for the checks that follow it.
struct FixtureForward {
    Tensor ids, mask;                  // the batch, where the model runs
    Tensor selection_weights, logits;  // for checks of where they were computed
    Tensor total;                      // CE, plus the reflection KL where the case has one
    std::vector<float> replay_labels;  // empty when the case has no KL
};

// A fixture case's forward with SAPT: the selection (T5 selects from the encoder input, LLaMA from the
// prompt without the answer), logits, CE, the KL on the replay batch (this batch; LLaMA's replay query is
// the full sequence) and the total, each passed to `check` with the fixture's value. `place` moves an
// input to where the model runs.
inline FixtureForward sapt_fixture_forward(const Model& model, SaptState& state, const SafeTensorsFile& io,
                                           const std::function<Tensor(const Tensor&)>& place,
                                           const FixtureCheck& check) {
    const bool t5 = model.kind == ModelKind::T5;
    FixtureForward out;
    out.ids = place(io.get("input_ids"));
    out.mask = place(to_u8_mask(io.get("attention_mask")));
    const Tensor labels = place(io.get("labels"));
    const Tensor selection_ids = t5 ? out.ids : place(io.get("input_ids_wo_label"));
    const Tensor selection_mask = t5 ? out.mask : place(to_u8_mask(io.get("input_ids_wo_label_mask")));

    const SalsOutput selection = sapt_begin_batch(state, model, selection_ids, selection_mask, true);
    check("selection", "selection_pooled", selection.pooled, io.get("selection_pooled"));
    check("selection", "selection_query", selection.query, io.get("selection_query"));
    check("selection", "selection_logits", selection.logits, io.get("selection_logits"));
    check("selection", "selection_weights", selection.weights, io.get("selection_weights"));
    out.selection_weights = selection.weights;

    const PetHook hook = sapt_hook(state);
    Tensor loss_ce;
    if (t5) {
        const T5EncoderOutput encoded = t5_encode(model.t5, out.ids, out.mask, &hook, T5RunOptions{});
        out.logits = t5_decode(model.t5, t5_shift_right(labels, model.t5.config), encoded, &hook, T5RunOptions{});
        loss_ce = t5_loss(out.logits, labels);
        check("logits", "lm_logits", out.logits, io.get("lm_logits"));
    } else {
        out.logits = llama_forward(model.llama, out.ids, out.mask, Tensor{}, &hook, nullptr, false);
        loss_ce = llama_loss(out.logits, labels);
        check("logits", "logits", out.logits, io.get("logits"));
    }
    check("loss", "loss_ce", loss_ce, io.get("loss_ce"));

    out.total = loss_ce;
    if (io.has("replay_labels")) {
        out.replay_labels = tensor_values(io.get("replay_labels"));
        if (!t5) {
            check("selection", "kl_selection_logits", sapt_selection(state, model, out.ids, out.mask).logits,
                  io.get("kl_selection_logits"));
        }
        const Tensor kl = sapt_kl_loss(state, model, out.ids, out.mask, out.replay_labels);
        check("loss", "loss_kl", kl, io.get("loss_kl"));
        out.total = add(loss_ce, kl);
    }
    check("loss", "loss_total", out.total, io.get("loss_total"));
    return out;
}
