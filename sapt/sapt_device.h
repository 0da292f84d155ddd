// sapt_device.h — the SAPT state on the device of its model: every SAPT tensor (LoRA banks or soft
// prompts, the SALS projector and keys) copied there, and new tasks added in place. Precision as issue 7
// asks: LoRA, prompts, keys and projector stay f32 whatever the backbone's dtype. Not here: moving the
// model (models/model_device.h) or the optimizer (create it from sapt_trainable_parameters after moving).
#pragma once
#include "engine/rng.h"
#include "engine/tensor.h"
#include "models/model.h"
#include "sapt/sapt.h"

// Moves every SAPT tensor to `device` and points the state at `model`'s embedding table, which must
// already live there (call model_to_device first). Trainable tensors stay trainable, as new leaves
// without a gradient; frozen ones stay frozen. The armed batch weights are dropped (sapt_begin_batch
// arms them again). The recorded reflection targets are host numbers and stay where they are.
void sapt_to_device(SaptState& state, const Model& model, Device device);

// sapt_add_task for a state wherever it lives (the device of its embedding table): the new task's
// blocks and key are drawn on the host from `rng`, so a GPU run draws exactly the numbers a CPU run from
// the same seed draws, and the whole state then returns to its device.
// On the CPU it is sapt_add_task.
void sapt_add_task_on_device(SaptState& state, Rng& rng);
