// device.h — what the engine and the programs know about device memory, whatever the backend: the bytes that
// crossed between host and device, the memory in use, copy_bytes between any two devices, and the label of
// what is being allocated (for the out-of-memory message). Each figure comes from the backends of the registry
// (engine/backend.h), so nothing here depends on which backends a build has. Nothing here knows about shapes.
#pragma once
#include <cstddef>
#include <string>

#include "engine/tensor.h"

// What crossed between host and device since the process started — copies and their bytes each way —
// and how often the host waited for the device. A training step's budget is asserted with it: in the
// steady state only the batch's token ids go in and a few scalars come out. All zero without a GPU backend.
struct DeviceTraffic {
    long long to_device_copies = 0, to_device_bytes = 0;
    long long to_host_copies = 0, to_host_bytes = 0;
    long long synchronizations = 0;
};
DeviceTraffic device_traffic();  // summed over the registered backends
// Bytes of device memory in use now (0 without a GPU backend): for progress lines.
size_t device_memory_in_use();

// Copies `bytes` from src to dst on whatever devices they live (both CPU: memcpy).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

// A device's memory as its allocator and the device see it (Backend::memory). For CUDA free and total come
// from cudaMemGetInfo; under the CPU emulation, whose device memory is host heap, they are the host's free and
// total memory (up to the emulation's cap).
struct DeviceMemoryInfo {
    size_t in_use = 0;  // bytes handed out by the backend's alloc and not yet freed (rounded block sizes)
    size_t cached = 0;  // freed blocks the allocator keeps for reuse (not returned to the GPU)
    size_t free = 0, total = 0;
    bool emulated = false;
};

// What the allocations of this thread are for, while the scope lives ("weight model.layers.3.mlp.up_proj
// .weight (11008, 4096) bf16"): a backend's alloc names it when the device runs out of memory. Scopes nest; the
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
// 81559.3 MiB" (under the emulation, host memory stands for the GPU's), for the first GPU backend of the
// registry. In a build without one it says so.
std::string device_memory_summary();
