// evaluate.cpp — greedy evaluation of one task. See evaluate.h.
#include "sapt/evaluate.h"

#include "engine/autograd.h"
#include "models/generate.h"
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
    std::vector<double> slot_sums;
    std::vector<int> all((size_t)examples.size());
    for (size_t i = 0; i < all.size(); i++) all[i] = (int)i;
    for (const std::vector<int>& rows : batch_rows(all, options.batch_size)) {
        const Batch batch = make_batch(examples, rows, batching, false);
        SalsOutput selection = method_begin_batch(hooks, state, model, batch.selection_ids, batch.selection_mask, false);
        if (selection.weights.defined()) {
            const std::vector<float> w = tensor_values(selection.weights);  // (B, K)
            const size_t K = (size_t)selection.weights.dim(1);
            slot_sums.resize(K, 0.0);
            for (size_t i = 0; i < w.size(); i++) slot_sums[i % K] += w[i];
        }
        const auto produced = model_generate(model, batch.input_ids, batch.mask, &hook, generate);
        for (auto ids : produced) {
            if (!ids.empty() && ids.back() == batching.eos_id) ids.pop_back();
            result.predictions.push_back(decode(tokenizer, std::vector<int>(ids.begin(), ids.end())));
        }
    }
    tape_clear();
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
