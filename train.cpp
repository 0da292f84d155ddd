// train.cpp — the ./train command line. With no arguments it runs the embedded default offline: the
// built-in task suite, a tokenizer and a tiny T5 pretrained once (cached under runs/cache/), then SAPT and
// SeqLoRA side by side, a table of a[j][i] with AP / F.Ra / FWT / BWT, and runs/<name>/report.md, .json
// and PNGs. With --data / --model it runs one method on CL_Benchmark with a Hugging Face checkpoint.
// Not here: the loop itself (sapt/continual.h) or the report files (sapt/report.h).
#include <fcntl.h>
#include <omp.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "data/json_file.h"
#include "data/orders.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/interrupt.h"
#include "models/memory_plan.h"
#include "engine/device.h"
#include "models/load_device.h"
#include "models/model_device.h"
#include "sapt/baselines/compare.h"
#include "sapt/builtin.h"
#include "sapt/continual.h"
#include "sapt/import_start.h"
#include "sapt/peft.h"
#include "sapt/presets.h"
#include "sapt/run_eval.h"
#include "sapt/run_folder.h"
#include "sapt/report.h"

static const char* kVersion = "sapt.cpp 0.1.0";

static void print_help() {
    std::printf(
        "%s — parameter-efficient continual learning of LLMs with SAPT (Zhao et al., ACL 2024)\n\n"
        "usage: ./train                         built-in suite + tiny T5: SAPT vs SeqLoRA (a few minutes, offline)\n"
        "       ./train --data DIR --benchmark Long_Sequence --order long15_starts_yelp --model T5_DIR [options]\n"
        "       ./train --resume runs/NAME      continue a killed run with its saved arguments\n\n"
        "data and model:\n"
        "  --data DIR              CL_Benchmark root (with orders.json); default: the built-in suite\n"
        "  --benchmark NAME        SuperNI | Long_Sequence (default: the order's)\n"
        "  --order ID              task order id in DIR/orders.json (default: builtin)\n"
        "  --model DIR             Hugging Face T5 / LLaMA directory (config.json + safetensors)\n"
        "  --pretrain-steps N      with --data and no --model: pretrain the tiny T5 of the built-in run for N\n"
        "                          steps on the tasks' training prompts and labels (cached under runs/cache/)\n"
        "  --tasks LIST            comma-separated subset of the order's tasks, kept in the order's order\n"
        "  --tokenizer PATH        SentencePiece .model (default: DIR/spiece.model or DIR/tokenizer.model)\n"
        "  --pseudo-dir DIR        released pseudo samples (generated_data/lora_gen_*) instead of generators\n"
        "  --pseudo-fraction F     pseudo samples per training instance (default 0.02; built-in 0.1); with\n"
        "                          --compare a comma list (0.01,0.05,0.1) runs the comparison once per fraction\n"
        "                          (in OUT/pseudo-<F>/, with --seeds too) and tabulates rows <method>@<F>\n"
        "  --max-train-per-task N  --max-test-per-task N   cap the splits (0 = all)\n"
        "method:\n"
        "  --method LIST           comma-separated, from the --compare list (default: sapt; built-in: sapt,seqlora)\n"
        "  --pet lora|prompt       PET block of SAPT (prompt = SAPT-Prompt)\n"
        "  --lora-r R --lora-alpha A   (default 4 / 32)\n"
        "  --kl LAMBDA             reflection weight (default 0.1)\n"
        "  --single                also train each task alone: FWT's single-task reference\n"
        "  --compare all|LIST      every method (or a comma list) side by side: compare.md, .json, .png with\n"
        "                          AP, F.Ra, FWT, BWT and wall time. Methods: seqft seqlora inclora replay ewc\n"
        "                          lwf l2p olora mtl single sapt sapt-prompt (each also valid for --method);\n"
        "                          the ablations sapt-no-arm sapt-no-sals are named, not part of all\n"
        "  --ablation no-arm|no-sals   SAPT with one component removed (the same as --method sapt-no-arm / -no-sals):\n"
        "                          no-arm: no attentive reflection (no pseudo-sample generators, no KL);\n"
        "                          no-sals: no shared attentive learning (each task's block trained alone at weight\n"
        "                          1; keys and projector trained apart as a task classifier, -log a_t(x), plus\n"
        "                          the reflection; test inputs routed by the selection as in SAPT)\n"
        "  --seeds LIST            the comparison (--compare LIST, else the --method list) once per seed, each a\n"
        "                          run of its own in OUT/seed-<N>/ (= --seed N --out OUT/seed-<N>, resumable), then\n"
        "                          OUT/compare.md, .json, .png with the mean +- sample standard deviation (n-1)\n"
        "training:\n"
        "  --epochs N | --max-steps N   per task (default 1 epoch)\n"
        "  --lr LR --batch-size B --grad-accum G   (default 3e-4, 8, 1)\n"
        "  --max-source-len N --max-target-len N   (default 512 / 50)\n"
        "  --generator-steps N     steps of each pseudo-sample generator (default 5000)\n"
        "  --checkpoint-every N    optimizer steps between mid-task checkpoints (default 0: after each task)\n"
        "  --device cpu|cuda       where the model trains and generates (default cpu); cuda needs a build with\n"
        "                          CUDA=1 and a GPU (build-emu/train from `make train-emu`: the CPU emulation)\n"
        "  --precision f32|bf16    bf16: frozen weights stored in bf16 and multiplied as bf16 (f32 sums),\n"
        "                          trainable tensors f32; about 2x faster GEMMs with AVX512-BF16 (default f32)\n"
        "  --recompute none|layer  layer: each transformer block keeps only its input for backward and runs its\n"
        "                          forward again there: same losses and gradients, a fraction of the activation\n"
        "                          memory, about one more forward of compute (default none)\n"
        "  --plan-memory           with the flags of a run: print its planned peak device memory (weights,\n"
        "                          adapters and AdamW for K tasks, activations, logits, KV cache, generators)\n"
        "                          from --model's config.json alone, the largest batch that fits, and exit\n"
        "  --device-memory GB      the device memory --plan-memory plans for, in GiB (default 80)\n"
        "  --seed N --threads N --out DIR\n"
        "  --stop-after N          stop after N tasks as if killed (then --resume)\n"
        "  --import-adapters DIR[,DIR...]  start the sequence from LoRA adapters trained elsewhere, as its first,\n"
        "                          finished tasks: an ./export folder (blocks and SALS keys) or PEFT adapter\n"
        "                          folders named after tasks of --data (SAPT learns their keys)\n"
        "  --eval-only --run DIR --data DIR --tasks LIST   score a trained run's methods on tasks of a\n"
        "                          CL_Benchmark folder, seen or unseen: DIR/eval.md and eval.json\n"
        "  Ctrl-C / SIGTERM        finish the optimizer step, write a checkpoint, exit 130 / 143 (then --resume);\n"
        "                          a second one stops at once (whole files only)\n"
        "  --compat official       the official code's quirks: unmasked max-pool, KL not divided by the\n"
        "                          accumulation, BWT over T, dev = test, the official prompt cut and label draw\n"
        "  --preset NAME           the official hyper-parameters of a benchmark and backbone family (SAPT's\n"
        "                          scripts); every flag given explicitly overrides the preset; args.json records\n"
        "                          the resolved values. Presets:\n"
        "%s"
        "  --help, --version\n",
        kVersion, presets_help().c_str());
}

