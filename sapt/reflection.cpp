// reflection.cpp — recording a task's mean selection weights and the KL that keeps them.
#include "sapt/reflection.h"

#include "engine/error.h"
#include "engine/ops.h"

void selection_record_add(SelectionRecord& record, const Tensor& weights) {
    if (!weights.defined() || weights.ndim() != 2 || weights.dim(0) == 0) {
        fail("selection_record_add", "weights must be a non-empty (B, K) tensor");
    }
    const int64_t B = weights.dim(0), K = weights.dim(1);
    if (record.batches > 0 && (int64_t)record.sum_of_batch_means.size() != K) {
        fail("selection_record_add", "every batch must have the same number of tasks (expected " +
                                         std::to_string(record.sum_of_batch_means.size()) + ", got " + std::to_string(K) + ")");
    }
    record.sum_of_batch_means.resize((size_t)K, 0.0);
    const std::vector<float> values = tensor_values(weights);
    for (int64_t k = 0; k < K; k++) {
        double column = 0.0;
        for (int64_t b = 0; b < B; b++) column += values[b * K + k];
        record.sum_of_batch_means[k] += column / (double)B;
    }
    record.batches++;
}

std::vector<float> selection_record_finish(const SelectionRecord& record) {
    if (record.batches == 0) fail("selection_record_finish", "no batch was recorded (expected at least 1)");
    std::vector<float> mean;
    for (double sum : record.sum_of_batch_means) mean.push_back((float)(sum / record.batches));
    return mean;
}

std::vector<float> reflection_target(const std::vector<float>& recorded, int num_tasks) {
    if (recorded.empty() || (int)recorded.size() > num_tasks) {
        fail("reflection_target", "recorded weights must cover 1.." + std::to_string(num_tasks) + " tasks (got " +
                                      std::to_string(recorded.size()) + ")");
    }
    // Keys newer than the recorded task (the current one included) should get nothing on its inputs.
    std::vector<float> target((size_t)num_tasks - recorded.size(), 0.0f);
    target.insert(target.end(), recorded.begin(), recorded.end());
    return target;
}

Tensor reflection_kl(const Tensor& logits, const std::vector<float>& target) {
    if (logits.ndim() != 2 || logits.dim(1) != (int64_t)target.size()) {
        fail("reflection_kl", "logits must be (B, K) with K = " + std::to_string(target.size()) + " (got " +
                                  shape_str(logits.shape()) + ")");
    }
    const int64_t B = logits.dim(0), K = logits.dim(1);
    std::vector<float> rows;
    for (int64_t b = 0; b < B; b++) rows.insert(rows.end(), target.begin(), target.end());
    const Tensor y = tensor_to_device(tensor_from({B, K}, rows), logits.device());
    return kl_div_batchmean(log_softmax(logits), y);
}

float reflection_weight(float lambda, int grad_accum, bool compat_official) {
    if (grad_accum <= 0) fail("reflection_weight", "gradient accumulation must be positive (got " + std::to_string(grad_accum) + ")");
    return compat_official ? lambda : lambda / (float)grad_accum;
}
