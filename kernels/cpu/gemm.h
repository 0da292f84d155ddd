// gemm.h — the fast CPU matrix products that fill the gemm, gemm_batched and gemm_bf16b slots of the
// cpu_kernels table (kernels/kernels.h states the contract: row-major, op() transposes, leading dimensions,
// C = alpha op(A) op(B) + beta C, beta == 0 ignores C's old contents). Implemented in gemm.cpp; the table
// itself is assembled elsewhere in kernels/cpu/.
#pragma once
#include "kernels/kernels.h"

void cpu_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc);

void cpu_gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                      long stride_a, const float* B, int ldb, long stride_b, float beta, float* C, int ldc,
                      long stride_c, int batch);

void cpu_gemm_bf16b(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                    const bf16* B, int ldb, float beta, float* C, int ldc);

// The precision of cpu_gemm_bf16b's products, for the whole process (set it before a model runs, not while
// another thread multiplies):
//   F32  (default) A stays f32 and the bf16 weight is widened exactly: the reference's numbers up to the
//        order of the f32 sums;
//   BF16 A is rounded to bf16 too (nearest, ties to even), so every product is of two bf16, summed in f32:
//        GPU bf16 training's arithmetic. With AVX512-BF16 the large products run twice the f32 arithmetic
//        per instruction (kernels/cpu/gemm_bf16_pairs.cpp).
// cpu_gemm and cpu_gemm_batched (f32 B) are never affected. TF32 has no CPU form: refused (sapt_error).
void cpu_set_gemm_precision(GemmPrecision precision);
GemmPrecision cpu_gemm_precision();
