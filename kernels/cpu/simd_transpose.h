// simd_transpose.h — the 16 x 16 in-register transpose of floats that the fast CPU kernels use to turn
// rows into columns with whole-vector loads and stores: the GEMM's packers (gemm_microkernel.cpp) and the
// attention's transposed K tiles (fast_attention_tiles.cpp). AVX-512 only; callers keep a scalar path.
#pragma once
#if defined(__AVX512F__)
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps, GCC bug 105593) once they are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

// In-register transpose of 16 rows of 16 floats: rows[r] element c becomes rows[c] element r. Pairs of rows
// interleave floats, then pairs of pairs interleave float pairs (4 x 4 blocks in each 128-bit lane), then
// 128-bit lanes are gathered across the four blocks of rows: 64 shuffles for 256 floats.
inline void transpose_16x16(__m512 rows[16]) {
    __m512 pairs[16], quads[16];
    for (int i = 0; i < 8; i++) {
        pairs[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
        pairs[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
    }
    // quads[4i + c], 128-bit lane l: rows 4i .. 4i + 3 of column 4l + c.
    for (int i = 0; i < 4; i++)
        for (int half = 0; half < 2; half++) {
            __m512d low = _mm512_castps_pd(pairs[4 * i + half]), high = _mm512_castps_pd(pairs[4 * i + 2 + half]);
            quads[4 * i + 2 * half] = _mm512_castpd_ps(_mm512_unpacklo_pd(low, high));
            quads[4 * i + 2 * half + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(low, high));
        }
    // Column 4l + c is lane l of quads[c], quads[4 + c], quads[8 + c], quads[12 + c], in that order.
    for (int c = 0; c < 4; c++) {
        __m512 lanes01_of_01 = _mm512_shuffle_f32x4(quads[c], quads[4 + c], 0x44);
        __m512 lanes23_of_01 = _mm512_shuffle_f32x4(quads[c], quads[4 + c], 0xEE);
        __m512 lanes01_of_23 = _mm512_shuffle_f32x4(quads[8 + c], quads[12 + c], 0x44);
        __m512 lanes23_of_23 = _mm512_shuffle_f32x4(quads[8 + c], quads[12 + c], 0xEE);
        rows[c] = _mm512_shuffle_f32x4(lanes01_of_01, lanes01_of_23, 0x88);
        rows[4 + c] = _mm512_shuffle_f32x4(lanes01_of_01, lanes01_of_23, 0xDD);
        rows[8 + c] = _mm512_shuffle_f32x4(lanes23_of_01, lanes23_of_23, 0x88);
        rows[12 + c] = _mm512_shuffle_f32x4(lanes23_of_01, lanes23_of_23, 0xDD);
    }
}

#endif
