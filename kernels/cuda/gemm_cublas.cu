// gemm_cublas.cu — the GEMM fields of the table: cuBLAS on a GPU, the CPU GEMM under the emulation
// (cuBLAS cannot be emulated, and the CPU GEMM is tested on its own). Our matrices are row-major and
// cuBLAS is column-major: a row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so we
// call cuBLAS with the operands swapped and nothing is copied or transposed.
// Precision, from the environment variable SAPT_CUDA_GEMM (or cuda_set_gemm_precision):
//   f32  (default) f32 inputs and products, as the CPU reference: the mode the conformance tests check;
//   tf32 f32 GEMMs on tensor cores with 10-bit mantissa products, f32 accumulation;
//   bf16 also gemm_bf16b on tensor cores: A is rounded to bf16 to meet the frozen bf16 weights, f32 accumulation.
// Not here: cuBLASLt epilogues (bias/activation fusion) — our biases and activations are separate kernels.
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

#ifndef SAPT_CUDA_EMU
#include <cublas_v2.h>
#endif

namespace {

// A stored matrix (rows, cols) with leading dimension ld, converted into a packed (rows, cols) copy.
__global__ void widen_bf16_kernel(float* out, const bf16* inp, size_t rows, size_t cols, size_t ld) {
    for (size_t i = global_thread(); i < rows * cols; i += grid_threads())
        out[i] = bf16_to_float(inp[(i / cols) * ld + i % cols]);
}
__global__ void round_to_bf16_kernel(bf16* out, const float* inp, size_t rows, size_t cols, size_t ld) {
    for (size_t i = global_thread(); i < rows * cols; i += grid_threads())
        out[i] = float_to_bf16(inp[(i / cols) * ld + i % cols]);
}

// The stored shape of an operand: op(X) is (r, c), and X is stored (c, r) when transposed.
struct Stored {
    size_t rows, cols;
};
Stored stored_shape(bool transposed, int op_rows, int op_cols) {
    return transposed ? Stored{size_t(op_cols), size_t(op_rows)} : Stored{size_t(op_rows), size_t(op_cols)};
}

// The leading dimension of a packed copy (BLAS wants at least 1 even for an empty matrix).
int packed_ld(const Stored& m) { return m.cols > 0 ? int(m.cols) : 1; }

#ifndef SAPT_CUDA_EMU
const char* cublas_hint(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "cuBLAS could not start: usually the GPU is out of memory or no driver is loaded (check nvidia-smi)";
    case CUBLAS_STATUS_ARCH_MISMATCH:
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "this GPU lacks the requested math mode: run with SAPT_CUDA_GEMM=f32";
    default:
        return "a GEMM argument (size, leading dimension) is invalid, or an earlier kernel failed";
    }
}
void cublas_check(cublasStatus_t status, const char* file, int line) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    fail(std::string(file) + ":" + std::to_string(line),
         std::string("cuBLAS error: ") + cublasGetStatusString(status) + "\nHINT: " + cublas_hint(status));
}
#define cublasCheck(call) cublas_check((call), __FILE__, __LINE__)

cublasHandle_t cublas() {
    static cublasHandle_t handle = [] {
        cublasHandle_t h;
        cublasCheck(cublasCreate(&h));
        cublasCheck(cublasSetStream(h, cuda_stream()));
        return h;
    }();
    return handle;
}

// Row-major C (M, N) = alpha op(A) op(B) + beta C for `batch` products, through the column-major library.
void cublas_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const void* A, int lda,
                 long stride_a, const void* B, int ldb, long stride_b, cudaDataType input_type, float beta, float* C,
                 int ldc, long stride_c, int batch, cublasComputeType_t compute) {
    cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasCheck(cublasGemmStridedBatchedEx(cublas(), op_b, op_a, N, M, K, &alpha, B, input_type, ldb, stride_b, A,
                                           input_type, lda, stride_a, &beta, C, CUDA_R_32F, ldc, stride_c, batch,
                                           compute, CUBLAS_GEMM_DEFAULT));
}

