// ewc.h — EWC (Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks", PNAS 2017,
// Eq. 3) on SeqLoRA: after each task j the diagonal Fisher F_j of the LoRA parameters is estimated from
// squared per-example gradients of the task's loss (the empirical Fisher), and later tasks train with
// L = CE + (lambda / 2) sum_j sum_i F_j,i (theta_i - theta*_j,i)^2, one anchor per earlier task.
// Not here: the LoRA itself (one block trained task after task, sapt/lora.h).
#pragma once
#include <functional>

#include "sapt/baselines/hooks.h"

// What EWC remembers of one finished task: the parameters and their diagonal Fisher (same shapes).
struct EwcAnchor {
    std::vector<Tensor> params;  // theta*_j (copies)
    std::vector<Tensor> fisher;  // F_j
};

// F_i = mean over examples of (d loss_example / d theta_i)^2. example_loss(k) returns the loss of example
// k (a scalar on the tape); `params` are the tensors the Fisher is taken for. Leaves no gradient behind.
std::vector<Tensor> ewc_diagonal_fisher(const std::vector<Tensor>& params, int num_examples,
                                        const std::function<Tensor(int)>& example_loss);

// (lambda / 2) sum_j sum_i F_j,i (params_i - theta*_j,i)^2: a scalar with a gradient to params
// (0 without anchors).
Tensor ewc_penalty(const std::vector<Tensor>& params, const std::vector<EwcAnchor>& anchors, float lambda);

MethodHooks ewc_hooks(const Model& model, SaptState& state, const BatchingOptions& batching,
                      const BaselineOptions& options);
