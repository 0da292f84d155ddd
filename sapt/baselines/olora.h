// olora.h — O-LoRA (Wang et al., "Orthogonal Subspace Learning for Language Model Continual Learning",
// Findings of EMNLP 2023): a new LoRA per task, earlier ones frozen and summed with weight 1 (IncLoRA's
// layout), trained with L = CE + lambda1 L_orth + lambda2 L_2. The paper writes L_orth = sum ||A_i^T A_t||^2;
// we implement what its released trainer computes: at every adapted site sum |A_prev A_new^T| over every
// entry (L1), with A_prev the earlier tasks' stacked A ((K-1) R, C_in), and L_2 = the sum over the new A
// and B tensors of their Frobenius norms. Not here: the LoRA mix itself (sapt/lora.h).
#pragma once
#include "sapt/baselines/hooks.h"

// sum over sites of sum_ij |(previous_A current_A^T)_ij|: a scalar with a gradient to every current A.
// Zero (no gradient) while there is no earlier task.
Tensor olora_orthogonality_loss(const std::vector<LoraBank>& banks);
// sum over sites of ||current_A||_F + ||current_B||_F.
Tensor olora_l2_loss(const std::vector<LoraBank>& banks);

// ||t||_F as a differentiable scalar (gradient t / ||t||; 0 at t = 0).
Tensor frobenius_norm(const Tensor& t);

MethodHooks olora_hooks(const Model& model, SaptState& state, const BaselineOptions& options);
