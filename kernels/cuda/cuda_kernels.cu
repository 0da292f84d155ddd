// cuda_kernels.cu — the CUDA backend's table (const Kernels cuda_kernels), naming the kernels of the other
// kernels/cuda files in the order of struct Kernels, plus the device queries of cuda_backend.h.
// Under the emulation (-DSAPT_CUDA_EMU) the same table is built over the emulated kernels, into a test
// binary of its own. Not here: any kernel (each lives in the file of its idea).
#include <cstdio>

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
    device_traffic_count_sync();
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
void cuda_synchronize() { device_traffic_count_sync(); }
std::string cuda_device_name() { return "CPU emulation of the CUDA execution model"; }
#endif

const Kernels cuda_kernels = {
#ifndef SAPT_CUDA_EMU
    "cuda",
#else
    "cuda_emulated",
#endif
    cuda::bf16_to_f32,
    cuda::f32_to_bf16,
    cuda::gemm,
    cuda::gemm_batched,
    cuda::gemm_bf16b,
    cuda::add,
    cuda::mul,
    cuda::scale,
    cuda::axpy,
    cuda::fill,
    cuda::add_row,
    cuda::mul_row,
    cuda::sum_rows,
    cuda::sum,
    cuda::sum_squares,
    cuda::relu_forward,
    cuda::relu_backward,
    cuda::gelu_forward,
    cuda::gelu_backward,
    cuda::silu_forward,
    cuda::silu_backward,
    cuda::dropout_forward,
    cuda::copy_strided,
    cuda::add_strided,
    cuda::softmax_forward,
    cuda::softmax_backward,
    cuda::log_softmax_forward,
    cuda::log_softmax_backward,
    cuda::rmsnorm_forward,
    cuda::rmsnorm_backward,
    cuda::layernorm_forward,
    cuda::layernorm_backward,
    cuda::embedding_forward,
    cuda::embedding_forward_bf16,
    cuda::embedding_backward,
    cuda::rope_forward,
    cuda::rope_backward,
    cuda::maxpool_seq_forward,
    cuda::maxpool_seq_backward,
    cuda::attention_forward,
    cuda::attention_backward,
    cuda::cross_entropy_forward,
    cuda::cross_entropy_backward,
    cuda::kl_div_forward,
    cuda::kl_div_backward,
    cuda::adamw_step,
    cuda::sum_squares_to,
};
