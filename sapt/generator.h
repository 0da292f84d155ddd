// generator.h — attentive reflection's pseudo-sample generator, as the official pipeline builds it: after
// a task, a generation LoRA on the same frozen backbone learns "__gen__" -> "<definition>__inp__<input>"
// from the task's training set; then 2% of the training-set size (at least 1) is sampled with top-k and a
// repetition penalty, each sample is split at "__inp__", and one generated instruction becomes the
// definition of all of them. Or the released samples are read from --pseudo-dir (generated_data/lora_gen_*).
// The markers are special pieces of the generator's tokenizer, one id each (the official code adds them
// with tokenizer.add_tokens); where the backbone has no embedding row for such an id the generator learns
// one of its own. Not here: how pseudo samples are used (the reflection KL in trainer.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "models/model.h"
#include "sapt/batching.h"
#include "sapt/pseudo_quality.h"
#include "sapt/trainer.h"

struct GeneratorOptions {
    int lora_rank = 8;
    float lora_alpha = 32.0f;
    TrainOptions train;           // lr 1e-3 and max_steps 5000 officially; ./train's default is far smaller
    int max_target_length = 512;  // "<definition>__inp__<input>" tokens
    int top_k = 20;
    float repetition_penalty = 2.5f;
    int max_new_tokens = 512;
    float fraction = 0.02f;       // pseudo samples per training instance
};

// floor(fraction * train_size), at least 1 (the released counts: cb 250 -> 5, task1590 126 -> 2).
int pseudo_sample_count(int train_size, float fraction);

// Trains a generator for `task` (its train split) and samples pseudo instances (prompt filled with the
// benchmark template, empty label). `seed` fixes the LoRA init, the data order and the sampling.
// With options.train.stop_on_interrupt a SIGINT / SIGTERM during its training returns no samples at all.
// `checks` (when given) gets each sample's well-formed check of the generated text (pseudo_quality.h).
std::vector<Instance> generate_pseudo_samples(const Model& model, const Tokenizer& tokenizer, const Task& task,
                                              const BatchingOptions& batching, const GeneratorOptions& options,
                                              uint64_t seed, std::vector<GeneratedCheck>* checks = nullptr);

// Generated texts -> pseudo samples of `task`: each text checked (check_generated_text, with ended[i] = row i
// reached EOS) into `checks` when given, split at "__inp__", and one randomly chosen generated instruction
// (drawn from `rng`) made every sample's definition, as the official post-processing does.
std::vector<Instance> pseudo_samples_from_texts(const std::vector<std::string>& texts, const std::vector<bool>& ended,
                                                const Task& task, Rng& rng, std::vector<GeneratedCheck>* checks);

// The generator's tokenizer: `tokenizer` with "__gen__", "__inp__" and "__ans__" as special pieces.
Tokenizer generator_tokenizer(const Tokenizer& tokenizer);

// The released pseudo samples of one task: <pseudo_dir>/<benchmark>/<task>/train.json.
std::vector<Instance> load_pseudo_samples(const std::string& pseudo_dir, Benchmark benchmark,
                                          const std::string& task_name, bool compat_official);

// Splits a generated text at the first "__inp__" (and drops an "__ans__" part): {instruction, input}.
// Without "__inp__" the whole text is the input and the instruction is empty.
std::pair<std::string, std::string> split_generated_text(const std::string& text);
