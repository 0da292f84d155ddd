// batching.cpp — tokenizing instances and padding them into batches. See batching.h.
#include "sapt/batching.h"

#include <algorithm>

#include "engine/error.h"

PromptTokenizer prompt_tokenizer(const Tokenizer& tokenizer) {
    PromptTokenizer p;
    p.encode = [&tokenizer](const std::string& text) { return encode(tokenizer, text); };
    p.decode = [&tokenizer](const std::vector<int>& ids) { return decode(tokenizer, ids); };
    p.n_special_after = 1;  // T5's </s> after the prompt, LLaMA's <s> before it: one id of the budget
    return p;
}

EncodedExample encode_example(const Instance& instance, const Tokenizer& tokenizer, const BatchingOptions& options) {
    if (options.max_source_length < 2 || options.max_target_length < 1) {
        fail("batching", "max source length must be >= 2 and max target length >= 1 (got " +
                             std::to_string(options.max_source_length) + ", " +
                             std::to_string(options.max_target_length) + ")");
    }
    EncodedExample ex;
    std::vector<int> prompt = encode_prompt(instance.prompt, instance.input, options.max_source_length,
                                            prompt_tokenizer(tokenizer), options.cut);
    if (options.model_kind == ModelKind::T5) {
        ex.prompt = prompt;
        ex.prompt.push_back(options.eos_id);
    } else {
        ex.prompt.push_back(options.bos_id);
        ex.prompt.insert(ex.prompt.end(), prompt.begin(), prompt.end());
    }
    std::vector<int> label = encode(tokenizer, instance.label);
    if ((int)label.size() > options.max_target_length - 1) label.resize((size_t)options.max_target_length - 1);
    ex.label = label;
    ex.label.push_back(options.eos_id);
    return ex;
}

std::vector<EncodedExample> encode_examples(const std::vector<Instance>& instances, const Tokenizer& tokenizer,
                                            const BatchingOptions& options) {
    std::vector<EncodedExample> out;
    out.reserve(instances.size());
    for (const Instance& instance : instances) out.push_back(encode_example(instance, tokenizer, options));
    return out;
}

// Pads rows of ids to one length: right padding (T5) or left padding (LLaMA, so generation continues
// every row at the last column). Returns ids (B, T) and mask (B, T).
static void pad_rows(const std::vector<std::vector<int>>& rows, int pad_id, bool left, Tensor* ids, Tensor* mask) {
    size_t T = 1;
    for (const auto& r : rows) T = std::max(T, r.size());
    const int64_t B = (int64_t)rows.size();
    *ids = tensor_empty({B, (int64_t)T}, DType::I32);
    *mask = tensor_zeros({B, (int64_t)T}, DType::U8);
    int32_t* id = ids->i32();
    uint8_t* m = mask->u8();
    for (int64_t b = 0; b < B; b++) {
        const auto& r = rows[(size_t)b];
        const size_t start = left ? T - r.size() : 0;
        for (size_t t = 0; t < T; t++) {
            const bool inside = t >= start && t < start + r.size();
            id[b * (int64_t)T + (int64_t)t] = inside ? r[t - start] : pad_id;
            m[b * (int64_t)T + (int64_t)t] = inside ? 1 : 0;
        }
    }
}

Batch batch_to_device(const Batch& batch, Device device) {
    Batch out = batch;
    std::vector<std::pair<Tensor*, Tensor>> moved;  // (field, its host tensor), to keep shared tensors shared
    for (Tensor* field : {&out.input_ids, &out.mask, &out.labels, &out.selection_ids, &out.selection_mask}) {
        if (!field->defined()) continue;
        const Tensor host = *field;
        bool shared = false;
        for (const auto& [earlier, earlier_host] : moved) {
            if (earlier_host.data == host.data) {
                *field = *earlier;
                shared = true;
                break;
            }
        }
        if (!shared) *field = tensor_to_device(host, device);
        moved.emplace_back(field, host);
    }
    return out;
}

static Batch make_host_batch(const std::vector<EncodedExample>& examples, const std::vector<int>& rows,
                             const BatchingOptions& options, bool with_labels);

