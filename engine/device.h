// device.h — the memory functions tensor.cpp needs from a GPU backend: allocate, free, zero and copy raw
// bytes. kernels/cuda implements the first four (cudaMalloc, cudaFree, cudaMemset, cudaMemcpy); they
// exist only in a SAPT_CUDA build. copy_bytes is always available (tensor.cpp): a memcpy between host
// buffers, device_copy as soon as one side lives on the GPU. Nothing here knows about shapes or dtypes.
// Also what a program reports about device memory: the label of what is being allocated (for the
// out-of-memory message) and the memory in use / free (engine/device_memory.cpp, memory.cu).
#pragma once
#include <cstddef>
#include <string>

#include "engine/tensor.h"

#ifdef SAPT_CUDA
void* device_alloc(size_t bytes);  // uninitialised; throws sapt_error when the GPU is out of memory
void device_free(void* ptr);
void device_zero(void* ptr, size_t bytes);
// dst_dev / src_dev say which side is GPU memory (host to device, device to host, device to device).
void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void device_traffic_count_sync();  // for the backend's own waits (cuda_synchronize)
#endif

// What crossed between host and device since the process started — copies and their bytes each way —
// and how often the host waited for the device. A training step's budget is asserted with it: in the
// steady state only the batch's token ids go in and a few scalars come out. All zero without CUDA.
struct DeviceTraffic {
    long long to_device_copies = 0, to_device_bytes = 0;
    long long to_host_copies = 0, to_host_bytes = 0;
    long long synchronizations = 0;
};
DeviceTraffic device_traffic();
// Bytes of device memory in use now (0 without CUDA): for progress lines.
size_t device_memory_in_use();

// Copies `bytes` from src to dst on whatever devices they live (both CPU: memcpy).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

#ifdef SAPT_CUDA
// The device memory as the caching allocator (memory.cu) and the GPU see it. On a real GPU free and total
// come from cudaMemGetInfo; under the CPU emulation, whose device memory is host heap, they are the
// host's free and total memory.
struct DeviceMemoryInfo {
    size_t in_use = 0;  // bytes handed out by device_alloc and not yet freed (rounded block sizes)
    size_t cached = 0;  // freed blocks the allocator keeps for reuse (not returned to the GPU)
    size_t free = 0, total = 0;
    bool emulated = false;
};
DeviceMemoryInfo device_memory_info();
#endif

// What the allocations of this thread are for, while the scope lives ("weight model.layers.3.mlp.up_proj
// .weight (11008, 4096) bf16"): device_alloc names it when the GPU runs out of memory. Scopes nest; the
// innermost label wins and the outer one comes back when it ends. Available in every build.
struct DeviceAllocLabel {
    explicit DeviceAllocLabel(const std::string& label);
    ~DeviceAllocLabel();
    DeviceAllocLabel(const DeviceAllocLabel&) = delete;
    DeviceAllocLabel& operator=(const DeviceAllocLabel&) = delete;
    std::string previous;
};
const std::string& device_alloc_label();  // "" outside any scope

// One line for logs: "device memory: 1532.0 MiB in use, 64.0 MiB cached; GPU 77012.4 MiB free of
// 81559.3 MiB" (under the emulation, host memory stands for the GPU's). In a build without the CUDA
// backend it says so.
std::string device_memory_summary();
