// fast_attention_tiles.h — what the fast attention forward (fast_attention.cpp) and backward
// (fast_attention_backward.cpp) share: AttentionProblem (indexing, and which rows and tiles masking hides)
// and the tile kernels of fast_attention_tiles.cpp. Not the passes themselves, and no threading: every
// function here works on one tile of at most kBlockQ queries by kBlockK keys, on the calling thread.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace fast {

constexpr int kBlockQ = 32;  // query rows per block
constexpr int kBlockK = 64;  // keys per tile: a score row of a tile is four AVX-512 vectors

// Key counts are padded to whole tiles in the transposed K and V copies (the padding is zero), so the
// products never read past a copy; finish_scores sets the scores of padding keys to -inf, whose exp is 0.
inline int padded_keys(int Tk) { return (Tk + kBlockK - 1) / kBlockK * kBlockK; }

// The operands of one call, and per batch row the count of unmasked keys before each key position, which
// answers "does this query see any key?" and "does this tile hold a visible key?" in O(1).
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
    // Keys [0, end) can be visible to `query`; causal masking hides the rest.
    int visible_end(int query) const {
        return s.causal ? std::min(std::max(query + causal_offset() + 1, 0), s.Tk) : s.Tk;
    }
    int unmasked_in(int b, int k0, int k1) const {
        const int* prefix = &unmasked_before[size_t(b) * (s.Tk + 1)];
        return k1 <= k0 ? 0 : prefix[k1] - prefix[k0];
    }
    // Every key masked: the row's scores are all kMaskedScore, its softmax uniform over all Tk keys. Later
    // queries see at least the keys earlier ones see, so a block has such a row iff its first row is one.
    bool fully_masked(int b, int query) const { return unmasked_in(b, 0, visible_end(query)) == 0; }
    // Columns of the tile at k0 that some query of [q0, q1) may see: causality hides the rest from all.
    int tile_columns(int q1, int k0, int nk) const { return std::max(std::min(nk, visible_end(q1 - 1) - k0), 0); }
    // A tile whose keys are all masked for every query of [q0, q1) contributes exactly 0 to rows that see
    // some key, so it can be skipped, unless one of the rows is fully masked (then every key counts).
    bool skippable(int b, int q0, int q1, int k0, int nk) const {
        return unmasked_in(b, k0, k0 + tile_columns(q1, k0, nk)) == 0 && !fully_masked(b, q0);
    }
};

// dst (D, ld) = the `rows` rows (at src_stride) of a (rows, D) block, transposed; columns rows..ld-1 are
// zero. With K so laid out, a query row times a tile is a loop over contiguous keys (lanes = keys).
void pack_transposed(float* dst, int ld, const float* src, long src_stride, int rows, int D);

// out (nq, kBlockK) = rows (nq, D) at row_stride times columns (D, kBlockK) at ld: scores Q K^T, or
// dO V^T in the backward. The columns are a slice of a pack_transposed copy, so all kBlockK exist; only
// the first n_columns (rounded up to a vector) are computed, the others are set to 0: a short last tile
// or causal masking needs no more.
void rows_times_columns(float* out, const float* rows, long row_stride, int nq, const float* columns, int ld, int D,
                        int n_columns);

// acc[o, :D] += sum over c < n_in of weights[o * weight_out_stride + c * weight_in_stride] * rows[c, :D],
// for o < n_out, acc rows at acc_stride, rows at row_stride. P V and dS K (weights a tile, read by rows),
// P^T dO and dS^T Q (the same tile read by columns) are all this one kernel.
void add_weighted_rows(float* acc, long acc_stride, int n_out, const float* weights, long weight_out_stride,
                       long weight_in_stride, const float* rows, long row_stride, int n_in, int D);

// Turns the raw dot products of a tile (queries q0.., keys k0..) into scores: scale q.k + pos_bias, or
// kMaskedScore where the key mask or causality hides the key, or -inf for the padding keys past nk.
void finish_scores(float* scores, const AttentionProblem& p, int b, int h, int q0, int nq, int k0, int nk);

}  // namespace fast
