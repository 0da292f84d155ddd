// gemm_microkernel.cpp — packing and the register-tile micro-kernel of the blocked CPU GEMM (see
// gemm_microkernel.h for the layouts). Three micro-kernels, one compiled in: AVX-512 (14 x 32), AVX2+FMA
// (6 x 16) and plain C++ (4 x 8). They differ only in vector width; the loop structure is the same.
// Also the contiguous dot product of the direct path for thin products, in the same three flavours.
// No blocking or threading here: gemm.cpp calls these on blocks that fit the caches.
#include "kernels/cpu/gemm_microkernel.h"

#include "kernels/cpu/gemm_tile_store.h"
#include "kernels/cpu/simd_transpose.h"

#include <cstring>
#if defined(__AVX2__) || defined(__AVX512F__)
// GCC 12 reports false "(may be) used uninitialized" warnings inside its own AVX-512 intrinsics (GCC bug
// 105593, fixed in GCC 13); they point into the header, so they are silenced for the header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

static inline float bf16_bits_to_f32(bf16 h) {
    uint32_t bits = (uint32_t)h << 16;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// The transposing packs use AVX-512BW/VL for masked 16-bit loads of bf16 rows (every AVX-512 desktop and
// server CPU since Skylake-X has them).
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)

// Up to 16 consecutive floats of one source row (f32, or bf16 widened by a 16-bit shift), zero beyond n.
static inline __m512 load_row_chunk(const float* f32, const bf16* half, size_t offset, int n) {
    __mmask16 mask = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    if (f32) return _mm512_maskz_loadu_ps(mask, f32 + offset);
    __m256i bits = _mm256_maskz_loadu_epi16(mask, half + offset);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

#endif

// The transposing case of both packers: `n_rows` source rows, row r at src + r * ld and contiguous along
// k, become the columns of a panel `width` wide: dst[k * width + r]. Columns n_rows..width-1 are zero.
// With AVX-512 the copy goes through 16 x 16 register transposes instead of width-strided scalar stores.
static void pack_rows_as_columns(float* dst, int width, const float* src_f32, const bf16* src_bf16, size_t ld,
                                 int n_rows, int depth) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    for (int r0 = 0; r0 < width; r0 += 16) {
        int group = width - r0 < 16 ? width - r0 : 16;
        __mmask16 group_mask = (__mmask16)((1u << group) - 1);
        for (int k0 = 0; k0 < depth; k0 += 16) {
            int chunk = depth - k0 < 16 ? depth - k0 : 16;
            __m512 block[16];
            for (int r = 0; r < 16; ++r) {
                block[r] = r0 + r < n_rows ? load_row_chunk(src_f32, src_bf16, (r0 + r) * ld + k0, chunk)
                                           : _mm512_setzero_ps();
            }
            transpose_16x16(block);
            for (int k = 0; k < chunk; ++k) {
                _mm512_mask_storeu_ps(dst + (size_t)(k0 + k) * width + r0, group_mask, block[k]);
            }
        }
    }
#else
    for (int r = 0; r < width; ++r) {
        for (int k = 0; k < depth; ++k) {
            float value = 0.0f;
            if (r < n_rows) value = src_f32 ? src_f32[r * ld + k] : bf16_bits_to_f32(src_bf16[r * ld + k]);
            dst[(size_t)k * width + r] = value;
        }
    }
#endif
}

