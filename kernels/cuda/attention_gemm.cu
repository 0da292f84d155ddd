// attention_gemm.cu — attention as matrix products: for one example at a time the scores of every head,
// (Hq, Tq, Tk), are a batch of GEMMs (cuBLAS), turned into probabilities in place by one kernel, and
// multiplied into the output by a second batch of GEMMs. Backward recomputes the probabilities from the
// saved lse and runs the four gradient products the same way. Where an example's scores would pass the
// budget (256 MiB, SAPT_CUDA_ATTENTION_MIB), its query rows are taken in blocks: every row's softmax, output
// and dQ are its own, and dK, dV, dpos_bias add up over the blocks. Compared with the fused kernel
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
#include <algorithm>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "kernels/cuda/attention_common.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

// Which scores a buffer holds: example b's query rows [first_query, first_query + rows) of every head, laid
// out (Hq, rows, Tk). Long sequences are cut into such blocks so the buffer stays within a budget.
struct ScoreBlock {
    int b, first_query, rows;
};

// One warp per row r = h * rows + i of the block's buffer (query first_query + i of head h), which holds
// scale q.k on entry and the probabilities on exit. Forward (lse_in null): the row's max and sum give lse,
// written to lse_out. Backward (lse_in set): the probabilities are recomputed from the saved lse, as the
// fused kernel does.
__global__ void scores_to_probabilities_kernel(float* scores, float* lse_out, const float* lse_in,
                                               const float* pos_bias, const uint8_t* key_mask, AttentionShape s,
                                               ScoreBlock block) {
    size_t row = size_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= size_t(s.Hq) * block.rows) return;
    int lane = threadIdx.x % 32, h = int(row / block.rows), query = block.first_query + int(row % block.rows);
    float* p = scores + row * s.Tk;
    size_t head_row = size_t(h) * s.Tq + query;  // the row's index in (Hq, Tq) tables: pos_bias, lse
    const float* bias = pos_bias ? pos_bias + head_row * s.Tk : nullptr;
    float row_max = -INFINITY;
    for (int key = lane; key < s.Tk; key += 32) {
        float score = key_is_masked(s, key_mask, block.b, query, key) ? kMaskedScore
                                                                     : p[key] + (bias ? bias[key] : 0.0f);
        p[key] = score;
        row_max = fmaxf(row_max, score);
    }
    size_t stat = size_t(block.b) * s.Hq * s.Tq + head_row;
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

// dS = P (dP - row_dot) on unmasked scores, 0 on masked ones, in place of dP; dpos_bias += dS. One block's
// buffer, one element per thread: blocks run one after another, so no two threads add to the same
// dpos_bias element at once.
__global__ void score_gradients_kernel(float* dscores, const float* probs, const float* row_dot, float* dpos_bias,
                                       const uint8_t* key_mask, AttentionShape s, ScoreBlock block) {
    size_t n = size_t(s.Hq) * block.rows * s.Tk;
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        size_t row = i / s.Tk;
        int key = int(i % s.Tk), query = block.first_query + int(row % block.rows), h = int(row / block.rows);
        size_t head_row = size_t(h) * s.Tq + query;
        float ds = 0.0f;
        if (!key_is_masked(s, key_mask, block.b, query, key))
            ds = probs[i] * (dscores[i] - row_dot[size_t(block.b) * s.Hq * s.Tq + head_row]);
        dscores[i] = ds;
        if (dpos_bias) dpos_bias[head_row * s.Tk + key] += ds;
    }
}

unsigned warp_rows_blocks(size_t rows) { return unsigned((rows + kBlockThreads / 32 - 1) / (kBlockThreads / 32)); }

// The most a score buffer may take; backward holds two (P and dS). SAPT_CUDA_ATTENTION_MIB or
// cuda_set_attention_score_budget (tests set it small to cut even tiny sequences into blocks).
size_t& score_budget_setting() {
    static size_t bytes = [] {
        const char* env = std::getenv("SAPT_CUDA_ATTENTION_MIB");
        long mib = env ? std::atol(env) : 256;
        if (mib < 1) fail("SAPT_CUDA_ATTENTION_MIB", "expected a positive number of MiB, got " + std::string(env));
        return size_t(mib) << 20;
    }();
    return bytes;
}

// Query rows per block: as many as fit in the budget (at least one).
int rows_per_block(const AttentionShape& s) {
    size_t row_bytes = size_t(s.Hq) * s.Tk * sizeof(float);
    size_t rows = row_bytes ? score_budget_setting() / row_bytes : size_t(s.Tq);
    return int(rows < 1 ? 1 : rows < size_t(s.Tq) ? rows : s.Tq);
}

// Where a block's rows start, and the row strides: q, out, dq and dout are (B, Tq, Hq, D); k, v, dk and dv
// (B, Tk, Hkv, D); head h of a row is D floats at offset h * D. GQA: the products run over the Hkv heads once
// for each g in [0, G), the query heads h = kv_head * G + g.
struct BlockViews {
    size_t q_at, kv_at;
    int q_ld, kv_ld, group;
    long scores;                 // rows * Tk: one head's part of the score buffer
    long score_stride, q_stride; // from one kv head's query head to the next's: in the buffer, in q
};
BlockViews views(const AttentionShape& s, const ScoreBlock& block) {
    BlockViews v;
    v.q_at = (size_t(block.b) * s.Tq + block.first_query) * s.Hq * s.D;
    v.kv_at = size_t(block.b) * s.Tk * s.Hkv * s.D;
    v.q_ld = s.Hq * s.D, v.kv_ld = s.Hkv * s.D, v.group = s.Hq / s.Hkv;
    v.scores = long(block.rows) * s.Tk;
    v.score_stride = v.group * v.scores, v.q_stride = long(v.group) * s.D;
    return v;
}

