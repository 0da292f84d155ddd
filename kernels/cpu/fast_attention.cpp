// fast_attention.cpp — fused attention on the CPU, flash-style: queries go by blocks of kBlockQ rows, keys
// by blocks of kBlockK; the forward keeps a running max and sum per query row (online softmax), so no more
// than one (kBlockQ, kBlockK) tile of scores ever exists, and saves lse for the backward. The backward
// recomputes each tile's probabilities from lse: one pass owns key blocks (dK, dV), a second owns query
// blocks (dQ, dpos_bias summed over the batch), so threads never add into the same element.
// Semantics, including the fully masked rows: reference_attention.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/fast_math.h"

namespace fast {

constexpr int kBlockQ = 32;
constexpr int kBlockK = 64;

// The operands of one call, and per batch row the count of unmasked keys before each key position, which
// answers "does this query see any key at all?" in O(1).
struct AttentionProblem {
    const float *q, *k, *v, *pos_bias;
    const uint8_t* key_mask;
    AttentionShape s;
    std::vector<int> unmasked_before;  // (B, Tk + 1)

    AttentionProblem(const float* q_, const float* k_, const float* v_, const float* bias, const uint8_t* mask,
                     AttentionShape shape)
        : q(q_),
          k(k_),
          v(v_),
          pos_bias(bias),
          key_mask(mask),
          s(shape),
          unmasked_before(size_t(shape.B) * (shape.Tk + 1)) {
        for (int b = 0; b < s.B; b++) {
            int* prefix = &unmasked_before[size_t(b) * (s.Tk + 1)];
            prefix[0] = 0;
            for (int key = 0; key < s.Tk; key++)
                prefix[key + 1] = prefix[key] + (key_mask ? key_mask[size_t(b) * s.Tk + key] != 0 : 1);
        }
    }
    int kv_head(int h) const { return h / (s.Hq / s.Hkv); }
    int causal_offset() const { return s.Tk - s.Tq; }  // queries are aligned with the END of the keys
    long q_index(int b, int t, int h) const { return ((long(b) * s.Tq + t) * s.Hq + h) * s.D; }
    long kv_index(int b, int t, int h) const { return ((long(b) * s.Tk + t) * s.Hkv + h) * s.D; }
    long lse_index(int b, int h, int t) const { return (long(b) * s.Hq + h) * s.Tq + t; }
    bool key_masked(int b, int query, int key) const {
        if (key_mask && !key_mask[long(b) * s.Tk + key]) return true;
        return s.causal && key > query + causal_offset();
    }
    // Every key masked: the row's scores are all kMaskedScore, its softmax uniform over all Tk keys.
    bool fully_masked(int b, int query) const {
        int visible = s.causal ? std::min(std::max(query + causal_offset() + 1, 0), s.Tk) : s.Tk;
        return unmasked_before[size_t(b) * (s.Tk + 1) + visible] == 0;
    }
    // A key block that causal masking hides from every query of [q0, q1) contributes exactly 0 to rows that
    // see some key, so it can be skipped, unless one of the rows is fully masked (then every key counts).
    bool skippable(int b, int q0, int q1, int k0) const {
        if (!s.causal || k0 <= q1 - 1 + causal_offset()) return false;
        for (int query = q0; query < q1; query++)
            if (fully_masked(b, query)) return false;
        return true;
    }
};

// dst (D, kBlockK) = the rows k0 .. k0 + nk of a (B, Tk, Hkv, D) tensor, transposed, so that a query row
// times this tile is a loop over contiguous keys (vectorised) rather than nk separate dot products.
static void load_transposed(float* dst, const float* kv, const AttentionProblem& p, int b, int kvh, int k0, int nk) {
    for (int j = 0; j < nk; j++) {
        const float* row = kv + p.kv_index(b, k0 + j, kvh);
        for (int d = 0; d < p.s.D; d++) dst[d * kBlockK + j] = row[d];
    }
}

// out (nq, kBlockK) = rows (nq, D) at stride row_stride times the transposed tile (D, kBlockK), for nk keys.
// A full tile's output row (kBlockK floats, four AVX-512 registers) stays in registers across the D loop.
static void rows_times_tile(float* out, const float* rows, long row_stride, int nq, const float* tile, int nk, int D) {
    for (int i = 0; i < nq; i++) {
        const float* r = rows + i * row_stride;
        float o[kBlockK] = {};
        if (nk == kBlockK) {
            for (int d = 0; d < D; d++) {
                const float* t = tile + d * kBlockK;
#pragma omp simd
                for (int j = 0; j < kBlockK; j++) o[j] += r[d] * t[j];
            }
        } else {
            for (int d = 0; d < D; d++) {
                const float* t = tile + d * kBlockK;
#pragma omp simd
                for (int j = 0; j < nk; j++) o[j] += r[d] * t[j];
            }
        }
        for (int j = 0; j < nk; j++) out[i * kBlockK + j] = o[j];
    }
}

// acc (D) += sum over c < count of weights[c * weight_stride] * rows[c * row_stride .. + D]: P V, dS K, P^T dO
// and dS^T Q are all this. acc is held in registers kRowChunk floats at a time while the rows stream by.
constexpr int kRowChunk = 64;
static void weighted_row_sum(float* acc, const float* weights, long weight_stride, const float* rows, long row_stride,
                             int count, int D) {
    int d0 = 0;
    for (; d0 + kRowChunk <= D; d0 += kRowChunk) {
        float sum[kRowChunk];
        for (int d = 0; d < kRowChunk; d++) sum[d] = acc[d0 + d];
        for (int c = 0; c < count; c++) {
            float w = weights[c * weight_stride];
            const float* r = rows + c * row_stride + d0;
#pragma omp simd
            for (int d = 0; d < kRowChunk; d++) sum[d] += w * r[d];
        }
        for (int d = 0; d < kRowChunk; d++) acc[d0 + d] = sum[d];
    }
    for (int c = 0; c < count && d0 < D; c++) {
        float w = weights[c * weight_stride];
        const float* r = rows + c * row_stride;
        for (int d = d0; d < D; d++) acc[d] += w * r[d];
    }
}

// scores (nq, kBlockK) of queries q0.. against keys k0.. for head h: scale q.k + pos_bias, or kMaskedScore.
static void score_tile(float* scores, const AttentionProblem& p, const float* k_tile, int b, int h, int q0, int nq,
                       int k0, int nk) {
    const AttentionShape& s = p.s;
    rows_times_tile(scores, p.q + p.q_index(b, q0, h), long(s.Hq) * s.D, nq, k_tile, nk, s.D);
    for (int i = 0; i < nq; i++) {
        float* row = scores + i * kBlockK;
        const float* bias = p.pos_bias ? p.pos_bias + (long(h) * s.Tq + q0 + i) * s.Tk + k0 : nullptr;
        for (int j = 0; j < nk; j++) {
            float score = s.scale * row[j] + (bias ? bias[j] : 0.0f);
            row[j] = p.key_masked(b, q0 + i, k0 + j) ? kMaskedScore : score;
        }
    }
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const float* pos_bias,
                       const uint8_t* key_mask, AttentionShape s) {
    AttentionProblem p(q, k, v, pos_bias, key_mask, s);
    int q_blocks = (s.Tq + kBlockQ - 1) / kBlockQ;
    long tasks = long(s.B) * s.Hq * q_blocks;
#pragma omp parallel if (tasks > 1 && long(s.Tq) * s.Tk * s.D >= 4096)
    {
        std::vector<float> k_tile(size_t(s.D) * kBlockK), scores(kBlockQ * kBlockK), acc(size_t(kBlockQ) * s.D);
        float row_max[kBlockQ], row_sum[kBlockQ];
#pragma omp for schedule(dynamic)
        for (long task = 0; task < tasks; task++) {
            int b = int(task / (long(s.Hq) * q_blocks)), h = int(task / q_blocks % s.Hq);
            int q0 = int(task % q_blocks) * kBlockQ, nq = std::min(kBlockQ, s.Tq - q0), kvh = p.kv_head(h);
            std::fill(acc.begin(), acc.end(), 0.0f);
            std::fill(row_max, row_max + kBlockQ, -INFINITY);
            std::fill(row_sum, row_sum + kBlockQ, 0.0f);
            for (int k0 = 0; k0 < s.Tk; k0 += kBlockK) {
                int nk = std::min(kBlockK, s.Tk - k0);
                if (p.skippable(b, q0, q0 + nq, k0)) break;  // later blocks are hidden too
                load_transposed(k_tile.data(), k, p, b, kvh, k0, nk);
                score_tile(scores.data(), p, k_tile.data(), b, h, q0, nq, k0, nk);
                for (int i = 0; i < nq; i++) {
                    float* row = scores.data() + i * kBlockK;
                    float block_max = row[0];
                    for (int j = 1; j < nk; j++) block_max = std::max(block_max, row[j]);
                    float new_max = std::max(row_max[i], block_max);
                    // Rescale what was accumulated under the old max: exp(old - new) <= 1.
                    float correction = std::exp(row_max[i] - new_max);
                    float block_sum = exp_shifted_sum(row, row, new_max, nk);
                    row_sum[i] = row_sum[i] * correction + block_sum;
                    row_max[i] = new_max;
                    float* a = acc.data() + size_t(i) * s.D;
                    if (correction != 1.0f) {
#pragma omp simd
                        for (int d = 0; d < s.D; d++) a[d] *= correction;
                    }
                    weighted_row_sum(a, row, 1, v + p.kv_index(b, k0, kvh), long(s.Hkv) * s.D, nk, s.D);
                }
            }
            for (int i = 0; i < nq; i++) {
                float* o = out + p.q_index(b, q0 + i, h);
                const float* a = acc.data() + size_t(i) * s.D;
                float inverse = 1.0f / row_sum[i];
                for (int d = 0; d < s.D; d++) o[d] = a[d] * inverse;
                lse[p.lse_index(b, h, q0 + i)] = row_max[i] + std::log(row_sum[i]);
            }
        }
    }
}

// ---- backward ------------------------------------------------------------------------------------

// One (query block, key block) tile of the backward: probs = softmax recomputed from lse (uniform 1/Tk on
// fully masked rows), dprobs = dO V^T, dscores = probs (dprobs - D_i) with D_i = dO_i . O_i (0 on fully
// masked rows, whose scores are constants). All three (nq, kBlockK).
struct BackwardTile {
    std::vector<float> k_tile, v_tile, probs, dprobs, dscores;
    explicit BackwardTile(int D)
        : k_tile(size_t(D) * kBlockK),
          v_tile(size_t(D) * kBlockK),
          probs(kBlockQ * kBlockK),
          dprobs(kBlockQ * kBlockK),
          dscores(kBlockQ * kBlockK) {}
};

static void backward_tile(BackwardTile& t, const AttentionProblem& p, const float* dout, const float* lse,
                          const float* row_dot, int b, int h, int q0, int nq, int k0, int nk) {
    const AttentionShape& s = p.s;
    score_tile(t.probs.data(), p, t.k_tile.data(), b, h, q0, nq, k0, nk);
    rows_times_tile(t.dprobs.data(), dout + p.q_index(b, q0, h), long(s.Hq) * s.D, nq, t.v_tile.data(), nk, s.D);
    for (int i = 0; i < nq; i++) {
        float* pr = t.probs.data() + i * kBlockK;
        float* dp = t.dprobs.data() + i * kBlockK;
        float* ds = t.dscores.data() + i * kBlockK;
        long row = p.lse_index(b, h, q0 + i);
        if (p.fully_masked(b, q0 + i)) {
            for (int j = 0; j < nk; j++) {
                pr[j] = 1.0f / float(s.Tk);
                ds[j] = 0.0f;
            }
            continue;
        }
        exp_shifted_sum(pr, pr, lse[row], nk);  // masked scores give exactly 0
#pragma omp simd
        for (int j = 0; j < nk; j++) ds[j] = pr[j] * (dp[j] - row_dot[row]);
    }
}

void attention_backward(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse, const float* pos_bias,
                        const uint8_t* key_mask, AttentionShape s) {
    AttentionProblem p(q, k, v, pos_bias, key_mask, s);
    bool parallel = long(s.Tq) * s.Tk * s.D >= 4096;
    // D_i = dO_i . O_i for every query row (B, Hq, Tq): the softmax backward's row sum, computed once.
    std::vector<float> row_dot(size_t(s.B) * s.Hq * s.Tq);
#pragma omp parallel for collapse(2) if (parallel)
    for (int b = 0; b < s.B; b++)
        for (int t = 0; t < s.Tq; t++)
            for (int h = 0; h < s.Hq; h++) {
                const float* o = out + p.q_index(b, t, h);
                const float* d_o = dout + p.q_index(b, t, h);
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int d = 0; d < s.D; d++) dot += o[d] * d_o[d];
                row_dot[p.lse_index(b, h, t)] = dot;
            }

