// llama2c.cpp — karpathy/llama2.c .bin checkpoints: a legacy v0 header (7 int32s; a negative vocab
// size means a separate classifier) or a v1 header (magic "ak42", version 1, the 7 int32s, a
// shared-classifier byte, padded to 256 bytes), then float32 tensors, each concatenated over layers.
// llama2.c's RoPE rotates adjacent pairs (2i, 2i+1) of a head; HF rotates (i, i + D/2) and permutes the
// q/k rows to match. We convert q and k to HF's order here (a copy); everything else is a view into the
// mapped file. Not here: v2 (int8) files, the tokenizer.bin format.
#include <cstdint>
#include <cstring>

#include "engine/error.h"
#include "engine/fileio.h"
#include "models/checkpoint.h"

namespace {

struct Llama2cHeader {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

// Walks the float32 payload in file order, handing out views.
struct PayloadCursor {
    std::shared_ptr<MappedFile> file;
    size_t offset;  // bytes

    Tensor next(const std::vector<int64_t>& shape) {
        size_t bytes = (size_t)shape_numel(shape) * sizeof(float);
        if (offset + bytes > file->size) {
            fail(file->path, "file too short for its header (expected at least " + std::to_string(offset + bytes) +
                                 " bytes, got " + std::to_string(file->size) + ")");
        }
        Tensor t = tensor_view(shape, DType::F32, file->data + offset, file);
        offset += bytes;
        return t;
    }
    void skip_floats(int64_t count) { offset += (size_t)count * sizeof(float); }
};

// llama2.c interleaved rows -> HF rotate-half rows, per head: HF row half * D/2 + j holds llama2.c row
// 2j + half (the inverse of HF's convert_llama_weights_to_hf permute). w (n_heads * D, C).
Tensor interleaved_to_rotate_half(const Tensor& w, int n_heads) {
    int64_t rows = w.dim(0), C = w.dim(1), D = rows / n_heads;
    Tensor out = tensor_empty({rows, C});
    const float* in = w.f32();
    for (int64_t h = 0; h < n_heads; h++) {
        for (int64_t half = 0; half < 2; half++) {
            for (int64_t j = 0; j < D / 2; j++) {
                const float* src = in + (h * D + 2 * j + half) * C;
                float* dst = out.f32() + (h * D + half * (D / 2) + j) * C;
                std::memcpy(dst, src, (size_t)C * sizeof(float));
            }
        }
    }
    return out;
}

void check_header(const Llama2cHeader& h, const std::string& where) {
    const int32_t values[] = {h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len};
    const char* names[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; i++) {
        if (values[i] <= 0 || values[i] > (1 << 24)) {
            fail(where,
                 std::string("header field ") + names[i] + " is out of range (got " + std::to_string(values[i]) + ")");
        }
    }
    if (h.dim % h.n_heads != 0 || h.n_heads % h.n_kv_heads != 0 || (h.dim / h.n_heads) % 2 != 0) {
        fail(where, "inconsistent header (dim " + std::to_string(h.dim) + ", n_heads " + std::to_string(h.n_heads) +
                        ", n_kv_heads " + std::to_string(h.n_kv_heads) + ")");
    }
}

}  // namespace

Checkpoint read_llama2c_checkpoint(const std::string& path) {
    std::shared_ptr<MappedFile> file = map_file(path);
    const uint32_t kMagic = 0x616b3432;  // "ak42"
    if (file->size < 28) fail(path, "too short for a llama2.c header (got " + std::to_string(file->size) + " bytes)");
    uint32_t magic;
    std::memcpy(&magic, file->data, 4);
    Llama2cHeader h;
    bool shared_classifier;
    size_t payload_start;
    int version = 0;
    if (magic == kMagic) {
        std::memcpy(&version, file->data + 4, 4);
        if (version != 1)
            fail(path, "unsupported llama2.c version (expected 0 or 1, got " + std::to_string(version) + ")");
        if (file->size < 256) fail(path, "too short for a v1 header (expected 256 bytes)");
        std::memcpy(&h, file->data + 8, sizeof(h));
        shared_classifier = file->data[8 + sizeof(h)] != 0;
        payload_start = 256;
    } else {
        std::memcpy(&h, file->data, sizeof(h));
        shared_classifier = h.vocab_size > 0;  // v0 signals a separate classifier with a negative size
        // INT32_MIN has no positive counterpart; check_header refuses the 0 it becomes instead.
        if (h.vocab_size < 0) h.vocab_size = h.vocab_size == INT32_MIN ? 0 : -h.vocab_size;
        payload_start = sizeof(h);
    }
    check_header(h, path);

    int64_t C = h.dim, F = h.hidden_dim, L = h.n_layers, V = h.vocab_size, D = h.dim / h.n_heads;
    int64_t kv_dim = (int64_t)h.n_kv_heads * D;
    PayloadCursor cur{file, payload_start};
    std::vector<Tensor> attn_norm, ffn_norm, wq, wk, wv, wo, w1, w2, w3;
    Tensor embed, final_norm, classifier;
    auto per_layer = [&](std::vector<Tensor>& out, std::vector<int64_t> shape) {
        for (int64_t l = 0; l < L; l++) out.push_back(cur.next(shape));
    };
    if (version == 0) {
        embed = cur.next({V, C});
        per_layer(attn_norm, {C});
        per_layer(wq, {C, C});
        per_layer(wk, {kv_dim, C});
        per_layer(wv, {kv_dim, C});
        per_layer(wo, {C, C});
        per_layer(ffn_norm, {C});
        per_layer(w1, {F, C});
        per_layer(w2, {C, F});
        per_layer(w3, {F, C});
        final_norm = cur.next({C});
        cur.skip_floats(2 * (int64_t)h.seq_len * D / 2);  // RoPE cos and sin tables, recomputed instead
    } else {
        per_layer(attn_norm, {C});
        per_layer(ffn_norm, {C});
        final_norm = cur.next({C});
        embed = cur.next({V, C});
        per_layer(wq, {C, C});
        per_layer(wk, {kv_dim, C});
        per_layer(wv, {kv_dim, C});
        per_layer(wo, {C, C});
        per_layer(w1, {F, C});
        per_layer(w2, {C, F});
        per_layer(w3, {F, C});
    }
    if (!shared_classifier) classifier = cur.next({V, C});
    if (cur.offset != file->size) {
        fail(path, "size does not match the header (expected " + std::to_string(cur.offset) + " bytes, got " +
                       std::to_string(file->size) + ")");
    }

    Checkpoint c;
    c.where = path;
    c.kind = ModelKind::Llama;
    LlamaConfig& cfg = c.llama_config;
    cfg.hidden_size = h.dim;
    cfg.intermediate_size = h.hidden_dim;
    cfg.num_hidden_layers = h.n_layers;
    cfg.num_attention_heads = h.n_heads;
    cfg.num_key_value_heads = h.n_kv_heads;
    cfg.vocab_size = h.vocab_size;
    cfg.max_position_embeddings = h.seq_len;
    cfg.rms_norm_eps = 1e-5f;  // run.c's constant
    cfg.rope_theta = 10000.0f;
    cfg.tie_word_embeddings = shared_classifier;

    WeightMap& w = c.weights;
    w["model.embed_tokens.weight"] = embed;
    w["model.norm.weight"] = final_norm;
    if (!shared_classifier) w["lm_head.weight"] = classifier;
    for (int64_t l = 0; l < L; l++) {
        std::string p = "model.layers." + std::to_string(l);
        w[p + ".input_layernorm.weight"] = attn_norm[l];
        w[p + ".self_attn.q_proj.weight"] = interleaved_to_rotate_half(wq[l], h.n_heads);
        w[p + ".self_attn.k_proj.weight"] = interleaved_to_rotate_half(wk[l], h.n_kv_heads);
        w[p + ".self_attn.v_proj.weight"] = wv[l];
        w[p + ".self_attn.o_proj.weight"] = wo[l];
        w[p + ".post_attention_layernorm.weight"] = ffn_norm[l];
        w[p + ".mlp.gate_proj.weight"] = w1[l];  // llama2.c: w2(silu(w1 x) * w3 x)
        w[p + ".mlp.down_proj.weight"] = w2[l];
        w[p + ".mlp.up_proj.weight"] = w3[l];
    }
    return c;
}
