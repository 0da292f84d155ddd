// fast_math.h — the vectorised exp behind the fast CPU kernels (softmax, losses, attention, GELU, SiLU):
// exp(x) = 2^n * p(r) with x = n ln2 + r, |r| <= ln2 / 2, p a degree-6 polynomial (the Cephes expf
// coefficients), about 2 ulp. AVX-512 and AVX2 versions, and a std::exp loop where neither is compiled in.
// Inputs below -87.3 (masked scores, -inf) give exactly 0. Also a vectorised sqrt (for AdamW).
#pragma once
#include <cmath>
#include <cstddef>
#if defined(__AVX512F__) || defined(__AVX2__)
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps, GCC bug 105593) once they are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace fast {

// The exp polynomial on the reduced argument r: 1 + r + r^2 (1/2 + r (1/6 + r (1/24 + ...))).
constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;  // ln 2 split in two so that n * kLn2High is exact
constexpr float kLn2Low = -2.12194440e-4f;
constexpr float kExpMin = -87.3f;  // below this exp underflows f32's normal range: we return 0
constexpr float kExpMax = 89.0f;   // above log(FLT_MAX) = 88.72 the result is inf

#if defined(__AVX512F__)
constexpr size_t kLanes = 16;
inline __m512 exp_lanes(__m512 x) {
    __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpMin), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kExpMin)), _mm512_set1_ps(kExpMax));
    __m512 n =
        _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2High), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Low), r);
    __m512 p = _mm512_set1_ps(kExpPoly[0]);
    for (int i = 1; i < 6; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
    __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    y = _mm512_scalef_ps(y, n);  // y * 2^n, saturating to inf past kExpMax
    return _mm512_maskz_mov_ps(~underflow, y);
}
inline __m512 sqrt_lanes(__m512 x) { return _mm512_sqrt_ps(x); }
inline __m512 load_lanes(const float* p) { return _mm512_loadu_ps(p); }
inline void store_lanes(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
inline __m512 broadcast_lanes(float x) { return _mm512_set1_ps(x); }
inline __m512 sub_lanes(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }
inline __m512 add_lanes(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
inline float sum_of_lanes(__m512 v) { return _mm512_reduce_add_ps(v); }
typedef __m512 Lanes;
#elif defined(__AVX2__)
constexpr size_t kLanes = 8;
inline __m256 exp_lanes(__m256 x) {
    __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(kExpMin), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpMin)), _mm256_set1_ps(kExpMax));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), r);
    __m256 p = _mm256_set1_ps(kExpPoly[0]);
    for (int i = 1; i < 6; i++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
    __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // 2^n built in the exponent field, in two halves n = n1 + n2 so that each 2^half is a normal float
    // even at the ends of the clamped range (2^-126 and 2^128 alone are not).
    __m256i n_int = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(n_int, 1), n2 = _mm256_sub_epi32(n_int, n1);
    __m256 two_pow1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 two_pow2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    y = _mm256_mul_ps(_mm256_mul_ps(y, two_pow1), two_pow2);
    return _mm256_andnot_ps(underflow, y);
}
inline __m256 sqrt_lanes(__m256 x) { return _mm256_sqrt_ps(x); }
inline __m256 load_lanes(const float* p) { return _mm256_loadu_ps(p); }
inline void store_lanes(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline __m256 broadcast_lanes(float x) { return _mm256_set1_ps(x); }
inline __m256 sub_lanes(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
inline __m256 add_lanes(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
inline float sum_of_lanes(__m256 v) {
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    return _mm_cvtss_f32(half);
}
typedef __m256 Lanes;
#else
constexpr size_t kLanes = 0;  // no vector unit compiled in: the loops below run their scalar tails only
#endif

inline float exp_scalar(float x) { return x < kExpMin ? 0.0f : std::exp(x); }

// out[i] = sqrt(inp[i]), correctly rounded like std::sqrt. The compiler does not vectorise std::sqrt itself
// (it must keep errno for negative inputs), hence this loop. out may equal inp.
inline void sqrt_array(float* out, const float* inp, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__) || defined(__AVX2__)
    for (; i + kLanes <= n; i += kLanes) store_lanes(out + i, sqrt_lanes(load_lanes(inp + i)));
#endif
    for (; i < n; i++) out[i] = std::sqrt(inp[i]);
}

// out[i] = exp(inp[i]). out may equal inp.
inline void exp_array(float* out, const float* inp, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__) || defined(__AVX2__)
    for (; i + kLanes <= n; i += kLanes) store_lanes(out + i, exp_lanes(load_lanes(inp + i)));
#endif
    for (; i < n; i++) out[i] = exp_scalar(inp[i]);
}

// out[i] = exp(inp[i] - shift); returns the sum of the out[i]. out may equal inp.
inline float exp_shifted_sum(float* out, const float* inp, float shift, size_t n) {
    size_t i = 0;
    float total = 0.0f;
#if defined(__AVX512F__) || defined(__AVX2__)
    Lanes lane_total = broadcast_lanes(0.0f), lane_shift = broadcast_lanes(shift);
    for (; i + kLanes <= n; i += kLanes) {
        Lanes e = exp_lanes(sub_lanes(load_lanes(inp + i), lane_shift));
        store_lanes(out + i, e);
        lane_total = add_lanes(lane_total, e);
    }
    total = sum_of_lanes(lane_total);
#endif
    // The tail as a count, not as i < n: g++ -O2 otherwise warns (-Waggressive-loop-optimizations, a false
    // alarm) where n is a constant multiple of kLanes, inlined into fast_attention.cpp.
    for (size_t rest = n - i; rest > 0; rest--, i++) {
        out[i] = exp_scalar(inp[i] - shift);
        total += out[i];
    }
    return total;
}

// sum_i exp(inp[i] - shift), nothing stored (log-sum-exp of a row that is not kept).
inline float sum_exp_shifted(const float* inp, float shift, size_t n) {
    size_t i = 0;
    float total = 0.0f;
#if defined(__AVX512F__) || defined(__AVX2__)
    Lanes lane_total = broadcast_lanes(0.0f), lane_shift = broadcast_lanes(shift);
    for (; i + kLanes <= n; i += kLanes)
        lane_total = add_lanes(lane_total, exp_lanes(sub_lanes(load_lanes(inp + i), lane_shift)));
    total = sum_of_lanes(lane_total);
#endif
    for (; i < n; i++) total += exp_scalar(inp[i] - shift);
    return total;
}

}  // namespace fast
