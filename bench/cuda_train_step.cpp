// cuda_train_step.cpp — the kernel lab: a hand-written SAPT-LoRA training step that bypasses engine/, models/
// and autograd, for trying kernels in isolation. It is not what ./train runs, and no README figure comes from
// it: the product's step is timed by bench/cuda_real_step.cpp. One step of T5-large on the GPU, written directly
// against the kernel table (cuda_kernels), so it measures the backend alone: 24 encoder + 24 decoder layers (d 1024, 16
// heads of 64, gated-GELU FFN 2816 as T5 v1.1), batch 16 x (512 + 50), frozen bf16 weights, relative-position
// bias, LoRA r = 8 on W_q and W_v of every attention for the current task plus 14 earlier tasks mixed by
// per-example weights a(x) (one stacked GEMM pair for all earlier tasks), cross-entropy over 32128 tokens,
// backward, AdamW on the current task's adapters. Not measured: SAPT's small attention module a(x) itself
// (B x K numbers; fixed here) and the KL replay step. Then the same step on a LLaMA-2-7B-shaped decoder
// (d 4096, 32 heads of 128, RoPE, SwiGLU 11008, vocab 32000) cut to 4 of its 32 layers, batch 16 x 562.
// `make bench-cuda`; --tiny runs toy shapes (a smoke test, also under the CPU emulation); --attention times
// the attention kernels alone at these shapes; --phases splits a step's time into its parts. Records tokens/s
// with bf16 tensor-core GEMMs against the same step in f32 GEMMs and ends with lines
// "RESULT t5large|llama7b tokens_per_s=... mfu=..." that bench/run_cuda.sh pairs with HF + PEFT.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/record.h"
#include "engine/device.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/kernels.h"

static const Kernels& K = cuda_kernels;

struct Config {
    int B, T_src, T_tgt, d, H, d_ff, layers, V, R, tasks;
};
static const Config kT5Large = {16, 512, 50, 1024, 16, 2816, 24, 32128, 8, 15};
static const Config kTiny = {2, 9, 5, 64, 2, 96, 2, 101, 4, 3};
// LLaMA: one causal stack over T_src = source + target tokens (T_tgt unused), 4 of LLaMA-2-7B's 32 layers.
static const Config kLlama7bLayers4 = {16, 562, 0, 4096, 32, 11008, 4, 32000, 8, 15};
static const Config kTinyLlama = {2, 7, 0, 64, 2, 96, 2, 101, 4, 3};
static const float kRopeTheta = 10000.0f;

// ---- device memory: everything is allocated once, before timing ----------------------------------------
static std::vector<void*> allocations;
static float* floats(size_t n, float value = 0.0f) {
    float* p = (float*)cuda_alloc(n * sizeof(float));
    allocations.push_back(p);
    K.fill(p, value, n);
    return p;
}
// Random values, never constants: equal weights make every attention row uniform, and kernels that skip
// zero probabilities or gradients would then be timed on a path real data never takes. A pool of 2^22
// uniform numbers in [-1, 1) is drawn once on the host; each tensor copies it from a different offset.
static const size_t kPoolSize = size_t(1) << 22;
static float* random_pool() {
    static float* pool = [] {
        std::vector<float> host(2 * kPoolSize);  // twice, so any offset below kPoolSize reads a whole chunk
        unsigned seed = 12345;
        for (size_t i = 0; i < kPoolSize; i++) {
            seed = seed * 1664525u + 1013904223u;
            host[i] = host[i + kPoolSize] = float(seed >> 8) / float(1u << 23) - 1.0f;
        }
        float* p = (float*)cuda_alloc(host.size() * sizeof(float));
        cuda_copy(p, Device::CUDA, host.data(), Device::CPU, host.size() * sizeof(float));
        return p;
    }();
    return pool;
}
static void fill_random(float* dst, size_t n, float amplitude) {
    static size_t offset = 0;
    for (size_t done = 0; done < n; done += kPoolSize) {
        offset = (offset + 7919 * 131) % kPoolSize;
        size_t chunk = n - done < kPoolSize ? n - done : kPoolSize;
        K.scale(dst + done, random_pool() + offset, amplitude, chunk);
    }
}
static float* random_floats(size_t n, float amplitude) {
    float* p = floats(n);
    fill_random(p, n, amplitude);
    return p;
}
static bf16* frozen_weight(size_t n, float amplitude) {
    bf16* w = (bf16*)cuda_alloc(n * sizeof(bf16));
    allocations.push_back(w);
    float* staging = (float*)cuda_alloc(n * sizeof(float));
    fill_random(staging, n, amplitude);
    K.f32_to_bf16(w, staging, n);
    cuda_free(staging);
    return w;
}
static void copy(float* dst, const float* src, size_t n) { K.scale(dst, src, 1.0f, n); }

// --phases: where a step's time goes. mark(name) waits for the GPU and charges the time since the previous
// mark to `name`; the waits cost a few milliseconds per step, so the timed runs leave it off.
struct PhaseClock {
    bool on = false;
    std::chrono::steady_clock::time_point last;
    std::vector<std::pair<std::string, double>> ms;  // in first-seen order
    void start() {
        if (!on) return;
        cuda_synchronize();
        last = std::chrono::steady_clock::now();
    }
    void mark(const char* name) {
        if (!on) return;
        cuda_synchronize();
        auto now = std::chrono::steady_clock::now();
        double elapsed = std::chrono::duration<double, std::milli>(now - last).count();
        last = now;
        for (auto& entry : ms)
            if (entry.first == name) return void(entry.second += elapsed);
        ms.push_back({name, elapsed});
    }
    void print(int steps) {
        double total = 0.0;
        for (auto& entry : ms) total += entry.second;
        for (auto& entry : ms)
            std::printf("    %-28s %8.2f ms/step  %5.1f%%\n", entry.first.c_str(), entry.second / steps,
                        100.0 * entry.second / total);
        ms.clear();
    }
};
static PhaseClock phase;

