// tensor.h — the Tensor: a shape, a dtype, a device, and a reference-counted buffer of contiguous
// elements, plus what autograd needs (requires_grad, a lazily allocated gradient).
// Tensors are always contiguous: ops that change layout (transpose, permute, slice) copy. That keeps
// every kernel simple and is cheap next to the GEMMs. A Tensor is a handle: copying it shares the data.
// Not here: the ops (ops.h) and the tape (autograd.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernels.h"

enum class DType { F32, BF16, I32, U8 };
enum class Device { CPU, CUDA };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

// Raw memory. `owner` keeps alive whatever the bytes belong to (a heap block, a memory-mapped file, a
// device allocation): a tensor loaded from safetensors points straight into the mapping, no copy.
struct Buffer {
    void* data = nullptr;
    size_t bytes = 0;
    Device device = Device::CPU;
    std::shared_ptr<void> owner;
};
std::shared_ptr<Buffer> buffer_alloc(size_t bytes, Device device);  // zero-filled

// Bytes of the buffers tensor_empty / buffer_alloc hold right now on `device` (views of mapped files
// and other wrapped memory do not count), and the most held at once since the last reset. Tensors,
// gradients and whatever the tape keeps alive all live in such buffers, so the peak of a training step
// is what the memory planner (models/memory_plan.h) predicts. Counted across threads.
size_t tensor_bytes_live(Device device);
size_t tensor_bytes_peak(Device device);
void tensor_bytes_reset_peak(Device device);  // peak := live
std::shared_ptr<Buffer> buffer_wrap(void* data, size_t bytes, std::shared_ptr<void> owner);  // CPU view

struct TensorData {
    std::vector<int64_t> shape;
    DType dtype = DType::F32;
    std::shared_ptr<Buffer> buffer;
    size_t offset = 0;             // in bytes from buffer->data
    bool requires_grad = false;    // a leaf the optimizer trains, or a result that depends on one
    std::shared_ptr<Buffer> grad;  // f32, same element count; allocated on the first backward that reaches it
    std::string name;              // for error messages and checkpoints ("encoder.block.0.layer.0...")
    // Ids and masks copied to a device from the host keep a host copy of their bytes: host code that reads
    // them (T5's shift right, LLaMA's positions, a mask's prefix) then costs no copy back. Such tensors are
    // inputs, never written on the device.
    std::shared_ptr<TensorData> host_copy;
};

struct Tensor {
    std::shared_ptr<TensorData> data;

    bool defined() const { return data != nullptr; }
    const std::vector<int64_t>& shape() const { return data->shape; }
    int64_t dim(int i) const;      // negative i counts from the end
    int ndim() const { return (int)data->shape.size(); }
    int64_t numel() const;
    DType dtype() const { return data->dtype; }
    Device device() const { return data->buffer->device; }
    bool requires_grad() const { return data->requires_grad; }
    const std::string& name() const { return data->name; }

    void* raw() const { return (char*)data->buffer->data + data->offset; }
    float* f32() const;            // checks dtype F32
    bf16* bf16_data() const;       // checks dtype BF16
    int32_t* i32() const;          // checks dtype I32
    uint8_t* u8() const;           // checks dtype U8

    bool has_grad() const { return data->grad != nullptr; }
    float* grad() const;           // allocates a zero gradient on first use
    void zero_grad() const;        // frees nothing; fills with 0 if allocated
};

// Construction. All return contiguous tensors on `device` (CPU by default).
Tensor tensor_empty(const std::vector<int64_t>& shape, DType dtype = DType::F32, Device device = Device::CPU);
Tensor tensor_zeros(const std::vector<int64_t>& shape, DType dtype = DType::F32, Device device = Device::CPU);
Tensor tensor_full(const std::vector<int64_t>& shape, float value);
Tensor tensor_from(const std::vector<int64_t>& shape, const std::vector<float>& values);
Tensor tensor_from_i32(const std::vector<int64_t>& shape, const std::vector<int32_t>& values);
// A view of bytes owned elsewhere (an mmap): no copy; `owner` keeps them alive.
Tensor tensor_view(const std::vector<int64_t>& shape, DType dtype, void* data, std::shared_ptr<void> owner);
Tensor tensor_clone(const Tensor& t);                       // deep copy, requires_grad false
Tensor tensor_to_f32(const Tensor& t);                      // bf16 -> f32 (copy); f32 -> same tensor
Tensor tensor_to_bf16(const Tensor& t);                     // f32 -> bf16, round to nearest even
Tensor tensor_to_device(const Tensor& t, Device device);   // copy across devices (same tensor if equal)
// Sets `device_ids` (I32 or U8 on a device, holding the same bytes as `host_ids`) to remember a host copy.
void tensor_keep_host_copy(const Tensor& device_ids, const Tensor& host_ids);
std::vector<float> tensor_values(const Tensor& t);          // copy to host as f32, any dtype/device

std::string shape_str(const std::vector<int64_t>& shape);  // "(2, 3, 4)"
int64_t shape_numel(const std::vector<int64_t>& shape);

// The kernels of the tensor's device (cpu_kernels or cuda_kernels).
const Kernels& kernels_for(Device device);
