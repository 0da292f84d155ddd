// fast_norms.cpp — the fast CPU RMSNorm and LayerNorm, forward and backward: threads take rows, each row's
// reductions are vectorised f32 sums. Parameter gradients (dweight, dbias) are summed per thread and then
// added in thread order, so results do not depend on scheduling. Formulas: see reference_rows.cpp.
#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/fast.h"

namespace fast {

// How many threads a row loop over N rows of C uses (one when the work is too small to share).
static int threads_for(size_t N, size_t C) { return N * C >= kParallelMin ? omp_get_max_threads() : 1; }

// Adds the per-thread partial sums (threads, C) into grad (C), thread 0 first.
static void add_partials(float* grad, const std::vector<float>& partials, int threads, size_t C) {
    for (int t = 0; t < threads; t++)
        for (size_t c = 0; c < C; c++) grad[c] += partials[t * C + c];
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, size_t N, size_t C, float eps) {
#pragma omp parallel for num_threads(threads_for(N, C))
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        float* y = out + n * C;
        float squares = 0.0f;
#pragma omp simd reduction(+ : squares)
        for (size_t c = 0; c < C; c++) squares += x[c] * x[c];
        float r = 1.0f / std::sqrt(squares / float(C) + eps);
#pragma omp simd
        for (size_t c = 0; c < C; c++) y[c] = weight[c] * (x[c] * r);
        rstd[n] = r;
    }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, size_t N, size_t C) {
    int threads = threads_for(N, C);
    std::vector<float> partials(dweight ? threads * C : 0, 0.0f);
#pragma omp parallel num_threads(threads)
    {
        float* my_dweight = dweight ? partials.data() + omp_get_thread_num() * C : nullptr;
#pragma omp for schedule(static)
        for (size_t n = 0; n < N; n++) {
            const float* x = inp + n * C;
            const float* dy = dout + n * C;
            float* dx = dinp + n * C;
            float r = rstd[n];
            float dot = 0.0f;  // sum_c dy_c w_c x_c
#pragma omp simd reduction(+ : dot)
            for (size_t c = 0; c < C; c++) dot += dy[c] * weight[c] * x[c];
            float coefficient = r * r * r / float(C) * dot;
#pragma omp simd
            for (size_t c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - coefficient * x[c];
            if (my_dweight) {
#pragma omp simd
                for (size_t c = 0; c < C; c++) my_dweight[c] += dy[c] * x[c] * r;
            }
        }
    }
    if (dweight) add_partials(dweight, partials, threads, C);
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       size_t N, size_t C, float eps) {
#pragma omp parallel for num_threads(threads_for(N, C))
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        float* y = out + n * C;
        float total = 0.0f;
#pragma omp simd reduction(+ : total)
        for (size_t c = 0; c < C; c++) total += x[c];
        float mu = total / float(C);
        float squares = 0.0f;  // two passes: E[(x - mu)^2] does not cancel the way E[x^2] - mu^2 does
#pragma omp simd reduction(+ : squares)
        for (size_t c = 0; c < C; c++) squares += (x[c] - mu) * (x[c] - mu);
        float r = 1.0f / std::sqrt(squares / float(C) + eps);
#pragma omp simd
        for (size_t c = 0; c < C; c++) y[c] = (x[c] - mu) * r * weight[c] + bias[c];
        mean[n] = mu;
        rstd[n] = r;
    }
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t N, size_t C) {
    int threads = threads_for(N, C);
    std::vector<float> weight_partials(dweight ? threads * C : 0, 0.0f);
    std::vector<float> bias_partials(dbias ? threads * C : 0, 0.0f);
#pragma omp parallel num_threads(threads)
    {
        int tid = omp_get_thread_num();
        float* my_dweight = dweight ? weight_partials.data() + tid * C : nullptr;
        float* my_dbias = dbias ? bias_partials.data() + tid * C : nullptr;
        // dxhat = dy w is stored once, so that the same rounded values are summed and then subtracted from:
        // on a constant row (rstd = 1/sqrt(eps), huge) any mismatch between the two would be amplified.
        std::vector<float> dxhat(C);
#pragma omp for schedule(static)
        for (size_t n = 0; n < N; n++) {
            const float* x = inp + n * C;
            const float* dy = dout + n * C;
            float* dx = dinp + n * C;
            float mu = mean[n], r = rstd[n];
            float dxhat_total = 0.0f, dxhat_xhat_total = 0.0f;
#pragma omp simd
            for (size_t c = 0; c < C; c++) dxhat[c] = dy[c] * weight[c];
#pragma omp simd reduction(+ : dxhat_total, dxhat_xhat_total)
            for (size_t c = 0; c < C; c++) {
                dxhat_total += dxhat[c];
                dxhat_xhat_total += dxhat[c] * (x[c] - mu) * r;
            }
            float dxhat_mean = dxhat_total / float(C), dxhat_xhat_mean = dxhat_xhat_total / float(C);
#pragma omp simd
            for (size_t c = 0; c < C; c++) {
                float xhat = (x[c] - mu) * r;
                dx[c] += r * (dxhat[c] - dxhat_mean - xhat * dxhat_xhat_mean);
            }
            if (my_dweight) {
#pragma omp simd
                for (size_t c = 0; c < C; c++) my_dweight[c] += dy[c] * (x[c] - mu) * r;
            }
            if (my_dbias) {
#pragma omp simd
                for (size_t c = 0; c < C; c++) my_dbias[c] += dy[c];
            }
        }
    }
    if (dweight) add_partials(dweight, weight_partials, threads, C);
    if (dbias) add_partials(dbias, bias_partials, threads, C);
}

}  // namespace fast
