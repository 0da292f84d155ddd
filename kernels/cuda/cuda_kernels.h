// cuda_kernels.h — the CUDA kernels of the Kernels table (namespace cuda): one function per field of struct
// Kernels, declared from the fields (SAPT_KERNEL_NAMES, kernels/kernels.h, where each kernel's semantics are
// documented), plus the GEMM form of attention that attention.cu may choose. Every pointer is device memory;
// scalars, shapes and strides are host values. Calls are asynchronous on cuda_stream(), except those that
// return a value (they wait for it).
#pragma once
#include "kernels/kernels.h"

namespace cuda {

// Where each is defined: gemm_cublas.cu (gemm*: cuBLAS, or the CPU GEMM under the emulation); elementwise.cu
// (conversions, elementwise, row broadcasts, activations, dropout, strided copies); reductions.cu (sum*,
// sum_rows); norms.cu; softmax_loss.cu (softmax, log-softmax, cross-entropy, KL); embedding_pool.cu
// (embedding, rope, maxpool_seq); attention.cu (fused attention and the choice of path); adamw.cu.
SAPT_KERNEL_NAMES(SAPT_DECLARE_KERNEL)

// attention_gemm.cu: attention through cuBLAS products over a stored (Hq, rows, Tk) score buffer
void attention_forward_gemm(float* out, float* lse, const float* q, const float* k, const float* v,
                            const float* pos_bias, const uint8_t* key_mask, AttentionShape s);
void attention_backward_gemm(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                             const float* k, const float* v, const float* out, const float* lse,
                             const float* pos_bias, const uint8_t* key_mask, AttentionShape s);

}  // namespace cuda