// Every option as text, so a run can save them and --resume can read them back.
using Args = std::map<std::string, std::string>;

static const std::vector<std::string> kValueOptions = {
    "data", "benchmark", "order", "model", "tokenizer", "pseudo-dir", "max-train-per-task", "max-test-per-task",
    "method", "pet", "lora-r", "lora-alpha", "kl", "epochs", "max-steps", "lr", "batch-size", "grad-accum",
    "max-source-len", "max-target-len", "generator-steps", "checkpoint-every", "seed", "threads", "out",
    "stop-after", "compat", "resume", "pseudo-fraction", "pretrain-steps", "tasks", "compare", "precision", "recompute", "device-memory", "run", "import-adapters", "device", "seeds", "preset", "ablation"};
static const std::vector<std::string> kFlagOptions = {"single", "plan-memory", "eval-only"};

static Args parse_args(int argc, char** argv) {
    Args args;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind("--", 0) != 0) fail(a, "unexpected argument (expected an option starting with --; see --help)");
        std::string name = a.substr(2), value;
        size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        bool is_value = false, is_flag = false;
        for (const auto& o : kValueOptions) is_value = is_value || o == name;
        for (const auto& o : kFlagOptions) is_flag = is_flag || o == name;
        if (!is_value && !is_flag) fail("--" + name, "unknown option (see ./train --help)");
        if (is_value && eq == std::string::npos) {
            if (i + 1 >= argc) fail("--" + name, "missing value");
            value = argv[++i];
        }
        args[name] = is_flag ? "1" : value;
    }
    return args;
}

static std::string get(const Args& args, const std::string& name, const std::string& fallback) {
    auto it = args.find(name);
    return it == args.end() ? fallback : it->second;
}

static long long get_int(const Args& args, const std::string& name, long long fallback, long long min_value) {
    std::string text = get(args, name, "");
    if (text.empty()) return fallback;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (*end != '\0' || v < min_value) {
        fail("--" + name, "expected an integer >= " + std::to_string(min_value) + ", got '" + text + "'");
    }
    return v;
}

static float get_float(const Args& args, const std::string& name, float fallback) {
    std::string text = get(args, name, "");
    if (text.empty()) return fallback;
    char* end = nullptr;
    float v = std::strtof(text.c_str(), &end);
    if (*end != '\0' || !(v >= 0)) fail("--" + name, "expected a non-negative number, got '" + text + "'");
    return v;
}


// The embedded default: settings tuned so that the whole run fits in a few minutes on 2 CPU cores.
static BuiltinOptions builtin_options(const Args& args) {
    BuiltinOptions o;
    o.seed = (uint64_t)get_int(args, "seed", 1, 0);
    o.train_per_task = (int)get_int(args, "max-train-per-task", o.train_per_task, 1);
    o.test_per_task = (int)get_int(args, "max-test-per-task", o.test_per_task, 1);
    return o;
}

// The words of a text, split on white space (newlines included).
static std::vector<std::string> split_words(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            if (!word.empty()) words.push_back(word);
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty()) words.push_back(word);
    return words;
}

