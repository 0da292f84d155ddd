// peft.cpp — PEFT LoRA adapter folders and the SALS file, both ways. See peft.h.
#include "sapt/peft.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/json_file.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/ops.h"
#include "engine/safetensors.h"
#include "sapt/methods.h"

using nlohmann::ordered_json;

std::string peft_tensor_name(const AdaptedSite& site, char which) {
    // PeftModel wraps the model as base_model (LoraModel), which holds it as .model: hence the prefix.
    return "base_model.model." + site.name + (which == 'A' ? ".lora_A.weight" : ".lora_B.weight");
}

std::vector<std::string> peft_target_modules(ModelKind kind) {
    return kind == ModelKind::T5 ? std::vector<std::string>{"q", "v"} : std::vector<std::string>{"q_proj", "v_proj"};
}

std::string peft_task_type(ModelKind kind) { return kind == ModelKind::T5 ? "SEQ_2_SEQ_LM" : "CAUSAL_LM"; }

// An owned f32 host copy, frozen.
static Tensor host_copy(const Tensor& t) {
    NoGradScope no_grad;
    Tensor copy = tensor_clone(tensor_to_f32(tensor_to_device(t, Device::CPU)));
    copy.data->requires_grad = false;
    return copy;
}

LoraBlock lora_block_of_task(const SaptState& state, int task) {
    if (state.options.pet != PetKind::Lora) fail("export", "the state holds soft prompts, not LoRA blocks (expected --pet lora)");
    const int K = state.num_tasks;
    if (task < 0 || task >= K) fail("export", "no block for task " + std::to_string(task) + " (the state has " + std::to_string(K) + ")");
    const int slot = K - 1 - task;  // slot 0 is the newest task, then earlier tasks newest first
    LoraBlock block;
    block.rank = state.options.lora_rank;
    block.alpha = state.options.lora_alpha;
    NoGradScope no_grad;
    for (const LoraBank& bank : state.lora) {
        const int64_t R = bank.rank;
        if (slot == 0) {
            block.A.push_back(host_copy(bank.current_A));
            block.B.push_back(host_copy(bank.current_B));
        } else {
            block.A.push_back(host_copy(slice(bank.previous_A, 0, (slot - 1) * R, slot * R)));
            block.B.push_back(host_copy(slice(bank.previous_B, 1, (slot - 1) * R, slot * R)));
        }
    }
    return block;
}

SalsParameters sals_parameters_of(const SaptState& state, const std::vector<std::string>& tasks) {
    if (!state.options.selection) fail("export", "the method has no selection module (expected SAPT)");
    const Sals& s = state.sals;
    SalsParameters out;
    out.tasks = tasks;
    out.down = host_copy(s.down);
    out.up = host_copy(s.up);
    out.norm_weight = host_copy(s.norm_weight);
    out.norm_bias = host_copy(s.norm_bias);
    const int K = state.num_tasks;
    const int64_t C = s.key.dim(1);
    const std::vector<float> current = tensor_values(s.key);
    const std::vector<float> previous = s.previous_keys.defined() ? tensor_values(s.previous_keys) : std::vector<float>{};
    std::vector<float> keys((size_t)(K * C));
    for (int task = 0; task < K; task++) {
        const int slot = K - 1 - task;
        const float* row = slot == 0 ? current.data() : previous.data() + (size_t)(slot - 1) * (size_t)C;
        std::copy(row, row + C, keys.begin() + (size_t)task * (size_t)C);
    }
    out.keys = tensor_from({K, C}, keys);
    out.targets = state.targets;
    return out;
}

static nlohmann::json number_json(float v) {  // 16 rather than 16.0 when it is a whole number, as PEFT writes
    return std::floor(v) == v && std::fabs(v) < 1e9f ? nlohmann::json((long long)v) : nlohmann::json(v);
}

