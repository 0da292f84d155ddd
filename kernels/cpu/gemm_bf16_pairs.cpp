// gemm_bf16_pairs.cpp — see gemm_bf16_pairs.h. The packers come in the two shapes of the f32 ones
// (gemm_microkernel.cpp): source rows that run along k (A stored (M, K), a weight stored (N, K)) become panel
// columns through 16 x 16 transposes of 32-bit pairs; source rows that run across a panel (A stored (K, M),
// a weight stored (K, N)) are interleaved two rows at a time. The packers are vector code with AVX-512BW;
// the micro-kernel with AVX512-BF16 (Zen 4, Cooper Lake, Sapphire Rapids). Otherwise portable C++.
#include "kernels/cpu/gemm_bf16_pairs.h"

#include "kernels/cpu/gemm_microkernel.h"
#include "kernels/cpu/gemm_tile_store.h"
#include "kernels/cpu/simd_transpose.h"

#include <cstring>

bf16 gemm_round_to_bf16(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;  // rounding could turn a NaN into inf
    return bf16((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// Element i of a source that is either f32 (rounded here) or already bf16.
static inline bf16 source_value(const float* f32, const bf16* half, size_t i) {
    return f32 ? gemm_round_to_bf16(f32[i]) : half[i];
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)

static inline __mmask16 first_n(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// Up to 16 consecutive values of a source row as 16 bf16 in a ymm, zero beyond n (masked loads never touch
// the memory they skip). f32 values are rounded exactly as gemm_round_to_bf16 does, NaN included.
static inline __m256i load_16_as_bf16(const float* f32, const bf16* half, size_t offset, int n) {
    if (!f32) return _mm256_maskz_loadu_epi16(first_n(n), half + offset);
    __m512i bits = _mm512_castps_si512(_mm512_maskz_loadu_ps(first_n(n), f32 + offset));
    __m512i lowest_kept_bit = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lowest_kept_bit)), 16);
    __mmask16 is_nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF)),
                                               _mm512_set1_epi32(0x7F800000));
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, is_nan, _mm512_set1_epi32(0x7FC0)));
}

// Up to 32 consecutive values of a source row as 16 pair words, zero beyond n.
static inline __m512 load_32_as_pairs(const float* f32, const bf16* half, size_t offset, int n) {
    __m256i low = load_16_as_bf16(f32, half, offset, n);
    __m256i high = load_16_as_bf16(f32, half, offset + 16, n - 16);
    return _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1));
}

#endif

// Source rows r < n_rows at src + r * ld, each `depth` values along k, become the columns of a panel `width`
// wide: the pair word (k', r) holds steps 2k' and 2k'+1 of row r. The transposes move 32-bit pairs as floats:
// shuffles move bits and never look at them.
static void pack_pairs_along_rows(bf16* dst, int width, const float* src_f32, const bf16* src_bf16, size_t ld,
                                  int n_rows, int depth) {
    int pairs = gemm_bf16_depth(depth) / 2;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    for (int r0 = 0; r0 < width; r0 += 16) {
        __mmask16 group_mask = first_n(width - r0);
        for (int kp0 = 0; kp0 < pairs; kp0 += 16) {
            __m512 block[16];
            for (int r = 0; r < 16; ++r) {
                block[r] = r0 + r < n_rows
                               ? load_32_as_pairs(src_f32, src_bf16, (r0 + r) * ld + 2 * kp0, depth - 2 * kp0)
                               : _mm512_setzero_ps();
            }
            transpose_16x16(block);
            int n_pairs = pairs - kp0 < 16 ? pairs - kp0 : 16;
            for (int kp = 0; kp < n_pairs; ++kp) {
                _mm512_mask_storeu_ps(dst + 2 * ((size_t)(kp0 + kp) * width + r0), group_mask, block[kp]);
            }
        }
    }
#else
    for (int kp = 0; kp < pairs; ++kp) {
        for (int r = 0; r < width; ++r) {
            bf16* word = dst + 2 * ((size_t)kp * width + r);
            bool live = r < n_rows;
            word[0] = live ? source_value(src_f32, src_bf16, r * ld + 2 * kp) : 0;
            word[1] = live && 2 * kp + 1 < depth ? source_value(src_f32, src_bf16, r * ld + 2 * kp + 1) : 0;
        }
    }
#endif
}

// Source row k at src + k * ld holds n_values consecutive values across the panels (`width` each): the
// pair word (k', c) of panel p interleaves rows 2k' and 2k'+1 at column p * width + c.
static void pack_pairs_across_rows(bf16* dst, int width, const float* src_f32, const bf16* src_bf16, size_t ld,
                                   int n_values, int depth) {
    int depth2 = gemm_bf16_depth(depth), n_panels = (n_values + width - 1) / width;
    for (int p = 0; p < n_panels; ++p) {
        int live = n_values - p * width < width ? n_values - p * width : width;
        for (int kp = 0; kp < depth2 / 2; ++kp) {
            bf16* out = dst + ((size_t)p * depth2 + 2 * kp) * width;
            size_t even_row = (size_t)(2 * kp) * ld + (size_t)p * width;
            bool has_odd = 2 * kp + 1 < depth;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
            for (int c0 = 0; c0 < width; c0 += 16) {
                __m512i even = _mm512_cvtepu16_epi32(load_16_as_bf16(src_f32, src_bf16, even_row + c0, live - c0));
                __m512i odd = has_odd ? _mm512_cvtepu16_epi32(
                                            load_16_as_bf16(src_f32, src_bf16, even_row + ld + c0, live - c0))
                                      : _mm512_setzero_si512();
                _mm512_mask_storeu_epi32(out + 2 * c0, first_n(width - c0),
                                         _mm512_or_si512(even, _mm512_slli_epi32(odd, 16)));
            }
#else
            for (int c = 0; c < width; ++c) {
                out[2 * c] = c < live ? source_value(src_f32, src_bf16, even_row + c) : 0;
                out[2 * c + 1] = c < live && has_odd ? source_value(src_f32, src_bf16, even_row + ld + c) : 0;
            }
#endif
        }
    }
}

