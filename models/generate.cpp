// generate.cpp — the decoding loops and T5's cached decoder step. See generate.h.
#include "models/generate.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "models/layers.h"

std::vector<int32_t> argmax_last_position(const Tensor& logits) {
    int64_t B = logits.dim(0), T = logits.dim(1), V = logits.dim(2);
    Tensor last = T == 1 ? logits : slice(logits, 1, T - 1, T);
    std::vector<float> values = tensor_values(last);
    std::vector<int32_t> best((size_t)B, 0);
    for (int64_t b = 0; b < B; b++) {
        const float* row = values.data() + b * V;
        for (int64_t v = 1; v < V; v++) {
            if (row[v] > row[best[b]]) best[b] = (int32_t)v;
        }
    }
    return best;
}

// Bookkeeping shared by both loops: which rows are done, and the tokens each row produced.
struct GreedyState {
    std::vector<std::vector<int32_t>> produced;
    std::vector<bool> finished;
    int eos_id, pad_id;
    bool stop_at_eos;

    // Records this step's tokens; returns the tokens to feed next (pad for finished rows).
    std::vector<int32_t> record(const std::vector<int32_t>& next) {
        std::vector<int32_t> feed(next.size());
        for (size_t b = 0; b < next.size(); b++) {
            if (finished[b]) {
                feed[b] = pad_id;
                continue;
            }
            produced[b].push_back(next[b]);
            feed[b] = next[b];
            if (stop_at_eos && next[b] == eos_id) finished[b] = true;
        }
        return feed;
    }
    bool all_finished() const {
        for (bool f : finished)
            if (!f) return false;
        return true;
    }
};

// This step's token per row: the argmax, or the caller's choice for each unfinished row in row order
// (finished rows get 0, which record() ignores).
static std::vector<int32_t> next_tokens(const Tensor& logits, const GreedyState& state, const GenerateOptions& options) {
    if (!options.choose_next) return argmax_last_position(logits);
    int64_t B = logits.dim(0), T = logits.dim(1), V = logits.dim(2);
    std::vector<float> values = tensor_values(T == 1 ? logits : slice(logits, 1, T - 1, T));
    std::vector<int32_t> next((size_t)B, 0);
    for (int64_t b = 0; b < B; b++) {
        if (!state.finished[b]) next[b] = options.choose_next(b, values.data() + b * V, V, state.produced[b]);
    }
    return next;
}

static GreedyState greedy_state(int64_t B, int eos_id, int pad_id, const GenerateOptions& options) {
    if (options.max_new_tokens < 0)
        fail("generate", "max_new_tokens must be >= 0 (got " + std::to_string(options.max_new_tokens) + ")");
    return GreedyState{std::vector<std::vector<int32_t>>((size_t)B), std::vector<bool>((size_t)B, false), eos_id,
                       pad_id, options.stop_at_eos};
}

// ---- T5 ---------------------------------------------------------------------------------------------

// Per decoder block: self-attention keys/values of the tokens so far, cross-attention keys/values of
// the encoder output (computed once; the hook's v delta included).
struct T5DecoderCache {
    std::vector<Tensor> self_k, self_v, cross_k, cross_v;
    int length = 0;
};

// One new decoder token per row: ids (B, 1) -> logits (B, 1, V).
static Tensor t5_decode_step(const T5Model& model, const Tensor& ids, const T5EncoderOutput& encoded,
                             T5DecoderCache& cache, const PetHook* hook) {
    const T5Config& c = model.config;
    T5RunOptions eval;
    Tensor h = embedding(ids, vocabulary_rows(model.shared, hook));  // (B, 1, C)
    Tensor bias = t5_position_bias(model.decoder_relative_bias, c, false, cache.length, 1, cache.length + 1);
    bool first = cache.self_k.empty();
    if (first) {
        size_t n = model.decoder.size();
        cache.self_k.resize(n), cache.self_v.resize(n), cache.cross_k.resize(n), cache.cross_v.resize(n);
    }
    for (size_t i = 0; i < model.decoder.size(); i++) {
        const T5Block& block = model.decoder[i];
        Tensor x = rms_norm(h, block.self_attn_norm, c.layer_norm_epsilon);
        Tensor k, v;
        t5_keys_values(model, block.self_attn, x, hook, &k, &v);
        if (!first) {
            k = concat({cache.self_k[i], k}, 1);
            v = concat({cache.self_v[i], v}, 1);
        }
        cache.self_k[i] = k;
        cache.self_v[i] = v;
        // The one query sits after every cached key: nothing to mask causally.
        h = add(h, t5_attention_core(model, block.self_attn, x, k, v, bias, Tensor{}, false, hook));

        x = rms_norm(h, block.cross_attn_norm, c.layer_norm_epsilon);
        if (first) t5_keys_values(model, block.cross_attn, encoded.states, hook, &cache.cross_k[i], &cache.cross_v[i]);
        h = add(h, t5_attention_core(model, block.cross_attn, x, cache.cross_k[i], cache.cross_v[i], Tensor{},
                                     encoded.mask, false, hook));
        x = rms_norm(h, block.ffn_norm, c.layer_norm_epsilon);
        h = add(h, t5_feed_forward(model, block.ffn, x, eval));
    }
    cache.length++;
    return t5_logits(model, rms_norm(h, model.decoder_final_norm, c.layer_norm_epsilon), hook);
}