void write_peft_adapter(const std::string& dir, const LoraBlock& block, const std::vector<AdaptedSite>& sites,
                        ModelKind kind, const std::string& base_model) {
    if (block.A.size() != sites.size() || block.B.size() != sites.size()) {
        fail(dir, "a block with " + std::to_string(block.A.size()) + " sites for a model with " + std::to_string(sites.size()));
    }
    // The fields of peft.LoraConfig (src/peft/tuners/lora/config.py) that change what the weights mean,
    // set to what our LoRA does: scaling alpha / r, no bias, no DoRA, no rsLoRA, W x + B A x.
    ordered_json config;
    config["peft_type"] = "LORA";
    config["task_type"] = peft_task_type(kind);
    config["base_model_name_or_path"] = base_model;
    config["r"] = block.rank;
    config["lora_alpha"] = number_json(block.alpha);
    config["lora_dropout"] = 0.0;
    config["target_modules"] = peft_target_modules(kind);
    config["bias"] = "none";
    config["fan_in_fan_out"] = false;
    config["use_rslora"] = false;
    config["use_dora"] = false;
    config["init_lora_weights"] = true;
    config["inference_mode"] = true;
    config["modules_to_save"] = nullptr;
    config["layers_to_transform"] = nullptr;
    config["layers_pattern"] = nullptr;
    config["rank_pattern"] = ordered_json::object();
    config["alpha_pattern"] = ordered_json::object();
    config["revision"] = nullptr;
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (size_t s = 0; s < sites.size(); s++) {
        tensors.push_back({peft_tensor_name(sites[s], 'A'), block.A[s]});
        tensors.push_back({peft_tensor_name(sites[s], 'B'), block.B[s]});
    }
    std::filesystem::create_directories(dir);
    safetensors_save(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});  // save_pretrained's metadata
    atomic_write_file(dir + "/adapter_config.json", config.dump(2) + "\n");
}

static std::string kind_name(ModelKind kind) { return kind == ModelKind::T5 ? "T5" : "LLaMA"; }

LoraBlock read_peft_adapter(const std::string& dir, const Model& model, int expected_rank) {
    const std::string config_path = dir + "/adapter_config.json";
    if (!file_exists(config_path)) fail(config_path, "missing (expected a PEFT adapter folder: adapter_config.json + adapter_model.safetensors)");
    const nlohmann::json c = read_json_file(config_path);
    if (!c.is_object()) fail(config_path, "expected a JSON object");
    auto text = [&](const char* key) { return c.contains(key) && c[key].is_string() ? c[key].get<std::string>() : std::string(); };
    auto is_true = [&](const char* key) { return c.contains(key) && c[key].is_boolean() && c[key].get<bool>(); };
    auto non_empty = [&](const char* key) { return c.contains(key) && !c[key].is_null() && !c[key].empty(); };
    if (text("peft_type") != "LORA") fail(config_path, "peft_type must be \"LORA\" (got " + (c.contains("peft_type") ? c["peft_type"].dump() : std::string("none")) + ")");
    if (!c.contains("r") || !c["r"].is_number_integer() || c["r"].get<long long>() <= 0) fail(config_path, "r must be a positive integer");
    if (!c.contains("lora_alpha") || !c["lora_alpha"].is_number()) fail(config_path, "lora_alpha must be a number");
    if (is_true("use_dora")) fail(config_path, "a DoRA adapter (use_dora true): its magnitude vectors have no counterpart here");
    if (is_true("use_rslora")) fail(config_path, "an rsLoRA adapter (scaling alpha / sqrt(r)); expected alpha / r");
    if (is_true("fan_in_fan_out")) fail(config_path, "fan_in_fan_out true (Conv1D layout); expected nn.Linear's (out, in)");
    if (non_empty("rank_pattern") || non_empty("alpha_pattern")) fail(config_path, "per-module rank_pattern / alpha_pattern are not supported");
    if (c.contains("bias") && text("bias") != "none") fail(config_path, "bias must be \"none\" (got " + c["bias"].dump() + ")");
    std::vector<std::string> targets;
    if (!c.contains("target_modules") || !c["target_modules"].is_array()) {
        fail(config_path, "target_modules must be a list of module names (a regular expression is not supported)");
    }
    for (const auto& t : c["target_modules"]) {
        if (!t.is_string()) fail(config_path, "target_modules must be a list of strings");
        targets.push_back(t.get<std::string>());
    }
    std::vector<std::string> want = peft_target_modules(model.kind);
    std::sort(targets.begin(), targets.end());
    std::sort(want.begin(), want.end());
    if (targets != want) {
        fail(config_path, "target_modules " + c["target_modules"].dump() + " do not fit this " + kind_name(model.kind) +
                              " model (expected " + nlohmann::json(peft_target_modules(model.kind)).dump() + ")");
    }
    LoraBlock block;
    block.task = std::filesystem::path(dir).lexically_normal().filename().string();
    if (block.task.empty()) block.task = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
    block.rank = c["r"].get<int>();
    block.alpha = c["lora_alpha"].get<float>();
    if (expected_rank > 0 && block.rank != expected_rank) {
        fail(config_path, "an adapter of rank " + std::to_string(block.rank) + " (expected " + std::to_string(expected_rank) +
                              ", the rank of this run: --lora-r)");
    }
    const std::string weights_path = dir + "/adapter_model.safetensors";
    if (!file_exists(weights_path)) {
        fail(weights_path, file_exists(dir + "/adapter_model.bin")
                               ? "missing; only adapter_model.bin (a pickle) is there, which we do not read (save with safe_serialization=True)"
                               : "missing (expected the adapter's weights)");
    }
    const SafeTensorsFile file = safetensors_open(weights_path);
    const std::vector<AdaptedSite> sites = model_adapted_sites(model);
    const int64_t R = block.rank;
    for (const AdaptedSite& site : sites) {
        for (char which : {'A', 'B'}) {
            const std::string name = peft_tensor_name(site, which);
            if (!file.has(name)) {
                fail(weights_path, "missing tensor " + name + " (expected an adapter of this " + kind_name(model.kind) +
                                       " model, " + std::to_string(sites.size() / 2) + " attention modules with q and v)");
            }
            const Tensor t = file.get(name);
            const std::vector<int64_t> shape = which == 'A' ? std::vector<int64_t>{R, site.in_features}
                                                            : std::vector<int64_t>{site.out_features, R};
            if (t.shape() != shape) {
                fail(weights_path, "tensor " + name + " has the wrong shape (expected " + shape_str(shape) + " for r " +
                                       std::to_string(R) + ", got " + shape_str(t.shape()) + ")");
            }
            (which == 'A' ? block.A : block.B).push_back(host_copy(t));
        }
    }
    if (file.tensors.size() != 2 * sites.size()) {
        for (const std::string& name : file.names()) {
            bool known = false;
            for (const AdaptedSite& site : sites) known = known || name == peft_tensor_name(site, 'A') || name == peft_tensor_name(site, 'B');
            if (!known) fail(weights_path, "unexpected tensor " + name + " (an adapter of another model, or with modules we do not adapt)");
        }
    }
    return block;
}

