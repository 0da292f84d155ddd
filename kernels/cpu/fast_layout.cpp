// fast_layout.cpp — the fast CPU kernels that move data by index: strided copies (transpose, permute,
// slice, concat), embedding lookups and their scatter-add, rotary embedding and SAPT's max-pool over the
// sequence. Threads split the outer loops; inner loops run over contiguous memory where there is some.
// Every scatter-add is split so that no two threads add into the same element (deterministic results).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/fast.h"

namespace fast {

// ---- strided copies --------------------------------------------------------------------------------

// The input offset of the first element of outer row `outer`, where outer rows are all dimensions but the last.
static long outer_offset(long outer, int ndim, const long* shape, const long* inp_strides) {
    long offset = 0;
    for (int d = ndim - 2; d >= 0; d--) {
        offset += (outer % shape[d]) * inp_strides[d];
        outer /= shape[d];
    }
    return offset;
}

void copy_strided(float* out, const float* inp, int ndim, const long* shape, const long* inp_strides) {
    if (ndim == 0) {
        out[0] = inp[0];
        return;
    }
    long inner = shape[ndim - 1], inner_stride = inp_strides[ndim - 1], outer_count = 1;
    for (int d = 0; d < ndim - 1; d++) outer_count *= shape[d];
#pragma omp parallel for if (size_t(outer_count * inner) >= kParallelMin)
    for (long outer = 0; outer < outer_count; outer++) {
        const float* src = inp + outer_offset(outer, ndim, shape, inp_strides);
        float* dst = out + outer * inner;
        if (inner_stride == 1) {
            std::memcpy(dst, src, inner * sizeof(float));
        } else {
            for (long i = 0; i < inner; i++) dst[i] = src[i * inner_stride];
        }
    }
}

// True when no two indices of `shape` reach the same input offset, so that threads may add in parallel:
// sorted by stride, each dimension's stride must step over everything the smaller dimensions span.
static bool strides_never_alias(int ndim, const long* shape, const long* inp_strides) {
    std::vector<std::pair<long, long>> dims;  // (|stride|, size) of the dimensions that move
    for (int d = 0; d < ndim; d++)
        if (shape[d] > 1) dims.push_back({std::labs(inp_strides[d]), shape[d]});
    std::sort(dims.begin(), dims.end());
    long span = 1;  // offsets covered so far: [0, span)
    for (const auto& dim : dims) {
        if (dim.first < span) return false;
        span = dim.first * (dim.second - 1) + span;
    }
    return true;
}

void add_strided(float* dinp, const float* dout, int ndim, const long* shape, const long* inp_strides) {
    if (ndim == 0) {
        dinp[0] += dout[0];
        return;
    }
    long inner = shape[ndim - 1], inner_stride = inp_strides[ndim - 1], outer_count = 1;
    for (int d = 0; d < ndim - 1; d++) outer_count *= shape[d];
    // A broadcast's backward (stride 0) adds many dout elements into one dinp element: kept serial.
    bool parallel = size_t(outer_count * inner) >= kParallelMin && strides_never_alias(ndim, shape, inp_strides);
#pragma omp parallel for if (parallel)
    for (long outer = 0; outer < outer_count; outer++) {
        float* dst = dinp + outer_offset(outer, ndim, shape, inp_strides);
        const float* src = dout + outer * inner;
        if (inner_stride == 1) {
#pragma omp simd
            for (long i = 0; i < inner; i++) dst[i] += src[i];
        } else {
            for (long i = 0; i < inner; i++) dst[i * inner_stride] += src[i];
        }
    }
}

// ---- embedding -----------------------------------------------------------------------------------

void embedding_forward(float* out, const int32_t* ids, const float* table, size_t N, size_t C) {
#pragma omp parallel for if (N * C >= kParallelMin)
    for (size_t n = 0; n < N; n++) std::memcpy(out + n * C, table + size_t(ids[n]) * C, C * sizeof(float));
}

void embedding_forward_bf16(float* out, const int32_t* ids, const bf16* table, size_t N, size_t C) {
#pragma omp parallel for if (N * C >= kParallelMin)
    for (size_t n = 0; n < N; n++) {
        const bf16* row = table + size_t(ids[n]) * C;
        float* dst = out + n * C;
#pragma omp simd
        for (size_t c = 0; c < C; c++) {
            uint32_t bits = uint32_t(row[c]) << 16;  // bf16 is the top half of an f32
            std::memcpy(&dst[c], &bits, sizeof bits);
        }
    }
}

// Repeated ids add into the same table row, so threads split the columns instead of the rows.
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, size_t N, size_t C) {
    const size_t width = 64;
    size_t chunks = (C + width - 1) / width;
#pragma omp parallel for if (N * C >= kParallelMin)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t c0 = chunk * width, c1 = std::min(C, c0 + width);
        for (size_t n = 0; n < N; n++) {
            float* dst = dtable + size_t(ids[n]) * C;
            const float* src = dout + n * C;
#pragma omp simd
            for (size_t c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

// ---- rotary position embedding --------------------------------------------------------------------

// Rotates each pair (x[i], x[i + D/2]) of x (B, T, H, D) by sign * angle; cos and sin are computed once per
// (b, t) and shared by the H heads. The angle is HF's f32 computation, as in reference_rows.cpp.
static void rope_rotate(float* out, const float* inp, bool accumulate, float sign, const int32_t* positions, size_t B,
                        size_t T, size_t H, size_t D, float theta) {
    size_t half = D / 2;
    std::vector<float> inv_freq(half);
    for (size_t i = 0; i < half; i++) inv_freq[i] = 1.0f / std::pow(theta, float(2 * i) / float(D));
#pragma omp parallel if (B * T * H * D >= kParallelMin)
    {
        std::vector<float> cos_a(half), sin_a(half);
#pragma omp for
        for (size_t bt = 0; bt < B * T; bt++) {
            for (size_t i = 0; i < half; i++) {
                float angle = float(positions[bt]) * inv_freq[i];
                cos_a[i] = std::cos(angle);
                sin_a[i] = sign * std::sin(angle);
            }
            for (size_t h = 0; h < H; h++) {
                const float* x = inp + (bt * H + h) * D;
                float* y = out + (bt * H + h) * D;
#pragma omp simd
                for (size_t i = 0; i < half; i++) {
                    float first = x[i] * cos_a[i] - x[i + half] * sin_a[i];
                    float second = x[i + half] * cos_a[i] + x[i] * sin_a[i];
                    y[i] = accumulate ? y[i] + first : first;
                    y[i + half] = accumulate ? y[i + half] + second : second;
                }
            }
        }
    }
}

void rope_forward(float* out, const float* inp, const int32_t* positions, size_t B, size_t T, size_t H, size_t D,
                  float theta) {
    rope_rotate(out, inp, false, 1.0f, positions, B, T, H, D, theta);
}
void rope_backward(float* dinp, const float* dout, const int32_t* positions, size_t B, size_t T, size_t H, size_t D,
                   float theta) {
    rope_rotate(dinp, dout, true, -1.0f, positions, B, T, H, D, theta);
}

// ---- SAPT's query: max over the sequence -------------------------------------------------------------

// out (B, C) holds the running maximum while the positions stream by (contiguous rows of C); strict > keeps
// the first of tied maxima. A row with every position masked gets 0 and argmax -1, as in the reference.
void maxpool_seq_forward(float* out, int32_t* argmax, const float* inp, const uint8_t* mask, size_t B, size_t T,
                         size_t C) {
#pragma omp parallel for if (B * T * C >= kParallelMin)
    for (size_t b = 0; b < B; b++) {
        float* best = out + b * C;
        int32_t* best_t = argmax + b * C;
        bool any = false;
        for (size_t t = 0; t < T; t++) {
            if (mask && !mask[b * T + t]) continue;
            const float* x = inp + (b * T + t) * C;
            if (!any) {
                std::memcpy(best, x, C * sizeof(float));
                for (size_t c = 0; c < C; c++) best_t[c] = int32_t(t);
                any = true;
                continue;
            }
#pragma omp simd
            for (size_t c = 0; c < C; c++) {
                bool larger = x[c] > best[c];
                best[c] = larger ? x[c] : best[c];
                best_t[c] = larger ? int32_t(t) : best_t[c];
            }
        }
        if (!any) {
            for (size_t c = 0; c < C; c++) {
                best[c] = 0.0f;
                best_t[c] = -1;
            }
        }
    }
}

void maxpool_seq_backward(float* dinp, const float* dout, const int32_t* argmax, size_t B, size_t T, size_t C) {
#pragma omp parallel for if (B * C >= kParallelMin)
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++) {
            int32_t t = argmax[b * C + c];
            if (t >= 0) dinp[(b * T + t) * C + c] += dout[b * C + c];
        }
}

}  // namespace fast
