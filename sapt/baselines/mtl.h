// mtl.h — MTL, the usual upper bound of continual-learning tables: one LoRA trained on the union of every
// task's training set at once (no sequence, so nothing to forget), then scored on each task. Its only
// meaningful score is AP; it fills the last row of the accuracy matrix. The training budget is the
// sequential one: the same epochs (or steps) over all the data. It trains on every training instance: the
// loop's held-out tenth (recorded selection targets, continual.cpp) is a SAPT need MTL does not have.
// Not here: the training loop (trainer.h).
#pragma once
#include "sapt/continual.h"

// A result whose matrix has only its last row (the score on each task after joint training); the other
// rows are NaN. options.method is ignored (the SeqLoRA row's single LoRA block is trained).
ContinualResult run_multitask(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                              const ContinualOptions& options);