void write_sals_parameters(const std::string& dir, const SalsParameters& sals, ModelKind kind, int trans_hidden) {
    std::vector<std::pair<std::string, Tensor>> tensors = {{"sals.down", sals.down}, {"sals.up", sals.up},
                                                           {"sals.norm_weight", sals.norm_weight},
                                                           {"sals.norm_bias", sals.norm_bias}, {"sals.keys", sals.keys}};
    for (size_t j = 0; j < sals.targets.size(); j++) {
        tensors.push_back({"reflection.target." + std::to_string(j),
                           tensor_from({(int64_t)sals.targets[j].size()}, sals.targets[j])});
    }
    const int64_t C = sals.keys.dim(1);
    ordered_json d;
    d["format"] = "sapt.cpp SALS parameters, version 1";
    d["model_type"] = kind == ModelKind::T5 ? "t5" : "llama";
    d["tasks"] = sals.tasks;
    d["d_model"] = C;
    d["trans_hidden"] = trans_hidden;
    d["selection"] = "pooled = max over T of the token embeddings (padding excluded); query = LayerNorm(SiLU(up(down(pooled)))); "
                     "logits = keys query / sqrt(d_model); weights = softmax over tasks; layer norm eps 1e-5";
    d["tensors"] = {{"sals.down", {{"shape", {trans_hidden, C}}, {"meaning", "first projection, no bias (official trans_input.0)"}}},
                    {"sals.up", {{"shape", {C, trans_hidden}}, {"meaning", "second projection, no bias (trans_input.1)"}}},
                    {"sals.norm_weight", {{"shape", {C}}, {"meaning", "LayerNorm gain (trans_input.3)"}}},
                    {"sals.norm_bias", {{"shape", {C}}, {"meaning", "LayerNorm bias (trans_input.3)"}}},
                    {"sals.keys", {{"shape", {(int64_t)sals.tasks.size(), C}}, {"meaning", "row i: the key of tasks[i]"}}},
                    {"reflection.target.<i>", {{"shape", "(i+1)"}, {"meaning", "task i's recorded mean selection weights, keys newest first"}}}};
    ordered_json adapters = ordered_json::object();
    for (const std::string& t : sals.tasks) adapters[t] = t;
    d["adapters"] = adapters;
    std::filesystem::create_directories(dir);
    safetensors_save(dir + "/sals.safetensors", tensors, {{"sapt.tasks", nlohmann::json(sals.tasks).dump()}});
    atomic_write_file(dir + "/sals.json", d.dump(2) + "\n");
}

