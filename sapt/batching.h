// batching.h — from loaded instances (data/cl_benchmark.h) to the tensors one training or evaluation step
// reads: tokenized prompts and labels, padded into batches, in an order shuffled from a saved RNG.
//   T5:    input = prompt ids + </s> (right-padded), labels = label ids + </s> (-100 on padding).
//   LLaMA: input = <s> prompt answer </s> left-padded, labels -100 on prompt and padding; the prompt
//          alone (left-padded) is kept for SALS and for generation.
// Not here: the prompt text itself (templates.h), the model, what a batch is used for.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "models/config.h"
#include "tokenizer/tokenizer.h"

struct BatchingOptions {
    ModelKind model_kind = ModelKind::T5;
    int max_source_length = 512;  // prompt tokens, </s> (T5) or <s> (LLaMA) included
    int max_target_length = 50;   // label tokens, </s> included
    PromptCut cut = PromptCut::keep_template;  // official_t5 / official_llama under --compat official
    int pad_id = 0;
    int bos_id = 1;               // LLaMA only
    int eos_id = 1;
    // Where the batches go: built on the host as token ids, then copied once to this device (the only
    // host-to-device traffic of a training step besides the reflection targets).
    Device device = Device::CPU;
};

// One instance in ids.
struct EncodedExample {
    std::vector<int> prompt;  // T5: prompt + </s>; LLaMA: <s> + prompt
    std::vector<int> label;   // label + </s>
};

struct Batch {
    std::vector<int> rows;   // which examples (indices into the encoded list)
    Tensor input_ids;        // (B, T) I32: T5 encoder input; LLaMA prompt + answer (training)
    Tensor mask;             // (B, T) U8, 1 = token
    Tensor labels;           // (B, Tt) I32 with -100 (T5: Tt target length; LLaMA: Tt = T)
    Tensor selection_ids;    // (B, Ts) I32: what SALS reads (T5: the encoder input; LLaMA: the prompt)
    Tensor selection_mask;   // (B, Ts) U8
    int64_t tokens = 0;      // non-padding tokens (for tokens/s)
};

// The tokenizer callbacks data/templates.h wants, for `tokenizer`.
PromptTokenizer prompt_tokenizer(const Tokenizer& tokenizer);

EncodedExample encode_example(const Instance& instance, const Tokenizer& tokenizer, const BatchingOptions& options);
std::vector<EncodedExample> encode_examples(const std::vector<Instance>& instances, const Tokenizer& tokenizer,
                                            const BatchingOptions& options);

// The batch of examples[rows] (padded to the longest row). with_labels = false builds inputs only
// (T5: no labels; LLaMA: input_ids = the prompt alone, as generation and SALS take it).
Batch make_batch(const std::vector<EncodedExample>& examples, const std::vector<int>& rows,
                 const BatchingOptions& options, bool with_labels);

// The same batch with its id and mask tensors on `device` (each copied once; tensors the batch shares,
// such as T5's input and selection ids, stay shared). The device tensors keep a host copy of their ids.
Batch batch_to_device(const Batch& batch, Device device);

// Consecutive batches of at most batch_size rows over `order` (the last one may be short).
std::vector<std::vector<int>> batch_rows(const std::vector<int>& order, int batch_size);

// 0..n-1 shuffled by rng (advancing it), or in order when shuffle is false.
std::vector<int> epoch_order(int n, Rng& rng, bool shuffle);