Batch make_batch(const std::vector<EncodedExample>& examples, const std::vector<int>& rows,
                 const BatchingOptions& options, bool with_labels) {
    const Batch batch = make_host_batch(examples, rows, options, with_labels);
    return options.device == Device::CPU ? batch : batch_to_device(batch, options.device);
}

static Batch make_host_batch(const std::vector<EncodedExample>& examples, const std::vector<int>& rows,
                             const BatchingOptions& options, bool with_labels) {
    if (rows.empty()) fail("make_batch", "a batch needs at least one row");
    Batch batch;
    batch.rows = rows;
    std::vector<std::vector<int>> prompts;
    for (int r : rows) {
        if (r < 0 || r >= (int)examples.size()) {
            fail("make_batch", "row out of range (expected < " + std::to_string(examples.size()) + ", got " +
                                   std::to_string(r) + ")");
        }
        prompts.push_back(examples[(size_t)r].prompt);
    }
    const bool llama = options.model_kind == ModelKind::Llama;
    pad_rows(prompts, options.pad_id, llama, &batch.selection_ids, &batch.selection_mask);
    if (!llama || !with_labels) {
        batch.input_ids = batch.selection_ids;
        batch.mask = batch.selection_mask;
    }
    for (const auto& p : prompts) batch.tokens += (int64_t)p.size();
    if (!with_labels) return batch;

    if (!llama) {
        std::vector<std::vector<int>> labels;
        size_t Tt = 1;
        for (int r : rows) {
            labels.push_back(examples[(size_t)r].label);
            Tt = std::max(Tt, labels.back().size());
            batch.tokens += (int64_t)labels.back().size();
        }
        batch.labels = tensor_empty({(int64_t)rows.size(), (int64_t)Tt}, DType::I32);
        int32_t* l = batch.labels.i32();
        for (size_t b = 0; b < labels.size(); b++) {
            for (size_t t = 0; t < Tt; t++) l[b * Tt + t] = t < labels[b].size() ? labels[b][t] : -100;
        }
        return batch;
    }
    // LLaMA: one left-padded sequence of prompt + answer; the loss sees only the answer.
    std::vector<std::vector<int>> full;
    for (size_t i = 0; i < rows.size(); i++) {
        std::vector<int> seq = prompts[i];
        const auto& label = examples[(size_t)rows[i]].label;
        seq.insert(seq.end(), label.begin(), label.end());
        full.push_back(seq);
        batch.tokens += (int64_t)label.size();
    }
    pad_rows(full, options.pad_id, true, &batch.input_ids, &batch.mask);
    // Left padding puts every answer at the end of its row: the last label.size() columns.
    const int64_t B = batch.input_ids.dim(0), T = batch.input_ids.dim(1);
    batch.labels = tensor_empty({B, T}, DType::I32);
    const int32_t* ids = batch.input_ids.i32();
    int32_t* l = batch.labels.i32();
    for (int64_t b = 0; b < B; b++) {
        const int64_t answer_start = T - (int64_t)examples[(size_t)rows[(size_t)b]].label.size();
        for (int64_t t = 0; t < T; t++) l[b * T + t] = t >= answer_start ? ids[b * T + t] : -100;
    }
    return batch;
}

std::vector<std::vector<int>> batch_rows(const std::vector<int>& order, int batch_size) {
    if (batch_size <= 0) fail("batch_rows", "batch size must be positive (got " + std::to_string(batch_size) + ")");
    std::vector<std::vector<int>> batches;
    for (size_t i = 0; i < order.size(); i += (size_t)batch_size) {
        batches.emplace_back(order.begin() + (long)i, order.begin() + (long)std::min(order.size(), i + (size_t)batch_size));
    }
    return batches;
}

std::vector<int> epoch_order(int n, Rng& rng, bool shuffle) {
    std::vector<int> order((size_t)n);
    for (int i = 0; i < n; i++) order[(size_t)i] = i;
    if (shuffle) rng_shuffle(rng, order);
    return order;
}
