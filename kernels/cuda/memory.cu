// memory.cu — the CUDA backend's memory functions (cuda_backend.h): a caching allocator over cudaMalloc, copies
// and zeroing on the backend's one stream, and cudaCheck's error report with a HINT.
// cudaMalloc and cudaFree synchronise the whole device and cost tens of microseconds, and a training step
// allocates the same activation sizes every time; so a freed block goes to a cache keyed by its rounded
// size and the next request of that size takes it back. The cache is emptied when cudaMalloc runs out.
// Not here: memory pools per stream (there is one stream), defragmentation, multi-GPU.
#include <cstdio>
#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>
#ifdef SAPT_CUDA_EMU
#include <unistd.h>
#endif

#include "engine/error.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.h"

#ifndef SAPT_CUDA_EMU
cudaStream_t cuda_stream() {
    // One non-blocking stream for every kernel, copy and cuBLAS call: work is ordered on it, so a block
    // freed after a kernel may be handed to the next kernel without waiting.
    static cudaStream_t stream = [] {
        cudaStream_t s;
        cudaCheck(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        return s;
    }();
    return stream;
}

static const char* cuda_hint(cudaError_t status) {
    switch (status) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
        return "no usable GPU or driver: check `nvidia-smi`; a build without CUDA=1 runs on the CPU";
    case cudaErrorMemoryAllocation:
        return "the GPU is out of memory: lower the batch size or the sequence length";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
        return "this build has code for sm_80 and sm_90 (plus PTX for newer GPUs); older GPUs are not supported";
    default:
        return "kernels run asynchronously, so the failing one may be earlier: rerun with CUDA_LAUNCH_BLOCKING=1";
    }
}

void cuda_check(cudaError_t status, const char* file, int line) {
    if (status == cudaSuccess) return;
    fail(std::string(file) + ":" + std::to_string(line),
         std::string("CUDA error: ") + cudaGetErrorString(status) + "\nHINT: " + cuda_hint(status));
}
#endif

namespace {

struct CachingAllocator {
    std::mutex lock;
    std::map<size_t, std::vector<void*>> cached;  // rounded size -> free blocks of that size
    std::unordered_map<void*, size_t> in_use;     // block -> rounded size
    size_t bytes_in_use = 0, bytes_cached = 0;

    void release_cache() {
        for (auto& entry : cached)
            for (void* block : entry.second) cudaCheck(cudaFree(block));
        cached.clear();
        bytes_cached = 0;
    }
};

CachingAllocator& allocator() {
    static CachingAllocator instance;
    return instance;
}

// Few distinct sizes make reuse likely: powers of two up to 1 MiB, then multiples of 2 MiB (so that a
// large block wastes at most 2 MiB instead of up to half of itself).
size_t rounded_size(size_t bytes) {
    const size_t small_limit = size_t(1) << 20, large_step = size_t(2) << 20;
    if (bytes <= small_limit) {
        size_t size = 512;
        while (size < bytes) size *= 2;
        return size;
    }
    return (bytes + large_step - 1) / large_step * large_step;
}

// free and total as the device reports them (no allocator lock: cudaMemGetInfo is thread-safe).
void device_free_total(size_t* free, size_t* total) {
#ifdef SAPT_CUDA_EMU
    // The emulated GPU's memory is host memory, up to its cap (SAPT_EMU_DEVICE_MIB, else the host's).
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t host_free = (size_t)sysconf(_SC_AVPHYS_PAGES) * page;
    const size_t host_total = (size_t)sysconf(_SC_PHYS_PAGES) * page;
    const size_t limit = emu_device_bytes_limit(), live = emu_device_bytes_live();
    *total = std::min(limit, host_total);
    *free = std::min(host_free, *total > live ? *total - live : 0);
#else
    if (cudaMemGetInfo(free, total) != cudaSuccess) {
        cudaGetLastError();
        *free = *total = 0;
    }
#endif
}

std::string mib(size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f MiB", bytes / 1048576.0);
    return text;
}

// What ran out, for whom, how full the device is, and the knobs that make a run fit (the label comes
// from the innermost DeviceAllocLabel scope, e.g. the weight a loader was uploading).
std::string out_of_memory_message(size_t size, size_t in_use) {
    size_t free = 0, total = 0;
    device_free_total(&free, &total);
    const std::string& label = device_alloc_label();
    return "out of GPU memory allocating " + (label.empty() ? std::string("an unlabelled buffer") : label) + " (" +
           mib(size) + "; " + mib(in_use) + " already in use by sapt.cpp, " + mib(free) + " free of " + mib(total) +
           " on the device)\nHINT: lower --batch-size (keeping the effective batch with --grad-accum), shorten "
           "--max-source-len / --max-target-len, or store frozen weights in bf16 (--precision bf16)";
}

}  // namespace

