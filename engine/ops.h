// ops.h — the differentiable operations users call. Each takes and returns Tensors (f32 unless said),
// dispatches to the kernels of the tensors' device, and records its backward on the tape (autograd.h).
// Shapes use the letters of STYLE.md. Every op checks its shapes and throws sapt_error (engine/error.h)
// naming the op and the shapes it got.
#pragma once
#include <vector>

#include "engine/tensor.h"

// ---- linear algebra --------------------------------------------------------------------------------
// a (..., M, K) x b (K, N) -> (..., M, N), or batched b (..., K, N) with the same leading dims as a.
// trans_a / trans_b transpose the last two axes of a / b. b may be bf16 (frozen weight): no grad to it.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// x (..., in) W^T with W (out, in), as torch.nn.Linear without bias. W may be bf16.
Tensor linear(const Tensor& x, const Tensor& weight);

// ---- elementwise, with broadcasting of a trailing row (b of shape (C) against a of shape (..., C)) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, float s);
// a (B, T, C) * w (B, 1, 1) or (B) per-example weights: out[b] = a[b] * w[b] (SAPT's task mixing).
Tensor mul_per_batch(const Tensor& a, const Tensor& w);

// ---- reductions -----------------------------------------------------------------------------------
Tensor sum(const Tensor& a);   // scalar (shape {1})
Tensor mean(const Tensor& a);  // scalar
// Sum over axis `axis` (keepdim false).
Tensor sum_axis(const Tensor& a, int axis);

// ---- layout (all produce contiguous copies except reshape, which shares the buffer) ------------------
Tensor reshape(const Tensor& a, const std::vector<int64_t>& shape);  // one -1 allowed
Tensor transpose(const Tensor& a, int axis0, int axis1);
Tensor permute(const Tensor& a, const std::vector<int>& axes);
Tensor slice(const Tensor& a, int axis, int64_t start, int64_t end);  // [start, end)
Tensor concat(const std::vector<Tensor>& parts, int axis);

// ---- lookups --------------------------------------------------------------------------------------
// ids (any shape, I32) -> (ids..., C) rows of table (V, C); table may be bf16 (frozen: no grad).
Tensor embedding(const Tensor& ids, const Tensor& table);

// ---- softmax family over the last axis ----------------------------------------------------------
Tensor softmax(const Tensor& a);
Tensor log_softmax(const Tensor& a);

// ---- normalisation over the last axis ------------------------------------------------------------
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);

// ---- activations -----------------------------------------------------------------------------------
Tensor relu(const Tensor& x);
Tensor gelu_tanh(const Tensor& x);
Tensor silu(const Tensor& x);
// Inverted dropout with probability p, mask drawn from the engine RNG (rng.h); identity when p == 0 or
// when `training` is false.
Tensor dropout(const Tensor& x, float p, bool training);

// ---- SAPT's query ------------------------------------------------------------------------------------
// x (B, T, C) -> (B, C): max over T. mask (B, T) U8 (1 = token, 0 = padding) or undefined Tensor{} to
// pool over every position (the official code's behaviour, --compat official).
Tensor max_pool_seq(const Tensor& x, const Tensor& mask);

// ---- SAPT's task mixing (ops_sapt.cpp) ----------------------------------------------------------------
// The same data without a gradient path: like torch's .detach(), what is computed from the result sends
// no gradient back into `a` (the official code's torch.no_grad() around earlier tasks' LoRAs).
Tensor detach(const Tensor& a);
// h (B, ..., K*G) with K groups of G columns, w (B, K): out[b, ..., k*G + j] = s * w[b, k] * h[b, ..., k*G + j].
// Scales each task's R LoRA columns by that example's selection weight; gradients to h and w.
Tensor scale_column_groups(const Tensor& h, const Tensor& w, int group_size, float s);
// linear(x, concat({trained, frozen}, axis)): every task's LoRA matrix of one projection in one product,
// the current task's (trained) first. Axis 0 stacks (out, in) weights by rows (the down-projections A),
// axis 1 by columns (the up-projections B). The backward computes the weight gradient of `trained`
// alone, where linear on the concatenation would compute the frozen part's too and throw it away.
Tensor linear_stacked(const Tensor& x, const Tensor& trained, const Tensor& frozen, int axis);

// ---- attention -----------------------------------------------------------------------------------
// q (B, Tq, Hq, D), k and v (B, Tk, Hkv, D) -> (B, Tq, Hq, D), fused: the (Tq, Tk) probabilities are not
// kept for backward. pos_bias (Hq, Tq, Tk) or undefined (T5's relative position bias; gets a gradient if it
// requires one). key_mask (B, Tk) U8 or undefined. See AttentionShape in kernels.h for scale and causal.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& pos_bias,
                 const Tensor& key_mask, float scale, bool causal);

// ---- rotary position embedding: x (B, T, H, D), positions (B, T) I32 -----------------------------
Tensor rope(const Tensor& x, const Tensor& positions, float theta);

// ---- losses -------------------------------------------------------------------------------------------
// logits (N, V) or (B, T, V), targets (N) or (B, T) I32 with -100 = ignore. Mean over non-ignored rows,
// fused with log_softmax. Returns a scalar; 0 when every row is ignored.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
// torch.nn.KLDivLoss(reduction="batchmean")(logp, target): sum t (log t - logp) / N for logp (N, C).
// target is a constant (no gradient).
Tensor kl_div_batchmean(const Tensor& logp, const Tensor& target);