// ---- a projection with the SAPT LoRA mix: out = x W^T + sum_i a_i(x) (alpha/r) x A_i^T B_i^T ---------------
// The current task's A_0 (R, d), B_0 (d, R) are trained; the earlier tasks' adapters are stacked,
// A_prev ((K-1) R, d) and B_prev (d, (K-1) R), so that all of them cost two GEMMs. `mix` (N, K R) holds
// a_i(x) alpha/r broadcast over each example's rows and each adapter's R columns.
struct LoraProjection {
    bf16* w;
    float *a0, *b0, *da0, *db0, *a_prev, *b_prev;
    float *u, *uw;  // (N, K R): x A^T, then weighted by mix (saved for backward)
};

static LoraProjection make_projection(const Config& c, size_t n_rows, float*& params, float*& grads) {
    LoraProjection p;
    size_t d = c.d, R = c.R, KR = size_t(c.tasks) * c.R;
    p.w = frozen_weight(d * d, 0.05f);
    p.a0 = params, p.da0 = grads, params += R * d, grads += R * d;
    p.b0 = params, p.db0 = grads, params += d * R, grads += d * R;
    p.a_prev = random_floats((KR - R) * d, 0.01f);
    p.b_prev = random_floats(d * (KR - R), 0.01f);
    p.u = floats(n_rows * KR);
    p.uw = floats(n_rows * KR);
    return p;
}

static void projection_forward(LoraProjection& p, const Config& c, const float* x, size_t N, const float* mix,
                               float* out) {
    int d = c.d, R = c.R, KR = c.tasks * c.R, n = int(N);
    K.gemm_bf16b(false, true, n, d, d, 1.0f, x, d, p.w, d, 0.0f, out, d);
    K.gemm(false, true, n, R, d, 1.0f, x, d, p.a0, d, 0.0f, p.u, KR);
    K.gemm(false, true, n, KR - R, d, 1.0f, x, d, p.a_prev, d, 0.0f, p.u + R, KR);
    K.mul(p.uw, p.u, mix, N * KR);
    K.gemm(false, true, n, d, R, 1.0f, p.uw, KR, p.b0, R, 1.0f, out, d);
    K.gemm(false, true, n, d, KR - R, 1.0f, p.uw + R, KR, p.b_prev, KR - R, 1.0f, out, d);
}

// dx += dout W + (dout B_0 * mix_0) A_0; dB_0 += dout^T uw_0; dA_0 += (dout B_0 * mix_0)^T x.
// Earlier tasks run without gradient (torch.no_grad in SAPT): nothing flows through them.
static void projection_backward(LoraProjection& p, const Config& c, const float* x, size_t N, const float* mix0,
                                const float* dout, float* dx, float* scratch_nr) {
    int d = c.d, R = c.R, KR = c.tasks * c.R, n = int(N);
    K.gemm_bf16b(false, false, n, d, d, 1.0f, dout, d, p.w, d, 1.0f, dx, d);
    K.gemm(true, false, d, R, n, 1.0f, dout, d, p.uw, KR, 1.0f, p.db0, R);
    K.gemm(false, false, n, R, d, 1.0f, dout, d, p.b0, R, 0.0f, scratch_nr, R);
    K.mul(scratch_nr, scratch_nr, mix0, N * R);
    K.gemm(true, false, R, d, n, 1.0f, scratch_nr, R, x, d, 1.0f, p.da0, d);
    K.gemm(false, false, n, d, R, 1.0f, scratch_nr, R, p.a0, d, 1.0f, dx, d);
}

// ---- attention sublayer (self or cross) and FFN sublayer, pre-norm with residual, as T5 -------------------
struct AttentionSublayer {
    bool cross;
    float* norm;
    bf16 *wk, *wo;
    LoraProjection q_proj, v_proj;
    float *pos_bias;                              // (H, Tq, Tk) frozen, null for cross attention and LLaMA
    const int32_t* positions;                     // (B, T) RoPE positions (LLaMA), null for T5
    float* pre_rope;                              // (N, d) q or k before the rotation (LLaMA only)
    float *x_in, *h, *rstd, *q, *k, *v, *o, *lse; // saved for backward
    AttentionShape shape;
};
struct FfnSublayer {
    bool swiglu;  // gate activation SiLU (LLaMA) or GELU (T5 v1.1)
    float* norm;
    bf16 *wi_gate, *wi_up, *wo;
    float *x_in, *h, *rstd, *pre_gate, *pre_up, *act_gate, *act;  // act = act_gate(pre_gate) * pre_up
};

// Shared scratch for every backward (sized for the larger stack).
struct Scratch {
    float *dh, *dq, *dk, *dv, *do_, *dact, *dup, *nr;  // do_, dact and dup are (N, max(d, d_ff))
};

// Scratch for the backward of N rows (the longest sequence's tokens of the batch).
static Scratch make_scratch(const Config& c, size_t N) {
    size_t d = c.d, widest = N * size_t(c.d_ff > c.d ? c.d_ff : c.d);
    return Scratch{floats(N * d), floats(N * d), floats(N * d), floats(N * d),
                   floats(widest), floats(widest), floats(widest), floats(N * size_t(c.R))};
}

