// cuda_primitives.h — the few pieces of the CUDA execution model our kernels use, so that one kernel
// source compiles two ways: with nvcc for a real GPU, or with g++ -DSAPT_CUDA_EMU, where
// kernels/cuda/cuda_emulator.cpp runs every block's threads as cooperative fibers on the CPU.
// The emulated model: a grid of blocks run one after another; the threads of a block run "at once"
// (each on its own stack) and meet at __syncthreads; 32 consecutive threads form a warp whose lanes
// exchange registers (shuffles, votes); __shared__ memory is visible to the whole block; atomics are
// plain read-modify-writes (fibers switch only at barriers, so nothing can interleave them).
// Not here: tensor cores, cuBLAS (the emulation calls the CPU GEMM instead), streams' concurrency.
#pragma once
#include <cstddef>
#include <cstdint>

#ifndef SAPT_CUDA_EMU
// ---------------------------------------------------------------------------------------------------
// Real CUDA: the language provides everything; we only add `launch` on the backend's stream.
#include <cuda_runtime.h>

cudaStream_t cuda_stream();                    // the one stream every kernel and copy runs on (memory.cu)
void cuda_check(cudaError_t status, const char* file, int line);  // memory.cu
#define cudaCheck(call) cuda_check((call), __FILE__, __LINE__)

// kernel<<<grid, block, shared_bytes, stream>>>(args...), written as a function so that the emulation
// can offer the same call. Asking for more than 48 KiB of dynamic shared memory needs an opt-in first.
template <typename... Params, typename... Args>
void launch(dim3 grid, dim3 block, size_t shared_bytes, void (*kernel)(Params...), Args... args) {
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;  // an empty launch is an error in CUDA
    if (shared_bytes > 48 * 1024) {
        cudaCheck(cudaFuncSetAttribute((const void*)kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       (int)shared_bytes));
    }
    kernel<<<grid, block, shared_bytes, cuda_stream()>>>(args...);
    cudaCheck(cudaGetLastError());
}

// The block's dynamic shared memory (the third launch argument), as floats.
__device__ inline float* dynamic_shared_floats() {
    extern __shared__ float sapt_dynamic_shared[];
    return sapt_dynamic_shared;
}

#else
// ---------------------------------------------------------------------------------------------------
// Emulation. The CUDA keywords become plain C++: a kernel is an ordinary function, and __shared__ is
// `static`, which is exactly "one copy for the whole block" because blocks run one at a time.
// These few macros are the price of compiling unchanged .cu sources with g++.
#include <cmath>
#include <cstring>
#include <functional>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
// Set by the emulator before it resumes a thread: which thread and block is running now.
extern dim3 threadIdx, blockIdx, blockDim, gridDim;

// Block barrier: the calling thread sleeps until every (unfinished) thread of its block arrived.
void __syncthreads();
// Warp barrier; shuffles and votes below include one.
void __syncwarp(unsigned mask = 0xffffffffu);

// Every lane publishes 8 bytes and reads those of lane `source` (its own where `source` is outside the
// warp), after a warp barrier. The shuffles are this one exchange with a different source lane.
uint64_t emu_warp_exchange(uint64_t mine, int source);
// Every lane publishes one bit; all lanes get the 32-bit word of everyone's bits.
unsigned emu_warp_gather_bits(bool mine);

template <typename T> T emu_shuffle_from(T value, int source) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    bits = emu_warp_exchange(bits, source);
    T result;
    std::memcpy(&result, &bits, sizeof(T));
    return result;
}
inline int emu_lane() { return int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % 32; }

template <typename T> T __shfl_sync(unsigned, T value, int source_lane) {
    return emu_shuffle_from(value, source_lane);
}
template <typename T> T __shfl_xor_sync(unsigned, T value, int lane_mask) {
    return emu_shuffle_from(value, emu_lane() ^ lane_mask);
}
template <typename T> T __shfl_down_sync(unsigned, T value, unsigned delta) {
    int source = emu_lane() + int(delta);
    return emu_shuffle_from(value, source < 32 ? source : emu_lane());
}
inline unsigned __ballot_sync(unsigned, int predicate) { return emu_warp_gather_bits(predicate != 0); }
inline int __any_sync(unsigned, int predicate) { return emu_warp_gather_bits(predicate != 0) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
    return emu_warp_gather_bits(predicate != 0) == __ballot_sync(mask, 1);
}

// Fibers switch only at barriers, so a read-modify-write cannot be interrupted: atomics are plain.
template <typename T> T atomicAdd(T* address, T value) {
    T old = *address;
    *address = old + value;
    return old;
}
inline int atomicMax(int* address, int value) {
    int old = *address;
    if (value > old) *address = value;
    return old;
}

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline unsigned int __float_as_uint(float x) {
    unsigned int u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline float __uint_as_float(unsigned int u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// Dynamic shared memory of the running block (sized by the launch).
float* dynamic_shared_floats();

// Emulated device memory is inaccessible to the host (cuda_emulator.cpp) except while one of these lives:
// kernels and copies open it themselves; host code that stands in for device work (the CPU GEMM in place of
// cuBLAS) opens it for its duration.
struct EmuDeviceAccess {
    EmuDeviceAccess();
    ~EmuDeviceAccess();
    EmuDeviceAccess(const EmuDeviceAccess&) = delete;
    EmuDeviceAccess& operator=(const EmuDeviceAccess&) = delete;
};
// The CPU GEMM that stands in for cuBLAS runs on OpenMP worker threads: gives them access to device memory.
void emu_open_device_memory_to_worker_threads();
// The emulated device's memory: bytes allocated now (page-rounded), and its capacity (SAPT_EMU_DEVICE_MIB).
size_t emu_device_bytes_live();
size_t emu_device_bytes_limit();

// Runs `body` as every thread of every block of the grid.
void emu_run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body);

template <typename... Params, typename... Args>
void launch(dim3 grid, dim3 block, size_t shared_bytes, void (*kernel)(Params...), Args... args) {
    emu_run_grid(grid, block, shared_bytes, [&]() { kernel(args...); });
}

// The runtime calls the host code uses, over host memory: under emulation "device memory" is the heap.
enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                      cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
typedef struct EmuStream* cudaStream_t;
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetLastError();
const char* cudaGetErrorString(cudaError_t status);

cudaStream_t cuda_stream();
void cuda_check(cudaError_t status, const char* file, int line);
#define cudaCheck(call) cuda_check((call), __FILE__, __LINE__)
#endif
