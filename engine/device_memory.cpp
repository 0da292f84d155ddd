// device_memory.cpp — the device figures of engine/device.h, gathered from the backend registry
// (engine/backend.h): traffic and memory in use summed over the backends, the one-line summary of the first GPU
// backend, and the allocation label scope. Compiled the same in every build. Not here: any allocator.
#include <cstdio>

#include "engine/backend.h"
#include "engine/device.h"

static thread_local std::string current_label;  // per thread: a loader thread labels only its own allocations

DeviceAllocLabel::DeviceAllocLabel(const std::string& label) : previous(current_label) { current_label = label; }
DeviceAllocLabel::~DeviceAllocLabel() { current_label = previous; }

const std::string& device_alloc_label() { return current_label; }

DeviceTraffic device_traffic() {
    DeviceTraffic total;
    for (const Backend* backend : registered_backends()) {
        const DeviceTraffic t = backend->traffic();
        total.to_device_copies += t.to_device_copies;
        total.to_device_bytes += t.to_device_bytes;
        total.to_host_copies += t.to_host_copies;
        total.to_host_bytes += t.to_host_bytes;
        total.synchronizations += t.synchronizations;
    }
    return total;
}

// The host is not a device here: its bytes are tensor_bytes_live(Device::CPU).
size_t device_memory_in_use() {
    size_t in_use = 0;
    for (const Backend* backend : registered_backends()) {
        if (backend->device != Device::CPU) in_use += backend->memory().in_use;
    }
    return in_use;
}

std::string device_memory_summary() {
    for (const Backend* backend : registered_backends()) {
        if (backend->device == Device::CPU) continue;
        const DeviceMemoryInfo info = backend->memory();
        auto mib = [](size_t bytes) {
            char text[32];
            std::snprintf(text, sizeof(text), "%.1f MiB", bytes / 1048576.0);
            return std::string(text);
        };
        return "device memory: " + mib(info.in_use) + " in use, " + mib(info.cached) + " cached; " +
               (info.emulated ? "host (the emulated GPU) " : "GPU ") + mib(info.free) + " free of " +
               mib(info.total);
    }
    return "device memory: none (this build has no CUDA backend)";
}
