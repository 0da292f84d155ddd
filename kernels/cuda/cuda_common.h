// cuda_common.h — what every kernels/cuda/*.cu file shares: launch sizes, warp and block reductions,
// and a scratch buffer from the caching allocator. Device functions here compile for the GPU and under
// the emulation alike (cuda_primitives.h). Not here: any kernel of the Kernels table.
#pragma once
#include <cfloat>
#include <cstddef>

#include "kernels/cuda/cuda_primitives.h"
#include "kernels/kernels.h"

// 256 threads = 8 warps: enough warps per block to hide memory latency, few enough that many blocks fit.
constexpr int kBlockThreads = 256;

// Blocks for a grid-stride loop over n items. Capped: past a few waves of blocks, more blocks only cost
// scheduling; each thread then handles several items.
inline unsigned blocks_for(size_t n, int threads = kBlockThreads) {
    size_t blocks = (n + threads - 1) / threads;
    const size_t cap = 8192;
    return unsigned(blocks < cap ? blocks : cap);
}

// The index of this thread in a 1-D grid and the grid's thread count, for grid-stride loops.
__device__ inline size_t global_thread() { return size_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline size_t grid_threads() { return size_t(gridDim.x) * blockDim.x; }

// ---- bf16 <-> f32, bit for bit as the CPU reference (kernels/cpu/reference_dense.cpp) -------------------
__device__ inline float bf16_to_float(bf16 x) { return __uint_as_float(unsigned(x) << 16); }
__device__ inline bf16 float_to_bf16(float x) {
    if (x != x) return bf16(0x7FC0);  // NaN stays a quiet NaN: rounding could turn it into inf
    unsigned bits = __float_as_uint(x);
    return bf16((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);  // round to nearest, ties to even
}

// ---- warp reductions: 5 butterfly shuffles leave the result in every lane --------------------------
__device__ inline float warp_sum(float value) {
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}
__device__ inline double warp_sum(double value) {
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}
__device__ inline float warp_max(float value) {
    for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
    return value;
}

// ---- block reductions: each warp reduces, warp 0 reduces the warps' results ---------------------------
// Every thread of the block must call these (they contain __syncthreads); all get the result.
// blockDim.x must be a multiple of 32 and at most 1024.
__device__ inline float block_sum(float value) {
    __shared__ float per_warp[32];
    __shared__ float result;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    value = warp_sum(value);
    __syncthreads();  // a previous call may still be reading per_warp / result
    if (lane == 0) per_warp[warp] = value;
    __syncthreads();
    if (warp == 0) {
        float total = warp_sum(lane < n_warps ? per_warp[lane] : 0.0f);
        if (lane == 0) result = total;
    }
    __syncthreads();
    return result;
}
__device__ inline double block_sum(double value) {
    __shared__ double per_warp[32];
    __shared__ double result;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    value = warp_sum(value);
    __syncthreads();
    if (lane == 0) per_warp[warp] = value;
    __syncthreads();
    if (warp == 0) {
        double total = warp_sum(lane < n_warps ? per_warp[lane] : 0.0);
        if (lane == 0) result = total;
    }
    __syncthreads();
    return result;
}
__device__ inline float block_max(float value) {
    __shared__ float per_warp[32];
    __shared__ float result;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    value = warp_max(value);
    __syncthreads();
    if (lane == 0) per_warp[warp] = value;
    __syncthreads();
    if (warp == 0) {
        float best = warp_max(lane < n_warps ? per_warp[lane] : -INFINITY);
        if (lane == 0) result = best;
    }
    __syncthreads();
    return result;
}

// ---- host side -------------------------------------------------------------------------------------
// A device buffer for the duration of one kernel-table call, from the caching allocator (memory.cu):
// freeing it only returns the block to the cache, so per-call scratch costs no cudaMalloc.
struct DeviceScratch {
    void* ptr = nullptr;
    explicit DeviceScratch(size_t bytes);
    ~DeviceScratch();
    DeviceScratch(const DeviceScratch&) = delete;
    DeviceScratch& operator=(const DeviceScratch&) = delete;
};

// Copies device -> host and waits for it (results the table returns by value: sums, counts).
void copy_to_host(void* host, const void* device, size_t bytes);
