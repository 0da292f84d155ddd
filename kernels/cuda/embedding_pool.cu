// embedding_pool.cu — lookups and position-wise kernels: the embedding table (f32 or frozen bf16) and its
// scatter-add backward, LLaMA's rotary embedding, and SAPT's masked max-pool over the sequence.
// Every kernel is one thread per output element with consecutive threads on consecutive channels.
// The embedding backward adds with atomics: two tokens with the same id add into the same row, and the
// order of those float adds (so the last bits) may vary run to run. Not here: sorting ids for determinism.
#include <cmath>
#include <string>

#include "engine/error.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

__global__ void embedding_forward_kernel(float* out, const int32_t* ids, const float* table, size_t N, size_t C) {
    for (size_t i = global_thread(); i < N * C; i += grid_threads()) out[i] = table[size_t(ids[i / C]) * C + i % C];
}
__global__ void embedding_forward_bf16_kernel(float* out, const int32_t* ids, const bf16* table, size_t N,
                                              size_t C) {
    for (size_t i = global_thread(); i < N * C; i += grid_threads())
        out[i] = bf16_to_float(table[size_t(ids[i / C]) * C + i % C]);
}
__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* ids, size_t N,
                                          size_t C) {
    for (size_t i = global_thread(); i < N * C; i += grid_threads())
        atomicAdd(&dtable[size_t(ids[i / C]) * C + i % C], dout[i]);
}

// The inverse frequencies of the D/2 pairs, computed on the host in f32 exactly as HF LlamaRotaryEmbedding
// does (inv_freq = 1 / theta^(2i / D)) and passed by value: the device's powf may differ from the host's by
// an ulp, and at position 2000 one ulp of inv_freq moves the angle by 1e-4 radian.
constexpr int kMaxRopePairs = 256;
struct RopeFrequencies {
    float inv_freq[kMaxRopePairs];
};

RopeFrequencies rope_frequencies(size_t D, float theta) {
    if (D / 2 > size_t(kMaxRopePairs)) {
        fail("cuda rope", "head dimension too large (expected at most " + std::to_string(2 * kMaxRopePairs) +
                          ", got " + std::to_string(D) + ")");
    }
    RopeFrequencies f{};
    for (size_t i = 0; i < D / 2; i++) f.inv_freq[i] = 1.0f / std::pow(theta, float(2 * i) / float(D));
    return f;
}

// x (B, T, H, D): one thread per pair (x[i], x[i + D/2]) of one (b, t, h), angle = position * inv_freq[i].
// sign = +1 rotates (forward), -1 rotates back (backward = the transpose of a rotation); the backward adds.
__global__ void rope_kernel(float* out, const float* inp, bool accumulate, float sign, const int32_t* positions,
                            size_t B, size_t T, size_t H, size_t D, RopeFrequencies freqs) {
    size_t half = D / 2;
    for (size_t p = global_thread(); p < B * T * H * half; p += grid_threads()) {
        size_t i = p % half, bth = p / half;  // bth = (b * T + t) * H + h
        size_t bt = bth / H;
        float angle = float(positions[bt]) * freqs.inv_freq[i];
        float cos_a = cosf(angle), sin_a = sign * sinf(angle);
        const float* x = inp + bth * D;
        float* y = out + bth * D;
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

// inp (B, T, C) -> out, argmax (B, C): thread (b, c) walks the T positions. Ties keep the first position
// (strict >, as torch.max); a row with every position masked gets out = 0, argmax = -1.
__global__ void maxpool_seq_forward_kernel(float* out, int32_t* argmax, const float* inp, const uint8_t* mask,
                                           size_t B, size_t T, size_t C) {
    for (size_t i = global_thread(); i < B * C; i += grid_threads()) {
        size_t b = i / C, c = i % C;
        int32_t best = -1;
        float best_value = 0.0f;
        for (size_t t = 0; t < T; t++) {
            if (mask && !mask[b * T + t]) continue;
            float value = inp[(b * T + t) * C + c];
            if (best < 0 || value > best_value) {
                best = int32_t(t);
                best_value = value;
            }
        }
        out[i] = best_value;
        argmax[i] = best;
    }
}
// Each (b, c) sends its gradient to one position: no two threads write the same element, no atomics.
__global__ void maxpool_seq_backward_kernel(float* dinp, const float* dout, const int32_t* argmax, size_t B,
                                            size_t T, size_t C) {
    for (size_t i = global_thread(); i < B * C; i += grid_threads()) {
        size_t b = i / C, c = i % C;
        int32_t t = argmax[i];
        if (t >= 0) dinp[(b * T + size_t(t)) * C + c] += dout[i];
    }
}

}  // namespace

namespace cuda {

void embedding_forward(float* out, const int32_t* ids, const float* table, size_t N, size_t C) {
    launch(blocks_for(N * C), kBlockThreads, 0, embedding_forward_kernel, out, ids, table, N, C);
}
void embedding_forward_bf16(float* out, const int32_t* ids, const bf16* table, size_t N, size_t C) {
    launch(blocks_for(N * C), kBlockThreads, 0, embedding_forward_bf16_kernel, out, ids, table, N, C);
}
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, size_t N, size_t C) {
    launch(blocks_for(N * C), kBlockThreads, 0, embedding_backward_kernel, dtable, dout, ids, N, C);
}
void rope_forward(float* out, const float* inp, const int32_t* positions, size_t B, size_t T, size_t H,
                  size_t D, float theta) {
    launch(blocks_for(B * T * H * (D / 2)), kBlockThreads, 0, rope_kernel, out, inp, false, 1.0f, positions, B, T,
           H, D, rope_frequencies(D, theta));
}
void rope_backward(float* dinp, const float* dout, const int32_t* positions, size_t B, size_t T, size_t H,
                   size_t D, float theta) {
    launch(blocks_for(B * T * H * (D / 2)), kBlockThreads, 0, rope_kernel, dinp, dout, true, -1.0f, positions, B,
           T, H, D, rope_frequencies(D, theta));
}
void maxpool_seq_forward(float* out, int32_t* argmax, const float* inp, const uint8_t* mask, size_t B, size_t T,
                         size_t C) {
    launch(blocks_for(B * C), kBlockThreads, 0, maxpool_seq_forward_kernel, out, argmax, inp, mask, B, T, C);
}
void maxpool_seq_backward(float* dinp, const float* dout, const int32_t* argmax, size_t B, size_t T, size_t C) {
    launch(blocks_for(B * C), kBlockThreads, 0, maxpool_seq_backward_kernel, dinp, dout, argmax, B, T, C);
}

}  // namespace cuda
