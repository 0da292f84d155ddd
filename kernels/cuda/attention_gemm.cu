// attention_gemm.cu — attention as matrix products: for one example at a time the scores of every head,
// (Hq, Tq, Tk), are a batch of GEMMs (cuBLAS), turned into probabilities in place by one kernel, and
// multiplied into the output by a second batch of GEMMs. Backward recomputes the probabilities from the
// saved lse and runs the four gradient products the same way. Compared with the fused kernel
// (attention.cu), which never stores a score but does every multiply-add on the f32 cores of one warp, this
// path moves the (Hq, Tq, Tk) buffer through memory a few times and in exchange runs its arithmetic in
// cuBLAS at the GEMM rate: on an H200 at T5 and LLaMA training shapes it is 3.5-4.3x faster
// (bench/cuda_train_step --attention). attention.cu chooses between the two (cuda_attention_path).
// Same semantics as the fused kernel and the CPU oracle: scale q.k, plus pos_bias; masked scores exactly
// kMaskedScore; a fully masked row is uniform over all Tk keys and passes no gradient to q, k or pos_bias.
// The products follow the GEMM precision in force (gemm_cublas.cu): f32 by default, as the CPU oracle; TF32
// on tensor cores under SAPT_CUDA_GEMM=tf32 or bf16, where the fused kernel would stay f32.
// GQA: query head h reads key/value head h / G (G = Hq / Hkv); the products run over the Hkv heads once for
// each g in [0, G), the heads h = kv_head * G + g, so no two products of one batch write the same dK or dV.
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

// A row whose lse is still kMaskedScore (+ log Tk, lost to rounding) has seen only masked keys.
constexpr float kRealScoreFloor = kMaskedScore / 2;

__device__ inline bool key_is_masked(const AttentionShape& s, const uint8_t* key_mask, int b, int query, int key) {
    if (key_mask && !key_mask[size_t(b) * s.Tk + key]) return true;
    return s.causal && key > query + (s.Tk - s.Tq);
}

// One warp per row r = h * Tq + query of example b's (Hq, Tq, Tk) buffer, which holds scale q.k on entry and
// the probabilities on exit. Forward (lse_in null): the row's max and sum give lse, written to lse_out.
// Backward (lse_in set): the probabilities are recomputed from the saved lse, as the fused kernel does.
__global__ void scores_to_probabilities_kernel(float* scores, float* lse_out, const float* lse_in,
                                               const float* pos_bias, const uint8_t* key_mask, AttentionShape s,
                                               int b) {
    size_t row = size_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= size_t(s.Hq) * s.Tq) return;
    int lane = threadIdx.x % 32, h = int(row / s.Tq), query = int(row % s.Tq);
    float* p = scores + row * s.Tk;
    const float* bias = pos_bias ? pos_bias + row * s.Tk : nullptr;  // pos_bias is (Hq, Tq, Tk) too
    float row_max = -INFINITY;
    for (int key = lane; key < s.Tk; key += 32) {
        float score = key_is_masked(s, key_mask, b, query, key) ? kMaskedScore : p[key] + (bias ? bias[key] : 0.0f);
        p[key] = score;
        row_max = fmaxf(row_max, score);
    }
    size_t stat = (size_t(b) * s.Hq + h) * s.Tq + query;
    float row_lse;
    if (lse_in) {
        row_lse = lse_in[stat];
    } else {
        row_max = warp_max(row_max);
        float sum = 0.0f;
        for (int key = lane; key < s.Tk; key += 32) sum += expf(p[key] - row_max);
        row_lse = row_max + logf(warp_sum(sum));
        if (lane == 0) lse_out[stat] = row_lse;
    }
    bool fully_masked = row_lse <= kRealScoreFloor;
    for (int key = lane; key < s.Tk; key += 32) p[key] = fully_masked ? 1.0f / float(s.Tk) : expf(p[key] - row_lse);
}

// dS = P (dP - row_dot) on unmasked scores, 0 on masked ones, in place of dP; dpos_bias += dS. One example's
// (Hq, Tq, Tk) buffer, one element per thread: the examples run one after another, so no two threads add
// to the same dpos_bias element at once.
__global__ void score_gradients_kernel(float* dscores, const float* probs, const float* row_dot, float* dpos_bias,
                                       const uint8_t* key_mask, AttentionShape s, int b) {
    size_t n = size_t(s.Hq) * s.Tq * s.Tk;
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        size_t row = i / s.Tk;
        int key = int(i % s.Tk), query = int(row % s.Tq), h = int(row / s.Tq);
        float ds = 0.0f;
        if (!key_is_masked(s, key_mask, b, query, key))
            ds = probs[i] * (dscores[i] - row_dot[(size_t(b) * s.Hq + h) * s.Tq + query]);
        dscores[i] = ds;
        if (dpos_bias) dpos_bias[i] += ds;
    }
}

// row_dot[b, h, q] = sum_d dout * out (the softmax backward's row term), one warp per row.
__global__ void row_dot_kernel(float* row_dot, const float* dout, const float* out, AttentionShape s) {
    size_t rows = size_t(s.B) * s.Hq * s.Tq;
    size_t row = size_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    int lane = threadIdx.x % 32;
    size_t query = row % s.Tq, h = row / s.Tq % s.Hq, b = row / s.Tq / s.Hq;
    size_t at = ((b * s.Tq + query) * s.Hq + h) * s.D;
    float dot = 0.0f;
    for (int d = lane; d < s.D; d += 32) dot += dout[at + d] * out[at + d];
    dot = warp_sum(dot);
    if (lane == 0) row_dot[row] = dot;
}

unsigned warp_rows_blocks(size_t rows) { return unsigned((rows + kBlockThreads / 32 - 1) / (kBlockThreads / 32)); }

