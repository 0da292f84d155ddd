// run_folder.cpp — reading a ./train run folder back. See run_folder.h. The settings below repeat
// train.cpp's defaults (built-in run: LoRA r 8, alpha 16, 8 new tokens; --data: r 4, alpha 32, 50 new
// tokens, 16 with the tiny own backbone): a change there must be made here too.
#include "sapt/run_folder.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/json_file.h"
#include "data/orders.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/ops.h"
#include "models/model_device.h"
#include "sapt/builtin.h"
#include "sapt/checkpoint.h"
#include "sapt/continual.h"
#include "sapt/methods.h"

static std::string arg(const RunSettings& s, const std::string& name, const std::string& fallback) {
    auto it = s.args.find(name);
    return it == s.args.end() ? fallback : it->second;
}

// As ./train checks the option: an integer of at least min_value (and within int, as the settings are ints).
static long long arg_int(const RunSettings& s, const std::string& name, long long fallback, long long min_value) {
    const std::string text = arg(s, name, "");
    if (text.empty()) return fallback;
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (*end != '\0' || v < min_value || v > INT32_MAX) {
        fail(s.dir + "/args.json", "'" + name + "' must be an integer >= " + std::to_string(min_value) + " (got '" +
                                       text + "')");
    }
    return v;
}

static float arg_float(const RunSettings& s, const std::string& name, float fallback) {
    const std::string text = arg(s, name, "");
    if (text.empty()) return fallback;
    char* end = nullptr;
    const float v = std::strtof(text.c_str(), &end);
    if (*end != '\0') fail(s.dir + "/args.json", "'" + name + "' is not a number (got '" + text + "')");
    return v;
}

RunSettings read_run_settings(const std::string& dir) {
    RunSettings s;
    s.dir = dir;
    const std::string args_path = dir + "/args.json";
    if (!file_exists(args_path)) fail(args_path, "no saved arguments here (expected a run folder written by ./train)");
    const nlohmann::json file = read_json_file(args_path);
    if (!file.is_object()) fail(args_path, "expected a JSON object of saved arguments, got " + std::string(file.type_name()));
    for (auto it = file.begin(); it != file.end(); ++it) {
        if (!it->is_string()) fail(args_path, "argument '" + it.key() + "' is not a string (got " + it->type_name() + ")");
        s.args[it.key()] = it->get<std::string>();
    }
    s.builtin = !s.args.count("data");
    s.own_backbone = s.builtin || (!s.args.count("model") && s.args.count("pretrain-steps"));
    s.compat_official = arg(s, "compat", "") == "official";
    // ./train's default: bf16 frozen weights on a GPU, f32 on the CPU.
    s.precision = arg(s, "precision", arg(s, "device", "cpu") == "cuda" ? "bf16" : "f32");
    s.data_root = s.builtin ? "runs/builtin_data" : arg(s, "data", "");

    const std::string backbone_path = dir + "/backbone.json";
    if (file_exists(backbone_path)) {
        const nlohmann::json b = read_json_file(backbone_path);
        if (!b.is_object() || !b.contains("model") || !b["model"].is_string() || !b.contains("tokenizer") ||
            !b["tokenizer"].is_string() || !b.contains("n_extra_ids") || !b["n_extra_ids"].is_number_integer()) {
            fail(backbone_path, "expected {\"model\": string, \"tokenizer\": string, \"n_extra_ids\": integer}");
        }
        s.model_dir = b["model"].get<std::string>();
        s.tokenizer_path = b["tokenizer"].get<std::string>();
        s.n_extra_ids = b["n_extra_ids"].get<int>();
        if (b.contains("data") && b["data"].is_string()) s.data_root = b["data"].get<std::string>();
    } else if (s.args.count("model")) {  // train.cpp's choice for a Hugging Face model
        s.model_dir = arg(s, "model", "");
        s.tokenizer_path = arg(s, "tokenizer", "");
        for (const char* name : {"/spiece.model", "/tokenizer.model"}) {
            if (s.tokenizer_path.empty() && file_exists(s.model_dir + name)) s.tokenizer_path = s.model_dir + name;
        }
        s.n_extra_ids = -1;  // decided once the model's kind is known (load_run)
    } else if (s.builtin) {  // a run from before backbone.json: the built-in backbone's cache key
        BuiltinOptions bo;
        bo.seed = (uint64_t)arg_int(s, "seed", 1, 0);
        bo.train_per_task = (int)arg_int(s, "max-train-per-task", bo.train_per_task, 1);
        bo.test_per_task = (int)arg_int(s, "max-test-per-task", bo.test_per_task, 1);
        bo.pretrain_steps = (int)arg_int(s, "pretrain-steps", bo.pretrain_steps, 1);
        s.model_dir = "runs/cache/" + builtin_cache_key(bo);
        s.tokenizer_path = arg(s, "tokenizer", s.model_dir + "/tokenizer.model");
    } else {
        fail(backbone_path, "missing, and args.json names no --model (expected a run of a ./train that records its "
                            "backbone; the corpus backbone's cache folder cannot be derived from args.json)");
    }
    if (!file_exists(s.model_dir + "/config.json") && !file_exists(s.model_dir)) {
        fail(s.model_dir, "the run's backbone is gone (expected the model folder ./train used; rerun ./train to rebuild "
                          "a cached backbone)");
    }
    if (s.tokenizer_path.empty()) fail(s.model_dir, "no spiece.model or tokenizer.model, and args.json names no --tokenizer");

    const std::string order_id = arg(s, "order", "builtin");
    s.benchmark = arg(s, "benchmark", "");
    if (s.benchmark.empty() && file_exists(s.data_root + "/orders.json")) {
        s.benchmark = load_order(s.data_root + "/orders.json", order_id).benchmark;
    }
    if (s.benchmark.empty()) s.benchmark = "Long_Sequence";  // the built-in suite's format

    s.sapt.pet = arg(s, "pet", "lora") == "prompt" ? PetKind::Prompt : PetKind::Lora;
    s.sapt.lora_rank = (int)arg_int(s, "lora-r", s.builtin ? 8 : 4, 1);
    s.sapt.lora_alpha = arg_float(s, "lora-alpha", s.builtin ? 16.0f : 32.0f);
    s.sapt.compat_official = s.compat_official;
    s.batching.max_source_length = (int)arg_int(s, "max-source-len", 512, 2);
    s.batching.max_target_length = (int)arg_int(s, "max-target-len", 50, 1);
    s.eval.batch_size = 32;
    s.eval.max_new_tokens = s.builtin ? 8 : s.own_backbone ? 16 : 50;
    s.eval.compat_official = s.compat_official;
    return s;
}

