// llama.cpp — the LLaMA forward pass (transformers 4.30 math) on the engine's ops; backward is the
// tape's. Attention is causal plus a key padding mask; fully masked query rows (left padding) get the
// uniform softmax HF's clamped mask gives them (kMaskedScore in kernels.h). Not here: loading, sampling.
#include "models/llama.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "models/layers.h"

std::vector<AdaptedSite> llama_adapted_sites(const LlamaConfig& c) {
    std::vector<AdaptedSite> sites;
    int q_out = c.num_attention_heads * c.head_dim();
    int v_out = c.num_key_value_heads * c.head_dim();
    for (int i = 0; i < c.num_hidden_layers; i++) {
        std::string module = "model.layers." + std::to_string(i) + ".self_attn";
        sites.push_back({module + ".q_proj", c.hidden_size, q_out, module, 'q'});
        sites.push_back({module + ".v_proj", c.hidden_size, v_out, module, 'v'});
    }
    return sites;
}

// Token positions (B, T) shifted by the soft prompt, with the prompt's own positions 0..P-1 in front:
// (B, P + T) when the prompt is new in this call, (B, T) otherwise.
static Tensor rope_positions(const Tensor& positions, int64_t B, int64_t T, int64_t past_tokens, int64_t P,
                             bool prefix_in_this_call, Device device) {
    std::vector<float> given;
    if (positions.defined()) {
        if (positions.dtype() != DType::I32 || positions.shape() != std::vector<int64_t>{B, T}) {
            fail("llama_forward", "positions must be a " + shape_str({B, T}) + " I32 tensor (got " +
                                      shape_str(positions.shape()) + " " + dtype_name(positions.dtype()) + ")");
        }
        given = tensor_values(positions);
    }
    int64_t lead = prefix_in_this_call ? P : 0;
    std::vector<int32_t> out((size_t)(B * (lead + T)));
    for (int64_t b = 0; b < B; b++) {
        int32_t* row = out.data() + b * (lead + T);
        for (int64_t p = 0; p < lead; p++) row[p] = (int32_t)p;
        for (int64_t t = 0; t < T; t++) {
            int32_t token_position = positions.defined() ? (int32_t)given[b * T + t] : (int32_t)(past_tokens + t);
            row[lead + t] = token_position + (int32_t)P;
        }
    }
    return index_tensor({B, lead + T}, out, device);
}

// One decoder layer: h (B, Tq, C) -> h (B, Tq, C). With a cache, k and v (B, T_seen, Hkv, D) are
// appended to layer l's entries and attention reads all of them.
static Tensor decoder_layer(const LlamaModel& model, size_t l, const Tensor& h_in, const Tensor& rope_pos,
                            const Tensor& key_mask, const PetHook* hook, LlamaCache* cache) {
    const LlamaConfig& c = model.config;
    const LlamaLayer& layer = model.layers[l];
    int64_t B = h_in.dim(0), Tq = h_in.dim(1);
    int H = c.num_attention_heads, Hkv = c.num_key_value_heads, D = c.head_dim();
    Tensor x = rms_norm(h_in, layer.attn_norm, c.rms_norm_eps);
    // The PET delta joins q and v before RoPE, as in the official SAPT code.
    Tensor q = reshape(adapted_projection(x, layer.q, layer.site_q, hook), {B, Tq, H, D});
    Tensor k = reshape(linear(x, layer.k), {B, Tq, Hkv, D});
    Tensor v = reshape(adapted_projection(x, layer.v, layer.site_v, hook), {B, Tq, Hkv, D});
    q = rope(q, rope_pos, c.rope_theta);
    k = rope(k, rope_pos, c.rope_theta);
    if (cache) {
        if (cache->k[l].defined()) {
            k = concat({cache->k[l], k}, 1);
            v = concat({cache->v[l], v}, 1);
        }
        cache->k[l] = k;
        cache->v[l] = v;
    }
    Tensor context = attention(q, k, v, Tensor{}, key_mask, 1.0f / std::sqrt((float)D), true);
    Tensor h = add(h_in, linear(reshape(context, {B, Tq, (int64_t)H * D}), layer.o));

    x = rms_norm(h, layer.ffn_norm, c.rms_norm_eps);
    Tensor mlp = linear(mul(silu(linear(x, layer.gate)), linear(x, layer.up)), layer.down);
    return add(h, mlp);
}

