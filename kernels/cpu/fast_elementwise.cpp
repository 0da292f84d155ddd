// fast_elementwise.cpp — the fast CPU kernels that touch each element once: conversions, arithmetic, row
// broadcasts, reductions, activations, dropout and AdamW. OpenMP splits long arrays (kParallelMin and up);
// loops are written so that the compiler vectorises them; GELU and SiLU take exp from fast_math.h.
// The formulas are those of reference_dense.cpp / reference_rows.cpp, which explain them.
#include <cmath>
#include <cstring>

#include "kernels/adamw_scalars.h"
#include "kernels/cpu/fast.h"
#include "kernels/cpu/fast_math.h"

namespace fast {

// Activations work through a small stack buffer so that exp runs over a whole vectorised chunk.
constexpr size_t kChunk = 256;

// ---- conversions --------------------------------------------------------------------------------

// The bit moves go through memcpy (compiled to plain register moves) rather than pointer casts, which
// would break C++'s aliasing rules.
void bf16_to_f32(float* out, const bf16* inp, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = uint32_t(inp[i]) << 16;
        std::memcpy(&out[i], &bits, sizeof bits);
    }
}

void f32_to_bf16(bf16* out, const float* inp, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        std::memcpy(&x, &inp[i], sizeof x);
        bool is_nan = (x & 0x7FFFFFFFu) > 0x7F800000u;
        uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;  // nearest, ties to even
        out[i] = bf16(is_nan ? 0x7FC0u : rounded);
    }
}

// ---- elementwise -----------------------------------------------------------------------------------

void add(float* out, const float* a, const float* b, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void mul(float* out, const float* a, const float* b, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}
void scale(float* out, const float* a, float s, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) out[i] = a[i] * s;
}
void axpy(float* y, float alpha, const float* x, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
void fill(float* out, float value, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) out[i] = value;
}

void add_row(float* out, const float* a, const float* row, size_t rows, size_t cols) {
#pragma omp parallel for if (rows * cols >= kParallelMin)
    for (size_t r = 0; r < rows; r++) {
#pragma omp simd
        for (size_t c = 0; c < cols; c++) out[r * cols + c] = a[r * cols + c] + row[c];
    }
}
void mul_row(float* out, const float* a, const float* row, size_t rows, size_t cols) {
#pragma omp parallel for if (rows * cols >= kParallelMin)
    for (size_t r = 0; r < rows; r++) {
#pragma omp simd
        for (size_t c = 0; c < cols; c++) out[r * cols + c] = a[r * cols + c] * row[c];
    }
}

// Threads own column chunks (no two threads add into the same drow entry); each chunk walks the rows in
// order with double accumulators, so the result does not depend on the thread count.
void sum_rows(float* drow, const float* dout, size_t rows, size_t cols) {
    size_t chunks = (cols + kChunk - 1) / kChunk;
#pragma omp parallel for if (rows * cols >= kParallelMin)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t c0 = chunk * kChunk, width = cols - c0 < kChunk ? cols - c0 : kChunk;
        double acc[kChunk] = {};
        for (size_t r = 0; r < rows; r++) {
            const float* d = dout + r * cols + c0;
#pragma omp simd
            for (size_t c = 0; c < width; c++) acc[c] += d[c];
        }
        for (size_t c = 0; c < width; c++) drow[c0 + c] += float(acc[c]);
    }
}

double sum(const float* x, size_t n) {
    double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) acc += x[i];
    return acc;
}
void sum_squares_to(double* out, const float* x, size_t n) { *out = sum_squares(x, n); }
double sum_squares(const float* x, size_t n) {
    double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) acc += double(x[i]) * double(x[i]);
    return acc;
}

// ---- activations -----------------------------------------------------------------------------------

void relu_forward(float* out, const float* inp, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}
void relu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

static const float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
static const float kGeluCubic = 0.044715f;