static AttentionSublayer make_attention(const Config& c, int Tq, int Tk, bool cross, bool causal,
                                        const int32_t* positions, float*& params, float*& grads) {
    AttentionSublayer a;
    size_t d = c.d, Nq = size_t(c.B) * Tq, Nk = size_t(c.B) * Tk;
    a.cross = cross;
    a.norm = floats(d, 1.0f);
    a.wk = frozen_weight(d * d, 0.05f);
    a.wo = frozen_weight(d * d, 0.05f);
    a.q_proj = make_projection(c, Nq, params, grads);
    a.v_proj = make_projection(c, Nk, params, grads);
    a.pos_bias = cross || positions ? nullptr : random_floats(size_t(c.H) * Tq * Tk, 1.0f);
    a.positions = positions;
    a.pre_rope = positions ? floats((Nq > Nk ? Nq : Nk) * d) : nullptr;
    a.x_in = floats(Nq * d), a.h = floats(Nq * d), a.rstd = floats(Nq), a.q = floats(Nq * d), a.k = floats(Nk * d), a.v = floats(Nk * d);
    a.o = floats(Nq * d), a.lse = floats(size_t(c.B) * c.H * Tq);
    float scale = positions ? 1.0f / std::sqrt(float(c.d / c.H)) : 1.0f;  // T5: no 1/sqrt(D)
    a.shape = AttentionShape{c.B, Tq, Tk, c.H, c.H, c.d / c.H, scale, causal};
    return a;
}

static FfnSublayer make_ffn(const Config& c, int T, bool swiglu) {
    FfnSublayer f;
    f.swiglu = swiglu;
    size_t d = c.d, N = size_t(c.B) * T;
    f.norm = floats(d, 1.0f);
    f.wi_gate = frozen_weight(size_t(c.d_ff) * d, 0.01f);
    f.wi_up = frozen_weight(size_t(c.d_ff) * d, 0.01f);
    f.wo = frozen_weight(d * c.d_ff, 0.01f);
    f.x_in = floats(N * d), f.h = floats(N * d), f.rstd = floats(N), f.pre_gate = floats(N * c.d_ff);
    f.pre_up = floats(N * c.d_ff), f.act_gate = floats(N * c.d_ff), f.act = floats(N * c.d_ff);
    return f;
}

// x (Nq, d) is updated in place: x += Attention(norm(x), kv_source)
static void attention_forward(AttentionSublayer& a, const Config& c, float* x, const float* kv_source,
                              const uint8_t* key_mask, const float* mix_q, const float* mix_kv) {
    int d = c.d;
    size_t Nq = size_t(c.B) * a.shape.Tq, Nk = size_t(c.B) * a.shape.Tk;
    copy(a.x_in, x, Nq * d);
    K.rmsnorm_forward(a.h, a.rstd, x, a.norm, Nq, d, 1e-6f);
    const float* kv = a.cross ? kv_source : a.h;
    int D = d / c.H;
    projection_forward(a.q_proj, c, a.h, Nq, mix_q, a.positions ? a.pre_rope : a.q);
    if (a.positions) K.rope_forward(a.q, a.pre_rope, a.positions, c.B, a.shape.Tq, c.H, D, kRopeTheta);
    K.gemm_bf16b(false, true, int(Nk), d, d, 1.0f, kv, d, a.wk, d, 0.0f, a.positions ? a.pre_rope : a.k, d);
    if (a.positions) K.rope_forward(a.k, a.pre_rope, a.positions, c.B, a.shape.Tk, c.H, D, kRopeTheta);
    projection_forward(a.v_proj, c, kv, Nk, mix_kv, a.v);
    phase.mark("attn norm+q/k/v fwd");
    K.attention_forward(a.o, a.lse, a.q, a.k, a.v, a.pos_bias, key_mask, a.shape);
    phase.mark("attn core fwd");
    K.gemm_bf16b(false, true, int(Nq), d, d, 1.0f, a.o, d, a.wo, d, 1.0f, x, d);  // residual: beta = 1
    phase.mark("attn out proj fwd");
}

// The gradient of q or k before RoPE: the rotation's transpose, into scratch (T5: the gradient as it is).
static const float* unrotated(const AttentionSublayer& a, const Config& c, const float* grad, int T, float* scratch) {
    if (!a.positions) return grad;
    K.fill(scratch, 0.0f, size_t(c.B) * T * c.d);
    K.rope_backward(scratch, grad, a.positions, c.B, T, c.H, c.d / c.H, kRopeTheta);
    return scratch;
}

// dx (Nq, d) holds d(output) and receives d(input); d(kv_source) is added into dkv_source (cross only).
static void attention_backward(AttentionSublayer& a, const Config& c, float* dx,
                               const float* kv_source, float* dkv_source, const uint8_t* key_mask,
                               const float* mix_q0, const float* mix_kv0, Scratch& s) {
    int d = c.d;
    size_t Nq = size_t(c.B) * a.shape.Tq, Nk = size_t(c.B) * a.shape.Tk;
    K.gemm_bf16b(false, false, int(Nq), d, d, 1.0f, dx, d, a.wo, d, 0.0f, s.do_, d);
    K.fill(s.dq, 0.0f, Nq * d), K.fill(s.dk, 0.0f, Nk * d), K.fill(s.dv, 0.0f, Nk * d);
    phase.mark("attn out proj bwd");
    K.attention_backward(s.dq, s.dk, s.dv, nullptr, s.do_, a.q, a.k, a.v, a.o, a.lse, a.pos_bias, key_mask,
                         a.shape);
    phase.mark("attn core bwd");
    const float* kv = a.cross ? kv_source : a.h;
    float* dkv = a.cross ? dkv_source : s.dh;
    K.fill(s.dh, 0.0f, Nq * d);
    // s.do_ is free once the attention backward has read it: it holds each un-rotated gradient in turn.
    projection_backward(a.q_proj, c, a.h, Nq, mix_q0, unrotated(a, c, s.dq, a.shape.Tq, s.do_), s.dh, s.nr);
    K.gemm_bf16b(false, false, int(Nk), d, d, 1.0f, unrotated(a, c, s.dk, a.shape.Tk, s.do_), d, a.wk, d, 1.0f,
                 dkv, d);
    projection_backward(a.v_proj, c, kv, Nk, mix_kv0, s.dv, dkv, s.nr);
    K.rmsnorm_backward(dx, nullptr, s.dh, a.x_in, a.norm, a.rstd, Nq, d);  // dx already holds the residual path
    phase.mark("attn q/k/v+norm bwd");
}