DeviceMemoryInfo cuda_memory_info() {
    DeviceMemoryInfo info;
    {
        CachingAllocator& a = allocator();
        std::lock_guard<std::mutex> guard(a.lock);
        info.in_use = a.bytes_in_use;
        info.cached = a.bytes_cached;
    }
    device_free_total(&info.free, &info.total);
#ifdef SAPT_CUDA_EMU
    info.emulated = true;
#endif
    return info;
}

void* cuda_alloc(size_t bytes) {
    CachingAllocator& a = allocator();
    std::lock_guard<std::mutex> guard(a.lock);
    size_t size = rounded_size(bytes);
    void* block = nullptr;
    auto hit = a.cached.find(size);
    if (hit != a.cached.end() && !hit->second.empty()) {
        block = hit->second.back();
        hit->second.pop_back();
        a.bytes_cached -= size;
    } else if (cudaMalloc(&block, size) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky allocation error before retrying
        a.release_cache();
        if (cudaMalloc(&block, size) != cudaSuccess) {
            cudaGetLastError();
            fail("cuda_alloc", out_of_memory_message(size, a.bytes_in_use));
        }
    }
    a.in_use[block] = size;
    a.bytes_in_use += size;
    return block;
}

void cuda_free(void* ptr) {
    if (!ptr) return;
    CachingAllocator& a = allocator();
    std::lock_guard<std::mutex> guard(a.lock);
    auto found = a.in_use.find(ptr);
    if (found == a.in_use.end()) fail("cuda_free", "pointer was not allocated by cuda_alloc");
    a.cached[found->second].push_back(ptr);
    a.bytes_in_use -= found->second;
    a.bytes_cached += found->second;
    a.in_use.erase(found);
}

static DeviceTraffic traffic;
DeviceTraffic cuda_traffic() { return traffic; }
void cuda_traffic_count_sync() { traffic.synchronizations++; }

void cuda_zero(void* ptr, size_t bytes) { cudaCheck(cudaMemsetAsync(ptr, 0, bytes, cuda_stream())); }

void cuda_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
    if (bytes == 0) return;
    cudaMemcpyKind kind = dst_dev == Device::CUDA
                              ? (src_dev == Device::CUDA ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                              : (src_dev == Device::CUDA ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    if (kind == cudaMemcpyHostToDevice) {
        traffic.to_device_copies++;
        traffic.to_device_bytes += (long long)bytes;
    } else if (kind == cudaMemcpyDeviceToHost) {
        traffic.to_host_copies++;
        traffic.to_host_bytes += (long long)bytes;
    }
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, kind, cuda_stream()));
    // Host memory is pageable and the caller may read or free it right after: wait for the copy.
    if (dst_dev == Device::CPU || src_dev == Device::CPU) {
        traffic.synchronizations++;
        cudaCheck(cudaStreamSynchronize(cuda_stream()));
    }
}

DeviceScratch::DeviceScratch(size_t bytes) : ptr(cuda_alloc(bytes)) {}
DeviceScratch::~DeviceScratch() { cuda_free(ptr); }

void copy_to_host(void* host, const void* device, size_t bytes) {
    cuda_copy(host, Device::CPU, device, Device::CUDA, bytes);
}
