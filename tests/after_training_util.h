// after_training_util.h — a tiny ./train run folder on disk for the after-training tests: a random 1+1-layer T5
// (d_model 32) and a BPE tokenizer saved as a Hugging Face folder, the built-in suite's first tasks as a
// CL_Benchmark folder, and SAPT (or other methods) trained on some of them into <run>/<method>/ with the
// args.json and backbone.json ./train writes. Seconds per folder; no ../shared needed.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/synthetic_suite.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "sapt/builtin.h"
#include "sapt/continual.h"
#include "sapt/run_folder.h"
#include "tests/tiny_run_util.h"
#include "tokenizer/model_proto.h"
#include "tokenizer/trainer.h"

struct TinyRunFolder {
    std::string root, run_dir, model_dir, tokenizer_path, data_root;
    std::vector<std::string> task_names;  // every task of the data folder, in the suite's order
    Model model;
    Tokenizer tokenizer;
    std::vector<Task> tasks;              // every task of the data folder, loaded
};

// n_data_tasks tasks on disk; each method trained on the first n_train of them (stop_after_* as in
// ContinualOptions, for stopped runs).
inline TinyRunFolder make_tiny_run_folder(const std::string& name, int n_data_tasks, int n_train,
                                          const std::vector<std::string>& methods, int stop_after_tasks = 0,
                                          int stop_after_steps = 0) {
    TinyRunFolder f;
    f.root = (std::filesystem::temp_directory_path() / ("sapt_after_" + name + "_" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(f.root);
    f.run_dir = f.root + "/run";
    f.model_dir = f.root + "/model";
    f.tokenizer_path = f.model_dir + "/tokenizer.model";
    f.data_root = f.root + "/data";
    SyntheticSuite suite = make_synthetic_suite(7, 24, 6);
    suite.tasks.resize((size_t)n_data_tasks);
    write_synthetic_suite(suite, f.data_root);
    std::vector<std::string> corpus = synthetic_suite_corpus(suite);
    corpus.push_back("__gen__ __inp__ Output:");
    std::filesystem::create_directories(f.model_dir);
    save_model(train_bpe(corpus, 300), f.tokenizer_path);
    f.tokenizer = load_tokenizer(f.tokenizer_path, 0);
    T5Config c;
    c.d_model = 32;
    c.d_kv = 8;
    c.num_heads = 4;
    c.d_ff = 64;
    c.num_layers = c.num_decoder_layers = 1;
    c.vocab_size = vocab_size(f.tokenizer);
    c.dropout_rate = 0;
    c.pad_token_id = 0;
    c.eos_token_id = 2;
    c.decoder_start_token_id = 0;
    Rng rng = rng_make(11);
    std::vector<std::pair<std::string, Tensor>> weights;
    for (const auto& entry : random_t5_weights(c, rng)) weights.push_back(entry);
    safetensors_save(f.model_dir + "/model.safetensors", weights);
    atomic_write_file(f.model_dir + "/config.json", t5_config_json(c));
    f.model = load_pretrained_model(f.model_dir);
    for (const SyntheticTask& t : suite.tasks) {
        f.task_names.push_back(t.name);
        f.tasks.push_back(load_task(f.data_root, "Long_Sequence", t.name));
    }
    const std::vector<Task> train(f.tasks.begin(), f.tasks.begin() + n_train);
    std::filesystem::create_directories(f.run_dir);
    const nlohmann::json args = {{"data", f.data_root}, {"model", f.model_dir}, {"tokenizer", f.tokenizer_path},
                                 {"order", "builtin"}, {"lora-r", "2"}, {"lora-alpha", "32"},
                                 {"max-source-len", "64"}, {"max-target-len", "8"}};
    atomic_write_file(f.run_dir + "/args.json", args.dump(2));
    write_run_record(f.run_dir, f.model_dir, f.tokenizer_path, 0, f.data_root);
    for (const std::string& m : methods) {
        ContinualOptions o = tiny_run_options(f.run_dir + "/" + m, 5);
        o.method = m;
        o.sapt.lora_alpha = 32.0f;
        o.stop_after_tasks = stop_after_tasks;
        o.stop_after_steps = stop_after_steps;
        run_continual(f.model, f.tokenizer, train, o);
    }
    return f;
}