static void ffn_forward(FfnSublayer& f, const Config& c, float* x, size_t N) {
    int d = c.d, n = int(N);
    copy(f.x_in, x, N * d);
    K.rmsnorm_forward(f.h, f.rstd, x, f.norm, N, d, 1e-6f);
    K.gemm_bf16b(false, true, n, c.d_ff, d, 1.0f, f.h, d, f.wi_gate, d, 0.0f, f.pre_gate, c.d_ff);
    K.gemm_bf16b(false, true, n, c.d_ff, d, 1.0f, f.h, d, f.wi_up, d, 0.0f, f.pre_up, c.d_ff);
    (f.swiglu ? K.silu_forward : K.gelu_forward)(f.act_gate, f.pre_gate, N * c.d_ff);
    K.mul(f.act, f.act_gate, f.pre_up, N * c.d_ff);
    K.gemm_bf16b(false, true, n, d, c.d_ff, 1.0f, f.act, c.d_ff, f.wo, c.d_ff, 1.0f, x, d);
    phase.mark("ffn fwd");
}

static void ffn_backward(FfnSublayer& f, const Config& c, float* dx, size_t N, Scratch& s) {
    int d = c.d, n = int(N);
    size_t NF = N * c.d_ff;
    K.gemm_bf16b(false, false, n, c.d_ff, d, 1.0f, dx, d, f.wo, c.d_ff, 0.0f, s.do_, c.d_ff);  // d(act)
    K.mul(s.dup, s.do_, f.act_gate, NF);                                                        // d(pre_up)
    K.mul(s.do_, s.do_, f.pre_up, NF);                                                          // d(act_gate)
    K.fill(s.dact, 0.0f, NF);
    (f.swiglu ? K.silu_backward : K.gelu_backward)(s.dact, s.do_, f.pre_gate, NF);              // d(pre_gate)
    K.gemm_bf16b(false, false, n, d, c.d_ff, 1.0f, s.dact, c.d_ff, f.wi_gate, d, 0.0f, s.dh, d);
    K.gemm_bf16b(false, false, n, d, c.d_ff, 1.0f, s.dup, c.d_ff, f.wi_up, d, 1.0f, s.dh, d);
    K.rmsnorm_backward(dx, nullptr, s.dh, f.x_in, f.norm, f.rstd, N, d);
    phase.mark("ffn bwd");
}

// ---- the model and one step ---------------------------------------------------------------------------
struct Model {
    Config c;
    bf16* embedding;  // (V, d), tied with the LM head, frozen
    std::vector<AttentionSublayer> enc_self, dec_self, dec_cross;
    std::vector<FfnSublayer> enc_ffn, dec_ffn;
    float *enc_norm, *dec_norm;
    float *params, *grads, *m, *v;  // every trained number (the current task's adapters), contiguous
    size_t n_params;
    // inputs and activations outside the layers
    int32_t *src_ids, *tgt_ids, *targets;
    uint8_t* src_mask;
    float *mix_src, *mix_tgt, *mix0_src, *mix0_tgt;
    float *enc_x, *enc_out, *enc_rstd, *dec_x, *dec_h, *dec_rstd, *logits, *losses, *ce_lse;
    float *ddec_x, *ddec_h, *denc_out, *denc_x, *dlogits;
    Scratch scratch;
};

template <typename T> static T* upload(const std::vector<T>& host) {
    T* p = (T*)cuda_alloc(host.size() * sizeof(T));
    allocations.push_back(p);
    cuda_copy(p, Device::CUDA, host.data(), Device::CPU, host.size() * sizeof(T));
    return p;
}

// mix (N, K R) = a[b, i] alpha / r for the rows of example b and the R columns of adapter i, from a (B, K).
static float* broadcast_mix(const Config& c, int T, const float* task_weights, int columns_per_task, int tasks) {
    long shape[4] = {c.B, T, tasks, columns_per_task};
    long strides[4] = {c.tasks, 0, 1, 0};
    float* mix = floats(size_t(c.B) * T * tasks * columns_per_task);
    K.copy_strided(mix, task_weights, 4, shape, strides);
    return mix;
}

