// sals.cpp — the selection module: projector and keys, their creation, and the forward from token
// embeddings to per-example task weights.
#include "sapt/sals.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

static Tensor trainable(Tensor t, const std::string& name) {
    t.data->requires_grad = true;
    t.data->name = name;
    return t;
}

static Tensor draw_key(int64_t C, Rng& rng) {
    Tensor key = tensor_empty({1, C});
    init_uniform(key, -1.0f, 1.0f, rng);
    return trainable(key, "sals.key");
}

Sals sals_create(int C, int hidden, Rng& rng) {
    if (C <= 0 || hidden <= 0) {
        fail("sals_create", "widths must be positive (got C " + std::to_string(C) + ", hidden " + std::to_string(hidden) + ")");
    }
    Sals sals;
    sals.down = tensor_empty({hidden, C});
    sals.up = tensor_empty({C, hidden});
    init_kaiming_uniform(sals.down, std::sqrt(5.0f), rng);
    init_kaiming_uniform(sals.up, std::sqrt(5.0f), rng);
    sals.down = trainable(sals.down, "sals.down");
    sals.up = trainable(sals.up, "sals.up");
    sals.norm_weight = trainable(tensor_full({C}, 1.0f), "sals.norm_weight");
    sals.norm_bias = trainable(tensor_zeros({C}), "sals.norm_bias");
    sals.key = draw_key(C, rng);
    return sals;
}

void sals_push_task(Sals& sals, Rng& rng) {
    {
        NoGradScope no_grad;
        Tensor keys = sals.previous_keys.defined() ? concat({sals.key, sals.previous_keys}, 0) : sals.key;
        sals.previous_keys = tensor_clone(keys);  // frozen copy, newest first
    }
    sals.previous_keys.data->name = "sals.previous_keys";
    sals.key = draw_key(sals.key.dim(1), rng);
}

SalsOutput sals_forward(const Sals& sals, const Tensor& embeddings, const Tensor& mask) {
    const int64_t C = sals.key.dim(1);
    if (embeddings.ndim() != 3 || embeddings.dim(2) != C) {
        fail("sals_forward", "embeddings must be (B, T, C) with C = " + std::to_string(C) + " (got " +
                                 shape_str(embeddings.shape()) + ")");
    }
    SalsOutput out;
    out.pooled = max_pool_seq(embeddings, mask);
    // No activation between the two Linears; SiLU after the up-projection, LayerNorm last (the code's order).
    out.query = layer_norm(silu(linear(linear(out.pooled, sals.down), sals.up)), sals.norm_weight, sals.norm_bias,
                           sals.norm_eps);
    const Tensor keys = sals.previous_keys.defined() ? concat({sals.key, sals.previous_keys}, 0) : sals.key;
    out.logits = scale(matmul(out.query, keys, false, true), 1.0f / std::sqrt((float)C));  // (B, K)
    out.weights = softmax(out.logits);
    return out;
}

std::vector<Tensor> sals_trainable(const Sals& sals) {
    return {sals.key, sals.down, sals.up, sals.norm_weight, sals.norm_bias};
}
