// memory_plan.cpp — see memory_plan.h. The training step is a list of the tensors the engine's forward
// creates, in order (StepGraph), built by plan_t5_step / plan_llama_step from the same ops as t5.cpp,
// llama.cpp and sapt/lora.cpp. sweep() then plays the tape: every op output stays alive until its own
// backward closure has run (the closure captures it), a gradient buffer appears when the first consumer's
// backward writes it and goes with its tensor, and each backward's temporaries live for that op alone.
// With recomputation a block's inner tensors exist only during its first pass and again in its backward.
#include "models/memory_plan.h"

#include <algorithm>
#include <cstdio>

#include "engine/error.h"

namespace {

const double kF32 = 4.0;
// The caching allocator rounds blocks up and fragments: 5% over what the tensors ask for.
const double kAllocatorSlack = 0.05;

// One tensor of the step, made by one op.
struct StepTensor {
    double bytes = 0;     // its buffer (0 for a reshape, which shares its input's) plus what its closure
                          // alone keeps (rms_norm's rstd, dropout's mask, linear_stacked's stacked weight):
                          // an op that records nothing lets those go at once
    double grad = 0;      // its gradient buffer when it requires a gradient, else 0
    double scratch = 0;   // temporaries its op's backward allocates and frees
    std::vector<int> inputs;
    int block = -1;       // the transformer block it belongs to, -1 outside every block
};

struct StepGraph {
    std::vector<StepTensor> t;
    int block = -1;  // the block ops are being added to
    int n_blocks = 0;
    double logits = 0;

