// fast_attention_tiles.cpp — the tile kernels of fast attention (declared in fast_attention_tiles.h). The two
// products that carry nearly all the FLOPs, rows_times_columns and add_weighted_rows, keep a 4 x 64 block of
// results in sixteen AVX-512 registers while the shared dimension streams by: per step, four vector loads
// and four broadcasts feed sixteen FMAs. Without AVX-512 they are plain loops the compiler vectorises.
#include "kernels/cpu/fast_attention_tiles.h"

#include <cmath>

#include "kernels/cpu/fast_math.h"  // <immintrin.h>, with GCC 12's false warnings silenced
#include "kernels/cpu/simd_transpose.h"

namespace fast {

// A block of kRowBlock output rows shares every vector load; a last, shorter block repeats its final row
// (clamping the index) and stores only the rows that exist, so no kernel needs a remainder variant.
constexpr int kRowBlock = 4;

#if defined(__AVX512F__)

static inline __mmask16 first_lanes(int n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// By 16 x 16 blocks; rows past `rows` load as zero, which writes the padding columns too.
void pack_transposed(float* dst, int ld, const float* src, long src_stride, int rows, int D) {
    for (int j0 = 0; j0 < ld; j0 += 16)
        for (int d0 = 0; d0 < D; d0 += 16) {
            __mmask16 columns = first_lanes(D - d0);
            __m512 block[16];
            for (int r = 0; r < 16; r++)
                block[r] = j0 + r < rows ? _mm512_maskz_loadu_ps(columns, src + (j0 + r) * src_stride + d0)
                                         : _mm512_setzero_ps();
            transpose_16x16(block);
            for (int c = 0; c < std::min(16, D - d0); c++) _mm512_storeu_ps(dst + long(d0 + c) * ld + j0, block[c]);
        }
}

void rows_times_columns(float* out, const float* rows, long row_stride, int nq, const float* columns, int ld, int D,
                        int n_columns) {
    int vectors = (n_columns + 15) / 16;
    for (int i0 = 0; i0 < nq; i0 += kRowBlock) {
        const float* row[kRowBlock];
        for (int r = 0; r < kRowBlock; r++) row[r] = rows + std::min(i0 + r, nq - 1) * row_stride;
        __m512 acc[kRowBlock][4];
        for (int r = 0; r < kRowBlock; r++)
            for (int x = 0; x < 4; x++) acc[r][x] = _mm512_setzero_ps();
        // The loops have constant bounds, so acc stays in registers; `x < vectors` only skips work.
        for (int d = 0; d < D; d++) {
            const float* column = columns + long(d) * ld;
            __m512 keys[4];
            for (int x = 0; x < 4; x++) keys[x] = x < vectors ? _mm512_loadu_ps(column + 16 * x) : _mm512_setzero_ps();
            for (int r = 0; r < kRowBlock; r++) {
                __m512 a = _mm512_set1_ps(row[r][d]);
                for (int x = 0; x < 4; x++)
                    if (x < vectors) acc[r][x] = _mm512_fmadd_ps(a, keys[x], acc[r][x]);
            }
        }
        for (int r = 0; r < kRowBlock; r++)
            if (i0 + r < nq)
                for (int x = 0; x < 4; x++) _mm512_storeu_ps(out + (i0 + r) * kBlockK + 16 * x, acc[r][x]);
    }
}

void add_weighted_rows(float* acc, long acc_stride, int n_out, const float* weights, long weight_out_stride,
                       long weight_in_stride, const float* rows, long row_stride, int n_in, int D) {
    // D goes by chunks of 64 (four vectors); lanes past D are masked off in loads and stores.
    for (int d0 = 0; d0 < D; d0 += 64) {
        __mmask16 lanes[4];
        for (int x = 0; x < 4; x++) lanes[x] = first_lanes(D - d0 - 16 * x);
        for (int o0 = 0; o0 < n_out; o0 += kRowBlock) {
            int o[kRowBlock];
            for (int r = 0; r < kRowBlock; r++) o[r] = std::min(o0 + r, n_out - 1);
            __m512 sum[kRowBlock][4];
            for (int r = 0; r < kRowBlock; r++)
                for (int x = 0; x < 4; x++)
                    sum[r][x] = _mm512_maskz_loadu_ps(lanes[x], acc + o[r] * acc_stride + d0 + 16 * x);
            for (int c = 0; c < n_in; c++) {
                const float* row = rows + c * row_stride + d0;
                __m512 values[4];
                for (int x = 0; x < 4; x++) values[x] = _mm512_maskz_loadu_ps(lanes[x], row + 16 * x);
                for (int r = 0; r < kRowBlock; r++) {
                    __m512 w = _mm512_set1_ps(weights[o[r] * weight_out_stride + c * weight_in_stride]);
                    for (int x = 0; x < 4; x++) sum[r][x] = _mm512_fmadd_ps(w, values[x], sum[r][x]);
                }
            }
            for (int r = 0; r < kRowBlock; r++)  // constant bounds keep sum in registers
                if (o0 + r < n_out)
                    for (int x = 0; x < 4; x++)
                        _mm512_mask_storeu_ps(acc + o[r] * acc_stride + d0 + 16 * x, lanes[x], sum[r][x]);
        }
    }
}

#else

void pack_transposed(float* dst, int ld, const float* src, long src_stride, int rows, int D) {
    for (int j = 0; j < rows; j++) {
        const float* row = src + j * src_stride;
        for (int d = 0; d < D; d++) dst[long(d) * ld + j] = row[d];
    }
    for (int d = 0; d < D; d++) std::fill(dst + long(d) * ld + rows, dst + long(d) * ld + ld, 0.0f);
}

void rows_times_columns(float* out, const float* rows, long row_stride, int nq, const float* columns, int ld, int D,
                        int n_columns) {
    for (int i = 0; i < nq; i++) {
        const float* row = rows + i * row_stride;
        float acc[kBlockK] = {};
        for (int d = 0; d < D; d++) {
            const float* column = columns + long(d) * ld;
#pragma omp simd
            for (int j = 0; j < n_columns; j++) acc[j] += row[d] * column[j];
        }
        std::copy(acc, acc + kBlockK, out + i * kBlockK);
    }
}

void add_weighted_rows(float* acc, long acc_stride, int n_out, const float* weights, long weight_out_stride,
                       long weight_in_stride, const float* rows, long row_stride, int n_in, int D) {
    for (int o = 0; o < n_out; o++) {
        float* a = acc + o * acc_stride;
        for (int c = 0; c < n_in; c++) {
            float w = weights[o * weight_out_stride + c * weight_in_stride];
            const float* row = rows + c * row_stride;
#pragma omp simd
            for (int d = 0; d < D; d++) a[d] += w * row[d];
        }
    }
}

#endif

void finish_scores(float* scores, const AttentionProblem& p, int b, int h, int q0, int nq, int k0, int nk) {
    const AttentionShape& s = p.s;
    // The key mask of the tile as floats (1 kept, 0 masked), so that the row loop is a float select the
    // compiler vectorises; an absent bias reads as a row of zeros.
    static const float kNoBias[kBlockK] = {};
    float kept[kBlockK];
    for (int j = 0; j < nk; j++) kept[j] = p.key_mask && !p.key_mask[long(b) * s.Tk + k0 + j] ? 0.0f : 1.0f;
    float scale = s.scale;
    for (int i = 0; i < nq; i++) {
        float* row = scores + i * kBlockK;
        const float* bias = p.pos_bias ? p.pos_bias + (long(h) * s.Tq + q0 + i) * s.Tk + k0 : kNoBias;
        int visible = std::min(std::max(p.visible_end(q0 + i) - k0, 0), nk);  // causality as a bound on j
#pragma omp simd
        for (int j = 0; j < visible; j++) row[j] = kept[j] != 0.0f ? scale * row[j] + bias[j] : kMaskedScore;
        std::fill(row + visible, row + nk, kMaskedScore);
        std::fill(row + nk, row + kBlockK, -INFINITY);
    }
}

}  // namespace fast