// tanh(u) = 1 - 2 / (exp(2u) + 1): one vectorised exp per element, exact limits at +-inf.
static void gelu_tanh_chunk(float* tanh_u, const float* x, size_t n) {
    for (size_t i = 0; i < n; i++) tanh_u[i] = 2.0f * kGeluScale * (x[i] + kGeluCubic * x[i] * x[i] * x[i]);
    exp_array(tanh_u, tanh_u, n);
    for (size_t i = 0; i < n; i++) tanh_u[i] = 1.0f - 2.0f / (tanh_u[i] + 1.0f);
}

void gelu_forward(float* out, const float* inp, size_t n) {
    size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t i0 = chunk * kChunk, width = n - i0 < kChunk ? n - i0 : kChunk;
        float tanh_u[kChunk];
        gelu_tanh_chunk(tanh_u, inp + i0, width);
        for (size_t i = 0; i < width; i++) out[i0 + i] = 0.5f * inp[i0 + i] * (1.0f + tanh_u[i]);
    }
}

void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t i0 = chunk * kChunk, width = n - i0 < kChunk ? n - i0 : kChunk;
        float tanh_u[kChunk];
        gelu_tanh_chunk(tanh_u, inp + i0, width);
        for (size_t i = 0; i < width; i++) {
            float x = inp[i0 + i], t = tanh_u[i];
            float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
            dinp[i0 + i] += dout[i0 + i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du_dx);
        }
    }
}

// sigmoid(x) = 1 / (1 + exp(-x)) for a chunk.
static void sigmoid_chunk(float* sigmoid, const float* x, size_t n) {
    for (size_t i = 0; i < n; i++) sigmoid[i] = -x[i];
    exp_array(sigmoid, sigmoid, n);
    for (size_t i = 0; i < n; i++) sigmoid[i] = 1.0f / (1.0f + sigmoid[i]);
}

void silu_forward(float* out, const float* inp, size_t n) {
    size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t i0 = chunk * kChunk, width = n - i0 < kChunk ? n - i0 : kChunk;
        float sigmoid[kChunk];
        sigmoid_chunk(sigmoid, inp + i0, width);
        for (size_t i = 0; i < width; i++) out[i0 + i] = inp[i0 + i] * sigmoid[i];
    }
}

void silu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t i0 = chunk * kChunk, width = n - i0 < kChunk ? n - i0 : kChunk;
        float sigmoid[kChunk];
        sigmoid_chunk(sigmoid, inp + i0, width);
        for (size_t i = 0; i < width; i++) {
            float s = sigmoid[i];
            dinp[i0 + i] += dout[i0 + i] * s * (1.0f + inp[i0 + i] * (1.0f - s));
        }
    }
}

void dropout_forward(float* out, const float* inp, const uint8_t* keep, float p, size_t n) {
    float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) out[i] = keep[i] ? inp[i] * keep_scale : 0.0f;
}

// ---- optimizer ------------------------------------------------------------------------------------

// torch's order, as in reference_rows.cpp (scalars from kernels/adamw_scalars.h, then f32 per element).
// Chunks of kChunk so that the square roots run through the vectorised sqrt_array.
void adamw_step(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                double eps, double weight_decay, int t) {
    const AdamWScalars s = adamw_scalars(lr, beta1, beta2, eps, weight_decay, t);
    size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t i0 = chunk * kChunk, width = n - i0 < kChunk ? n - i0 : kChunk;
        float* p = param + i0;
        float* m_c = m + i0;
        float* v_c = v + i0;
        const float* g = grad + i0;
        float denom[kChunk];
#pragma omp simd
        for (size_t i = 0; i < width; i++) {
            p[i] = p[i] * s.decay;
            m_c[i] = m_c[i] * s.beta1 + s.one_minus_beta1 * g[i];
            v_c[i] = v_c[i] * s.beta2 + s.one_minus_beta2 * g[i] * g[i];
        }
        sqrt_array(denom, v_c, width);
#pragma omp simd
        for (size_t i = 0; i < width; i++) p[i] = p[i] + -s.step_size * m_c[i] / (denom[i] / s.bias_correction2_sqrt + s.eps);
    }
}

}  // namespace fast