    bool needs_grad(int i) const { return i >= 0 && t[(size_t)i].grad > 0; }
    // An op of `elems` f32 outputs reading `inputs`; it records when an input or a trainable weight
    // does (`trainable`), and only then gets a gradient buffer.
    int op(double elems, std::vector<int> inputs, bool trainable = false, double extra_bytes = 0,
           double scratch = 0, bool view = false) {
        bool records = trainable;
        for (int i : inputs) records = records || needs_grad(i);
        StepTensor s;
        s.bytes = (view ? 0 : elems * kF32) + (records ? extra_bytes : 0);
        s.grad = records ? elems * kF32 : 0;
        s.scratch = records ? scratch : 0;
        s.inputs = inputs;
        s.block = block;
        t.push_back(s);
        return (int)t.size() - 1;
    }
    void begin_block() { block = n_blocks++; }
    void end_block() { block = -1; }
};

// ---- the ops, with what each keeps and what its backward allocates ----------------------------------
// rms_norm keeps rstd (one float a row); its backward writes a throwaway dx when x is constant.
int rms_norm_op(StepGraph& g, int x, double rows, double C) {
    return g.op(rows * C, {x}, false, rows * kF32, g.needs_grad(x) ? 0 : rows * C * kF32);
}
int linear_op(StepGraph& g, int x, double rows, double out) { return g.op(rows * out, {x}); }
int add_op(StepGraph& g, int a, int b, double elems) { return g.op(elems, {a, b}); }
// mul's backward multiplies into one temporary of the output's size.
int mul_op(StepGraph& g, int a, int b, double elems) { return g.op(elems, {a, b}, false, 0, elems * kF32); }
int activation_op(StepGraph& g, int x, double elems) { return g.op(elems, {x}); }
int view_op(StepGraph& g, int x, double elems) { return g.op(elems, {x}, false, 0, 0, true); }
// Dropout keeps its U8 mask; its backward builds dx in a temporary.
int dropout_op(StepGraph& g, int x, double elems, float p) {
    if (p <= 0.0f) return x;
    return g.op(elems, {x}, false, elems, elems * kF32);
}
// Attention keeps the (B, H, Tq) log-sum-exp; a constant q, k or v gets a throwaway gradient.
int attention_op(StepGraph& g, int q, int k, int v, double B, double H, double Tq, double q_elems, double kv_elems,
                 int bias = -1) {
    double scratch = (g.needs_grad(q) ? 0 : q_elems) + (g.needs_grad(k) ? 0 : kv_elems) + (g.needs_grad(v) ? 0 : kv_elems);
    return g.op(q_elems, {q, k, v, bias}, false, B * H * Tq * kF32, scratch * kF32);
}

// x W^T (frozen W) plus SAPT's LoRA bank delta (sapt/lora.cpp, lora_bank_delta): h = x [A_1..A_K]^T
// (B, T, K R), scaled per task by the selection weights, then h [B_1..B_K]^T. linear_stacked keeps the
// stacked (K R, C_in) / (C_out, K R) copy of the weights for its backward. LoRA dropout is 0 in ./train,
// so its copy of x is not planned.
int adapted_projection_op(StepGraph& g, int x, double rows, double in, double out, const MemoryPlanOptions& o,
                          int selection, double batch) {
    const double K = o.n_tasks, R = o.lora_rank;
    int y = linear_op(g, x, rows, out);
    int h = g.op(rows * K * R, {x}, true, K > 1 ? K * R * in * kF32 : 0);
    int mixed = o.selection ? g.op(rows * K * R, {h, selection}, false, batch * K * R * kF32,
                                   rows * K * R * kF32 * 2)  // dh and the dw product
                            : g.op(rows * K * R, {h});
    int delta = g.op(rows * out, {mixed}, true, K > 1 ? K * R * out * kF32 : 0);
    return add_op(g, y, delta, rows * out);
}

// The selection weights (B, K) from SALS (sapt/sals.cpp, sals_forward): max-pooled embeddings, the
// projector down, up, SiLU and LayerNorm, scores against the stacked keys, softmax. The (B, S, C)
// embeddings are frozen and the pool records nothing, so only these small tensors stay.
int selection_op(StepGraph& g, double B, double C, const MemoryPlanOptions& o) {
    if (!o.selection) return -1;
    const double K = o.n_tasks;
    int pooled = g.op(B * C, {});
    int up = g.op(B * C, {g.op(B * o.sals_hidden, {pooled}, true)}, true);
    int query = g.op(B * C, {g.op(B * C, {up})}, true, 2 * B * kF32);  // LayerNorm keeps mean and rstd
    int keys = K > 1 ? g.op(K * C, {}, true) : -1;
    int scores = g.op(B * K, {g.op(B * K, {query, keys}, true)});
    return g.op(B * K, {scores});
}

// Cross-entropy keeps per-row losses and log-sum-exp; its backward writes the logits' gradient.
int cross_entropy_op(StepGraph& g, int logits, double rows) { return g.op(1, {logits}, false, 2 * rows * kF32); }

// ---- the tape sweep -----------------------------------------------------------------------------------
StepPlan sweep(const StepGraph& g, bool recompute) {
    const size_t n = g.t.size();
    std::vector<int> first_backward_use(n, -1);  // the highest-index consumer: the first to write the gradient
    // A tensor no closure captures (its op and all its consumers record nothing, e.g. T5's embeddings
    // before their dropout) is gone once its last consumer has run.
    std::vector<bool> captured(n, false);
    for (size_t i = 0; i < n; i++) {
        captured[i] = captured[i] || g.t[i].grad > 0;
        for (int in : g.t[i].inputs) {
            if (in < 0) continue;
            first_backward_use[(size_t)in] = std::max(first_backward_use[(size_t)in], (int)i);
            captured[(size_t)in] = captured[(size_t)in] || g.t[i].grad > 0;
        }
    }
    std::vector<size_t> block_first(g.n_blocks, n), block_last(g.n_blocks, 0);
    for (size_t i = 0; i < n; i++) {
        int b = g.t[i].block;
        if (b < 0) continue;
        block_first[(size_t)b] = std::min(block_first[(size_t)b], i);
        block_last[(size_t)b] = std::max(block_last[(size_t)b], i);
    }
    auto block_bytes = [&](int b) {  // what a block's pass leaves alive for its backward
        double sum = 0;
        for (size_t i = block_first[(size_t)b]; i <= block_last[(size_t)b]; i++) sum += captured[i] ? g.t[i].bytes : 0;
        return sum;
    };

    StepPlan plan;
    double live = 0, peak = 0;
    for (size_t i = 0; i < n; i++) {
        live += g.t[i].bytes;
        peak = std::max(peak, live);
        for (int in : g.t[i].inputs) {
            if (in >= 0 && !captured[(size_t)in] && first_backward_use[(size_t)in] == (int)i) live -= g.t[(size_t)in].bytes;
        }
        int b = g.t[i].block;
        // The first pass's own tape is dropped as the block returns: only its output stays.
        if (recompute && b >= 0 && i == block_last[(size_t)b]) live -= block_bytes(b) - g.t[i].bytes;
    }
    plan.held_after_forward = live;

    std::vector<bool> grad_allocated(n, false);
    for (size_t j = n; j-- > 0;) {
        const StepTensor& s = g.t[j];
        int b = s.block;
        if (recompute && b >= 0 && j == block_last[(size_t)b]) {
            live += block_bytes(b);  // the second pass, whose output is a new buffer beside the first's
            peak = std::max(peak, live);
        }
        if (s.grad > 0) {
            for (int in : s.inputs) {
                if (in < 0 || grad_allocated[(size_t)in] || !g.needs_grad(in) || first_backward_use[(size_t)in] != (int)j) continue;
                grad_allocated[(size_t)in] = true;
                live += g.t[(size_t)in].grad;
            }
            peak = std::max(peak, live + s.scratch);
        }
        const bool block_output = recompute && b >= 0 && j == block_last[(size_t)b];
        // A recomputed block's output shares its gradient with the first pass's output, which the tape
        // entry keeps until the whole block has run backward.
        live -= (captured[j] ? s.bytes : 0) + (grad_allocated[j] && !block_output ? s.grad : 0);
        if (recompute && b >= 0 && j == block_first[(size_t)b]) {
            const size_t last = block_last[(size_t)b];
            live -= g.t[last].bytes + (grad_allocated[last] ? g.t[last].grad : 0);
        }
    }
    plan.peak = peak;
    plan.logits = g.logits;
    return plan;
}

}  // namespace

