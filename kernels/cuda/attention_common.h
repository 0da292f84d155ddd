// attention_common.h — what both attention paths share (attention.cu, the fused kernel; attention_gemm.cu,
// the cuBLAS products): the masking rule, the test for a row that saw only masked keys, and the softmax
// backward's row term. Semantics are kernels.h's (AttentionShape).
#pragma once
#include "kernels/cuda/cuda_common.h"

// A row whose running max or lse is still kMaskedScore (+ log Tk, lost to rounding) has seen only masked
// keys; any real score is far above.
constexpr float kRealScoreFloor = kMaskedScore / 2;

// Whether `key` is hidden from `query` in example b: padding (key_mask (B, Tk), may be null) or causal,
// where the last query sees the last key (Tq may be shorter than Tk: decoding with a cache).
__device__ inline bool key_is_masked(const AttentionShape& s, const uint8_t* key_mask, int b, int query, int key) {
    if (key_mask && !key_mask[size_t(b) * s.Tk + key]) return true;
    return s.causal && key > query + (s.Tk - s.Tq);
}

// Launches kernels/cuda/attention.cu's warp-per-row kernel: row_dot[(b Hq + h) Tq + q] = sum_d dout * out,
// which equals sum_k dP_k P_k (the softmax backward's row term). dout, out are (B, Tq, Hq, D).
namespace cuda {
void attention_row_dot(float* row_dot, const float* dout, const float* out, const AttentionShape& s);
}