// The other case of both packers: source row k (at src + k * ld) holds `n_values` consecutive values
// along the panels' width, so each one is cut into width-long pieces, one per panel. Rows are taken 16
// at a time: those 16 rows stay in L1 while every panel gets its 16 steps, written contiguously.
static void pack_rows_across_panels(float* dst, int width, const float* src_f32, const bf16* src_bf16,
                                    size_t ld, int n_values, int depth) {
    int n_panels = (n_values + width - 1) / width;
    for (int k0 = 0; k0 < depth; k0 += 16) {
        int k1 = depth - k0 < 16 ? depth : k0 + 16;
        for (int p = 0; p < n_panels; ++p) {
            int live = n_values - p * width < width ? n_values - p * width : width;
            for (int k = k0; k < k1; ++k) {
                float* out = dst + ((size_t)p * depth + k) * width;
                size_t in = k * ld + (size_t)p * width;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
                // Pieces are 14 or 32 floats: one or two masked moves, zero padding included.
                for (int c0 = 0; c0 < width; c0 += 16) {
                    int stored = width - c0 < 16 ? width - c0 : 16;
                    __m512 piece = _mm512_setzero_ps();
                    if (c0 < live) piece = load_row_chunk(src_f32, src_bf16, in + c0, live - c0);
                    _mm512_mask_storeu_ps(out + c0, (__mmask16)((1u << stored) - 1), piece);
                }
#else
                for (int c = 0; c < live; ++c) {
                    out[c] = src_f32 ? src_f32[in + c] : bf16_bits_to_f32(src_bf16[in + c]);
                }
                for (int c = live; c < width; ++c) out[c] = 0.0f;
#endif
            }
        }
    }
}

void gemm_pack_a(float* packed, const float* A, int lda, bool trans_a, int i0, int rows, int k0, int depth) {
    if (trans_a) {
        // A is stored (K, M): the MR values of one step k are contiguous in memory.
        pack_rows_across_panels(packed, kGemmMR, A + (size_t)k0 * lda + i0, nullptr, lda, rows, depth);
        return;
    }
    // A is stored (M, K): each row of a panel is contiguous along k, so panels are transposed copies.
    for (int panel_row = 0; panel_row < rows; panel_row += kGemmMR) {
        int live = rows - panel_row < kGemmMR ? rows - panel_row : kGemmMR;
        float* panel = packed + (size_t)(panel_row / kGemmMR) * depth * kGemmMR;
        const float* rows_src = A + (size_t)(i0 + panel_row) * lda + k0;
        pack_rows_as_columns(panel, kGemmMR, rows_src, nullptr, lda, live, depth);
    }
}

void gemm_pack_b(float* packed, const float* B_f32, const bf16* B_bf16, int ldb, bool trans_b, int k0,
                 int depth, int j0, int cols) {
    if (!trans_b) {
        // B is stored (K, N): the NR values of one step k are contiguous in memory.
        size_t offset = (size_t)k0 * ldb + j0;
        pack_rows_across_panels(packed, kGemmNR, B_f32 ? B_f32 + offset : nullptr,
                                B_f32 ? nullptr : B_bf16 + offset, ldb, cols, depth);
        return;
    }
    // B is stored (N, K), e.g. a Linear weight W (out, in): each column of a panel is a row of W,
    // contiguous along k, so panels are transposed copies.
    for (int panel_col = 0; panel_col < cols; panel_col += kGemmNR) {
        int live = cols - panel_col < kGemmNR ? cols - panel_col : kGemmNR;
        float* panel = packed + (size_t)(panel_col / kGemmNR) * depth * kGemmNR;
        size_t offset = (size_t)(j0 + panel_col) * ldb + k0;
        pack_rows_as_columns(panel, kGemmNR, B_f32 ? B_f32 + offset : nullptr,
                             B_f32 ? nullptr : B_bf16 + offset, ldb, live, depth);
    }
}

#if defined(__AVX512F__)

// Per step k: load 32 floats of B into two zmm, then for each of the 14 rows broadcast one float of A
// and issue two FMAs. 28 independent accumulators keep both FMA pipes busy despite their 4-cycle latency.
void gemm_microkernel(int depth, const float* a_panel, const float* b_panel, float* C, int ldc, float alpha,
                      float beta, int rows, int cols) {
    // Every loop over r is unrolled so that acc is indexed by constants only and lives in registers.
    __m512 acc[kGemmMR][2];
#pragma GCC unroll 14
    for (int r = 0; r < kGemmMR; ++r) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        _mm_prefetch((const char*)(C + (size_t)r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char*)(C + (size_t)r * ldc + 31), _MM_HINT_T0);
    }
    for (int k = 0; k < depth; ++k, a_panel += kGemmMR, b_panel += kGemmNR) {
        __m512 b_lo = _mm512_load_ps(b_panel);
        __m512 b_hi = _mm512_load_ps(b_panel + 16);
#pragma GCC unroll 14
        for (int r = 0; r < kGemmMR; ++r) {
            __m512 a = _mm512_set1_ps(a_panel[r]);
            acc[r][0] = _mm512_fmadd_ps(a, b_lo, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b_hi, acc[r][1]);
        }
    }
    gemm_store_tile_avx512(acc, C, ldc, alpha, beta, rows, cols);
}

