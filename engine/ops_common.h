// ops_common.h — what the ops_*.cpp files share: input checks that throw sapt_error naming the op, the
// helper that records a backward closure on the tape, and small host/device conveniences.
// Internal to the engine: model code includes engine/ops.h, never this file.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/ops.h"

// Throws unless `t` is defined and f32 ("matmul: a must be f32 (got bf16)").
void check_f32(const char* op, const Tensor& t, const char* what);
// Throws unless `t` is defined with the given dtype.
void check_dtype(const char* op, const Tensor& t, DType dtype, const char* what);
// Throws unless every defined tensor lives on the device of the first.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws when a bf16 tensor asks for a gradient: bf16 weights are frozen (no bf16 gradient exists).
void check_frozen_if_bf16(const char* op, const Tensor& t, const char* what);

// Marks `out` as depending on a trainable tensor and pushes `body` on the tape. The body runs during
// backward(loss) only when `out` received a gradient (an output the loss does not use costs nothing).
void record_backward(const char* op, const Tensor& out, std::function<void()> body);

// Row-major strides (in elements) of a contiguous tensor of `shape`.
std::vector<long> contiguous_strides(const std::vector<int64_t>& shape);
// The gradient buffer of `t` when it requires one, else nullptr (kernels take nullptr as "not needed").
float* grad_or_null(const Tensor& t);
// A zeroed f32 scratch tensor; for kernels that need a gradient slot the caller will not use.
Tensor scratch_like(const Tensor& t);
// Reads one float that may live on the GPU.
float read_scalar(const float* value, Device device);
// Copies an I32 tensor to the host (to validate indices before a kernel uses them).
std::vector<int32_t> host_i32(const Tensor& t);