LoadedRun load_run(const std::string& dir) {
    LoadedRun run;
    run.settings = read_run_settings(dir);
    RunSettings& s = run.settings;
    run.model = load_pretrained_model(s.model_dir);
    model_apply_precision(run.model, s.precision, s.dir + "/args.json precision");
    const bool t5 = run.model.kind == ModelKind::T5;
    if (s.n_extra_ids < 0) s.n_extra_ids = !s.own_backbone && t5 ? 100 : 0;
    run.tokenizer = load_tokenizer(s.tokenizer_path, s.n_extra_ids);
    BatchingOptions& b = s.batching;
    b.model_kind = run.model.kind;
    if (t5) {
        b.pad_id = run.model.t5.config.pad_token_id;
        b.eos_id = run.model.t5.config.eos_token_id;
    } else {
        b.pad_id = run.model.llama.config.pad_token_id;
        b.bos_id = run.model.llama.config.bos_token_id;
        b.eos_id = run.model.llama.config.eos_token_id;
    }
    if (s.compat_official) b.cut = t5 ? PromptCut::official_t5 : PromptCut::official_llama;
    return run;
}

std::vector<std::string> run_methods(const std::string& dir) {
    std::vector<std::string> methods;
    if (!std::filesystem::is_directory(dir)) return methods;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.is_directory() && file_exists(checkpoint_path(entry.path().string()))) {
            methods.push_back(entry.path().filename().string());
        }
    }
    std::sort(methods.begin(), methods.end());
    return methods;
}

std::string choose_run_method(const std::string& dir, const std::string& method) {
    if (!method.empty()) return method;
    const std::vector<std::string> methods = run_methods(dir);
    if (methods.empty()) fail(dir, "no method folder with a checkpoint.safetensors (expected a run folder of ./train)");
    if (std::find(methods.begin(), methods.end(), "sapt") != methods.end()) return "sapt";
    if (methods.size() == 1) return methods[0];
    std::string list;
    for (const std::string& m : methods) list += (list.empty() ? "" : ", ") + m;
    fail(dir, "several methods here (" + list + "): choose one with --method");
}

// An owned, contiguous copy of rows or columns [start, end) of a frozen stack.
static Tensor frozen_slice(const Tensor& t, int axis, int64_t start, int64_t end, const std::string& name) {
    NoGradScope no_grad;
    Tensor part = tensor_clone(slice(t, axis, start, end));
    part.data->requires_grad = false;
    part.data->name = name;
    return part;
}

