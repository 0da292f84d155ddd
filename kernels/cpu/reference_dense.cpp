// reference_dense.cpp — the oracle for conversions, GEMM, elementwise ops, activations and strided copies:
// one plain loop per kernel, written to be read, with double accumulators where a sum is formed.
// Deliberately no OpenMP, no intrinsics, no blocking: speed lives in the fast_*.cpp files.
#include "kernels/cpu/reference.h"

#include <cmath>
#include <cstring>

namespace reference {

// ---- conversions --------------------------------------------------------------------------------

void bf16_to_f32(float* out, const bf16* inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = uint32_t(inp[i]) << 16;  // bf16 is the top half of an f32
        std::memcpy(&out[i], &bits, sizeof bits);
    }
}

void f32_to_bf16(bf16* out, const float* inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        std::memcpy(&bits, &inp[i], sizeof bits);
        if (std::isnan(inp[i])) {
            out[i] = 0x7FC0;  // a quiet NaN, as torch's c10::BFloat16 writes; rounding could make it inf
            continue;
        }
        // Round to nearest, ties to even: add 0x7FFF plus the lowest kept bit, then truncate.
        uint32_t lowest_kept_bit = (bits >> 16) & 1;
        out[i] = bf16((bits + 0x7FFF + lowest_kept_bit) >> 16);
    }
}

// ---- GEMM ------------------------------------------------------------------------------------------

// op(A)[m, k] and op(B)[k, n], reading the stored layout that the transpose flags describe.
static float element_a(const float* A, int lda, bool trans_a, int m, int k) {
    return trans_a ? A[(long)k * lda + m] : A[(long)m * lda + k];
}
static float element_b(const float* B, int ldb, bool trans_b, int k, int n) {
    return trans_b ? B[(long)n * ldb + k] : B[(long)k * ldb + n];
}

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc) {
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                acc += double(element_a(A, lda, trans_a, m, k)) * double(element_b(B, ldb, trans_b, k, n));
            }
            float& c = C[(long)m * ldc + n];
            // BLAS convention: beta == 0 means C is not read, so garbage (even NaN) in C is overwritten.
            c = beta == 0.0f ? float(alpha * acc) : float(alpha * acc + double(beta) * c);
        }
    }
}

void gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, long stride_a,
                  const float* B, int ldb, long stride_b, float beta, float* C, int ldc, long stride_c, int batch) {
    for (int i = 0; i < batch; i++) {
        gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta, C + i * stride_c,
             ldc);
    }
}

void gemm_bf16b(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const bf16* B,
                int ldb, float beta, float* C, int ldc) {
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                bf16 stored = trans_b ? B[(long)n * ldb + k] : B[(long)k * ldb + n];
                float b;
                bf16_to_f32(&b, &stored, 1);
                acc += double(element_a(A, lda, trans_a, m, k)) * double(b);
            }
            float& c = C[(long)m * ldc + n];
            c = beta == 0.0f ? float(alpha * acc) : float(alpha * acc + double(beta) * c);
        }
    }
}

// ---- elementwise -----------------------------------------------------------------------------------

void add(float* out, const float* a, const float* b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void mul(float* out, const float* a, const float* b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}
void scale(float* out, const float* a, float s, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] * s;
}
void axpy(float* y, float alpha, const float* x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
void fill(float* out, float value, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = value;
}

void add_row(float* out, const float* a, const float* row, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) out[r * cols + c] = a[r * cols + c] + row[c];
}
void mul_row(float* out, const float* a, const float* row, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) out[r * cols + c] = a[r * cols + c] * row[c];
}
void sum_rows(float* drow, const float* dout, size_t rows, size_t cols) {
    for (size_t c = 0; c < cols; c++) {
        double acc = 0.0;
        for (size_t r = 0; r < rows; r++) acc += dout[r * cols + c];
        drow[c] += float(acc);
    }
}

double sum(const float* x, size_t n) {
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) acc += x[i];
    return acc;
}
void sum_squares_to(double* out, const float* x, size_t n) { *out = sum_squares(x, n); }
double sum_squares(const float* x, size_t n) {
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) acc += double(x[i]) * double(x[i]);
    return acc;
}

// ---- activations -----------------------------------------------------------------------------------

void relu_forward(float* out, const float* inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}
void relu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

// HF "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
static const float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
static const float kGeluCubic = 0.044715f;

void gelu_forward(float* out, const float* inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + std::tanh(kGeluScale * (x + kGeluCubic * x * x * x)));
    }
}
void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float tanh_u = std::tanh(kGeluScale * (x + kGeluCubic * x * x * x));
        float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
        // d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx
        float local = 0.5f * (1.0f + tanh_u) + 0.5f * x * (1.0f - tanh_u * tanh_u) * du_dx;
        dinp[i] += dout[i] * local;
    }
}

void silu_forward(float* out, const float* inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] / (1.0f + std::exp(-inp[i]));
}
void silu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float sigmoid = 1.0f / (1.0f + std::exp(-inp[i]));
        // d/dx [x sigmoid(x)] = sigmoid (1 + x (1 - sigmoid))
        dinp[i] += dout[i] * sigmoid * (1.0f + inp[i] * (1.0f - sigmoid));
    }
}

void dropout_forward(float* out, const float* inp, const uint8_t* keep, float p, size_t n) {
    // torch multiplies by a mask whose kept entries hold 1/(1-p), computed once in f32.
    float keep_scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) out[i] = keep[i] ? inp[i] * keep_scale : 0.0f;
}

// ---- layout ----------------------------------------------------------------------------------------

// Walks every index of `shape` in row-major order; `offset` follows it through inp_strides.
void copy_strided(float* out, const float* inp, int ndim, const long* shape, const long* inp_strides) {
    long total = 1;
    for (int d = 0; d < ndim; d++) total *= shape[d];
    for (long flat = 0; flat < total; flat++) {
        long rest = flat, offset = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            offset += (rest % shape[d]) * inp_strides[d];
            rest /= shape[d];
        }
        out[flat] = inp[offset];
    }
}

void add_strided(float* dinp, const float* dout, int ndim, const long* shape, const long* inp_strides) {
    long total = 1;
    for (int d = 0; d < ndim; d++) total *= shape[d];
    for (long flat = 0; flat < total; flat++) {
        long rest = flat, offset = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            offset += (rest % shape[d]) * inp_strides[d];
            rest /= shape[d];
        }
        dinp[offset] += dout[flat];
    }
}

}  // namespace reference