static Model build(const Config& c) {
    Model M;
    M.c = c;
    size_t N_src = size_t(c.B) * c.T_src, N_tgt = size_t(c.B) * c.T_tgt, d = c.d;
    M.embedding = frozen_weight(size_t(c.V) * d, 0.01f);
    size_t per_projection = 2 * size_t(c.R) * d;
    M.n_params = per_projection * 2 * 3 * size_t(c.layers);  // q and v of 3 attentions per layer pair
    M.params = random_floats(M.n_params, 0.01f), M.grads = floats(M.n_params), M.m = floats(M.n_params);
    M.v = floats(M.n_params);
    float *params = M.params, *grads = M.grads;
    for (int l = 0; l < c.layers; l++) {
        M.enc_self.push_back(make_attention(c, c.T_src, c.T_src, false, false, nullptr, params, grads));
        M.enc_ffn.push_back(make_ffn(c, c.T_src, false));
        M.dec_self.push_back(make_attention(c, c.T_tgt, c.T_tgt, false, true, nullptr, params, grads));
        M.dec_cross.push_back(make_attention(c, c.T_tgt, c.T_src, true, false, nullptr, params, grads));
        M.dec_ffn.push_back(make_ffn(c, c.T_tgt, false));
    }
    M.enc_norm = floats(d, 1.0f), M.dec_norm = floats(d, 1.0f);

    std::vector<int32_t> src(N_src), tgt(N_tgt), targets(N_tgt);
    std::vector<uint8_t> mask(N_src);
    for (size_t i = 0; i < N_src; i++) src[i] = int32_t((i * 7919) % c.V);
    for (size_t i = 0; i < N_tgt; i++) {
        tgt[i] = int32_t((i * 104729) % c.V);
        targets[i] = i % 11 == 10 ? -100 : int32_t((i * 7) % c.V);  // some padded targets
    }
    for (size_t i = 0; i < N_src; i++) mask[i] = (i / c.T_src) % 2 == 1 && int(i % c.T_src) >= c.T_src - 3 ? 0 : 1;
    M.src_ids = upload(src), M.tgt_ids = upload(tgt), M.targets = upload(targets), M.src_mask = upload(mask);

    // a(x): softmax over tasks, fixed for the benchmark; alpha / r = 32 / 8 folded in.
    std::vector<float> weights(size_t(c.B) * c.tasks);
    for (size_t i = 0; i < weights.size(); i++) weights[i] = 4.0f / float(c.tasks);
    float* task_weights = upload(weights);
    M.mix_src = broadcast_mix(c, c.T_src, task_weights, c.R, c.tasks);
    M.mix_tgt = broadcast_mix(c, c.T_tgt, task_weights, c.R, c.tasks);
    M.mix0_src = broadcast_mix(c, c.T_src, task_weights, c.R, 1);
    M.mix0_tgt = broadcast_mix(c, c.T_tgt, task_weights, c.R, 1);

    M.enc_x = floats(N_src * d), M.enc_out = floats(N_src * d), M.enc_rstd = floats(N_src);
    M.dec_x = floats(N_tgt * d), M.dec_h = floats(N_tgt * d), M.dec_rstd = floats(N_tgt);
    M.logits = floats(N_tgt * c.V), M.dlogits = floats(N_tgt * c.V), M.losses = floats(N_tgt);
    M.ce_lse = floats(N_tgt);
    M.ddec_x = floats(N_tgt * d), M.ddec_h = floats(N_tgt * d), M.denc_out = floats(N_src * d);
    M.denc_x = floats(N_src * d);
    M.scratch = make_scratch(c, N_src);
    return M;
}

// Returns the step's mean cross-entropy (reading it waits for the forward, as a training loop's log does).
static double train_step(Model& M, int step) {
    const Config& c = M.c;
    size_t N_src = size_t(c.B) * c.T_src, N_tgt = size_t(c.B) * c.T_tgt, d = c.d;
    float head_scale = 1.0f / std::sqrt(float(c.d));  // T5 ties the LM head to the embedding, scaled by d^-1/2
    phase.start();
    K.fill(M.grads, 0.0f, M.n_params);
    // forward
    K.embedding_forward_bf16(M.enc_x, M.src_ids, M.embedding, N_src, d);
    for (int l = 0; l < c.layers; l++) {
        attention_forward(M.enc_self[l], c, M.enc_x, nullptr, M.src_mask, M.mix_src, M.mix_src);
        ffn_forward(M.enc_ffn[l], c, M.enc_x, N_src);
    }
    K.rmsnorm_forward(M.enc_out, M.enc_rstd, M.enc_x, M.enc_norm, N_src, d, 1e-6f);
    K.embedding_forward_bf16(M.dec_x, M.tgt_ids, M.embedding, N_tgt, d);
    for (int l = 0; l < c.layers; l++) {
        attention_forward(M.dec_self[l], c, M.dec_x, nullptr, nullptr, M.mix_tgt, M.mix_tgt);
        attention_forward(M.dec_cross[l], c, M.dec_x, M.enc_out, M.src_mask, M.mix_tgt, M.mix_src);
        ffn_forward(M.dec_ffn[l], c, M.dec_x, N_tgt);
    }
    K.rmsnorm_forward(M.dec_h, M.dec_rstd, M.dec_x, M.dec_norm, N_tgt, d, 1e-6f);
    K.gemm_bf16b(false, true, int(N_tgt), c.V, c.d, head_scale, M.dec_h, c.d, M.embedding, c.d, 0.0f, M.logits, c.V);
    long count = K.cross_entropy_forward(M.losses, M.ce_lse, M.logits, M.targets, N_tgt, c.V);
    double loss = K.sum(M.losses, N_tgt) / double(count);
    // backward
    K.fill(M.dlogits, 0.0f, N_tgt * c.V);
    K.cross_entropy_backward(M.dlogits, M.logits, M.ce_lse, M.targets, 1.0f / float(count), N_tgt, c.V);
    K.gemm_bf16b(false, false, int(N_tgt), c.d, c.V, head_scale, M.dlogits, c.V, M.embedding, c.d, 0.0f, M.ddec_h,
                 c.d);
    K.fill(M.ddec_x, 0.0f, N_tgt * d);
    K.rmsnorm_backward(M.ddec_x, nullptr, M.ddec_h, M.dec_x, M.dec_norm, M.dec_rstd, N_tgt, d);
    K.fill(M.denc_out, 0.0f, N_src * d);
    phase.mark("embed, final norms, head+loss");
    for (int l = c.layers - 1; l >= 0; l--) {
        ffn_backward(M.dec_ffn[l], c, M.ddec_x, N_tgt, M.scratch);
        attention_backward(M.dec_cross[l], c, M.ddec_x, M.enc_out, M.denc_out, M.src_mask, M.mix0_tgt, M.mix0_src,
                           M.scratch);
        attention_backward(M.dec_self[l], c, M.ddec_x, nullptr, nullptr, nullptr, M.mix0_tgt, M.mix0_tgt, M.scratch);
    }
    K.fill(M.denc_x, 0.0f, N_src * d);
    K.rmsnorm_backward(M.denc_x, nullptr, M.denc_out, M.enc_x, M.enc_norm, M.enc_rstd, N_src, d);
    for (int l = c.layers - 1; l >= 0; l--) {
        ffn_backward(M.enc_ffn[l], c, M.denc_x, N_src, M.scratch);
        attention_backward(M.enc_self[l], c, M.denc_x, nullptr, nullptr, M.src_mask, M.mix0_src, M.mix0_src,
                           M.scratch);
    }
    K.adamw_step(M.params, M.grads, M.m, M.v, M.n_params, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, step);
    phase.mark("embed, final norms, head+loss");
    return loss;
}

