// t5_weights.cpp — a T5Model from HF-named tensors: the names and shapes of T5ForConditionalGeneration's
// state dict, the aliases of the shared embedding, and which entries HF itself ignores. Not here:
// reading files (checkpoint.cpp).
#include "models/model.h"

static T5Attention take_attention(WeightLoad& load, const std::string& module, const T5Config& c) {
    int64_t inner = (int64_t)c.num_heads * c.d_kv;
    T5Attention a;
    a.q = take_weight(load, module + ".q.weight", {inner, c.d_model});
    a.k = take_weight(load, module + ".k.weight", {inner, c.d_model});
    a.v = take_weight(load, module + ".v.weight", {inner, c.d_model});
    a.o = take_weight(load, module + ".o.weight", {c.d_model, inner});
    return a;
}

static T5FeedForward take_feed_forward(WeightLoad& load, const std::string& module, const T5Config& c) {
    T5FeedForward f;
    if (c.is_gated_act) {
        f.wi_0 = take_weight(load, module + ".wi_0.weight", {c.d_ff, c.d_model});
        f.wi_1 = take_weight(load, module + ".wi_1.weight", {c.d_ff, c.d_model});
    } else {
        f.wi = take_weight(load, module + ".wi.weight", {c.d_ff, c.d_model});
    }
    f.wo = take_weight(load, module + ".wo.weight", {c.d_model, c.d_ff});
    return f;
}

T5Model t5_from_weights(const T5Config& c, WeightLoad& load, WeightMap* extra_tensors) {
    T5Model m;
    m.config = c;
    int64_t V = c.vocab_size, C = c.d_model;
    std::vector<std::string> embedding_names = {"shared.weight", "encoder.embed_tokens.weight",
                                                "decoder.embed_tokens.weight"};
    if (c.tie_word_embeddings) embedding_names.push_back("lm_head.weight");  // one more alias when tied
    m.shared = take_aliased_weight(load, embedding_names, {V, C});
    if (!c.tie_word_embeddings) m.lm_head = take_weight(load, "lm_head.weight", {V, C});
    std::vector<int64_t> bias_shape = {c.relative_attention_num_buckets, c.num_heads};
    m.encoder_relative_bias =
        take_weight(load, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", bias_shape);
    m.decoder_relative_bias =
        take_weight(load, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", bias_shape);

    std::vector<AdaptedSite> sites = t5_adapted_sites(c);
    int site = 0;
    for (int i = 0; i < c.num_layers; i++) {
        std::string prefix = "encoder.block." + std::to_string(i);
        T5Block b;
        b.self_attn = take_attention(load, prefix + ".layer.0.SelfAttention", c);
        b.self_attn.site_q = site++;
        b.self_attn.site_v = site++;
        b.self_attn_norm = take_weight(load, prefix + ".layer.0.layer_norm.weight", {C});
        b.ffn = take_feed_forward(load, prefix + ".layer.1.DenseReluDense", c);
        b.ffn_norm = take_weight(load, prefix + ".layer.1.layer_norm.weight", {C});
        m.encoder.push_back(b);
    }
    for (int i = 0; i < c.num_decoder_layers; i++) {
        std::string prefix = "decoder.block." + std::to_string(i);
        T5Block b;
        b.self_attn = take_attention(load, prefix + ".layer.0.SelfAttention", c);
        b.self_attn.site_q = site++;
        b.self_attn.site_v = site++;
        b.self_attn_norm = take_weight(load, prefix + ".layer.0.layer_norm.weight", {C});
        b.cross_attn = take_attention(load, prefix + ".layer.1.EncDecAttention", c);
        b.cross_attn.site_q = site++;
        b.cross_attn.site_v = site++;
        b.cross_attn_norm = take_weight(load, prefix + ".layer.1.layer_norm.weight", {C});
        b.ffn = take_feed_forward(load, prefix + ".layer.2.DenseReluDense", c);
        b.ffn_norm = take_weight(load, prefix + ".layer.2.layer_norm.weight", {C});
        m.decoder.push_back(b);
    }
    m.encoder_final_norm = take_weight(load, "encoder.final_layer_norm.weight", {C});
    m.decoder_final_norm = take_weight(load, "decoder.final_layer_norm.weight", {C});
    // Some old checkpoints carry a cross-attention bias table HF never uses (_keys_to_ignore_on_load_unexpected).
    finish_weight_load(load, {"EncDecAttention.relative_attention_bias"}, extra_tensors);
    return m;
}
