// l2p.cpp — the prompt pool: query, key matching, top-N choice, prefix and its hooks. See l2p.h.
#include "sapt/baselines/l2p.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "sapt/trainer.h"

PromptPool prompt_pool_create(const Tensor& embedding_table, int pool_size, int prompt_length, int top_n, Rng& rng) {
    if (pool_size <= 0 || prompt_length <= 0 || top_n <= 0 || top_n > pool_size) {
        fail("prompt_pool_create", "expected 0 < N <= M and L > 0 (got M " + std::to_string(pool_size) + ", L " +
                                       std::to_string(prompt_length) + ", N " + std::to_string(top_n) + ")");
    }
    const Tensor table = tensor_to_f32(tensor_to_device(embedding_table, Device::CPU));
    const int64_t V = table.dim(0), C = table.dim(1);
    PromptPool pool;
    pool.top_n = top_n;
    pool.keys = tensor_empty({pool_size, C});
    init_uniform(pool.keys, -1.0f, 1.0f, rng);
    pool.prompts = tensor_empty({pool_size, prompt_length, C});
    for (int64_t row = 0; row < (int64_t)pool_size * prompt_length; row++) {
        const int64_t token = rng_below(rng, (uint32_t)V);
        std::copy(table.f32() + token * C, table.f32() + (token + 1) * C, pool.prompts.f32() + row * C);
    }
    // Drawn on the host (the same numbers on every device), then placed where the embedding table lives.
    pool.keys = tensor_to_device(pool.keys, embedding_table.device());
    pool.prompts = tensor_to_device(pool.prompts, embedding_table.device());
    pool.keys.data->requires_grad = true;
    pool.keys.data->name = "l2p.keys";
    pool.prompts.data->requires_grad = true;
    pool.prompts.data->name = "l2p.prompts";
    return pool;
}

Tensor l2p_query(const Tensor& embedding_table, const Tensor& ids, const Tensor& mask) {
    if (ids.ndim() != 2 || mask.shape() != ids.shape()) {
        fail("l2p_query", "ids and mask must both be (B, T) (got " + shape_str(ids.shape()) + ", " +
                              shape_str(mask.shape()) + ")");
    }
    NoGradScope no_grad;
    // The mean over each row's tokens as one batched product: (B, 1, T) token weights 1/count (0 on padding)
    // times the (B, T, C) embeddings. The weights come from the mask's host copy; the rows stay on the device.
    const std::vector<float> m = tensor_values(mask);
    const int64_t B = ids.dim(0), T = ids.dim(1), C = embedding_table.dim(1);
    std::vector<float> weights((size_t)(B * T), 0.0f);
    for (int64_t b = 0; b < B; b++) {
        double tokens = 0;
        for (int64_t t = 0; t < T; t++) tokens += m[(size_t)(b * T + t)] != 0 ? 1 : 0;
        for (int64_t t = 0; t < T; t++) {
            if (m[(size_t)(b * T + t)] != 0) weights[(size_t)(b * T + t)] = 1.0f / (float)std::max(1.0, tokens);
        }
    }
    const Tensor w = tensor_to_device(tensor_from({B, 1, T}, weights), embedding_table.device());
    return reshape(matmul(w, tensor_to_f32(embedding(ids, embedding_table))), {B, C});
}