// ---- T5 (models/t5.cpp) --------------------------------------------------------------------------------
StepPlan plan_t5_step(const T5Config& c, const MemoryPlanOptions& o) {
    const double B = o.batch_size, S = o.source_length, Tt = o.target_length;
    const double C = c.d_model, H = c.num_heads, HD = (double)c.num_heads * c.d_kv, F = c.d_ff, V = c.vocab_size;
    const float p = o.dropout_rate >= 0 ? o.dropout_rate : c.dropout_rate;
    StepGraph g;
    int selection = selection_op(g, B, C, o);

    auto feed_forward = [&](int x, double rows) {
        int hidden;
        if (c.is_gated_act) {
            int gate = activation_op(g, linear_op(g, x, rows, F), rows * F);
            hidden = mul_op(g, gate, linear_op(g, x, rows, F), rows * F);
        } else {
            hidden = activation_op(g, linear_op(g, x, rows, F), rows * F);
        }
        return linear_op(g, dropout_op(g, hidden, rows * F, p), rows, C);
    };
    // Self- or cross-attention sublayer: q from x, k and v from kv (rows_kv tokens).
    auto attention_sublayer = [&](int x, int kv, double Tq, double Tk, int bias) {
        double rows = B * Tq, rows_kv = B * Tk;
        int k = view_op(g, linear_op(g, kv, rows_kv, HD), rows_kv * HD);
        int v = view_op(g, adapted_projection_op(g, kv, rows_kv, C, HD, o, selection, B), rows_kv * HD);
        int q = view_op(g, adapted_projection_op(g, x, rows, C, HD, o, selection, B), rows * HD);
        int context = attention_op(g, q, k, v, B, H, Tq, rows * HD, rows_kv * HD, bias);
        return linear_op(g, view_op(g, context, rows * HD), rows, C);
    };

    // Encoder: embeddings (frozen: no gradient), the (H, S, S) position bias, the blocks, the final norm.
    double rows = B * S;
    int h = dropout_op(g, g.op(rows * C, {}), rows * C, p);
    int bias = g.op(H * S * S, {});
    for (int l = 0; l < c.num_layers; l++) {
        g.begin_block();
        int x = rms_norm_op(g, h, rows, C);
        int attn = attention_sublayer(x, x, S, S, bias);
        h = add_op(g, h, dropout_op(g, attn, rows * C, p), rows * C);
        int ffn = feed_forward(rms_norm_op(g, h, rows, C), rows);
        h = add_op(g, h, dropout_op(g, ffn, rows * C, p), rows * C);
        g.end_block();
    }
    int encoded = dropout_op(g, rms_norm_op(g, h, rows, C), rows * C, p);

    // Decoder over Tt target tokens.
    rows = B * Tt;
    h = dropout_op(g, g.op(rows * C, {}), rows * C, p);
    bias = g.op(H * Tt * Tt, {});
    for (int l = 0; l < c.num_decoder_layers; l++) {
        g.begin_block();
        int x = rms_norm_op(g, h, rows, C);
        h = add_op(g, h, dropout_op(g, attention_sublayer(x, x, Tt, Tt, bias), rows * C, p), rows * C);
        x = rms_norm_op(g, h, rows, C);
        h = add_op(g, h, dropout_op(g, attention_sublayer(x, encoded, Tt, S, -1), rows * C, p), rows * C);
        int ffn = feed_forward(rms_norm_op(g, h, rows, C), rows);
        h = add_op(g, h, dropout_op(g, ffn, rows * C, p), rows * C);
        g.end_block();
    }
    h = dropout_op(g, rms_norm_op(g, h, rows, C), rows * C, p);
    if (c.tie_word_embeddings) h = g.op(rows * C, {h});  // the d_model^-0.5 rescale
    int logits = linear_op(g, h, rows, V);
    g.logits = rows * V * kF32;
    cross_entropy_op(g, logits, rows);
    return sweep(g, o.recompute_layers);
}

