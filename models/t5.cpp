// t5.cpp — the T5 forward pass (transformers 4.30 math): pre-norm blocks with RMSNorm, attention without
// 1/sqrt(D) scaling plus a relative position bias shared by every block of a stack, ReLU or gated FFN,
// and an lm_head that rescales by d_model^-0.5 only when it is the tied embedding. Backward is the
// tape's. Not here: weight loading (t5_weights.cpp) or the cached decoder (generate.cpp).
#include "models/t5.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "models/layers.h"

std::vector<AdaptedSite> t5_adapted_sites(const T5Config& c) {
    std::vector<AdaptedSite> sites;
    int inner = c.num_heads * c.d_kv;
    auto add_pair = [&](const std::string& module) {
        sites.push_back({module + ".q", c.d_model, inner, module, 'q'});
        sites.push_back({module + ".v", c.d_model, inner, module, 'v'});
    };
    for (int i = 0; i < c.num_layers; i++) add_pair("encoder.block." + std::to_string(i) + ".layer.0.SelfAttention");
    for (int i = 0; i < c.num_decoder_layers; i++) {
        add_pair("decoder.block." + std::to_string(i) + ".layer.0.SelfAttention");
        add_pair("decoder.block." + std::to_string(i) + ".layer.1.EncDecAttention");
    }
    return sites;
}

static Tensor maybe_dropout(const T5Model& model, const Tensor& x, const T5RunOptions& options) {
    if (!options.training || model.config.dropout_rate == 0.0f) return x;
    return dropout(x, model.config.dropout_rate, true);
}

// (B, T, H*D) <-> (B, T, H, D): a reshape, the buffer is shared.
static Tensor split_heads(const Tensor& x, int H) {
    return reshape(x, {x.dim(0), x.dim(1), H, x.dim(2) / H});
}

void t5_keys_values(const T5Model& model, const T5Attention& attn, const Tensor& kv, const PetHook* hook, Tensor* k,
                    Tensor* v) {
    int H = model.config.num_heads;
    *k = split_heads(linear(kv, attn.k), H);
    *v = split_heads(adapted_projection(kv, attn.v, attn.site_v, hook), H);
}

Tensor t5_attention_core(const T5Model& model, const T5Attention& attn, const Tensor& x, const Tensor& k,
                         const Tensor& v, const Tensor& pos_bias, const Tensor& key_mask, bool causal,
                         const PetHook* hook) {
    // x (B, Tq, C); k, v (B, Tk, H, D). T5 folds 1/sqrt(D) into its initialisation: scale 1.
    int H = model.config.num_heads;
    Tensor q = split_heads(adapted_projection(x, attn.q, attn.site_q, hook), H);
    Tensor context = attention(q, k, v, pos_bias, key_mask, 1.0f, causal);  // (B, Tq, H, D)
    Tensor merged = reshape(context, {x.dim(0), x.dim(1), (int64_t)H * model.config.d_kv});
    return linear(merged, attn.o);
}

Tensor t5_feed_forward(const T5Model& model, const T5FeedForward& ffn, const Tensor& x, const T5RunOptions& options) {
    const std::string& act = model.config.dense_act_fn;
    auto activate = [&](const Tensor& h) {
        if (act == "relu") return relu(h);
        if (act == "gelu_new") return gelu_tanh(h);
        return silu(h);
    };
    Tensor hidden = model.config.is_gated_act ? mul(activate(linear(x, ffn.wi_0)), linear(x, ffn.wi_1))
                                              : activate(linear(x, ffn.wi));
    return linear(maybe_dropout(model, hidden, options), ffn.wo);
}

Tensor t5_logits(const T5Model& model, const Tensor& decoder_states, const PetHook* hook) {
    if (model.lm_head.defined()) return vocabulary_logits(decoder_states, model.lm_head, hook);
    // Tied embeddings (original T5): the output is rescaled before the shared projection.
    float rescale = 1.0f / std::sqrt((float)model.config.d_model);
    return vocabulary_logits(scale(decoder_states, rescale), model.shared, hook);
}

// One encoder block: h (B, T, C) -> h (B, T, C); bias (H, T, T) is the stack's shared position bias.
static Tensor encoder_block(const T5Model& model, const T5Block& block, const Tensor& h_in, const Tensor& bias,
                            const Tensor& mask, const PetHook* hook, const T5RunOptions& options) {
    const T5Config& c = model.config;
    Tensor x = rms_norm(h_in, block.self_attn_norm, c.layer_norm_epsilon);
    Tensor k, v;
    t5_keys_values(model, block.self_attn, x, hook, &k, &v);
    Tensor attn = t5_attention_core(model, block.self_attn, x, k, v, bias, mask, false, hook);
    Tensor h = add(h_in, maybe_dropout(model, attn, options));
    Tensor ffn = t5_feed_forward(model, block.ffn, rms_norm(h, block.ffn_norm, c.layer_norm_epsilon), options);
    return add(h, maybe_dropout(model, ffn, options));
}

