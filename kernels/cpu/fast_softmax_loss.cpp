// fast_softmax_loss.cpp — the fast CPU softmax, log-softmax, fused cross-entropy and KL divergence: threads
// take rows; within a row the max, the vectorised exp (fast_math.h) and the sums run over contiguous memory.
// Cross-entropy never forms the (N, V) probabilities: forward keeps lse, backward recomputes exp(logit - lse)
// a chunk at a time. Formulas and the reasons for them: reference_rows.cpp.
#include <cmath>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/fast_math.h"

namespace fast {

constexpr size_t kChunk = 256;          // stack buffer for exp values that are used once
constexpr int32_t kIgnoreIndex = -100;  // torch.nn.CrossEntropyLoss's default ignore_index

static float row_max(const float* x, size_t C) {
    float maxval = x[0];
#pragma omp simd reduction(max : maxval)
    for (size_t c = 1; c < C; c++) maxval = x[c] > maxval ? x[c] : maxval;
    return maxval;
}

// ---- softmax and log-softmax ---------------------------------------------------------------------------

void softmax_forward(float* out, const float* inp, size_t N, size_t C) {
#pragma omp parallel for if (N * C >= kParallelMin)
    for (size_t n = 0; n < N; n++) {
        float* y = out + n * C;
        float total = exp_shifted_sum(y, inp + n * C, row_max(inp + n * C, C), C);
        float inverse = 1.0f / total;
#pragma omp simd
        for (size_t c = 0; c < C; c++) y[c] *= inverse;
    }
}

void softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
#pragma omp parallel for if (N * C >= kParallelMin)
    for (size_t n = 0; n < N; n++) {
        const float* dy = dout + n * C;
        const float* y = out + n * C;
        float* dx = dinp + n * C;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (size_t c = 0; c < C; c++) dot += dy[c] * y[c];
#pragma omp simd
        for (size_t c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - dot);
    }
}

void log_softmax_forward(float* out, const float* inp, size_t N, size_t C) {
#pragma omp parallel for if (N * C >= kParallelMin)
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        float maxval = row_max(x, C);
        float lse = maxval + std::log(sum_exp_shifted(x, maxval, C));
#pragma omp simd
        for (size_t c = 0; c < C; c++) out[n * C + c] = x[c] - lse;
    }
}

void log_softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
#pragma omp parallel for if (N * C >= kParallelMin)
    for (size_t n = 0; n < N; n++) {
        const float* dy = dout + n * C;
        float* dx = dinp + n * C;
        float dy_total = 0.0f;
#pragma omp simd reduction(+ : dy_total)
        for (size_t c = 0; c < C; c++) dy_total += dy[c];
        for (size_t c0 = 0; c0 < C; c0 += kChunk) {
            size_t width = C - c0 < kChunk ? C - c0 : kChunk;
            float probs[kChunk];
            exp_array(probs, out + n * C + c0, width);
            for (size_t c = 0; c < width; c++) dx[c0 + c] += dy[c0 + c] - probs[c] * dy_total;
        }
    }
}

// ---- cross-entropy ----------------------------------------------------------------------------------

long cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, size_t N, size_t V) {
    long count = 0;
#pragma omp parallel for reduction(+ : count) if (N * V >= kParallelMin)
    for (size_t n = 0; n < N; n++) {
        const float* x = logits + n * V;
        float maxval = row_max(x, V);
        float row_lse = maxval + std::log(sum_exp_shifted(x, maxval, V));
        lse[n] = row_lse;
        if (targets[n] == kIgnoreIndex) {
            losses[n] = 0.0f;
        } else {
            losses[n] = row_lse - x[targets[n]];
            count++;
        }
    }
    return count;
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            float dloss_per_row, size_t N, size_t V) {
#pragma omp parallel for if (N * V >= kParallelMin)
    for (size_t n = 0; n < N; n++) {
        if (targets[n] == kIgnoreIndex) continue;
        float* dl = dlogits + n * V;
        for (size_t v0 = 0; v0 < V; v0 += kChunk) {
            size_t width = V - v0 < kChunk ? V - v0 : kChunk;
            float probs[kChunk];
            exp_shifted_sum(probs, logits + n * V + v0, lse[n], width);
            // The one-hot part joins p before the multiply: adding dloss p and then subtracting dloss would
            // round the target's gradient at the scale of dloss instead of p - 1.
            size_t target = size_t(targets[n]);
            if (target >= v0 && target < v0 + width) probs[target - v0] -= 1.0f;
#pragma omp simd
            for (size_t v = 0; v < width; v++) dl[v0 + v] += dloss_per_row * probs[v];
        }
    }
}

// ---- KL divergence --------------------------------------------------------------------------------------

double kl_div_forward(const float* logp, const float* target, size_t N, size_t C) {
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (N * C >= kParallelMin)
    for (size_t i = 0; i < N * C; i++) {
        if (target[i] != 0.0f) total += double(target[i]) * (std::log(double(target[i])) - logp[i]);
    }
    return total;
}

void kl_div_backward(float* dlogp, const float* target, float scale, size_t N, size_t C) {
#pragma omp parallel for simd if (N * C >= kParallelMin)
    for (size_t i = 0; i < N * C; i++) dlogp[i] += -target[i] * scale;
}

}  // namespace fast