// ---- the LLaMA-shaped decoder: one causal stack, RoPE, SwiGLU, untied LM head, the same SAPT LoRA mix ----
struct Llama {
    Config c;
    bf16 *embedding, *head;  // (V, d) each, frozen
    std::vector<AttentionSublayer> attention;
    std::vector<FfnSublayer> ffn;
    float* final_norm;
    float *params, *grads, *m, *v;
    size_t n_params;
    int32_t *ids, *targets, *positions;
    float *mix, *mix0;
    float *x, *h, *rstd, *logits, *dlogits, *losses, *ce_lse, *dx, *dh;
    Scratch scratch;
};

static Llama build_llama(const Config& c) {
    Llama M;
    M.c = c;
    size_t T = c.T_src, N = size_t(c.B) * T, d = c.d;
    M.embedding = frozen_weight(size_t(c.V) * d, 0.01f), M.head = frozen_weight(size_t(c.V) * d, 0.01f);
    M.n_params = 2 * size_t(c.R) * d * 2 * size_t(c.layers);  // q and v of every layer
    M.params = random_floats(M.n_params, 0.01f), M.grads = floats(M.n_params), M.m = floats(M.n_params);
    M.v = floats(M.n_params);
    std::vector<int32_t> ids(N), targets(N), positions(N);
    for (size_t i = 0; i < N; i++) {
        ids[i] = int32_t((i * 7919) % c.V), targets[i] = int32_t((i * 7) % c.V), positions[i] = int32_t(i % T);
    }
    M.ids = upload(ids), M.targets = upload(targets), M.positions = upload(positions);
    float *params = M.params, *grads = M.grads;
    for (int l = 0; l < c.layers; l++) {
        M.attention.push_back(make_attention(c, int(T), int(T), false, true, M.positions, params, grads));
        M.ffn.push_back(make_ffn(c, int(T), true));
    }
    M.final_norm = floats(d, 1.0f);
    std::vector<float> weights(size_t(c.B) * c.tasks, 4.0f / float(c.tasks));  // a(x) alpha / r, as above
    float* task_weights = upload(weights);
    M.mix = broadcast_mix(c, int(T), task_weights, c.R, c.tasks);
    M.mix0 = broadcast_mix(c, int(T), task_weights, c.R, 1);
    M.x = floats(N * d), M.h = floats(N * d), M.rstd = floats(N), M.dx = floats(N * d), M.dh = floats(N * d);
    M.logits = floats(N * c.V), M.dlogits = floats(N * c.V), M.losses = floats(N), M.ce_lse = floats(N);
    M.scratch = make_scratch(c, N);
    return M;
}

static double llama_step(Llama& M, int step) {
    const Config& c = M.c;
    size_t N = size_t(c.B) * c.T_src, d = c.d;
    phase.start();
    K.fill(M.grads, 0.0f, M.n_params);
    K.embedding_forward_bf16(M.x, M.ids, M.embedding, N, d);
    for (int l = 0; l < c.layers; l++) {
        attention_forward(M.attention[l], c, M.x, nullptr, nullptr, M.mix, M.mix);
        ffn_forward(M.ffn[l], c, M.x, N);
    }
    K.rmsnorm_forward(M.h, M.rstd, M.x, M.final_norm, N, d, 1e-5f);
    K.gemm_bf16b(false, true, int(N), c.V, c.d, 1.0f, M.h, c.d, M.head, c.d, 0.0f, M.logits, c.V);
    long count = K.cross_entropy_forward(M.losses, M.ce_lse, M.logits, M.targets, N, c.V);
    double loss = K.sum(M.losses, N) / double(count);
    K.fill(M.dlogits, 0.0f, N * c.V);
    K.cross_entropy_backward(M.dlogits, M.logits, M.ce_lse, M.targets, 1.0f / float(count), N, c.V);
    K.gemm_bf16b(false, false, int(N), c.d, c.V, 1.0f, M.dlogits, c.V, M.head, c.d, 0.0f, M.dh, c.d);
    K.fill(M.dx, 0.0f, N * d);
    K.rmsnorm_backward(M.dx, nullptr, M.dh, M.x, M.final_norm, M.rstd, N, d);
    phase.mark("embed, final norms, head+loss");
    for (int l = c.layers - 1; l >= 0; l--) {
        ffn_backward(M.ffn[l], c, M.dx, N, M.scratch);
        attention_backward(M.attention[l], c, M.dx, nullptr, nullptr, nullptr, M.mix0, M.mix0, M.scratch);
    }
    K.adamw_step(M.params, M.grads, M.m, M.v, M.n_params, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, step);
    phase.mark("embed, final norms, head+loss");
    return loss;
}