Tensor cosine_similarity_to_keys(const Tensor& query, const Tensor& keys) {
    if (query.ndim() != 2 || keys.ndim() != 2 || query.dim(1) != keys.dim(1)) {
        fail("cosine_similarity_to_keys", "expected query (B, C) and keys (M, C) (got " + shape_str(query.shape()) +
                                              ", " + shape_str(keys.shape()) + ")");
    }
    // On the host in double, wherever the tensors live: B queries and M keys of width C are a few KB, and
    // the top-N choice that follows is the host's anyway. Double sums keep exact ties tied (the choice
    // takes the lower index on a tie).
    const int64_t B = query.dim(0), M = keys.dim(0), C = keys.dim(1);
    const std::vector<float> q = tensor_values(query), k = tensor_values(keys);
    // Unit query rows and key norms (1e-8 floors them, as torch.nn.functional.normalize's eps).
    std::vector<float> q_unit(q.size()), key_norm((size_t)M);
    for (int64_t b = 0; b < B; b++) {
        double n = 0;
        for (int64_t c = 0; c < C; c++) n += (double)q[(size_t)(b * C + c)] * q[(size_t)(b * C + c)];
        const float inv = 1.0f / (float)std::max(std::sqrt(n), 1e-8);
        for (int64_t c = 0; c < C; c++) q_unit[(size_t)(b * C + c)] = q[(size_t)(b * C + c)] * inv;
    }
    for (int64_t m = 0; m < M; m++) {
        double n = 0;
        for (int64_t c = 0; c < C; c++) n += (double)k[(size_t)(m * C + c)] * k[(size_t)(m * C + c)];
        key_norm[(size_t)m] = (float)std::max(std::sqrt(n), 1e-8);
    }
    std::vector<float> cos((size_t)(B * M));
    for (int64_t b = 0; b < B; b++) {
        for (int64_t m = 0; m < M; m++) {
            double dot = 0;
            for (int64_t c = 0; c < C; c++) dot += (double)q_unit[(size_t)(b * C + c)] * k[(size_t)(m * C + c)];
            cos[(size_t)(b * M + m)] = (float)(dot / key_norm[(size_t)m]);
        }
    }
    Tensor out = tensor_to_device(tensor_from({B, M}, cos), keys.device());
    if (needs_grad({&keys})) {
        out.data->requires_grad = true;
        // d cos(q, k) / d k = q_unit / |k| - cos * k / |k|^2, summed on the host and added where keys live.
        tape_push("cosine_similarity_to_keys", [keys, out, q_unit, k, key_norm, cos, B, M, C]() {
            if (!out.has_grad()) return;
            std::vector<float> g((size_t)(B * M));
            copy_bytes(g.data(), Device::CPU, out.grad(), out.device(), g.size() * sizeof(float));
            std::vector<float> dk((size_t)(M * C), 0.0f);
            for (int64_t b = 0; b < B; b++) {
                for (int64_t m = 0; m < M; m++) {
                    const float gm = g[(size_t)(b * M + m)];
                    if (gm == 0.0f) continue;
                    const float n = key_norm[(size_t)m], c_bm = cos[(size_t)(b * M + m)];
                    for (int64_t c = 0; c < C; c++) {
                        dk[(size_t)(m * C + c)] += gm * (q_unit[(size_t)(b * C + c)] / n - c_bm * k[(size_t)(m * C + c)] / (n * n));
                    }
                }
            }
            const Tensor dk_there = tensor_to_device(tensor_from({M, C}, dk), keys.device());
            kernels_for(keys.device()).axpy(keys.grad(), 1.0f, dk_there.f32(), (size_t)(M * C));
        });
    }
    return out;
}

std::vector<std::vector<int>> top_n_indices(const Tensor& similarity, int n) {
    const int64_t B = similarity.dim(0), M = similarity.dim(1);
    if (n <= 0 || n > M) fail("top_n_indices", "expected 0 < N <= " + std::to_string(M) + ", got " + std::to_string(n));
    const std::vector<float> s = tensor_values(similarity);
    std::vector<std::vector<int>> chosen((size_t)B);
    for (int64_t b = 0; b < B; b++) {
        std::vector<int> order((size_t)M);
        for (int64_t m = 0; m < M; m++) order[(size_t)m] = (int)m;
        std::stable_sort(order.begin(), order.end(),
                         [&](int x, int y) { return s[(size_t)(b * M + x)] > s[(size_t)(b * M + y)]; });
        chosen[(size_t)b].assign(order.begin(), order.begin() + n);
    }
    return chosen;
}