// ---- LLaMA (models/llama.cpp) --------------------------------------------------------------------------
StepPlan plan_llama_step(const LlamaConfig& c, const MemoryPlanOptions& o) {
    const double B = o.batch_size, T = (double)o.source_length + o.target_length, rows = B * T;
    const double C = c.hidden_size, H = c.num_attention_heads, D = c.head_dim(), F = c.intermediate_size;
    const double q_width = H * D, kv_width = (double)c.num_key_value_heads * D, V = c.vocab_size;
    StepGraph g;
    int selection = selection_op(g, B, C, o);
    int h = g.op(rows * C, {});  // embeddings of a frozen table: no gradient
    for (int l = 0; l < c.num_hidden_layers; l++) {
        g.begin_block();
        int x = rms_norm_op(g, h, rows, C);
        int q = view_op(g, adapted_projection_op(g, x, rows, C, q_width, o, selection, B), rows * q_width);
        int k = view_op(g, linear_op(g, x, rows, kv_width), rows * kv_width);
        int v = view_op(g, adapted_projection_op(g, x, rows, C, kv_width, o, selection, B), rows * kv_width);
        q = activation_op(g, q, rows * q_width);  // rope
        k = activation_op(g, k, rows * kv_width);
        int context = attention_op(g, q, k, v, B, H, T, rows * q_width, rows * kv_width);
        h = add_op(g, h, linear_op(g, view_op(g, context, rows * q_width), rows, C), rows * C);
        x = rms_norm_op(g, h, rows, C);
        int gate = activation_op(g, linear_op(g, x, rows, F), rows * F);  // silu
        int mlp = linear_op(g, mul_op(g, gate, linear_op(g, x, rows, F), rows * F), rows, C);
        h = add_op(g, h, mlp, rows * C);
        g.end_block();
    }
    int logits = linear_op(g, rms_norm_op(g, h, rows, C), rows, V);
    g.logits = rows * V * kF32;
    cross_entropy_op(g, logits, rows);
    return sweep(g, o.recompute_layers);
}

