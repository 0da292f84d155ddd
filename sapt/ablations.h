// ablations.h — the two ablations of SAPT, each one component removed and everything else as in SAPT
// (same blocks, keys, projector, generators, targets and test-time selection):
//   sapt-no-arm   no attentive reflection: no pseudo-sample generator is trained, no pseudo sample is
//                 drawn and no KL term is added (a row of the method table, sapt/methods.cpp: reflection off).
//   sapt-no-sals  no shared attentive learning: while task t trains, its task loss runs through block t
//                 alone (weight 1 on it, 0 on every earlier block), so the mixture is not learned through the
//                 task loss and no earlier block helps the new task. The selection (the current key and the
//                 projector) is learned apart, as a task classifier: KL(one-hot(t) || a(x)) = -log a_t(x) on
//                 the same training batch, weight 1, beside ARM's reflection KL on earlier tasks' pseudo
//                 samples. At test time inputs are routed by the learned selection as in SAPT.
// The paper's own ablation table was not available to us (../shared/docs/SAPT.md, section 6.3); these are
// the definitions the issue gives, made exact. Not here: the loop (continual.h), the method rows.
#pragma once
#include "models/model.h"
#include "sapt/baselines/hooks.h"
#include "sapt/sapt.h"

// The hooks of sapt-no-sals: a training batch's loss runs with the one-hot weights of the current block, plus
// the task-classifier term; evaluation batches are armed by SALS as in SAPT. `model` and `state` must outlive them.
MethodHooks no_sals_hooks(const Model& model, SaptState& state);

// The weights a sapt-no-sals training batch runs with: (B, K), 1 on the current block (slot 0), 0 elsewhere.
Tensor current_block_weights(int64_t batch, int num_tasks);