// Useful FLOPs of one step, the formula bench/cuda_hf_peft.py uses too: every frozen weight matrix costs
// 2 x params x rows forward and as much again for the activation gradient (4 per param-row), every trained
// LoRA matrix 6 (forward, activation gradient, weight gradient); attention scores are left out, as in 6 N T.
// Only the current task's adapter counts: the 14 earlier adapters SAPT mixes in are extra work, not credit.
static double step_flops(const Config& c) {
    double N_src = double(c.B) * c.T_src, N_tgt = double(c.B) * c.T_tgt, d = c.d, F = c.d_ff;
    double ffn = 3.0 * d * F;  // gated: wi_0, wi_1, wo
    double frozen = c.layers * (N_src * (4 * d * d + ffn) + N_tgt * (6 * d * d + ffn) + N_src * 2 * d * d) +
                    N_tgt * double(c.V) * d;
    double lora_per_row = 2.0 * c.R * d;  // A (R, d) and B (d, R)
    double lora = c.layers * lora_per_row * (2 * N_src + 2 * N_tgt + N_tgt + N_src);
    return 4.0 * frozen + 6.0 * lora;
}
static double llama_step_flops(const Config& c) {
    double N = double(c.B) * c.T_src, d = c.d;
    double frozen = N * (c.layers * (4 * d * d + 3 * d * c.d_ff) + double(c.V) * d);
    double lora = N * c.layers * 2 * (2.0 * c.R * d);
    return 4.0 * frozen + 6.0 * lora;
}
static const double kPeakBf16Flops = 989e12;  // H100 / H200 SXM dense bf16

// Milliseconds per step, after warm-up steps (cuBLAS heuristics, allocator cache); prints the last loss.
static double time_steps(const std::function<double(int)>& train_step, int warmup, int measured) {
    static int step = 1;  // AdamW's step count runs on across calls
    double loss = 0.0;
    for (int i = 0; i < warmup; i++) loss = train_step(step++);
    cuda_synchronize();
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < measured; i++) loss = train_step(step++);
    cuda_synchronize();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("  (loss after step %d: %.4f)\n", step - 1, loss);
    return ms / measured;
}

// --attention: the fused attention kernels alone at the step's shapes, milliseconds per call, and what they
// add up to per step (the share of the step that attention takes).
static void time_attention(const char* name, AttentionShape s, bool bias, bool mask, int calls_per_step) {
    size_t nq = size_t(s.B) * s.Tq * s.Hq * s.D, nk = size_t(s.B) * s.Tk * s.Hkv * s.D;
    float *q = random_floats(nq, 1.0f), *k = random_floats(nk, 1.0f), *v = random_floats(nk, 1.0f);
    float* dout = random_floats(nq, 1.0f);
    float *o = floats(nq), *lse = floats(size_t(s.B) * s.Hq * s.Tq), *dq = floats(nq), *dk = floats(nk), *dv = floats(nk);
    float* pos_bias = bias ? random_floats(size_t(s.Hq) * s.Tq * s.Tk, 1.0f) : nullptr;
    std::vector<uint8_t> host_mask(size_t(s.B) * s.Tk, 1);
    for (int b = 1; b < s.B; b += 2) host_mask[size_t(b) * s.Tk + s.Tk - 1] = 0;
    const uint8_t* key_mask = mask ? upload(host_mask) : nullptr;
    auto ms_per_call = [](const std::function<void()>& call) {
        call();
        cuda_synchronize();
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < 5; i++) call();
        cuda_synchronize();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / 5;
    };
    double fwd = ms_per_call([&] { K.attention_forward(o, lse, q, k, v, pos_bias, key_mask, s); });
    double bwd = ms_per_call([&] { K.attention_backward(dq, dk, dv, nullptr, dout, q, k, v, o, lse, pos_bias, key_mask, s); });
    std::printf("  %-22s B %d Tq %d Tk %d H %d D %d: forward %7.3f ms, backward %7.3f ms; x%d per step = %7.1f ms\n",
                name, s.B, s.Tq, s.Tk, s.Hq, s.D, fwd, bwd, calls_per_step, (fwd + bwd) * calls_per_step);
    for (void* p : allocations) cuda_free(p);
    allocations.clear();
}