Tensor llama_forward(const LlamaModel& model, const Tensor& ids, const Tensor& mask, const Tensor& positions,
                     const PetHook* hook, LlamaCache* cache, bool last_position_only,
                     std::vector<Tensor>* hidden_states, const LlamaRunOptions& options) {
    const LlamaConfig& c = model.config;
    int64_t past = cache ? cache->length : 0;  // positions in the cache, soft prompt included
    int64_t P = cache ? cache->prefix_length : 0;
    check_ids_and_mask(ids, mask, past - P, "llama_forward");
    int64_t B = ids.dim(0), T = ids.dim(1);

    Tensor h = embedding(ids, vocabulary_rows(model.embed, hook));  // (B, T, C)
    bool prefix_in_this_call = false;
    if (past == 0) {
        Tensor prefix = soft_prompt_prefix(h, hook);
        if (prefix.defined()) {
            h = concat({prefix, h}, 1);
            P = prefix.dim(1);
            prefix_in_this_call = true;
        }
    }
    Tensor key_mask = mask.defined() ? prepend_ones_to_mask(mask, P) : Tensor{};  // (B, past + Tq)
    Tensor rope_pos =
        rope_positions(positions, B, T, past - (prefix_in_this_call ? 0 : P), P, prefix_in_this_call, h.device());
    int64_t Tq = h.dim(1);  // T, or P + T when the soft prompt enters now
    if (cache && cache->k.empty()) {
        cache->k.resize(model.layers.size());
        cache->v.resize(model.layers.size());
    }

    if (hidden_states) hidden_states->assign(1, h);
    for (size_t l = 0; l < model.layers.size(); l++) {
        // A cached forward is generation (no backward), so only the training forward recomputes.
        if (options.recompute_layers && cache == nullptr) {
            h = recompute_in_backward("llama_layer", [&model, l, h, rope_pos, key_mask, hook]() {
                return decoder_layer(model, l, h, rope_pos, key_mask, hook, nullptr);
            });
        } else {
            h = decoder_layer(model, l, h, rope_pos, key_mask, hook, cache);
        }
        if (hidden_states) hidden_states->push_back(h);
    }
    if (cache) {
        cache->length = past + Tq;
        cache->prefix_length = P;
    }

    // Logits only where they are asked for: the soft prompt's positions never, and during generation
    // only the last position (the (B, T, V) logits of a long prompt would dwarf everything else).
    if (last_position_only) {
        h = slice(h, 1, Tq - 1, Tq);
    } else if (prefix_in_this_call) {
        h = slice(h, 1, P, Tq);
    }
    h = rms_norm(h, model.final_norm, c.rms_norm_eps);
    if (hidden_states) hidden_states->back() = h;
    return vocabulary_logits(h, model.lm_head.defined() ? model.lm_head : model.embed, hook);
}

Tensor llama_loss(const Tensor& logits, const Tensor& labels) {
    check_ids_and_mask(labels, Tensor{}, 0, "llama_loss");
    int64_t B = labels.dim(0), T = labels.dim(1);
    // Shift on the targets instead of slicing the logits: target t is label t + 1, the last is ignored.
    std::vector<float> values = tensor_values(labels);
    std::vector<int32_t> targets((size_t)(B * T), -100);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t + 1 < T; t++) targets[b * T + t] = (int32_t)values[b * T + t + 1];
    }
    return cross_entropy(logits, index_tensor({B, T}, targets, logits.device()));
}

Tensor llama_generation_positions(const Tensor& mask) {
    int64_t B = mask.dim(0), T = mask.dim(1);
    Tensor host = tensor_to_device(mask, Device::CPU);
    std::vector<int32_t> positions((size_t)(B * T));
    for (int64_t b = 0; b < B; b++) {
        int32_t seen = 0;
        for (int64_t t = 0; t < T; t++) {
            bool token = host.u8()[b * T + t] != 0;
            seen += token ? 1 : 0;
            positions[b * T + t] = token ? seen - 1 : 1;
        }
    }
    return index_tensor({B, T}, positions, mask.device());
}