// ---- the whole run -------------------------------------------------------------------------------------
namespace {

// The backbone's frozen weights: 2-D matrices at the chosen precision, gains (1-D) in f32, as
// model_frozen_weights_to_bf16 converts them.
struct WeightCount {
    double matrices = 0, vectors = 0;
    double bytes(bool bf16) const { return matrices * (bf16 ? 2.0 : 4.0) + vectors * kF32; }
};

WeightCount t5_weights(const T5Config& c) {
    const double C = c.d_model, HD = (double)c.num_heads * c.d_kv, F = c.d_ff;
    const double ffn = (c.is_gated_act ? 3.0 : 2.0) * C * F, attention = 4.0 * C * HD;
    WeightCount w;
    w.matrices = (c.tie_word_embeddings ? 1.0 : 2.0) * c.vocab_size * C + 2.0 * c.relative_attention_num_buckets * c.num_heads +
                 c.num_layers * (attention + ffn) + c.num_decoder_layers * (2.0 * attention + ffn);
    w.vectors = c.num_layers * 2.0 * C + c.num_decoder_layers * 3.0 * C + 2.0 * C;
    return w;
}

WeightCount llama_weights(const LlamaConfig& c) {
    const double C = c.hidden_size, q_width = (double)c.num_attention_heads * c.head_dim();
    const double kv_width = (double)c.num_key_value_heads * c.head_dim();
    WeightCount w;
    w.matrices = (c.tie_word_embeddings ? 1.0 : 2.0) * c.vocab_size * C +
                 c.num_hidden_layers * (2.0 * C * q_width + 2.0 * C * kv_width + 3.0 * C * c.intermediate_size);
    w.vectors = c.num_hidden_layers * 2.0 * C + C;
    return w;
}

// Adapters of `sites` projections (in, out) for K tasks at rank R: every task's A (R, in) and B (out, R)
// in f32; the current task's also have a gradient and AdamW's two moments.
double lora_bytes(const std::vector<std::pair<double, double>>& sites, double K, double R, double* trained) {
    double one_task = 0;
    for (const auto& site : sites) one_task += R * (site.first + site.second);
    *trained = 3.0 * one_task * kF32;
    return K * one_task * kF32;
}

double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

std::string line(const std::string& name, double bytes) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %-58s %10.2f GiB\n", name.c_str(), gib(bytes));
    return buf;
}

}  // namespace

double MemoryPlan::resident_total() const {
    double sum = 0;
    for (const MemoryPlanLine& l : resident) sum += l.bytes;
    return sum;
}

double MemoryPlan::peak(bool recompute) const {
    const double step = recompute ? step_recomputed.peak : this->step.peak;
    const double used = resident_total() + std::max({step, evaluation, recompute ? generator_recomputed : generator});
    return used * (1.0 + kAllocatorSlack) + workspace;
}

