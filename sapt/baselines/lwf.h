// lwf.h — LwF (Li & Hoiem, "Learning without Forgetting", TPAMI 2017, Eq. 2 with Hinton's temperature)
// on SeqLoRA: before task t the model is frozen as a teacher; while training task t the student's output
// distribution on the new task's inputs is pulled toward the teacher's,
//   L = CE + lambda * tau^2 * mean over answer positions of KL(softmax(z_old / tau) || softmax(z / tau)),
// with teacher forcing on the new task's labels (the positions a sequence model is trained on).
// Not here: the LoRA itself (sapt/lora.h).
#pragma once
#include "sapt/baselines/hooks.h"

// The logits the training loss is computed from: T5 decoder logits (B, Tt, V) under teacher forcing of
// batch.labels; LLaMA logits (B, T, V) of prompt + answer.
Tensor model_logits(const Model& model, const PetHook* hook, const Batch& batch, bool training);
// The cross-entropy of those logits (what model_loss returns).
Tensor logits_loss(const Model& model, const Tensor& logits, const Tensor& labels);
// (B, T) 0/1 per logits position: 1 where the position predicts an answer token (T5: label != -100;
// LLaMA: the next label != -100).
std::vector<float> answer_positions(ModelKind kind, const Tensor& labels);

// tau^2 * sum_p m_p KL(softmax(teacher_p / tau) || softmax(student_p / tau)) / sum_p m_p for student and
// teacher (B, T, V) (teacher a constant) and position weights m (B * T values, 0 or 1). A scalar with a
// gradient to the student; 0 when no position counts.
Tensor lwf_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                             const std::vector<float>& positions, float temperature);

MethodHooks lwf_hooks(const Model& model, SaptState& state, const BaselineOptions& options);
