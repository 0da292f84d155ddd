// prompt.h — the soft-prompt PET ("SAPT-Prompt"). The official release has no implementation, only
// remnants (init from random vocabulary embeddings, a commented-out concatenation of prompts), so this is
// our reading, written down here: one prompt P_k (L, C) per task, initialised from L random rows of the
// vocabulary embedding; the prefix of example b is sum_k w[b, k] P_k (the same weights that mix LoRAs),
// prepended to the input embeddings. We do not use the remnant's residual MLP re-parameterisation
// (prompt_encoder(P) + P): nothing in the release shows it was used together with the selection.
#pragma once
#include "engine/rng.h"
#include "engine/tensor.h"

struct PromptBank {
    Tensor current;   // (L, C), trainable
    Tensor previous;  // (K-1, L, C), frozen, newest first; undefined while K == 1
    int num_tasks() const { return 1 + (previous.defined() ? (int)previous.dim(0) : 0); }
};

// embedding_table (V, C) f32 or bf16: the current prompt copies L rows drawn uniformly from it.
PromptBank prompt_bank_create(const Tensor& embedding_table, int length, Rng& rng);
void prompt_bank_push_task(PromptBank& bank, const Tensor& embedding_table, Rng& rng);

// weights (B, K), or undefined for weight 1 on every task -> prefix (B, L, C).
Tensor prompt_bank_prefix(const PromptBank& bank, const Tensor& weights, int64_t B);
