// l2p.h — L2P (Wang et al., "Learning to Prompt for Continual Learning", CVPR 2022, Eq. 3-5) as prompt
// tuning of a frozen language model: one pool of M prompts P_m (L, C) with learnable keys k_m (C), shared
// by every task. An input's query q(x) is the mean of its frozen token embeddings over its tokens (L2P
// takes the frozen model's [CLS] feature; an extra frozen encoder pass per batch would double the cost,
// and the token embeddings are what SAPT's selection reads too). The N keys most cosine-similar to q(x)
// pick the prompts, concatenated into an (N L, C) prefix; training adds
//   lambda * (1/B) sum_b sum_{m chosen for b} (1 - cos(q(x_b), k_m))
// (Eq. 5's surrogate, pulling chosen keys toward their queries). Not here: how the prefix enters the
// model (the PET hook's prompt_prefix).
#pragma once
#include <memory>

#include "sapt/baselines/hooks.h"

struct PromptPool {
    Tensor keys;     // (M, C), trainable, U(-1, 1) as L2P's uniform key init
    Tensor prompts;  // (M, L, C), trainable, each prompt copied from L random vocabulary rows
    int top_n = 5;   // N
    // Armed by l2p_begin_batch:
    Tensor query;                         // (B, C), constant
    std::vector<std::vector<int>> chosen;  // B rows of N pool indices, most similar first
};

PromptPool prompt_pool_create(const Tensor& embedding_table, int pool_size, int prompt_length, int top_n, Rng& rng);

// q(x): ids (B, T) I32, mask (B, T) U8 -> the mean of the frozen rows of embedding_table over each row's
// tokens (B, C), a constant.
Tensor l2p_query(const Tensor& embedding_table, const Tensor& ids, const Tensor& mask);

// cos(q_b, k_m) for query (B, C) (a constant) and keys (M, C): (B, M) with a gradient to the keys.
Tensor cosine_similarity_to_keys(const Tensor& query, const Tensor& keys);

// The N largest entries of each row of similarity (B, M), largest first (the lower index on ties).
std::vector<std::vector<int>> top_n_indices(const Tensor& similarity, int n);

// Computes the query and the chosen prompts of a batch and keeps them in the pool.
void l2p_begin_batch(PromptPool& pool, const Tensor& embedding_table, const Tensor& ids, const Tensor& mask);
// The armed batch's prefix (B, N L, C): example b's chosen prompts, concatenated most similar first.
Tensor l2p_prefix(const PromptPool& pool);
// (1/B) sum_b sum_{m chosen for b} (1 - cos(q_b, k_m)) of the armed batch, with a gradient to the keys.
Tensor l2p_matching_loss(const PromptPool& pool);

MethodHooks l2p_hooks(const Model& model, const SaptState& state, const BaselineOptions& options);
