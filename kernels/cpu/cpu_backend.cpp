// cpu_backend.cpp — the CPU's entry in the backend registry (engine/backend.h): the fast table cpu_kernels and
// host memory. Host buffers are 64-byte aligned heap blocks; copies are memcpy, nothing is queued, so there is
// nothing to wait for and no host-device traffic. Not here: the byte counts of tensors (engine/tensor.cpp).
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/error.h"
#include "kernels/cpu/gemm.h"

static void* host_alloc(size_t bytes) {
    // 64-byte alignment suits AVX-512 loads and cache lines; aligned_alloc wants a multiple of it.
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* data = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!data) fail("buffer_alloc", "out of host memory (asked for " + std::to_string(bytes) + " bytes)");
    return data;
}
static void host_free(void* ptr) { std::free(ptr); }
static void host_zero(void* ptr, size_t bytes) { std::memset(ptr, 0, bytes); }
static void host_copy(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
static void host_synchronize() {}
static DeviceTraffic host_traffic() { return DeviceTraffic{}; }
static bool host_available(std::string*) { return true; }

// The host's memory as the OS reports it; in_use and cached stay 0 (tensor_bytes_live counts host tensors).
static DeviceMemoryInfo host_memory() {
    DeviceMemoryInfo info;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    info.free = (size_t)sysconf(_SC_AVPHYS_PAGES) * page;
    info.total = (size_t)sysconf(_SC_PHYS_PAGES) * page;
    return info;
}

const Backend cpu_backend = {
    .name = "cpu",
    .device = Device::CPU,
    .kernels = &cpu_kernels,
    .alloc = host_alloc,
    .free = host_free,
    .zero = host_zero,
    .copy_in = host_copy,
    .copy_out = host_copy,
    .copy_within = host_copy,
    .synchronize = host_synchronize,
    .memory = host_memory,
    .traffic = host_traffic,
    .available = host_available,
    .set_gemm_precision = cpu_set_gemm_precision,
};
