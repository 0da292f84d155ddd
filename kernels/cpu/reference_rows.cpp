// reference_rows.cpp — the oracle for kernels that work row by row: softmax, RMSNorm/LayerNorm, embedding,
// rotary embedding, SAPT's max-pool over the sequence, the losses and AdamW. Plain loops, double sums.
// Deliberately no OpenMP and no intrinsics: this file is the definition the fast kernels are held to.
#include "kernels/cpu/reference.h"

#include "kernels/adamw_scalars.h"

#include <cmath>

namespace reference {

// ---- softmax over the last axis of (N, C) ------------------------------------------------------------

void softmax_forward(float* out, const float* inp, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        float* y = out + n * C;
        float maxval = x[0];  // subtracting the max keeps exp from overflowing
        for (size_t c = 1; c < C; c++) maxval = std::fmax(maxval, x[c]);
        double total = 0.0;
        for (size_t c = 0; c < C; c++) total += std::exp(double(x[c]) - maxval);
        for (size_t c = 0; c < C; c++) y[c] = float(std::exp(double(x[c]) - maxval) / total);
    }
}

// dx_c = y_c (dy_c - sum_j dy_j y_j)
void softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        const float* dy = dout + n * C;
        const float* y = out + n * C;
        double dot = 0.0;
        for (size_t c = 0; c < C; c++) dot += double(dy[c]) * y[c];
        for (size_t c = 0; c < C; c++) dinp[n * C + c] += float(y[c] * (dy[c] - dot));
    }
}

void log_softmax_forward(float* out, const float* inp, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        float maxval = x[0];
        for (size_t c = 1; c < C; c++) maxval = std::fmax(maxval, x[c]);
        double total = 0.0;
        for (size_t c = 0; c < C; c++) total += std::exp(double(x[c]) - maxval);
        double log_total = maxval + std::log(total);
        for (size_t c = 0; c < C; c++) out[n * C + c] = float(x[c] - log_total);
    }
}

// y = x - lse, so dx_c = dy_c - softmax_c sum_j dy_j, with softmax_c = exp(y_c).
void log_softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        const float* dy = dout + n * C;
        double dy_total = 0.0;
        for (size_t c = 0; c < C; c++) dy_total += dy[c];
        for (size_t c = 0; c < C; c++) {
            dinp[n * C + c] += float(dy[c] - std::exp(double(out[n * C + c])) * dy_total);
        }
    }
}

// ---- normalisation -------------------------------------------------------------------------------

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, size_t N, size_t C, float eps) {
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        double squares = 0.0;
        for (size_t c = 0; c < C; c++) squares += double(x[c]) * x[c];
        float r = float(1.0 / std::sqrt(squares / C + eps));
        // HF T5LayerNorm / LlamaRMSNorm: weight * (x * rsqrt(variance + eps))
        for (size_t c = 0; c < C; c++) out[n * C + c] = weight[c] * (x[c] * r);
        rstd[n] = r;
    }
}

// y_c = w_c x_c r with r = (mean(x^2) + eps)^(-1/2), dr/dx_j = -r^3 x_j / C, hence
// dx_j = r w_j dy_j - (r^3 / C) x_j sum_c dy_c w_c x_c.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        const float* dy = dout + n * C;
        double r = rstd[n];
        double dot = 0.0;
        for (size_t c = 0; c < C; c++) dot += double(dy[c]) * weight[c] * x[c];
        for (size_t c = 0; c < C; c++) {
            dinp[n * C + c] += float(r * weight[c] * dy[c] - r * r * r / C * x[c] * dot);
            if (dweight) dweight[c] += float(double(dy[c]) * x[c] * r);
        }
    }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       size_t N, size_t C, float eps) {
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        double total = 0.0;
        for (size_t c = 0; c < C; c++) total += x[c];
        double mu = total / C;
        double squares = 0.0;  // biased variance, as torch.nn.LayerNorm
        for (size_t c = 0; c < C; c++) squares += (x[c] - mu) * (x[c] - mu);
        double r = 1.0 / std::sqrt(squares / C + eps);
        for (size_t c = 0; c < C; c++) out[n * C + c] = float((x[c] - mu) * r * weight[c] + bias[c]);
        mean[n] = float(mu);
        rstd[n] = float(r);
    }
}

