// device_memory.cpp — the allocation label scope and the one-line device memory summary of
// engine/device.h. Compiled in every build (a CPU build has labels too, so that callers need no #ifdef);
// the numbers themselves come from kernels/cuda/memory.cu. Not here: the allocator.
#include <cstdio>

#include "engine/device.h"

static thread_local std::string current_label;  // per thread: a loader thread labels only its own allocations

DeviceAllocLabel::DeviceAllocLabel(const std::string& label) : previous(current_label) { current_label = label; }
DeviceAllocLabel::~DeviceAllocLabel() { current_label = previous; }

const std::string& device_alloc_label() { return current_label; }

#ifndef SAPT_CUDA
DeviceTraffic device_traffic() { return DeviceTraffic{}; }
size_t device_memory_in_use() { return 0; }
#else
size_t device_memory_in_use() { return device_memory_info().in_use; }
#endif

std::string device_memory_summary() {
#ifdef SAPT_CUDA
    DeviceMemoryInfo info = device_memory_info();
    auto mib = [](size_t bytes) {
        char text[32];
        std::snprintf(text, sizeof(text), "%.1f MiB", bytes / 1048576.0);
        return std::string(text);
    };
    return "device memory: " + mib(info.in_use) + " in use, " + mib(info.cached) + " cached; " +
           (info.emulated ? "host (the emulated GPU) " : "GPU ") + mib(info.free) + " free of " + mib(info.total);
#else
    return "device memory: none (this build has no CUDA backend)";
#endif
}