// Data parallel: rank 0 runs `step` first (it may build and cache: a backbone), the others wait for it, then
// run it too and find the cache written. One process: just `step`.
static void rank_zero_first(const std::function<void()>& step) {
    if (dist_rank() == 0) step();
    dist_barrier();
    if (dist_rank() != 0) step();
}

// One ./train per run folder. Two (a --resume started twice, two runs with the same --out) would write the
// same checkpoint through the same temporary file: one renames the other's half-written bytes into place,
// or finds its temporary file renamed away. The lock is the kernel's: it ends with the process, kill -9
// included, so a killed run never leaves its folder locked. The descriptor stays open until exit.
static void lock_run_folder(const std::string& out_dir) {
    const std::string path = out_dir + "/.lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(path, "cannot create the run folder's lock file");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fail(out_dir, "another ./train is running in this folder (expected one process per run folder)");
    }
}

// After SIGINT / SIGTERM (engine/interrupt.h): the loop has written its checkpoint; say how to go on and exit
// with 128 + the signal number, as a shell reports a process ended by that signal (130, 143).
static int stopped_by_signal(const std::string& out_dir) {
    std::fprintf(stderr, "\n./train: interrupted by %s; the checkpoint is written; continue with: ./train --resume %s\n",
                 interrupt_signal_name(), out_dir.c_str());
    return 128 + interrupt_signal();
}

// --recompute none|layer -> whether training forwards recompute each block in backward (Model::recompute_layers).
static bool recompute_layers_option(const Args& args) {
    const std::string value = get(args, "recompute", "none");
    if (value != "none" && value != "layer") fail("--recompute", "expected none or layer, got '" + value + "'");
    return value == "layer";
}

// ./train --plan-memory: the run's memory plan (models/memory_plan.h) from --model's config.json alone;
// nothing is loaded, trained or written. K is the number of tasks the run would train.
static int plan_memory_command(const Args& args) {
    const std::string model_dir = get(args, "model", "");
    if (model_dir.empty()) fail("--plan-memory", "needs --model DIR (its config.json is all it reads)");
    const std::string config_path = model_dir + "/config.json";
    if (!std::filesystem::exists(config_path)) {
        fail(config_path, "no such file (--plan-memory reads the Hugging Face config.json of --model)");
    }
    // As a run chooses it: bf16 frozen weights by default on a GPU.
    const std::string precision = get(args, "precision", get(args, "device", "cpu") == "cuda" ? "bf16" : "f32");
    check_precision_name(precision, "--precision");
    MemoryPlanOptions o;
    o.batch_size = (int)get_int(args, "batch-size", 8, 1);
    o.source_length = (int)get_int(args, "max-source-len", 512, 2);
    o.target_length = (int)get_int(args, "max-target-len", 50, 1);
    o.lora_rank = (int)get_int(args, "lora-r", 4, 1);
    o.frozen_bf16 = precision == "bf16";
    o.recompute_layers = recompute_layers_option(args);
    const std::string method = get(args, "method", "sapt");  // SAPT and its ablations select; no-arm generates nothing
    o.selection = method == "sapt" || method == "sapt-no-arm" || method == "sapt-no-sals";
    o.generators = o.selection && method != "sapt-no-arm" && !args.count("pseudo-dir");  // one generator per task
    const std::vector<std::string> chosen = split_commas(get(args, "tasks", ""));
    if (!chosen.empty()) {  // a run stops on a named task without data, so these are the tasks it trains
        o.n_tasks = (int)chosen.size();
    } else if (args.count("data")) {  // the order's tasks with data: a run skips the others
        const std::string root = get(args, "data", "");
        const TaskOrder order = load_order(root + "/orders.json", get(args, "order", "builtin"));
        LoadOptions load;
        load.compat_official = get(args, "compat", "") == "official";
        const OrderTasks with_data = order_tasks_with_data(
            root, benchmark_name(benchmark_from_name(get(args, "benchmark", order.benchmark))), order, chosen, load);
        for (const std::string& note : with_data.notes) std::printf("note: %s\n", note.c_str());
        o.n_tasks = (int)with_data.names.size();
    }  // else the paper's longest sequence, 15 tasks
    const float device_gib = get_float(args, "device-memory", 80.0f);
    if (!(device_gib > 0)) fail("--device-memory", "expected a positive size in GiB, got '" + get(args, "device-memory", "") + "'");
    std::printf("%s", format_memory_plan(read_file(config_path), config_path, o, device_gib * 1073741824.0).c_str());
    return 0;
}

// --preset NAME fills every option the command line leaves unset; --ablation NAME is --method sapt-NAME. Both
// are resolved here, so that args.json records the values the run used (and a resume reads them back).
static Args resolve_preset_and_ablation(Args args) {
    if (args.count("preset")) args = apply_preset(args, preset_named(args["preset"]));
    if (args.count("ablation")) {
        const std::string name = args["ablation"];
        if (name != "no-arm" && name != "no-sals") fail("--ablation", "expected no-arm or no-sals, got '" + name + "'");
        if (args.count("method") || args.count("compare")) {
            fail("--ablation", "not with --method or --compare (name sapt-" + name + " in their list instead)");
        }
        args["method"] = "sapt-" + name;
        args.erase("ablation");
    }
    return args;
}

static int run(Args args, Comparison* comparison_out = nullptr, SeededComparison* seeded_out = nullptr);