#elif defined(__AVX2__) && defined(__FMA__)

// The same scheme with 256-bit registers: 16 floats of B in two ymm, 6 broadcasts of A, 12 accumulators.
void gemm_microkernel(int depth, const float* a_panel, const float* b_panel, float* C, int ldc, float alpha,
                      float beta, int rows, int cols) {
    // Every loop over r is unrolled so that acc is indexed by constants only and lives in registers.
    __m256 acc[kGemmMR][2];
#pragma GCC unroll 6
    for (int r = 0; r < kGemmMR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < depth; ++k, a_panel += kGemmMR, b_panel += kGemmNR) {
        __m256 b_lo = _mm256_load_ps(b_panel);
        __m256 b_hi = _mm256_load_ps(b_panel + 8);
#pragma GCC unroll 6
        for (int r = 0; r < kGemmMR; ++r) {
            __m256 a = _mm256_broadcast_ss(a_panel + r);
            acc[r][0] = _mm256_fmadd_ps(a, b_lo, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b_hi, acc[r][1]);
        }
    }
    __m256 alpha_v = _mm256_set1_ps(alpha);
    if (rows == kGemmMR && cols == kGemmNR) {
        __m256 beta_v = _mm256_set1_ps(beta);
#pragma GCC unroll 6
        for (int r = 0; r < kGemmMR; ++r) {
            float* c_row = C + (size_t)r * ldc;
            __m256 lo = _mm256_mul_ps(alpha_v, acc[r][0]);
            __m256 hi = _mm256_mul_ps(alpha_v, acc[r][1]);
            if (beta != 0.0f) {
                lo = _mm256_fmadd_ps(beta_v, _mm256_loadu_ps(c_row), lo);
                hi = _mm256_fmadd_ps(beta_v, _mm256_loadu_ps(c_row + 8), hi);
            }
            _mm256_storeu_ps(c_row, lo);
            _mm256_storeu_ps(c_row + 8, hi);
        }
        return;
    }
    alignas(32) float tile[kGemmMR * kGemmNR];
#pragma GCC unroll 6
    for (int r = 0; r < kGemmMR; ++r) {
        _mm256_store_ps(tile + r * kGemmNR, acc[r][0]);
        _mm256_store_ps(tile + r * kGemmNR + 8, acc[r][1]);
    }
    gemm_store_tile(tile, C, ldc, alpha, beta, rows, cols);
}

#else

// Portable fallback: the same register tile as plain arrays; the compiler may vectorize the c loop.
void gemm_microkernel(int depth, const float* a_panel, const float* b_panel, float* C, int ldc, float alpha,
                      float beta, int rows, int cols) {
    float tile[kGemmMR * kGemmNR] = {};
    for (int k = 0; k < depth; ++k, a_panel += kGemmMR, b_panel += kGemmNR) {
        for (int r = 0; r < kGemmMR; ++r) {
            for (int c = 0; c < kGemmNR; ++c) tile[r * kGemmNR + c] += a_panel[r] * b_panel[c];
        }
    }
    gemm_store_tile(tile, C, ldc, alpha, beta, rows, cols);
}

#endif

// ---- the dot product of thin products ---------------------------------------------------------------

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)