    int q_blocks = (s.Tq + kBlockQ - 1) / kBlockQ, k_blocks = (s.Tk + kBlockK - 1) / kBlockK;
    int group = s.Hq / s.Hkv;

    // Pass 1, dK and dV: a task owns one key block of one key/value head and visits every query that reads it.
    long kv_tasks = long(s.B) * s.Hkv * k_blocks;
#pragma omp parallel if (parallel && kv_tasks > 1)
    {
        BackwardTile t(s.D);
        std::vector<float> dk_acc(size_t(kBlockK) * s.D), dv_acc(size_t(kBlockK) * s.D);
#pragma omp for schedule(dynamic)
        for (long task = 0; task < kv_tasks; task++) {
            int b = int(task / (long(s.Hkv) * k_blocks)), kvh = int(task / k_blocks % s.Hkv);
            int k0 = int(task % k_blocks) * kBlockK, nk = std::min(kBlockK, s.Tk - k0);
            load_transposed(t.k_tile.data(), k, p, b, kvh, k0, nk);
            load_transposed(t.v_tile.data(), v, p, b, kvh, k0, nk);
            std::fill(dk_acc.begin(), dk_acc.end(), 0.0f);
            std::fill(dv_acc.begin(), dv_acc.end(), 0.0f);
            for (int h = kvh * group; h < (kvh + 1) * group; h++)
                for (int q0 = 0; q0 < s.Tq; q0 += kBlockQ) {
                    int nq = std::min(kBlockQ, s.Tq - q0);
                    if (p.skippable(b, q0, q0 + nq, k0)) continue;
                    backward_tile(t, p, dout, lse, row_dot.data(), b, h, q0, nq, k0, nk);
                    for (int i = 0; i < nq; i++)
                        for (int j = 0; j < nk; j++) t.dscores[i * kBlockK + j] *= s.scale;
                    // dV_j += sum_i P_ij dO_i and dK_j += scale sum_i dS_ij Q_i: column j of the tile as weights.
                    for (int j = 0; j < nk; j++) {
                        weighted_row_sum(dv_acc.data() + size_t(j) * s.D, t.probs.data() + j, kBlockK,
                                         dout + p.q_index(b, q0, h), long(s.Hq) * s.D, nq, s.D);
                        weighted_row_sum(dk_acc.data() + size_t(j) * s.D, t.dscores.data() + j, kBlockK,
                                         q + p.q_index(b, q0, h), long(s.Hq) * s.D, nq, s.D);
                    }
                }
            for (int j = 0; j < nk; j++) {
                float* dkrow = dk + p.kv_index(b, k0 + j, kvh);
                float* dvrow = dv + p.kv_index(b, k0 + j, kvh);
                for (int d = 0; d < s.D; d++) {
                    dkrow[d] += dk_acc[size_t(j) * s.D + d];
                    dvrow[d] += dv_acc[size_t(j) * s.D + d];
                }
            }
        }
    }