// The folder of a sweep (--seeds, a --pseudo-fraction list) with the sweep's args.json (what --resume reads);
// data parallel: rank 0 alone writes, as in a run folder.
static std::string sweep_folder(const Args& args) {
    const bool builtin = !args.count("data");
    const std::string out_dir = get(args, "out", builtin ? "runs/builtin" : "runs/" + get(args, "order", "run"));
    if (dist_rank() != 0) return out_dir;
    std::filesystem::create_directories(out_dir);
    if (!args.count("resume")) {
        Args saved = args;
        saved["out"] = out_dir;
        atomic_write_file(out_dir + "/args.json", nlohmann::json(saved).dump(2));
    }
    return out_dir;
}

// --seeds 1,2,3 with --compare: the whole comparison once per seed, each a run of its own in OUT/seed-<N>/
// (exactly what --seed N --out OUT/seed-<N> would do, resumable the same way), then the mean and the sample
// standard deviation of every score in OUT/compare.md, .json and .png. One seed is a plain --seed run.
static int run_seeds(Args args, SeededComparison* seeded_out) {
    if (!args.count("compare")) {  // ./train --seeds 1,2,3: the methods the run would train, side by side
        args["compare"] = get(args, "method", args.count("data") ? "sapt" : "sapt,seqlora");
        args.erase("method");
    }
    if (args.count("seed")) fail("--seeds", "not with --seed (the seeds are the list)");
    if (args.count("stop-after")) fail("--seeds", "not with --stop-after (a seeded comparison resumes with --resume)");
    std::vector<long long> seeds;
    for (const std::string& text : split_commas(args["seeds"])) {
        char* end = nullptr;
        const long long seed = std::strtoll(text.c_str(), &end, 10);
        if (*end != '\0' || seed < 0) fail("--seeds", "expected a comma list of integers >= 0, got '" + text + "'");
        for (long long earlier : seeds) {
            if (earlier == seed) fail("--seeds", "seed " + text + " is listed twice (expected distinct seeds)");
        }
        seeds.push_back(seed);
    }
    if (seeds.empty()) fail("--seeds", "no seed given (expected a comma list such as 1,2,3)");
    if (seeds.size() == 1) {  // today's single-run output
        args.erase("seeds");
        args["seed"] = std::to_string(seeds[0]);
        return run(args, nullptr, seeded_out);
    }
    const std::string out_dir = sweep_folder(args);
    const bool writes = dist_rank() == 0;
    SeededComparison seeded;
    seeded.seeds = seeds;
    for (long long seed : seeds) {
        Args one = args;
        one.erase("seeds");
        one.erase("resume");
        one["seed"] = std::to_string(seed);
        one["out"] = out_dir + "/seed-" + std::to_string(seed);
        // A seed folder with saved arguments was started before: it goes on from its checkpoints.
        if (args.count("resume") && std::filesystem::exists(one["out"] + "/args.json")) one["resume"] = one["out"];
        std::printf("\n==== seed %lld (%zu of %zu): %s ====\n", seed, seeded.runs.size() + 1, seeds.size(), one["out"].c_str());
        std::fflush(stdout);
        Comparison comparison;
        const int status = run(one, &comparison);
        if (status != 0) return status;
        seeded.runs.push_back(comparison);
    }
    const Comparison& first = seeded.runs[0];
    seeded.title = first.title;
    seeded.tasks = first.tasks;
    std::string list;
    for (long long seed : seeds) list += (list.empty() ? "" : ", ") + std::to_string(seed);
    seeded.settings = first.settings;  // its seed line names the first seed: name them all
    const std::string first_seed = ", seed " + std::to_string(seeds[0]) + "\n";
    const size_t at = seeded.settings.find(first_seed);
    if (at != std::string::npos) seeded.settings.replace(at, first_seed.size(), ", seeds " + list + "\n");
    if (writes) write_seeded_comparison(out_dir, seeded);
    std::printf("\n%s", seeded_comparison_markdown(seeded).c_str());
    std::printf("\nseeded comparison: %s/compare.md (+ compare.json, compare.png; each seed in seed-<N>/)\n", out_dir.c_str());
    if (seeded_out) *seeded_out = seeded;
    return 0;
}