// scores[h] = scale q_h k_{h/G}^T for every query head h, the block's rows.
void score_products(float* scores, const float* q, const float* k, const AttentionShape& s, const ScoreBlock& block,
                    const BlockViews& e) {
    for (int g = 0; g < e.group; g++)
        cuda::gemm_batched(false, true, block.rows, s.Tk, s.D, s.scale, q + e.q_at + size_t(g) * s.D, e.q_ld,
                           e.q_stride, k + e.kv_at, e.kv_ld, s.D, 0.0f, scores + g * e.scores, s.Tk, e.score_stride,
                           s.Hkv);
}

}  // namespace

size_t cuda_attention_score_budget() { return score_budget_setting(); }
void cuda_set_attention_score_budget(size_t bytes) { score_budget_setting() = bytes; }

namespace cuda {

void attention_forward_gemm(float* out, float* lse, const float* q, const float* k, const float* v,
                            const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    if (size_t(s.B) * s.Hq * s.Tq == 0) return;
    const int block_rows = rows_per_block(s);
    DeviceScratch probs(size_t(s.Hq) * block_rows * s.Tk * sizeof(float) + 1);
    float* p = (float*)probs.ptr;
    for (int b = 0; b < s.B; b++) {
        for (int first = 0; first < s.Tq; first += block_rows) {
            ScoreBlock block{b, first, std::min(block_rows, s.Tq - first)};
            BlockViews e = views(s, block);
            if (s.Tk > 0) score_products(p, q, k, s, block, e);
            launch(warp_rows_blocks(size_t(s.Hq) * block.rows), kBlockThreads, 0, scores_to_probabilities_kernel, p,
                   lse, (const float*)nullptr, pos_bias, key_mask, s, block);
            // out_h = P_h v_{h/G}
            for (int g = 0; g < e.group; g++)
                gemm_batched(false, false, block.rows, s.D, s.Tk, 1.0f, p + g * e.scores, s.Tk, e.score_stride,
                             v + e.kv_at, e.kv_ld, s.D, 0.0f, out + e.q_at + size_t(g) * s.D, e.q_ld, e.q_stride,
                             s.Hkv);
        }
    }
}

void attention_backward_gemm(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                             const float* k, const float* v, const float* out, const float* lse,
                             const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    size_t rows = size_t(s.B) * s.Hq * s.Tq;
    if (rows == 0 || s.Tk == 0) return;
    const int block_rows = rows_per_block(s);
    const size_t buffer_bytes = size_t(s.Hq) * block_rows * s.Tk * sizeof(float) + 1;
    DeviceScratch row_dot(rows * sizeof(float)), probs(buffer_bytes), dscores(buffer_bytes);
    attention_row_dot((float*)row_dot.ptr, dout, out, s);
    float *p = (float*)probs.ptr, *ds = (float*)dscores.ptr;
    for (int b = 0; b < s.B; b++) {
        for (int first = 0; first < s.Tq; first += block_rows) {
            ScoreBlock block{b, first, std::min(block_rows, s.Tq - first)};
            BlockViews e = views(s, block);
            score_products(p, q, k, s, block, e);
            launch(warp_rows_blocks(size_t(s.Hq) * block.rows), kBlockThreads, 0, scores_to_probabilities_kernel, p,
                   (float*)nullptr, lse, pos_bias, key_mask, s, block);
            for (int g = 0; g < e.group; g++) {
                size_t head = size_t(g) * s.D;
                // dv_{h/G} += P_h^T dout_h;  dP_h = dout_h v_{h/G}^T
                gemm_batched(true, false, s.Tk, s.D, block.rows, 1.0f, p + g * e.scores, s.Tk, e.score_stride,
                             dout + e.q_at + head, e.q_ld, e.q_stride, 1.0f, dv + e.kv_at, e.kv_ld, s.D, s.Hkv);
                gemm_batched(false, true, block.rows, s.Tk, s.D, 1.0f, dout + e.q_at + head, e.q_ld, e.q_stride,
                             v + e.kv_at, e.kv_ld, s.D, 0.0f, ds + g * e.scores, s.Tk, e.score_stride, s.Hkv);
            }
            launch(blocks_for(size_t(s.Hq) * block.rows * s.Tk), kBlockThreads, 0, score_gradients_kernel, ds,
                   (const float*)p, (const float*)row_dot.ptr, dpos_bias, key_mask, s, block);
            for (int g = 0; g < e.group; g++) {
                size_t head = size_t(g) * s.D;
                // dq_h += scale dS_h k_{h/G};  dk_{h/G} += scale dS_h^T q_h
                gemm_batched(false, false, block.rows, s.D, s.Tk, s.scale, ds + g * e.scores, s.Tk, e.score_stride,
                             k + e.kv_at, e.kv_ld, s.D, 1.0f, dq + e.q_at + head, e.q_ld, e.q_stride, s.Hkv);
                gemm_batched(true, false, s.Tk, s.D, block.rows, s.scale, ds + g * e.scores, s.Tk, e.score_stride,
                             q + e.q_at + head, e.q_ld, e.q_stride, 1.0f, dk + e.kv_at, e.kv_ld, s.D, s.Hkv);
            }
        }
    }
}

}  // namespace cuda