// The state with its current slot (a task being trained when the run stopped) removed: the newest
// earlier task becomes the current one again.
static void drop_current_slot(SaptState& state) {
    const int K = state.num_tasks;
    for (LoraBank& bank : state.lora) {
        const int64_t R = bank.rank;
        bank.current_A = frozen_slice(bank.previous_A, 0, 0, R, bank.current_A.data->name);
        bank.current_B = frozen_slice(bank.previous_B, 1, 0, R, bank.current_B.data->name);
        bank.previous_A = K > 2 ? frozen_slice(bank.previous_A, 0, R, (K - 1) * R, bank.previous_A.data->name) : Tensor{};
        bank.previous_B = K > 2 ? frozen_slice(bank.previous_B, 1, R, (K - 1) * R, bank.previous_B.data->name) : Tensor{};
    }
    if (state.options.pet == PetKind::Prompt) {
        PromptBank& p = state.prompt;
        p.current = reshape(frozen_slice(p.previous, 0, 0, 1, "prompt.current"), {p.current.dim(0), p.current.dim(1)});
        p.previous = K > 2 ? frozen_slice(p.previous, 0, 1, K - 1, "prompt.previous") : Tensor{};
    }
    if (state.options.selection) {
        Sals& s = state.sals;
        s.key = frozen_slice(s.previous_keys, 0, 0, 1, "sals.key");
        s.previous_keys = K > 2 ? frozen_slice(s.previous_keys, 0, 1, K - 1, "sals.previous_keys") : Tensor{};
    }
    state.num_tasks = K - 1;
}

RunMethod load_run_method(const LoadedRun& run, const std::string& method) {
    RunMethod out;
    out.method = method;
    out.checkpoint = checkpoint_path(run.settings.dir + "/" + method);
    if (method == "seqft" || method == "l2p" || method == "mtl" || method == "single") {
        fail(run.settings.dir + "/" + method, method + " keeps what it learned outside the SAPT checkpoint (a fine-tuned "
                                              "backbone, a prompt pool or no checkpoint): it cannot be loaded back "
                                              "(expected sapt, sapt-prompt, seqlora, inclora, replay, ewc, lwf or olora)");
    }
    if (!file_exists(out.checkpoint)) fail(out.checkpoint, "no such checkpoint (methods of this run: " + [&] {
        std::string list;
        for (const std::string& m : run_methods(run.settings.dir)) list += (list.empty() ? "" : ", ") + m;
        return list.empty() ? std::string("none") : list;
    }() + ")");
    const MethodSpec& spec = method_spec(method == "sapt-prompt" ? "sapt" : method);
    SaptOptions options = method_sapt_options(spec, run.settings.sapt);
    if (method == "sapt-prompt") options.pet = PetKind::Prompt;

    const SafeTensorsFile file = safetensors_open(out.checkpoint);
    auto it = file.metadata.find("loop.state");
    if (it == file.metadata.end()) fail(out.checkpoint, "not a loop checkpoint (no loop.state metadata)");
    const LoopState loop = loop_state_from_json(it->second, out.checkpoint);
    if (loop.completed == 0) {
        fail(out.checkpoint, "no finished task in this run (expected at least one; the run stopped inside its first "
                             "task: continue it with ./train --resume " + run.settings.dir + ")");
    }
    auto rank = file.metadata.find("sapt.lora_rank");
    if (rank != file.metadata.end()) options.lora_rank = std::atoi(rank->second.c_str());
    out.state = sapt_create(run.model, options);
    sapt_restore(out.state, file);
    if (spec.block_per_task) {
        if (out.state.num_tasks == loop.completed + 1 && loop.in_task) drop_current_slot(out.state);
        if (out.state.num_tasks != loop.completed) {
            fail(out.checkpoint, "holds " + std::to_string(out.state.num_tasks) + " blocks for " +
                                     std::to_string(loop.completed) + " finished tasks (expected one block per task)");
        }
        if ((int)out.state.targets.size() > loop.completed) out.state.targets.resize((size_t)loop.completed);
    } else if (loop.in_task) {
        fail(out.checkpoint, "stopped inside task " + std::to_string(loop.completed + 1) + ": " + method +
                                 "'s single block is half-trained on it (expected a finished task; continue with "
                                 "./train --resume " + run.settings.dir + ")");
    }
    // Every restored tensor is frozen here: nothing trains after training.
    for (const Tensor& t : sapt_trainable_parameters(out.state)) t.data->requires_grad = false;
    out.tasks.assign(loop.tasks.begin(), loop.tasks.begin() + loop.completed);
    return out;
}

void write_run_record(const std::string& run_dir, const std::string& model_dir, const std::string& tokenizer_path,
                      int n_extra_ids, const std::string& data_root) {
    const nlohmann::json record = {{"model", model_dir}, {"tokenizer", tokenizer_path}, {"n_extra_ids", n_extra_ids},
                                   {"data", data_root}};
    atomic_write_file(run_dir + "/backbone.json", record.dump(2) + "\n");
}
