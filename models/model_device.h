// model_device.h — putting a loaded model where it will run: its backbone weights copied to a device (the
// GPU), and, as issue 7's precision policy asks, its frozen weight matrices stored in bf16 (half the
// memory and the tensor-core GEMM input; what trains stays f32). Not here: the PET state, which moves with
// sapt/sapt_device.h, or an optimizer's moments (create the optimizer after moving its parameters).
// Also the --precision choice of the programs, which applies the same policy on the CPU.
#pragma once
#include <string>

#include "engine/tensor.h"
#include "models/model.h"

// Where the model's backbone lives (its embedding table's device).
Device model_device(const Model& model);

// Replaces every backbone weight by its copy on `device` (nothing to do for weights already there).
// Frozen weights stay frozen and trainable ones stay trainable, as new leaves without a gradient.
// Anything else holding the old tensors (a SaptState's embedding table) must be pointed at the new ones.
void model_to_device(Model& model, Device device);

// Stores every frozen 2-D f32 weight (projections, embedding tables, relative-position tables) in bf16,
// rounded to nearest even, on the device it lives on. Norm gains (1-D) stay f32: the norm kernels take
// f32 gains. Trainable weights (full fine-tuning) stay f32: there is no bf16 gradient. Returns the number
// of tensors converted.
int model_frozen_weights_to_bf16(Model& model);

// A --precision value for a freshly loaded model (before anything else holds its tensors):
//   "f32"  nothing changes;
//   "bf16" frozen weights stored in bf16 (model_frozen_weights_to_bf16: half the memory) and the CPU's
//          frozen-weight GEMMs multiply bf16 operands, summing in f32 (cpu_set_gemm_precision, for the whole
//          process) — the arithmetic of bf16 training on a GPU, about twice the f32 speed with AVX512-BF16.
// Any other value throws a sapt_error naming `option`. Returns the number of weights converted.
int model_apply_precision(Model& model, const std::string& precision, const std::string& option);

// Moves a model, after model_apply_precision, to `device` and sets that backend's GEMM precision to the
// same policy (bf16: tensor-core products of bf16 operands, f32 sums). Nothing to do on the CPU.
void model_place(Model& model, Device device, const std::string& precision);

// Throws that error now, for programs that check their options before doing any work.
void check_precision_name(const std::string& precision, const std::string& option);

// A --device value: the name of a registered backend (engine/backend.h), "cpu" or "cuda". Asking for cuda in a
// build without the CUDA backend, or on a machine without a usable GPU, throws a sapt_error saying which of the
// two and how to fix it — programs call this before they create or touch any output.
Device parse_device_option(const std::string& value, const std::string& option);
