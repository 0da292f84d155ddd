// fast_attention_backward.cpp — the fused attention backward on the CPU, in one pass. A task owns one batch
// row of one key/value head and the query heads that read it, so it alone writes their dq, dk and dv rows:
// no thread adds into another's elements and every (query block, key tile) is recomputed once, not once
// for dK/dV and again for dQ. The probabilities come back from the forward's lse; the tile kernels are
// fast_attention_tiles.cpp. Semantics, including fully masked rows: reference_attention.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/fast_attention_tiles.h"
#include "kernels/cpu/fast_math.h"

namespace fast {

// Per-thread scratch: K and V of the task transposed (D, padded Tk), one tile of probabilities P, of dP and
// of dS (kBlockQ, kBlockK), and the dQ of one query block (kBlockQ, D).
struct BackwardScratch {
    std::vector<float> k_transposed, v_transposed, probs, dprobs, dscores, dq_block;
    BackwardScratch(int Tk, int D)
        : k_transposed(size_t(D) * padded_keys(Tk)),
          v_transposed(size_t(D) * padded_keys(Tk)),
          probs(kBlockQ * kBlockK),
          dprobs(kBlockQ * kBlockK),
          dscores(kBlockQ * kBlockK),
          dq_block(size_t(kBlockQ) * D) {}
};

// With P = softmax(S), O = P V: dV += P^T dO; dP = dO V^T; dS = P (dP - D_i) with D_i = dO_i . O_i;
// dQ += scale dS K; dK += scale dS^T Q; dpos_bias += dS. For one query block (q0, nq) of head h, batch b.
static void backward_block(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* out,
                           const float* lse, const AttentionProblem& p, BackwardScratch& t, int b, int h, int q0,
                           int nq) {
    const AttentionShape& s = p.s;
    int kvh = p.kv_head(h), ld = padded_keys(s.Tk);
    long q_stride = long(s.Hq) * s.D, kv_stride = long(s.Hkv) * s.D;
    const float* q_rows = p.q + p.q_index(b, q0, h);
    const float* dout_rows = dout + p.q_index(b, q0, h);
    float row_lse[kBlockQ], row_dot[kBlockQ];
    bool row_fully_masked[kBlockQ];
    for (int i = 0; i < nq; i++) {
        row_lse[i] = lse[p.lse_index(b, h, q0 + i)];
        row_fully_masked[i] = p.fully_masked(b, q0 + i);
        const float* o = out + p.q_index(b, q0 + i, h);
        const float* d_o = dout_rows + i * q_stride;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int d = 0; d < s.D; d++) dot += o[d] * d_o[d];
        row_dot[i] = dot;
    }
    bool block_fully_masked = p.fully_masked(b, q0);  // some row of the block is
    std::fill(t.dq_block.begin(), t.dq_block.begin() + size_t(nq) * s.D, 0.0f);
    for (int k0 = 0; k0 < s.Tk; k0 += kBlockK) {
        int nk = std::min(kBlockK, s.Tk - k0);
        if (p.skippable(b, q0, q0 + nq, k0, nk)) continue;
        int columns = p.tile_columns(q0 + nq, k0, nk);
        rows_times_columns(t.probs.data(), q_rows, q_stride, nq, t.k_transposed.data() + k0, ld, s.D, columns);
        finish_scores(t.probs.data(), p, b, h, q0, nq, k0, nk);
        rows_times_columns(t.dprobs.data(), dout_rows, q_stride, nq, t.v_transposed.data() + k0, ld, s.D, columns);
        for (int i = 0; i < nq; i++) {
            float* pr = t.probs.data() + i * kBlockK;
            const float* dp = t.dprobs.data() + i * kBlockK;
            float* ds = t.dscores.data() + i * kBlockK;
            if (row_fully_masked[i]) {
                // Constant scores: probabilities 1/Tk on every real key, and no gradient through the scores.
                std::fill(pr, pr + nk, 1.0f / float(s.Tk));
                std::fill(pr + nk, pr + kBlockK, 0.0f);
                std::fill(ds, ds + kBlockK, 0.0f);
                continue;
            }
            exp_shifted_sum(pr, pr, row_lse[i], kBlockK);  // masked and padding scores give exactly 0
#pragma omp simd
            for (int j = 0; j < kBlockK; j++) ds[j] = pr[j] * (dp[j] - row_dot[i]);
        }
        if (dpos_bias) {
            for (int i = 0; i < nq; i++) {
                float* db = dpos_bias + (long(h) * s.Tq + q0 + i) * s.Tk + k0;
                const float* ds = t.dscores.data() + i * kBlockK;
                for (int j = 0; j < nk; j++) db[j] += ds[j];
            }
        }
        if (s.scale != 1.0f)  // T5's scale is 1
            for (int e = 0; e < nq * kBlockK; e++) t.dscores[e] *= s.scale;
        // dV (nk, D) += P^T dO and dK (nk, D) += scale dS^T Q: the tiles read by columns. Past `columns` dS is
        // 0, and so is P unless a row is fully masked.
        int keys_with_probs = block_fully_masked ? nk : columns;
        long kv_tile = p.kv_index(b, k0, kvh);
        add_weighted_rows(dv + kv_tile, kv_stride, keys_with_probs, t.probs.data(), 1, kBlockK, dout_rows, q_stride, nq,
                          s.D);
        add_weighted_rows(dk + kv_tile, kv_stride, columns, t.dscores.data(), 1, kBlockK, q_rows, q_stride, nq, s.D);
        // dQ (nq, D) += scale dS K, kept for the block until every key tile is in.
        add_weighted_rows(t.dq_block.data(), s.D, nq, t.dscores.data(), kBlockK, 1, p.k + kv_tile, kv_stride, columns,
                          s.D);
    }
    for (int i = 0; i < nq; i++) {
        float* dq_row = dq + p.q_index(b, q0 + i, h);
        const float* block_row = t.dq_block.data() + size_t(i) * s.D;
        for (int d = 0; d < s.D; d++) dq_row[d] += block_row[d];
    }
}