SalsParameters read_sals_parameters(const std::string& dir, const Model& model, int trans_hidden) {
    const std::string path = dir + "/sals.safetensors";
    if (!file_exists(path)) fail(path, "missing (expected the keys and projector written by ./export)");
    const SafeTensorsFile file = safetensors_open(path);
    auto it = file.metadata.find("sapt.tasks");
    if (it == file.metadata.end()) fail(path, "no sapt.tasks metadata (expected a sals.safetensors of ./export)");
    SalsParameters s;
    try {
        s.tasks = nlohmann::json::parse(it->second).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
        fail(path, std::string("sapt.tasks is not a JSON list of names (") + e.what() + ")");
    }
    const int64_t C = (model.kind == ModelKind::T5 ? model.t5.shared : model.llama.embed).dim(1);
    const int64_t K = (int64_t)s.tasks.size(), Hd = trans_hidden;
    auto take = [&](const std::string& name, const std::vector<int64_t>& shape) {
        if (!file.has(name)) fail(path, "missing tensor " + name);
        const Tensor t = file.get(name);
        if (t.shape() != shape) {
            fail(path, "tensor " + name + " has the wrong shape (expected " + shape_str(shape) + ", got " + shape_str(t.shape()) + ")");
        }
        return host_copy(t);
    };
    s.down = take("sals.down", {Hd, C});
    s.up = take("sals.up", {C, Hd});
    s.norm_weight = take("sals.norm_weight", {C});
    s.norm_bias = take("sals.norm_bias", {C});
    s.keys = take("sals.keys", {K, C});
    for (int64_t j = 0; j < K && file.has("reflection.target." + std::to_string(j)); j++) {
        s.targets.push_back(tensor_values(take("reflection.target." + std::to_string(j), {j + 1})));
    }
    return s;
}

std::vector<std::string> export_run_method(const LoadedRun& run, const RunMethod& method, const std::string& to,
                                           const std::string& base_model) {
    const SaptState& state = method.state;
    if (state.options.pet != PetKind::Lora) {
        fail(method.checkpoint, "holds soft prompts (SAPT-Prompt), which have no PEFT LoRA form (expected a LoRA method)");
    }
    // Everything is read and copied first, so that a failure leaves `to` untouched.
    std::vector<std::pair<std::string, LoraBlock>> folders;
    if (state.num_tasks == (int)method.tasks.size()) {
        for (int i = 0; i < state.num_tasks; i++) {
            const std::string& task = method.tasks[(size_t)i];
            if (task.empty() || task == "." || task == ".." || task.find('/') != std::string::npos) {
                fail(method.checkpoint, "task name '" + task + "' cannot be a folder name");
            }
            folders.push_back({task, lora_block_of_task(state, i)});
            folders.back().second.task = task;
        }
    } else {  // one block trained over every task (seqlora and the like)
        folders.push_back({method.method, lora_block_of_task(state, 0)});
        folders.back().second.task = method.method;
    }
    SalsParameters sals;
    if (state.options.selection) sals = sals_parameters_of(state, method.tasks);

    std::vector<std::string> written;
    for (const auto& f : folders) {
        write_peft_adapter(to + "/" + f.first, f.second, state.sites, run.model.kind, base_model);
        written.push_back(to + "/" + f.first);
    }
    if (state.options.selection) write_sals_parameters(to, sals, run.model.kind, state.options.trans_hidden);
    ordered_json index;
    index["run"] = run.settings.dir;
    index["method"] = method.method;
    index["model_type"] = run.model.kind == ModelKind::T5 ? "t5" : "llama";
    index["base_model_name_or_path"] = base_model;
    index["tasks"] = method.tasks;
    ordered_json list = ordered_json::array();
    for (const auto& f : folders) list.push_back(f.first);
    index["adapters"] = list;  // in task order: the first trained first
    index["sals"] = state.options.selection ? "sals.safetensors" : "";
    atomic_write_file(to + "/adapters.json", index.dump(2) + "\n");
    return written;
}