// --pseudo-fraction 0.01,0.05,0.1 with --compare: the comparison once per fraction, each a run of its own in
// OUT/pseudo-<F>/ (seeded too under --seeds; resumable the same way), then one table in OUT/compare.md, .json
// and .png whose rows are <method>@<F>: the pseudo-sample amount as one command. Replay's memory is the
// same fraction of each task, so its rows move with it too.
static int run_fractions(Args args) {
    if (!args.count("compare")) fail("--pseudo-fraction", "a list of fractions goes with --compare LIST");
    const std::vector<std::string> fractions = split_commas(args["pseudo-fraction"]);
    for (const std::string& text : fractions) {
        char* end = nullptr;
        const float f = std::strtof(text.c_str(), &end);
        if (*end != '\0' || !(f > 0)) fail("--pseudo-fraction", "expected a comma list of positive numbers, got '" + text + "'");
    }
    const std::string out_dir = sweep_folder(args);
    const bool writes = dist_rank() == 0;
    SeededComparison merged;
    for (const std::string& fraction : fractions) {
        Args one = args;
        one.erase("resume");
        one["pseudo-fraction"] = fraction;
        one["out"] = out_dir + "/pseudo-" + fraction;
        if (args.count("resume") && std::filesystem::exists(one["out"] + "/args.json")) one["resume"] = one["out"];
        std::printf("\n==== pseudo-sample fraction %s: %s ====\n", fraction.c_str(), one["out"].c_str());
        std::fflush(stdout);
        SeededComparison part;
        const int status = run(one, nullptr, &part);
        if (status != 0) return status;
        if (merged.runs.empty()) {  // the first fraction's run gives the tasks, seeds and single-task scores
            merged = part;
            for (Comparison& c : merged.runs) c.rows.clear();
        }
        for (size_t k = 0; k < part.runs.size(); k++) {
            for (ComparisonRow row : part.runs[k].rows) {
                row.method += "@" + fraction;
                merged.runs[k].rows.push_back(row);
            }
        }
    }
    std::string list;
    for (const std::string& fraction : fractions) list += (list.empty() ? "" : ", ") + fraction;
    merged.title += ", pseudo samples per instance " + list;
    const size_t from = merged.settings.find(", pseudo samples "), to = merged.settings.find(" per instance", from);
    if (from != std::string::npos && to != std::string::npos) {  // the first fraction's line names them all
        merged.settings.replace(from, to - from, ", pseudo samples " + list + " (a row each)");
    }
    for (Comparison& c : merged.runs) c.title = merged.title, c.settings = merged.settings;
    if (merged.runs.size() > 1) {
        if (writes) write_seeded_comparison(out_dir, merged);
        std::printf("\n%s", seeded_comparison_markdown(merged).c_str());
    } else {
        if (writes) write_comparison(out_dir, merged.runs[0]);
        std::printf("\n%s", comparison_markdown(merged.runs[0]).c_str());
    }
    std::printf("\npseudo-sample fractions: %s/compare.md (+ compare.json, compare.png; each fraction in pseudo-<F>/)\n",
                out_dir.c_str());
    return 0;
}