// Four independent accumulators of 16 lanes hide the FMA latency; the tail uses masked loads.
float gemm_dot(const float* x, const float* y_f32, const bf16* y_bf16, int n) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int k = 0;
    for (; k + 64 <= n; k += 64) {
        for (int v = 0; v < 4; ++v) {
            __m512 y = load_row_chunk(y_f32, y_bf16, k + 16 * v, 16);
            acc[v] = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16 * v), y, acc[v]);
        }
    }
    for (; k < n; k += 16) {
        int chunk = n - k < 16 ? n - k : 16;
        __mmask16 mask = (__mmask16)((1u << chunk) - 1);
        __m512 y = load_row_chunk(y_f32, y_bf16, k, chunk);
        acc[0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, x + k), y, acc[0]);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

#elif defined(__AVX2__) && defined(__FMA__)

float gemm_dot(const float* x, const float* y_f32, const bf16* y_bf16, int n) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        for (int v = 0; v < 4; ++v) {
            __m256 y;
            if (y_f32) {
                y = _mm256_loadu_ps(y_f32 + k + 8 * v);
            } else {
                __m128i bits = _mm_loadu_si128((const __m128i*)(y_bf16 + k + 8 * v));
                y = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
            }
            acc[v] = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8 * v), y, acc[v]);
        }
    }
    __m256 sum8 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, sum8);
    float total = 0.0f;
    for (int l = 0; l < 8; ++l) total += lanes[l];
    for (; k < n; ++k) total += x[k] * (y_f32 ? y_f32[k] : bf16_bits_to_f32(y_bf16[k]));
    return total;
}

#else

float gemm_dot(const float* x, const float* y_f32, const bf16* y_bf16, int n) {
    float total = 0.0f;
    for (int k = 0; k < n; ++k) total += x[k] * (y_f32 ? y_f32[k] : bf16_bits_to_f32(y_bf16[k]));
    return total;
}

#endif

// ---- 4 x 4 blocks of dot products (few rows of A against a weight stored row by row) ----------------

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)

// How far ahead along a weight row the next chunks are requested from memory (the rows are read once,
// from DRAM, so the hardware prefetcher alone leaves the loads waiting).
constexpr int kDotPrefetchAhead = 256;

void gemm_dot_block(const float* x, long x_stride, int n_x, const float* y_f32, const bf16* y_bf16, long y_stride,
                    int n_y, int n, float dots[16]) {
    // Missing rows repeat the last real one, so the loop has no row tests; their dots are ignored.
    const float* x_rows[4];
    size_t y_offsets[4];
    for (int r = 0; r < 4; ++r) x_rows[r] = x + (size_t)(r < n_x ? r : n_x - 1) * x_stride;
    for (int c = 0; c < 4; ++c) y_offsets[c] = (size_t)(c < n_y ? c : n_y - 1) * y_stride;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
    }
    for (int k = 0; k < n; k += 16) {
        int chunk = n - k < 16 ? n - k : 16;
        __mmask16 mask = chunk == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << chunk) - 1);
        __m512 y[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) {
            if (y_f32) _mm_prefetch((const char*)(y_f32 + y_offsets[c] + k + kDotPrefetchAhead), _MM_HINT_T0);
            y[c] = load_row_chunk(y_f32, y_bf16, y_offsets[c] + k, chunk);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
            __m512 xr = _mm512_maskz_loadu_ps(mask, x_rows[r] + k);
#pragma GCC unroll 4
            for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_fmadd_ps(xr, y[c], acc[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) dots[r * 4 + c] = _mm512_reduce_add_ps(acc[r][c]);
    }
}

#else

void gemm_dot_block(const float* x, long x_stride, int n_x, const float* y_f32, const bf16* y_bf16, long y_stride,
                    int n_y, int n, float dots[16]) {
    for (int r = 0; r < n_x; ++r) {
        for (int c = 0; c < n_y; ++c) {
            size_t at = (size_t)c * y_stride;
            dots[r * 4 + c] = gemm_dot(x + (size_t)r * x_stride, y_f32 ? y_f32 + at : nullptr,
                                       y_f32 ? nullptr : y_bf16 + at, n);
        }
    }
}

#endif