void sapt_state_from_blocks(SaptState& state, const std::vector<LoraBlock>& blocks, const SalsParameters& sals) {
    const SaptOptions& o = state.options;
    if (state.num_tasks != 0) fail("import", "the state already has tasks (expected a fresh one)");
    if (o.pet != PetKind::Lora) fail("import", "PEFT LoRA adapters need --pet lora");
    if (blocks.empty()) fail("import", "no adapters");
    const size_t n = blocks.size();
    for (const LoraBlock& b : blocks) {
        if (b.rank != o.lora_rank) {
            fail(b.task, "an adapter of rank " + std::to_string(b.rank) + " (expected " + std::to_string(o.lora_rank) + ", --lora-r)");
        }
        if (b.alpha != o.lora_alpha) {
            fail(b.task, "lora_alpha " + std::to_string(b.alpha) + " differs from the run's " + std::to_string(o.lora_alpha) +
                             " (the scaling alpha / r would change; pass --lora-alpha)");
        }
        if (b.A.size() != state.sites.size()) fail(b.task, "an adapter for another model (site count differs)");
    }
    if (o.selection) {
        if (sals.tasks.size() != n) {
            fail("import", "SAPT needs a key per imported adapter (expected sals.safetensors with " + std::to_string(n) +
                               " keys, got " + std::to_string(sals.tasks.size()) + ")");
        }
    }
    NoGradScope no_grad;
    auto named = [](Tensor t, const std::string& name, bool trainable) {
        t = tensor_clone(t);
        t.data->name = name;
        t.data->requires_grad = trainable;
        return t;
    };
    state.lora.clear();
    for (size_t s = 0; s < state.sites.size(); s++) {
        const AdaptedSite& site = state.sites[s];
        const std::string base = site.module + ".lora_" + std::string(1, site.projection);
        LoraBank bank;
        bank.site = site;
        bank.rank = o.lora_rank;
        bank.current_A = named(blocks[n - 1].A[s], base + ".A", true);
        bank.current_B = named(blocks[n - 1].B[s], base + ".B", true);
        if (n > 1) {
            std::vector<Tensor> As, Bs;
            for (size_t i = n - 1; i-- > 0;) {  // newest first
                As.push_back(blocks[i].A[s]);
                Bs.push_back(blocks[i].B[s]);
            }
            bank.previous_A = named(concat(As, 0), base + ".previous_A", false);
            bank.previous_B = named(concat(Bs, 1), base + ".previous_B", false);
        }
        state.lora.push_back(bank);
    }
    state.sals = Sals{};
    if (o.selection) {
        Sals& s = state.sals;
        s.down = named(sals.down, "sals.down", true);
        s.up = named(sals.up, "sals.up", true);
        s.norm_weight = named(sals.norm_weight, "sals.norm_weight", true);
        s.norm_bias = named(sals.norm_bias, "sals.norm_bias", true);
        s.key = named(slice(sals.keys, 0, (int64_t)n - 1, (int64_t)n), "sals.key", true);
        if (n > 1) {
            std::vector<Tensor> rows;
            for (size_t i = n - 1; i-- > 0;) rows.push_back(slice(sals.keys, 0, (int64_t)i, (int64_t)i + 1));
            s.previous_keys = named(concat(rows, 0), "sals.previous_keys", false);
        }
    }
    state.targets = sals.targets.size() >= n ? std::vector<std::vector<float>>(sals.targets.begin(), sals.targets.begin() + n)
                                             : std::vector<std::vector<float>>{};
    state.num_tasks = (int)n;
    state.batch_weights = Tensor{};
}

ImportedAdapters read_imported_adapters(const std::vector<std::string>& dirs, const Model& model, int rank,
                                        int trans_hidden) {
    ImportedAdapters out;
    if (dirs.empty()) fail("--import-adapters", "no folder given");
    if (dirs.size() == 1 && file_exists(dirs[0] + "/adapters.json")) {  // an ./export folder: its order and keys
        const std::string index_path = dirs[0] + "/adapters.json";
        const nlohmann::json index = read_json_file(index_path);
        if (!index.is_object() || !index.contains("adapters") || !index["adapters"].is_array()) {
            fail(index_path, "expected {\"adapters\": [folder, ...], ...} as ./export writes it");
        }
        for (const auto& a : index["adapters"]) {
            if (!a.is_string()) fail(index_path, "adapters must be folder names");
            out.blocks.push_back(read_peft_adapter(dirs[0] + "/" + a.get<std::string>(), model, rank));
        }
        if (file_exists(dirs[0] + "/sals.safetensors")) {
            out.sals = read_sals_parameters(dirs[0], model, trans_hidden);
            std::vector<std::string> names;
            for (const LoraBlock& b : out.blocks) names.push_back(b.task);
            if (out.sals.tasks != names) {
                fail(dirs[0] + "/sals.safetensors", "its tasks " + nlohmann::json(out.sals.tasks).dump() +
                                                        " are not the adapters " + nlohmann::json(names).dump());
            }
        }
        return out;
    }
    for (const std::string& dir : dirs) out.blocks.push_back(read_peft_adapter(dir, model, rank));
    return out;
}