// With xhat = (x - mean) r and dxhat = dy w: dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        const float* dy = dout + n * C;
        double mu = mean[n], r = rstd[n];
        double dxhat_mean = 0.0, dxhat_xhat_mean = 0.0;
        for (size_t c = 0; c < C; c++) {
            double xhat = (x[c] - mu) * r;
            double dxhat = double(dy[c]) * weight[c];
            dxhat_mean += dxhat;
            dxhat_xhat_mean += dxhat * xhat;
        }
        dxhat_mean /= C;
        dxhat_xhat_mean /= C;
        for (size_t c = 0; c < C; c++) {
            double xhat = (x[c] - mu) * r;
            double dxhat = double(dy[c]) * weight[c];
            dinp[n * C + c] += float(r * (dxhat - dxhat_mean - xhat * dxhat_xhat_mean));
            if (dweight) dweight[c] += float(dy[c] * xhat);
            if (dbias) dbias[c] += dy[c];
        }
    }
}

// ---- embedding -----------------------------------------------------------------------------------

void embedding_forward(float* out, const int32_t* ids, const float* table, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++) out[n * C + c] = table[size_t(ids[n]) * C + c];
}
void embedding_forward_bf16(float* out, const int32_t* ids, const bf16* table, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) bf16_to_f32(out + n * C, table + size_t(ids[n]) * C, C);
}
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++) dtable[size_t(ids[n]) * C + c] += dout[n * C + c];
}

// ---- rotary position embedding --------------------------------------------------------------------

// The angle of pair i at `position`, computed in f32 exactly as HF LlamaRotaryEmbedding does:
// inv_freq = 1 / (theta ** (arange(0, D, 2).float() / D)), freqs = t * inv_freq, then cos/sin in f32.
static float rope_angle(int32_t position, size_t i, size_t D, float theta) {
    float exponent = float(2 * i) / float(D);
    float inv_freq = 1.0f / std::pow(theta, exponent);
    return float(position) * inv_freq;
}

// Rotates each pair (x[i], x[i + D/2]) of x (B, T, H, D) by `sign` * angle.
static void rope_rotate(float* out, const float* inp, bool accumulate, float sign, const int32_t* positions, size_t B,
                        size_t T, size_t H, size_t D, float theta) {
    size_t half = D / 2;
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++)
            for (size_t h = 0; h < H; h++) {
                const float* x = inp + ((b * T + t) * H + h) * D;
                float* y = out + ((b * T + t) * H + h) * D;
                for (size_t i = 0; i < half; i++) {
                    float angle = rope_angle(positions[b * T + t], i, D, theta);
                    float cos_a = std::cos(angle), sin_a = sign * std::sin(angle);
                    // out = x cos + rotate_half(x) sin, rotate_half(x) = (-x2, x1)
                    float first = x[i] * cos_a - x[i + half] * sin_a;
                    float second = x[i + half] * cos_a + x[i] * sin_a;
                    if (accumulate) {
                        y[i] += first;
                        y[i + half] += second;
                    } else {
                        y[i] = first;
                        y[i + half] = second;
                    }
                }
            }
}

void rope_forward(float* out, const float* inp, const int32_t* positions, size_t B, size_t T, size_t H, size_t D,
                  float theta) {
    rope_rotate(out, inp, false, 1.0f, positions, B, T, H, D, theta);
}
// The rotation is orthogonal, so its transpose (the backward) is the rotation by -angle.
void rope_backward(float* dinp, const float* dout, const int32_t* positions, size_t B, size_t T, size_t H, size_t D,
                   float theta) {
    rope_rotate(dinp, dout, true, -1.0f, positions, B, T, H, D, theta);
}