void l2p_begin_batch(PromptPool& pool, const Tensor& embedding_table, const Tensor& ids, const Tensor& mask) {
    pool.query = l2p_query(embedding_table, ids, mask);
    NoGradScope no_grad;
    pool.chosen = top_n_indices(cosine_similarity_to_keys(pool.query, pool.keys), pool.top_n);
}

Tensor l2p_prefix(const PromptPool& pool) {
    if (pool.chosen.empty()) fail("l2p_prefix", "no batch armed (call l2p_begin_batch before the forward)");
    std::vector<Tensor> rows;
    for (const std::vector<int>& chosen : pool.chosen) {
        std::vector<Tensor> parts;
        for (int m : chosen) parts.push_back(slice(pool.prompts, 0, m, m + 1));  // (1, L, C)
        rows.push_back(concat(parts, 1));  // (1, N L, C)
    }
    return concat(rows, 0);
}

Tensor l2p_matching_loss(const PromptPool& pool) {
    if (pool.chosen.empty()) fail("l2p_matching_loss", "no batch armed (call l2p_begin_batch first)");
    const Tensor cos = cosine_similarity_to_keys(pool.query, pool.keys);  // (B, M)
    const int64_t B = cos.dim(0), M = cos.dim(1);
    std::vector<float> picked((size_t)(B * M), 0.0f);
    for (int64_t b = 0; b < B; b++) {
        for (int m : pool.chosen[(size_t)b]) picked[(size_t)(b * M + m)] = 1.0f;
    }
    // sum over chosen (1 - cos) / B = (chosen count - sum chosen cos) / B.
    const double count = (double)B * (double)pool.top_n;
    const Device device = cos.device();
    const Tensor chosen_cos = sum(mul(cos, tensor_to_device(tensor_from({B, M}, picked), device)));
    const Tensor count_tensor = tensor_to_device(tensor_from({1}, {(float)count}), device);
    return scale(add(scale(chosen_cos, -1.0f), count_tensor), 1.0f / (float)B);
}

MethodHooks l2p_hooks(const Model& model, const SaptState& state, const BaselineOptions& options) {
    MethodHooks hooks;
    hooks.learning_rate = options.prompt_lr;
    Rng rng = rng_make(options.seed, 6000);
    auto pool = std::make_shared<PromptPool>(prompt_pool_create(state.embedding_table, options.l2p_pool_size,
                                                                options.l2p_prompt_length, options.l2p_top_n, rng));
    const Model* m = &model;
    const Tensor table = state.embedding_table;
    const float lambda = options.l2p_match_lambda;
    hooks.trainable = [pool]() { return std::vector<Tensor>{pool->prompts, pool->keys}; };
    // The pool is all L2P learns: its prompts and keys go into the checkpoint and come back in place.
    hooks.save = [pool](MethodCheckpoint& out) {
        out.tensors.emplace_back("method.l2p.prompts", pool->prompts);
        out.tensors.emplace_back("method.l2p.keys", pool->keys);
        out.metadata = "pool";
    };
    hooks.restore = [pool](const SafeTensorsFile& file) {
        method_tensor_into(file, "method.l2p.prompts", pool->prompts);
        method_tensor_into(file, "method.l2p.keys", pool->keys);
    };
    PetHook hook;
    hook.prompt_prefix = [pool](const Tensor&) { return l2p_prefix(*pool); };
    hooks.hook = hook;
    hooks.begin_batch = [pool, table](const Tensor& ids, const Tensor& mask, bool) {
        l2p_begin_batch(*pool, table, ids, mask);
    };
    hooks.batch_loss = [m, pool, hook, lambda](const Batch& batch) {
        BatchLoss loss;
        loss.ce = model_loss(*m, &hook, batch, true);
        loss.extra = scale(l2p_matching_loss(*pool), lambda);
        return loss;
    };
    return hooks;
}