// Where example b's tensors start, and their row strides: q, out, dq and dout are (B, Tq, Hq, D); k, v, dk
// and dv (B, Tk, Hkv, D); head h of a row is D floats at offset h * D.
struct ExampleViews {
    size_t q_at, kv_at;
    int q_ld, kv_ld, group;
    size_t scores;  // Tq * Tk: one head's block of the score buffer
};
ExampleViews views(const AttentionShape& s, int b) {
    return ExampleViews{size_t(b) * s.Tq * s.Hq * s.D, size_t(b) * s.Tk * s.Hkv * s.D, s.Hq * s.D, s.Hkv * s.D,
                        s.Hq / s.Hkv, size_t(s.Tq) * s.Tk};
}

// scores[h] = scale q_h k_{h/G}^T for every query head h of example b.
void score_products(float* scores, const float* q, const float* k, const AttentionShape& s, const ExampleViews& e) {
    for (int g = 0; g < e.group; g++)
        cuda::gemm_batched(false, true, s.Tq, s.Tk, s.D, s.scale, q + e.q_at + size_t(g) * s.D, e.q_ld,
                           long(e.group) * s.D, k + e.kv_at, e.kv_ld, s.D, 0.0f, scores + g * e.scores, s.Tk,
                           long(e.group * e.scores), s.Hkv);
}

}  // namespace

namespace cuda {

size_t attention_gemm_scratch_bytes(const AttentionShape& s) { return size_t(s.Hq) * s.Tq * s.Tk * sizeof(float); }

void attention_forward_gemm(float* out, float* lse, const float* q, const float* k, const float* v,
                            const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    if (size_t(s.B) * s.Hq * s.Tq == 0) return;
    DeviceScratch probs(attention_gemm_scratch_bytes(s) + 1);
    float* p = (float*)probs.ptr;
    for (int b = 0; b < s.B; b++) {
        ExampleViews e = views(s, b);
        if (s.Tk > 0) score_products(p, q, k, s, e);
        launch(warp_rows_blocks(size_t(s.Hq) * s.Tq), kBlockThreads, 0, scores_to_probabilities_kernel, p, lse,
               (const float*)nullptr, pos_bias, key_mask, s, b);
        // out_h = P_h v_{h/G}
        for (int g = 0; g < e.group; g++)
            gemm_batched(false, false, s.Tq, s.D, s.Tk, 1.0f, p + g * e.scores, s.Tk, long(e.group * e.scores),
                         v + e.kv_at, e.kv_ld, s.D, 0.0f, out + e.q_at + size_t(g) * s.D, e.q_ld,
                         long(e.group) * s.D, s.Hkv);
    }
}

void attention_backward_gemm(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                             const float* k, const float* v, const float* out, const float* lse,
                             const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    size_t rows = size_t(s.B) * s.Hq * s.Tq;
    if (rows == 0 || s.Tk == 0) return;
    DeviceScratch row_dot(rows * sizeof(float)), probs(attention_gemm_scratch_bytes(s) + 1),
        dscores(attention_gemm_scratch_bytes(s) + 1);
    launch(warp_rows_blocks(rows), kBlockThreads, 0, row_dot_kernel, (float*)row_dot.ptr, dout, out, s);
    float *p = (float*)probs.ptr, *ds = (float*)dscores.ptr;
    for (int b = 0; b < s.B; b++) {
        ExampleViews e = views(s, b);
        score_products(p, q, k, s, e);
        launch(warp_rows_blocks(size_t(s.Hq) * s.Tq), kBlockThreads, 0, scores_to_probabilities_kernel, p,
               (float*)nullptr, lse, pos_bias, key_mask, s, b);
        for (int g = 0; g < e.group; g++) {
            long p_stride = long(e.group * e.scores), head_stride = long(e.group) * s.D;
            size_t head = size_t(g) * s.D;
            // dv_{h/G} += P_h^T dout_h;  dP_h = dout_h v_{h/G}^T
            gemm_batched(true, false, s.Tk, s.D, s.Tq, 1.0f, p + g * e.scores, s.Tk, p_stride, dout + e.q_at + head,
                         e.q_ld, head_stride, 1.0f, dv + e.kv_at, e.kv_ld, s.D, s.Hkv);
            gemm_batched(false, true, s.Tq, s.Tk, s.D, 1.0f, dout + e.q_at + head, e.q_ld, head_stride, v + e.kv_at,
                         e.kv_ld, s.D, 0.0f, ds + g * e.scores, s.Tk, p_stride, s.Hkv);
        }
        launch(blocks_for(size_t(s.Hq) * s.Tq * s.Tk), kBlockThreads, 0, score_gradients_kernel, ds,
               (const float*)p, (const float*)row_dot.ptr, dpos_bias, key_mask, s, b);
        for (int g = 0; g < e.group; g++) {
            long p_stride = long(e.group * e.scores), head_stride = long(e.group) * s.D;
            size_t head = size_t(g) * s.D;
            // dq_h += scale dS_h k_{h/G};  dk_{h/G} += scale dS_h^T q_h
            gemm_batched(false, false, s.Tq, s.D, s.Tk, s.scale, ds + g * e.scores, s.Tk, p_stride, k + e.kv_at,
                         e.kv_ld, s.D, 1.0f, dq + e.q_at + head, e.q_ld, head_stride, s.Hkv);
            gemm_batched(true, false, s.Tk, s.D, s.Tq, s.scale, ds + g * e.scores, s.Tk, p_stride, q + e.q_at + head,
                         e.q_ld, head_stride, 1.0f, dk + e.kv_at, e.kv_ld, s.D, s.Hkv);
        }
    }
}

}  // namespace cuda
