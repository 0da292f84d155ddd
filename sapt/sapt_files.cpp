// sapt_files.cpp — SAPT tensors to and from files: our names (sapt.h lists them) for checkpoints, and the
// official code's names for its fixtures and released adapters. Every loaded tensor is an F32 copy we own
// (not a view into a mapping that a later checkpoint write could replace).
#include <functional>
#include <string>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "sapt/sapt.h"

static std::string lora_base(const AdaptedSite& site) { return site.module + ".lora_" + std::string(1, site.projection); }

std::vector<std::pair<std::string, Tensor>> sapt_tensors(const SaptState& state) {
    std::vector<std::pair<std::string, Tensor>> out;
    if (state.num_tasks == 0) return out;
    auto add = [&](const std::string& name, const Tensor& t) {
        if (t.defined()) out.push_back({name, t});
    };
    for (const LoraBank& bank : state.lora) {
        const std::string base = lora_base(bank.site);
        add(base + ".A", bank.current_A);
        add(base + ".B", bank.current_B);
        add(base + ".previous_A", bank.previous_A);
        add(base + ".previous_B", bank.previous_B);
    }
    if (state.options.pet == PetKind::Prompt) {
        add("prompt.current", state.prompt.current);
        add("prompt.previous", state.prompt.previous);
    }
    if (state.options.selection) {
        add("sals.down", state.sals.down);
        add("sals.up", state.sals.up);
        add("sals.norm_weight", state.sals.norm_weight);
        add("sals.norm_bias", state.sals.norm_bias);
        add("sals.key", state.sals.key);
        add("sals.previous_keys", state.sals.previous_keys);
    }
    for (size_t j = 0; j < state.targets.size(); j++) {
        const std::vector<float>& t = state.targets[j];
        add("reflection.target." + std::to_string(j), tensor_from({(int64_t)t.size()}, t));
    }
    return out;
}

std::map<std::string, std::string> sapt_metadata(const SaptState& state) {
    return {{"sapt.num_tasks", std::to_string(state.num_tasks)},
            {"sapt.pet", state.options.pet == PetKind::Lora ? "lora" : "prompt"},
            {"sapt.lora_rank", std::to_string(state.options.lora_rank)},
            {"sapt.selection", state.options.selection ? "1" : "0"}};
}

void sapt_save(const SaptState& state, const std::string& path) {
    safetensors_save(path, sapt_tensors(state), sapt_metadata(state));
}

// An owned F32 copy of `t` after checking its shape; trainable ones get requires_grad and `name`.
static Tensor owned_copy(const Tensor& t, const std::vector<int64_t>& shape, const std::string& where,
                         const std::string& file_name, const std::string& name, bool trainable) {
    if (t.shape() != shape) {
        fail(where, "tensor " + file_name + " has the wrong shape (expected " + shape_str(shape) + ", got " +
                        shape_str(t.shape()) + ")");
    }
    Tensor copy = tensor_clone(tensor_to_f32(t));
    copy.data->requires_grad = trainable;
    copy.data->name = name;
    return copy;
}

// How a loader finds its tensors: by name, failing with the file's name when one is missing.
struct TensorSource {
    std::string where;
    std::function<bool(const std::string&)> has;
    std::function<Tensor(const std::string&)> get;
    Tensor take(const std::string& file_name, const std::vector<int64_t>& shape, const std::string& name,
                bool trainable) const {
        if (!has(file_name)) fail(where, "missing tensor " + file_name);
        return owned_copy(get(file_name), shape, where, file_name, name, trainable);
    }
};

static std::string metadata_value(const SafeTensorsFile& file, const std::string& key) {
    auto it = file.metadata.find(key);
    if (it == file.metadata.end()) fail(file.path, "missing metadata " + key + " (expected a sapt_save file)");
    return it->second;
}

// Our stack of K-1 earlier tasks, or an undefined tensor when K == 1.
static Tensor take_previous(const TensorSource& source, const std::string& name, std::vector<int64_t> shape,
                            int axis, int per_task, int K) {
    if (K == 1) return Tensor{};
    shape[axis] = (int64_t)per_task * (K - 1);
    return source.take(name, shape, name, false);
}