    // Pass 2, dQ and dpos_bias: a task owns one query block of one head. dpos_bias (Hq, Tq, Tk) sums over the
    // batch, so when it is wanted one task walks every batch row in order instead of splitting them.
    int batch_tasks = dpos_bias ? 1 : s.B;
    long q_tasks = long(batch_tasks) * s.Hq * q_blocks;
#pragma omp parallel if (parallel && q_tasks > 1)
    {
        BackwardTile t(s.D);
#pragma omp for schedule(dynamic)
        for (long task = 0; task < q_tasks; task++) {
            int batch_task = int(task / (long(s.Hq) * q_blocks)), h = int(task / q_blocks % s.Hq);
            int q0 = int(task % q_blocks) * kBlockQ, nq = std::min(kBlockQ, s.Tq - q0), kvh = p.kv_head(h);
            int b_begin = dpos_bias ? 0 : batch_task, b_end = dpos_bias ? s.B : batch_task + 1;
            for (int b = b_begin; b < b_end; b++)
                for (int k0 = 0; k0 < s.Tk; k0 += kBlockK) {
                    int nk = std::min(kBlockK, s.Tk - k0);
                    if (p.skippable(b, q0, q0 + nq, k0)) break;
                    load_transposed(t.k_tile.data(), k, p, b, kvh, k0, nk);
                    load_transposed(t.v_tile.data(), v, p, b, kvh, k0, nk);
                    backward_tile(t, p, dout, lse, row_dot.data(), b, h, q0, nq, k0, nk);
                    for (int i = 0; i < nq; i++) {
                        const float* ds = t.dscores.data() + i * kBlockK;
                        float scaled[kBlockK];  // dQ_i += scale sum_j dS_ij K_j
                        for (int j = 0; j < nk; j++) scaled[j] = s.scale * ds[j];
                        weighted_row_sum(dq + p.q_index(b, q0 + i, h), scaled, 1, k + p.kv_index(b, k0, kvh),
                                         long(s.Hkv) * s.D, nk, s.D);
                        if (dpos_bias) {
                            float* db = dpos_bias + (long(h) * s.Tq + q0 + i) * s.Tk + k0;
                            for (int j = 0; j < nk; j++) db[j] += ds[j];
                        }
                    }
                }
        }
    }
}

}  // namespace fast
