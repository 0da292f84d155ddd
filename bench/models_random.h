// models_random.h — what the model benchmarks share: a T5 config of a given size and a full set of
// HF-named random weights for it (uniform in +-0.05, gains 1), so a benchmark needs no download.
// Not here: timing or recording (bench/models.cpp, bench/models_memory.cpp).
#pragma once
#include <string>

#include "engine/rng.h"
#include "models/model.h"

// T5-small's shapes (relu FFN, tied embeddings) with `layers` blocks per stack.
inline T5Config bench_t5_config(int d_model, int layers, int heads, int d_kv, int d_ff, int vocab) {
    T5Config c;
    c.d_model = d_model;
    c.num_layers = c.num_decoder_layers = layers;
    c.num_heads = heads;
    c.d_kv = d_kv;
    c.d_ff = d_ff;
    c.vocab_size = vocab;
    c.dropout_rate = 0.0f;
    return c;
}

// Every tensor t5_from_weights expects, named as in a HF checkpoint.
inline WeightMap bench_t5_weights(const T5Config& c, uint64_t seed) {
    Rng rng = rng_make(seed);
    WeightMap w;
    auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
        Tensor t = tensor_empty({rows, cols});
        init_uniform(t, -0.05f, 0.05f, rng);
        w[name] = t;
    };
    auto gain = [&](const std::string& name) { w[name] = tensor_full({c.d_model}, 1.0f); };
    int64_t inner = (int64_t)c.num_heads * c.d_kv;
    auto attention = [&](const std::string& module) {
        for (const char* p : {".q.weight", ".k.weight", ".v.weight"}) matrix(module + p, inner, c.d_model);
        matrix(module + ".o.weight", c.d_model, inner);
    };
    matrix("shared.weight", c.vocab_size, c.d_model);
    for (const std::string stack : {"encoder", "decoder"}) {
        bool decoder = stack == "decoder";
        matrix(stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight",
               c.relative_attention_num_buckets, c.num_heads);
        for (int i = 0; i < c.num_layers; i++) {
            std::string p = stack + ".block." + std::to_string(i);
            attention(p + ".layer.0.SelfAttention");
            gain(p + ".layer.0.layer_norm.weight");
            if (decoder) {
                attention(p + ".layer.1.EncDecAttention");
                gain(p + ".layer.1.layer_norm.weight");
            }
            std::string ffn = p + (decoder ? ".layer.2" : ".layer.1");
            matrix(ffn + ".DenseReluDense.wi.weight", c.d_ff, c.d_model);
            matrix(ffn + ".DenseReluDense.wo.weight", c.d_model, c.d_ff);
            gain(ffn + ".layer_norm.weight");
        }
        gain(stack + ".final_layer_norm.weight");
    }
    return w;
}

// A T5 Model of config `c` on those weights (`where` names it in errors).
inline Model bench_t5_model(const T5Config& c, uint64_t seed, const std::string& where) {
    WeightLoad load;
    load.where = where;
    load.remaining = bench_t5_weights(c, seed);
    Model model;
    model.kind = ModelKind::T5;
    model.t5 = t5_from_weights(c, load, nullptr);
    return model;
}