MemoryPlan plan_memory(const std::string& config_json, const std::string& where, const MemoryPlanOptions& options) {
    if (options.batch_size <= 0 || options.source_length <= 0 || options.target_length <= 0 || options.n_tasks <= 0 ||
        options.lora_rank <= 0) {
        fail(where, "memory plan: batch, lengths, tasks and LoRA rank must be positive (got batch " +
                        std::to_string(options.batch_size) + ", source " + std::to_string(options.source_length) +
                        ", target " + std::to_string(options.target_length) + ", tasks " +
                        std::to_string(options.n_tasks) + ", rank " + std::to_string(options.lora_rank) + ")");
    }
    MemoryPlan plan;
    MemoryPlanOptions plain = options, recomputed = options;
    plain.recompute_layers = false;
    recomputed.recompute_layers = true;
    // The generator: a rank-8 LoRA alone (one task, no selection) on "__gen__" -> 512 tokens, batch 16.
    MemoryPlanOptions generator = options;
    generator.batch_size = options.generator_batch_size;
    generator.source_length = options.generator_source_length;
    generator.target_length = options.generator_target_length;
    generator.n_tasks = 1;
    generator.lora_rank = options.generator_lora_rank;
    generator.selection = false;

    const ModelKind kind = config_model_kind(config_json, where);
    WeightCount weights;
    std::vector<std::pair<double, double>> sites;  // (in, out) of every adapted q and v
    double C = 0, V = 0, kv_cache = 0, prompt_pass = 0, generator_cache = 0;
    StepPlan generator_step, generator_step_recomputed;
    MemoryPlanOptions generator_recomputed = generator;
    generator.recompute_layers = false;
    generator_recomputed.recompute_layers = true;
    const double Be = options.eval_batch_size, S = options.source_length, new_tokens = options.eval_new_tokens;
    if (kind == ModelKind::T5) {
        const T5Config c = t5_config_from_json(config_json, where);
        weights = t5_weights(c);
        C = c.d_model;
        V = c.vocab_size;
        const double HD = (double)c.num_heads * c.d_kv;
        const int n_sites = c.num_layers + 2 * c.num_decoder_layers;
        for (int i = 0; i < 2 * n_sites; i++) sites.push_back({C, HD});
        plan.step = plan_t5_step(c, plain);
        plan.step_recomputed = plan_t5_step(c, recomputed);
        generator_step = plan_t5_step(c, generator);
        generator_step_recomputed = plan_t5_step(c, generator_recomputed);
        // Greedy decoding (models/generate.cpp): the encoder states, every decoder layer's cross k and v
        // over S source tokens and self k and v over the new ones, and one encoder block's no-grad pass.
        kv_cache = Be * S * C * kF32 + c.num_decoder_layers * 2.0 * Be * (S + new_tokens) * HD * kF32;
        prompt_pass = Be * S * (3.0 * C + 2.0 * HD + (c.is_gated_act ? 3.0 : 2.0) * c.d_ff) * kF32 +
                      c.num_heads * S * S * kF32;
        generator_cache = c.num_decoder_layers * 2.0 * options.generator_rows *
                          (options.generator_source_length + options.generator_new_tokens) * HD * kF32;
    } else {
        const LlamaConfig c = llama_config_from_json(config_json, where);
        weights = llama_weights(c);
        C = c.hidden_size;
        V = c.vocab_size;
        const double q_width = (double)c.num_attention_heads * c.head_dim();
        const double kv_width = (double)c.num_key_value_heads * c.head_dim();
        for (int i = 0; i < c.num_hidden_layers; i++) {
            sites.push_back({C, q_width});
            sites.push_back({C, kv_width});
        }
        plan.step = plan_llama_step(c, plain);
        plan.step_recomputed = plan_llama_step(c, recomputed);
        generator_step = plan_llama_step(c, generator);
        generator_step_recomputed = plan_llama_step(c, generator_recomputed);
        // Greedy decoding: every layer's k and v (B, S + new, Hkv, D), plus one more layer's while a step's
        // concat copies it, and the prompt's no-grad pass through one layer (its MLP is the widest).
        const double per_layer = 2.0 * Be * (S + new_tokens) * kv_width * kF32;
        kv_cache = (c.num_hidden_layers + 1) * per_layer;
        prompt_pass = Be * S * (3.0 * C + q_width + 2.0 * kv_width + 3.0 * c.intermediate_size) * kF32 +
                      Be * c.vocab_size * kF32;
        generator_cache = (c.num_hidden_layers + 1) * 2.0 * options.generator_rows *
                          (options.generator_source_length + options.generator_new_tokens) * kv_width * kF32;
    }
    double trained_lora = 0;
    const double all_lora = lora_bytes(sites, options.n_tasks, options.lora_rank, &trained_lora);
    double generator_trained = 0;
    const double generator_lora = lora_bytes(sites, 1, options.generator_lora_rank, &generator_trained);
    plan.resident.push_back({std::string("frozen weights (") + (options.frozen_bf16 ? "bf16" : "f32") + " matrices)",
                             weights.bytes(options.frozen_bf16)});
    plan.resident.push_back({"LoRA A and B of " + std::to_string(options.n_tasks) + " tasks (f32, rank " +
                                 std::to_string(options.lora_rank) + ")",
                             all_lora});
    plan.resident.push_back({"current task: gradient + AdamW m and v", trained_lora});
    if (options.selection) {
        // SALS: projector down (Hd, C), up (C, Hd), LayerNorm gain and bias, K keys; the trainable part
        // (all but the earlier keys) also has a gradient and two moments.
        const double trainable = 2.0 * options.sals_hidden * C + 2.0 * C + C;
        plan.resident.push_back({"SALS projector and keys (+ gradient, AdamW)",
                                 (4.0 * trainable + (options.n_tasks - 1) * C) * kF32});
    }
    plan.evaluation = kv_cache + prompt_pass;
    // A task's generator (sapt/generator.cpp) lives only while it trains and samples: its LoRA, then its
    // training step with the LoRA's gradient and moments, or its sampling with its own KV cache.
    if (options.generators) {
        const double sampling = generator_cache + options.generator_rows * V * kF32;  // cache + a step's logits
        plan.generator = generator_lora + std::max(generator_step.peak + generator_trained, sampling);
        plan.generator_recomputed = generator_lora + std::max(generator_step_recomputed.peak + generator_trained, sampling);
    }
    // The CUDA context (outside the caching allocator, about 0.5 GiB on an H100), cuBLAS's workspace
    // (32 MiB) and the attention GEMM path's score blocks (256 MiB, SAPT_CUDA_ATTENTION_MIB).
    plan.workspace = (512.0 + 32.0 + 256.0) * 1024 * 1024;
    return plan;
}

