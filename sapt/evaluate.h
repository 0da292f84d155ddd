// evaluate.h — scoring the model on a task's test set: batched greedy decoding with the KV cache, with
// SAPT's selection weights computed once per sequence, then exact match (Long_Sequence) or ROUGE-L
// (SuperNI) by sapt/metrics, and the mean selection weights the task's inputs gave each PET block.
// Not here: sampling (generator.h), the accuracy matrix (continual.h).
#pragma once
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "models/model.h"
#include "sapt/baselines/hooks.h"
#include "sapt/batching.h"
#include "sapt/sapt.h"

struct EvalOptions {
    int batch_size = 16;
    int max_new_tokens = 50;     // the official generation length
    bool compat_official = false;  // score against the single drawn label instead of the best reference
};

struct EvalResult {
    double score = 0;                     // EM or ROUGE-L, percent
    std::vector<double> task_weights;     // mean selection weight per PET block, in TASK order (block of
                                          // task 0 first); empty without selection
    std::vector<std::string> predictions;
};

// Metric of a benchmark: exact match for Long_Sequence, ROUGE-L for SuperNI.
double benchmark_score(Benchmark benchmark, const std::vector<std::string>& predictions,
                       const std::vector<std::vector<std::string>>& references);

EvalResult evaluate_task(const Model& model, SaptState& state, const Tokenizer& tokenizer, Benchmark benchmark,
                         const std::vector<Instance>& test, const BatchingOptions& batching,
                         const EvalOptions& options, const MethodHooks* hooks = nullptr);

// Slot-ordered weights (current task first, then earlier tasks newest first) -> task order.
std::vector<double> slots_to_task_order(const std::vector<double>& slot_weights);
