// gemm_tile_store.h — the last step of every GEMM micro-kernel, f32 (gemm_microkernel.cpp) and bf16 pairs
// (gemm_bf16_pairs.cpp): C[0:rows, 0:cols] = alpha * tile + beta * C for one MR x NR register tile, where
// beta == 0 writes C without reading it (so old NaNs vanish). Nothing here multiplies.
#pragma once
#include "kernels/cpu/gemm_microkernel.h"

#include <cstddef>

// A tile held in memory with row stride NR (the portable and AVX2 kernels, and their edge tiles).
inline void gemm_store_tile(const float* tile, float* C, int ldc, float alpha, float beta, int rows, int cols) {
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
            float value = alpha * tile[r * kGemmNR + c];
            C[(size_t)r * ldc + c] = beta == 0.0f ? value : value + beta * C[(size_t)r * ldc + c];
        }
    }
}

#if defined(__AVX512F__)
// GCC 12 warns inside its own AVX-512 headers (GCC bug 105593) once they are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

// A 14 x 32 tile held in registers, two zmm per row. Masks cut it to `cols` columns (AVX-512 masked loads
// and stores never touch the masked-off memory), the row test to `rows` rows; a full tile has every bit set.
// Always inlined, so that acc stays in registers instead of going through memory.
__attribute__((always_inline)) inline void gemm_store_tile_avx512(const __m512 acc[kGemmMR][2], float* C, int ldc,
                                                                  float alpha, float beta, int rows, int cols) {
    __mmask16 mask_lo = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 mask_hi = cols >= 32 ? (__mmask16)0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    __m512 alpha_v = _mm512_set1_ps(alpha);
    __m512 beta_v = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int r = 0; r < kGemmMR; ++r) {
        if (r < rows) {
            float* c_row = C + (size_t)r * ldc;
            __m512 lo = _mm512_mul_ps(alpha_v, acc[r][0]);
            __m512 hi = _mm512_mul_ps(alpha_v, acc[r][1]);
            if (beta != 0.0f) {
                lo = _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(mask_lo, c_row), lo);
                hi = _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(mask_hi, c_row + 16), hi);
            }
            _mm512_mask_storeu_ps(c_row, mask_lo, lo);
            _mm512_mask_storeu_ps(c_row + 16, mask_hi, hi);
        }
    }
}
#endif