void attention_backward(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse, const float* pos_bias,
                        const uint8_t* key_mask, AttentionShape s) {
    AttentionProblem p(q, k, v, pos_bias, key_mask, s);
    int group = s.Hq / s.Hkv, ld = padded_keys(s.Tk);
    // dpos_bias (Hq, Tq, Tk) sums over the batch, so when it is wanted a task walks every batch row in order
    // (tasks are then the kv heads) instead of owning one.
    int batches_per_task = dpos_bias ? s.B : 1;
    long tasks = long(s.B / batches_per_task) * s.Hkv;
#pragma omp parallel if (long(s.Tq) * s.Tk * s.D >= 4096 && tasks > 1)
    {
        BackwardScratch t(s.Tk, s.D);
#pragma omp for schedule(dynamic)
        for (long task = 0; task < tasks; task++) {
            int kvh = int(task % s.Hkv), b_begin = int(task / s.Hkv) * batches_per_task;
            for (int b = b_begin; b < b_begin + batches_per_task; b++) {
                pack_transposed(t.k_transposed.data(), ld, k + p.kv_index(b, 0, kvh), long(s.Hkv) * s.D, s.Tk, s.D);
                pack_transposed(t.v_transposed.data(), ld, v + p.kv_index(b, 0, kvh), long(s.Hkv) * s.D, s.Tk, s.D);
                for (int h = kvh * group; h < (kvh + 1) * group; h++)
                    for (int q0 = 0; q0 < s.Tq; q0 += kBlockQ)
                        backward_block(dq, dk, dv, dpos_bias, dout, out, lse, p, t, b, h, q0,
                                       std::min(kBlockQ, s.Tq - q0));
            }
        }
    }
}

}  // namespace fast
