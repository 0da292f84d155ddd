// prompt.cpp — soft prompts per task and their weighted sum (see prompt.h for what is ours).
#include "sapt/prompt.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

static Tensor draw_prompt(const Tensor& embedding_table, int length, Rng& rng) {
    if (!embedding_table.defined() || embedding_table.ndim() != 2 || length <= 0) {
        fail("prompt_bank_create", "need a (V, C) embedding table and a positive prompt length (got length " +
                                       std::to_string(length) + ")");
    }
    std::vector<int32_t> rows((size_t)length);
    for (int32_t& row : rows) row = (int32_t)rng_below(rng, (uint32_t)embedding_table.dim(0));
    Tensor prompt;
    {
        NoGradScope no_grad;
        const Tensor ids = tensor_to_device(tensor_from_i32({length}, rows), embedding_table.device());
        prompt = tensor_clone(embedding(ids, embedding_table));  // (L, C) f32, its own copy
    }
    prompt.data->requires_grad = true;
    prompt.data->name = "prompt.current";
    return prompt;
}

PromptBank prompt_bank_create(const Tensor& embedding_table, int length, Rng& rng) {
    PromptBank bank;
    bank.current = draw_prompt(embedding_table, length, rng);
    return bank;
}

void prompt_bank_push_task(PromptBank& bank, const Tensor& embedding_table, Rng& rng) {
    {
        NoGradScope no_grad;
        const int64_t L = bank.current.dim(0), C = bank.current.dim(1);
        const Tensor finished = reshape(bank.current, {1, L, C});
        Tensor all = bank.previous.defined() ? concat({finished, bank.previous}, 0) : finished;
        bank.previous = tensor_clone(all);  // frozen, newest first
    }
    bank.previous.data->name = "prompt.previous";
    bank.current = draw_prompt(embedding_table, (int)bank.current.dim(0), rng);
}

Tensor prompt_bank_prefix(const PromptBank& bank, const Tensor& weights, int64_t B) {
    const int64_t K = bank.num_tasks(), L = bank.current.dim(0), C = bank.current.dim(1);
    if (weights.defined() && (weights.ndim() != 2 || weights.dim(0) != B || weights.dim(1) != K)) {
        fail("prompt_bank_prefix", "mix weights must be (B, K) = " + shape_str({B, K}) + " (got " +
                                       shape_str(weights.shape()) + ")");
    }
    // Prompts as rows (K, L*C): the mix is one (B, K) x (K, L*C) product.
    Tensor rows = reshape(bank.current, {1, L * C});
    if (K > 1) rows = concat({rows, reshape(bank.previous, {K - 1, L * C})}, 0);
    const Tensor w = weights.defined() ? weights : tensor_to_device(tensor_full({B, K}, 1.0f), rows.device());
    return reshape(matmul(w, rows), {B, L, C});
}