void gemm_pack_a_bf16(bf16* packed, const float* A, int lda, bool trans_a, int i0, int rows, int k0, int depth) {
    if (trans_a) {
        // A is stored (K, M): one step k is a source row running across the panels.
        pack_pairs_across_rows(packed, kGemmMR, A + (size_t)k0 * lda + i0, nullptr, lda, rows, depth);
        return;
    }
    for (int panel_row = 0; panel_row < rows; panel_row += kGemmMR) {
        int live = rows - panel_row < kGemmMR ? rows - panel_row : kGemmMR;
        bf16* panel = packed + (size_t)(panel_row / kGemmMR) * gemm_bf16_depth(depth) * kGemmMR;
        pack_pairs_along_rows(panel, kGemmMR, A + (size_t)(i0 + panel_row) * lda + k0, nullptr, lda, live, depth);
    }
}

void gemm_pack_b_bf16(bf16* packed, const bf16* B, int ldb, bool trans_b, int k0, int depth, int j0, int cols) {
    if (!trans_b) {
        // B is stored (K, N), e.g. a weight W (out, in) in the input gradient dY W.
        pack_pairs_across_rows(packed, kGemmNR, nullptr, B + (size_t)k0 * ldb + j0, ldb, cols, depth);
        return;
    }
    // B is stored (N, K), a weight in x W^T: each panel column is a row of W.
    for (int panel_col = 0; panel_col < cols; panel_col += kGemmNR) {
        int live = cols - panel_col < kGemmNR ? cols - panel_col : kGemmNR;
        bf16* panel = packed + (size_t)(panel_col / kGemmNR) * gemm_bf16_depth(depth) * kGemmNR;
        pack_pairs_along_rows(panel, kGemmNR, nullptr, B + (size_t)(j0 + panel_col) * ldb + k0, ldb, live, depth);
    }
}

#if defined(__AVX512F__) && defined(__AVX512BF16__)

// Per pair of steps: load 32 words of B (two zmm), then for each of the 14 rows broadcast one word of A and
// issue two vdpbf16ps, each adding two products into each of 16 f32 lanes: twice the arithmetic of an f32
// FMA per instruction. 28 independent accumulators, as in the f32 kernel.
void gemm_microkernel_bf16(int depth, const bf16* a_panel, const bf16* b_panel, float* C, int ldc, float alpha,
                           float beta, int rows, int cols) {
    __m512 acc[kGemmMR][2];
#pragma GCC unroll 14
    for (int r = 0; r < kGemmMR; ++r) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        _mm_prefetch((const char*)(C + (size_t)r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char*)(C + (size_t)r * ldc + 31), _MM_HINT_T0);
    }
    int pairs = gemm_bf16_depth(depth) / 2;
    for (int kp = 0; kp < pairs; ++kp, a_panel += 2 * kGemmMR, b_panel += 2 * kGemmNR) {
        __m512bh b_lo = (__m512bh)_mm512_loadu_si512(b_panel);
        __m512bh b_hi = (__m512bh)_mm512_loadu_si512(b_panel + 32);
#pragma GCC unroll 14
        for (int r = 0; r < kGemmMR; ++r) {
            uint32_t pair;
            std::memcpy(&pair, a_panel + 2 * r, sizeof pair);
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b_lo);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b_hi);
        }
    }
    gemm_store_tile_avx512(acc, C, ldc, alpha, beta, rows, cols);
}

#else

static inline float widen(bf16 h) {
    uint32_t bits = (uint32_t)h << 16;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// Portable: the same tile as plain arrays; each product of two bf16 is exact in f32.
void gemm_microkernel_bf16(int depth, const bf16* a_panel, const bf16* b_panel, float* C, int ldc, float alpha,
                           float beta, int rows, int cols) {
    float tile[kGemmMR * kGemmNR] = {};
    int pairs = gemm_bf16_depth(depth) / 2;
    for (int kp = 0; kp < pairs; ++kp, a_panel += 2 * kGemmMR, b_panel += 2 * kGemmNR) {
        for (int r = 0; r < kGemmMR; ++r) {
            float a_even = widen(a_panel[2 * r]), a_odd = widen(a_panel[2 * r + 1]);
            for (int c = 0; c < kGemmNR; ++c) {
                tile[r * kGemmNR + c] += a_even * widen(b_panel[2 * c]) + a_odd * widen(b_panel[2 * c + 1]);
            }
        }
    }
    gemm_store_tile(tile, C, ldc, alpha, beta, rows, cols);
}

#endif
