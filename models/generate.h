// generate.h — decoding for both families, batched with padding, with a KV cache: T5 caches the
// decoder's self-attention keys/values step by step and the cross-attention keys/values once; LLaMA
// caches every layer's keys/values. Each row stops at EOS (later tokens of a finished row are not
// returned) or after max_new_tokens. use_cache = false reruns the full model every step: the reference
// the cached path must equal. Greedy by default; a caller's chooser may sample instead (the pseudo-sample
// generators' top-k, sapt/generator.cpp). Not here: the samplers themselves, beam search.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "models/model.h"

// Picks one row's next token from its logits at the last position (V values) and the tokens the row has
// produced so far in this call.
using NextTokenChooser =
    std::function<int32_t(int64_t row, const float* logits, int64_t V, const std::vector<int32_t>& produced)>;

struct GenerateOptions {
    int max_new_tokens = 50;
    bool stop_at_eos = true;
    bool use_cache = true;
    // Empty: greedy (argmax, the first on ties). Otherwise called once per unfinished row per step, rows
    // in order, so that a chooser drawing from one RNG draws in a fixed order.
    NextTokenChooser choose_next;
};

// input_ids (B, Ts) I32, mask (B, Ts) U8 (right padding, as T5 tokenizers pad). Decoding starts from
// decoder_start_token_id. Returns B rows of new tokens (the EOS included when a row produced it).
std::vector<std::vector<int32_t>> t5_generate(const T5Model& model, const Tensor& input_ids, const Tensor& mask,
                                              const PetHook* hook, const GenerateOptions& options);

// prompt_ids (B, T) I32 left-padded, mask (B, T) U8 (the SAPT collator's layout). Positions follow HF's
// generate: cumsum(mask) - 1. Returns B rows of new tokens.
std::vector<std::vector<int32_t>> llama_generate(const LlamaModel& model, const Tensor& prompt_ids, const Tensor& mask,
                                                 const PetHook* hook, const GenerateOptions& options);

std::vector<std::vector<int32_t>> model_generate(const Model& model, const Tensor& input_ids, const Tensor& mask,
                                                 const PetHook* hook, const GenerateOptions& options);

// The index of the largest of each row of logits (B, 1, V) (the first one on ties, as torch.argmax).
std::vector<int32_t> argmax_last_position(const Tensor& logits);