int main(int argc, char** argv) {
    bool tiny = argc > 1 && std::strcmp(argv[1], "--tiny") == 0;
    std::string why;
    if (!cuda_device_available(&why)) {
        std::printf("SKIPPED: cuda_train_step needs a CUDA device (%s); nothing was measured\n", why.c_str());
        return 0;
    }
    if (argc > 1 && std::strcmp(argv[1], "--phases") == 0) {
        std::printf("where the time of a step goes (bf16 GEMMs, a wait after every part), %s:\n",
                    cuda_device_name().c_str());
        cuda_set_gemm_precision(GemmPrecision::BF16);
        // Four steps to warm up, then three with the clock on.
        auto time_parts = [](const char* name, const std::function<double(int)>& train) {
            for (int step = 1; step <= 7; step++) {
                phase.on = step > 4;
                train(step);
            }
            phase.on = false;
            std::printf("  %s:\n", name);
            phase.print(3);
        };
        Model model = build(kT5Large);
        time_parts("T5-large", [&](int step) { return train_step(model, step); });
        for (void* p : allocations) cuda_free(p);
        allocations.clear();
        Llama llama = build_llama(kLlama7bLayers4);
        time_parts("LLaMA-2-7B, 4 layers", [&](int step) { return llama_step(llama, step); });
        return 0;
    }
    if (argc > 1 && std::strcmp(argv[1], "--attention") == 0) {
        std::printf("attention kernels alone, device %s:\n", cuda_device_name().c_str());
        const Config& c = kT5Large;
        int D = c.d / c.H;
        time_attention("T5 encoder self", AttentionShape{c.B, c.T_src, c.T_src, c.H, c.H, D, 1.0f, false}, true, true, c.layers);
        time_attention("T5 decoder self", AttentionShape{c.B, c.T_tgt, c.T_tgt, c.H, c.H, D, 1.0f, true}, true, false, c.layers);
        time_attention("T5 cross", AttentionShape{c.B, c.T_tgt, c.T_src, c.H, c.H, D, 1.0f, false}, false, true, c.layers);
        const Config& l = kLlama7bLayers4;
        time_attention("LLaMA-2-7B self", AttentionShape{l.B, l.T_src, l.T_src, l.H, l.H, l.d / l.H,
                                                          1.0f / std::sqrt(float(l.d / l.H)), true}, false, false, l.layers);
        // One long sequence: its scores (32 x 4096 x 4096 floats, 2 GiB) pass the GEMM path's budget, so that
        // path takes the query rows in blocks.
        time_attention("LLaMA-2-7B, 4096 tokens", AttentionShape{1, 4096, 4096, l.H, l.H, l.d / l.H,
                                                                  1.0f / std::sqrt(float(l.d / l.H)), true}, false,
                       false, l.layers);
        return 0;
    }
    const Config& c = tiny ? kTiny : kT5Large;
    std::printf("device: %s\n", cuda_device_name().c_str());
    std::printf("SAPT-LoRA step, T5-%s shapes: B %d, source %d, target %d, %d + %d layers, d %d, LoRA r %d, %d tasks\n",
                tiny ? "tiny" : "large", c.B, c.T_src, c.T_tgt, c.layers, c.layers, c.d, c.R, c.tasks);
    Model model = build(c);
    double tokens = double(c.B) * (c.T_src + c.T_tgt);
    int warmup = tiny ? 1 : 3, measured = tiny ? 1 : 10;
    cuda_set_gemm_precision(GemmPrecision::F32);
    auto t5_step = [&](int step) { return train_step(model, step); };
    double f32_ms = time_steps(t5_step, warmup, measured);
    cuda_set_gemm_precision(GemmPrecision::BF16);
    double bf16_ms = time_steps(t5_step, warmup, measured);
    std::printf("  f32 GEMMs:                 %8.1f ms/step  %9.0f tokens/s\n", f32_ms, tokens / f32_ms * 1e3);
    std::printf("  bf16 tensor-core GEMMs:    %8.1f ms/step  %9.0f tokens/s\n", bf16_ms, tokens / bf16_ms * 1e3);
    double tokens_per_s = tokens / bf16_ms * 1e3, mfu = step_flops(c) / (bf16_ms * 1e-3) / kPeakBf16Flops;
    std::printf("  useful work %.2f TFLOP/step, MFU %.1f%% of %.0f TFLOP/s bf16\n", step_flops(c) * 1e-12,
                mfu * 100, kPeakBf16Flops * 1e-12);
    if (!tiny) {
        append_bench_record("cuda_sapt_lora_step_t5_large", tokens / bf16_ms * 1e3, tokens / f32_ms * 1e3,
                            "same step with f32 cuBLAS GEMMs (SAPT_CUDA_GEMM=f32)", "tokens/s", 1);
    }
    std::printf("RESULT %s tokens_per_s=%.1f mfu=%.4f\n", tiny ? "t5tiny" : "t5large", tokens_per_s, mfu);
    for (void* p : allocations) cuda_free(p);
    allocations.clear();

    const Config& lc = tiny ? kTinyLlama : kLlama7bLayers4;
    std::printf("SAPT-LoRA step, LLaMA-2-7B%s shapes, %d of 32 layers: B %d, sequence %d, d %d, %d heads, FFN %d, "
                "LoRA r %d, %d tasks\n", tiny ? " (tiny)" : "", lc.layers, lc.B, lc.T_src, lc.d, lc.H, lc.d_ff, lc.R,
                lc.tasks);
    Llama llama = build_llama(lc);
    double llama_ms = time_steps([&](int step) { return llama_step(llama, step); }, warmup, measured);
    double llama_tokens_per_s = double(lc.B) * lc.T_src / llama_ms * 1e3;
    double llama_mfu = llama_step_flops(lc) / (llama_ms * 1e-3) / kPeakBf16Flops;
    std::printf("  bf16 tensor-core GEMMs:    %8.1f ms/step  %9.0f tokens/s  %.2f TFLOP/step, MFU %.1f%%\n", llama_ms,
                llama_tokens_per_s, llama_step_flops(lc) * 1e-12, llama_mfu * 100);
    std::printf("RESULT %s tokens_per_s=%.1f mfu=%.4f\n", tiny ? "llamatiny" : "llama7b", llama_tokens_per_s,
                llama_mfu);
    for (void* p : allocations) cuda_free(p);
    return 0;
}