// ---- SAPT's query: max over the sequence -------------------------------------------------------------

// Ties keep the first position (strict >), as torch.max does. A row whose positions are all masked out has
// no maximum: it gets out = 0 and argmax = -1, which the backward skips.
void maxpool_seq_forward(float* out, int32_t* argmax, const float* inp, const uint8_t* mask, size_t B, size_t T,
                         size_t C) {
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++) {
            int32_t best = -1;
            for (size_t t = 0; t < T; t++) {
                if (mask && !mask[b * T + t]) continue;
                if (best < 0 || inp[(b * T + t) * C + c] > inp[(b * T + best) * C + c]) best = int32_t(t);
            }
            out[b * C + c] = best < 0 ? 0.0f : inp[(b * T + best) * C + c];
            argmax[b * C + c] = best;
        }
}

void maxpool_seq_backward(float* dinp, const float* dout, const int32_t* argmax, size_t B, size_t T, size_t C) {
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++) {
            int32_t t = argmax[b * C + c];
            if (t >= 0) dinp[(b * T + t) * C + c] += dout[b * C + c];
        }
}

// ---- losses -------------------------------------------------------------------------------------------

static const int32_t kIgnoreIndex = -100;  // torch.nn.CrossEntropyLoss's default ignore_index

long cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, size_t N, size_t V) {
    long count = 0;
    for (size_t n = 0; n < N; n++) {
        const float* x = logits + n * V;
        float maxval = x[0];
        for (size_t v = 1; v < V; v++) maxval = std::fmax(maxval, x[v]);
        double total = 0.0;
        for (size_t v = 0; v < V; v++) total += std::exp(double(x[v]) - maxval);
        double row_lse = maxval + std::log(total);
        lse[n] = float(row_lse);  // written for ignored rows too, so every backend leaves the same lse
        if (targets[n] == kIgnoreIndex) {
            losses[n] = 0.0f;
            continue;
        }
        losses[n] = float(row_lse - x[targets[n]]);
        count++;
    }
    return count;
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            float dloss_per_row, size_t N, size_t V) {
    for (size_t n = 0; n < N; n++) {
        if (targets[n] == kIgnoreIndex) continue;
        for (size_t v = 0; v < V; v++) {
            double p = std::exp(double(logits[n * V + v]) - lse[n]);
            double onehot = int32_t(v) == targets[n] ? 1.0 : 0.0;
            dlogits[n * V + v] += float(dloss_per_row * (p - onehot));
        }
    }
}

double kl_div_forward(const float* logp, const float* target, size_t N, size_t C) {
    double total = 0.0;
    for (size_t i = 0; i < N * C; i++) {
        if (target[i] == 0.0f) continue;  // 0 log 0 = 0, as torch's xlogy
        total += double(target[i]) * (std::log(double(target[i])) - logp[i]);
    }
    return total;
}

void kl_div_backward(float* dlogp, const float* target, float scale, size_t N, size_t C) {
    for (size_t i = 0; i < N * C; i++) dlogp[i] += -target[i] * scale;
}

// ---- optimizer ------------------------------------------------------------------------------------

// torch.optim.AdamW (torch 1.13 _single_tensor_adamw), step by step in its order: the scalars as torch
// forms them (kernels/adamw_scalars.h), the tensor arithmetic in f32.
void adamw_step(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                double eps, double weight_decay, int t) {
    const AdamWScalars s = adamw_scalars(lr, beta1, beta2, eps, weight_decay, t);
    for (size_t i = 0; i < n; i++) {
        param[i] = param[i] * s.decay;
        m[i] = m[i] * s.beta1 + s.one_minus_beta1 * grad[i];
        v[i] = v[i] * s.beta2 + s.one_minus_beta2 * grad[i] * grad[i];
        float denom = std::sqrt(v[i]) / s.bias_correction2_sqrt + s.eps;
        param[i] = param[i] + -s.step_size * m[i] / denom;
    }
}

}  // namespace reference
