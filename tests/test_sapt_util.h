// test_sapt_util.h — what the SAPT tests share: a tiny random LLaMA (no files needed), random fills,
// reading a gradient, and a central finite difference of a scalar function of one tensor entry.
#pragma once
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "models/model.h"

inline Tensor random_tensor(const std::vector<int64_t>& shape, Rng& rng, float std = 1.0f) {
    Tensor t = tensor_empty(shape);
    init_normal(t, 0.0f, std, rng);
    return t;
}

// LLaMA with C 16, 2 heads, 2 layers, vocabulary 20 (pad 1 as the official LLaMA runs), random weights.
inline Model tiny_llama(Rng& rng) {
    LlamaConfig c;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 2;
    c.num_hidden_layers = 2;
    c.vocab_size = 20;
    c.max_position_embeddings = 64;
    c.pad_token_id = 1;
    WeightLoad load;
    load.where = "tiny llama";
    auto put = [&](const std::string& name, const std::vector<int64_t>& shape, float std, float offset) {
        Tensor t = random_tensor(shape, rng, std);
        for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] += offset;
        load.remaining[name] = t;
    };
    put("model.embed_tokens.weight", {20, 16}, 1.0f, 0.0f);
    put("lm_head.weight", {20, 16}, 0.3f, 0.0f);
    put("model.norm.weight", {16}, 0.1f, 1.0f);
    for (int i = 0; i < 2; i++) {
        const std::string p = "model.layers." + std::to_string(i);
        put(p + ".input_layernorm.weight", {16}, 0.1f, 1.0f);
        put(p + ".post_attention_layernorm.weight", {16}, 0.1f, 1.0f);
        for (const char* proj : {".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
                                 ".self_attn.o_proj.weight"}) {
            put(p + proj, {16, 16}, 0.25f, 0.0f);
        }
        put(p + ".mlp.gate_proj.weight", {24, 16}, 0.25f, 0.0f);
        put(p + ".mlp.up_proj.weight", {24, 16}, 0.25f, 0.0f);
        put(p + ".mlp.down_proj.weight", {16, 24}, 0.2f, 0.0f);
    }
    Model model;
    model.kind = ModelKind::Llama;
    model.llama = llama_from_weights(c, load, nullptr);
    return model;
}

inline std::vector<float> gradient_values(const Tensor& t) {
    REQUIRE(t.has_grad());
    return std::vector<float>(t.grad(), t.grad() + t.numel());
}

inline float scalar_value(const Tensor& t) { return tensor_values(t).at(0); }

// (f(t[i] + h) - f(t[i] - h)) / 2h, evaluated without the tape; t[i] is restored.
inline double central_difference(const Tensor& t, int64_t i, float h, const std::function<Tensor()>& f) {
    NoGradScope no_grad;
    const float saved = t.f32()[i];
    t.f32()[i] = saved + h;
    const double up = scalar_value(f());
    t.f32()[i] = saved - h;
    const double down = scalar_value(f());
    t.f32()[i] = saved;
    return (up - down) / (2.0 * h);
}
