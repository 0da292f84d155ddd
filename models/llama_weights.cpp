// llama_weights.cpp — a LlamaModel from HF-named tensors (LlamaForCausalLM's state dict). q_proj and
// k_proj rows are expected in HF's rotate-half order; llama2c.cpp converts its files to that order
// before they get here. Not here: reading files.
#include "models/model.h"

LlamaModel llama_from_weights(const LlamaConfig& c, WeightLoad& load, WeightMap* extra_tensors) {
    LlamaModel m;
    m.config = c;
    int64_t V = c.vocab_size, C = c.hidden_size, F = c.intermediate_size;
    int64_t q_out = (int64_t)c.num_attention_heads * c.head_dim();
    int64_t kv_out = (int64_t)c.num_key_value_heads * c.head_dim();
    m.embed = take_weight(load, "model.embed_tokens.weight", {V, C});
    if (c.tie_word_embeddings) {
        load.remaining.erase("lm_head.weight");  // an alias of the embedding when tied
    } else {
        m.lm_head = take_weight(load, "lm_head.weight", {V, C});
    }
    int site = 0;
    for (int i = 0; i < c.num_hidden_layers; i++) {
        std::string prefix = "model.layers." + std::to_string(i);
        LlamaLayer l;
        l.attn_norm = take_weight(load, prefix + ".input_layernorm.weight", {C});
        l.q = take_weight(load, prefix + ".self_attn.q_proj.weight", {q_out, C});
        l.k = take_weight(load, prefix + ".self_attn.k_proj.weight", {kv_out, C});
        l.v = take_weight(load, prefix + ".self_attn.v_proj.weight", {kv_out, C});
        l.o = take_weight(load, prefix + ".self_attn.o_proj.weight", {C, q_out});
        l.ffn_norm = take_weight(load, prefix + ".post_attention_layernorm.weight", {C});
        l.gate = take_weight(load, prefix + ".mlp.gate_proj.weight", {F, C});
        l.up = take_weight(load, prefix + ".mlp.up_proj.weight", {F, C});
        l.down = take_weight(load, prefix + ".mlp.down_proj.weight", {C, F});
        l.site_q = site++;
        l.site_v = site++;
        m.layers.push_back(l);
    }
    m.final_norm = take_weight(load, "model.norm.weight", {C});
    // transformers 4.30 saves the RoPE frequencies as a buffer; they are recomputed from rope_theta.
    finish_weight_load(load, {"rotary_emb.inv_freq"}, extra_tensors);
    return m;
}
