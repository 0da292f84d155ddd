// test_models_util.h — what the model tests share: reading a fixture's io tensors, comparing tensors by
// max relative error (|a - b| over the reference's largest magnitude), and a PetHook that implements
// the official SAPT aggregation of LoRAs (fixture README section 2) from stored selection weights, so
// model outputs can be checked without the SAPT module.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/safetensors.h"
#include "models/model.h"

// max |got - want| / max |want|.
inline double max_rel_err(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    double largest = 0.0, worst = 0.0;
    for (size_t i = 0; i < want.size(); i++) {
        largest = std::max(largest, (double)std::fabs(want[i]));
        worst = std::max(worst, (double)std::fabs(got[i] - want[i]));
    }
    return largest > 0 ? worst / largest : worst;
}

inline double max_rel_err(const Tensor& got, const Tensor& want) {
    INFO("got " << shape_str(got.shape()) << ", want " << shape_str(want.shape()));
    REQUIRE(got.numel() == want.numel());
    return max_rel_err(tensor_values(got), tensor_values(want));
}

// An I32 (B, T) 0/1 tensor -> the U8 mask the models take.
inline Tensor to_u8_mask(const Tensor& mask) {
    std::vector<float> values = tensor_values(mask);
    Tensor out = tensor_empty(mask.shape(), DType::U8);
    for (size_t i = 0; i < values.size(); i++) out.u8()[i] = values[i] != 0.0f ? 1 : 0;
    return out;
}

inline std::vector<int32_t> int_values(const Tensor& t) {
    std::vector<float> values = tensor_values(t);
    return std::vector<int32_t>(values.begin(), values.end());
}

// The official aggregation: delta(x)[b] = sum_k w[b, k] * s * (x A_k^T) B_k^T, task 0 = the current LoRA
// (module.lora_q / lora_v), task k >= 1 = module.previous_lora_weights_{q,v}.{k-1}. Previous tasks'
// outputs are computed without the tape, as the official code does under torch.no_grad().
struct OfficialLoraHook {
    std::vector<AdaptedSite> sites;
    std::vector<std::vector<Tensor>> lora_a, lora_b;  // [site][task]
    std::vector<Tensor> weights;                      // [task] (B) selection weights
    float scaling = 1.0f;
    PetHook hook;
};

inline std::unique_ptr<OfficialLoraHook> make_official_lora_hook(const std::vector<AdaptedSite>& sites,
                                                                 const WeightMap& extras,
                                                                 const Tensor& selection_weights, float scaling) {
    auto h = std::make_unique<OfficialLoraHook>();
    h->sites = sites;
    h->scaling = scaling;
    int64_t B = selection_weights.dim(0), K = selection_weights.dim(1);
    std::vector<float> w = tensor_values(selection_weights);  // (B, K, 1)
    for (int64_t k = 0; k < K; k++) {
        std::vector<float> column(B);
        for (int64_t b = 0; b < B; b++) column[b] = w[b * K + k];
        h->weights.push_back(tensor_from({B}, column));
    }
    for (const AdaptedSite& site : sites) {
        std::vector<Tensor> a, b;
        for (int64_t k = 0; k < K; k++) {
            std::string base =
                k == 0 ? site.module + ".lora_" + site.projection
                       : site.module + ".previous_lora_weights_" + site.projection + "." + std::to_string(k - 1);
            INFO("LoRA tensors of " << base);
            REQUIRE(extras.count(base + ".lora_A"));
            REQUIRE(extras.count(base + ".lora_B"));
            a.push_back(extras.at(base + ".lora_A"));
            b.push_back(extras.at(base + ".lora_B"));
        }
        h->lora_a.push_back(a);
        h->lora_b.push_back(b);
    }
    OfficialLoraHook* self = h.get();
    h->hook.projection_delta = [self](int site, const Tensor& x) {
        Tensor total;
        for (size_t k = 0; k < self->weights.size(); k++) {
            Tensor y;
            if (k == 0) {
                y = scale(linear(linear(x, self->lora_a[site][k]), self->lora_b[site][k]), self->scaling);
            } else {
                NoGradScope constant;
                y = scale(linear(linear(x, self->lora_a[site][k]), self->lora_b[site][k]), self->scaling);
            }
            Tensor weighted = mul_per_batch(y, self->weights[k]);
            total = total.defined() ? add(total, weighted) : weighted;
        }
        return total;
    };
    return h;
}
