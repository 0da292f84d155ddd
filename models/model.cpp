// model.cpp — see model.h.
#include "models/model.h"

#include "engine/error.h"
#include "models/checkpoint.h"

Model load_pretrained_model(const std::string& path, WeightMap* extra_tensors) {
    Checkpoint checkpoint = read_checkpoint(path);
    WeightLoad load;
    load.where = checkpoint.where;
    load.remaining = std::move(checkpoint.weights);
    Model model;
    model.kind = checkpoint.kind;
    if (checkpoint.kind == ModelKind::T5) {
        model.t5 = t5_from_weights(checkpoint.t5_config, load, extra_tensors);
    } else {
        model.llama = llama_from_weights(checkpoint.llama_config, load, extra_tensors);
    }
    return model;
}

std::vector<AdaptedSite> model_adapted_sites(const Model& model) {
    return model.kind == ModelKind::T5 ? t5_adapted_sites(model.t5.config) : llama_adapted_sites(model.llama.config);
}

static void add_attention(std::vector<NamedWeight>& out, const std::string& module, T5Attention& a) {
    out.push_back({module + ".q.weight", &a.q});
    out.push_back({module + ".k.weight", &a.k});
    out.push_back({module + ".v.weight", &a.v});
    out.push_back({module + ".o.weight", &a.o});
}

static void add_feed_forward(std::vector<NamedWeight>& out, const std::string& module, T5FeedForward& f) {
    if (f.wi.defined()) out.push_back({module + ".wi.weight", &f.wi});
    if (f.wi_0.defined()) out.push_back({module + ".wi_0.weight", &f.wi_0});
    if (f.wi_1.defined()) out.push_back({module + ".wi_1.weight", &f.wi_1});
    out.push_back({module + ".wo.weight", &f.wo});
}

static std::vector<NamedWeight> t5_weights(T5Model& m) {
    std::vector<NamedWeight> out;
    out.push_back({"shared.weight", &m.shared});
    if (m.lm_head.defined()) out.push_back({"lm_head.weight", &m.lm_head});
    out.push_back({"encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", &m.encoder_relative_bias});
    out.push_back({"decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", &m.decoder_relative_bias});
    for (size_t i = 0; i < m.encoder.size(); i++) {
        std::string p = "encoder.block." + std::to_string(i);
        T5Block& b = m.encoder[i];
        add_attention(out, p + ".layer.0.SelfAttention", b.self_attn);
        out.push_back({p + ".layer.0.layer_norm.weight", &b.self_attn_norm});
        add_feed_forward(out, p + ".layer.1.DenseReluDense", b.ffn);
        out.push_back({p + ".layer.1.layer_norm.weight", &b.ffn_norm});
    }
    for (size_t i = 0; i < m.decoder.size(); i++) {
        std::string p = "decoder.block." + std::to_string(i);
        T5Block& b = m.decoder[i];
        add_attention(out, p + ".layer.0.SelfAttention", b.self_attn);
        out.push_back({p + ".layer.0.layer_norm.weight", &b.self_attn_norm});
        add_attention(out, p + ".layer.1.EncDecAttention", b.cross_attn);
        out.push_back({p + ".layer.1.layer_norm.weight", &b.cross_attn_norm});
        add_feed_forward(out, p + ".layer.2.DenseReluDense", b.ffn);
        out.push_back({p + ".layer.2.layer_norm.weight", &b.ffn_norm});
    }
    out.push_back({"encoder.final_layer_norm.weight", &m.encoder_final_norm});
    out.push_back({"decoder.final_layer_norm.weight", &m.decoder_final_norm});
    return out;
}

static std::vector<NamedWeight> llama_weights(LlamaModel& m) {
    std::vector<NamedWeight> out;
    out.push_back({"model.embed_tokens.weight", &m.embed});
    for (size_t i = 0; i < m.layers.size(); i++) {
        std::string p = "model.layers." + std::to_string(i);
        LlamaLayer& l = m.layers[i];
        out.push_back({p + ".input_layernorm.weight", &l.attn_norm});
        out.push_back({p + ".self_attn.q_proj.weight", &l.q});
        out.push_back({p + ".self_attn.k_proj.weight", &l.k});
        out.push_back({p + ".self_attn.v_proj.weight", &l.v});
        out.push_back({p + ".self_attn.o_proj.weight", &l.o});
        out.push_back({p + ".post_attention_layernorm.weight", &l.ffn_norm});
        out.push_back({p + ".mlp.gate_proj.weight", &l.gate});
        out.push_back({p + ".mlp.up_proj.weight", &l.up});
        out.push_back({p + ".mlp.down_proj.weight", &l.down});
    }
    out.push_back({"model.norm.weight", &m.final_norm});
    if (m.lm_head.defined()) out.push_back({"lm_head.weight", &m.lm_head});
    return out;
}

std::vector<NamedWeight> model_weights(Model& model) {
    return model.kind == ModelKind::T5 ? t5_weights(model.t5) : llama_weights(model.llama);
}

void set_backbone_trainable(Model& model, bool trainable) {
    for (NamedWeight& w : model_weights(model)) {
        Tensor& t = *w.tensor;
        if (trainable) {
            if (t.requires_grad()) continue;  // already a trainable copy
            // A private F32 copy: training must never write through a view into the mapped file.
            Tensor copy = t.dtype() == DType::F32 ? tensor_clone(t) : tensor_to_f32(t);
            copy.data->requires_grad = true;
            copy.data->name = w.name;
            t = copy;
        } else {
            t.data->requires_grad = false;
            t.data->grad.reset();
        }
    }
}