static int run(Args args, Comparison* comparison_out, SeededComparison* seeded_out) {
    args = resolve_preset_and_ablation(args);
    if (args.count("plan-memory")) return plan_memory_command(args);
    if (args.count("resume")) {  // the saved arguments of that run, then the resume flag
        const std::string dir = args["resume"];
        const std::string path = dir + "/args.json";
        if (!std::filesystem::exists(path)) fail(path, "no saved arguments here (expected a run folder of ./train)");
        const nlohmann::json file = read_json_file(path);
        if (!file.is_object()) fail(path, "expected a JSON object of saved arguments, got " + std::string(file.type_name()));
        Args saved;
        for (auto it = file.begin(); it != file.end(); ++it) {
            if (!it->is_string()) fail(path, "argument '" + it.key() + "' is not a string (got " + it->type_name() + ")");
            saved[it.key()] = it->get<std::string>();
        }
        for (const auto& [name, value] : saved) {  // a hand-edited file is checked as a command line would be
            bool known = false;
            for (const auto& o : kValueOptions) known = known || o == name;
            for (const auto& o : kFlagOptions) known = known || o == name;
            if (!known || name == "resume") fail(path, "unknown saved argument '" + name + "' (expected options of ./train)");
        }
        // The run continues where its folder is now: a moved or copied folder never writes into the folder it
        // was started in, and nothing in args.json can send this run's writes elsewhere.
        saved["out"] = dir;
        saved["resume"] = dir;
        args = saved;
    }
    if (get(args, "pseudo-fraction", "").find(',') != std::string::npos) return run_fractions(args);
    if (args.count("seeds")) return run_seeds(args, seeded_out);
    const auto start = std::chrono::steady_clock::now();
    if (args.count("threads")) omp_set_num_threads((int)get_int(args, "threads", 1, 1));
    if (args.count("eval-only")) return train_eval_only(args);  // sapt/run_eval.h
    if (args.count("run")) fail("--run", "goes with --eval-only (to continue a run: --resume)");
    const bool builtin = !args.count("data");
    const bool compat = get(args, "compat", "") == "official";
    if (args.count("compat") && !compat) fail("--compat", "expected 'official', got '" + get(args, "compat", "") + "'");
    // The device is checked before anything is written: a cuda run without a GPU stops here.
    const Device device = parse_device_option(get(args, "device", "cpu"), "--device");
    // On a GPU the frozen weights are bf16 unless asked otherwise: the tensor cores' input.
    const std::string precision = get(args, "precision", device == Device::CUDA ? "bf16" : "f32");
    check_precision_name(precision, "--precision");
    recompute_layers_option(args);  // a wrong --recompute fails now, not after the data and the model are loaded
    const std::string out_dir = get(args, "out", builtin ? "runs/builtin" : "runs/" + get(args, "order", "run"));

    // ---- data, tokenizer, backbone -----------------------------------------------------------------
    std::string data_root = get(args, "data", "");
    std::string model_dir = get(args, "model", "");
    std::string tokenizer_path = get(args, "tokenizer", "");
    BuiltinOptions bo = builtin_options(args);
    if (builtin) {
        data_root = "runs/builtin_data/" + builtin_suite_key(bo);
        if (dist_rank() == 0) write_builtin_suite(bo, data_root);
        dist_barrier();  // data parallel: the other ranks read what rank 0 wrote
    }
    const std::string orders = data_root + "/orders.json";
    const TaskOrder order = load_order(orders, get(args, "order", "builtin"));
    const std::string benchmark = get(args, "benchmark", order.benchmark);
    LoadOptions load;
    load.compat_official = compat;
    load.seed = (uint64_t)get_int(args, "seed", 42, 0);
    const int max_train = (int)get_int(args, "max-train-per-task", 0, 0);
    const int max_test = (int)get_int(args, "max-test-per-task", 0, 0);
    const std::vector<std::string> chosen = split_commas(get(args, "tasks", ""));
    // A task of the order without data is skipped with a note; one named in --tasks stops the run (orders.h).
    const OrderTasks with_data =
        order_tasks_with_data(data_root, benchmark_name(benchmark_from_name(benchmark)), order, chosen, load);
    for (const std::string& note : with_data.notes) std::printf("note: %s\n", note.c_str());
    std::vector<Task> tasks;
    for (const std::string& name : with_data.names) {
        Task task = load_task(data_root, benchmark_name(benchmark_from_name(benchmark)), name, load);
        if (max_train > 0 && (int)task.train.size() > max_train) task.train.resize((size_t)max_train);
        if (max_test > 0 && (int)task.test.size() > max_test) task.test.resize((size_t)max_test);
        if (max_test > 0 && (int)task.dev.size() > max_test) task.dev.resize((size_t)max_test);
        tasks.push_back(task);
    }
    // Our own tiny backbone: the built-in one, or (--data without --model) one pretrained on the training
    // text of these tasks, long prompts cut into pieces of at most 32 words so every denoising line is short.
    const bool own_backbone = builtin || (model_dir.empty() && args.count("pretrain-steps"));
    if (own_backbone && model_dir.empty()) {
        bo.pretrain_steps = (int)get_int(args, "pretrain-steps", bo.pretrain_steps, 1);
        BuiltinBackbone backbone;
        if (builtin) {
            rank_zero_first([&] { backbone = prepare_builtin_backbone(bo, "runs/cache/" + builtin_cache_key(bo), true); });
        } else {
            std::vector<std::string> corpus;
            for (const Task& task : tasks) {
                for (const Instance& instance : task.train) {
                    for (const std::string& text : {instance.prompt, instance.label}) {
                        std::string piece;
                        int words = 0;
                        for (const std::string& word : split_words(text)) {
                            piece += (piece.empty() ? "" : " ") + word;
                            if (++words == 32) {
                                corpus.push_back(piece);
                                piece.clear();
                                words = 0;
                            }
                        }
                        if (!piece.empty()) corpus.push_back(piece);
                    }
                }
            }
            rank_zero_first([&] {
                backbone = prepare_corpus_backbone(bo, corpus, "runs/cache/" + corpus_cache_key(bo, corpus), true);
            });
        }
        if (backbone.built_now) std::printf("  backbone ready in %.1fs (cached for the next run)\n", backbone.seconds);
        model_dir = backbone.model_dir;
        if (tokenizer_path.empty()) tokenizer_path = backbone.tokenizer_path;
    }
    if (model_dir.empty()) fail("--model", "a Hugging Face model directory is needed with --data (or --pretrain-steps)");
    // On a GPU the checkpoint streams to the device through a bounded staging buffer (models/load_device.h):
    // the whole model never sits in host memory.
    Model model = device == Device::CPU ? load_pretrained_model(model_dir)
                                        : load_pretrained_model_on(model_dir, device, precision == "bf16");
    model.recompute_layers = recompute_layers_option(args);
    model_apply_precision(model, precision, "--precision");
    model_place(model, device, precision);
    if (device != Device::CPU) std::printf("model on the device (%s): %s\n", precision.c_str(), device_memory_summary().c_str());
    if (tokenizer_path.empty()) {
        for (const char* name : {"/spiece.model", "/tokenizer.model"}) {
            if (std::filesystem::exists(model_dir + name)) tokenizer_path = model_dir + name;
        }
        if (tokenizer_path.empty()) fail(model_dir, "no spiece.model or tokenizer.model (pass --tokenizer)");
    }
    const int n_extra_ids = !own_backbone && model.kind == ModelKind::T5 ? 100 : 0;  // HF T5's <extra_id_*>
    const Tokenizer tokenizer = load_tokenizer(tokenizer_path, n_extra_ids);

    // ---- options ---------------------------------------------------------------------------------------
    ContinualOptions o;
    o.seed = (uint64_t)get_int(args, "seed", builtin ? 1 : 42, 0);
    const std::string pet = get(args, "pet", "lora");
    if (pet != "lora" && pet != "prompt") fail("--pet", "expected lora or prompt, got '" + pet + "'");
    o.sapt.pet = pet == "lora" ? PetKind::Lora : PetKind::Prompt;
    o.sapt.lora_rank = (int)get_int(args, "lora-r", builtin ? 8 : 4, 1);
    o.sapt.lora_alpha = get_float(args, "lora-alpha", builtin ? 16.0f : 32.0f);
    o.sapt.compat_official = compat;
    o.batching.model_kind = model.kind;
    o.batching.device = device;
    if (model.kind == ModelKind::T5) {
        o.batching.pad_id = model.t5.config.pad_token_id;
        o.batching.eos_id = model.t5.config.eos_token_id;
    } else {
        o.batching.pad_id = model.llama.config.pad_token_id;
        o.batching.bos_id = model.llama.config.bos_token_id;
        o.batching.eos_id = model.llama.config.eos_token_id;
    }
    o.batching.max_source_length = (int)get_int(args, "max-source-len", 512, 2);
    o.batching.max_target_length = (int)get_int(args, "max-target-len", 50, 1);
    if (compat) o.batching.cut = model.kind == ModelKind::T5 ? PromptCut::official_t5 : PromptCut::official_llama;
    o.train.epochs = (int)get_int(args, "epochs", builtin ? 10 : 1, 1);
    o.train.max_steps = get_int(args, "max-steps", 0, 0);
    o.train.lr = get_float(args, "lr", builtin ? 3e-3f : 3e-4f);
    o.train.batch_size = (int)get_int(args, "batch-size", builtin ? 16 : 8, 1);
    o.train.grad_accum = (int)get_int(args, "grad-accum", 1, 1);
    o.train.kl_lambda = get_float(args, "kl", builtin ? 0.5f : 0.1f);
    o.train.compat_official = compat;
    o.train.checkpoint_every = (int)get_int(args, "checkpoint-every", 0, 0);
    o.eval.batch_size = 32;
    o.eval.max_new_tokens = builtin ? 8 : own_backbone ? 16 : 50;
    o.eval.compat_official = compat;
    o.generator.train.lr = own_backbone ? 5e-3f : 1e-3f;  // the built-in rate for every backbone pretrained here
    o.generator.train.max_steps = get_int(args, "generator-steps", builtin ? 300 : 5000, 1);
    o.generator.train.batch_size = 16;
    // A tiny backbone's 400-piece BPE spends up to 129 tokens on a Long Sequence definition (amazon) before
    // "__inp__": its generator writes up to twice the source length, enough for the definition and an input.
    o.generator.max_new_tokens = builtin ? 96 : own_backbone ? 2 * o.batching.max_source_length : 512;
    if (own_backbone) {  // a tiny generator samples better from a narrower, unpenalised distribution
        o.generator.top_k = 5;
        o.generator.repetition_penalty = 1.0f;
        // Its targets are cut where its sampling stops, so that it learns to end a sample with EOS there
        // instead of being cut inside a long input (Long Sequence reviews run past max_source_length).
        o.generator.max_target_length = o.generator.max_new_tokens;
    }
    o.generator.fraction = get_float(args, "pseudo-fraction", builtin ? 0.1f : 0.02f);
    o.pseudo_dir = get(args, "pseudo-dir", "");
    o.resume = args.count("resume") > 0;
    o.stop_after_tasks = (int)get_int(args, "stop-after", 0, 0);

    const std::vector<std::string> methods =
        parse_comparison_methods(get(args, "method", builtin ? "sapt,seqlora" : "sapt"));
    ImportedAdapters imported;  // --import-adapters (sapt/import_start.h): their tasks go first, finished
    if (args.count("import-adapters")) {
        if (args.count("compare")) fail("--import-adapters", "not with --compare (use --method)");
        imported = read_imported_adapters(split_commas(args["import-adapters"]), model, o.sapt.lora_rank,
                                          o.sapt.trans_hidden);
        std::vector<Task> first;
        for (const LoraBlock& block : imported.blocks) {
            for (const Task& t : tasks) {
                if (t.name == block.task) fail("--import-adapters", block.task + " is imported and also a task to train");
            }
            first.push_back(load_task(data_root, benchmark_name(benchmark_from_name(benchmark)), block.task, load));
        }
        tasks.insert(tasks.begin(), first.begin(), first.end());
    }

    // Only now, with every input read and checked, does the run leave anything in its output folder.
    // Data parallel: rank 0 alone writes the run folder (the other ranks compute the same and write nothing).
    const bool writes = dist_rank() == 0;
    if (writes) std::filesystem::create_directories(out_dir);
    if (writes) lock_run_folder(out_dir);
    if (!args.count("resume") && writes) {
        Args saved = args;
        saved["out"] = out_dir;
        saved.erase("stop-after");
        atomic_write_file(out_dir + "/args.json", nlohmann::json(saved).dump(2));
    }
    if (writes) write_run_record(out_dir, model_dir, tokenizer_path, n_extra_ids, data_root);  // for ./generate, ./export
    RunReport report;
    report.title = builtin ? "sapt.cpp built-in run: SAPT vs SeqLoRA on the synthetic suite" : "sapt.cpp run: " + order.id;
    for (const Task& t : tasks) report.tasks.push_back(t.name);
    report.compat_official = compat;
    auto number = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return std::string(buf);
    };
    report.settings = "- model: " + model_dir + "\n- order: " + order.id + " (" + std::to_string(tasks.size()) +
                      " tasks)\n- epochs " + std::to_string(o.train.epochs) + ", max steps " +
                      std::to_string(o.train.max_steps) + ", lr " + number(o.train.lr) + ", batch " +
                      std::to_string(o.train.batch_size) + " x " + std::to_string(o.train.grad_accum) +
                      ", LoRA r " + std::to_string(o.sapt.lora_rank) + " alpha " + number(o.sapt.lora_alpha) +
                      ", kl " + number(o.train.kl_lambda) + ", pseudo samples " + number(o.generator.fraction) +
                      " per instance, seed " + std::to_string(o.seed) + "\n";
    for (const std::string& note : with_data.notes) report.settings += "- " + note + "\n";
    if (args.count("compare")) {  // every method on the same backbone, data, order and budget
        o.out_dir = out_dir;       // each method logs under out_dir/<method>
        Comparison comparison = run_comparison(model, tokenizer, tasks, o, parse_comparison_methods(args["compare"]));
        if (comparison.interrupted) return stopped_by_signal(out_dir);
        comparison.title = "method comparison: " + order.id + " (" + std::to_string(tasks.size()) + " tasks)";
        comparison.settings = report.settings;
        if (comparison_out) *comparison_out = comparison;  // --seeds: the caller averages the seeds
        if (seeded_out) {  // a list of --pseudo-fraction: the caller tabulates the fractions, as one seed here
            seeded_out->title = comparison.title;
            seeded_out->settings = comparison.settings;
            seeded_out->tasks = comparison.tasks;
            seeded_out->seeds = {(long long)o.seed};
            seeded_out->runs = {comparison};
        }
        if (writes) write_comparison(out_dir, comparison);
        std::printf("\n%s", comparison_markdown(comparison).c_str());
        std::printf("\ncomparison: %s/compare.md (+ compare.json, compare.png); total %.1fs\n", out_dir.c_str(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        return 0;
    }
    std::printf("%s: %zu tasks, methods:", order.id.c_str(), tasks.size());
    for (const auto& m : methods) std::printf(" %s", m.c_str());
    std::printf("\n");
    std::fflush(stdout);
    bool stopped = false;
    for (const std::string& m : methods) {
        ContinualOptions om = o;
        om.method = m;
        om.out_dir = out_dir + "/" + m;
        if (!imported.blocks.empty()) {
            if (writes && !std::filesystem::exists(checkpoint_path(om.out_dir))) {
                write_imported_start(model, tokenizer, tasks, imported, om);
            }
            dist_barrier();  // the other ranks resume from the start rank 0 wrote
            om.resume = true;
        }
        MethodRun run_result;
        run_result.method = m;
        run_result.result = run_named_method(model, tokenizer, tasks, om, m);
        stopped = stopped || run_result.result.stopped;
        report.runs.push_back(run_result);
        if (interrupt_requested()) break;  // the next methods would each train one step and stop
    }
    if (interrupt_requested()) return stopped_by_signal(out_dir);
    if (stopped) {
        std::printf("stopped as asked (--stop-after); continue with: ./train --resume %s\n", out_dir.c_str());
        return 0;
    }
    if (args.count("single") || builtin) report.single = single_task_scores(model, tokenizer, tasks, o);
    if (interrupt_requested()) return stopped_by_signal(out_dir);
    for (MethodRun& r : report.runs) {  // mtl and single have no sequence: AP only
        r.scores = r.method == "mtl" || r.method == "single" ? comparison_scores(r.method, r.result, report.single)
                                                             : score_run(r.result, report.single, compat);
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("\n");
    for (const MethodRun& r : report.runs) std::printf("%s\n", format_method_table(report, r).c_str());
    std::printf("%s", format_summary(report).c_str());
    if (writes) write_report(out_dir, report);
    std::printf("\nreport: %s/report.md (+ report.json, PNGs); total %.1fs\n", out_dir.c_str(), report.seconds);
    return 0;
}

// OpenMP threads that spin while waiting (libgomp's default) turn every small op into a fight for the
// cores as soon as anything else runs on the machine: we measured a tiny-T5 training step at 45 ms with
// passive waiting and 120-780 ms with spinning on a busy 2-core box. libgomp reads OMP_WAIT_POLICY when
// the program loads, before main, so the only way to choose it here is to start again with it set.
// A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone. (Measured again with two ./train on the 2-core
// box: passive 54 s for both, GOMP_SPINCOUNT=100000 132 s, 10000 378 s; alone on an idle box spinning is
// faster, 30-53 s against 60-65 s, but a shared machine is the case that must not collapse.)
static void restart_with_passive_waiting(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then we simply run with the default policy
}

int main(int argc, char** argv) {
    restart_with_passive_waiting(argv);
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) { print_help(); return 0; }
        if (!std::strcmp(argv[i], "--version")) { std::printf("%s\n", kVersion); return 0; }
    }
    // Under mpirun: MPI up, this rank's GPU chosen; ranks other than 0 print nothing on stdout (rank 0 reports).
    dist_init(&argc, &argv);
    if (dist_rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 1;
    if (dist_world_size() > 1) {
        std::printf("data parallel: %d ranks (%s); each takes its share of every global batch\n", dist_world_size(),
                    dist_backend_name().c_str());
    }
    install_interrupt_handlers();
    try {
        const int code = run(parse_args(argc, argv));
        dist_finalize();
        return code;
    } catch (const std::exception& e) {
        // One rank failing must stop the others, which would otherwise wait in the next collective forever.
        if (dist_world_size() > 1) dist_abort(std::string("./train: ") + e.what(), 1);
        std::fprintf(stderr, "./train: %s\n", e.what());
        return interrupt_requested() ? 128 + interrupt_signal() : 1;
    }
}