int largest_fitting_batch(const std::string& config_json, const std::string& where, MemoryPlanOptions options,
                          double device_bytes) {
    auto fits = [&](int batch) {
        options.batch_size = batch;
        return plan_memory(config_json, where, options).peak(options.recompute_layers) <= device_bytes;
    };
    if (!fits(1)) return 0;
    int lo = 1, hi = 4096;  // lo fits; the plan grows with the batch, so bisect
    if (fits(hi)) return hi;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (fits(mid)) lo = mid;
        else hi = mid;
    }
    return lo;
}

std::string format_memory_plan(const std::string& config_json, const std::string& where,
                               const MemoryPlanOptions& options, double device_bytes) {
    const MemoryPlan plan = plan_memory(config_json, where, options);
    std::string out = "memory plan of this run (" + where + ", batch " + std::to_string(options.batch_size) + " x (" +
                      std::to_string(options.source_length) + " + " + std::to_string(options.target_length) +
                      ") tokens, " + std::to_string(options.n_tasks) + " tasks):\n";
    out += "held for the whole run:\n";
    for (const MemoryPlanLine& l : plan.resident) out += line(l.name, l.bytes);
    out += "one training micro-step (above the resident part):\n";
    out += line("logits (B, T, V) f32", plan.step.logits);
    out += line("activations kept for backward, --recompute none", plan.step.held_after_forward);
    out += line("activations kept for backward, --recompute layer", plan.step_recomputed.held_after_forward);
    out += line("step peak with gradients, --recompute none", plan.step.peak);
    out += line("step peak with gradients, --recompute layer", plan.step_recomputed.peak);
    out += "the other phases, one at a time:\n";
    out += line("evaluation: KV cache of batch " + std::to_string(options.eval_batch_size) + " + prompt pass",
                plan.evaluation);
    out += line("generator (batch " + std::to_string(options.generator_batch_size) + " x " +
                    std::to_string(options.generator_target_length) + "), --recompute none",
                plan.generator);
    out += line("generator, --recompute layer", plan.generator_recomputed);
    out += line("workspace: CUDA context, cuBLAS, attention score blocks", plan.workspace);
    char buf[240];
    std::snprintf(buf, sizeof buf, "  (plus %.0f%% allocator slack on the tensors)\n", kAllocatorSlack * 100);
    out += buf;
    int largest[2] = {0, 0};
    for (bool recompute : {false, true}) {
        MemoryPlanOptions o = options;
        o.recompute_layers = recompute;
        largest[recompute] = largest_fitting_batch(config_json, where, o, device_bytes);
        const double peak = plan.peak(recompute);
        std::snprintf(buf, sizeof buf, "peak with --recompute %-5s %8.2f GiB of %.2f GiB: %s; largest --batch-size that fits: %d\n",
                      recompute ? "layer" : "none", gib(peak), gib(device_bytes),
                      peak <= device_bytes ? "fits" : "DOES NOT FIT", largest[recompute]);
        out += buf;
    }
    if (plan.peak(options.recompute_layers) > device_bytes) {
        const bool r = options.recompute_layers;
        const double step = r ? plan.step_recomputed.peak : plan.step.peak;
        const double generator = r ? plan.generator_recomputed : plan.generator;
        std::string largest_phase = "the training step";
        if (plan.evaluation > std::max(step, generator)) largest_phase = "evaluation (its batch of 32 is fixed)";
        if (generator > std::max(step, plan.evaluation)) largest_phase = "the generators (--pseudo-dir skips them)";
        std::string advice;
        if (!r && plan.peak(true) <= device_bytes) {
            advice = "add --recompute layer";
        } else if (largest[r] > 0) {
            advice = "lower --batch-size to " + std::to_string(largest[r]) + " and raise --grad-accum to keep the batch";
        } else if (!r && largest[1] > 0) {
            advice = "add --recompute layer and lower --batch-size to " + std::to_string(largest[1]) +
                     " (raise --grad-accum to keep the batch)";
        } else if (!options.frozen_bf16) {
            advice = r ? "add --precision bf16" : "add --precision bf16 --recompute layer";
        } else {
            advice = "lower --max-source-len, or use a device with more memory";
        }
        std::snprintf(buf, sizeof buf, "%.1f", gib(device_bytes));
        out += std::string("WARNING: this run will not fit in ") + buf + " GiB (--device-memory): " + advice +
               "; its largest phase is " + largest_phase + "\n";
    }
    return out;
}
