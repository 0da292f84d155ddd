// reflection.h — attentive reflection: keeping earlier tasks' selection where it was. After task j is
// trained we record its mean selection weights over held-out inputs (one vector, keys newest first);
// while training a later task t, a pseudo batch of task j is pulled toward y_j = [0 for each newer key,
// the recorded vector] with KLDivLoss(batchmean)(log_softmax(selection logits), y_j). Not here: the
// pseudo-sample generator (sapt/generator.h) or how often the loss is added (the trainer).
#pragma once
#include <vector>

#include "engine/tensor.h"

// Mean selection weights of one task, as the official code computes them: the mean over batches of
// each batch's mean weights.
struct SelectionRecord {
    std::vector<double> sum_of_batch_means;  // K
    int batches = 0;
};
// weights (B, K) of one batch (any device).
void selection_record_add(SelectionRecord& record, const Tensor& weights);
// The recorded vector (K), or throws when no batch was added.
std::vector<float> selection_record_finish(const SelectionRecord& record);

// y_j over the current K keys: K - len(recorded) zeros, then the recorded weights.
std::vector<float> reflection_target(const std::vector<float>& recorded, int num_tasks);

// logits (B, K) with a gradient -> KL(y || softmax(logits)) summed over tasks, mean over the batch.
Tensor reflection_kl(const Tensor& logits, const std::vector<float>& target);

// The factor a KL term is multiplied by: lambda / grad_accum by default (so that lambda means the same
// at any accumulation, like the CE, which the trainer divides by grad_accum); lambda under --compat
// official, whose trainer divides the CE but not the KL.
float reflection_weight(float lambda, int grad_accum, bool compat_official);
