// evaluate.cpp — greedy evaluation of one task. See evaluate.h.
#include "sapt/evaluate.h"

#include "engine/autograd.h"
#include "engine/distributed.h"
#include "models/generate.h"
#include "sapt/data_parallel.h"
#include "sapt/metrics.h"

double benchmark_score(Benchmark benchmark, const std::vector<std::string>& predictions,
                       const std::vector<std::vector<std::string>>& references) {
    MetricScores scores = compute_metrics(predictions, references);
    return benchmark == Benchmark::long_sequence ? scores.exact_match : scores.rougeL;
}

std::vector<double> slots_to_task_order(const std::vector<double>& slot_weights) {
    return std::vector<double>(slot_weights.rbegin(), slot_weights.rend());
}

EvalResult evaluate_task(const Model& model, SaptState& state, const Tokenizer& tokenizer, Benchmark benchmark,
                         const std::vector<Instance>& test, const BatchingOptions& batching,
                         const EvalOptions& options, const MethodHooks* hooks) {
    NoGradScope no_grad;
    EvalResult result;
    const std::vector<EncodedExample> examples = encode_examples(test, tokenizer, batching);
    const PetHook hook = method_hook(hooks, state);
    GenerateOptions generate;
    generate.max_new_tokens = options.max_new_tokens;
    std::vector<int> all((size_t)examples.size());
    for (size_t i = 0; i < all.size(); i++) all[i] = (int)i;
    const std::vector<std::vector<int>> batches = batch_rows(all, options.batch_size);
    // Data parallel: each rank decodes a contiguous run of whole batches, padded as one process pads them,
    // so the predictions are those of one process; every rank then reads all of them in batch order.
    const auto [first, last] = rank_share((int)batches.size(), dist_rank(), dist_world_size());
    std::string mine;  // per batch: its selection weights (B, K) and its predictions
    for (int b = first; b < last; b++) {
        const Batch batch = make_batch(examples, batches[(size_t)b], batching, false);
        SalsOutput selection = method_begin_batch(hooks, state, model, batch.selection_ids, batch.selection_mask, false);
        const std::vector<float> weights =
            selection.weights.defined() ? tensor_values(selection.weights) : std::vector<float>{};
        blob_put_u64(mine, selection.weights.defined() ? (uint64_t)selection.weights.dim(1) : 0);
        blob_put_floats(mine, weights);
        const auto produced = model_generate(model, batch.input_ids, batch.mask, &hook, generate);
        blob_put_u64(mine, produced.size());
        for (auto ids : produced) {
            if (!ids.empty() && ids.back() == batching.eos_id) ids.pop_back();
            blob_put_string(mine, decode(tokenizer, std::vector<int>(ids.begin(), ids.end())));
        }
    }
    tape_clear();
    // Every rank reads the batches in order and adds the weights in one process's order: the same doubles.
    std::vector<double> slot_sums;
    for (const std::string& blob : dist_all_gather(mine)) {
        BlobReader in{blob};
        while (!blob_done(in)) {
            const size_t K = (size_t)blob_u64(in);
            const std::vector<float> w = blob_floats(in);  // (B, K)
            if (K > 0) slot_sums.resize(K, 0.0);
            for (size_t i = 0; i < w.size(); i++) slot_sums[i % K] += w[i];
            for (uint64_t n = blob_u64(in); n > 0; n--) result.predictions.push_back(blob_string(in));
        }
    }
    std::vector<std::vector<std::string>> references;
    for (const Instance& instance : test) {
        references.push_back(options.compat_official ? std::vector<std::string>{instance.label} : instance.outputs);
    }
    result.score = benchmark_score(benchmark, result.predictions, references);
    if (!slot_sums.empty()) {
        for (double& s : slot_sums) s /= (double)test.size();
        result.task_weights = slots_to_task_order(slot_sums);
    }
    return result;
}
