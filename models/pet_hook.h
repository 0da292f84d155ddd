// pet_hook.h — how a parameter-efficient tuning (PET) method reaches into a frozen model without the
// model knowing about it. Every adapted projection (q and v of every attention) has a site index and a
// name; when the model computes y = x W^T at a site it adds hook.projection_delta(site, x) if the hook
// returns a defined tensor. A soft prompt is prepended through hook.prompt_prefix. models/ knows nothing
// of LoRA, SAPT or tasks: the hook's closures carry that state (e.g. this batch's selection weights).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

// One adapted projection of a model, e.g. "encoder.block.0.layer.0.SelfAttention.q".
struct AdaptedSite {
    std::string name;
    int in_features;   // C_in of x
    int out_features;  // C_out of x W^T
    std::string module;  // the attention module that owns it, e.g. "model.layers.0.self_attn"; a PET
                         // method names its tensors after it (official SAPT: module + ".lora_q.lora_A")
    char projection;     // 'q' or 'v'
};

struct PetHook {
    // x (B, T, C_in) -> delta (B, T, C_out) added to the projection output, or Tensor{} for none.
    std::function<Tensor(int site, const Tensor& x)> projection_delta;
    // input embeddings (B, T, C) -> soft-prompt embeddings (B, P, C) to prepend, or Tensor{} for none.
    // The model extends the attention mask by P ones (and shifts positions) when a prefix is given.
    std::function<Tensor(const Tensor& input_embeddings)> prompt_prefix;
    // (E, C) rows appended to the vocabulary, or undefined: ids V..V+E-1 embed to them and get logits from
    // them, so a generator can learn tokens the frozen model has no row for (its markers) without the
    // model's own tables being resized.
    Tensor extra_vocab;
};
