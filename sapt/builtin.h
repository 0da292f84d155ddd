// builtin.h — what `./train` with no arguments runs on, made offline from nothing: the built-in task
// suite written to disk (data/synthetic_suite.h), a BPE tokenizer trained on its corpus, and a tiny T5
// pretrained once on that corpus by denoising (drop and shuffle words, reconstruct the line), so that the
// frozen backbone can read and copy words before any task is learned. Both are cached under a folder
// keyed by their settings and reused by later runs. Not here: the continual loop (continual.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

struct BuiltinOptions {
    uint64_t seed = 1;
    int train_per_task = 200;
    int test_per_task = 50;
    int vocab_size = 400;
    // tiny T5 (relu FFN, tied embeddings, no dropout)
    int d_model = 64;
    int layers = 2;        // per stack
    int heads = 4;
    int d_kv = 16;
    int d_ff = 256;
    // pretraining
    int pretrain_steps = 1500;
    int pretrain_batch = 32;
    float pretrain_lr = 2e-3f;
};

// The key of the cache folder: every setting that changes the tokenizer or the backbone.
std::string builtin_cache_key(const BuiltinOptions& options);

// The folder name of one suite ("s1_n200_t50": seed, train and test instances per task). Runs with other
// settings write other folders, so concurrent runs never replace the data another is reading.
std::string builtin_suite_key(const BuiltinOptions& options);

// Writes the suite under `data_root` (Long_Sequence/<task>/..., orders.json with order "builtin").
// Returns the orders.json path.
std::string write_builtin_suite(const BuiltinOptions& options, const std::string& data_root);

// The cached tokenizer (<cache_dir>/tokenizer.model) and backbone (<cache_dir>/config.json +
// model.safetensors), built first when absent. `log` gets one line per stage ("" = quiet).
struct BuiltinBackbone {
    std::string tokenizer_path;
    std::string model_dir;
    bool built_now = false;
    double seconds = 0;
};
BuiltinBackbone prepare_builtin_backbone(const BuiltinOptions& options, const std::string& cache_dir, bool verbose);

// The same tiny backbone, its tokenizer trained and its T5 pretrained on `corpus` (one text a line, e.g. a
// benchmark's training prompts and labels) instead of the built-in suite; cached under `cache_dir`.
BuiltinBackbone prepare_corpus_backbone(const BuiltinOptions& options, const std::vector<std::string>& corpus,
                                        const std::string& cache_dir, bool verbose);
// A cache key for such a backbone: the settings of builtin_cache_key and a hash of the corpus.
std::string corpus_cache_key(const BuiltinOptions& options, const std::vector<std::string>& corpus);

// Randomly initialised T5 weights under HF names, drawn as HF's T5PreTrainedModel._init_weights
// (factor 1): embeddings N(0, 1), q N(0, (C D)^-1/2), k v N(0, C^-1/2), o N(0, (H D)^-1/2), wi N(0, C^-1/2),
// wo N(0, d_ff^-1/2), relative bias N(0, C^-1/2), norm gains 1.
WeightMap random_t5_weights(const T5Config& config, Rng& rng);
// config.json text for a T5Config, as HF writes the fields we read.
std::string t5_config_json(const T5Config& config);
