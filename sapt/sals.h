// sals.h — Shared Attentive Learning & Selection: the query projector and the task keys. From the token
// embeddings of a sequence (B, T, C): pooled = max over T, query = LayerNorm(SiLU(W_up W_down pooled)),
// logits = K query / sqrt(C), weights = softmax over tasks. Computed once per sequence; every adapted
// projection mixes its tasks with the same weights. Not here: how the weights are used (lora.h, prompt.h),
// the reflection loss (reflection.h).
#pragma once
#include "engine/rng.h"
#include "engine/tensor.h"

struct Sals {
    Tensor down;           // (Hd, C), trans_input.0, no bias (Hd = 100)
    Tensor up;             // (C, Hd), trans_input.1, no bias
    Tensor norm_weight;    // (C), trans_input.3 (LayerNorm gain)
    Tensor norm_bias;      // (C), trans_input.3 (LayerNorm bias)
    float norm_eps = 1e-5f;
    Tensor key;            // (1, C), the current task's key, trainable, U(-1, 1)
    Tensor previous_keys;  // (K-1, C), frozen, newest first; undefined while K == 1
    int num_tasks() const { return 1 + (previous_keys.defined() ? (int)previous_keys.dim(0) : 0); }
};

// Projector as torch's nn.Linear default (Kaiming-uniform a = sqrt(5)) and nn.LayerNorm (1, 0); one key.
Sals sals_create(int C, int hidden, Rng& rng);
// Freezes the current key into previous_keys (front) and draws a fresh current key U(-1, 1).
void sals_push_task(Sals& sals, Rng& rng);

struct SalsOutput {
    Tensor pooled;   // (B, C)
    Tensor query;    // (B, C)
    Tensor logits;   // (B, K), keys in slot order (current first)
    Tensor weights;  // (B, K), softmax of logits over tasks
};

// embeddings (B, T, C) f32 (the frozen token embeddings of the selection ids). mask (B, T) U8, or an
// undefined Tensor to pool over every position, padding included (the official behaviour).
SalsOutput sals_forward(const Sals& sals, const Tensor& embeddings, const Tensor& mask);

// Trainable at the current task: the projector (down, up, norm gain and bias) and the current key.
std::vector<Tensor> sals_trainable(const Sals& sals);
