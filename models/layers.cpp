// layers.cpp — see layers.h.
#include "models/layers.h"

#include "engine/error.h"
#include "engine/ops.h"

Tensor adapted_projection(const Tensor& x, const Tensor& weight, int site, const PetHook* hook) {
    Tensor y = linear(x, weight);
    if (site < 0 || hook == nullptr || !hook->projection_delta) return y;
    Tensor delta = hook->projection_delta(site, x);
    if (!delta.defined()) return y;
    if (delta.shape() != y.shape()) {
        fail("PetHook.projection_delta", "site " + std::to_string(site) + " returned the wrong shape (expected " +
                                             shape_str(y.shape()) + ", got " + shape_str(delta.shape()) + ")");
    }
    return add(y, delta);
}

Tensor soft_prompt_prefix(const Tensor& embeddings, const PetHook* hook) {
    if (hook == nullptr || !hook->prompt_prefix) return Tensor{};
    Tensor prefix = hook->prompt_prefix(embeddings);
    if (!prefix.defined()) return prefix;
    if (prefix.ndim() != 3 || prefix.dim(0) != embeddings.dim(0) || prefix.dim(2) != embeddings.dim(2)) {
        fail("PetHook.prompt_prefix", "expected a (B, P, C) prefix with B = " + std::to_string(embeddings.dim(0)) +
                                          " and C = " + std::to_string(embeddings.dim(2)) + ", got " +
                                          shape_str(prefix.shape()));
    }
    return prefix;
}

static bool has_extra_vocab(const Tensor& table, const PetHook* hook) {
    if (hook == nullptr || !hook->extra_vocab.defined()) return false;
    if (hook->extra_vocab.ndim() != 2 || hook->extra_vocab.dim(1) != table.dim(1)) {
        fail("PetHook.extra_vocab", "expected (E, C) rows with C = " + std::to_string(table.dim(1)) + ", got " +
                                        shape_str(hook->extra_vocab.shape()));
    }
    return true;
}

Tensor vocabulary_rows(const Tensor& table, const PetHook* hook) {
    if (!has_extra_vocab(table, hook)) return table;
    // A bf16 backbone's table is widened to the rows' f32 (a copy either way).
    return concat({table.dtype() == hook->extra_vocab.dtype() ? table : tensor_to_f32(table), hook->extra_vocab}, 0);
}

Tensor vocabulary_logits(const Tensor& x, const Tensor& head, const PetHook* hook) {
    if (!has_extra_vocab(head, hook)) return linear(x, head);
    return concat({linear(x, head), linear(x, hook->extra_vocab)}, 2);
}

Tensor prepend_ones_to_mask(const Tensor& mask, int64_t prefix_length) {
    if (prefix_length == 0) return mask;
    int64_t B = mask.dim(0), T = mask.dim(1);
    Tensor host = mask.device() == Device::CPU ? mask : tensor_to_device(mask, Device::CPU);
    Tensor out = tensor_empty({B, prefix_length + T}, DType::U8);
    for (int64_t b = 0; b < B; b++) {
        uint8_t* row = out.u8() + b * (prefix_length + T);
        for (int64_t p = 0; p < prefix_length; p++) row[p] = 1;
        for (int64_t t = 0; t < T; t++) row[prefix_length + t] = host.u8()[b * T + t];
    }
    return tensor_to_device(out, mask.device());
}

Tensor index_tensor(const std::vector<int64_t>& shape, const std::vector<int32_t>& values, Device device) {
    return tensor_to_device(tensor_from_i32(shape, values), device);
}

void check_ids_and_mask(const Tensor& ids, const Tensor& mask, int64_t mask_extra_length, const char* where) {
    if (!ids.defined() || ids.ndim() != 2 || ids.dtype() != DType::I32) {
        fail(where, "input ids must be a (B, T) I32 tensor (got " +
                        (ids.defined() ? shape_str(ids.shape()) + " " + dtype_name(ids.dtype()) : "none") + ")");
    }
    if (!mask.defined()) return;
    std::vector<int64_t> expected = {ids.dim(0), ids.dim(1) + mask_extra_length};
    if (mask.dtype() != DType::U8 || mask.shape() != expected) {
        fail(where, "attention mask must be a " + shape_str(expected) + " U8 tensor (got " + shape_str(mask.shape()) +
                        " " + dtype_name(mask.dtype()) + ")");
    }
}
