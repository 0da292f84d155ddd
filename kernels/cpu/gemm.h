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
