// lora.h — LoRA banks: at one adapted projection (an AdaptedSite), one low-rank update per task, the
// current task's trainable and the earlier tasks' frozen and stacked, so that mixing K tasks costs two
// matmuls, not K. The mix weights are per example (SAPT's selection weights) or all ones (IncLoRA, and
// SeqLoRA with a single slot): one implementation for every method. Not here: where the weights come
// from (sals.h), or which sites exist (the model lists them).
#pragma once
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "models/pet_hook.h"

// Slot order (the official code's): slot 0 is the current task, slots 1..K-1 the earlier tasks newest
// first. Task slot k owns rows k*R..k*R+R-1 of the stacked A and the same columns of the stacked B.
struct LoraBank {
    AdaptedSite site;
    int rank = 4;               // R
    Tensor current_A;           // (R, C_in), trainable, Kaiming-uniform a = sqrt(5)
    Tensor current_B;           // (C_out, R), trainable, zeros
    Tensor previous_A;          // ((K-1) R, C_in), frozen; undefined while K == 1
    Tensor previous_B;          // (C_out, (K-1) R), frozen; undefined while K == 1
    int num_tasks() const { return 1 + (previous_A.defined() ? (int)(previous_A.dim(0) / rank) : 0); }
};

struct LoraMixOptions {
    float scaling = 8.0f;          // alpha / R
    float dropout = 0.0f;          // on x, as PEFT / the official LoRALayer
    bool training = false;         // dropout is active only while training
    // true (--compat official): the earlier tasks' outputs are computed from a detached x, as under the
    // official torch.no_grad(): no gradient reaches x (and the layers below) through them; the mix
    // weights still get theirs. false (default): the exact gradient.
    bool detach_previous = false;
};

// A bank with one fresh task: A ~ Kaiming-uniform(a = sqrt(5)) drawn from rng, B = 0.
LoraBank lora_bank_create(const AdaptedSite& site, int rank, Rng& rng);

// Freezes the current task into the stack (it becomes slot 1, the newest earlier task) and starts a
// fresh current task drawn from rng.
void lora_bank_push_task(LoraBank& bank, Rng& rng);

// x (B, T, C_in) -> delta (B, T, C_out) = sum_k w[b, k] * scaling * (x A_k^T) B_k^T, computed as
//   h = x [A_cur; A_prev]^T  (B, T, K R),  h[..., k R : k R + R] *= scaling * w[b, k],
//   delta = h [B_cur, B_prev]^T.
// weights (B, K) f32, or an undefined Tensor for weight 1 on every task.
Tensor lora_bank_delta(const LoraBank& bank, const Tensor& x, const Tensor& weights, const LoraMixOptions& options);

// The bank's trainable tensors: current_A, current_B.
std::vector<Tensor> lora_bank_trainable(const LoraBank& bank);