// One decoder block: causal self-attention, cross-attention over the encoder states, FFN.
static Tensor decoder_block(const T5Model& model, const T5Block& block, const Tensor& h_in, const Tensor& bias,
                            const T5EncoderOutput& encoded, const PetHook* hook, const T5RunOptions& options) {
    const T5Config& c = model.config;
    Tensor x = rms_norm(h_in, block.self_attn_norm, c.layer_norm_epsilon);
    Tensor k, v;
    t5_keys_values(model, block.self_attn, x, hook, &k, &v);
    Tensor attn = t5_attention_core(model, block.self_attn, x, k, v, bias, Tensor{}, true, hook);
    Tensor h = add(h_in, maybe_dropout(model, attn, options));

    x = rms_norm(h, block.cross_attn_norm, c.layer_norm_epsilon);
    t5_keys_values(model, block.cross_attn, encoded.states, hook, &k, &v);
    Tensor cross = t5_attention_core(model, block.cross_attn, x, k, v, Tensor{}, encoded.mask, false, hook);
    h = add(h, maybe_dropout(model, cross, options));

    Tensor ffn = t5_feed_forward(model, block.ffn, rms_norm(h, block.ffn_norm, c.layer_norm_epsilon), options);
    return add(h, maybe_dropout(model, ffn, options));
}

T5EncoderOutput t5_encode(const T5Model& model, const Tensor& input_ids, const Tensor& attention_mask,
                          const PetHook* hook, const T5RunOptions& options, std::vector<Tensor>* hidden_states) {
    check_ids_and_mask(input_ids, attention_mask, 0, "t5_encode");
    const T5Config& c = model.config;
    Tensor h = embedding(input_ids, vocabulary_rows(model.shared, hook));  // (B, Ts, C), no scaling in T5
    Tensor mask = attention_mask;
    Tensor prefix = soft_prompt_prefix(h, hook);
    if (prefix.defined()) {
        h = concat({prefix, h}, 1);
        if (mask.defined()) mask = prepend_ones_to_mask(mask, prefix.dim(1));
    }
    h = maybe_dropout(model, h, options);
    int T = (int)h.dim(1);
    Tensor bias = t5_position_bias(model.encoder_relative_bias, c, true, 0, T, T);  // (H, T, T)
    if (hidden_states) hidden_states->assign(1, h);
    for (const T5Block& block : model.encoder) {
        if (options.recompute_layers) {
            h = recompute_in_backward("t5_encoder_block", [&model, &block, h, bias, mask, hook, options]() {
                return encoder_block(model, block, h, bias, mask, hook, options);
            });
        } else {
            h = encoder_block(model, block, h, bias, mask, hook, options);
        }
        if (hidden_states) hidden_states->push_back(h);
    }
    h = maybe_dropout(model, rms_norm(h, model.encoder_final_norm, c.layer_norm_epsilon), options);
    if (hidden_states) hidden_states->back() = h;  // HF replaces the last block's output by the normed one
    if (!mask.defined()) {
        mask = tensor_empty({h.dim(0), h.dim(1)}, DType::U8);
        for (int64_t i = 0; i < mask.numel(); i++) mask.u8()[i] = 1;
        mask = tensor_to_device(mask, h.device());
    }
    return {h, mask};
}

Tensor t5_decode(const T5Model& model, const Tensor& decoder_input_ids, const T5EncoderOutput& encoded,
                 const PetHook* hook, const T5RunOptions& options, std::vector<Tensor>* hidden_states) {
    check_ids_and_mask(decoder_input_ids, Tensor{}, 0, "t5_decode");
    const T5Config& c = model.config;
    Tensor h = maybe_dropout(model, embedding(decoder_input_ids, vocabulary_rows(model.shared, hook)), options);  // (B, Tt, C)
    int T = (int)h.dim(1);
    Tensor bias = t5_position_bias(model.decoder_relative_bias, c, false, 0, T, T);
    if (hidden_states) hidden_states->assign(1, h);
    for (const T5Block& block : model.decoder) {
        if (options.recompute_layers) {
            h = recompute_in_backward("t5_decoder_block", [&model, &block, h, bias, encoded, hook, options]() {
                return decoder_block(model, block, h, bias, encoded, hook, options);
            });
        } else {
            h = decoder_block(model, block, h, bias, encoded, hook, options);
        }
        if (hidden_states) hidden_states->push_back(h);
    }
    h = maybe_dropout(model, rms_norm(h, model.decoder_final_norm, c.layer_norm_epsilon), options);
    if (hidden_states) hidden_states->back() = h;
    return t5_logits(model, h, hook);
}

Tensor t5_shift_right(const Tensor& labels, const T5Config& config) {
    check_ids_and_mask(labels, Tensor{}, 0, "t5_shift_right");
    int64_t B = labels.dim(0), T = labels.dim(1);
    std::vector<float> values = tensor_values(labels);
    std::vector<int32_t> shifted((size_t)(B * T));
    for (int64_t b = 0; b < B; b++) {
        shifted[b * T] = config.decoder_start_token_id;
        for (int64_t t = 1; t < T; t++) {
            int32_t label = (int32_t)values[b * T + t - 1];
            shifted[b * T + t] = label == -100 ? config.pad_token_id : label;
        }
    }
    return index_tensor({B, T}, shifted, labels.device());
}

Tensor t5_loss(const Tensor& logits, const Tensor& labels) {
    return cross_entropy(logits, labels);
}
