// cuda_kernels.cu — the CUDA backend's table (const Kernels cuda_kernels), naming the kernels of the other
// kernels/cuda files field by field, the device queries of cuda_backend.h, and cuda_backend: the table and the
// memory functions of memory.cu as the registry (engine/backend.h) sees them. Under the emulation
// (-DSAPT_CUDA_EMU) the same backend is built over the emulated kernels. Not here: any kernel.
#include <cstdio>

#include "engine/backend.h"
#include "engine/device.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

#ifndef SAPT_CUDA_EMU
bool cuda_device_available(std::string* why) {
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        cudaGetLastError();  // clear the error so that later calls do not report it again
        if (why) *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status);
        return false;
    }
    if (count == 0) {
        if (why) *why = "the CUDA runtime sees no GPU";
        return false;
    }
    return true;
}
void cuda_synchronize() {
    cuda_traffic_count_sync();
    cudaCheck(cudaStreamSynchronize(cuda_stream()));
}
std::string cuda_device_name() {
    int device = 0;
    cudaDeviceProp prop;
    cudaCheck(cudaGetDevice(&device));
    cudaCheck(cudaGetDeviceProperties(&prop, device));
    char memory[32];
    snprintf(memory, sizeof memory, "%.1f GiB", double(prop.totalGlobalMem) / (1 << 30));
    return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
           std::to_string(prop.multiProcessorCount) + " SMs, " + memory + ")";
}
#else
bool cuda_device_available(std::string*) { return true; }
void cuda_synchronize() { cuda_traffic_count_sync(); }
std::string cuda_device_name() { return "CPU emulation of the CUDA execution model"; }
#endif

const Kernels cuda_kernels = {
#ifndef SAPT_CUDA_EMU
    .name = "cuda",
#else
    .name = "cuda_emulated",
#endif
    .bf16_to_f32 = cuda::bf16_to_f32,
    .f32_to_bf16 = cuda::f32_to_bf16,
    .gemm = cuda::gemm,
    .gemm_batched = cuda::gemm_batched,
    .gemm_bf16b = cuda::gemm_bf16b,
    .add = cuda::add,
    .mul = cuda::mul,
    .scale = cuda::scale,
    .axpy = cuda::axpy,
    .fill = cuda::fill,
    .add_row = cuda::add_row,
    .mul_row = cuda::mul_row,
    .sum_rows = cuda::sum_rows,
    .sum = cuda::sum,
    .sum_squares = cuda::sum_squares,
    .relu_forward = cuda::relu_forward,
    .relu_backward = cuda::relu_backward,
    .gelu_forward = cuda::gelu_forward,
    .gelu_backward = cuda::gelu_backward,
    .silu_forward = cuda::silu_forward,
    .silu_backward = cuda::silu_backward,
    .dropout_forward = cuda::dropout_forward,
    .copy_strided = cuda::copy_strided,
    .add_strided = cuda::add_strided,
    .softmax_forward = cuda::softmax_forward,
    .softmax_backward = cuda::softmax_backward,
    .log_softmax_forward = cuda::log_softmax_forward,
    .log_softmax_backward = cuda::log_softmax_backward,
    .rmsnorm_forward = cuda::rmsnorm_forward,
    .rmsnorm_backward = cuda::rmsnorm_backward,
    .layernorm_forward = cuda::layernorm_forward,
    .layernorm_backward = cuda::layernorm_backward,
    .embedding_forward = cuda::embedding_forward,
    .embedding_forward_bf16 = cuda::embedding_forward_bf16,
    .embedding_backward = cuda::embedding_backward,
    .rope_forward = cuda::rope_forward,
    .rope_backward = cuda::rope_backward,
    .maxpool_seq_forward = cuda::maxpool_seq_forward,
    .maxpool_seq_backward = cuda::maxpool_seq_backward,
    .attention_forward = cuda::attention_forward,
    .attention_backward = cuda::attention_backward,
    .cross_entropy_forward = cuda::cross_entropy_forward,
    .cross_entropy_backward = cuda::cross_entropy_backward,
    .kl_div_forward = cuda::kl_div_forward,
    .kl_div_backward = cuda::kl_div_backward,
    .adamw_step = cuda::adamw_step,
    .sum_squares_to = cuda::sum_squares_to,
};

// The registry's view: copies named by direction (cuda_copy takes both sides' devices).
static void copy_host_to_cuda(void* dst, const void* src, size_t bytes) {
    cuda_copy(dst, Device::CUDA, src, Device::CPU, bytes);
}
static void copy_cuda_to_host(void* dst, const void* src, size_t bytes) {
    cuda_copy(dst, Device::CPU, src, Device::CUDA, bytes);
}
static void copy_cuda_to_cuda(void* dst, const void* src, size_t bytes) {
    cuda_copy(dst, Device::CUDA, src, Device::CUDA, bytes);
}

const Backend cuda_backend = {
    .name = "cuda",
    .device = Device::CUDA,
    .kernels = &cuda_kernels,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .zero = cuda_zero,
    .copy_in = copy_host_to_cuda,
    .copy_out = copy_cuda_to_host,
    .copy_within = copy_cuda_to_cuda,
    .synchronize = cuda_synchronize,
    .memory = cuda_memory_info,
    .traffic = cuda_traffic,
    .available = cuda_device_available,
    .set_gemm_precision = cuda_set_gemm_precision,
};