void sapt_restore(SaptState& state, const SafeTensorsFile& file) {
    const SaptOptions& o = state.options;
    const std::string pet = o.pet == PetKind::Lora ? "lora" : "prompt";
    if (metadata_value(file, "sapt.pet") != pet || metadata_value(file, "sapt.selection") != (o.selection ? "1" : "0") ||
        metadata_value(file, "sapt.lora_rank") != std::to_string(o.lora_rank)) {
        fail(file.path, "SAPT file made with other options (expected pet " + pet + ", rank " +
                            std::to_string(o.lora_rank) + ", selection " + (o.selection ? "1" : "0") + "; got pet " +
                            metadata_value(file, "sapt.pet") + ", rank " + metadata_value(file, "sapt.lora_rank") +
                            ", selection " + metadata_value(file, "sapt.selection") + ")");
    }
    const int K = std::stoi(metadata_value(file, "sapt.num_tasks"));
    TensorSource source{file.path, [&](const std::string& n) { return file.has(n); },
                        [&](const std::string& n) { return file.get(n); }};
    state.lora.clear();
    state.prompt = PromptBank{};
    state.sals = Sals{};
    state.targets.clear();
    state.batch_weights = Tensor{};
    state.num_tasks = K;
    if (K == 0) return;
    const int64_t C = state.embedding_table.dim(1), R = o.lora_rank;
    if (o.pet == PetKind::Lora) {
        for (const AdaptedSite& site : state.sites) {
            const std::string base = lora_base(site);
            LoraBank bank;
            bank.site = site;
            bank.rank = o.lora_rank;
            bank.current_A = source.take(base + ".A", {R, site.in_features}, base + ".A", true);
            bank.current_B = source.take(base + ".B", {site.out_features, R}, base + ".B", true);
            bank.previous_A = take_previous(source, base + ".previous_A", {R, site.in_features}, 0, o.lora_rank, K);
            bank.previous_B = take_previous(source, base + ".previous_B", {site.out_features, R}, 1, o.lora_rank, K);
            state.lora.push_back(bank);
        }
    } else {
        const int64_t L = o.prompt_length;
        state.prompt.current = source.take("prompt.current", {L, C}, "prompt.current", true);
        state.prompt.previous = take_previous(source, "prompt.previous", {1, L, C}, 0, 1, K);
    }
    if (o.selection) {
        const int64_t Hd = o.trans_hidden;
        Sals& s = state.sals;
        s.down = source.take("sals.down", {Hd, C}, "sals.down", true);
        s.up = source.take("sals.up", {C, Hd}, "sals.up", true);
        s.norm_weight = source.take("sals.norm_weight", {C}, "sals.norm_weight", true);
        s.norm_bias = source.take("sals.norm_bias", {C}, "sals.norm_bias", true);
        s.key = source.take("sals.key", {1, C}, "sals.key", true);
        s.previous_keys = take_previous(source, "sals.previous_keys", {1, C}, 0, 1, K);
    }
    for (int j = 0; file.has("reflection.target." + std::to_string(j)); j++) {
        state.targets.push_back(tensor_values(file.get("reflection.target." + std::to_string(j))));
    }
}

void sapt_load(SaptState& state, const std::string& path) { sapt_restore(state, safetensors_open(path)); }

void sapt_load_official(SaptState& state, const WeightMap& tensors, const std::string& where) {
    const SaptOptions& o = state.options;
    if (o.pet != PetKind::Lora || !o.selection) {
        fail(where, "the official release has SAPT-LoRA only (expected pet lora with selection on)");
    }
    TensorSource source{where, [&](const std::string& n) { return tensors.count(n) > 0; },
                        [&](const std::string& n) { return tensors.at(n); }};
    const std::string prefix = state.model_kind == ModelKind::T5 ? "encoder." : "model.";
    const int64_t C = state.embedding_table.dim(1), R = o.lora_rank, Hd = o.trans_hidden;
    const std::string previous_keys_name = prefix + "previous_prompts_keys";
    const int K = 1 + (tensors.count(previous_keys_name) ? (int)tensors.at(previous_keys_name).dim(0) : 0);

    Sals& s = state.sals;
    s = Sals{};
    s.down = source.take(prefix + "trans_input.0.weight", {Hd, C}, "sals.down", true);
    s.up = source.take(prefix + "trans_input.1.weight", {C, Hd}, "sals.up", true);
    s.norm_weight = source.take(prefix + "trans_input.3.weight", {C}, "sals.norm_weight", true);
    s.norm_bias = source.take(prefix + "trans_input.3.bias", {C}, "sals.norm_bias", true);
    s.key = source.take(prefix + "prompt_key", {1, C}, "sals.key", true);
    if (K > 1) s.previous_keys = source.take(previous_keys_name, {K - 1, C}, "sals.previous_keys", false);

    // previous_lora_weights_<p>.N is the task of previous key row N: stacking N = 0, 1, ... is our slot order.
    state.lora.clear();
    for (const AdaptedSite& site : state.sites) {
        const std::string p(1, site.projection), base = lora_base(site);
        LoraBank bank;
        bank.site = site;
        bank.rank = o.lora_rank;
        bank.current_A = source.take(site.module + ".lora_" + p + ".lora_A", {R, site.in_features}, base + ".A", true);
        bank.current_B = source.take(site.module + ".lora_" + p + ".lora_B", {site.out_features, R}, base + ".B", true);
        std::vector<Tensor> As, Bs;
        for (int n = 0; n + 1 < K; n++) {
            const std::string prev = site.module + ".previous_lora_weights_" + p + "." + std::to_string(n);
            As.push_back(source.take(prev + ".lora_A", {R, site.in_features}, "", false));
            Bs.push_back(source.take(prev + ".lora_B", {site.out_features, R}, "", false));
        }
        if (K > 1) {
            NoGradScope no_grad;
            bank.previous_A = concat(As, 0);
            bank.previous_B = concat(Bs, 1);
            bank.previous_A.data->name = base + ".previous_A";
            bank.previous_B.data->name = base + ".previous_B";
        }
        state.lora.push_back(bank);
    }
    state.num_tasks = K;
    state.targets.clear();
    state.batch_weights = Tensor{};
}
