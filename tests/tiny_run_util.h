// tiny_run_util.h — a tiny continual-learning setup the loop and reliability tests share: the first tasks of the
// built-in synthetic suite written to a temporary folder, a BPE tokenizer trained on the suite (with the
// generator's markers), a random 1+1-layer T5 (d_model 32), and SAPT options small enough for seconds
// per run. No ../shared needed.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "data/cl_benchmark.h"
#include "data/synthetic_suite.h"
#include "models/model.h"
#include "sapt/builtin.h"
#include "sapt/continual.h"
#include "tokenizer/trainer.h"

struct TinyRun {
    std::string root;  // temporary folder: data/ and the runs' output folders
    Tokenizer tokenizer;
    Model model;
    std::vector<Task> tasks;
};

// `suite_seed` draws the tasks' instances, `weight_seed` the T5's weights.
inline TinyRun make_tiny_run(const std::string& name, int n_tasks, uint64_t suite_seed, uint64_t weight_seed) {
    TinyRun s;
    s.root = (std::filesystem::temp_directory_path() / ("sapt_" + name + "_" + std::to_string(getpid()))).string();
    SyntheticSuite suite = make_synthetic_suite(suite_seed, 24, 6);
    suite.tasks.resize((size_t)n_tasks);
    write_synthetic_suite(suite, s.root + "/data");
    std::vector<std::string> corpus = synthetic_suite_corpus(suite);
    corpus.push_back("__gen__ __inp__ Output:");
    s.tokenizer = make_tokenizer(train_bpe(corpus, 300), 0, "test tokenizer");
    T5Config c;
    c.d_model = 32;
    c.d_kv = 8;
    c.num_heads = 4;
    c.d_ff = 64;
    c.num_layers = c.num_decoder_layers = 1;
    c.vocab_size = vocab_size(s.tokenizer);
    c.dropout_rate = 0;
    c.pad_token_id = 0;
    c.eos_token_id = 2;
    c.decoder_start_token_id = 0;
    Rng rng = rng_make(weight_seed);
    WeightLoad load;
    load.where = "test T5";
    load.remaining = random_t5_weights(c, rng);
    s.model.kind = ModelKind::T5;
    s.model.t5 = t5_from_weights(c, load, nullptr);
    for (const SyntheticTask& t : suite.tasks) s.tasks.push_back(load_task(s.root + "/data", "Long_Sequence", t.name));
    return s;
}

// SAPT on the tiny run: LoRA r 2, one epoch of batches of 4 (2 accumulated), a 2-step generator, 3 new
// tokens at evaluation; writes to out_dir ("" = nowhere).
inline ContinualOptions tiny_run_options(const std::string& out_dir, uint64_t seed) {
    ContinualOptions o;
    o.method = "sapt";
    o.sapt.lora_rank = 2;
    o.batching.pad_id = 0;
    o.batching.eos_id = 2;
    o.batching.max_source_length = 64;
    o.batching.max_target_length = 8;
    o.train.epochs = 1;
    o.train.batch_size = 4;
    o.train.grad_accum = 2;
    o.train.lr = 3e-3f;
    o.train.kl_lambda = 0.5f;
    o.eval.batch_size = 8;
    o.eval.max_new_tokens = 3;
    o.generator.train.max_steps = 2;
    o.generator.train.batch_size = 4;
    o.generator.max_new_tokens = 6;
    o.generator.fraction = 0.1f;
    o.seed = seed;
    o.out_dir = out_dir;
    o.verbose = false;
    return o;
}
