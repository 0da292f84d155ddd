// llama.h — LLaMA / LLaMA-2 as in transformers 4.30: pre-norm decoder layers with RMSNorm, RoPE in HF's
// rotate-half convention, grouped-query attention, a SwiGLU MLP and an untied lm_head (llama2.c files
// may tie it). The PET hook adapts q and v of every layer. The same forward serves training (no cache)
// and cached generation. Not here: loading (llama_weights.cpp, llama2c.cpp), the greedy loop (generate.h).
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "models/config.h"
#include "models/pet_hook.h"

struct LlamaLayer {
    Tensor attn_norm;  // (C)
    Tensor q;          // (H*D, C), rows in HF's rotate-half order
    Tensor k, v;       // (Hkv*D, C)
    Tensor o;          // (C, H*D)
    Tensor ffn_norm;   // (C)
    Tensor gate, up;   // (d_ff, C)
    Tensor down;       // (C, d_ff)
    int site_q = -1, site_v = -1;
};

struct LlamaModel {
    LlamaConfig config;
    Tensor embed;  // (V, C)
    std::vector<LlamaLayer> layers;
    Tensor final_norm;  // (C)
    Tensor lm_head;     // (V, C); undefined when tied (then `embed` is the head)
};

// Keys and values of the positions seen so far, per layer (B, T_seen, Hkv, D) after RoPE.
struct LlamaCache {
    std::vector<Tensor> k, v;
    int64_t length = 0;         // T_seen, soft-prompt positions included
    int64_t prefix_length = 0;  // P, the soft prompt the first call prepended
};

// recompute_layers: in a training forward (no cache, grad mode on) each layer keeps only its input on
// the tape and runs again during backward (engine/autograd.h, recompute_in_backward): same losses and
// gradients, a fraction of the activation memory.
struct LlamaRunOptions {
    bool recompute_layers = false;
};

// The adapted projections in site order: for each layer q then v ("model.layers.N.self_attn.q_proj").
std::vector<AdaptedSite> llama_adapted_sites(const LlamaConfig& config);

// ids (B, T) I32. mask (B, T_cached_tokens + T) U8 over every token position so far (1 = token), or
// undefined for "no padding". positions (B, T) I32, or undefined for HF's training default
// 0..T-1 (after the cached ones). With a soft prompt (hook.prompt_prefix, asked on the first call
// only), its P positions come first: the mask gains P leading ones and token positions shift by P.
// Returns logits (B, T, V) for the token positions, or (B, 1, V) for the last one when
// `last_position_only`. cache (may be null) is read and extended. hidden_states, when given, gets HF's
// hidden_states: the embeddings, each layer's output and, last, the final-norm output.
Tensor llama_forward(const LlamaModel& model, const Tensor& ids, const Tensor& mask, const Tensor& positions,
                     const PetHook* hook, LlamaCache* cache, bool last_position_only,
                     std::vector<Tensor>* hidden_states = nullptr,
                     const LlamaRunOptions& options = LlamaRunOptions{});

// Causal-LM loss as HF: logits[:, :-1] against labels[:, 1:], mean over targets != -100.
Tensor llama_loss(const Tensor& logits, const Tensor& labels);

// Position ids as HF's generate prepares them for a left-padded prompt: cumsum(mask) - 1, and 1 on
// padding positions. mask (B, T) U8 -> (B, T) I32.
Tensor llama_generation_positions(const Tensor& mask);
