// layers.h — the few pieces T5 and LLaMA share: a projection a PET method can adapt, the soft-prompt
// prefix, and small helpers that build index / mask tensors. Each model file composes these with the
// ops of engine/ops.h. Not here: anything specific to one architecture.
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "models/pet_hook.h"

// y = x W^T (+ hook.projection_delta(site, x) when the hook gives one). x (B, T, C_in), W (C_out, C_in).
// site < 0 means "not an adapted projection" (k, o, FFN).
Tensor adapted_projection(const Tensor& x, const Tensor& weight, int site, const PetHook* hook);

// hook.prompt_prefix(embeddings) when the hook has one; else an undefined Tensor.
// embeddings (B, T, C) -> prefix (B, P, C), checked against B and C.
Tensor soft_prompt_prefix(const Tensor& embeddings, const PetHook* hook);

// The table ids are looked up in: `table` (V, C), with the hook's extra_vocab rows (E, C) below it.
// A copy of the table when there are extra rows: only generators with markers the model lacks pay it.
Tensor vocabulary_rows(const Tensor& table, const PetHook* hook);
// x (B, T, C) -> logits (B, T, V [+ E]): x head^T, then x extra_vocab^T when the hook has extra rows.
Tensor vocabulary_logits(const Tensor& x, const Tensor& head, const PetHook* hook);

// (B, T) U8 mask with `prefix_length` ones prepended: the soft prompt is always attended to.
Tensor prepend_ones_to_mask(const Tensor& mask, int64_t prefix_length);

// An I32 tensor on `device` from host values.
Tensor index_tensor(const std::vector<int64_t>& shape, const std::vector<int32_t>& values, Device device);

// Checks that `ids` is a (B, T) I32 tensor and `mask` (when defined) a (B, T_mask) U8 tensor.
void check_ids_and_mask(const Tensor& ids, const Tensor& mask, int64_t mask_extra_length, const char* where);
