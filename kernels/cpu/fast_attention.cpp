// fast_attention.cpp — the fused attention forward on the CPU, flash-style: queries go by blocks of kBlockQ
// rows, keys by tiles of kBlockK; a running max and sum per query row (online softmax) mean that no more than
// one (kBlockQ, kBlockK) tile of scores ever exists, and lse is saved for the backward
// (fast_attention_backward.cpp). The tile kernels are in fast_attention_tiles.cpp.
// Semantics, including the fully masked rows: reference_attention.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/fast_attention_tiles.h"
#include "kernels/cpu/fast_math.h"

namespace fast {

// Below this much work per (batch, head) an OpenMP region costs more than it saves.
static bool worth_threads(const AttentionShape& s) { return long(s.Tq) * s.Tk * s.D >= 4096; }

// One query block of one head: out rows and lse for queries q0 .. q0 + nq. k_transposed is K of (b, kv head)
// packed (D, padded Tk). acc (kBlockQ, D) and scores (kBlockQ, kBlockK) are the caller's scratch.
static void forward_block(float* out, float* lse, const AttentionProblem& p, const float* k_transposed, int b, int h,
                          int q0, int nq, float* acc, float* scores) {
    const AttentionShape& s = p.s;
    int kvh = p.kv_head(h), ld = padded_keys(s.Tk);
    const float* q_rows = p.q + p.q_index(b, q0, h);
    float row_max[kBlockQ], row_sum[kBlockQ];
    std::fill(acc, acc + size_t(nq) * s.D, 0.0f);
    std::fill(row_max, row_max + nq, -INFINITY);
    std::fill(row_sum, row_sum + nq, 0.0f);
    for (int k0 = 0; k0 < s.Tk; k0 += kBlockK) {
        int nk = std::min(kBlockK, s.Tk - k0);
        if (p.skippable(b, q0, q0 + nq, k0, nk)) continue;
        int columns = p.tile_columns(q0 + nq, k0, nk);
        rows_times_columns(scores, q_rows, long(s.Hq) * s.D, nq, k_transposed + k0, ld, s.D, columns);
        finish_scores(scores, p, b, h, q0, nq, k0, nk);
        for (int i = 0; i < nq; i++) {
            float* row = scores + i * kBlockK;
            float tile_max = row[0];  // a real key's score is at least kMaskedScore, never -inf
#pragma omp simd reduction(max : tile_max)
            for (int j = 0; j < kBlockK; j++) tile_max = row[j] > tile_max ? row[j] : tile_max;
            float new_max = std::max(row_max[i], tile_max);
            // Rescale what was accumulated under the old max: exp(old - new) <= 1.
            float correction = std::exp(row_max[i] - new_max);
            row_sum[i] = row_sum[i] * correction + exp_shifted_sum(row, row, new_max, kBlockK);
            row_max[i] = new_max;
            if (correction != 1.0f) {
                float* a = acc + size_t(i) * s.D;
#pragma omp simd
                for (int d = 0; d < s.D; d++) a[d] *= correction;
            }
        }
        // acc (nq, D) += probabilities (nq, nk) V (nk, D); past `columns` they are 0 unless a row is fully masked.
        int keys_used = p.fully_masked(b, q0) ? nk : columns;
        add_weighted_rows(acc, s.D, nq, scores, kBlockK, 1, p.v + p.kv_index(b, k0, kvh), long(s.Hkv) * s.D, keys_used,
                          s.D);
    }
    for (int i = 0; i < nq; i++) {
        float* o = out + p.q_index(b, q0 + i, h);
        const float* a = acc + size_t(i) * s.D;
        float inverse = 1.0f / row_sum[i];
        for (int d = 0; d < s.D; d++) o[d] = a[d] * inverse;
        lse[p.lse_index(b, h, q0 + i)] = row_max[i] + std::log(row_sum[i]);
    }
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const float* pos_bias,
                       const uint8_t* key_mask, AttentionShape s) {
    AttentionProblem p(q, k, v, pos_bias, key_mask, s);
    // A task is one batch row of one kv head, for every query head that reads it, so that K is transposed
    // once and reused by all their query blocks. Where that gives too few tasks for the threads (decoding
    // one long sequence), the query blocks are split in chunks, each chunk a task that transposes K again.
    int q_blocks = (s.Tq + kBlockQ - 1) / kBlockQ, group = s.Hq / s.Hkv, ld = padded_keys(s.Tk);
    long kv_pairs = long(s.B) * s.Hkv;
    int chunks = int(std::min<long>(q_blocks, (4L * omp_get_max_threads() + kv_pairs - 1) / kv_pairs));
    int blocks_per_chunk = (q_blocks + chunks - 1) / chunks;
    long tasks = kv_pairs * chunks;
#pragma omp parallel if (worth_threads(s) && tasks > 1)
    {
        std::vector<float> k_transposed(size_t(s.D) * ld), acc(size_t(kBlockQ) * s.D), scores(kBlockQ * kBlockK);
#pragma omp for schedule(dynamic)
        for (long task = 0; task < tasks; task++) {
            int b = int(task / (long(s.Hkv) * chunks)), kvh = int(task / chunks % s.Hkv), chunk = int(task % chunks);
            pack_transposed(k_transposed.data(), ld, k + p.kv_index(b, 0, kvh), long(s.Hkv) * s.D, s.Tk, s.D);
            int q_begin = chunk * blocks_per_chunk * kBlockQ;
            int q_end = std::min(s.Tq, q_begin + blocks_per_chunk * kBlockQ);
            for (int h = kvh * group; h < (kvh + 1) * group; h++)
                for (int q0 = q_begin; q0 < q_end; q0 += kBlockQ)
                    forward_block(out, lse, p, k_transposed.data(), b, h, q0, std::min(kBlockQ, s.Tq - q0), acc.data(),
                                  scores.data());
        }
    }
}

}  // namespace fast