std::vector<std::vector<int32_t>> t5_generate(const T5Model& model, const Tensor& input_ids, const Tensor& mask,
                                              const PetHook* hook, const GenerateOptions& options) {
    NoGradScope no_grad;
    const T5Config& c = model.config;
    int64_t B = input_ids.dim(0);
    Device device = model.shared.device();
    T5EncoderOutput encoded = t5_encode(model, input_ids, mask, hook, T5RunOptions{});
    GreedyState state = greedy_state(B, c.eos_token_id, c.pad_token_id, options);
    std::vector<int32_t> feed((size_t)B, c.decoder_start_token_id);
    std::vector<int32_t> all_ids = feed;  // (B, steps) row-major, for the uncached path
    T5DecoderCache cache;
    for (int step = 0; step < options.max_new_tokens && !state.all_finished(); step++) {
        Tensor logits;
        if (options.use_cache) {
            logits = t5_decode_step(model, index_tensor({B, 1}, feed, device), encoded, cache, hook);
        } else {
            logits =
                t5_decode(model, index_tensor({B, (int64_t)step + 1}, all_ids, device), encoded, hook, T5RunOptions{});
        }
        feed = state.record(next_tokens(logits, state, options));
        std::vector<int32_t> grown;
        for (int64_t b = 0; b < B; b++) {
            grown.insert(grown.end(), all_ids.begin() + b * (step + 1), all_ids.begin() + (b + 1) * (step + 1));
            grown.push_back(feed[b]);
        }
        all_ids.swap(grown);
    }
    return state.produced;
}

// ---- LLaMA ------------------------------------------------------------------------------------------

std::vector<std::vector<int32_t>> llama_generate(const LlamaModel& model, const Tensor& prompt_ids, const Tensor& mask,
                                                 const PetHook* hook, const GenerateOptions& options) {
    NoGradScope no_grad;
    check_ids_and_mask(prompt_ids, mask, 0, "llama_generate");
    const LlamaConfig& c = model.config;
    int64_t B = prompt_ids.dim(0), T = prompt_ids.dim(1);
    Device device = model.embed.device();
    GreedyState state = greedy_state(B, c.eos_token_id, c.pad_token_id, options);

    // Host copies of the growing sequence and mask (B, T + step), row-major.
    std::vector<float> id_values = tensor_values(prompt_ids);
    std::vector<int32_t> ids(id_values.begin(), id_values.end());
    std::vector<uint8_t> mask_values((size_t)(B * T), 1);
    if (mask.defined()) {
        Tensor host = tensor_to_device(mask, Device::CPU);
        for (int64_t i = 0; i < B * T; i++) mask_values[i] = host.u8()[i];
    }
    auto mask_tensor = [&](int64_t length) {
        Tensor m = tensor_empty({B, length}, DType::U8);
        for (int64_t i = 0; i < B * length; i++) m.u8()[i] = mask_values[i];
        return tensor_to_device(m, device);
    };

    LlamaCache cache;
    std::vector<int32_t> feed;
    for (int step = 0; step < options.max_new_tokens && !state.all_finished(); step++) {
        int64_t length = T + step;
        Tensor m = mask_tensor(length);
        Tensor logits;
        if (!options.use_cache) {
            logits = llama_forward(model, index_tensor({B, length}, ids, device), m, llama_generation_positions(m),
                                   hook, nullptr, true);
        } else if (step == 0) {
            logits = llama_forward(model, index_tensor({B, T}, ids, device), m, llama_generation_positions(m), hook,
                                   &cache, true);
        } else {
            // HF: the new token's position is cumsum(mask) - 1 = the number of tokens before it.
            std::vector<int32_t> positions((size_t)B, -1);
            for (int64_t b = 0; b < B; b++) {
                for (int64_t t = 0; t < length; t++) positions[b] += mask_values[b * length + t];
            }
            logits = llama_forward(model, index_tensor({B, 1}, feed, device), m,
                                   index_tensor({B, 1}, positions, device), hook, &cache, true);
        }
        feed = state.record(next_tokens(logits, state, options));
        // Append the new column: every row attends to its new token (HF extends the mask with ones).
        std::vector<int32_t> grown_ids;
        std::vector<uint8_t> grown_mask;
        for (int64_t b = 0; b < B; b++) {
            grown_ids.insert(grown_ids.end(), ids.begin() + b * length, ids.begin() + (b + 1) * length);
            grown_ids.push_back(feed[b]);
            grown_mask.insert(grown_mask.end(), mask_values.begin() + b * length,
                              mask_values.begin() + (b + 1) * length);
            grown_mask.push_back(1);
        }
        ids.swap(grown_ids);
        mask_values.swap(grown_mask);
    }
    return state.produced;
}

std::vector<std::vector<int32_t>> model_generate(const Model& model, const Tensor& input_ids, const Tensor& mask,
                                                 const PetHook* hook, const GenerateOptions& options) {
    if (model.kind == ModelKind::T5) return t5_generate(model.t5, input_ids, mask, hook, options);
    return llama_generate(model.llama, input_ids, mask, hook, options);
}