cublasComputeType_t f32_compute() {
    return cuda_gemm_precision() == GemmPrecision::F32 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
}
#endif

}  // namespace

// The precision in force: SAPT_CUDA_GEMM at the first use, or what cuda_set_gemm_precision chose later.
static GemmPrecision& precision_setting() {
    static GemmPrecision precision = [] {
        const char* env = std::getenv("SAPT_CUDA_GEMM");
        std::string mode = env ? env : "f32";
        if (mode == "f32") return GemmPrecision::F32;
        if (mode == "tf32") return GemmPrecision::TF32;
        if (mode == "bf16") return GemmPrecision::BF16;
        fail("SAPT_CUDA_GEMM", "unknown GEMM precision (expected f32, tf32 or bf16, got " + mode + ")");
    }();
    return precision;
}
GemmPrecision cuda_gemm_precision() { return precision_setting(); }
void cuda_set_gemm_precision(GemmPrecision precision) { precision_setting() = precision; }

namespace cuda {

void gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                  long stride_a, const float* B, int ldb, long stride_b, float beta, float* C, int ldc,
                  long stride_c, int batch) {
#ifndef SAPT_CUDA_EMU
    cublas_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, CUDA_R_32F, beta, C, ldc,
                stride_c, batch, f32_compute());
#else
    EmuDeviceAccess open;  // the CPU GEMM stands in for cuBLAS: device work
    emu_open_device_memory_to_worker_threads();
    cpu_kernels.gemm_batched(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                             stride_c, batch);
#endif
}

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc) {
    gemm_batched(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

void gemm_bf16b(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                const bf16* B, int ldb, float beta, float* C, int ldc) {
    Stored a = stored_shape(trans_a, M, K), b = stored_shape(trans_b, K, N);
    if (cuda_gemm_precision() != GemmPrecision::BF16) {
        // Widen the frozen weight to f32 (a packed copy), then an ordinary f32 GEMM.
        DeviceScratch wide(b.rows * b.cols * sizeof(float) + 1);
        launch(blocks_for(b.rows * b.cols), kBlockThreads, 0, widen_bf16_kernel, (float*)wide.ptr, B, b.rows,
               b.cols, size_t(ldb));
        gemm(trans_a, trans_b, M, N, K, alpha, A, lda, (const float*)wide.ptr, packed_ld(b), beta, C, ldc);
        return;
    }
    // Tensor cores take two bf16 operands: round the activations A to bf16 (a packed copy).
    DeviceScratch narrow(a.rows * a.cols * sizeof(bf16) + 1);
    launch(blocks_for(a.rows * a.cols), kBlockThreads, 0, round_to_bf16_kernel, (bf16*)narrow.ptr, A, a.rows,
           a.cols, size_t(lda));
#ifndef SAPT_CUDA_EMU
    cublas_gemm(trans_a, trans_b, M, N, K, alpha, narrow.ptr, packed_ld(a), 0, B, ldb, 0, CUDA_R_16BF, beta, C, ldc,
                0, 1, CUBLAS_COMPUTE_32F);
#else
    // The CPU GEMM on the same rounded A, so the emulation reproduces the GPU's numerics.
    DeviceScratch rounded(a.rows * a.cols * sizeof(float) + 1);
    launch(blocks_for(a.rows * a.cols), kBlockThreads, 0, widen_bf16_kernel, (float*)rounded.ptr,
           (const bf16*)narrow.ptr, a.rows, a.cols, a.cols);
    EmuDeviceAccess open;
    emu_open_device_memory_to_worker_threads();
    cpu_kernels.gemm_bf16b(trans_a, trans_b, M, N, K, alpha, (const float*)rounded.ptr, packed_ld(a), B, ldb, beta, C,
                           ldc);
#endif
}

}  // namespace cuda
